import { describe, expect, it } from "vitest";
import { addWindow, describeWindow, draftToWindow, nextDay, normalize, removeWindow, todayIn, type LocalWindow } from "../src/ui/availability";

const TODAY = "2026-12-07";
const morning: LocalWindow = { start: "2026-12-08T09:00:00", end: "2026-12-08T12:00:00" };

describe("draftToWindow", () => {
  it("makes a window on the person's clock from a day and two times", () => {
    expect(draftToWindow({ date: "2026-12-08", from: "13:30", to: "17:00" }, [morning], TODAY)).toEqual({ start: "2026-12-08T13:30:00", end: "2026-12-08T17:00:00" });
  });
  it("takes an end of 00:00 as midnight at the end of the day", () => {
    expect(draftToWindow({ date: "2026-12-31", from: "20:00", to: "00:00" }, [], TODAY)).toEqual({ start: "2026-12-31T20:00:00", end: "2027-01-01T00:00:00" });
  });
  it("refuses what the API would refuse, and says why", () => {
    expect(draftToWindow({ date: "", from: "09:00", to: "10:00" }, [], TODAY)).toBe("incomplete");
    expect(draftToWindow({ date: "2026-12-08", from: "9", to: "10:00" }, [], TODAY)).toBe("incomplete");
    expect(draftToWindow({ date: "2026-12-08", from: "12:00", to: "09:00" }, [], TODAY)).toBe("endBeforeStart");
    expect(draftToWindow({ date: "2026-12-08", from: "12:00", to: "12:00" }, [], TODAY)).toBe("endBeforeStart");
    expect(draftToWindow({ date: "2026-12-06", from: "09:00", to: "10:00" }, [], TODAY)).toBe("past");
    expect(draftToWindow({ date: "2026-12-08", from: "11:00", to: "13:00" }, [morning], TODAY)).toBe("overlaps");
    expect(draftToWindow({ date: "2026-12-08", from: "08:00", to: "13:00" }, [morning], TODAY)).toBe("overlaps");
  });
  it("lets windows touch", () => {
    expect(draftToWindow({ date: "2026-12-08", from: "12:00", to: "13:00" }, [morning], TODAY)).toEqual({ start: "2026-12-08T12:00:00", end: "2026-12-08T13:00:00" });
  });
});

describe("the list", () => {
  it("keeps windows earliest first, with seconds, and removes by start", () => {
    const later = { start: "2026-12-09T09:00", end: "2026-12-09T10:00" };
    const list = addWindow([later], morning);
    expect(list.map((w) => w.start)).toEqual(["2026-12-08T09:00:00", "2026-12-09T09:00:00"]);
    expect(removeWindow(list, "2026-12-09T09:00")).toEqual([morning]);
    expect(normalize([])).toEqual([]);
  });
});

describe("dates", () => {
  it("steps over month and year ends and leap days", () => {
    expect(nextDay("2026-12-31")).toBe("2027-01-01");
    expect(nextDay("2028-02-28")).toBe("2028-02-29");
    expect(nextDay("2027-02-28")).toBe("2027-03-01");
  });
  it("reads today on the person's own clock", () => {
    const instant = new Date(Date.UTC(2026, 11, 7, 23, 30));
    expect(todayIn("UTC", instant)).toBe("2026-12-07");
    expect(todayIn("Asia/Tokyo", instant)).toBe("2026-12-08");
    expect(todayIn("America/Los_Angeles", instant)).toBe("2026-12-07");
  });
  it("describes a window by its day and times as written, midnight as 24:00", () => {
    const d = describeWindow({ start: "2026-12-31T20:00:00", end: "2027-01-01T00:00:00" }, "en-GB");
    expect(d.day).toMatch(/^Thursday,? 31 December 2026$/);
    expect([d.from, d.to]).toEqual(["20:00", "24:00"]);
    expect(describeWindow(morning, "en-GB").to).toBe("12:00");
  });
});
