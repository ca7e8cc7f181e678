// Money on screen: amounts are integer minor units in the API; people type
// and read them with a decimal point. Pure functions, tested beside them.

/** Digits after the point for `currency` (as the server's domain knows them). */
export function minorDigits(currency: string): number {
  if (["JPY", "KRW", "ISK", "CLP", "VND", "XOF", "XAF", "UGX", "PYG"].includes(currency)) return 0;
  if (["BHD", "KWD", "OMR", "JOD", "TND", "LYD", "IQD"].includes(currency)) return 3;
  return 2;
}

/** `12050` EUR → `120.50`. */
export function formatMinor(amount: number, currency: string): string {
  const digits = minorDigits(currency);
  const sign = amount < 0 ? "-" : "";
  const abs = Math.abs(amount);
  if (digits === 0) return `${sign}${abs}`;
  const unit = 10 ** digits;
  return `${sign}${Math.floor(abs / unit)}.${String(abs % unit).padStart(digits, "0")}`;
}

/** `"120.5"` EUR → `12050`; null when it is not a plain non-negative amount. */
export function parseMajor(text: string, currency: string): number | null {
  const digits = minorDigits(currency);
  const m = /^\s*(\d{1,12})(?:[.,](\d*))?\s*$/.exec(text);
  if (!m) return null;
  const fraction = m[2] ?? "";
  if (fraction.length > digits) return null;
  return Number(m[1]) * 10 ** digits + Number(fraction.padEnd(digits, "0") || "0");
}

/** Percent text (`"33.34"`) → basis points (`3334`); null when invalid. */
export function percentToBasisPoints(text: string): number | null {
  const m = /^\s*(\d{1,3})(?:[.,](\d{0,2}))?\s*$/.exec(text);
  if (!m) return null;
  const bp = Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0") || "0");
  return bp <= 10000 ? bp : null;
}

/** Basis points → percent text. */
export function basisPointsToPercent(bp: number): string {
  return bp % 100 === 0 ? String(bp / 100) : (bp / 100).toFixed(2);
}
