// Times of sessions as each person sees them: the viewer in their own zone,
// the session in the zone it was planned in, and each participant in theirs
// when it is known. Pure functions over Intl, tested in test/time.test.ts.

import { instantToLocalInput, offsetMs, viewerLocale, zonedToInstant, zoneLabel } from "@accord/shared/ui";

/** Zones offered first when scheduling; the browser's full list follows. */
export const COMMON_ZONES: readonly string[] = [
  "UTC",
  "Europe/London",
  "Europe/Dublin",
  "Europe/Lisbon",
  "Europe/Paris",
  "Europe/Berlin",
  "Europe/Amsterdam",
  "Europe/Madrid",
  "Europe/Rome",
  "Europe/Zurich",
  "Europe/Stockholm",
  "Europe/Warsaw",
  "Europe/Athens",
  "Europe/Helsinki",
  "Europe/Istanbul",
  "Africa/Johannesburg",
  "Africa/Lagos",
  "Africa/Nairobi",
  "Asia/Dubai",
  "Asia/Kolkata",
  "Asia/Singapore",
  "Asia/Hong_Kong",
  "Asia/Tokyo",
  "Australia/Sydney",
  "Pacific/Auckland",
  "America/New_York",
  "America/Chicago",
  "America/Denver",
  "America/Los_Angeles",
  "America/Toronto",
  "America/Mexico_City",
  "America/Sao_Paulo",
];

/** The zones to offer: the common ones (with `viewerZone` and `current` among them) and every other zone the browser knows. */
export function zoneChoices(viewerZone: string, current?: string, known: readonly string[] = browserZones()): { common: string[]; other: string[] } {
  const common = [...COMMON_ZONES];
  for (const z of [current, viewerZone]) {
    if (z && !common.includes(z)) common.unshift(z);
  }
  const seen = new Set(common);
  const other = known.filter((z) => !seen.has(z));
  return { common, other };
}

function browserZones(): string[] {
  const intl = Intl as typeof Intl & { supportedValuesOf?: (key: string) => string[] };
  try {
    return intl.supportedValuesOf ? intl.supportedValuesOf("timeZone") : [];
  } catch {
    return [];
  }
}

/** "America/New York" for a select's option. */
export function zoneOptionLabel(zone: string): string {
  return zone.replace(/_/g, " ");
}

/** Where a wall-clock time entered for a zone lands. */
export type PlannedInstant = {
  /** The instant, ISO with `Z`. */
  instant: string;
  /** The wall-clock time it is in the zone ("2027-03-28T03:30"): differs from the input when the input fell in a DST gap. */
  local: string;
  /** The entered time does not exist in the zone that day (clocks went forward). */
  skipped: boolean;
  /** The entered time happens twice in the zone that day (clocks went back); `instant` is the later. */
  ambiguous: boolean;
};

/** The instant at which `date` ("2027-03-28") and `time` ("14:30") happen in `zone`. Null for an incomplete or invalid entry. */
export function planInstant(date: string, time: string, zone: string): PlannedInstant | null {
  const local = `${date}T${time}`;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(local)) return null;
  let instant: string;
  try {
    instant = zonedToInstant(local, zone);
  } catch {
    return null;
  }
  const t = Date.parse(instant);
  if (Number.isNaN(t)) return null;
  const actual = instantToLocalInput(instant, zone);
  // The same wall-clock time one offset change earlier also exists when the
  // clocks went back across it.
  const before = t - Math.abs(offsetMs(t + 86_400_000, zone) - offsetMs(t - 86_400_000, zone));
  const ambiguous = before !== t && instantToLocalInput(new Date(before).toISOString(), zone) === local;
  return { instant, local: actual, skipped: actual !== local, ambiguous };
}

const DAY_TIME: Intl.DateTimeFormatOptions = { weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" };

/** "Mon, 15 Mar 2027, 13:00 GMT": a time with the zone's short name, in `zone`. */
export function formatZoned(iso: string, zone: string, locale = viewerLocale()): string {
  return new Intl.DateTimeFormat(locale, { ...DAY_TIME, timeZone: zone, timeZoneName: "short" }).format(new Date(iso));
}

/** "Mon, 15 Mar 2027, 13:00 – 14:30" in `zone` (the end's date only when it differs). */
export function formatSpan(startIso: string, endIso: string, zone: string, locale = viewerLocale()): string {
  const f = new Intl.DateTimeFormat(locale, { ...DAY_TIME, timeZone: zone });
  return f.formatRange(new Date(startIso), new Date(endIso));
}

/** The wall-clock date and time of an instant in `zone`, for a form. */
export function splitLocal(iso: string, zone: string): { date: string; time: string } {
  const local = instantToLocalInput(iso, zone);
  return { date: local.slice(0, 10), time: local.slice(11, 16) };
}

/** Whether two zones show different wall-clock times at `iso`. */
export function zonesDiffer(iso: string, a: string, b: string): boolean {
  if (a === b) return false;
  const t = Date.parse(iso);
  return offsetMs(t, a) !== offsetMs(t, b);
}

/** A session's time for the viewer, and in its planned zone when that shows another clock. */
export function sessionTimes(
  startIso: string,
  endIso: string,
  sessionZone: string,
  viewerZone: string,
  locale = viewerLocale(),
): { viewer: string; planned: string | null } {
  return {
    viewer: formatSpan(startIso, endIso, viewerZone, locale),
    planned: zonesDiffer(startIso, sessionZone, viewerZone) ? `${formatZoned(startIso, sessionZone, locale)} (${zoneLabel(sessionZone)})` : null,
  };
}

/** Someone taking part, with their own zone when it is known. */
export type Attendee = { name: string; timeZone: string | null };

/** The planned time as one attendee sees it. */
export type AttendeeTime = { name: string; zone: string; text: string; assumed: boolean };

/** What a planned start looks like to the viewer, in the session's zone, and to each attendee. */
export function schedulePreview(
  instant: string,
  sessionZone: string,
  viewerZone: string,
  attendees: readonly Attendee[],
  locale = viewerLocale(),
): { viewer: string; session: string | null; attendees: AttendeeTime[]; assumedAny: boolean } {
  const list = attendees.map((a) => {
    const zone = a.timeZone ?? sessionZone;
    return { name: a.name, zone, text: `${formatZoned(instant, zone, locale)} (${zoneLabel(zone)})`, assumed: a.timeZone === null };
  });
  return {
    viewer: formatZoned(instant, viewerZone, locale),
    session: zonesDiffer(instant, sessionZone, viewerZone) ? `${formatZoned(instant, sessionZone, locale)} (${zoneLabel(sessionZone)})` : null,
    attendees: list,
    assumedAny: list.some((a) => a.assumed),
  };
}

/** The viewer's day containing `now` and the week from it (today and the next six days), as instants from midnight in `zone`. */
export function dayBounds(now: Date, zone: string): { todayStart: string; tomorrowStart: string; weekEnd: string } {
  const local = instantToLocalInput(now.toISOString(), zone).slice(0, 10);
  const [y, m, d] = local.split("-").map(Number) as [number, number, number];
  const midnight = (offset: number) => {
    const dt = new Date(Date.UTC(y, m - 1, d + offset));
    return zonedToInstant(`${dt.toISOString().slice(0, 10)}T00:00`, zone);
  };
  return { todayStart: midnight(0), tomorrowStart: midnight(1), weekEnd: midnight(7) };
}
