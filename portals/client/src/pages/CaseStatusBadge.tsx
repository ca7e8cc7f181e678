import type { CaseStatus } from "@accord/shared/gql";
import { Badge } from "@accord/shared/ui";
import { t } from "../strings";

/** A case's status as a coloured word: open is green, on hold amber, settled and closed plain. */
export function CaseStatusBadge({ status }: { status: CaseStatus }) {
  const kind = status === "OPEN" ? "ok" : status === "ON_HOLD" ? "warn" : undefined;
  return <Badge kind={kind}>{t.caseStatus[status]}</Badge>;
}
