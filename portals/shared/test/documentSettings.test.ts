import { describe, expect, it } from "vitest";
import { limitToMiB, parseLimitMiB, parseRetentionDays } from "../src/documents/settings";

describe("document settings", () => {
  it("shows the limit in MiB and reads it back as whole bytes", () => {
    expect(limitToMiB(100 * 1024 * 1024)).toBe("100");
    expect(limitToMiB(1536 * 1024)).toBe("1.5");
    expect(parseLimitMiB("100")).toBe(100 * 1024 * 1024);
    expect(parseLimitMiB(" 1.5 ")).toBe(1536 * 1024);
    expect(parseLimitMiB(limitToMiB(250 * 1024 * 1024))).toBe(250 * 1024 * 1024);
    expect(parseLimitMiB("16384")).toBe(16 * 1024 * 1024 * 1024);
  });

  it("refuses limits the API would refuse", () => {
    for (const bad of ["", "0", "0.00", "-1", "1e3", "16385", "1.234", "ten"]) expect(parseLimitMiB(bad)).toBeNull();
  });

  it("reads retention as whole days from 1 to 36500", () => {
    expect(parseRetentionDays("30")).toBe(30);
    expect(parseRetentionDays("36500")).toBe(36500);
    for (const bad of ["", "0", "36501", "1.5", "-3", "a week"]) expect(parseRetentionDays(bad)).toBeNull();
  });
});
