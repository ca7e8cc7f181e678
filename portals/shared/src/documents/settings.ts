// The org's document settings as the settings screen edits them: the upload
// limit in MiB (the API takes bytes), retention in whole days or none.

const MIB = 1024 * 1024;
/** The API's ceiling: 16 GiB. */
export const MAX_LIMIT_MIB = 16 * 1024;
/** The API's ceiling for retention: 100 years. */
export const MAX_RETENTION_DAYS = 36_500;

/** Bytes as MiB for the form: "100", "0.5", "1.25". */
export function limitToMiB(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes <= 0) return "";
  return String(Math.round((bytes / MIB) * 100) / 100);
}

/** The form's MiB as whole bytes, or null when it is not a number from 0.01 to 16384. */
export function parseLimitMiB(text: string): number | null {
  const t = text.trim();
  if (!/^\d+(\.\d{1,2})?$/.test(t)) return null;
  const mib = Number(t);
  if (!(mib > 0) || mib > MAX_LIMIT_MIB) return null;
  return Math.round(mib * MIB);
}

/** The form's days as a whole number from 1 to 36500, or null. */
export function parseRetentionDays(text: string): number | null {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return null;
  const days = Number(t);
  return days >= 1 && days <= MAX_RETENTION_DAYS ? days : null;
}
