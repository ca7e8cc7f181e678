// Availability windows, apart from React: a window is a day and
// two wall-clock times on the person's own clock, sent to the API as local
// date-times (`2026-03-30T09:00:00`) with the zone alongside.

/** A window as the API holds it: local date-times, no zone. */
export type LocalWindow = { start: string; end: string };

/** What the person types: a date (`YYYY-MM-DD`) and two times (`HH:MM`). */
export type Draft = { date: string; from: string; to: string };

/** Why a draft cannot be added. */
export type DraftProblem = "incomplete" | "endBeforeStart" | "overlaps" | "past";

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const TIME = /^([01]\d|2[0-3]):[0-5]\d$/;

/** `YYYY-MM-DDTHH:MM:SS` from a date and a time. */
function at(date: string, time: string): string {
  return `${date}T${time}:00`;
}

/** The window a draft stands for, or why it cannot be one. A window lies
 *  within its day; an end of "00:00" means midnight at the day's end. */
export function draftToWindow(draft: Draft, existing: readonly LocalWindow[], today: string): LocalWindow | DraftProblem {
  if (!DATE.test(draft.date) || !TIME.test(draft.from) || !TIME.test(draft.to)) return "incomplete";
  const start = at(draft.date, draft.from);
  const end = draft.to === "00:00" ? at(nextDay(draft.date), "00:00") : at(draft.date, draft.to);
  if (end <= start) return "endBeforeStart";
  if (draft.date < today) return "past";
  if (existing.some((w) => w.start < end && start < w.end)) return "overlaps";
  return { start, end };
}

/** The day after `date` (`YYYY-MM-DD`), by the calendar. */
export function nextDay(date: string): string {
  const [y, m, d] = date.split("-").map(Number) as [number, number, number];
  const next = new Date(Date.UTC(y, m - 1, d + 1));
  return next.toISOString().slice(0, 10);
}

/** Windows as the API takes them: earliest first, seconds written out. */
export function normalize(windows: readonly LocalWindow[]): LocalWindow[] {
  return windows.map((w) => ({ start: withSeconds(w.start), end: withSeconds(w.end) })).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

function withSeconds(local: string): string {
  return /T\d{2}:\d{2}$/.test(local) ? `${local}:00` : local;
}

/** `windows` with `added` in its place. */
export function addWindow(windows: readonly LocalWindow[], added: LocalWindow): LocalWindow[] {
  return normalize([...windows, added]);
}

/** `windows` without the one starting at `start`. */
export function removeWindow(windows: readonly LocalWindow[], start: string): LocalWindow[] {
  return normalize(windows.filter((w) => withSeconds(w.start) !== withSeconds(start)));
}

/** Today's date on the wall clock of `timeZone`, `YYYY-MM-DD`. */
export function todayIn(timeZone: string, now: Date = new Date()): string {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(now);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  return `${get("year")}-${get("month")}-${get("day")}`;
}

/** A window for people: its day in words and the two times, as written. */
export function describeWindow(w: LocalWindow, locale?: string): { day: string; from: string; to: string } {
  const [date = "", from = ""] = w.start.split("T");
  const [endDate = "", to = ""] = w.end.split("T");
  const [y, m, d] = date.split("-").map(Number) as [number, number, number];
  const day = new Intl.DateTimeFormat(locale, { weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone: "UTC" }).format(new Date(Date.UTC(y, m - 1, d)));
  const endTime = to.slice(0, 5);
  return { day, from: from.slice(0, 5), to: endDate !== date && endTime === "00:00" ? "24:00" : endTime };
}
