import { describe, expect, it } from "vitest";
import { dayBounds, planInstant, schedulePreview, sessionTimes, zoneChoices, zonesDiffer } from "../src/pages/common/time";

const L = "en-GB";

describe("planInstant", () => {
  it("places a wall-clock time in the chosen zone, not the viewer's", () => {
    const p = planInstant("2027-01-12", "09:00", "America/New_York");
    expect(p).toEqual({ instant: "2027-01-12T14:00:00.000Z", local: "2027-01-12T09:00", skipped: false, ambiguous: false });
  });

  it("follows the zone's DST on the chosen day", () => {
    // New York moves to EDT on 14 March 2027: 09:00 is 13:00 UTC after, 14:00 UTC before.
    expect(planInstant("2027-03-15", "09:00", "America/New_York")?.instant).toBe("2027-03-15T13:00:00.000Z");
    expect(planInstant("2027-03-12", "09:00", "America/New_York")?.instant).toBe("2027-03-12T14:00:00.000Z");
  });

  it("flags a time skipped by the clocks going forward and says where it lands", () => {
    // London: 28 March 2027, 01:00 GMT becomes 02:00 BST; 01:30 does not exist.
    const p = planInstant("2027-03-28", "01:30", "Europe/London");
    expect(p?.skipped).toBe(true);
    expect(p?.local).toBe("2027-03-28T02:30");
    expect(p?.instant).toBe("2027-03-28T01:30:00.000Z");
  });

  it("flags a time that happens twice when the clocks go back", () => {
    // London: 31 October 2027, 02:00 BST becomes 01:00 GMT; 01:30 happens twice.
    const p = planInstant("2027-10-31", "01:30", "Europe/London");
    expect(p?.ambiguous).toBe(true);
    expect(p?.skipped).toBe(false);
    expect(planInstant("2027-10-31", "12:00", "Europe/London")?.ambiguous).toBe(false);
  });

  it("refuses incomplete input", () => {
    expect(planInstant("2027-03-28", "", "Europe/London")).toBeNull();
    expect(planInstant("", "10:00", "Europe/London")).toBeNull();
  });
});

describe("session times across zones", () => {
  it("shows the planned zone only when its clock differs from the viewer's", () => {
    const start = "2027-01-12T14:00:00.000Z";
    const end = "2027-01-12T15:30:00.000Z";
    const t = sessionTimes(start, end, "America/New_York", "Europe/London", L);
    expect(t.viewer).toContain("14:00");
    expect(t.viewer).toContain("15:30");
    expect(t.planned).toContain("09:00");
    expect(t.planned).toContain("(New York)");
    // Lisbon and London share a clock in January.
    expect(sessionTimes(start, end, "Europe/Lisbon", "Europe/London", L).planned).toBeNull();
    expect(sessionTimes(start, end, "Europe/London", "Europe/London", L).planned).toBeNull();
  });

  it("accounts for zones changing clocks on different days", () => {
    // Between 14 and 28 March 2027 New York is on EDT while London is still on GMT: 4 hours apart, not 5.
    const p = schedulePreview("2027-03-15T13:00:00.000Z", "America/New_York", "Europe/London", [], L);
    expect(p.viewer).toContain("13:00");
    expect(p.viewer).toContain("GMT");
    expect(p.session).toContain("09:00");
    const later = schedulePreview("2027-04-05T13:00:00.000Z", "America/New_York", "Europe/London", [], L);
    expect(later.viewer).toContain("14:00");
    expect(later.viewer).toContain("BST");
    expect(later.session).toContain("09:00");
  });

  it("uses the session's zone for attendees whose zone is unknown and says so", () => {
    const p = schedulePreview(
      "2027-01-12T14:00:00.000Z",
      "America/New_York",
      "Europe/Berlin",
      [
        { name: "Pat", timeZone: null },
        { name: "Sam", timeZone: "Asia/Tokyo" },
      ],
      L,
    );
    expect(p.viewer).toContain("15:00");
    expect(p.attendees[0]).toMatchObject({ name: "Pat", zone: "America/New_York", assumed: true });
    expect(p.attendees[0]?.text).toContain("09:00");
    expect(p.attendees[1]).toMatchObject({ name: "Sam", zone: "Asia/Tokyo", assumed: false });
    expect(p.attendees[1]?.text).toContain("Tue, 12 Jan 2027, 23:00");
    expect(p.assumedAny).toBe(true);
  });

  it("compares zones by their clocks at the instant", () => {
    expect(zonesDiffer("2027-07-01T12:00:00Z", "Europe/Paris", "Europe/Berlin")).toBe(false);
    expect(zonesDiffer("2027-07-01T12:00:00Z", "Europe/London", "Europe/Berlin")).toBe(true);
  });
});

describe("zoneChoices", () => {
  it("offers the viewer's and the current zone first, and every other known zone once", () => {
    const c = zoneChoices("Pacific/Chatham", "Asia/Kathmandu", ["Asia/Kathmandu", "Europe/London", "Pacific/Chatham", "Pacific/Fiji"]);
    expect(c.common.slice(0, 2)).toEqual(["Pacific/Chatham", "Asia/Kathmandu"]);
    expect(c.other).toEqual(["Pacific/Fiji"]);
  });
});

describe("dayBounds", () => {
  it("starts today at the viewer's midnight and the week seven midnights later, across a DST change", () => {
    // Wednesday 10 March 2027, 23:30 in New York (04:30 UTC on the 11th); EDT starts on the 14th.
    const b = dayBounds(new Date("2027-03-11T04:30:00Z"), "America/New_York");
    expect(b.todayStart).toBe("2027-03-10T05:00:00.000Z");
    expect(b.tomorrowStart).toBe("2027-03-11T05:00:00.000Z");
    expect(b.weekEnd).toBe("2027-03-17T04:00:00.000Z");
  });
});
