import type { CaseStatus, SessionStatus } from "@accord/shared/gql";
import { Badge } from "@accord/shared/ui";
import { t } from "../../strings";

const CASE_KIND: Record<CaseStatus, "ok" | "warn" | "danger" | undefined> = { OPEN: "ok", ON_HOLD: "warn", SETTLED: undefined, CLOSED: undefined };
const SESSION_KIND: Record<SessionStatus, "ok" | "warn" | "danger" | undefined> = { SCHEDULED: "ok", CANCELLED: "danger", COMPLETED: undefined };

export function statusBadge(status: CaseStatus) {
  return <Badge kind={CASE_KIND[status]}>{t.pages.caseStatus[status]}</Badge>;
}

export function sessionBadge(status: SessionStatus) {
  return <Badge kind={SESSION_KIND[status]}>{t.pages.sessionStatus[status]}</Badge>;
}
