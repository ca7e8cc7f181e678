import { describe, expect, it } from "vitest";
import { leadChoices, leadWords } from "../src/pages/settings/strings";

describe("reminder leads", () => {
  it("reads each lead in words", () => {
    expect(leadWords(10080)).toBe("1 week");
    expect(leadWords(2880)).toBe("2 days");
    expect(leadWords(1440)).toBe("24 hours");
    expect(leadWords(60)).toBe("1 hour");
    expect(leadWords(90)).toBe("90 minutes");
  });

  it("offers the usual leads and keeps a stored one besides, largest first", () => {
    const choices = leadChoices([90, 1440]);
    expect(choices).toContain(90);
    expect(choices.filter((m) => m === 1440)).toHaveLength(1);
    expect([...choices].sort((a, b) => b - a)).toEqual(choices);
  });
});
