import { AddPartyDocument, AddPartyWithOverrideDocument, PartyConflictsDocument, RemovePartyDocument, type PartyConflictsQuery, type PartyKind } from "@accord/shared/gql";
import { Button, Card, ConfirmButton, Empty, ErrorAlert, SelectField, TextField, toProblem, type Problem, type Role } from "@accord/shared/ui";
import { useState, type FormEvent } from "react";
import { useClient, useMutation } from "urql";
import { t } from "../../strings";
import type { CaseData } from "../CaseDetail";
import { fieldErrors } from "../common/fieldErrors";
import { can } from "../common/permissions";
import { wf } from "../workflow/strings";
import { InvitationsCard } from "./InvitationsCard";

const s = t.pages.caseDetail;
const KINDS: readonly PartyKind[] = ["PARTY", "COUNSEL", "INTERPRETER"];

type Props = { c: CaseData; role: Role; onNotice: (n: string) => void };

export function PartiesCard({ c, role, onNotice }: Props) {
  const mayManage = can(role, "manageParties");
  const showEmail = can(role, "viewPartyContacts");
  return (
    <Card title={s.parties}>
      {c.parties.length === 0 ? (
        <Empty>{s.partiesNone}</Empty>
      ) : (
        <table className="data" aria-label={s.parties}>
          <thead>
            <tr>
              <th scope="col">{s.colName}</th>
              <th scope="col">{s.colKind}</th>
              {showEmail ? <th scope="col">{s.colEmail}</th> : null}
              <th scope="col">{s.colAccount}</th>
              {mayManage ? <th scope="col">{t.pages.members.colActions}</th> : null}
            </tr>
          </thead>
          <tbody>
            {c.parties.map((p) => (
              <PartyRow key={p.id} party={p} showEmail={showEmail} mayManage={mayManage} onNotice={onNotice} />
            ))}
          </tbody>
        </table>
      )}
      {mayManage ? <InvitationsCard caseId={c.id} people={c.parties} onNotice={onNotice} /> : null}
      {mayManage ? <AddPartyForm caseId={c.id} admin={role === "org_admin"} onNotice={onNotice} /> : null}
    </Card>
  );
}

function PartyRow({
  party,
  showEmail,
  mayManage,
  onNotice,
}: {
  party: CaseData["parties"][number];
  showEmail: boolean;
  mayManage: boolean;
  onNotice: (n: string) => void;
}) {
  const [problem, setProblem] = useState<Problem | null>(null);
  const [{ fetching }, remove] = useMutation(RemovePartyDocument);
  const name = party.displayName;
  const doRemove = async () => {
    setProblem(null);
    const r = await remove({ partyId: party.id });
    if (r.error) {
      setProblem(toProblem(r.error));
      return;
    }
    onNotice(s.partyRemoved(name));
  };
  return (
    <tr>
      <td data-label={s.colName}>{name}</td>
      <td data-label={s.colKind}>{t.pages.partyKind[party.kind]}</td>
      {showEmail ? <td data-label={s.colEmail}>{party.email ?? ""}</td> : null}
      <td data-label={s.colAccount}>{party.userId ? s.hasAccount : <span className="muted">{s.noAccount}</span>}</td>
      {mayManage ? (
        <td data-label={t.pages.members.colActions}>
          <ConfirmButton label={s.removeLabel(name)} question={s.removeQuestion(name)} confirm={s.removeConfirm} cancel={t.pages.common.cancel} busy={fetching} onConfirm={doRemove}>
            {s.remove}
          </ConfirmButton>
          <ErrorAlert problem={problem} />
        </td>
      ) : null}
    </tr>
  );
}

type Found = PartyConflictsQuery["partyConflicts"];

function AddPartyForm({ caseId, admin, onNotice }: { caseId: string; admin: boolean; onNotice: (n: string) => void }) {
  const [kind, setKind] = useState<PartyKind>("PARTY");
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [problem, setProblem] = useState<Problem | null>(null);
  // Conflicts with the case's mediator met by the last attempt to add.
  const [found, setFound] = useState<Found | null>(null);
  const client = useClient();
  const [{ fetching }, add] = useMutation(AddPartyDocument);
  const added = (words?: string) => {
    onNotice(words ?? s.added(name.trim()));
    setName("");
    setEmail("");
    setFound(null);
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    setFound(null);
    const input = { caseId, kind, displayName: name.trim(), email: email.trim() };
    const r = await add({ input });
    if (r.error) {
      const p = toProblem(r.error);
      if (p.code === "CONFLICT") {
        const q = await client.query(PartyConflictsDocument, { caseId, email: input.email }, { requestPolicy: "network-only" }).toPromise();
        if (q.data && q.data.partyConflicts.length > 0) {
          setFound(q.data.partyConflicts);
          return;
        }
      }
      setProblem(p);
      return;
    }
    added();
  };
  const { at, rest } = fieldErrors(problem, ["kind", "displayName", "email"]);
  return (
    <form onSubmit={submit} noValidate className="inline-form" aria-labelledby="add-party">
      <h3 id="add-party">{s.addParty}</h3>
      <p className="muted">{s.addPartyHint}</p>
      <div className="form-grid">
        <SelectField label={s.kind} value={kind} onChange={(e) => setKind(KINDS.find((k) => k === e.target.value) ?? "PARTY")}>
          {KINDS.map((k) => (
            <option key={k} value={k}>
              {t.pages.partyKind[k]}
            </option>
          ))}
        </SelectField>
        <TextField label={s.name} autoComplete="off" required value={name} onChange={(e) => setName(e.target.value)} error={at("displayName")} />
        <TextField label={s.email} type="email" autoComplete="off" required value={email} onChange={(e) => setEmail(e.target.value)} error={at("email")} />
      </div>
      <ErrorAlert problem={rest} />
      <Button type="submit" variant="primary" busy={fetching}>
        {s.addPartySubmit}
      </Button>
      {found ? <PartyConflicts found={found} admin={admin} input={{ caseId, kind, displayName: name.trim(), email: email.trim() }} onAdded={added} /> : null}
    </form>
  );
}

function PartyConflicts({
  found,
  admin,
  input,
  onAdded,
}: {
  found: Found;
  admin: boolean;
  input: { caseId: string; kind: PartyKind; displayName: string; email: string };
  onAdded: (words: string) => void;
}) {
  const w = wf.conflicts;
  const [reason, setReason] = useState("");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [{ fetching }, override] = useMutation(AddPartyWithOverrideDocument);
  const heading = w.partyFound(found.length);
  const doOverride = async () => {
    setProblem(null);
    const r = await override({ input, reason });
    if (r.error) setProblem(toProblem(r.error));
    else onAdded(w.partyOverridden(input.displayName));
  };
  return (
    <div role="group" aria-label={heading}>
      <h4 aria-live="polite">{heading}</h4>
      <table className="data" aria-label={heading}>
        <thead>
          <tr>
            <th scope="col">{w.colWhy}</th>
            <th scope="col">{w.colMatched}</th>
          </tr>
        </thead>
        <tbody>
          {found.map((f, i) => (
            <tr key={i}>
              <td data-label={w.colWhy}>{w.kinds[f.kind] ?? f.kind}</td>
              <td data-label={w.colMatched} className="mono">
                {f.matched}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {admin ? (
        <>
          <p className="muted">{w.partyIntro}</p>
          <TextField label={w.partyReason} hint={w.reasonHint} value={reason} onChange={(e) => setReason(e.target.value)} minLength={10} maxLength={2000} />
          <Button variant="primary" busy={fetching} onClick={() => void doOverride()}>
            {w.partyOverride}
          </Button>
          <ErrorAlert problem={problem} />
        </>
      ) : (
        <p className="muted">{w.partyAskAdmin}</p>
      )}
    </div>
  );
}
