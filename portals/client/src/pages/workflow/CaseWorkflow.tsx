// The workflow's sections of a party's case page: the intake form (before
// the first session) and the case's timeline as the party may see it.

import { CaseTimelineClientDocument, MyIntakeDocument, SubmitIntakeDocument, type IntakeFieldName, type MyIntakeQuery } from "@accord/shared/gql";
import { Alert, Button, Card, Empty, ErrorAlert, formatDateTime, Loading, SelectField, TextField, toProblem, type Problem } from "@accord/shared/ui";
import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { AgreementsCard } from "./AgreementsCard";
import { MessagesCard } from "./MessagesCard";
import { formatMinor, parseMajor } from "./money";
import { wf } from "./strings";

export function CaseWorkflow({ caseId }: { caseId: string }) {
  return (
    <>
      <IntakeCard caseId={caseId} />
      <MessagesCard caseId={caseId} />
      <AgreementsCard caseId={caseId} />
      <TimelineCard caseId={caseId} />
    </>
  );
}

type Intake = MyIntakeQuery["myIntake"];

function IntakeCard({ caseId }: { caseId: string }) {
  const [{ data, error, fetching }, refetch] = useQuery({ query: MyIntakeDocument, variables: { caseId }, requestPolicy: "cache-and-network" });
  const s = wf.intake;
  return (
    <Card title={s.title}>
      {error && !data ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {!data && fetching ? <Loading /> : null}
      {data ? <IntakeForm intake={data.myIntake} onSent={() => refetch({ requestPolicy: "network-only" })} /> : null}
    </Card>
  );
}

function IntakeForm({ intake, onSent }: { intake: Intake; onSent: () => void }) {
  const s = wf.intake;
  const given = Object.fromEntries((intake.response?.answers ?? []).map((a) => [a.field, a.value]));
  const [values, setValues] = useState<Record<string, string>>(() => {
    const v: Record<string, string> = { ...given };
    if (v.AMOUNT_IN_DISPUTE) v.AMOUNT_IN_DISPUTE = formatMinor(Number(v.AMOUNT_IN_DISPUTE));
    return v;
  });
  const [problem, setProblem] = useState<Problem | null>(null);
  const [sent, setSent] = useState(false);
  const [{ fetching }, submit] = useMutation(SubmitIntakeDocument);
  const set = (field: IntakeFieldName, value: string) => setValues({ ...values, [field]: value });
  if (!intake.open) return <p>{s.closed}</p>;
  const send = async (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    const answers = [];
    for (const f of intake.form.fields) {
      let value = values[f.field] ?? "";
      if (f.field === "AMOUNT_IN_DISPUTE" && value.trim() !== "") {
        const minor = parseMajor(value);
        if (minor === null) {
          setProblem({ code: "BAD_USER_INPUT", message: s.amountBad } as Problem);
          return;
        }
        value = String(minor);
      }
      answers.push({ field: f.field, value });
    }
    const r = await submit({ caseId: intake.caseId, answers });
    if (r.error) setProblem(toProblem(r.error));
    else {
      setSent(true);
      onSent();
    }
  };
  return (
    <form onSubmit={(e) => void send(e)}>
      <p className="muted">{s.intro}</p>
      {sent ? (
        <Alert kind="ok" live>
          {s.sent}
        </Alert>
      ) : intake.response ? (
        <p className="muted">{s.sentAt(formatDateTime(intake.response.submittedAt))}</p>
      ) : null}
      {intake.form.fields.map((f) => {
        const label = `${s.labels[f.field]}${f.required ? ` ${s.required}` : ""}`;
        const value = values[f.field] ?? "";
        switch (f.field) {
          case "DISPUTE_TYPE":
            return (
              <SelectField key={f.field} label={label} required={f.required} value={value} onChange={(e) => set(f.field, e.target.value)}>
                <option value="">{s.choose}</option>
                {intake.form.disputeTypes.map((d) => (
                  <option key={d} value={d}>
                    {d}
                  </option>
                ))}
              </SelectField>
            );
          case "INTERPRETER_NEEDED":
            return (
              <SelectField key={f.field} label={label} required={f.required} value={value} onChange={(e) => set(f.field, e.target.value)}>
                <option value="">{s.choose}</option>
                <option value="yes">{s.yes}</option>
                <option value="no">{s.no}</option>
              </SelectField>
            );
          case "AMOUNT_IN_DISPUTE":
            return <TextField key={f.field} label={label} hint={s.amountHint(intake.form.currency)} inputMode="decimal" required={f.required} value={value} onChange={(e) => set(f.field, e.target.value)} />;
          default:
            return <TextField key={f.field} label={label} required={f.required} value={value} maxLength={f.field === "PREFERRED_LANGUAGE" ? 60 : 2000} onChange={(e) => set(f.field, e.target.value)} />;
        }
      })}
      <Button type="submit" variant="primary" busy={fetching}>
        {s.submit}
      </Button>
      <ErrorAlert problem={problem} />
    </form>
  );
}

function TimelineCard({ caseId }: { caseId: string }) {
  const s = wf.timeline;
  const [after, setAfter] = useState<string | null>(null);
  const [pages, setPages] = useState<string[]>([]);
  const [{ data, error, fetching }, refetch] = useQuery({ query: CaseTimelineClientDocument, variables: { caseId, after }, requestPolicy: "cache-and-network" });
  const [shown, setShown] = useState<Record<string, { id: string; occurredAt: string; summary: string }[]>>({});
  const key = after ?? "";
  if (data && !shown[key] && data.caseTimeline) setShown({ ...shown, [key]: data.caseTimeline.entries });
  const entries = ["", ...pages].flatMap((k) => shown[k] ?? []);
  const next = data?.caseTimeline.endCursor ?? null;
  return (
    <Card title={s.title}>
      {error && !data ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {!data && fetching ? <Loading /> : null}
      {(data?.caseConflictOverrides ?? []).map((o) => (
        <Alert key={o.id} kind="info">
          {s.disclosed}: {o.reason}
        </Alert>
      ))}
      {data && entries.length === 0 ? <Empty>{s.none}</Empty> : null}
      <ol className="timeline" aria-label={s.title}>
        {entries.map((e) => (
          <li key={e.id}>
            <span className="muted">{formatDateTime(e.occurredAt)}</span> {e.summary}
          </li>
        ))}
      </ol>
      {next && !pages.includes(next) ? (
        <Button
          small
          busy={fetching}
          onClick={() => {
            setPages([...pages, next]);
            setAfter(next);
          }}
        >
          {s.more}
        </Button>
      ) : null}
    </Card>
  );
}
