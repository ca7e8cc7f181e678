// Amounts typed by a person (e.g. the amount in dispute) as integer minor
// units, never through floating point.

export function parseMajor(text: string, digits = 2): number | null {
  const m = /^\s*(\d{1,12})(?:[.,](\d*))?\s*$/.exec(text);
  if (!m) return null;
  const fraction = m[2] ?? "";
  if (fraction.length > digits) return null;
  return Number(m[1]) * 10 ** digits + Number(fraction.padEnd(digits, "0") || "0");
}

export function formatMinor(amount: number, digits = 2): string {
  if (digits === 0) return String(amount);
  const unit = 10 ** digits;
  return `${Math.floor(amount / unit)}.${String(amount % unit).padStart(digits, "0")}`;
}
