// Redeeming an invite link: the token from the URL fragment and this device's
// public key go to `POST /auth/invite/redeem`; the answer signs the browser in.

import { ApiError, type PublicJwk, type SignedIn } from "@accord/shared";

/** Why a link was refused, as the server names it. */
export type RefusalReason = "INVALID" | "EXPIRED" | "REPLACED" | "SPENT" | "OTHER_DEVICE";

export type Redeemed = SignedIn & { caseId: string; partyId: string };

export type RedeemResult = { ok: true; session: Redeemed } | { ok: false; reason: RefusalReason };

const REASONS: readonly RefusalReason[] = ["INVALID", "EXPIRED", "REPLACED", "SPENT", "OTHER_DEVICE"];

/** The token in `#token=…`, or null when the fragment has none. */
export function tokenFromHash(hash: string): string | null {
  const params = new URLSearchParams(hash.startsWith("#") ? hash.slice(1) : hash);
  const token = params.get("token");
  return token && /^[A-Za-z0-9_-]{43}$/.test(token) ? token : null;
}

/** The refusal named by an error body, or null when the body is another error. */
export function refusalOf(body: unknown): RefusalReason | null {
  const reason = (body as { error?: { reason?: unknown } } | null)?.error?.reason;
  return typeof reason === "string" && (REASONS as readonly string[]).includes(reason) ? (reason as RefusalReason) : null;
}

/** Redeems `token` for `key`. Refusals are results; other failures throw an ApiError. */
export async function redeemInvite(token: string, key: PublicJwk, fetchImpl: typeof fetch = (...a) => fetch(...a)): Promise<RedeemResult> {
  let response: Response;
  try {
    response = await fetchImpl("/auth/invite/redeem", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token, deviceKey: key }),
    });
  } catch (e) {
    throw new ApiError("NETWORK", `The server could not be reached (${e instanceof Error ? e.message : String(e)}).`);
  }
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (response.ok) return { ok: true, session: body as Redeemed };
  const reason = refusalOf(body);
  if (reason) return { ok: false, reason };
  const error = (body as { error?: { code?: string; message?: string } } | null)?.error;
  const wait = Number(response.headers.get("retry-after"));
  throw new ApiError(
    error?.code ?? (response.status === 429 ? "RATE_LIMITED" : "INTERNAL"),
    error?.message ?? "The invitation could not be opened.",
    response.status,
    Number.isFinite(wait) && wait > 0 ? wait : undefined,
  );
}
