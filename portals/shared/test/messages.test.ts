import { describe, expect, it, vi } from "vitest";
import { Emitter, encode, parseFrame } from "../src/messages";

const ID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

describe("parseFrame", () => {
  it("reads the challenge", () => {
    expect(parseFrame('{"type":"challenge","nonce":"abc"}')).toEqual({ kind: "challenge", message: { type: "challenge", nonce: "abc" } });
    expect(parseFrame('{"type":"challenge"}').kind).toBe("invalid");
  });

  it("reads server messages by type", () => {
    const state = { type: "state", you: ID, locked: false, rooms: [{ id: { kind: "main" }, name: "Main room", timerRemainingMs: null }], participants: [] };
    expect(parseFrame(JSON.stringify(state))).toEqual({ kind: "message", message: state });
    const tracks = { type: "tracks", tracks: [{ mid: "3", participant: ID, source: "camera" }] };
    expect(parseFrame(JSON.stringify(tracks))).toEqual({ kind: "message", message: tracks });
    expect(parseFrame('{"type":"removed"}')).toEqual({ kind: "message", message: { type: "removed" } });
    expect(parseFrame('{"type":"offer","sdp":"v=0\\r\\n"}').kind).toBe("message");
    const ack = { type: "e2eeKeyAck", from: ID, generation: 3 };
    expect(parseFrame(JSON.stringify(ack))).toEqual({ kind: "message", message: ack });
    expect(parseFrame(`{"type":"e2eeKeyAck","from":"${ID}"}`).kind).toBe("invalid");
  });

  it("tells unknown types (a newer server) from broken frames", () => {
    expect(parseFrame('{"type":"somethingNew","x":1}')).toEqual({ kind: "unknown", type: "somethingNew" });
    for (const bad of ["", "nope", "[]", "null", "42", '{"no":"type"}', '{"type":7}']) {
      expect(parseFrame(bad).kind, bad).toBe("invalid");
    }
    expect(parseFrame('{"type":"state","you":1}').kind).toBe("invalid");
    expect(parseFrame('{"type":"answer"}').kind).toBe("invalid");
    expect(parseFrame('{"type":"tracks","tracks":[{"mid":"1"}]}').kind).toBe("invalid");
    expect(parseFrame('{"type":"chat","from":"x"}').kind).toBe("invalid");
  });
});

describe("encode", () => {
  it("writes client messages as the server parses them", () => {
    expect(encode({ type: "move", participant: ID, room: { kind: "caucus", id: ID } })).toBe(
      `{"type":"move","participant":"${ID}","room":{"kind":"caucus","id":"${ID}"}}`,
    );
    expect(encode({ type: "recallAll" })).toBe('{"type":"recallAll"}');
    expect(encode({ type: "deny", participant: ID, message: null })).toBe(`{"type":"deny","participant":"${ID}","message":null}`);
  });
});

describe("Emitter", () => {
  it("delivers to listeners until they stop, and survives a failing one", async () => {
    const e = new Emitter<{ a: number; b: string }>();
    const seen: number[] = [];
    const spy = vi.spyOn(console, "error").mockImplementation(() => {});
    e.on("a", () => {
      throw new Error("bug");
    });
    const off = e.on("a", (n) => seen.push(n));
    e.emit("a", 1);
    off();
    e.emit("a", 2);
    expect(seen).toEqual([1]);
    expect(spy).toHaveBeenCalledTimes(2);
    spy.mockRestore();
    const next = e.next("b", (s) => s.startsWith("y"));
    e.emit("b", "x");
    e.emit("b", "yes");
    await expect(next).resolves.toBe("yes");
    let once = 0;
    e.once("b", () => once++);
    e.emit("b", "1");
    e.emit("b", "2");
    expect(once).toBe(1);
  });
});
