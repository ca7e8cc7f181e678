// A case's lifecycle as the API enforces it (crates/domain/src/case.rs,
// `CaseStatus::can_transition_to`): settling and closing only move forward.
//
//   OPEN    -> ON_HOLD, SETTLED, CLOSED
//   ON_HOLD -> OPEN, CLOSED
//   SETTLED -> CLOSED
//   CLOSED  -> (nothing)

import type { CaseStatus } from "@accord/shared/gql";

export const CASE_STATUSES: readonly CaseStatus[] = ["OPEN", "ON_HOLD", "SETTLED", "CLOSED"];

const NEXT: Record<CaseStatus, readonly CaseStatus[]> = {
  OPEN: ["ON_HOLD", "SETTLED", "CLOSED"],
  ON_HOLD: ["OPEN", "CLOSED"],
  SETTLED: ["CLOSED"],
  CLOSED: [],
};

/** The statuses a case in `from` may move to, in lifecycle order. */
export function nextStatuses(from: CaseStatus): readonly CaseStatus[] {
  return NEXT[from];
}

/** Whether a case in `from` may move to `to` (staying put is not a move). */
export function canTransition(from: CaseStatus, to: CaseStatus): boolean {
  return NEXT[from].includes(to);
}

/** Whether sessions may still be scheduled on a case in this status. */
export function takesSessions(status: CaseStatus): boolean {
  return status === "OPEN" || status === "ON_HOLD";
}

/** Parses a status from a URL query value; null for anything else. */
export function parseCaseStatus(value: string | null): CaseStatus | null {
  return value && (CASE_STATUSES as readonly string[]).includes(value) ? (value as CaseStatus) : null;
}
