// The invite link's token parsing and the redemption's answers.

import { ApiError } from "@accord/shared";
import { describe, expect, it } from "vitest";
import { redeemInvite, refusalOf, tokenFromHash } from "../src/pages/invite/redeem";

const TOKEN = "a".repeat(40) + "-_Z";
const KEY = { kty: "EC", crv: "P-256", x: "x", y: "y" } as const;

describe("tokenFromHash", () => {
  it("reads a well-formed token from the fragment", () => {
    expect(tokenFromHash(`#token=${TOKEN}`)).toBe(TOKEN);
    expect(tokenFromHash(`token=${TOKEN}&x=1`)).toBe(TOKEN);
  });
  it("refuses missing, short or foreign tokens", () => {
    expect(tokenFromHash("")).toBeNull();
    expect(tokenFromHash("#token=abc")).toBeNull();
    expect(tokenFromHash(`#token=${TOKEN}x`)).toBeNull();
    expect(tokenFromHash(`#token=${"a".repeat(42)}!`)).toBeNull();
  });
});

describe("redeemInvite", () => {
  const answer = (status: number, body: unknown) => () => Promise.resolve(Response.json(body, { status }));

  it("sends the token and key as JSON and returns the session", async () => {
    let sent: RequestInit | undefined;
    const result = await redeemInvite(TOKEN, KEY, (_url, init) => {
      sent = init;
      return Promise.resolve(Response.json({ csrfToken: "c", userId: "u", orgId: "o", role: "party", expiresAt: "x", caseId: "k", partyId: "p" }));
    });
    expect(result).toMatchObject({ ok: true, session: { caseId: "k", role: "party" } });
    expect(new Headers(sent?.headers).get("content-type")).toBe("application/json");
    expect(JSON.parse(String(sent?.body))).toEqual({ token: TOKEN, deviceKey: KEY });
  });

  it("turns a named refusal into a result", async () => {
    for (const reason of ["SPENT", "EXPIRED", "REPLACED", "INVALID", "OTHER_DEVICE"]) {
      const result = await redeemInvite(TOKEN, KEY, answer(409, { error: { code: "CONFLICT", reason, message: "m" } }));
      expect(result).toEqual({ ok: false, reason });
    }
    expect(refusalOf({ error: { reason: "SOMETHING" } })).toBeNull();
  });

  it("throws other failures with their code", async () => {
    await expect(redeemInvite(TOKEN, KEY, answer(429, { error: { code: "RATE_LIMITED", message: "slow down" } }))).rejects.toMatchObject({
      code: "RATE_LIMITED",
    });
    await expect(redeemInvite(TOKEN, KEY, () => Promise.reject(new Error("offline")))).rejects.toBeInstanceOf(ApiError);
  });
});
