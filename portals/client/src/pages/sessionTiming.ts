// When a session may be joined and how its time reads for the viewer: pure
// functions of the session, the time now and the viewer's zone.

import { formatInZone, offsetMs, viewerLocale } from "@accord/shared/ui";
import type { SessionStatus } from "@accord/shared/gql";

/** The session room opens this long before the start. */
export const JOIN_EARLY_MS = 15 * 60_000;

/** The longest session (720 minutes): a listing from this far back still has the one under way. */
export const LONGEST_SESSION_MS = 12 * 60 * 60_000;

export type Timed = { startsAt: string; endsAt: string; status: SessionStatus };

/**
 * Where a session stands for joining: `live` from its start to its end,
 * `soon` in the 15 minutes before (both may join), `later` before that,
 * `over` after its end or once held, `cancelled` when called off.
 */
export type JoinState = "live" | "soon" | "later" | "over" | "cancelled";

export function joinState(s: Timed, now: number): JoinState {
  if (s.status === "CANCELLED") return "cancelled";
  if (s.status === "COMPLETED") return "over";
  const start = Date.parse(s.startsAt);
  const end = Date.parse(s.endsAt);
  if (now >= end) return "over";
  if (now >= start) return "live";
  if (now >= start - JOIN_EARLY_MS) return "soon";
  return "later";
}

export const canJoin = (state: JoinState) => state === "live" || state === "soon";

/** The sessions still to come or under way, by start (cancelled ones kept, to say so). */
export function upcoming<T extends Timed>(sessions: readonly T[], now: number): T[] {
  return sessions
    .filter((s) => joinState(s, now) !== "over")
    .slice()
    .sort((a, b) => Date.parse(a.startsAt) - Date.parse(b.startsAt));
}

/** The sessions that are over (held, or past their end), latest first. */
export function past<T extends Timed>(sessions: readonly T[], now: number): T[] {
  return sessions
    .filter((s) => joinState(s, now) === "over")
    .slice()
    .sort((a, b) => Date.parse(b.startsAt) - Date.parse(a.startsAt));
}

/** "Tue, 8 Dec 2026, 14:30 – 15:30" in `timeZone` (both ends' dates when it runs past midnight). */
export function formatSessionTime(s: { startsAt: string; endsAt: string }, timeZone: string, locale = viewerLocale()): string {
  const f = new Intl.DateTimeFormat(locale, {
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZone,
  });
  return f.formatRange(new Date(s.startsAt), new Date(s.endsAt));
}

/**
 * The start as the session's planner sees it ("Tue 8 Dec, 09:30 (New
 * York)"), or null when the viewer's zone shows the same wall-clock time.
 */
export function plannedTime(s: { startsAt: string; timeZone: string }, viewerZone: string, locale = viewerLocale()): string | null {
  if (s.timeZone === viewerZone) return null;
  const at = Date.parse(s.startsAt);
  try {
    if (offsetMs(at, s.timeZone) === offsetMs(at, viewerZone)) return null;
    return formatInZone(s.startsAt, s.timeZone, locale);
  } catch {
    // A zone this browser does not know: the viewer's time alone.
    return null;
  }
}

/** The zone to show times in: the one the person chose, else the browser's. */
export function displayZone(chosen: string | null | undefined, browser: string): string {
  if (!chosen) return browser;
  try {
    new Intl.DateTimeFormat("en", { timeZone: chosen });
    return chosen;
  } catch {
    return browser;
  }
}

/** Whole minutes until the start, rounded up (for "Starts in 12 min"). */
export function minutesUntil(s: { startsAt: string }, now: number): number {
  return Math.max(0, Math.ceil((Date.parse(s.startsAt) - now) / 60_000));
}
