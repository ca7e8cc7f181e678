import { describe, expect, it } from "vitest";
import { base64url, fromBase64url } from "../src/base64url";

describe("base64url", () => {
  it("matches RFC 4648 test vectors without padding", () => {
    const enc = (s: string) => base64url(new TextEncoder().encode(s));
    expect(enc("")).toBe("");
    expect(enc("f")).toBe("Zg");
    expect(enc("fo")).toBe("Zm8");
    expect(enc("foo")).toBe("Zm9v");
    expect(enc("foob")).toBe("Zm9vYg");
    expect(enc("fooba")).toBe("Zm9vYmE");
    expect(enc("foobar")).toBe("Zm9vYmFy");
  });

  it("uses the URL-safe alphabet", () => {
    expect(base64url(new Uint8Array([0xfb, 0xff, 0xbf]))).toBe("-_-_");
  });

  it("round-trips every length and byte", () => {
    for (let n = 0; n < 70; n++) {
      const bytes = new Uint8Array(n);
      for (let i = 0; i < n; i++) bytes[i] = (i * 37 + n * 11) & 0xff;
      const text = base64url(bytes);
      expect(text).toBe(Buffer.from(bytes).toString("base64url"));
      expect(fromBase64url(text)).toEqual(bytes);
    }
    expect(fromBase64url("Zm9vYg==")).toEqual(new TextEncoder().encode("foob"));
  });

  it("refuses what is not base64url", () => {
    expect(() => fromBase64url("ab+c")).toThrow(/unexpected character/);
    expect(() => fromBase64url("abcde")).toThrow(/impossible length/);
  });
});
