// The end-to-end encryption key messages (docs/signaling.md, "End-to-end
// encryption"): a connection's ECDH identity signed by the device key, sender
// keys wrapped to each recipient's ECDH key and signed by the sender's device
// key, and the safety number two people read aloud. Pure functions over
// WebCrypto; the checks a recipient makes are all here, so that the tests
// can forge and replay against them.

import { base64url, fromBase64url } from "../../base64url";
import type { PublicJwk } from "../../device";
import type { E2eeIdentity, RoomId } from "../../protocol";
import { BASE_KEY_BYTES, type Bytes } from "./frame";

/** base64url decoded onto an ordinary ArrayBuffer. */
const decode = (text: string) => fromBase64url(text) as Bytes;

const utf8 = new TextEncoder();
const ECDSA: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };

/** Signs text with the device key (DeviceKey.sign: ECDSA P-256/SHA-256, base64url r‖s). */
export type Signer = { sign(text: string): Promise<string>; publicJwk: PublicJwk };

/** A P-256 public JWK as the 65-byte uncompressed point, base64url. */
export function rawFromJwk(jwk: PublicJwk): string {
  const x = decode(jwk.x);
  const y = decode(jwk.y);
  if (x.length !== 32 || y.length !== 32) throw new Error("not a P-256 public key");
  const raw = new Uint8Array(65);
  raw[0] = 4;
  raw.set(x, 1);
  raw.set(y, 33);
  return base64url(raw);
}

/** `main` or `caucus:<id>` (the lobby has no keys). */
export function roomLabel(room: RoomId): string {
  return room.kind === "caucus" ? `caucus:${room.id}` : room.kind;
}

/** What the device key signs to vouch for a connection's ECDH key. */
export function identityText(session: string, participant: string, ecdhKey: string): string {
  return `accord-e2ee-identity/1\n${session}\n${participant}\n${ecdhKey}`;
}

/** Everything a wrapped key is bound to. */
export type KeyContext = {
  session: string;
  room: RoomId;
  from: string;
  to: string;
  generation: number;
  senderEcdh: string;
  recipientEcdh: string;
};

/** The context string: the wrapping's HKDF info and AAD, and (with the wrapped key) what the sender signs. */
export function contextText(c: KeyContext): string {
  return ["accord-e2ee-key/1", c.session, roomLabel(c.room), c.from, c.to, String(c.generation), c.senderEcdh, c.recipientEcdh].join("\n");
}

/** This connection's ECDH key pair (the private half cannot be exported) and its public half, raw base64url. */
export type EcdhPair = { pair: CryptoKeyPair; publicKey: string };

export async function makeEcdhPair(subtle: SubtleCrypto = crypto.subtle): Promise<EcdhPair> {
  const pair = (await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"])) as CryptoKeyPair;
  return { pair, publicKey: base64url(await subtle.exportKey("raw", pair.publicKey)) };
}

/** This connection's identity, signed by the device key. */
export async function makeIdentity(device: Signer, session: string, participant: string, ecdh: EcdhPair): Promise<E2eeIdentity> {
  return {
    deviceKey: rawFromJwk(device.publicJwk),
    ecdhKey: ecdh.publicKey,
    signature: await device.sign(identityText(session, participant, ecdh.publicKey)),
  };
}

/** A participant's identity whose signature verified: their keys, imported. */
export type VerifiedIdentity = { identity: E2eeIdentity; deviceKey: CryptoKey; ecdhKey: CryptoKey };

async function importRaw(raw: string, algorithm: EcKeyImportParams, usages: KeyUsage[], subtle: SubtleCrypto): Promise<CryptoKey> {
  const bytes = decode(raw);
  if (bytes.length !== 65 || bytes[0] !== 4) throw new Error("not an uncompressed P-256 point");
  return subtle.importKey("raw", bytes, algorithm, false, usages);
}

/** Checks `participant`'s identity; null when a key is not a P-256 point or the signature does not verify. */
export async function verifyIdentity(session: string, participant: string, identity: E2eeIdentity, subtle: SubtleCrypto = crypto.subtle): Promise<VerifiedIdentity | null> {
  try {
    const deviceKey = await importRaw(identity.deviceKey, { name: "ECDSA", namedCurve: "P-256" }, ["verify"], subtle);
    const ecdhKey = await importRaw(identity.ecdhKey, { name: "ECDH", namedCurve: "P-256" }, [], subtle);
    const signature = decode(identity.signature);
    const ok = signature.length === 64 && (await subtle.verify(ECDSA, deviceKey, signature, utf8.encode(identityText(session, participant, identity.ecdhKey))));
    return ok ? { identity, deviceKey, ecdhKey } : null;
  } catch {
    return null;
  }
}

async function wrappingKey(own: CryptoKeyPair, theirs: CryptoKey, context: string, subtle: SubtleCrypto): Promise<CryptoKey> {
  const shared = await subtle.deriveBits({ name: "ECDH", public: theirs }, own.privateKey, 256);
  const ikm = await subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  return subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: utf8.encode(context) }, ikm, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

/** A base key wrapped for one recipient and signed: an `e2eeKeys` entry. */
export async function wrapKey(device: Signer, own: EcdhPair, recipient: VerifiedIdentity, context: KeyContext, baseKey: Bytes, subtle: SubtleCrypto = crypto.subtle): Promise<{ to: string; wrapped: string; signature: string }> {
  const text = contextText(context);
  const key = await wrappingKey(own.pair, recipient.ecdhKey, text, subtle);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv, additionalData: utf8.encode(text) }, key, baseKey));
  const blob = new Uint8Array(12 + sealed.length);
  blob.set(iv, 0);
  blob.set(sealed, 12);
  const wrapped = base64url(blob);
  return { to: context.to, wrapped, signature: await device.sign(`${text}\n${wrapped}`) };
}

/** Why a key message was refused. */
export type KeyRefusal = "not-for-this-room" | "unknown-sender" | "replayed" | "bad-signature" | "undecryptable";

export class KeyError extends Error {
  constructor(readonly reason: KeyRefusal) {
    super(`a key message was refused: ${reason}`);
    this.name = "KeyError";
  }
}

/**
 * Checks a received key (signature by the sender's device key over the
 * whole context and the wrapped bytes) and unwraps it. The caller checks
 * room and generation (it knows them); this checks the cryptography.
 */
export async function unwrapKey(own: EcdhPair, sender: VerifiedIdentity, context: KeyContext, wrapped: string, signature: string, subtle: SubtleCrypto = crypto.subtle): Promise<Bytes> {
  const text = contextText(context);
  let sig: Bytes;
  let blob: Bytes;
  try {
    sig = decode(signature);
    blob = decode(wrapped);
  } catch {
    throw new KeyError("bad-signature");
  }
  const ok = sig.length === 64 && (await subtle.verify(ECDSA, sender.deviceKey, sig, utf8.encode(`${text}\n${wrapped}`)));
  if (!ok) throw new KeyError("bad-signature");
  if (blob.length !== 12 + BASE_KEY_BYTES + 16) throw new KeyError("undecryptable");
  try {
    const key = await wrappingKey(own.pair, sender.ecdhKey, text, subtle);
    const plain = await subtle.decrypt({ name: "AES-GCM", iv: blob.subarray(0, 12), additionalData: utf8.encode(text) }, key, blob.subarray(12));
    return new Uint8Array(plain);
  } catch {
    throw new KeyError("undecryptable");
  }
}

/**
 * The safety number of two devices: 20 digits in four groups of five, the
 * same on both sides (the keys are sorted first). SHA-256 over a label and
 * both raw public keys; each group is five bytes of it modulo 100000, as
 * Signal's numeric fingerprints.
 */
export async function safetyNumber(deviceKeyA: string, deviceKeyB: string, subtle: SubtleCrypto = crypto.subtle): Promise<string> {
  const [first, second] = [deviceKeyA, deviceKeyB].sort();
  const digest = new Uint8Array(await subtle.digest("SHA-256", utf8.encode(`accord-safety-number/1\n${first}\n${second}`)));
  const groups: string[] = [];
  for (let g = 0; g < 4; g++) {
    let v = 0;
    for (let i = 0; i < 5; i++) v = v * 256 + digest[g * 5 + i]!;
    groups.push(String(v % 100000).padStart(5, "0"));
  }
  return groups.join(" ");
}
