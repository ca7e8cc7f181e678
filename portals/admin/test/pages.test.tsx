// @vitest-environment jsdom
// The admin portal's pages against a fake server: the real Api, urql client
// and router, with fetch answering each GraphQL operation by name.

import { Api } from "@accord/shared";
import { AuthProvider, GraphqlProvider, RequireAuth } from "@accord/shared/ui";
import type { ReactNode } from "react";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createMemoryRouter, RouterProvider } from "react-router";
import { CaseDetailPage } from "../src/pages/CaseDetail";
import { DashboardPage } from "../src/pages/Dashboard";
import { MembersPage } from "../src/pages/Members";

const ME = "11111111-1111-4111-8111-111111111111";
const MO = "33333333-3333-4333-8333-333333333333";
const CASE = "22222222-2222-4222-8222-222222222222";
const iso = (offsetMin: number) => new Date(Date.now() + offsetMin * 60_000).toISOString();

type Answer = { data?: unknown; errors?: unknown[] } | "never";
let answers: Record<string, Answer>;
let role: "org_admin" | "mediator";
let asked: string[];

function fakeFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url, "http://portal.test");
  if (url.pathname === "/auth/session") {
    return Promise.resolve(Response.json({ csrfToken: "c", userId: ME, orgId: "o", role, expiresAt: iso(600) }));
  }
  if (url.pathname === "/graphql") {
    const body = (init?.body ? JSON.parse(String(init.body)) : Object.fromEntries(url.searchParams)) as { operationName?: string; query: string };
    const name = body.operationName ?? /(?:query|mutation) (\w+)/.exec(body.query)?.[1] ?? "";
    asked.push(name);
    const a = answers[name];
    if (!a) return Promise.resolve(Response.json({ errors: [{ message: `no answer for ${name}`, extensions: { code: "INTERNAL" } }] }));
    if (a === "never") return new Promise(() => undefined);
    return Promise.resolve(Response.json(a));
  }
  return Promise.resolve(new Response("not found", { status: 404 }));
}

const Signed = ({ children }: { children: ReactNode }) => <RequireAuth>{children}</RequireAuth>;

function show(path: string) {
  const api = new Api("http://portal.test", fakeFetch);
  const router = createMemoryRouter(
    [
      { path: "/", element: <Signed><DashboardPage /></Signed> },
      { path: "/members", element: <Signed><MembersPage /></Signed> },
      { path: "/cases/:id", element: <Signed><CaseDetailPage /></Signed> },
    ],
    { initialEntries: [path] },
  );
  return render(
    <AuthProvider api={api}>
      <GraphqlProvider api={api}>
        <RouterProvider router={router} />
      </GraphqlProvider>
    </AuthProvider>,
  );
}

const viewer = { data: { viewer: { timeZone: "Europe/London", user: { id: ME } } } };
const mo = { user: { id: MO, displayName: "Mo Mediator", email: "mo@example.test" } };
function theCase(status: string) {
  return {
    data: {
      case: {
        id: CASE,
        reference: "MED-2027-0007",
        title: "Boundary wall",
        status,
        createdAt: iso(-6000),
        updatedAt: iso(-60),
        mediator: mo,
        parties: [{ id: "p1", kind: "PARTY", displayName: "Pat Claimant", email: "pat@example.test", userId: null, createdAt: iso(-600) }],
        partyOrganizations: [{ partyId: "p1", organization: "Harbour Lane Bakery Ltd" }],
        sessions: [
          { id: "s1", startsAt: "2027-01-12T14:00:00Z", endsAt: "2027-01-12T15:30:00Z", timeZone: "America/New_York", durationMinutes: 90, status: "SCHEDULED" },
        ],
      },
    },
  };
}
const mediators = { data: { members: [{ role: "MEDIATOR", user: { id: MO, displayName: "Mo Mediator" } }] } };

beforeEach(() => {
  vi.stubGlobal("fetch", fakeFetch);
  answers = { ViewerZone: viewer, Mediators: mediators };
  role = "org_admin";
  asked = [];
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("Case detail", () => {
  it("says not found for a case the API does not know, and for an address that is no case id", async () => {
    answers.CaseDetail = { errors: [{ message: "case not found", extensions: { code: "NOT_FOUND" } }] };
    show(`/cases/${CASE}`);
    expect(await screen.findByRole("heading", { level: 1, name: "Case not found" })).toBeTruthy();
    cleanup();
    show("/cases/not-a-case");
    expect(await screen.findByRole("heading", { level: 1, name: "Case not found" })).toBeTruthy();
    expect(asked.filter((n) => n === "CaseDetail")).toHaveLength(1);
  });

  it("offers an org admin the open case's moves, the mediator assignment, people and scheduling", async () => {
    answers.CaseDetail = theCase("OPEN");
    show(`/cases/${CASE}`);
    expect(await screen.findByRole("heading", { level: 1, name: "MED-2027-0007 · Boundary wall" })).toBeTruthy();
    const status = screen.getByRole("heading", { name: "Status" }).closest("section") as HTMLElement;
    expect(within(status).getAllByRole("button").map((b) => b.textContent)).toEqual(["Put on hold", "Mark as settled", "Close the case"]);
    expect(screen.getByRole("button", { name: "Assign mediator" })).toBeTruthy();
    expect(screen.getByRole("button", { name: "Remove Pat Claimant" })).toBeTruthy();
    expect((screen.getByLabelText("Organisation Pat Claimant is on the case for") as HTMLInputElement).value).toBe("Harbour Lane Bakery Ltd");
    expect(screen.getByRole("button", { name: "Save the organisation of Pat Claimant" })).toBeTruthy();
    expect(screen.getByRole("region", { name: "Schedule a session" })).toBeTruthy();
    // The session planned in New York, seen from London: both clocks.
    expect(screen.getByText(/Planned in: .*09:00.*\(New York\)/)).toBeTruthy();
  });

  it("shows a mediator the assignment without controls", async () => {
    role = "mediator";
    answers.CaseDetail = theCase("ON_HOLD");
    show(`/cases/${CASE}`);
    await screen.findByRole("heading", { level: 1, name: "MED-2027-0007 · Boundary wall" });
    expect(screen.queryByRole("button", { name: "Assign mediator" })).toBeNull();
    expect(screen.getByText("Only org admins assign mediators.")).toBeTruthy();
    const status = screen.getByRole("heading", { name: "Status" }).closest("section") as HTMLElement;
    expect(within(status).getAllByRole("button").map((b) => b.textContent)).toEqual(["Reopen", "Close the case"]);
    expect(screen.getByRole("link", { name: "Open the session console" }).getAttribute("href")).toBe("/sessions/s1");
  });

  it("offers nothing to change on a closed case's lifecycle or sessions", async () => {
    answers.CaseDetail = theCase("CLOSED");
    show(`/cases/${CASE}`);
    await screen.findByRole("heading", { level: 1, name: "MED-2027-0007 · Boundary wall" });
    const status = screen.getByRole("heading", { name: "Status" }).closest("section") as HTMLElement;
    expect(within(status).queryAllByRole("button")).toHaveLength(0);
    expect(screen.getByText("A closed case does not change any more.")).toBeTruthy();
    expect(screen.queryByRole("region", { name: "Schedule a session" })).toBeNull();
    expect(screen.queryByRole("button", { name: /^Reschedule/ })).toBeNull();
    // A session left on a closed case can still be called off.
    expect(screen.getByRole("button", { name: /^Cancel the session of/ })).toBeTruthy();
  });
});

describe("Members", () => {
  it("tells a mediator it is for org admins, without asking the API", async () => {
    role = "mediator";
    show("/members");
    expect(await screen.findByText(/Members are managed by your organisation's org admins/)).toBeTruthy();
    expect(asked).not.toContain("MemberList");
  });

  it("explains the last-admin rule when the API refuses a role change", async () => {
    answers.MemberList = {
      data: { members: [{ role: "ORG_ADMIN", joinedAt: iso(-9000), activated: true, user: { id: ME, displayName: "Ada Admin", email: "ada@example.test" } }] },
    };
    answers.ChangeMemberRole = { errors: [{ message: "an organization must keep at least one org admin", extensions: { code: "CONFLICT" } }] };
    show("/members");
    const select = await screen.findByLabelText("Role of Ada Admin");
    fireEvent.change(select, { target: { value: "MEDIATOR" } });
    fireEvent.click(screen.getByRole("button", { name: "Save the role of Ada Admin" }));
    expect(await screen.findByText(/always keeps at least one org admin/)).toBeTruthy();
    // The choice stays as the person left it.
    expect((screen.getByLabelText("Role of Ada Admin") as HTMLSelectElement).value).toBe("MEDIATOR");
  });
});

describe("Dashboard", () => {
  const live = {
    data: {
      liveSessions: [
        {
          sessionId: "s1",
          startedAt: iso(-12),
          session: { id: "s1", case: { id: CASE, reference: "MED-2027-0007", title: "Boundary wall" } },
          participants: [{ userId: MO, displayName: "Mo Mediator", role: "mediator", room: "main", roomKind: "MAIN", connected: true, joinedAt: iso(-12) }],
          lobby: [{ userId: "p", displayName: "Pat Claimant", role: "party", connected: true, joinedAt: iso(-3) }],
        },
      ],
    },
  };
  const none = { data: { sessions: [] } };

  it("shows an org admin who is live and waiting, without a way to join", async () => {
    answers.LiveNow = live;
    answers.SessionsBetween = none;
    answers.CaseCount = { data: { cases: { edges: [{ cursor: "a" }], pageInfo: { hasNextPage: false } } } };
    show("/");
    expect(await screen.findByText("Live for 12 min")).toBeTruthy();
    expect(screen.getByText("Pat Claimant, waiting 3 min")).toBeTruthy();
    expect(screen.getByText("1 person waiting in the lobby")).toBeTruthy();
    expect(screen.queryByRole("link", { name: /session console/ })).toBeNull();
  });

  it("gives a mediator the way into the console", async () => {
    role = "mediator";
    answers.LiveNow = live;
    answers.SessionsBetween = none;
    answers.MyCases = { data: { cases: { edges: [], pageInfo: { hasNextPage: false } } } };
    show("/");
    const link = await screen.findByRole("link", { name: "Open the session console for MED-2027-0007" });
    expect(link.getAttribute("href")).toBe("/sessions/s1");
    expect(await screen.findByText("No sessions are scheduled on your cases.")).toBeTruthy();
  });
});
