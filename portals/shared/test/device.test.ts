import { createPublicKey, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { fromBase64url } from "../src/base64url";
import { DeviceKey, MemoryKeyStore, publicJwk, type KeyStore } from "../src/device";

describe("DeviceKey", () => {
  it("makes a non-extractable P-256 key once and reuses it", async () => {
    const store = new MemoryKeyStore();
    const first = await DeviceKey.load(store);
    const again = await DeviceKey.load(store);
    expect(again.publicJwk).toEqual(first.publicJwk);
    expect(Object.keys(first.publicJwk).sort()).toEqual(["crv", "kty", "x", "y"]);
    expect(first.publicJwk).toMatchObject({ kty: "EC", crv: "P-256" });
    const stored = await store.get();
    expect(stored?.privateKey.extractable).toBe(false);
    await expect(crypto.subtle.exportKey("jwk", stored!.privateKey)).rejects.toThrow();
  });

  it("signs the nonce's bytes: raw r||s, base64url, verifiable with the public JWK", async () => {
    const key = await DeviceKey.load(new MemoryKeyStore());
    const nonce = "q1w2e3r4t5y6u7i8o9p0-_AbCdEfGhIjKlMnOpQrStU";
    const signature = await key.sign(nonce);
    expect(signature).toMatch(/^[A-Za-z0-9_-]+$/);
    const raw = fromBase64url(signature);
    expect(raw.length).toBe(64);
    const pub = createPublicKey({ key: key.publicJwk, format: "jwk" });
    const ok = verify("sha256", Buffer.from(nonce), { key: pub, dsaEncoding: "ieee-p1363" }, raw);
    expect(ok).toBe(true);
    const bad = verify("sha256", Buffer.from(nonce + "x"), { key: pub, dsaEncoding: "ieee-p1363" }, raw);
    expect(bad).toBe(false);
  });

  it("replaces an exportable stored key and survives a broken store", async () => {
    const exportable = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const store = new MemoryKeyStore();
    await store.put(exportable);
    const key = await DeviceKey.load(store);
    const oldJwk = publicJwk(await crypto.subtle.exportKey("jwk", exportable.publicKey));
    expect(key.publicJwk).not.toEqual(oldJwk);
    const broken: KeyStore = {
      get: () => Promise.reject(new Error("no IndexedDB")),
      put: () => Promise.reject(new Error("no IndexedDB")),
    };
    const ephemeral = await DeviceKey.load(broken);
    expect(ephemeral.publicJwk.kty).toBe("EC");
  });

  it("keeps only the public members of a JWK", () => {
    expect(publicJwk({ kty: "EC", crv: "P-256", x: "a", y: "b", ext: true, key_ops: ["verify"] })).toEqual({ kty: "EC", crv: "P-256", x: "a", y: "b" });
    expect(() => publicJwk({ kty: "EC", crv: "P-384", x: "a", y: "b" })).toThrow();
  });
});
