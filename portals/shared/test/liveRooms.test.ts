import { describe, expect, it } from "vitest";
import type { ParticipantView } from "../src/protocol";
import { freeCaucusName, waitingMessage } from "../src/live/rooms";

const person = (id: string, role: ParticipantView["role"], room: ParticipantView["room"]): ParticipantView => ({ id, role, room, muted: false, handRaised: false, sharing: false, connected: true });
const main = { kind: "main" } as const;
const caucus = { kind: "caucus", id: "c1" } as const;

describe("waitingMessage", () => {
  it("tells a party alone in a caucus where they are and whom they wait for", () => {
    const me = person("a", "party", caucus);
    expect(waitingMessage(me, [me], "Caucus one", "Mo Mediator")).toBe("You are alone in Caucus one, a private room. Please wait: Mo Mediator will join you here.");
  });
  it("tells a party in the main room that the mediator is elsewhere", () => {
    const me = person("b", "party", main);
    expect(waitingMessage(me, [me, person("c", "party", main)], "Main room", "Mo Mediator")).toContain("Mo Mediator is meeting with someone privately");
  });
  it("says nothing while the mediator is in the room, in the lobby, or to the mediator", () => {
    const me = person("a", "party", caucus);
    expect(waitingMessage(me, [me, person("m", "mediator", caucus)], "Caucus one", "Mo")).toBeNull();
    const waiting = person("a", "party", { kind: "lobby" });
    expect(waitingMessage(waiting, [waiting], "Lobby", "Mo")).toBeNull();
    const m = person("m", "mediator", caucus);
    expect(waitingMessage(m, [m], "Caucus one", "Mo")).toBeNull();
    expect(waitingMessage(undefined, [], "", "Mo")).toBeNull();
  });
});

describe("freeCaucusName", () => {
  it("adds a number when the name is taken (case and spaces ignored)", () => {
    const rooms = [{ id: caucus, name: " Caucus with Pat ", timerRemainingMs: null }];
    expect(freeCaucusName(rooms, "Caucus with Ann")).toBe("Caucus with Ann");
    expect(freeCaucusName(rooms, "caucus with pat")).toBe("caucus with pat (2)");
  });
});
