// SFrame (RFC 9605) for encoded media frames, as docs/SECURITY.md
// ("End-to-end encrypted media") describes it: a clear prefix the SFU reads,
// the SFrame header (key id and counter), then AES-128-GCM of the rest with
// the header and the prefix (RFC 9605's "metadata") as additional data.
// Cipher suite AES_128_GCM_SHA256_128 (0x0004). Pure functions over
// WebCrypto: the worker (worker.ts) and the unit tests use them alike.

/** Bytes on an ordinary ArrayBuffer (what WebCrypto takes). */
export type Bytes = Uint8Array<ArrayBuffer>;

/** RFC 9605 cipher suite AES_128_GCM_SHA256_128. */
export const CIPHER_SUITE = 0x0004;
/** AES-128 key length (Nk), bytes. */
const NK = 16;
/** Nonce length (Nn), bytes. */
const NN = 12;
/** Authentication tag length (Nt), bytes. */
export const TAG_BYTES = 16;
/** Length of a sender's base key, bytes. */
export const BASE_KEY_BYTES = 16;

/** What kind of frame: video key or delta frame (VP8), or audio (Opus). */
export type FrameKind = "key" | "delta" | "audio";

/**
 * How many leading bytes stay in clear: what the SFU reads (crates/sfu-core/src/vp8.rs):
 * a VP8 key frame's 3-byte frame tag and its 7-byte start code and size, a
 * delta frame's frame tag; nothing of Opus (the audio level is a header extension).
 */
export function clearPrefixLength(kind: FrameKind, length: number): number {
  const wanted = kind === "key" ? 10 : kind === "delta" ? 3 : 0;
  return Math.min(wanted, length);
}

/** Big-endian bytes of a non-negative safe integer, at least `min` long. */
function bigEndian(value: number, min: number): Bytes {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError("SFrame values are non-negative safe integers");
  const bytes: number[] = [];
  let v = value;
  while (v > 0 || bytes.length < min) {
    bytes.unshift(v % 256);
    v = Math.floor(v / 256);
  }
  return Uint8Array.from(bytes);
}

function readBigEndian(bytes: Bytes, start: number, length: number): number {
  let v = 0;
  for (let i = 0; i < length; i++) v = v * 256 + bytes[start + i]!;
  return v;
}

/**
 * The SFrame header (RFC 9605 §4.3): a config byte `X K K K Y C C C`, then the
 * key id and the counter. A value under 8 sits in the config byte itself
 * (X or Y clear); a larger one follows in its fewest big-endian bytes, the
 * config byte holding that length minus one.
 */
export function encodeHeader(kid: number, ctr: number): Bytes {
  const kidBytes = kid < 8 ? new Uint8Array(0) : bigEndian(kid, 1);
  const ctrBytes = ctr < 8 ? new Uint8Array(0) : bigEndian(ctr, 1);
  if (kidBytes.length > 8 || ctrBytes.length > 8) throw new RangeError("SFrame values fit in 8 bytes");
  // Both are safe integers, so 7 bytes at most: the length fits three bits.
  const config = (kid < 8 ? kid : 0x08 | (kidBytes.length - 1)) << 4 | (ctr < 8 ? ctr : 0x08 | (ctrBytes.length - 1));
  const out = new Uint8Array(1 + kidBytes.length + ctrBytes.length);
  out[0] = config;
  out.set(kidBytes, 1);
  out.set(ctrBytes, 1 + kidBytes.length);
  return out;
}

/** A parsed header: the key id, the counter, and how many bytes it took. */
export type Header = { kid: number; ctr: number; length: number };

/** Reads the header at `offset`; null when the frame ends inside it or a value is not a safe integer. */
export function decodeHeader(frame: Bytes, offset = 0): Header | null {
  const config = frame[offset];
  if (config === undefined) return null;
  let at = offset + 1;
  const field = (nibble: number): number | null => {
    if ((nibble & 0x08) === 0) return nibble & 0x07;
    const len = (nibble & 0x07) + 1;
    if (len > 7 || at + len > frame.length) return null;
    const v = readBigEndian(frame, at, len);
    at += len;
    return Number.isSafeInteger(v) ? v : null;
  };
  const kid = field(config >> 4);
  if (kid === null) return null;
  const ctr = field(config & 0x0f);
  if (ctr === null) return null;
  return { kid, ctr, length: at - offset };
}

/** A sender key ready for frames: the AES key, the salt and the key id they belong to. */
export type FrameKey = { kid: number; key: CryptoKey; salt: Bytes };

const utf8 = new TextEncoder();

function label(prefix: string, kid: number): Bytes {
  const text = utf8.encode(prefix);
  const out = new Uint8Array(text.length + 8 + 2);
  out.set(text, 0);
  out.set(bigEndian(kid, 8), text.length);
  out[text.length + 8] = CIPHER_SUITE >> 8;
  out[text.length + 9] = CIPHER_SUITE & 0xff;
  return out;
}

/**
 * RFC 9605 §4.4.2: `sframe_secret = HKDF-Extract("", base_key)`, then the
 * key and salt by HKDF-Expand with "SFrame 1.0 Secret key " / "… salt "
 * followed by the key id (8 bytes) and the cipher suite (2 bytes).
 */
export async function deriveFrameKey(baseKey: Bytes, kid: number, subtle: SubtleCrypto = crypto.subtle): Promise<FrameKey> {
  if (baseKey.length !== BASE_KEY_BYTES) throw new RangeError(`a base key is ${BASE_KEY_BYTES} bytes`);
  const ikm = await subtle.importKey("raw", baseKey, "HKDF", false, ["deriveBits"]);
  const expand = (info: Bytes, bytes: number) => subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info }, ikm, bytes * 8);
  const [keyBits, saltBits] = await Promise.all([expand(label("SFrame 1.0 Secret key ", kid), NK), expand(label("SFrame 1.0 Secret salt ", kid), NN)]);
  const key = await subtle.importKey("raw", keyBits, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
  return { kid, key, salt: new Uint8Array(saltBits) };
}

/** The nonce for counter `ctr`: the salt XOR the counter, big-endian over 12 bytes. */
export function nonce(salt: Bytes, ctr: number): Bytes {
  const c = bigEndian(ctr, NN);
  const out = new Uint8Array(NN);
  for (let i = 0; i < NN; i++) out[i] = salt[i]! ^ c[c.length - NN + i]!;
  return out;
}

function concat(...parts: Uint8Array[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** RFC 9605 §4.4.3 encryption: the header, then the ciphertext and tag; the AAD is the header followed by `metadata`. */
export async function seal(key: FrameKey, ctr: number, metadata: Bytes, plaintext: Bytes, subtle: SubtleCrypto = crypto.subtle): Promise<Bytes> {
  const header = encodeHeader(key.kid, ctr);
  const sealed = await subtle.encrypt({ name: "AES-GCM", iv: nonce(key.salt, ctr), additionalData: concat(header, metadata), tagLength: TAG_BYTES * 8 }, key.key, plaintext);
  return concat(header, new Uint8Array(sealed));
}

/** Encrypts one frame with counter `ctr` (never used twice with a key): the clear prefix, then {@link seal} with the prefix as metadata. */
export async function encryptFrame(key: FrameKey, ctr: number, kind: FrameKind, frame: Bytes, subtle: SubtleCrypto = crypto.subtle): Promise<Bytes> {
  const prefix = frame.subarray(0, clearPrefixLength(kind, frame.length));
  return concat(prefix, await seal(key, ctr, prefix, frame.subarray(prefix.length), subtle));
}

/** Why a frame was not decrypted. */
export type FrameRefusal = "malformed" | "unknown-key" | "replayed" | "forged";

export class FrameError extends Error {
  constructor(readonly reason: FrameRefusal) {
    super(`the frame was dropped: ${reason}`);
    this.name = "FrameError";
  }
}

/**
 * Counters already accepted under one key: the highest, and which of the
 * `size` below it were seen. A counter at or below the window's floor, or
 * seen before, is a replay.
 */
export class ReplayWindow {
  private highest = -1;
  private readonly seen = new Set<number>();

  constructor(private readonly size = 1024) {}

  /** Whether `ctr` is new (without recording it). */
  fresh(ctr: number): boolean {
    if (ctr > this.highest) return true;
    return ctr > this.highest - this.size && !this.seen.has(ctr);
  }

  /** Records `ctr` as accepted. */
  accept(ctr: number): void {
    this.seen.add(ctr);
    if (ctr > this.highest) {
      this.highest = ctr;
      if (this.seen.size > this.size * 2) {
        for (const c of this.seen) if (c <= this.highest - this.size) this.seen.delete(c);
      }
    }
  }
}

/** A key a receiver holds for one sender: the frame key and the counters it accepted. */
export type ReceiveKey = { frameKey: FrameKey; replay: ReplayWindow };

/**
 * Decrypts one frame; throws a {@link FrameError} when it must be dropped
 * (too short, unknown key id, counter already used, or the tag does not
 * verify: a changed prefix, header or body).
 */
export async function decryptFrame(keyFor: (kid: number) => ReceiveKey | undefined, kind: FrameKind, frame: Bytes, subtle: SubtleCrypto = crypto.subtle): Promise<{ kid: number; ctr: number; plain: Bytes }> {
  const prefixLength = clearPrefixLength(kind, frame.length);
  const header = decodeHeader(frame, prefixLength);
  if (!header || frame.length < prefixLength + header.length + TAG_BYTES) throw new FrameError("malformed");
  const held = keyFor(header.kid);
  if (!held) throw new FrameError("unknown-key");
  if (!held.replay.fresh(header.ctr)) throw new FrameError("replayed");
  const bodyStart = prefixLength + header.length;
  const aad = concat(frame.subarray(prefixLength, bodyStart), frame.subarray(0, prefixLength));
  let body: ArrayBuffer;
  try {
    body = await subtle.decrypt({ name: "AES-GCM", iv: nonce(held.frameKey.salt, header.ctr), additionalData: aad, tagLength: TAG_BYTES * 8 }, held.frameKey.key, frame.subarray(bodyStart));
  } catch {
    throw new FrameError("forged");
  }
  // Checked again: another frame with this counter may have passed meanwhile.
  if (!held.replay.fresh(header.ctr)) throw new FrameError("replayed");
  held.replay.accept(header.ctr);
  return { kid: header.kid, ctr: header.ctr, plain: concat(frame.subarray(0, prefixLength), new Uint8Array(body)) };
}

// ---- RED (RFC 2198) audio --------------------------------------------------
//
// Chromium hands the transform an audio frame already made redundant (RED:
// copies of earlier Opus frames before the current one). The SFU reads the
// RED headers to give receivers without RED the primary block alone
// (crates/sfu-core/src/red.rs), so the headers stay in clear and each block is
// sealed on its own, its header's length grown by the SFrame header and tag.

/** One RED block: payload type, timestamp offset (redundant blocks) and data. */
export type RedBlock = { pt: number; offset: number | null; data: Bytes };

/** The blocks of a RED payload, primary last; null when it is not well-formed. */
export function parseRed(payload: Bytes): RedBlock[] | null {
  const headers: { pt: number; offset: number | null; length: number }[] = [];
  let at = 0;
  for (;;) {
    const first = payload[at];
    if (first === undefined) return null;
    if ((first & 0x80) === 0) {
      headers.push({ pt: first & 0x7f, offset: null, length: -1 });
      at += 1;
      break;
    }
    if (at + 4 > payload.length) return null;
    const b1 = payload[at + 1]!;
    const b2 = payload[at + 2]!;
    const b3 = payload[at + 3]!;
    headers.push({ pt: first & 0x7f, offset: (b1 << 6) | (b2 >> 2), length: ((b2 & 0x03) << 8) | b3 });
    at += 4;
  }
  const blocks: RedBlock[] = [];
  for (const h of headers) {
    const length = h.length < 0 ? payload.length - at : h.length;
    if (length < 0 || at + length > payload.length || (h.length < 0 && length === 0)) return null;
    blocks.push({ pt: h.pt, offset: h.offset, data: payload.subarray(at, at + length) });
    at += length;
  }
  return blocks;
}

/** A RED payload of `blocks` (primary last); null when a redundant block is too long for its 10-bit length. */
export function buildRed(blocks: RedBlock[]): Bytes | null {
  const parts: Uint8Array[] = [];
  for (const b of blocks.slice(0, -1)) {
    if (b.data.length > 1023 || b.offset === null) return null;
    parts.push(Uint8Array.from([0x80 | b.pt, (b.offset >> 6) & 0xff, ((b.offset & 0x3f) << 2) | (b.data.length >> 8), b.data.length & 0xff]));
  }
  parts.push(Uint8Array.from([blocks[blocks.length - 1]!.pt & 0x7f]));
  for (const b of blocks) parts.push(b.data);
  return concat(...parts);
}

/**
 * Seals each block of a RED payload (each under its own counter, from
 * `nextCtr`), keeping the headers in clear. A redundant block that would no
 * longer fit its length field is left out (the primary always stays).
 */
export async function encryptRed(key: FrameKey, nextCtr: () => number, payload: Bytes, subtle: SubtleCrypto = crypto.subtle): Promise<Bytes | null> {
  const blocks = parseRed(payload);
  if (!blocks) return null;
  const sealed = await Promise.all(blocks.map(async (b) => ({ ...b, data: await seal(key, nextCtr(), new Uint8Array(0), b.data, subtle) })));
  const kept = [...sealed.slice(0, -1).filter((b) => b.data.length <= 1023), sealed[sealed.length - 1]!];
  return buildRed(kept);
}

/** Opens each block of a sealed RED payload; a redundant block that fails is left out, a primary that fails fails the frame. */
export async function decryptRed(keyFor: (kid: number) => ReceiveKey | undefined, payload: Bytes, subtle: SubtleCrypto = crypto.subtle): Promise<Bytes> {
  const blocks = parseRed(payload);
  if (!blocks) throw new FrameError("malformed");
  const primary = blocks[blocks.length - 1]!;
  const opened: RedBlock[] = [];
  for (const b of blocks.slice(0, -1)) {
    try {
      opened.push({ ...b, data: (await decryptFrame(keyFor, "audio", b.data, subtle)).plain });
    } catch {
      // A copy of an earlier frame: the primary matters; the copy is dropped.
    }
  }
  opened.push({ ...primary, data: (await decryptFrame(keyFor, "audio", primary.data, subtle)).plain });
  const out = buildRed(opened);
  if (!out) throw new FrameError("malformed");
  return out;
}
