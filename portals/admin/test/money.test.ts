import { describe, expect, it } from "vitest";
import { basisPointsToPercent, formatMinor, parseMajor, percentToBasisPoints } from "../src/pages/workflow/money";

describe("money on screen", () => {
  it("formats minor units with the currency's digits", () => {
    expect(formatMinor(12050, "EUR")).toBe("120.50");
    expect(formatMinor(-5, "EUR")).toBe("-0.05");
    expect(formatMinor(1200, "JPY")).toBe("1200");
    expect(formatMinor(1, "KWD")).toBe("0.001");
  });
  it("parses typed amounts exactly, never through floating point", () => {
    expect(parseMajor("120.5", "EUR")).toBe(12050);
    expect(parseMajor("0,07", "EUR")).toBe(7);
    expect(parseMajor("19.99", "EUR")).toBe(1999);
    expect(parseMajor("1.234", "EUR")).toBeNull();
    expect(parseMajor("-1", "EUR")).toBeNull();
    expect(parseMajor("abc", "EUR")).toBeNull();
    expect(parseMajor("1200", "JPY")).toBe(1200);
  });
  it("turns percentages into basis points and back", () => {
    expect(percentToBasisPoints("33.34")).toBe(3334);
    expect(percentToBasisPoints("50")).toBe(5000);
    expect(percentToBasisPoints("100.01")).toBeNull();
    expect(percentToBasisPoints("1.234")).toBeNull();
    expect(basisPointsToPercent(3334)).toBe("33.34");
    expect(basisPointsToPercent(5000)).toBe("50");
  });
});
