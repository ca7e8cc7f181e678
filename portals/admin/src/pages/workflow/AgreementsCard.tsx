// Agreements on the case page: the case's mediator drafts the agreement to
// mediate or the settlement agreement from the org's template, edits it in
// versions, sends it for signature (it is printed to PDF then, and the
// parties sign that file's fingerprint), and sees
// who has signed with which device; once everyone has, it is locked.

import { CaseAgreementsAdminDocument, DraftAgreementDocument, EditAgreementDocument, SendAgreementForSignatureDocument, type AgreementFieldsFragment } from "@accord/shared/gql";
import { Alert, Badge, Button, Card, Empty, ErrorAlert, formatDateTime, Loading, SelectField, TextField, toProblem, type Problem } from "@accord/shared/ui";
import { useId, useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import type { CaseData } from "../CaseDetail";
import { agreementTemplate } from "./agreementTemplate";
import { agr } from "./messagesStrings";

type Kind = "AGREEMENT_TO_MEDIATE" | "SETTLEMENT";

export function AgreementsCard({ c, mediates }: { c: CaseData; mediates: boolean }) {
  const [{ data, error, fetching }, refetch] = useQuery({ query: CaseAgreementsAdminDocument, variables: { caseId: c.id }, requestPolicy: "cache-and-network" });
  const [notice, setNotice] = useState<string | null>(null);
  const changed = (words: string) => {
    setNotice(words);
    refetch({ requestPolicy: "network-only" });
  };
  return (
    <Card title={agr.title}>
      {error && !data ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {!data && fetching ? <Loading /> : null}
      {notice ? (
        <Alert kind="ok" live>
          {notice}
        </Alert>
      ) : null}
      {data && data.agreements.length === 0 ? <Empty>{agr.none}</Empty> : null}
      {(data?.agreements ?? []).map((a) => (
        <AgreementItem key={a.id} a={a} mediates={mediates} onChanged={changed} />
      ))}
      {mediates ? <DraftForm c={c} onDrafted={() => changed(agr.drafted)} /> : <p className="muted">{agr.onlyMediator}</p>}
    </Card>
  );
}

function TextArea({ label, value, onChange }: { label: string; value: string; onChange: (v: string) => void }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <textarea id={id} rows={10} value={value} onChange={(e) => onChange(e.target.value)} />
    </div>
  );
}

function DraftForm({ c, onDrafted }: { c: CaseData; onDrafted: () => void }) {
  const fields = { reference: c.reference, title: c.title, parties: c.parties.filter((p) => p.kind === "PARTY").map((p) => p.displayName), mediator: c.mediator?.user.displayName ?? null };
  const [kind, setKind] = useState<Kind>("SETTLEMENT");
  const [text, setText] = useState(() => agreementTemplate("SETTLEMENT", fields));
  const [problem, setProblem] = useState<Problem | null>(null);
  const [{ fetching }, draft] = useMutation(DraftAgreementDocument);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    const r = await draft({ caseId: c.id, kind, title: text.title, body: text.body });
    if (r.error) setProblem(toProblem(r.error));
    else onDrafted();
  };
  return (
    <form onSubmit={(e) => void submit(e)} aria-label={agr.newTitle}>
      <h3>{agr.newTitle}</h3>
      <SelectField
        label={agr.kindLabel}
        value={kind}
        onChange={(e) => {
          const k = e.target.value as Kind;
          setKind(k);
          setText(agreementTemplate(k, fields));
        }}
      >
        <option value="SETTLEMENT">{agr.kind.SETTLEMENT}</option>
        <option value="AGREEMENT_TO_MEDIATE">{agr.kind.AGREEMENT_TO_MEDIATE}</option>
      </SelectField>
      <TextField label={agr.titleLabel} maxLength={200} value={text.title} onChange={(e) => setText({ ...text, title: e.target.value })} />
      <TextArea label={agr.bodyLabel} value={text.body} onChange={(body) => setText({ ...text, body })} />
      <Button type="submit" variant="primary" busy={fetching}>
        {agr.draft}
      </Button>
      <ErrorAlert problem={problem} />
    </form>
  );
}

function AgreementItem({ a, mediates, onChanged }: { a: AgreementFieldsFragment; mediates: boolean; onChanged: (words: string) => void }) {
  const [title, setTitle] = useState(a.title);
  const [body, setBody] = useState(a.body);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [{ fetching: saving }, edit] = useMutation(EditAgreementDocument);
  const [{ fetching: sending }, send] = useMutation(SendAgreementForSignatureDocument);
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    const r = await edit({ id: a.id, title, body });
    if (r.error) setProblem(toProblem(r.error));
    else onChanged(agr.edited);
  };
  const sendIt = async () => {
    setProblem(null);
    const r = await send({ id: a.id });
    if (r.error) setProblem(toProblem(r.error));
    else onChanged(agr.sentNotice);
  };
  return (
    <article aria-label={`${agr.kind[a.kind]}: ${a.title}`}>
      <h3>
        {a.title} <Badge>{agr.status[a.status]}</Badge>
      </h3>
      <p className="muted">
        {agr.kind[a.kind]} · {agr.version(a.version)}
      </p>
      {a.status === "DRAFT" && mediates ? (
        <form onSubmit={(e) => void save(e)}>
          <TextField label={`${agr.titleLabel} (${a.title})`} maxLength={200} value={title} onChange={(e) => setTitle(e.target.value)} />
          <TextArea label={`${agr.bodyLabel} (${a.title})`} value={body} onChange={setBody} />
          <div className="row">
            <Button type="submit" busy={saving}>
              {agr.edit}
            </Button>
            <Button variant="primary" busy={sending} onClick={() => void sendIt()}>
              {agr.send}
            </Button>
          </div>
        </form>
      ) : (
        <pre className="agreement-text">{a.body}</pre>
      )}
      <p>
        <a className="btn btn-small" href={`/agreements/${encodeURIComponent(a.id)}/pdf`} aria-label={agr.pdfOf(a.title, a.status === "DRAFT")} download>
          {a.status === "DRAFT" ? agr.preview : agr.pdf}
        </a>
      </p>
      {a.contentSha256 ? <p className="muted">{agr.hash(a.contentSha256)}</p> : null}
      {a.status !== "DRAFT" ? (
        <ul aria-label={`${agr.signatories}: ${a.title}`}>
          {a.signatories.map((s) => (
            <li key={s.partyId}>
              {s.name}: {s.signature ? agr.signedBy(s.signature.typedName, formatDateTime(s.signature.signedAt), s.signature.deviceThumbprint.slice(0, 12)) : agr.notYet}
            </li>
          ))}
        </ul>
      ) : null}
      <ErrorAlert problem={problem} />
    </article>
  );
}
