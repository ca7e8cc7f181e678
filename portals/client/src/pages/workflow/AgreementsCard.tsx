// Agreements on a person's case page: the agreement to mediate and the
// settlement agreement as sent for signature, who has signed, and signing
// with this browser's device key (the one the invite link registered): the
// key signs the agreement's fingerprint with the typed name and the time.

import { DeviceKey } from "@accord/shared";
import { CaseAgreementsClientDocument, SignAgreementDocument, type CaseAgreementsClientQuery } from "@accord/shared/gql";
import { Alert, Badge, Button, Card, Empty, ErrorAlert, formatDateTime, Loading, TextField, toProblem, type Problem } from "@accord/shared/ui";
import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { agr } from "./messagesStrings";
import { cleanTypedName, signingStatement } from "./signing";

type Agreement = CaseAgreementsClientQuery["agreements"][number];

export function AgreementsCard({ caseId }: { caseId: string }) {
  const [{ data, error, fetching }, refetch] = useQuery({ query: CaseAgreementsClientDocument, variables: { caseId }, requestPolicy: "cache-and-network" });
  const shown = (data?.agreements ?? []).filter((a) => a.status !== "DRAFT");
  return (
    <Card title={agr.title}>
      {error && !data ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {!data && fetching ? <Loading /> : null}
      {data && shown.length === 0 ? <Empty>{agr.none}</Empty> : null}
      {shown.map((a) => (
        <AgreementView key={a.id} a={a} onSigned={() => refetch({ requestPolicy: "network-only" })} />
      ))}
    </Card>
  );
}

function AgreementView({ a, onSigned }: { a: Agreement; onSigned: () => void }) {
  const mine = a.signatories.find((s) => s.partyId === a.myPartyId);
  const maySign = a.status === "SIGNING" && mine !== undefined && !mine.signature;
  // Kept here, not in the form: the form goes away as soon as the refreshed
  // agreement carries this party's signature, and the notice must stay.
  const [justSigned, setJustSigned] = useState(false);
  return (
    <article aria-label={`${agr.kind[a.kind]}: ${a.title}`}>
      <h3>
        {a.title} <Badge>{agr.status[a.status]}</Badge>
      </h3>
      <p className="muted">
        {agr.kind[a.kind]} · {agr.version(a.version)}
      </p>
      <pre className="agreement-text">{a.body}</pre>
      {a.contentSha256 ? <p className="muted">{agr.hash(a.contentSha256)}</p> : null}
      <h4>{agr.signatories}</h4>
      <ul aria-label={`${agr.signatories}: ${a.title}`}>
        {a.signatories.map((s) => (
          <li key={s.partyId}>
            {s.name}: {s.signature ? agr.signedBy(s.signature.typedName, formatDateTime(s.signature.signedAt)) : agr.notYet}
          </li>
        ))}
      </ul>
      {maySign && a.contentSha256 && a.myPartyId ? (
        <SignForm
          agreementId={a.id}
          sha256={a.contentSha256}
          partyId={a.myPartyId}
          onSigned={() => {
            setJustSigned(true);
            onSigned();
          }}
        />
      ) : null}
      {justSigned ? (
        <Alert kind="ok" live>
          {agr.signed}
        </Alert>
      ) : null}
    </article>
  );
}

function SignForm({ agreementId, sha256, partyId, onSigned }: { agreementId: string; sha256: string; partyId: string; onSigned: () => void }) {
  const [name, setName] = useState("");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  const [, sign] = useMutation(SignAgreementDocument);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    const typedName = cleanTypedName(name);
    if (!typedName) {
      setProblem({ code: "BAD_USER_INPUT", message: agr.badName } as Problem);
      return;
    }
    setBusy(true);
    try {
      let device: DeviceKey;
      try {
        device = await DeviceKey.load();
      } catch {
        setProblem({ code: "BAD_USER_INPUT", message: agr.noDevice } as Problem);
        return;
      }
      const signedAt = new Date().toISOString();
      const signature = await device.sign(signingStatement(agreementId, sha256, partyId, typedName, signedAt));
      const r = await sign({ input: { agreementId, contentSha256: sha256, typedName, signedAt, publicKey: device.publicJwk, signature } });
      if (r.error) setProblem(toProblem(r.error));
      else onSigned();
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={(e) => void submit(e)}>
      <TextField label={agr.typedName} autoComplete="name" maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />
      <Button type="submit" variant="primary" busy={busy}>
        {agr.sign}
      </Button>
      <ErrorAlert problem={problem} />
    </form>
  );
}
