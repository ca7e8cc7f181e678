// The device key: a non-extractable ECDSA P-256 key pair made with WebCrypto,
// kept in IndexedDB (CryptoKey objects survive structured cloning) and reused
// across visits. Join tokens are bound to its public key's thumbprint; the
// private key never leaves the browser, not even to this script.

import { base64url } from "./base64url";

/** The public half, as the API and the SFU take it. */
export type PublicJwk = { kty: "EC"; crv: "P-256"; x: string; y: string };

/** Where the key pair is kept between visits. */
export interface KeyStore {
  get(): Promise<CryptoKeyPair | undefined>;
  put(pair: CryptoKeyPair): Promise<void>;
}

const DB_NAME = "accord";
const STORE = "device";
const KEY = "device-key";

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error("IndexedDB request failed"));
  });
}

/** The browser's IndexedDB (database `accord`, store `device`). */
export class IndexedDbKeyStore implements KeyStore {
  private db: Promise<IDBDatabase> | undefined;

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise((resolve, reject) => {
      const r = indexedDB.open(DB_NAME, 1);
      r.onupgradeneeded = () => {
        if (!r.result.objectStoreNames.contains(STORE)) r.result.createObjectStore(STORE);
      };
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error ?? new Error("could not open IndexedDB"));
      r.onblocked = () => reject(new Error("IndexedDB is blocked by another tab"));
    });
    return this.db;
  }

  async get(): Promise<CryptoKeyPair | undefined> {
    const db = await this.open();
    const value: unknown = await request(db.transaction(STORE, "readonly").objectStore(STORE).get(KEY));
    return isKeyPair(value) ? value : undefined;
  }

  async put(pair: CryptoKeyPair): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(STORE, "readwrite");
    tx.objectStore(STORE).put(pair, KEY);
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error("IndexedDB write failed"));
      tx.onabort = () => reject(tx.error ?? new Error("IndexedDB write aborted"));
    });
  }
}

/** Keeps the pair for this page's lifetime only (tests, or no IndexedDB). */
export class MemoryKeyStore implements KeyStore {
  private pair: CryptoKeyPair | undefined;
  async get() {
    return this.pair;
  }
  async put(pair: CryptoKeyPair) {
    this.pair = pair;
  }
}

function isKeyPair(v: unknown): v is CryptoKeyPair {
  return (
    typeof v === "object" &&
    v !== null &&
    "privateKey" in v &&
    "publicKey" in v &&
    typeof CryptoKey !== "undefined" &&
    v.privateKey instanceof CryptoKey &&
    v.publicKey instanceof CryptoKey
  );
}

const ALGORITHM: EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };

/** This browser's device key. */
export class DeviceKey {
  private constructor(
    private readonly pair: CryptoKeyPair,
    /** The public key, `{kty, crv, x, y}`. */
    readonly publicJwk: PublicJwk,
  ) {}

  /** The stored key, or a new one (stored) when there is none or it is unusable. */
  static async load(store: KeyStore = new IndexedDbKeyStore(), subtle: SubtleCrypto = crypto.subtle): Promise<DeviceKey> {
    let pair: CryptoKeyPair | undefined;
    try {
      pair = await store.get();
    } catch {
      pair = undefined;
    }
    if (pair && pair.privateKey.extractable) pair = undefined; // never trust an exportable key
    if (!pair) {
      pair = (await subtle.generateKey(ALGORITHM, false, ["sign", "verify"])) as CryptoKeyPair;
      try {
        await store.put(pair);
      } catch {
        // Private browsing without IndexedDB: the key lives for this page only.
      }
    }
    const jwk = await subtle.exportKey("jwk", pair.publicKey);
    return new DeviceKey(pair, publicJwk(jwk));
  }

  /** ECDSA P-256/SHA-256 over the nonce string's UTF-8 bytes, base64url raw r‖s. */
  async sign(nonce: string, subtle: SubtleCrypto = crypto.subtle): Promise<string> {
    const signature = await subtle.sign({ name: "ECDSA", hash: "SHA-256" }, this.pair.privateKey, new TextEncoder().encode(nonce));
    return base64url(signature);
  }
}

/** Keeps exactly the members a public P-256 JWK needs (no `key_ops`, `ext`, …). */
export function publicJwk(jwk: JsonWebKey): PublicJwk {
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || typeof jwk.x !== "string" || typeof jwk.y !== "string") {
    throw new Error("the device key is not a P-256 public key");
  }
  return { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y };
}
