import { describe, expect, it } from "vitest";
import { Api } from "../src/api";
import { e2eeSupported } from "../src/live/e2ee/transform";
import { SessionClient } from "../src/session";

describe("joining with end-to-end encryption", () => {
  it("where encoded transforms are missing, asks for a hop-by-hop token and tells the org's refusal", async () => {
    expect(e2eeSupported()).toBe(false); // Node has no RTCRtpScriptTransform
    const asked: unknown[] = [];
    const refusal = "this organisation holds sessions only with end-to-end encryption, which this browser cannot do";
    const api = new Api("http://127.0.0.1:9/", async (input, init) => {
      const body = init?.body ?? (input instanceof Request ? await input.text() : undefined);
      asked.push(body ? JSON.parse(String(body)).variables : null);
      return new Response(JSON.stringify({ errors: [{ message: refusal, extensions: { code: "CONFLICT" } }] }), { status: 200, headers: { "content-type": "application/json" } });
    });
    let opened = 0;
    const client = new SessionClient({
      baseUrl: "http://127.0.0.1:9/",
      sessionId: "s",
      api,
      localStream: {} as MediaStream,
      socket: () => {
        opened += 1;
        throw new Error("no socket expected");
      },
      device: async () => ({ publicJwk: { kty: "EC", crv: "P-256", x: "x", y: "y" } }) as never,
    });
    expect(client.e2eeEnabled).toBe(true);
    const failure = await client.join().catch((e: unknown) => e);
    expect(client.joinsHopByHop).toBe(true);
    expect(client.e2eeEnabled).toBe(false);
    expect(asked.filter((v) => v !== null)).toEqual([expect.objectContaining({ s: "s", e: false })]);
    expect(String((failure as Error).message)).toContain("end-to-end encryption");
    expect(opened).toBe(0);
    expect(client.status).toBe("closed");
  });

  it("is off for signaling-only clients", () => {
    const client = new SessionClient({ baseUrl: "http://127.0.0.1:9/", sessionId: "s", media: false });
    expect(client.e2eeEnabled).toBe(false);
  });
});
