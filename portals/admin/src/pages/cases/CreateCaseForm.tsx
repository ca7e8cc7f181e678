import { CreateCaseDocument } from "@accord/shared/gql";
import { Button, ErrorAlert, SelectField, TextField, toProblem, type Problem } from "@accord/shared/ui";
import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { useMutation } from "urql";
import { t } from "../../strings";
import { fieldErrors } from "../common/fieldErrors";
import { useMediators } from "./useMediators";

const s = t.pages.cases;

export function CreateCaseForm({ onCancel }: { onCancel: () => void }) {
  const navigate = useNavigate();
  const [reference, setReference] = useState("");
  const [title, setTitle] = useState("");
  const [mediatorId, setMediatorId] = useState("");
  const [problem, setProblem] = useState<Problem | null>(null);
  const { mediators, problem: mediatorsProblem } = useMediators();
  const [{ fetching }, create] = useMutation(CreateCaseDocument);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    const r = await create({ input: { reference: reference.trim(), title: title.trim(), mediatorId: mediatorId || null } });
    if (r.error || !r.data) {
      setProblem(toProblem(r.error));
      return;
    }
    navigate(`/cases/${r.data.createCase.id}`);
  };

  const { at: fieldError, rest } = fieldErrors(problem, ["reference", "title", "mediatorId"]);
  return (
    <form onSubmit={submit} noValidate>
      <div className="form-grid">
        <TextField label={s.reference} hint={s.referenceHint} required autoComplete="off" value={reference} onChange={(e) => setReference(e.target.value)} error={fieldError("reference")} />
        <TextField label={s.caseTitle} required autoComplete="off" value={title} onChange={(e) => setTitle(e.target.value)} error={fieldError("title")} />
        <SelectField
          label={s.mediator}
          hint={mediators && mediators.length === 0 ? s.noMediators : s.mediatorHint}
          value={mediatorId}
          onChange={(e) => setMediatorId(e.target.value)}
          error={fieldError("mediatorId") ?? mediatorsProblem?.message}
        >
          <option value="">{s.noMediatorChoice}</option>
          {(mediators ?? []).map((m) => (
            <option key={m.id} value={m.id}>
              {m.name}
            </option>
          ))}
        </SelectField>
      </div>
      <ErrorAlert problem={rest} />
      <div className="row">
        <Button type="submit" variant="primary" busy={fetching}>
          {fetching ? s.busy : s.submit}
        </Button>
        <Button onClick={onCancel}>{t.pages.common.cancel}</Button>
      </div>
    </form>
  );
}
