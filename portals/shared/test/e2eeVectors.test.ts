// The browser's end-to-end encryption against the fixed vectors it shares
// with the bots (src/live/e2ee/vectors.json, also read by
// crates/loadgen/tests/e2ee_vectors.rs): the same frames byte for byte, its
// own key message, and the key message the bots' Rust code made, verified
// and unwrapped here.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { decryptFrame, decryptRed, deriveFrameKey, encryptFrame, encryptRed, ReplayWindow, type Bytes, type FrameKind, type ReceiveKey } from "../src/live/e2ee/frame";
import { contextText, safetyNumber, unwrapKey, verifyIdentity, type EcdhPair, type KeyContext } from "../src/live/e2ee/keys";
import type { E2eeIdentity, RoomId } from "../src/protocol";

type Jwk = { kty: string; crv: string; x: string; y: string; d: string };
type Party = { deviceJwk: Jwk; ecdhJwk: Jwk; identity: E2eeIdentity };
type Vectors = {
  session: string;
  room: RoomId;
  from: string;
  to: string;
  generation: number;
  baseKey: string;
  sender: Party;
  recipient: Party;
  contextText: string;
  fromBrowser: { wrapped: string; signature: string };
  fromBot: { generation: number; baseKey: string; iv: string; wrapped: string; signature: string };
  safetyNumber: string;
  frames: { kind: FrameKind; ctr: number; plain: string; sealed: string }[];
  red: { firstCtr: number; plain: string; sealed: string };
};

const v = JSON.parse(readFileSync(new URL("../src/live/e2ee/vectors.json", import.meta.url), "utf8")) as Vectors;
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (h: string) => new Uint8Array(Buffer.from(h, "hex")) as Bytes;

async function ecdhPair(jwk: Jwk, publicKey: string): Promise<EcdhPair> {
  const privateKey = await crypto.subtle.importKey("jwk", jwk, { name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
  const { d: _d, ...pub } = jwk;
  const pk = await crypto.subtle.importKey("jwk", pub, { name: "ECDH", namedCurve: "P-256" }, true, []);
  return { pair: { privateKey, publicKey: pk }, publicKey };
}

describe("vectors shared with the bots", () => {
  it("frames and RED payloads are sealed and opened byte for byte", async () => {
    const key = await deriveFrameKey(bytes(v.baseKey), v.generation);
    const held: ReceiveKey = { frameKey: key, replay: new ReplayWindow() };
    for (const f of v.frames) {
      expect(hex(await encryptFrame(key, f.ctr, f.kind, bytes(f.plain)))).toBe(f.sealed);
      const opened = await decryptFrame((kid) => (kid === v.generation ? held : undefined), f.kind, bytes(f.sealed));
      expect(hex(opened.plain)).toBe(f.plain);
    }
    let ctr = v.red.firstCtr;
    expect(hex((await encryptRed(key, () => ctr++, bytes(v.red.plain)))!)).toBe(v.red.sealed);
    expect(hex(await decryptRed((kid) => (kid === v.generation ? held : undefined), bytes(v.red.sealed)))).toBe(v.red.plain);
  });

  it("the browser's key message unwraps for its recipient", async () => {
    const sender = await verifyIdentity(v.session, v.from, v.sender.identity);
    const recipient = await verifyIdentity(v.session, v.to, v.recipient.identity);
    expect(sender).not.toBeNull();
    expect(recipient).not.toBeNull();
    const own = await ecdhPair(v.recipient.ecdhJwk, v.recipient.identity.ecdhKey);
    const context: KeyContext = { session: v.session, room: v.room, from: v.from, to: v.to, generation: v.generation, senderEcdh: v.sender.identity.ecdhKey, recipientEcdh: v.recipient.identity.ecdhKey };
    expect(contextText(context)).toBe(v.contextText);
    expect(hex(await unwrapKey(own, sender!, context, v.fromBrowser.wrapped, v.fromBrowser.signature))).toBe(v.baseKey);
    expect(await safetyNumber(v.sender.identity.deviceKey, v.recipient.identity.deviceKey)).toBe(v.safetyNumber);
  });

  it("the bots' key message verifies and unwraps in the browser, and not under another generation", async () => {
    const bot = await verifyIdentity(v.session, v.to, v.recipient.identity);
    const own = await ecdhPair(v.sender.ecdhJwk, v.sender.identity.ecdhKey);
    const context: KeyContext = { session: v.session, room: v.room, from: v.to, to: v.from, generation: v.fromBot.generation, senderEcdh: v.recipient.identity.ecdhKey, recipientEcdh: v.sender.identity.ecdhKey };
    expect(hex(await unwrapKey(own, bot!, context, v.fromBot.wrapped, v.fromBot.signature))).toBe(v.fromBot.baseKey);
    await expect(unwrapKey(own, bot!, { ...context, generation: context.generation + 1 }, v.fromBot.wrapped, v.fromBot.signature)).rejects.toMatchObject({ reason: "bad-signature" });
  });
});
