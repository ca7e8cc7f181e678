import type { Role } from "@accord/shared/gql";

/** Every role, most powerful first. */
export const ROLES: readonly Role[] = ["ORG_ADMIN", "MEDIATOR", "PARTY", "OBSERVER"];

export function parseRole(value: string): Role {
  return (ROLES as readonly string[]).includes(value) ? (value as Role) : "MEDIATOR";
}
