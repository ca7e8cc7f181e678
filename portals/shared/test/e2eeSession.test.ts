import { describe, expect, it } from "vitest";
import { e2eeSupported } from "../src/live/e2ee/transform";
import { E2eeUnsupportedError, SessionClient } from "../src/session";

describe("joining with end-to-end encryption", () => {
  it("is refused, before any token or socket, where encoded transforms are missing", async () => {
    expect(e2eeSupported()).toBe(false); // Node has no RTCRtpScriptTransform
    let opened = 0;
    let asked = 0;
    const client = new SessionClient({
      baseUrl: "http://127.0.0.1:9/",
      sessionId: "s",
      localStream: {} as MediaStream,
      socket: () => {
        opened += 1;
        throw new Error("no socket expected");
      },
      device: async () => {
        asked += 1;
        throw new Error("no device key expected");
      },
    });
    expect(client.e2eeEnabled).toBe(true);
    const failure = await client.join().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(E2eeUnsupportedError);
    expect(String((failure as Error).message)).toMatch(/cannot encrypt/);
    expect([opened, asked]).toEqual([0, 0]);
    expect(client.status).toBe("closed");
  });

  it("is off for signaling-only clients", () => {
    const client = new SessionClient({ baseUrl: "http://127.0.0.1:9/", sessionId: "s", media: false });
    expect(client.e2eeEnabled).toBe(false);
  });
});
