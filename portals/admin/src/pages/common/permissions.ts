// What each staff role may do, mirroring the API's permission table
// (crates/domain/src/permission.rs, `MATRIX`) so that no screen offers a
// button the API would refuse. A mediator's grants reach only the cases they
// mediate, and those are the only cases a mediator can open, so on a case
// page an "involved" grant counts as granted.

import type { Role } from "@accord/shared/ui";

export type StaffAction =
  | "viewMembers"
  | "manageMembers"
  | "createCase"
  | "updateCaseStatus"
  | "assignMediator"
  | "manageParties"
  | "viewPartyContacts"
  | "scheduleSession"
  | "readAuditLog"
  | "viewLiveSessions";

const GRANTS: Record<"org_admin" | "mediator", ReadonlySet<StaffAction>> = {
  org_admin: new Set<StaffAction>([
    "viewMembers",
    "manageMembers",
    "createCase",
    "updateCaseStatus",
    "assignMediator",
    "manageParties",
    "viewPartyContacts",
    "scheduleSession",
    "readAuditLog",
    "viewLiveSessions",
  ]),
  mediator: new Set<StaffAction>([
    "viewMembers",
    "updateCaseStatus",
    "manageParties",
    "viewPartyContacts",
    "scheduleSession",
    "viewLiveSessions",
  ]),
};

/** Whether `role` may do `action` (on a case it can see). */
export function can(role: Role, action: StaffAction): boolean {
  return role === "org_admin" || role === "mediator" ? GRANTS[role].has(action) : false;
}
