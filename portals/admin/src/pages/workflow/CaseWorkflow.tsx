// The mediation workflow's sections of the admin case page: conflicts of
// interest (org admins check a mediator and override with a reason), fees
// and invoices (split, held sessions, draft → issue → paid / void, credit
// notes, each as a PDF), the case's compliance record (org admins download
// it), and the case timeline (paged, what the viewer's role may see).

import {
  AssignMediatorWithOverrideDocument,
  CaseTimelineAdminDocument,
  CaseWorkflowDocument,
  DraftInvoiceDocument,
  IssueCreditNoteDocument,
  IssueInvoiceDocument,
  MarkInvoicePaidDocument,
  MediatorConflictsDocument,
  RecordSessionHeldDocument,
  SetCaseSplitDocument,
  VoidInvoiceDocument,
  type CaseTimelineAdminQuery,
  type CaseWorkflowQuery,
} from "@accord/shared/gql";
import { Badge, Button, Card, Empty, ErrorAlert, formatDateTime, Loading, SelectField, TextField, toProblem, useSession, type Problem, type Role } from "@accord/shared/ui";
import { useState, type FormEvent } from "react";
import { useClient, useMutation, useQuery } from "urql";
import type { CaseData } from "../CaseDetail";
import { useMediators } from "../cases/useMediators";
import { basisPointsToPercent, formatMinor, parseMajor, percentToBasisPoints } from "./money";
import { AgreementsCard } from "./AgreementsCard";
import { MessagesCard } from "./MessagesCard";
import { wf } from "./strings";

type Billing = CaseWorkflowQuery["caseBilling"];
type Entry = CaseTimelineAdminQuery["caseTimeline"]["entries"][number];

export function CaseWorkflow({ c, role, onNotice }: { c: CaseData; role: Role; onNotice: (n: string) => void }) {
  const { userId } = useSession();
  const [{ data, error, fetching }, refetch] = useQuery({ query: CaseWorkflowDocument, variables: { caseId: c.id }, requestPolicy: "cache-and-network" });
  const changed = (words: string) => {
    onNotice(words);
    refetch({ requestPolicy: "network-only" });
  };
  return (
    <>
      {role === "org_admin" ? <ConflictCard c={c} overrides={data?.caseConflictOverrides ?? []} onNotice={changed} /> : null}
      <Card title={wf.billing.title}>
        {error && !data ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
        {!data && fetching ? <Loading /> : null}
        {data ? <BillingBody c={c} billing={data.caseBilling} admin={role === "org_admin"} onNotice={changed} /> : null}
      </Card>
      {role === "org_admin" ? <ComplianceCard caseId={c.id} /> : null}
      <MessagesCard caseId={c.id} userOf={(partyId) => c.parties.find((p) => p.id === partyId)?.userId ?? null} />
      <AgreementsCard c={c} mediates={c.mediator?.user.id === userId} />
      <TimelineCard caseId={c.id} />
    </>
  );
}

function ComplianceCard({ caseId }: { caseId: string }) {
  const s = wf.compliance;
  const href = `/cases/${encodeURIComponent(caseId)}/compliance-export`;
  return (
    <Card title={s.title}>
      <p className="muted">{s.intro}</p>
      <div className="row">
        <a className="btn" href={href} download>
          {s.download}
        </a>
        <a className="btn" href={`${href}?content=true`} download>
          {s.withContent}
        </a>
      </div>
    </Card>
  );
}

function ConflictCard({ c, overrides, onNotice }: { c: CaseData; overrides: CaseWorkflowQuery["caseConflictOverrides"]; onNotice: (n: string) => void }) {
  const s = wf.conflicts;
  const { mediators } = useMediators();
  const [mediatorId, setMediatorId] = useState("");
  const [checked, setChecked] = useState<string | null>(null);
  const [reason, setReason] = useState("");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [{ data, fetching, error }] = useQuery({ query: MediatorConflictsDocument, variables: { caseId: c.id, mediatorId: checked ?? "" }, pause: !checked, requestPolicy: "network-only" });
  const [{ fetching: saving }, override] = useMutation(AssignMediatorWithOverrideDocument);
  const found = checked && data ? data.mediatorConflicts : null;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!checked) return;
    setProblem(null);
    const r = await override({ caseId: c.id, mediatorId: checked, reason });
    if (r.error) setProblem(toProblem(r.error));
    else {
      setReason("");
      setChecked(null);
      onNotice(s.overridden);
    }
  };
  return (
    <Card title={s.title}>
      <p className="muted">{s.intro}</p>
      <form
        className="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          setChecked(mediatorId || null);
        }}
      >
        <SelectField label={s.mediator} value={mediatorId} onChange={(e) => setMediatorId(e.target.value)}>
          <option value="">—</option>
          {(mediators ?? []).map((m) => (
            <option key={m.id} value={m.id}>
              {m.name}
            </option>
          ))}
        </SelectField>
        <Button type="submit" disabled={!mediatorId} busy={fetching}>
          {s.check}
        </Button>
      </form>
      {error ? <ErrorAlert problem={toProblem(error)} /> : null}
      {found && found.length === 0 ? <p role="status">{s.none}</p> : null}
      {found && found.length > 0 ? (
        <>
          <h3 aria-live="polite">{s.found(found.length)}</h3>
          <table className="data" aria-label={s.found(found.length)}>
            <thead>
              <tr>
                <th scope="col">{s.colPerson}</th>
                <th scope="col">{s.colWhy}</th>
                <th scope="col">{s.colMatched}</th>
              </tr>
            </thead>
            <tbody>
              {found.map((f, i) => (
                <tr key={i}>
                  <td data-label={s.colPerson}>{f.partyName}</td>
                  <td data-label={s.colWhy}>
                    {s.kinds[f.kind] ?? f.kind}
                    {f.otherCaseReference ? s.otherCase(f.otherCaseReference) : ""}
                  </td>
                  <td data-label={s.colMatched} className="mono">
                    {f.matched}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <form onSubmit={(e) => void submit(e)}>
            <TextField label={s.reason} hint={s.reasonHint} value={reason} onChange={(e) => setReason(e.target.value)} required minLength={10} maxLength={2000} />
            <Button type="submit" variant="primary" busy={saving}>
              {s.override}
            </Button>
            <ErrorAlert problem={problem} />
          </form>
        </>
      ) : null}
      {overrides.length > 0 ? (
        <>
          <h3>{s.history}</h3>
          <ul>
            {overrides.map((o) => (
              <li key={o.id}>
                {formatDateTime(o.createdAt)}: {o.reason} <span className="muted">({o.conflictReasons.join(", ")})</span>
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </Card>
  );
}

function BillingBody({ c, billing, admin, onNotice }: { c: CaseData; billing: Billing; admin: boolean; onNotice: (n: string) => void }) {
  const s = wf.billing;
  return (
    <>
      <h3>{s.split}</h3>
      {billing.splitSet ? null : <p className="muted">{s.splitDefault}</p>}
      {admin ? (
        <SplitForm caseId={c.id} split={billing.split} onNotice={onNotice} />
      ) : (
        <ul>
          {billing.split.map((p) => (
            <li key={p.partyId}>
              {p.partyName}: {basisPointsToPercent(p.basisPoints)}%
            </li>
          ))}
        </ul>
      )}
      <h3>{s.held}</h3>
      {billing.heldSessions.length === 0 ? (
        <p className="muted">{s.heldNone}</p>
      ) : (
        <ul>
          {billing.heldSessions.map((h) => (
            <li key={h.sessionId}>
              {formatDateTime(h.startedAt)} · {s.heldLine(h.minutes)}
            </li>
          ))}
        </ul>
      )}
      <HeldForm c={c} onNotice={onNotice} />
      <h3>{s.invoices}</h3>
      <Invoices caseId={c.id} billing={billing} admin={admin} onNotice={onNotice} />
    </>
  );
}

function SplitForm({ caseId, split, onNotice }: { caseId: string; split: Billing["split"]; onNotice: (n: string) => void }) {
  const s = wf.billing;
  const [values, setValues] = useState<Record<string, string>>(() => Object.fromEntries(split.map((p) => [p.partyId, basisPointsToPercent(p.basisPoints)])));
  const [problem, setProblem] = useState<Problem | null>(null);
  const [{ fetching }, save] = useMutation(SetCaseSplitDocument);
  if (split.length === 0) return null;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const shares = split.map((p) => ({ partyId: p.partyId, basisPoints: percentToBasisPoints(values[p.partyId] ?? "") }));
    if (shares.some((x) => x.basisPoints === null) || shares.reduce((a, x) => a + (x.basisPoints ?? 0), 0) !== 10000) {
      setProblem({ code: "BAD_USER_INPUT", message: s.splitBad } as Problem);
      return;
    }
    setProblem(null);
    const r = await save({ caseId, shares: shares.map((x) => ({ partyId: x.partyId, basisPoints: x.basisPoints ?? 0 })) });
    if (r.error) setProblem(toProblem(r.error));
    else onNotice(s.splitSaved);
  };
  return (
    <form className="inline-form" onSubmit={(e) => void submit(e)}>
      {split.map((p) => (
        <TextField key={p.partyId} label={s.percentOf(p.partyName)} inputMode="decimal" value={values[p.partyId] ?? ""} onChange={(e) => setValues({ ...values, [p.partyId]: e.target.value })} />
      ))}
      <Button type="submit" busy={fetching}>
        {s.saveSplit}
      </Button>
      <ErrorAlert problem={problem} />
    </form>
  );
}

/** A `datetime-local` value (the viewer's clock) as an ISO instant. */
function localToIso(value: string): string | null {
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function HeldForm({ c, onNotice }: { c: CaseData; onNotice: (n: string) => void }) {
  const s = wf.billing;
  const sessions = c.sessions.filter((x) => x.status !== "CANCELLED");
  const [sessionId, setSessionId] = useState(sessions[0]?.id ?? "");
  const [started, setStarted] = useState("");
  const [ended, setEnded] = useState("");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [{ fetching }, record] = useMutation(RecordSessionHeldDocument);
  if (sessions.length === 0) return null;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const a = localToIso(started);
    const b = localToIso(ended);
    if (!a || !b) return;
    setProblem(null);
    const r = await record({ sessionId, startedAt: a, endedAt: b });
    if (r.error) setProblem(toProblem(r.error));
    else onNotice(s.recorded);
  };
  return (
    <form className="inline-form" aria-label={s.record} onSubmit={(e) => void submit(e)}>
      <SelectField label={s.session} value={sessionId} onChange={(e) => setSessionId(e.target.value)}>
        {sessions.map((x) => (
          <option key={x.id} value={x.id}>
            {formatDateTime(x.startsAt)}
          </option>
        ))}
      </SelectField>
      <TextField label={s.started} type="datetime-local" required value={started} onChange={(e) => setStarted(e.target.value)} />
      <TextField label={s.ended} type="datetime-local" required value={ended} onChange={(e) => setEnded(e.target.value)} />
      <Button type="submit" busy={fetching}>
        {s.recordSave}
      </Button>
      <ErrorAlert problem={problem} />
    </form>
  );
}

function Invoices({ caseId, billing, admin, onNotice }: { caseId: string; billing: Billing; admin: boolean; onNotice: (n: string) => void }) {
  const s = wf.billing;
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [, draft] = useMutation(DraftInvoiceDocument);
  const [, issue] = useMutation(IssueInvoiceDocument);
  const [, paid] = useMutation(MarkInvoicePaidDocument);
  const [, voidIt] = useMutation(VoidInvoiceDocument);
  const [crediting, setCrediting] = useState<string | null>(null);
  const run = async (key: string, action: () => Promise<{ error?: unknown; data?: unknown }>, words: (data: unknown) => string) => {
    setBusy(key);
    setProblem(null);
    const r = await action();
    setBusy(null);
    if (r.error) setProblem(toProblem(r.error as never));
    else onNotice(words(r.data));
  };
  return (
    <>
      {billing.invoices.length === 0 ? (
        <Empty>{s.invoicesNone}</Empty>
      ) : (
        <table className="data" aria-label={s.invoices}>
          <thead>
            <tr>
              <th scope="col">{s.colNumber}</th>
              <th scope="col">{s.colStatus}</th>
              <th scope="col">{s.colTotal}</th>
              <th scope="col">{s.colShares}</th>
              {admin ? <th scope="col">{s.colActions}</th> : null}
            </tr>
          </thead>
          <tbody>
            {billing.invoices.map((i) => (
              <tr key={i.id}>
                <td data-label={s.colNumber}>
                  {i.label ?? s.draftLabel}
                  {i.kind === "CREDIT_NOTE" ? <span className="muted"> · {s.creditNote}</span> : null}
                </td>
                <td data-label={s.colStatus}>
                  <Badge kind={i.status === "PAID" ? "ok" : i.status === "VOID" ? "danger" : i.status === "DRAFT" ? undefined : "warn"}>{s.status[i.status]}</Badge>
                </td>
                <td data-label={s.colTotal}>{i.totalText}</td>
                <td data-label={s.colShares}>
                  {i.shares.map((sh) => (
                    <div key={sh.partyId}>
                      {sh.partyName}: {basisPointsToPercent(sh.basisPoints)}%
                    </div>
                  ))}
                </td>
                {admin ? (
                  <td data-label={s.colActions}>
                    <div className="row">
                      {i.status === "DRAFT" ? (
                        <Button small busy={busy === `i${i.id}`} onClick={() => void run(`i${i.id}`, () => issue({ id: i.id }), (d) => s.issued((d as { issueInvoice: { label: string } }).issueInvoice.label))}>
                          {s.issue}
                        </Button>
                      ) : null}
                      {i.status === "ISSUED" && i.kind === "INVOICE" ? (
                        <Button small busy={busy === `p${i.id}`} onClick={() => void run(`p${i.id}`, () => paid({ id: i.id }), () => s.markedPaid)}>
                          {s.paid}
                        </Button>
                      ) : null}
                      {i.status === "ISSUED" ? (
                        <Button small busy={busy === `v${i.id}`} onClick={() => void run(`v${i.id}`, () => voidIt({ id: i.id }), () => s.voided)}>
                          {s.void}
                        </Button>
                      ) : null}
                      {i.label && i.kind === "INVOICE" && (i.status === "ISSUED" || i.status === "PAID") ? (
                        <Button small aria-label={s.creditOf(i.label)} aria-expanded={crediting === i.id} onClick={() => setCrediting(crediting === i.id ? null : i.id)}>
                          {s.credit}
                        </Button>
                      ) : null}
                      <a className="btn btn-small" href={`/invoices/${encodeURIComponent(i.id)}/pdf`} aria-label={s.pdfOf(i.label ?? s.draftLabel)} download>
                        {s.pdf}
                      </a>
                    </div>
                    {crediting === i.id && i.label ? (
                      <CreditNoteForm
                        invoiceId={i.id}
                        label={i.label}
                        currency={i.currency}
                        onDone={(words) => {
                          setCrediting(null);
                          onNotice(words);
                        }}
                        onCancel={() => setCrediting(null)}
                      />
                    ) : null}
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {admin ? (
        <Button busy={busy === "draft"} onClick={() => void run("draft", () => draft({ caseId }), () => s.drafted)}>
          {s.draft}
        </Button>
      ) : null}
      <ErrorAlert problem={problem} />
    </>
  );
}

function CreditNoteForm({ invoiceId, label, currency, onDone, onCancel }: { invoiceId: string; label: string; currency: string; onDone: (words: string) => void; onCancel: () => void }) {
  const s = wf.billing;
  const [amount, setAmount] = useState(formatMinor(0, currency));
  const [reason, setReason] = useState("");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [{ fetching }, credit] = useMutation(IssueCreditNoteDocument);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const minor = parseMajor(amount, currency);
    if (minor === null || minor <= 0) {
      setProblem({ code: "BAD_USER_INPUT", message: wf.fees.amountBad } as Problem);
      return;
    }
    setProblem(null);
    const r = await credit({ invoiceId, amountMinor: minor, description: reason });
    if (r.error) setProblem(toProblem(r.error));
    else onDone(s.creditIssued(r.data?.issueCreditNote.label ?? ""));
  };
  return (
    <form className="inline-form" aria-label={s.creditOf(label)} onSubmit={(e) => void submit(e)}>
      <TextField label={s.creditAmount(label)} inputMode="decimal" required value={amount} onChange={(e) => setAmount(e.target.value)} />
      <TextField label={s.creditReason} hint={s.creditReasonHint} required maxLength={200} value={reason} onChange={(e) => setReason(e.target.value)} />
      <div className="row">
        <Button type="submit" variant="primary" small busy={fetching}>
          {s.creditIssue}
        </Button>
        <Button small onClick={onCancel}>
          {s.creditCancel}
        </Button>
      </div>
      <ErrorAlert problem={problem} />
    </form>
  );
}

export function TimelineCard({ caseId }: { caseId: string }) {
  const s = wf.timeline;
  const client = useClient();
  const [{ data, error, fetching }, refetch] = useQuery({ query: CaseTimelineAdminDocument, variables: { caseId }, requestPolicy: "cache-and-network" });
  const [older, setOlder] = useState<Entry[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [loadingMore, setLoadingMore] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const first = data?.caseTimeline;
  const next = cursor === undefined ? first?.endCursor ?? null : cursor;
  const more = async () => {
    if (!next) return;
    setLoadingMore(true);
    const r = await client.query(CaseTimelineAdminDocument, { caseId, after: next }, { requestPolicy: "network-only" }).toPromise();
    setLoadingMore(false);
    if (r.error || !r.data) {
      setProblem(r.error ? toProblem(r.error) : null);
      return;
    }
    setOlder([...older, ...r.data.caseTimeline.entries]);
    setCursor(r.data.caseTimeline.endCursor);
  };
  const entries = [...(first?.entries ?? []), ...older];
  return (
    <Card title={s.title}>
      {error && !data ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {!data && fetching ? <Loading /> : null}
      {data && entries.length === 0 ? <Empty>{s.none}</Empty> : null}
      <ol className="timeline" aria-label={s.title}>
        {entries.map((e) => (
          <li key={e.id}>
            <span className="muted">{formatDateTime(e.occurredAt)}</span> {e.summary}
            {e.actorName ? <span className="muted">{s.by(e.actorName)}</span> : null}
          </li>
        ))}
      </ol>
      {next ? (
        <Button small busy={loadingMore} onClick={() => void more()}>
          {s.more}
        </Button>
      ) : null}
      <ErrorAlert problem={problem} />
    </Card>
  );
}
