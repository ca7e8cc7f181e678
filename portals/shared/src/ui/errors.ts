// API errors as words for a person: from the stable code, never a stack.

import type { CombinedError } from "@urql/core";
import { ApiError } from "../api";
import { strings } from "./strings";

/** What went wrong, for a person, with the field it concerns when known. */
export type Problem = { code: string; message: string; field?: string; retryAfter?: number };

const GENERIC = new Set(["INTERNAL", "NETWORK", "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND"]);

function known(code: string): code is keyof typeof strings.errors {
  return code in strings.errors && typeof strings.errors[code as keyof typeof strings.errors] === "string";
}

/** Words for an error code, with the server's own message where it is meant for people. */
export function describe(code: string, serverMessage?: string, retryAfter?: number): string {
  if (code === "RATE_LIMITED") {
    return `${strings.errors.RATE_LIMITED} ${strings.errors.wait(retryAfter ?? 60)}`;
  }
  // The server's messages for input, conflict and permission errors are
  // written for people ("a case with this reference already exists"); for
  // internal errors only the generic words are shown.
  if (serverMessage && !GENERIC.has(code)) return capitalise(serverMessage);
  if (serverMessage && code === "FORBIDDEN") return capitalise(serverMessage);
  return known(code) ? (strings.errors[code] as string) : strings.errors.INTERNAL;
}

function capitalise(s: string): string {
  const t = s.trim();
  const out = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(out) ? out : `${out}.`;
}

/** A problem from anything thrown or returned: an ApiError, a urql CombinedError, a TypeError. */
export function toProblem(e: unknown): Problem {
  if (e instanceof ApiError) {
    const p: Problem = { code: e.code, message: describe(e.code, e.message, e.retryAfter) };
    if (e.field) p.field = e.field;
    if (e.retryAfter !== undefined) p.retryAfter = e.retryAfter;
    return p;
  }
  const combined = e as Partial<CombinedError> | null;
  if (combined && (combined.graphQLErrors || combined.networkError)) {
    const first = combined.graphQLErrors?.[0];
    if (first) {
      const ext = (first.extensions ?? {}) as { code?: unknown; field?: unknown; retryAfter?: unknown };
      const code = typeof ext.code === "string" ? ext.code : "INTERNAL";
      const retryAfter = typeof ext.retryAfter === "number" ? ext.retryAfter : undefined;
      const p: Problem = { code, message: describe(code, first.message, retryAfter) };
      if (typeof ext.field === "string") p.field = ext.field;
      if (retryAfter !== undefined) p.retryAfter = retryAfter;
      return p;
    }
    return { code: "NETWORK", message: strings.errors.NETWORK };
  }
  return { code: "INTERNAL", message: strings.errors.INTERNAL };
}

/** Whether a problem means the sign-in is gone (the page should ask again). */
export const isSignedOut = (p: Problem) => p.code === "UNAUTHENTICATED";
