// Agreements on a person's case page: the agreement to mediate and the
// settlement agreement as sent for signature, who has signed, and signing
// with this browser's device key (the one the invite link registered): the
// page fetches the agreement's PDF, checks that its SHA-256 is the one sent
// for signature, and the key signs that fingerprint with the typed name and
// the time.

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
      <p>
        <a className="btn btn-small" href={pdfUrl(a.id)} aria-label={agr.pdfOf(a.title)} download>
          {agr.pdf}
        </a>
      </p>
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

function pdfUrl(id: string): string {
  return `/agreements/${encodeURIComponent(id)}/pdf`;
}

/** The SHA-256 (hex) of the agreement's PDF as the server hands it out. */
async function pdfSha256(id: string): Promise<string> {
  const r = await fetch(pdfUrl(id), { credentials: "same-origin", cache: "no-store" });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  const digest = await crypto.subtle.digest("SHA-256", await r.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
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
      // The device signs the fingerprint of the file it can read, checked here.
      let printed: string;
      try {
        printed = await pdfSha256(agreementId);
      } catch {
        setProblem({ code: "UNAVAILABLE", message: agr.pdfFailed } as Problem);
        return;
      }
      if (printed !== sha256.toLowerCase()) {
        setProblem({ code: "CONFLICT", message: agr.pdfMismatch } as Problem);
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
