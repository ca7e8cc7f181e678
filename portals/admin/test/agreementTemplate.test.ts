import { describe, expect, it } from "vitest";
import { agreementTemplate } from "../src/pages/workflow/agreementTemplate";

describe("agreement templates", () => {
  it("fill in the case's reference, parties and mediator", () => {
    const t = agreementTemplate("SETTLEMENT", { reference: "C-1", title: "Lease", parties: ["Ann", "Bob"], mediator: "Mia" });
    expect(t.title).toBe("Settlement agreement, case C-1");
    expect(t.body).toContain("Between Ann, Bob, with Mia as mediator.");
  });

  it("say what is agreed before mediating", () => {
    const t = agreementTemplate("AGREEMENT_TO_MEDIATE", { reference: "C-2", title: "T", parties: [], mediator: null });
    expect(t.body).toContain("confidential");
    expect(t.body).toContain("the parties");
  });
});
