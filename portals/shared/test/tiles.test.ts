// Tile sizes for the server (debounced `tile` messages) and the camera's
// simulcast fallback.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Api } from "../src/api";
import { DeviceKey, MemoryKeyStore } from "../src/device";
import { CAMERA_LAYERS, fullSizeWithoutSimulcast, SessionClient } from "../src/session";
import { TILE_DEBOUNCE_MS, TILE_MAX, TileSizes, type TileMessage } from "../src/tiles";

const A = "0190a1b2-0000-7000-8000-00000000000a";
const B = "0190a1b2-0000-7000-8000-00000000000b";

describe("TileSizes", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function sizes(connected = () => true) {
    const sent: TileMessage[] = [];
    const tiles = new TileSizes((m) => {
      if (!connected()) return false;
      sent.push(m);
      return true;
    });
    return { tiles, sent };
  }

  it("sends a size once it has stayed put for the debounce time", () => {
    const { tiles, sent } = sizes();
    tiles.set(A, "camera", 640.4, 359.6);
    vi.advanceTimersByTime(TILE_DEBOUNCE_MS - 1);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual([{ type: "tile", participant: A, source: "camera", width: 640, height: 360 }]);
    expect(JSON.parse(JSON.stringify(sent[0]))).toEqual({ type: "tile", participant: A, source: "camera", width: 640, height: 360 });
  });

  it("keeps sizes within what the server accepts", () => {
    const { tiles, sent } = sizes();
    tiles.set(A, "screen", 10_240, -3);
    tiles.set(B, "camera", Number.NaN, 100);
    vi.advanceTimersByTime(TILE_DEBOUNCE_MS);
    expect(sent).toEqual([
      { type: "tile", participant: A, source: "screen", width: TILE_MAX, height: 0 },
      { type: "tile", participant: B, source: "camera", width: 0, height: 100 },
    ]);
  });

  it("collapses a burst of resizes into one message with the last size", () => {
    const { tiles, sent } = sizes();
    for (let w = 100; w <= 1000; w += 50) {
      tiles.set(A, "camera", w, w / 2);
      vi.advanceTimersByTime(100); // a drag: never still for 300 ms
    }
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(TILE_DEBOUNCE_MS);
    expect(sent).toEqual([{ type: "tile", participant: A, source: "camera", width: 1000, height: 500 }]);
  });

  it("debounces each tile on its own and skips sizes the server already has", () => {
    const { tiles, sent } = sizes();
    tiles.set(A, "camera", 320, 180);
    vi.advanceTimersByTime(200);
    tiles.set(B, "screen", 1280, 720);
    vi.advanceTimersByTime(100);
    expect(sent.map((m) => m.participant)).toEqual([A]);
    vi.advanceTimersByTime(200);
    expect(sent).toEqual([
      { type: "tile", participant: A, source: "camera", width: 320, height: 180 },
      { type: "tile", participant: B, source: "screen", width: 1280, height: 720 },
    ]);
    // Back and forth to the same size: nothing new to say.
    tiles.set(A, "camera", 500, 300);
    vi.advanceTimersByTime(100);
    tiles.set(A, "camera", 320, 180);
    vi.advanceTimersByTime(TILE_DEBOUNCE_MS);
    expect(sent).toHaveLength(2);
  });

  it("reports a hidden tile as 0×0, and a removed one once before forgetting it", () => {
    const { tiles, sent } = sizes();
    tiles.set(A, "camera", 320, 180);
    vi.advanceTimersByTime(TILE_DEBOUNCE_MS);
    tiles.set(A, "camera", 0, 0);
    vi.advanceTimersByTime(TILE_DEBOUNCE_MS);
    expect(sent.at(-1)).toEqual({ type: "tile", participant: A, source: "camera", width: 0, height: 0 });
    tiles.set(B, "camera", 320, 180);
    vi.advanceTimersByTime(TILE_DEBOUNCE_MS);
    tiles.remove(B, "camera");
    vi.advanceTimersByTime(TILE_DEBOUNCE_MS);
    expect(sent.at(-1)).toEqual({ type: "tile", participant: B, source: "camera", width: 0, height: 0 });
    // After a reconnect, the hidden tile is told again; the removed one is not.
    sent.length = 0;
    tiles.resend();
    expect(sent).toEqual([{ type: "tile", participant: A, source: "camera", width: 0, height: 0 }]);
    // Removing a tile never seen sends nothing.
    tiles.remove("someone-else", "screen");
    vi.advanceTimersByTime(TILE_DEBOUNCE_MS);
    expect(sent).toHaveLength(1);
  });

  it("keeps what could not be sent and sends it on resend", () => {
    let up = false;
    const { tiles, sent } = sizes(() => up);
    tiles.set(A, "camera", 320, 180);
    vi.advanceTimersByTime(TILE_DEBOUNCE_MS);
    expect(sent).toEqual([]);
    up = true;
    tiles.resend();
    expect(sent).toEqual([{ type: "tile", participant: A, source: "camera", width: 320, height: 180 }]);
    tiles.clear();
    tiles.resend();
    expect(sent).toHaveLength(1);
  });
});

describe("SessionClient tile sizes", () => {
  it("sends tile messages on the socket only while joined, and again after a reconnect", async () => {
    const fetchImpl: typeof fetch = async (input) => {
      if (new URL(String(input)).pathname === "/auth/session") {
        return new Response(JSON.stringify({ csrfToken: "c", userId: A, orgId: "o", role: "party", expiresAt: "x" }), { status: 200 });
      }
      return new Response(JSON.stringify({ data: { joinToken: { token: "t", expiresAt: "x", role: "party", rooms: ["main"] } } }), { status: 200 });
    };
    type Sock = { readyState: number; sent: string[]; onmessage: ((e: { data: unknown }) => void) | null; onclose: ((e: { code: number; reason: string }) => void) | null; onerror: null; send(d: string): void; close(): void };
    const sockets: Sock[] = [];
    const client = new SessionClient({
      baseUrl: "http://accord.test/",
      sessionId: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
      api: new Api("http://accord.test/", fetchImpl),
      device: await DeviceKey.load(new MemoryKeyStore()),
      media: false,
      socket: () => {
        const s: Sock = {
          readyState: 1,
          sent: [],
          onmessage: null,
          onclose: null,
          onerror: null,
          send(d) {
            this.sent.push(d);
          },
          close() {
            this.readyState = 3;
          },
        };
        sockets.push(s);
        return s;
      },
    });
    const until = async (what: () => boolean) => {
      const end = Date.now() + 3000;
      while (!what()) {
        if (Date.now() > end) throw new Error("timed out");
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const tileMessages = (s: Sock) => s.sent.map((d) => JSON.parse(d)).filter((m) => m.type === "tile");
    const state = { type: "state", you: A, locked: false, rooms: [{ id: { kind: "main" }, name: "Main", timerRemainingMs: null }], participants: [{ id: A, role: "party", room: { kind: "main" }, muted: false, handRaised: false, sharing: false }] };

    const joined = client.join();
    await until(() => sockets.length === 1);
    // Before the handshake is done, nothing goes out (and no problem is reported).
    const problems: string[] = [];
    client.on("problem", (p) => problems.push(p));
    client.setTileSize(B, "camera", 640, 360);
    await new Promise((r) => setTimeout(r, TILE_DEBOUNCE_MS + 50));
    expect(sockets[0]!.sent).toEqual([]);
    sockets[0]!.onmessage?.({ data: JSON.stringify({ type: "challenge", nonce: "n" }) });
    await until(() => sockets[0]!.sent.length > 0);
    sockets[0]!.onmessage?.({ data: JSON.stringify(state) });
    await joined;
    expect(tileMessages(sockets[0]!)).toEqual([{ type: "tile", participant: B, source: "camera", width: 640, height: 360 }]);

    client.setTileSize(B, "camera", 320, 180);
    await until(() => tileMessages(sockets[0]!).length === 2);
    expect(tileMessages(sockets[0]!)[1]).toEqual({ type: "tile", participant: B, source: "camera", width: 320, height: 180 });

    // The connection drops; the new one hears the current size without any resize.
    sockets[0]!.readyState = 3;
    sockets[0]!.onclose?.({ code: 1006, reason: "" });
    await until(() => sockets.length === 2);
    sockets[1]!.onmessage?.({ data: JSON.stringify({ type: "challenge", nonce: "m" }) });
    await until(() => sockets[1]!.sent.length > 0);
    sockets[1]!.onmessage?.({ data: JSON.stringify(state) });
    await until(() => tileMessages(sockets[1]!).length === 1);
    expect(tileMessages(sockets[1]!)).toEqual([{ type: "tile", participant: B, source: "camera", width: 320, height: 180 }]);
    expect(problems).toEqual([]);
    client.leave();
  });
});

describe("the camera's simulcast layers", () => {
  it("are quarter, half and full size, lowest first", () => {
    expect(CAMERA_LAYERS.map((l) => [l.rid, l.scaleResolutionDownBy, l.maxBitrate])).toEqual([
      ["q", 4, 150_000],
      ["h", 2, 500_000],
      ["f", 1, 1_200_000],
    ]);
  });

  function fakeSender(encodings: RTCRtpEncodingParameters[]) {
    const set: RTCRtpSendParameters[] = [];
    const sender = {
      getParameters: () => ({ transactionId: "t", encodings: encodings.map((e) => ({ ...e })), codecs: [], headerExtensions: [], rtcp: {} }) as RTCRtpSendParameters,
      setParameters: async (p: RTCRtpSendParameters) => {
        set.push(p);
      },
    } as unknown as RTCRtpSender;
    return { sender, set };
  }

  it("send the one remaining layer at full size when the answer had no simulcast", async () => {
    const { sender, set } = fakeSender([{ ...CAMERA_LAYERS[0]!, active: true }]);
    expect(await fullSizeWithoutSimulcast(sender)).toBe(true);
    expect(set).toHaveLength(1);
    expect(set[0]!.encodings).toEqual([{ rid: "q", active: true, scaleResolutionDownBy: 1, maxBitrate: 1_200_000 }]);
  });

  it("are left alone while simulcast is negotiated, or already at full size", async () => {
    const three = fakeSender(CAMERA_LAYERS.map((l) => ({ ...l })));
    expect(await fullSizeWithoutSimulcast(three.sender)).toBe(false);
    const full = fakeSender([{ scaleResolutionDownBy: 1, maxBitrate: 1_200_000 }]);
    expect(await fullSizeWithoutSimulcast(full.sender)).toBe(false);
    expect([...three.set, ...full.set]).toEqual([]);
  });
});
