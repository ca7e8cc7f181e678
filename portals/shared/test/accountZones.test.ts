import { describe, expect, it } from "vitest";
import { localeExample, localeName, zoneChoices } from "../src/ui/screens/AccountZones";

describe("zoneChoices", () => {
  it("offers UTC and keeps a stored zone the browser does not list", () => {
    const zones = zoneChoices("Mars/Olympus");
    expect(zones[0]).toBe("Mars/Olympus");
    expect(zones).toContain("UTC");
    expect(zoneChoices(null)).not.toContain("Mars/Olympus");
  });
});

describe("locales", () => {
  it("names each locale in its own language and writes dates its way", () => {
    expect(localeName("fr-FR")).toBe("Français (France)");
    expect(localeName("xx")).toBe("xx");
    const at = new Date(Date.UTC(2027, 2, 28, 9, 30));
    expect(localeExample("de-DE", "Europe/Berlin", at)).toContain("März");
    expect(localeExample("en-US", "America/New_York", at)).toContain("March 28, 2027");
  });
});
