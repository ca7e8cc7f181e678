import { describe, expect, it } from "vitest";
import { filtersFromParams, filtersToParams, filterVariables, hasFilters, NO_FILTERS } from "../src/pages/audit/filters";
import { fieldErrors } from "../src/pages/common/fieldErrors";
import { can } from "../src/pages/common/permissions";

const ID = "01a24c5c-87e2-762e-a998-648088e817c2";

describe("audit filters", () => {
  it("round-trip through the URL, leaving empty ones out", () => {
    const f = { actor: ID, action: " case.create ", targetType: "", targetId: "" };
    const p = filtersToParams(f);
    expect(p.toString()).toBe(`actor=${ID}&action=case.create`);
    expect(filtersFromParams(p)).toEqual({ actor: ID, action: "case.create", targetType: "", targetId: "" });
    expect(hasFilters(filtersFromParams(new URLSearchParams()))).toBe(false);
  });

  it("send only ids that are ids", () => {
    expect(filterVariables({ ...NO_FILTERS, actor: "someone", targetId: ` ${ID} ` })).toEqual({ actorUserId: null, action: null, targetType: null, targetId: ID });
  });
});

describe("fieldErrors", () => {
  it("puts a problem under its field when the form has it, and above the button otherwise", () => {
    const onField = fieldErrors({ code: "BAD_USER_INPUT", message: "Must contain an @.", field: "email" }, ["email", "displayName"]);
    expect(onField.at("email")).toBe("Must contain an @.");
    expect(onField.at("displayName")).toBeUndefined();
    expect(onField.rest).toBeNull();
    const elsewhere = fieldErrors({ code: "BAD_USER_INPUT", message: "Bad.", field: "input" }, ["email"]);
    expect(elsewhere.at("email")).toBeUndefined();
    expect(elsewhere.rest?.message).toBe("Bad.");
  });
});

describe("permissions", () => {
  it("mirror the API's table for the staff roles", () => {
    expect(can("org_admin", "assignMediator")).toBe(true);
    expect(can("mediator", "assignMediator")).toBe(false);
    expect(can("mediator", "createCase")).toBe(false);
    expect(can("mediator", "manageMembers")).toBe(false);
    expect(can("mediator", "readAuditLog")).toBe(false);
    for (const a of ["updateCaseStatus", "manageParties", "scheduleSession", "viewPartyContacts"] as const) expect(can("mediator", a)).toBe(true);
    expect(can("party", "scheduleSession")).toBe(false);
  });
});
