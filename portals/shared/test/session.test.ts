// The SessionClient's signaling, with a fake socket and a fake API (no media).

import { createPublicKey, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Api } from "../src/api";
import { ReconnectPolicy } from "../src/connection";
import { DeviceKey, MemoryKeyStore } from "../src/device";
import { fromBase64url } from "../src/base64url";
import { SessionClient, signalingUrl, type SessionEvents } from "../src/session";

const SESSION = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
const ME = "0190a1b2-0000-7000-8000-000000000001";
const OTHER = "0190a1b2-0000-7000-8000-000000000002";

class FakeSocket {
  readyState = 1;
  sent: string[] = [];
  closed: { code?: number; reason?: string } | undefined;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onclose: ((e: { code: number; reason: string }) => void) | null = null;
  onerror: ((e: unknown) => void) | null = null;
  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(data);
  }
  close(code?: number, reason?: string) {
    this.closed = { code, reason };
    this.readyState = 3;
  }
  /** The server sends a frame. */
  deliver(message: object) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  /** The server (or the network) ends the connection. */
  drop(code: number, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  messages(): { type: string; [k: string]: unknown }[] {
    return this.sent.map((s) => JSON.parse(s));
  }
}

type Call = { path: string; headers: Record<string, string>; body: unknown };

function fakeApi(nodeUrl: string | null = null) {
  const calls: Call[] = [];
  let tokens = 0;
  const fetchImpl: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const body = init?.body ? JSON.parse(String(init.body)) : undefined;
    calls.push({ path: url.pathname, headers, body });
    if (url.pathname === "/auth/session") {
      return new Response(JSON.stringify({ csrfToken: "csrf-1", userId: ME, orgId: "o", role: "party", expiresAt: "x" }), { status: 200 });
    }
    if (url.pathname === "/graphql") {
      if (headers["x-csrf-token"] !== "csrf-1") {
        return new Response(JSON.stringify({ errors: [{ message: "csrf", extensions: { code: "FORBIDDEN" } }] }), { status: 403 });
      }
      tokens += 1;
      return new Response(JSON.stringify({ data: { joinToken: { token: `token-${tokens}`, expiresAt: "x", role: "party", rooms: ["lobby"], url: nodeUrl } } }), { status: 200 });
    }
    return new Response("", { status: 404 });
  };
  return { api: new Api("http://accord.test/", fetchImpl), calls };
}

const until = async (what: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
};

function state(room: object = { kind: "lobby" }) {
  return {
    type: "state",
    you: ME,
    locked: false,
    rooms: [{ id: room, name: "Lobby", timerRemainingMs: null }],
    participants: [{ id: ME, role: "party", room, muted: false, handRaised: false, sharing: false }],
  };
}

async function setup(policy?: ReconnectPolicy, nodeUrl: string | null = null) {
  const { api, calls } = fakeApi(nodeUrl);
  const device = await DeviceKey.load(new MemoryKeyStore());
  const sockets: FakeSocket[] = [];
  const client = new SessionClient({
    baseUrl: "http://accord.test/",
    sessionId: SESSION,
    api,
    device,
    media: false,
    reconnect: policy,
    socket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
  });
  const events: { name: string; value: unknown }[] = [];
  for (const name of ["status", "closed", "knock", "chat", "error", "problem", "state", "denied", "removed"] as const) {
    client.on(name as keyof SessionEvents, (value) => events.push({ name, value }));
  }
  return { client, sockets, calls, device, events };
}

/** Joins through the handshake: challenge, hello, first state. */
async function handshake(sockets: FakeSocket[], index: number, device: DeviceKey, expectToken: string) {
  await until(() => sockets.length > index);
  const ws = sockets[index]!;
  ws.deliver({ type: "challenge", nonce: `nonce-${index}` });
  await until(() => ws.sent.length > 0);
  const hello = ws.messages()[0]!;
  expect(hello).toMatchObject({ type: "hello", token: expectToken, deviceKey: device.publicJwk });
  const pub = createPublicKey({ key: device.publicJwk, format: "jwk" });
  const ok = verify("sha256", Buffer.from(`nonce-${index}`), { key: pub, dsaEncoding: "ieee-p1363" }, fromBase64url(hello.signature as string));
  expect(ok).toBe(true);
  ws.deliver(state());
  return ws;
}

describe("signalingUrl", () => {
  it("follows the page's scheme", () => {
    expect(signalingUrl("https://m.example.org/x", SESSION)).toBe(`wss://m.example.org/sfu/ws?session=${SESSION}`);
    expect(signalingUrl("http://127.0.0.1:8080", SESSION)).toBe(`ws://127.0.0.1:8080/sfu/ws?session=${SESSION}`);
  });
});

describe("SessionClient", () => {
  it("gets a token with the CSRF header, answers the challenge, and is in on the first state", async () => {
    const { client, sockets, calls, device } = await setup();
    const joined = client.join();
    const ws = await handshake(sockets, 0, device, "token-1");
    await joined;
    expect(ws.url).toBe(`ws://accord.test/sfu/ws?session=${SESSION}`);
    const gql = calls.find((c) => c.path === "/graphql")!;
    expect(gql.headers["x-csrf-token"]).toBe("csrf-1");
    // A signaling-only client encrypts nothing and asks for the usual token (endToEnd: true).
    expect(gql.body).toMatchObject({ variables: { s: SESSION, k: device.publicJwk, e: true } });
    expect(String((gql.body as { query: string }).query)).toContain("joinToken(sessionId: $s, deviceKey: $k, endToEnd: $e) { token expiresAt role rooms url }");
    expect(client.status).toBe("joined");
    expect(client.you).toBe(ME);
    expect(client.me?.room).toEqual({ kind: "lobby" });
    expect(client.isMediator).toBe(false);
  });

  it("opens the signaling socket of the SFU node the join token names", async () => {
    const node = `wss://sfu-2.accord.test/sfu/ws?session=${SESSION}`;
    const { client, sockets, device } = await setup(undefined, node);
    const joined = client.join();
    const ws = await handshake(sockets, 0, device, "token-1");
    await joined;
    expect(ws.url).toBe(node);
    expect(client.status).toBe("joined");
  });

  it("dispatches server messages to listeners and sends typed commands", async () => {
    const { client, sockets, device, events } = await setup();
    const joined = client.join();
    const ws = await handshake(sockets, 0, device, "token-1");
    await joined;
    ws.deliver({ type: "knock", participant: OTHER });
    ws.deliver({ type: "chat", from: OTHER, text: "hello" });
    ws.deliver({ type: "error", code: "FORBIDDEN", message: "mediators only" });
    ws.deliver({ type: "fromTheFuture" });
    ws.onmessage?.({ data: "{broken" });
    expect(events.filter((e) => e.name === "knock").map((e) => e.value)).toEqual([{ type: "knock", participant: OTHER }]);
    expect(events.find((e) => e.name === "chat")?.value).toEqual({ type: "chat", from: OTHER, text: "hello" });
    expect(events.find((e) => e.name === "error")?.value).toMatchObject({ code: "FORBIDDEN" });
    expect(events.filter((e) => e.name === "problem")).toHaveLength(1);

    ws.sent = [];
    client.admit(OTHER);
    client.deny(OTHER);
    client.move(OTHER, { kind: "caucus", id: SESSION });
    client.createCaucus("Party A");
    client.recallAll();
    client.setMuted(true);
    client.setHand(true);
    client.chat("hi");
    client.lock(true);
    client.mute(OTHER);
    client.remove(OTHER);
    client.setTimer({ kind: "main" }, 600);
    expect(ws.messages()).toEqual([
      { type: "admit", participant: OTHER },
      { type: "deny", participant: OTHER, message: null },
      { type: "move", participant: OTHER, room: { kind: "caucus", id: SESSION } },
      { type: "createCaucus", name: "Party A" },
      { type: "recallAll" },
      { type: "setMuted", muted: true },
      { type: "setHand", raised: true },
      { type: "chat", text: "hi" },
      { type: "lock", locked: true },
      { type: "mute", participant: OTHER },
      { type: "remove", participant: OTHER },
      { type: "setTimer", room: { kind: "main" }, seconds: 600 },
    ]);
  });

  it("surfaces a refusal before joining and does not retry", async () => {
    const { client, sockets, events } = await setup();
    const joined = client.join();
    await until(() => sockets.length > 0);
    sockets[0]!.deliver({ type: "challenge", nonce: "n" });
    sockets[0]!.drop(4409, "this join token was already used; ask for a new one");
    await expect(joined).rejects.toThrow(/already used/);
    expect(client.status).toBe("closed");
    const closed = events.find((e) => e.name === "closed")?.value as SessionEvents["closed"];
    expect(closed).toMatchObject({ code: 4409, refused: true });
    await new Promise((r) => setTimeout(r, 50));
    expect(sockets).toHaveLength(1);
  });

  it("on 1013 (try again later) before joining, asks for a new token and tries again", async () => {
    const { client, sockets, device, calls } = await setup();
    const joined = client.join();
    await until(() => sockets.length > 0);
    sockets[0]!.deliver({ type: "challenge", nonce: "n" });
    sockets[0]!.drop(1013, "the session server cannot reach its registry or database; try again in a moment");
    await handshake(sockets, 1, device, "token-2");
    await joined;
    expect(client.status).toBe("joined");
    expect(calls.filter((c) => c.path === "/graphql")).toHaveLength(2);
  });

  it("ends on a denial or removal after joining, with a clear message", async () => {
    const { client, sockets, device, events } = await setup();
    const joined = client.join();
    const ws = await handshake(sockets, 0, device, "token-1");
    await joined;
    ws.deliver({ type: "denied", message: "wrong session" });
    ws.drop(4424, "the mediator did not admit you");
    expect(client.status).toBe("closed");
    const closed = events.find((e) => e.name === "closed")?.value as SessionEvents["closed"];
    expect(closed.message).toBe("The mediator did not admit you to the session.");
    expect(events.find((e) => e.name === "denied")?.value).toEqual({ type: "denied", message: "wrong session" });
    await new Promise((r) => setTimeout(r, 50));
    expect(sockets).toHaveLength(1);
  });

  it("reconnects with a fresh token after an unexpected drop", async () => {
    const { client, sockets, device, events } = await setup(new ReconnectPolicy({ delaysMs: [0, 10] }));
    const joined = client.join();
    const first = await handshake(sockets, 0, device, "token-1");
    await joined;
    first.drop(1006);
    expect(client.status).toBe("reconnecting");
    await handshake(sockets, 1, device, "token-2");
    await until(() => client.status === "joined");
    const statuses = events.filter((e) => e.name === "status").map((e) => (e.value as SessionEvents["status"]).status);
    expect(statuses).toEqual(["connecting", "joined", "reconnecting", "reconnecting", "joined"]);
    expect(events.find((e) => e.name === "closed")).toBeUndefined();
    // Frames of the old socket no longer count.
    first.deliver({ type: "knock", participant: OTHER });
    expect(events.find((e) => e.name === "knock")).toBeUndefined();
  });

  it("keeps trying while the server is away, then stops on a refusal", async () => {
    const { client, sockets, device } = await setup(new ReconnectPolicy({ delaysMs: [0, 10] }));
    const joined = client.join();
    const first = await handshake(sockets, 0, device, "token-1");
    await joined;
    first.drop(1011);
    await until(() => sockets.length === 2);
    sockets[1]!.drop(1006);
    await until(() => sockets.length === 3);
    sockets[2]!.deliver({ type: "challenge", nonce: "n" });
    sockets[2]!.drop(4410, "you were removed from this session");
    await until(() => client.status === "closed");
    await new Promise((r) => setTimeout(r, 50));
    expect(sockets).toHaveLength(3);
  });

  it("leaves without reconnecting", async () => {
    const { client, sockets, device, events } = await setup();
    const joined = client.join();
    const ws = await handshake(sockets, 0, device, "token-1");
    await joined;
    client.leave();
    expect(ws.closed?.code).toBe(1000);
    ws.drop(1000);
    expect(client.status).toBe("closed");
    expect((events.find((e) => e.name === "closed")?.value as SessionEvents["closed"]).refused).toBe(false);
    expect(client.chat("late")).toBe(false);
  });
});
