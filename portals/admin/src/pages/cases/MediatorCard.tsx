import { AssignMediatorDocument } from "@accord/shared/gql";
import { Button, Card, ErrorAlert, SelectField, toProblem, type Problem, type Role } from "@accord/shared/ui";
import { useState, type FormEvent } from "react";
import { useMutation } from "urql";
import { t } from "../../strings";
import type { CaseData } from "../CaseDetail";
import { can } from "../common/permissions";
import { useMediators } from "./useMediators";

const s = t.pages.caseDetail;

export function MediatorCard({ c, role, onNotice }: { c: CaseData; role: Role; onNotice: (n: string) => void }) {
  const current = c.mediator?.user ?? null;
  const mayAssign = can(role, "assignMediator");
  return (
    <Card title={s.mediator}>
      {current ? (
        <p>
          {current.displayName}
          {current.email ? <span className="muted"> · {current.email}</span> : null}
        </p>
      ) : (
        <p className="muted">{s.mediatorNone}</p>
      )}
      {mayAssign ? <AssignForm caseId={c.id} currentId={current?.id ?? null} onNotice={onNotice} /> : <p className="muted">{s.mediatorAdminOnly}</p>}
    </Card>
  );
}

function AssignForm({ caseId, currentId, onNotice }: { caseId: string; currentId: string | null; onNotice: (n: string) => void }) {
  const { mediators, problem: listProblem } = useMediators();
  const [choice, setChoice] = useState(currentId ?? "");
  const [seen, setSeen] = useState(currentId);
  if (seen !== currentId) {
    setSeen(currentId);
    setChoice(currentId ?? "");
  }
  const [problem, setProblem] = useState<Problem | null>(null);
  const [{ fetching }, assign] = useMutation(AssignMediatorDocument);

  const save = async (mediatorId: string | null) => {
    setProblem(null);
    const r = await assign({ caseId, mediatorId });
    if (r.error) setProblem(toProblem(r.error));
    else onNotice(s.mediatorSaved);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void save(choice || null);
  };

  return (
    <form onSubmit={submit} className="inline-form">
      <SelectField
        label={s.mediatorSelect}
        value={choice}
        onChange={(e) => setChoice(e.target.value)}
        hint={mediators && mediators.length === 0 ? t.pages.cases.noMediators : undefined}
        error={listProblem?.message}
      >
        <option value="">{t.pages.common.none}</option>
        {(mediators ?? []).map((m) => (
          <option key={m.id} value={m.id}>
            {m.name}
          </option>
        ))}
      </SelectField>
      <div className="row">
        <Button type="submit" variant="primary" busy={fetching} disabled={(choice || null) === currentId}>
          {s.mediatorSave}
        </Button>
        {currentId ? (
          <Button onClick={() => void save(null)} disabled={fetching}>
            {s.mediatorClear}
          </Button>
        ) : null}
      </div>
      <ErrorAlert problem={problem} />
    </form>
  );
}
