import { ChangeMemberRoleDocument, RemoveMemberDocument, type Role } from "@accord/shared/gql";
import { Badge, Button, ConfirmButton, ErrorAlert, formatDate, toProblem, type Problem } from "@accord/shared/ui";
import { useId, useState } from "react";
import { useMutation } from "urql";
import { t } from "../../strings";
import type { MemberItem } from "../Members";
import { useViewerZone } from "../common/hooks";
import { parseRole, ROLES } from "./roles";

const s = t.pages.members;

export function MemberRow({
  member,
  self,
  onChanged,
  onRemoved,
}: {
  member: MemberItem;
  self: boolean;
  onChanged: (notice: string) => void;
  onRemoved: (name: string) => void;
}) {
  const name = member.user.displayName;
  const zone = useViewerZone();
  // The choice stays the person's until they save it or the saved role changes.
  const [role, setRole] = useState<Role>(member.role);
  const [savedRole, setSavedRole] = useState<Role>(member.role);
  if (savedRole !== member.role) {
    setSavedRole(member.role);
    setRole(member.role);
  }
  const [problem, setProblem] = useState<Problem | null>(null);
  const [{ fetching: saving }, changeRole] = useMutation(ChangeMemberRoleDocument);
  const [{ fetching: removing }, remove] = useMutation(RemoveMemberDocument);
  const selectId = useId();

  const save = async () => {
    setProblem(null);
    const r = await changeRole({ userId: member.user.id, role });
    if (r.error) {
      const p = toProblem(r.error);
      // The API keeps one org admin at all times; say why in full.
      if (p.code === "CONFLICT" && member.role === "ORG_ADMIN") p.message = s.lastAdmin;
      setProblem(p);
      return;
    }
    onChanged(s.roleSaved(name, t.pages.role[role]));
  };

  const doRemove = async () => {
    setProblem(null);
    const r = await remove({ userId: member.user.id });
    if (r.error) {
      const p = toProblem(r.error);
      if (p.code === "CONFLICT" && member.role === "ORG_ADMIN") p.message = s.lastAdmin;
      setProblem(p);
      return;
    }
    onRemoved(name);
  };

  return (
    <tr>
      <td data-label={s.colName}>
        {name} {self ? <span className="muted">{t.pages.common.you}</span> : null}
      </td>
      <td data-label={s.colEmail}>{member.user.email ?? ""}</td>
      <td data-label={s.colState}>{member.activated === false ? <Badge kind="warn">{s.invited}</Badge> : <Badge kind="ok">{s.activated}</Badge>}</td>
      <td data-label={s.colJoined}>{formatDate(member.joinedAt, { timeZone: zone })}</td>
      <td data-label={s.colRole}>
        <div className="row nowrap">
          <label htmlFor={selectId} className="visually-hidden">
            {s.roleFor(name)}
          </label>
          <select id={selectId} value={role} onChange={(e) => {
              setProblem(null);
              setRole(parseRole(e.target.value));
            }}
          >
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {t.pages.role[r]}
              </option>
            ))}
          </select>
          <Button small onClick={save} busy={saving} disabled={role === member.role} aria-label={s.saveRoleFor(name)}>
            {s.saveRole}
          </Button>
        </div>
        <ErrorAlert problem={problem} />
      </td>
      <td data-label={s.colActions}>
        {self ? null : (
          <ConfirmButton
            label={s.removeLabel(name)}
            question={s.removeQuestion(name)}
            confirm={s.removeConfirm}
            cancel={t.pages.common.cancel}
            busy={removing}
            onConfirm={doRemove}
          >
            {s.remove}
          </ConfirmButton>
        )}
      </td>
    </tr>
  );
}
