import { describe, expect, it } from "vitest";
import type { CaseStatus } from "@accord/shared/gql";
import { CASE_STATUSES, canTransition, nextStatuses, parseCaseStatus, takesSessions } from "../src/pages/cases/status";

// The lifecycle as crates/domain/src/case.rs states it, written out again so a slip in either shows.
const ALLOWED = new Set(["OPEN>ON_HOLD", "OPEN>SETTLED", "OPEN>CLOSED", "ON_HOLD>OPEN", "ON_HOLD>CLOSED", "SETTLED>CLOSED"]);

describe("case status transitions", () => {
  it("follow the lifecycle for every pair of statuses", () => {
    for (const from of CASE_STATUSES) {
      for (const to of CASE_STATUSES) {
        expect(canTransition(from, to), `${from} -> ${to}`).toBe(ALLOWED.has(`${from}>${to}`));
      }
    }
  });

  it("offer no move out of a closed case, and only closing a settled one", () => {
    expect(nextStatuses("CLOSED")).toEqual([]);
    expect(nextStatuses("SETTLED")).toEqual(["CLOSED"]);
    expect(nextStatuses("OPEN")).toEqual(["ON_HOLD", "SETTLED", "CLOSED"]);
  });

  it("take sessions only while open or on hold", () => {
    const taking = CASE_STATUSES.filter((s: CaseStatus) => takesSessions(s));
    expect(taking).toEqual(["OPEN", "ON_HOLD"]);
  });

  it("parse from a URL value", () => {
    expect(parseCaseStatus("ON_HOLD")).toBe("ON_HOLD");
    expect(parseCaseStatus("on_hold")).toBeNull();
    expect(parseCaseStatus(null)).toBeNull();
  });
});
