import { describe, expect, it } from "vitest";
import { cleanTypedName, signingStatement } from "../src/pages/workflow/signing";

describe("the signing statement", () => {
  it("matches the API's, part for part", () => {
    const nil = "00000000-0000-0000-0000-000000000000";
    // The same vector as the API's unit test (agreements.rs).
    expect(signingStatement(nil, "ab", nil, "Ann Lee", "2026-12-06T10:00:00.000Z")).toBe(
      "accord-agreement-signature-v1\nagreement: 00000000-0000-0000-0000-000000000000\nsha256: ab\nparty: 00000000-0000-0000-0000-000000000000\nname: Ann Lee\nsigned-at: 2026-12-06T10:00:00.000Z",
    );
  });

  it("takes a typed name of one line only", () => {
    expect(cleanTypedName("  Ann Lee ")).toBe("Ann Lee");
    expect(cleanTypedName("Ann\nLee")).toBeNull();
    expect(cleanTypedName("   ")).toBeNull();
    expect(cleanTypedName("x".repeat(201))).toBeNull();
  });
});
