import { InviteMemberDocument, type Role } from "@accord/shared/gql";
import { Button, ErrorAlert, SelectField, TextField, toProblem, type Problem } from "@accord/shared/ui";
import { useState, type FormEvent } from "react";
import { useMutation } from "urql";
import { t } from "../../strings";
import { fieldErrors } from "../common/fieldErrors";
import { parseRole, ROLES } from "./roles";

const s = t.pages.members;

export function InviteForm({ onInvited }: { onInvited: (email: string) => void }) {
  const [email, setEmail] = useState("");
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("MEDIATOR");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [{ fetching }, invite] = useMutation(InviteMemberDocument);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    const r = await invite({ input: { email: email.trim(), displayName: name.trim(), role } });
    if (r.error) {
      setProblem(toProblem(r.error));
      return;
    }
    onInvited(email.trim());
    setEmail("");
    setName("");
  };

  const { at: fieldError, rest } = fieldErrors(problem, ["email", "displayName", "role"]);
  return (
    <form onSubmit={submit} noValidate>
      <p className="muted">{s.inviteIntro}</p>
      <div className="form-grid">
        <TextField label={s.email} type="email" autoComplete="off" required value={email} onChange={(e) => setEmail(e.target.value)} error={fieldError("email")} />
        <TextField label={s.name} autoComplete="off" required value={name} onChange={(e) => setName(e.target.value)} error={fieldError("displayName")} />
        <SelectField label={s.role} value={role} onChange={(e) => setRole(parseRole(e.target.value))} hint={t.pages.roleHint[role]}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {t.pages.role[r]}
            </option>
          ))}
        </SelectField>
      </div>
      <ErrorAlert problem={rest} />
      <Button type="submit" variant="primary" busy={fetching}>
        {fetching ? s.inviteBusy : s.inviteSubmit}
      </Button>
    </form>
  );
}
