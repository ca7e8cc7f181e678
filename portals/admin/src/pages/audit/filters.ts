// The audit log's filters, as kept in the URL's query string.

export type AuditFilters = { actor: string; action: string; targetType: string; targetId: string };

export const NO_FILTERS: AuditFilters = { actor: "", action: "", targetType: "", targetId: "" };

const KEYS: Record<keyof AuditFilters, string> = { actor: "actor", action: "action", targetType: "type", targetId: "target" };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(s: string): boolean {
  return UUID.test(s);
}

export function filtersFromParams(p: URLSearchParams): AuditFilters {
  return {
    actor: p.get(KEYS.actor) ?? "",
    action: p.get(KEYS.action) ?? "",
    targetType: p.get(KEYS.targetType) ?? "",
    targetId: p.get(KEYS.targetId) ?? "",
  };
}

export function filtersToParams(f: AuditFilters): URLSearchParams {
  const p = new URLSearchParams();
  for (const k of Object.keys(KEYS) as (keyof AuditFilters)[]) {
    const v = f[k].trim();
    if (v) p.set(KEYS[k], v);
  }
  return p;
}

/** The query's variables: empty filters left out, ids only when they are ids. */
export function filterVariables(f: AuditFilters) {
  return {
    actorUserId: isUuid(f.actor) ? f.actor : null,
    action: f.action.trim() || null,
    targetType: f.targetType.trim() || null,
    targetId: isUuid(f.targetId.trim()) ? f.targetId.trim() : null,
  };
}

export function hasFilters(f: AuditFilters): boolean {
  return Object.values(f).some((v) => v.trim() !== "");
}
