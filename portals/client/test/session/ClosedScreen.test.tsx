// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ClosedScreen } from "../../src/session/SessionPage";

afterEach(cleanup);

const show = (code: number, denied: string | null = null, onJoinAgain = vi.fn()) =>
  render(
    <MemoryRouter>
      <ClosedScreen code={code} message="closed" denied={denied} onJoinAgain={onJoinAgain} caseId="c" />
    </MemoryRouter>,
  );

describe("the party's closed screens", () => {
  it("a denial shows the mediator's message, with no way back in", () => {
    show(4424, "Please use the other link.");
    expect(screen.getByRole("heading", { name: "The mediator did not admit you" })).toBeTruthy();
    expect(screen.getByText("The mediator's message: Please use the other link.")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Join again" })).toBeNull();
  });
  it("a removal says so, with no way back in", () => {
    show(4410);
    expect(screen.getByRole("heading", { name: "You were removed from the session" })).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Join again" })).toBeNull();
  });
  it("after leaving: no room, no controls, and Join again", () => {
    const again = vi.fn();
    show(1000, null, again);
    expect(screen.getByRole("heading", { name: "You left the session." })).toBeTruthy();
    expect(screen.queryByText(/You are in/)).toBeNull();
    expect(screen.queryByRole("button", { name: "Leave" })).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Join again" }));
    expect(again).toHaveBeenCalled();
  });
});
