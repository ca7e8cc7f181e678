// The intake form's configuration (org admins): which of the catalogue's
// questions the people on a case are asked before their first session,
// which answers are required, and the types of dispute offered.

import { IntakeFormConfigDocument, SetIntakeFormDocument, type IntakeFieldName, type IntakeFormConfigQuery } from "@accord/shared/gql";
import { Alert, Button, Card, ErrorAlert, Loading, PageTitle, toProblem, useSession, type Problem } from "@accord/shared/ui";
import { useId, useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { OnlyAdmins } from "../common/Forbidden";
import { wf } from "./strings";

const s = wf.intake;
const CATALOGUE: readonly IntakeFieldName[] = ["DISPUTE_TYPE", "AMOUNT_IN_DISPUTE", "PREFERRED_LANGUAGE", "ACCESSIBILITY_NEEDS", "INTERPRETER_NEEDED"];

export function IntakeFormPage() {
  const session = useSession();
  if (session.role !== "org_admin") return <OnlyAdmins title={s.title} body={s.onlyAdmins} />;
  return <IntakeConfig />;
}

function IntakeConfig() {
  const [{ data, error, fetching }, refetch] = useQuery({ query: IntakeFormConfigDocument, requestPolicy: "cache-and-network" });
  const [notice, setNotice] = useState<string | null>(null);
  return (
    <>
      <PageTitle>{s.title}</PageTitle>
      <p className="muted">{s.intro}</p>
      <div aria-live="polite">{notice ? <Alert kind="ok">{notice}</Alert> : null}</div>
      {error && !data ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {!data && fetching ? <Loading /> : null}
      {data ? (
        <FormEditor
          form={data.intakeForm}
          onSaved={() => {
            setNotice(s.saved);
            refetch({ requestPolicy: "network-only" });
          }}
        />
      ) : null}
    </>
  );
}

type Choice = { ask: boolean; required: boolean };

function FormEditor({ form, onSaved }: { form: IntakeFormConfigQuery["intakeForm"]; onSaved: () => void }) {
  const [choices, setChoices] = useState<Record<string, Choice>>(() =>
    Object.fromEntries(
      CATALOGUE.map((f) => {
        const asked = form.fields.find((x) => x.field === f);
        return [f, { ask: Boolean(asked), required: asked?.required ?? false }];
      }),
    ),
  );
  const [types, setTypes] = useState(form.disputeTypes.join("\n"));
  const [problem, setProblem] = useState<Problem | null>(null);
  const [{ fetching }, save] = useMutation(SetIntakeFormDocument);
  const typesId = useId();
  const set = (f: IntakeFieldName, next: Partial<Choice>) => {
    const current = choices[f] ?? { ask: false, required: false };
    const merged = { ...current, ...next };
    // A question not asked cannot be required.
    if (!merged.ask) merged.required = false;
    setChoices({ ...choices, [f]: merged });
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    const fields = CATALOGUE.filter((f) => choices[f]?.ask).map((f) => ({ field: f, required: choices[f]?.required ?? false }));
    const disputeTypes = types
      .split("\n")
      .map((x) => x.trim())
      .filter((x) => x.length > 0);
    const r = await save({ fields, disputeTypes });
    if (r.error) setProblem(toProblem(r.error));
    else onSaved();
  };
  return (
    <Card title={s.fields}>
      <form onSubmit={(e) => void submit(e)}>
        <table className="data" aria-label={s.fields}>
          <tbody>
            {CATALOGUE.map((f) => {
              const label = s.labels[f] ?? f;
              const c = choices[f] ?? { ask: false, required: false };
              return (
                <tr key={f}>
                  <th scope="row">{label}</th>
                  <td>
                    <label className="check">
                      <input type="checkbox" checked={c.ask} aria-label={s.ask(label)} onChange={(e) => set(f, { ask: e.target.checked })} /> Ask
                    </label>
                  </td>
                  <td>
                    <label className="check">
                      <input type="checkbox" checked={c.required} disabled={!c.ask} aria-label={s.required(label)} onChange={(e) => set(f, { required: e.target.checked })} /> Required
                    </label>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        <div className="field">
          <label htmlFor={typesId}>{s.disputeTypes}</label>
          <textarea id={typesId} rows={6} value={types} aria-describedby={`${typesId}-hint`} onChange={(e) => setTypes(e.target.value)} />
          <span className="hint" id={`${typesId}-hint`}>
            {s.disputeTypesHint}
          </span>
        </div>
        <ErrorAlert problem={problem} />
        <Button type="submit" variant="primary" busy={fetching}>
          {s.save}
        </Button>
      </form>
    </Card>
  );
}
