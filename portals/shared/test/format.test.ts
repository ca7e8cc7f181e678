import { describe, expect, it } from "vitest";
import { formatInZone, instantToLocalInput, offsetMs, zonedToInstant, zoneLabel } from "../src/ui/format";

describe("wall-clock time in a zone", () => {
  it("turns a local time into the instant it happens there", () => {
    expect(zonedToInstant("2026-12-08T14:30", "Europe/London")).toBe("2026-12-08T14:30:00.000Z");
    expect(zonedToInstant("2026-07-08T14:30", "Europe/London")).toBe("2026-07-08T13:30:00.000Z");
    expect(zonedToInstant("2026-12-08T09:00", "America/New_York")).toBe("2026-12-08T14:00:00.000Z");
    expect(zonedToInstant("2026-12-08T09:00", "Asia/Kolkata")).toBe("2026-12-08T03:30:00.000Z");
  });

  it("settles on each side of a daylight-saving change", () => {
    // Europe/Berlin leaves summer time on 2026-10-25 at 03:00 local.
    expect(zonedToInstant("2026-10-24T10:00", "Europe/Berlin")).toBe("2026-10-24T08:00:00.000Z");
    expect(zonedToInstant("2026-10-26T10:00", "Europe/Berlin")).toBe("2026-10-26T09:00:00.000Z");
    // 02:30 does not exist on 2026-03-29 in Berlin: the later offset wins (03:30 CEST).
    expect(zonedToInstant("2026-03-29T02:30", "Europe/Berlin")).toBe("2026-03-29T01:30:00.000Z");
  });

  it("goes back to the same wall-clock time", () => {
    for (const zone of ["Europe/London", "America/Los_Angeles", "Australia/Sydney", "UTC"]) {
      for (const local of ["2026-01-15T08:15", "2026-06-30T23:45"]) {
        expect(instantToLocalInput(zonedToInstant(local, zone), zone)).toBe(local);
      }
    }
  });

  it("knows a zone's offset", () => {
    expect(offsetMs(Date.UTC(2026, 0, 1), "America/New_York")).toBe(-5 * 3600_000);
    expect(offsetMs(Date.UTC(2026, 6, 1), "America/New_York")).toBe(-4 * 3600_000);
  });

  it("shows a time as someone in another zone sees it", () => {
    const s = formatInZone("2026-12-08T14:00:00Z", "America/New_York", "en-GB");
    expect(s).toContain("09:00");
    expect(s).toContain("(New York)");
    expect(zoneLabel("America/Argentina/Buenos_Aires")).toBe("Buenos Aires");
  });

  it("refuses what is not a local date and time", () => {
    expect(() => zonedToInstant("8 Dec 2026", "UTC")).toThrow(RangeError);
  });
});
