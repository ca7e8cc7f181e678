// Time zones and locales offered by the settings screens of both portals.

/** Every IANA zone the browser knows, with UTC, sorted; `keep` first if the browser does not know it. */
export function zoneChoices(keep?: string | null): string[] {
  const known = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  const all = Array.from(new Set(["UTC", ...known])).sort();
  return keep && !all.includes(keep) ? [keep, ...all] : all;
}

const LOCALE_NAMES: Record<string, string> = {
  "en-GB": "English (United Kingdom)",
  "en-US": "English (United States)",
  "fr-FR": "Français (France)",
  "de-DE": "Deutsch (Deutschland)",
};

/** A locale tag's name, in its own language. */
export function localeName(tag: string): string {
  return LOCALE_NAMES[tag] ?? tag;
}

/** How a date and time reads in `tag` and `zone`, as an example beside the choice. */
export function localeExample(tag: string, zone: string | null | undefined, at: Date): string {
  try {
    return new Intl.DateTimeFormat(tag, { dateStyle: "full", timeStyle: "short", timeZone: zone || undefined }).format(at);
  } catch {
    return "";
  }
}
