import { describe, expect, it } from "vitest";
import { type Bytes, buildRed, clearPrefixLength, decryptRed, encryptRed, parseRed, decodeHeader, decryptFrame, deriveFrameKey, encodeHeader, encryptFrame, FrameError, nonce, ReplayWindow, seal, type ReceiveKey } from "../src/live/e2ee/frame";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (h: string) => new Uint8Array(Buffer.from(h, "hex")) as Bytes;
const u8 = (a: ArrayLike<number>) => new Uint8Array(a) as Bytes;

describe("SFrame header (RFC 9605 §4.3)", () => {
  it("matches the RFC's header vectors", () => {
    // From the RFC's appendix (kid, ctr, header).
    const vectors: [number, number, string][] = [
      [0, 0, "00"],
      [0, 1, "01"],
      [0, 0xff, "08ff"],
      [0, 0x100, "090100"],
      [0, 0xffff, "09ffff"],
      [0, 0x10000, "0a010000"],
      [0, 0xffffffff, "0bffffffff"],
      [0, 0x0000ffffffffffff, "0dffffffffffff"],
      [1, 0, "10"],
      [1, 1, "11"],
      [1, 0xff, "18ff"],
      [0x123, 0x4567, "9901234567"],
    ];
    for (const [kid, ctr, header] of vectors) {
      expect(hex(encodeHeader(kid, ctr)), `${kid}/${ctr}`).toBe(header);
      expect(decodeHeader(bytes(header))).toEqual({ kid, ctr, length: header.length / 2 });
    }
  });

  it("refuses headers cut short or too large to be a safe integer", () => {
    expect(decodeHeader(new Uint8Array(0))).toBeNull();
    expect(decodeHeader(bytes("0901"))).toBeNull();
    expect(decodeHeader(bytes("99012345"))).toBeNull();
    expect(decodeHeader(bytes("0fffffffffffffffff"))).toBeNull();
  });
});

describe("SFrame encryption (AES_128_GCM_SHA256_128)", () => {
  it("matches the RFC's test vector", async () => {
    const key = await deriveFrameKey(bytes("000102030405060708090a0b0c0d0e0f"), 0x123);
    expect(hex(key.salt)).toBe("75234edefe07819026751816");
    expect(hex(nonce(key.salt, 0x4567))).toBe("75234edefe07819026755d71");
    const ct = await seal(key, 0x4567, bytes("4945544620534672616d65205747"), bytes("64726166742d696574662d736672616d652d656e63"));
    expect(hex(ct)).toBe("9901234567b7412c2513a1b66dbb48841bbaf17f598751176ad847681a69c6d0b091c07018ce4adb34eb");
  });

  it("keeps in clear exactly what the SFU reads", () => {
    expect(clearPrefixLength("key", 500)).toBe(10);
    expect(clearPrefixLength("delta", 500)).toBe(3);
    expect(clearPrefixLength("audio", 500)).toBe(0);
    expect(clearPrefixLength("key", 4)).toBe(4);
  });

  async function receiver(kid = 5): Promise<{ send: Awaited<ReturnType<typeof deriveFrameKey>>; held: ReceiveKey }> {
    const base = crypto.getRandomValues(new Uint8Array(16));
    const send = await deriveFrameKey(base, kid);
    return { send, held: { frameKey: await deriveFrameKey(base, kid), replay: new ReplayWindow() } };
  }

  // A VP8 key frame: frame tag, start code 9d 01 2a, 640x360, then a body with a recognisable tag.
  const keyFrame = () => u8([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01, ...new TextEncoder().encode("ACRD-plaintext-tag-of-the-frame")]);

  it("round-trips frames, leaves the prefix readable and hides the rest", async () => {
    const { send, held } = await receiver();
    for (const [kind, frame] of [
      ["key", keyFrame()],
      ["delta", u8([0x31, 0x00, 0x00, 1, 2, 3, 4])],
      ["audio", u8([0xfc, 9, 9, 9])],
    ] as const) {
      const sealed = await encryptFrame(send, 7, kind, frame);
      const prefix = clearPrefixLength(kind, frame.length);
      expect(sealed.subarray(0, prefix)).toEqual(frame.subarray(0, prefix));
      expect(sealed.length).toBe(frame.length + encodeHeader(5, 7).length + 16);
      expect(Buffer.from(sealed).includes(Buffer.from("ACRD"))).toBe(false);
      const fresh: ReceiveKey = { frameKey: held.frameKey, replay: new ReplayWindow() };
      const { plain, kid, ctr } = await decryptFrame((k) => (k === 5 ? fresh : undefined), kind, sealed);
      expect([kid, ctr]).toEqual([5, 7]);
      expect(plain).toEqual(frame);
    }
  });

  it("drops forged, replayed, unknown-key and truncated frames", async () => {
    const { send, held } = await receiver();
    const lookup = (k: number) => (k === 5 ? held : undefined);
    const reason = (p: Promise<unknown>) =>
      p.then(
        () => "accepted",
        (e: unknown) => (e instanceof FrameError ? e.reason : String(e)),
      );
    const sealed = await encryptFrame(send, 1, "key", keyFrame());
    // The clear prefix is authenticated too: a changed frame size is refused.
    const resized = sealed.slice();
    resized[7] = resized[7]! ^ 1;
    expect(await reason(decryptFrame(lookup, "key", resized))).toBe("forged");
    const body = sealed.slice();
    body[body.length - 20] = body[body.length - 20]! ^ 0x40;
    expect(await reason(decryptFrame(lookup, "key", body))).toBe("forged");
    // Another key id, or a key this receiver was never given.
    const { send: other } = await receiver(6);
    expect(await reason(decryptFrame(lookup, "key", await encryptFrame(other, 1, "key", keyFrame())))).toBe("unknown-key");
    const { send: stranger } = await receiver(5);
    expect(await reason(decryptFrame(lookup, "key", await encryptFrame(stranger, 2, "key", keyFrame())))).toBe("forged");
    expect(await reason(decryptFrame(lookup, "key", sealed.subarray(0, 20)))).toBe("malformed");
    // Accepted once, then a replay.
    expect(await reason(decryptFrame(lookup, "key", sealed))).toBe("accepted");
    expect(await reason(decryptFrame(lookup, "key", sealed))).toBe("replayed");
  });

  it("accepts counters out of order within the window, never twice", () => {
    const w = new ReplayWindow(8);
    for (const c of [5, 3, 9, 4]) {
      expect(w.fresh(c)).toBe(true);
      w.accept(c);
    }
    expect(w.fresh(3)).toBe(false);
    expect(w.fresh(9)).toBe(false);
    expect(w.fresh(8)).toBe(true);
    expect(w.fresh(1)).toBe(false); // below the window
    w.accept(100);
    expect(w.fresh(95)).toBe(true);
    expect(w.fresh(92)).toBe(false);
  });
});

describe("RED audio (RFC 2198)", () => {
  // Two redundant blocks (20 ms and 40 ms back) and the primary, as Chromium sends them.
  const red = () =>
    buildRed([
      { pt: 111, offset: 1920, data: u8([1, 1, 1, 1]) },
      { pt: 111, offset: 960, data: u8([2, 2, 2, 2, 2]) },
      { pt: 111, offset: null, data: u8([3, 3, 3, 3, 3, 3]) },
    ])!;

  it("parses and rebuilds the blocks", () => {
    const payload = red();
    expect(hex(payload.subarray(0, 9))).toBe("ef1e0004ef0f00056f");
    const blocks = parseRed(payload)!;
    expect(blocks.map((b) => [b.offset, b.data.length])).toEqual([
      [1920, 4],
      [960, 5],
      [null, 6],
    ]);
    expect(buildRed(blocks)).toEqual(payload);
    expect(parseRed(u8([0xef, 0x1e]))).toBeNull();
    expect(parseRed(u8([0xef, 0x1e, 0x00, 0x09, 0x6f, 1, 2]))).toBeNull();
  });

  it("seals each block with its header in clear: the SFU's primary block alone decrypts, and so does the whole", async () => {
    const base = crypto.getRandomValues(new Uint8Array(16)) as Bytes;
    const send = await deriveFrameKey(base, 3);
    let ctr = 0;
    const sealed = (await encryptRed(send, () => ctr++, red()))!;
    expect(ctr).toBe(3);
    const blocks = parseRed(sealed)!;
    expect(blocks.map((b) => [b.pt, b.offset, b.data.length])).toEqual([
      [111, 1920, 4 + 1 + 16],
      [111, 960, 5 + 1 + 16],
      [111, null, 6 + 1 + 16],
    ]);
    const held = () => ({ frameKey: send, replay: new ReplayWindow() });
    // A receiver without RED gets the primary block alone (crates/sfu-core/src/red.rs).
    const alone = held();
    expect((await decryptFrame((k) => (k === 3 ? alone : undefined), "audio", blocks[2]!.data)).plain).toEqual(u8([3, 3, 3, 3, 3, 3]));
    const whole = held();
    expect(await decryptRed((k) => (k === 3 ? whole : undefined), sealed)).toEqual(red());
    // A changed primary fails the frame.
    const forged = sealed.slice();
    forged[forged.length - 1] = forged[forged.length - 1]! ^ 1;
    await expect(decryptRed((k) => (k === 3 ? held() : undefined), forged)).rejects.toThrow(FrameError);
  });
});
