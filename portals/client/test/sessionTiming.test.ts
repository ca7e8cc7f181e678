import { describe, expect, it } from "vitest";
import { canJoin, displayZone, formatSessionTime, joinState, minutesUntil, past, plannedTime, upcoming, type Timed } from "../src/pages/sessionTiming";

const MIN = 60_000;
const at = (ms: number) => new Date(ms).toISOString();
const session = (startMin: number, lengthMin = 60, status: Timed["status"] = "SCHEDULED", now = Date.UTC(2026, 11, 8, 12)): Timed => ({
  startsAt: at(now + startMin * MIN),
  endsAt: at(now + (startMin + lengthMin) * MIN),
  status,
});
const NOW = Date.UTC(2026, 11, 8, 12);

describe("joinState", () => {
  it("opens the way in 15 minutes before the start and keeps it open until the end", () => {
    expect(joinState(session(16), NOW)).toBe("later");
    expect(joinState(session(15), NOW)).toBe("soon");
    expect(joinState(session(1), NOW)).toBe("soon");
    expect(joinState(session(0), NOW)).toBe("live");
    expect(joinState(session(-59), NOW)).toBe("live");
    expect(joinState(session(-60), NOW)).toBe("over");
    expect(canJoin(joinState(session(10), NOW))).toBe(true);
    expect(canJoin(joinState(session(-10), NOW))).toBe(true);
    expect(canJoin(joinState(session(30), NOW))).toBe(false);
  });

  it("never lets anyone into a cancelled or held session", () => {
    expect(joinState(session(5, 60, "CANCELLED"), NOW)).toBe("cancelled");
    expect(joinState(session(-5, 60, "COMPLETED"), NOW)).toBe("over");
    expect(canJoin("cancelled")).toBe(false);
    expect(canJoin("over")).toBe(false);
  });
});

describe("upcoming and past", () => {
  it("splits by the end time and orders each the way a person reads it", () => {
    const list = [session(120), session(-90), session(-30), session(-300), session(5, 60, "CANCELLED")];
    expect(upcoming(list, NOW).map((s) => s.startsAt)).toEqual([list[2], list[4], list[0]].map((s) => s!.startsAt));
    expect(past(list, NOW).map((s) => s.startsAt)).toEqual([list[1], list[3]].map((s) => s!.startsAt));
  });
});

describe("minutesUntil", () => {
  it("rounds up and stops at zero", () => {
    expect(minutesUntil(session(10), NOW - 30_000)).toBe(11);
    expect(minutesUntil(session(10), NOW)).toBe(10);
    expect(minutesUntil(session(-3), NOW)).toBe(0);
  });
});

describe("formatSessionTime and plannedTime", () => {
  const s = { startsAt: "2026-12-08T14:30:00Z", endsAt: "2026-12-08T15:30:00Z", timeZone: "America/New_York" };

  it("shows the range in the viewer's zone", () => {
    expect(formatSessionTime(s, "Europe/London", "en-GB")).toBe("Tue, 8 Dec 2026, 14:30–15:30");
    expect(formatSessionTime(s, "Europe/Berlin", "en-GB")).toBe("Tue, 8 Dec 2026, 15:30–16:30");
  });

  it("adds the planner's time only when the viewer's clock differs", () => {
    expect(plannedTime(s, "Europe/London", "en-GB")).toBe("Tue 8 Dec, 09:30 (New York)");
    expect(plannedTime(s, "America/New_York", "en-GB")).toBeNull();
    // Another name, the same clock: nothing to add.
    expect(plannedTime(s, "America/Toronto", "en-GB")).toBeNull();
    expect(plannedTime({ ...s, timeZone: "Not/AZone" }, "Europe/London", "en-GB")).toBeNull();
  });
});

describe("displayZone", () => {
  it("uses the person's chosen zone when the browser knows it", () => {
    expect(displayZone("Asia/Tokyo", "Europe/London")).toBe("Asia/Tokyo");
    expect(displayZone(null, "Europe/London")).toBe("Europe/London");
    expect(displayZone("Mars/Olympus", "Europe/London")).toBe("Europe/London");
  });
});
