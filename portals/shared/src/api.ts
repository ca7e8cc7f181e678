// The HTTP API the session page needs: sign-in, the CSRF token, GraphQL.

import type { PublicJwk } from "./device";

/** An API error with its stable code (`UNAUTHENTICATED`, `FORBIDDEN`, …). */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
    /** Seconds to wait before trying again (rate limits and lock-outs). */
    readonly retryAfter?: number,
    /** The input field the error is about, when the server names one. */
    readonly field?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** What the sign-in page may offer in this deployment. */
export type AuthOptions = { oidc: boolean };

export type SignedIn = { csrfToken: string; userId: string; orgId: string; role: string; expiresAt: string };

/** `url`: the signaling socket of the SFU node the session runs on; null: this origin's `/sfu/ws`. */
export type JoinToken = { token: string; expiresAt: string; role: string; rooms: string[]; url?: string | null };

const JOIN_TOKEN = "mutation($s: UUID!, $k: JSON!, $e: Boolean!) { joinToken(sessionId: $s, deviceKey: $k, endToEnd: $e) { token expiresAt role rooms url } }";

type Fetch = typeof fetch;

/** Talks to one Accord origin with the browser's session cookie. */
export class Api {
  private csrf: string | undefined;

  constructor(
    readonly baseUrl: string,
    private readonly fetchImpl: Fetch = (...a) => fetch(...a),
  ) {}

  private url(path: string) {
    return new URL(path, this.baseUrl).toString();
  }

  private async json(path: string, init: RequestInit): Promise<{ status: number; body: unknown; retryAfter?: number }> {
    let response: Response;
    try {
      response = await this.fetchImpl(this.url(path), { credentials: "same-origin", ...init });
    } catch (e) {
      throw new ApiError("NETWORK", `The server could not be reached (${e instanceof Error ? e.message : String(e)}).`);
    }
    const text = await response.text();
    let body: unknown = null;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    const wait = Number(response.headers.get("retry-after"));
    return { status: response.status, body, ...(Number.isFinite(wait) && wait > 0 ? { retryAfter: wait } : {}) };
  }

  /** A POST with a JSON body (and the CSRF token when signed in). */
  private async post(path: string, payload: unknown, { csrf = false } = {}): Promise<unknown> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (csrf) headers["x-csrf-token"] = await this.csrfToken();
    const { status, body, retryAfter } = await this.json(path, {
      method: "POST",
      headers,
      body: payload === undefined ? "{}" : JSON.stringify(payload),
    });
    if (status < 200 || status >= 300) throw restError(status, body, "The request failed.", retryAfter);
    return body;
  }

  /** `GET /auth/options`: whether SSO sign-in is offered. */
  async options(): Promise<AuthOptions> {
    const { status, body } = await this.json("/auth/options", { method: "GET" });
    if (status !== 200) return { oidc: false };
    return { oidc: Boolean((body as { oidc?: unknown } | null)?.oidc) };
  }

  /** `POST /auth/password`: sets a password with the token of a setup or reset link. */
  async setPassword(token: string, password: string): Promise<void> {
    await this.post("/auth/password", { token, password });
  }

  /** `POST /auth/password/reset`: mails a reset link if the address has an account. */
  async requestReset(email: string): Promise<void> {
    await this.post("/auth/password/reset", { email });
  }

  /** `POST /auth/totp/setup`: a new secret to scan. */
  async totpSetup(): Promise<{ secret: string; otpauthUri: string }> {
    return (await this.post("/auth/totp/setup", {}, { csrf: true })) as { secret: string; otpauthUri: string };
  }

  /** `POST /auth/totp/confirm`: turns two-factor sign-in on; the recovery codes, shown once. */
  async totpConfirm(code: string): Promise<string[]> {
    const body = (await this.post("/auth/totp/confirm", { code }, { csrf: true })) as { recoveryCodes: string[] };
    return body.recoveryCodes;
  }

  /** `POST /auth/totp/disable`. */
  async totpDisable(code: string): Promise<void> {
    await this.post("/auth/totp/disable", { code }, { csrf: true });
  }

  /** `POST /auth/sign-out-everywhere`: ends every session of the account; how many. */
  async signOutEverywhere(): Promise<number> {
    const body = (await this.post("/auth/sign-out-everywhere", undefined, { csrf: true })) as { endedSessions?: number };
    this.csrf = undefined;
    return body.endedSessions ?? 0;
  }

  /** `POST /auth/sign-in`; remembers the CSRF token. */
  async signIn(
    email: string,
    password: string,
    extra: { org?: string; totpCode?: string; recoveryCode?: string } = {},
  ): Promise<SignedIn> {
    const { status, body, retryAfter } = await this.json("/auth/sign-in", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password, ...extra }),
    });
    if (status !== 200) throw restError(status, body, "Sign-in failed.", retryAfter);
    const s = body as SignedIn;
    this.csrf = s.csrfToken;
    return s;
  }

  /** `GET /auth/session`: who is signed in (null when nobody), and the CSRF token. */
  async session(): Promise<SignedIn | null> {
    const { status, body } = await this.json("/auth/session", { method: "GET" });
    if (status === 401) return null;
    if (status !== 200) throw restError(status, body, "Could not read the sign-in session.");
    const s = body as SignedIn;
    this.csrf = s.csrfToken;
    return s;
  }

  /** `POST /auth/sign-out`. */
  async signOut(): Promise<void> {
    const csrf = await this.csrfToken();
    await this.json("/auth/sign-out", { method: "POST", headers: { "x-csrf-token": csrf } });
    this.csrf = undefined;
  }

  /** The CSRF token of the signed-in session (asked for once). */
  async csrfToken(): Promise<string> {
    if (this.csrf) return this.csrf;
    const s = await this.session();
    if (!s) throw new ApiError("UNAUTHENTICATED", "Sign in first.", 401);
    return s.csrfToken;
  }

  /** Runs a GraphQL operation; throws the first error with its code. */
  async graphql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (/^\s*mutation\b/.test(query)) headers["x-csrf-token"] = await this.csrfToken();
    const { status, body } = await this.json("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
    const b = body as { data?: T; errors?: { message: string; extensions?: { code?: string } }[] } | null;
    const first = b?.errors?.[0];
    if (first) throw new ApiError(first.extensions?.code ?? "INTERNAL", first.message, status);
    if (status !== 200 || !b || b.data === undefined) throw new ApiError("INTERNAL", `GraphQL answered ${status}.`, status);
    return b.data;
  }

  /** A join token for this device's key. */
  /**
   * A join token for this device. `endToEnd: false` is for a browser that
   * cannot encrypt media end to end: refused (CONFLICT, with the reason)
   * unless the org allows hop-by-hop sessions.
   */
  async joinToken(sessionId: string, deviceKey: PublicJwk, endToEnd = true): Promise<JoinToken> {
    const data = await this.graphql<{ joinToken: JoinToken }>(JOIN_TOKEN, { s: sessionId, k: deviceKey, e: endToEnd });
    return data.joinToken;
  }
}

function restError(status: number, body: unknown, fallback: string, retryAfter?: number): ApiError {
  const e = (body as { error?: { code?: string; message?: string; field?: string } } | null)?.error;
  const code = e?.code ?? (status === 401 ? "UNAUTHENTICATED" : status === 429 ? "RATE_LIMITED" : "INTERNAL");
  return new ApiError(code, e?.message ?? fallback, status, retryAfter, e?.field);
}
