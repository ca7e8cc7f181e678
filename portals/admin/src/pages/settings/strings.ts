// Words of the organisation settings page.

export const settingsStrings = {
  nav: "Settings",
  title: "Organisation settings",
  onlyAdmins: "Only organisation admins change the organisation's settings.",
  org: {
    title: "Time, language and invitations",
    loading: "Loading the organisation's settings…",
    intro: "Mail about sessions gives times in each person's own time zone and language; these apply to everyone who has not chosen their own.",
    zone: "Organisation time zone",
    zoneUnset: "Not set (each session's own time zone)",
    locale: "Date format in mail",
    localeUnset: "Not set (English, United Kingdom)",
    example: (s: string) => `For example: ${s}`,
    lifetime: "Invite links stay valid for (days)",
    lifetimeHint: "From 1 to 90 days. Links already sent keep their expiry.",
    reminders: "Reminders before each session",
    remindersHint: "At most four. Sessions already scheduled keep their reminders until they are moved.",
    save: "Save settings",
    saved: "The organisation's settings are saved.",
  },
} as const;

/** Reminder leads offered, in minutes, largest first. */
export const LEAD_CHOICES: readonly number[] = [10080, 2880, 1440, 120, 60, 15];

/** A lead in words: "1 week", "24 hours", "15 minutes". */
export function leadWords(minutes: number): string {
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? "" : "s"}`;
  if (minutes % 10080 === 0) return plural(minutes / 10080, "week");
  if (minutes % 1440 === 0 && minutes > 1440) return plural(minutes / 1440, "day");
  if (minutes % 60 === 0) return plural(minutes / 60, "hour");
  return plural(minutes, "minute");
}

/** The leads to show as choices: the offered ones and any stored one besides, largest first. */
export function leadChoices(stored: readonly number[]): number[] {
  return Array.from(new Set([...LEAD_CHOICES, ...stored])).sort((a, b) => b - a);
}
