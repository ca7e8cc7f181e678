// Dates and times through Intl, in the viewer's locale and time zone.

/** The viewer's IANA time zone, as the browser knows it. */
export function viewerTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** The viewer's locale. */
export function viewerLocale(): string {
  return typeof navigator !== "undefined" && navigator.language ? navigator.language : "en-GB";
}

type Opts = { timeZone?: string; locale?: string };

/** "Tue, 8 Dec 2026, 14:30" in the given (or the viewer's) zone. */
export function formatDateTime(iso: string, { timeZone = viewerTimeZone(), locale = viewerLocale() }: Opts = {}): string {
  return new Intl.DateTimeFormat(locale, {
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZone,
  }).format(new Date(iso));
}

/** "8 Dec 2026". */
export function formatDate(iso: string, { timeZone = viewerTimeZone(), locale = viewerLocale() }: Opts = {}): string {
  return new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", year: "numeric", timeZone }).format(new Date(iso));
}

/** "14:30 GMT+1" with the zone's short name, for showing a time in someone else's zone. */
export function formatTimeWithZone(iso: string, { timeZone = viewerTimeZone(), locale = viewerLocale() }: Opts = {}): string {
  return new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit", timeZoneName: "short", timeZone }).format(new Date(iso));
}

/** "Tue 8 Dec, 09:30 (New York)": a time as someone in `timeZone` sees it, with a readable zone label. */
export function formatInZone(iso: string, timeZone: string, locale = viewerLocale()): string {
  const when = new Intl.DateTimeFormat(locale, {
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
    timeZone,
  }).format(new Date(iso));
  return `${when} (${zoneLabel(timeZone)})`;
}

/** "New York" for America/New_York, "UTC" for UTC. */
export function zoneLabel(timeZone: string): string {
  const last = timeZone.split("/").pop() ?? timeZone;
  return last.replace(/_/g, " ");
}

/** Whether an IANA zone name is known to this browser. */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/**
 * The instant at which the wall-clock `local` ("2026-12-08T14:30") happens in
 * `timeZone`, as an ISO string with `Z`. Across a DST gap the later offset wins.
 */
export function zonedToInstant(local: string, timeZone: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(local);
  if (!m) throw new RangeError(`not a local date and time: ${local}`);
  const [y, mo, d, h, mi] = m.slice(1).map(Number) as [number, number, number, number, number];
  const asUtc = Date.UTC(y, mo - 1, d, h, mi);
  // Two passes settle the offset at the target instant (and across a change).
  let guess = asUtc - offsetMs(asUtc, timeZone);
  guess = asUtc - offsetMs(guess, timeZone);
  return new Date(guess).toISOString();
}

/** The zone's offset from UTC at `instant`, in ms. */
export function offsetMs(instant: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(new Date(instant));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  const wall = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return wall - Math.floor(instant / 1000) * 1000;
}

/** "2026-12-08T14:30": an instant as wall-clock time in `timeZone`, for a datetime-local input. */
export function instantToLocalInput(iso: string, timeZone: string): string {
  const t = new Date(iso).getTime();
  const wall = new Date(t + offsetMs(t, timeZone));
  return wall.toISOString().slice(0, 16);
}

/** "1 h 05 min", "12 min", "45 s". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}
