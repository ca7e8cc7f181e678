// @vitest-environment jsdom
import type { ParticipantView, RoomView } from "@accord/shared";
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { NEW_CAUCUS, RoomsPanel, effectiveChoice, moveOptions, type RoomActions } from "../../src/console/Rooms";
import { useState } from "react";

afterEach(cleanup);

const main = { kind: "main" } as const;
const lobby: RoomView = { id: { kind: "lobby" }, name: "Lobby", timerRemainingMs: null };
const mainRoom: RoomView = { id: main, name: "Main room", timerRemainingMs: null };
const c1: RoomView = { id: { kind: "caucus", id: "c1" }, name: "Caucus one", timerRemainingMs: null };
const c2: RoomView = { id: { kind: "caucus", id: "c2" }, name: "Caucus two", timerRemainingMs: null };
const person = (id: string, role: ParticipantView["role"], room: ParticipantView["room"], extra: Partial<ParticipantView> = {}): ParticipantView => ({
  id,
  role,
  room,
  muted: false,
  handRaised: false,
  sharing: false,
  connected: true,
  ...extra,
});

function actions(): RoomActions & { move: ReturnType<typeof vi.fn<(participant: string, target: string) => void>> } {
  return { move: vi.fn<(participant: string, target: string) => void>(), mute: vi.fn(), askUnmute: vi.fn(), remove: vi.fn(), rename: vi.fn(), close: vi.fn(), setTimer: vi.fn(), clearTimer: vi.fn() };
}

/** The console's way of holding choices: state keyed by participant id. */
function Harness({ rooms, participants, acts, unsigned = () => false }: { rooms: RoomView[]; participants: ParticipantView[]; acts: RoomActions; unsigned?: (id: string) => boolean }) {
  const [choices, setChoices] = useState<Record<string, string>>({});
  return (
    <RoomsPanel
      rooms={rooms}
      participants={participants}
      you="m"
      label={(id) => `Person ${id}`}
      choices={choices}
      onChoose={(p, v) => setChoices((c) => ({ ...c, [p]: v }))}
      actions={acts}
      speaker={null}
      reconnecting={new Set()}
      departed={[]}
      quality={new Map()}
      timers={new Map()}
      unsigned={unsigned}
    />
  );
}

describe("the agreement to mediate", () => {
  it("marks who has not signed it, and only them", () => {
    const people = [person("m", "mediator", main), person("a", "party", main), person("b", "party", main)];
    render(<Harness rooms={[lobby, mainRoom]} participants={people} acts={actions()} unsigned={(id) => id === "b"} />);
    const row = (id: string) => document.querySelector(`li[data-participant="${id}"]`)?.textContent ?? "";
    expect(row("b")).toContain("agreement to mediate not signed");
    expect(row("a")).not.toContain("not signed");
    expect(row("m")).not.toContain("not signed");
  });
});

describe("the move chooser", () => {
  it("keeps the mediator's choice when the console re-renders (a hand raised meanwhile)", () => {
    const acts = actions();
    const people = [person("m", "mediator", c1.id), person("a", "party", main), person("b", "party", main)];
    const view = render(<Harness rooms={[lobby, mainRoom, c1, c2]} participants={people} acts={acts} />);
    const select = screen.getByLabelText("Move Person a to") as HTMLSelectElement;
    expect([...select.options].map((o) => o.textContent)).toEqual(["Caucus one", "Caucus two", "A new caucus"]);
    fireEvent.change(select, { target: { value: "caucus:c2" } });
    // Party B raises a hand: a new state, a re-render.
    view.rerender(<Harness rooms={[lobby, mainRoom, c1, c2]} participants={[people[0]!, people[1]!, person("b", "party", main, { handRaised: true })]} acts={acts} />);
    expect((screen.getByLabelText("Move Person a to") as HTMLSelectElement).value).toBe("caucus:c2");
    fireEvent.click(screen.getByRole("button", { name: "Move Person a" }));
    expect(acts.move).toHaveBeenCalledWith("a", "caucus:c2");
  });

  it("with no caucus yet offers a new one, never an empty choice", () => {
    const acts = actions();
    render(<Harness rooms={[lobby, mainRoom]} participants={[person("m", "mediator", main), person("a", "party", main)]} acts={acts} />);
    const select = screen.getByLabelText("Move Person a to") as HTMLSelectElement;
    expect([...select.options].map((o) => o.value)).toEqual([NEW_CAUCUS]);
    expect(select.value).toBe(NEW_CAUCUS);
    fireEvent.click(screen.getByRole("button", { name: "Move Person a" }));
    expect(acts.move).toHaveBeenCalledWith("a", NEW_CAUCUS);
  });

  it("falls back to the first room when the chosen one is gone, without forgetting valid choices", () => {
    const opts = moveOptions([lobby, mainRoom, c1], main);
    expect(effectiveChoice(opts, "caucus:c2")).toBe("caucus:c1");
    expect(effectiveChoice(opts, NEW_CAUCUS)).toBe(NEW_CAUCUS);
    expect(effectiveChoice(opts, undefined)).toBe("caucus:c1");
  });

  it("moves a person dropped on a room", () => {
    const acts = actions();
    const { container } = render(<Harness rooms={[lobby, mainRoom, c1]} participants={[person("m", "mediator", main), person("a", "party", main)]} acts={acts} />);
    const data = new Map<string, string>();
    const dataTransfer = { setData: (k: string, v: string) => data.set(k, v), getData: (k: string) => data.get(k) ?? "", types: ["text/plain"], effectAllowed: "", dropEffect: "" };
    fireEvent.dragStart(container.querySelector('li[data-participant="a"]')!, { dataTransfer });
    fireEvent.drop(container.querySelector('section[data-room="caucus:c1"]')!, { dataTransfer });
    expect(acts.move).toHaveBeenCalledWith("a", "caucus:c1");
  });
});
