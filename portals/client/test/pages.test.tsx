// @vitest-environment jsdom
// The client portal's pages against a fake server: the real Api, urql client
// and router, with fetch answering the page's GraphQL query.

import { Api } from "@accord/shared";
import { AuthProvider, GraphqlProvider } from "@accord/shared/ui";
import { cleanup, render, screen, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createMemoryRouter, RouterProvider } from "react-router";
import { CaseDetailPage } from "../src/pages/CaseDetail";
import { HomePage } from "../src/pages/Home";

const MIN = 60_000;
const ME = "11111111-1111-4111-8111-111111111111";
const CASE = "22222222-2222-4222-8222-222222222222";
const iso = (offsetMin: number) => new Date(Date.now() + offsetMin * MIN).toISOString();

type Answer = { data?: unknown; errors?: unknown[] } | "never";
let answers: Record<string, Answer>;

function fakeFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url, "http://portal.test");
  if (url.pathname === "/auth/session") {
    return Promise.resolve(Response.json({ csrfToken: "c", userId: ME, orgId: "o", role: "party", expiresAt: iso(600) }));
  }
  if (url.pathname === "/graphql") {
    // urql asks with GET (the query in the address) while it is short enough.
    const body = (init?.body ? JSON.parse(String(init.body)) : Object.fromEntries(url.searchParams)) as { operationName?: string; query: string };
    const name = body.operationName ?? /query (\w+)/.exec(body.query)?.[1] ?? "";
    const a = answers[name];
    if (!a) return Promise.resolve(Response.json({ errors: [{ message: `no answer for ${name}`, extensions: { code: "INTERNAL" } }] }));
    if (a === "never") return new Promise(() => undefined);
    return Promise.resolve(Response.json(a));
  }
  return Promise.resolve(new Response("not found", { status: 404 }));
}

function show(path: string) {
  const api = new Api("http://portal.test", fakeFetch);
  const router = createMemoryRouter(
    [
      { path: "/", element: <HomePage /> },
      { path: "/cases/:id", element: <CaseDetailPage /> },
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

const mediator = { user: { id: "m", displayName: "Mo Mediator" } };
const theCase = { id: CASE, reference: "MED-2026-0042", title: "Boundary wall", status: "OPEN", mediator };
const viewer = { timeZone: "Europe/London", user: { id: ME } };

beforeEach(() => {
  vi.stubGlobal("fetch", fakeFetch);
  answers = {};
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("Home", () => {
  it("shows that it is loading", async () => {
    answers.ClientHome = "never";
    show("/");
    expect(await screen.findByText("Loading…")).toBeTruthy();
  });

  it("says so when there are no cases and no sessions", async () => {
    answers.ClientHome = { data: { viewer, cases: { edges: [], pageInfo: { hasNextPage: false } }, sessions: [] } };
    show("/");
    expect(await screen.findByText(/No sessions are planned for your cases/)).toBeTruthy();
    expect(screen.getByText(/You are not on any case yet/)).toBeTruthy();
  });

  it("lists the sessions with the way in once they open, and the cases", async () => {
    const session = (id: string, startMin: number, extra: object = {}) => ({
      id,
      startsAt: iso(startMin),
      endsAt: iso(startMin + 60),
      timeZone: "Europe/London",
      status: "SCHEDULED",
      case: theCase,
      ...extra,
    });
    answers.ClientHome = {
      data: {
        viewer,
        cases: { edges: [{ node: theCase }], pageInfo: { hasNextPage: false } },
        sessions: [
          session("later", 24 * 60, { timeZone: "America/New_York" }),
          session("soon", 10),
          session("live", -20),
          session("ended", -120),
          session("off", 30, { status: "CANCELLED" }),
        ],
      },
    };
    show("/");
    const list = await screen.findByRole("list", { name: "Upcoming sessions" });
    const items = within(list).getAllByRole("listitem");
    // By start; the ended one is gone.
    expect(items).toHaveLength(4);
    const [live, soon, off, later] = items as [HTMLElement, HTMLElement, HTMLElement, HTMLElement];
    expect(within(live).getByText("Under way")).toBeTruthy();
    expect(within(live).getByRole("link", { name: /^Join the session of MED-2026-0042/ }).getAttribute("href")).toBe("/sessions/live");
    expect(within(soon).getByText(/Starts in (10|11) minutes/)).toBeTruthy();
    expect(within(soon).getByRole("link", { name: /^Join/ }).getAttribute("href")).toBe("/sessions/soon");
    expect(within(off).getByText("Cancelled")).toBeTruthy();
    expect(within(off).queryByRole("link", { name: /^Join/ })).toBeNull();
    expect(within(later).getByText("Opens 15 minutes before the start")).toBeTruthy();
    expect(within(later).queryByRole("link", { name: /^Join/ })).toBeNull();
    expect(within(later).getByText(/^Planned as .*\(New York\)$/)).toBeTruthy();
    expect(within(soon).queryByText(/^Planned as/)).toBeNull();
    expect(within(later).getByText(/Mo Mediator/)).toBeTruthy();
    const table = screen.getByRole("table", { name: "Your cases" });
    expect(within(table).getByRole("link", { name: "MED-2026-0042" }).getAttribute("href")).toBe(`/cases/${CASE}`);
    expect(within(table).getByText("Open")).toBeTruthy();
    expect(screen.getByText(/Times are shown in your time zone \(London\)/)).toBeTruthy();
  });

  it("shows the API's words and a retry when the query fails", async () => {
    answers.ClientHome = { errors: [{ message: "boom", extensions: { code: "INTERNAL" } }] };
    show("/");
    expect(await screen.findByText(/Something went wrong on the server/)).toBeTruthy();
    expect(screen.getByRole("button", { name: "Try again" })).toBeTruthy();
  });
});

describe("Case detail", () => {
  it("shows the case, the other people without contact details the API withholds, and its sessions", async () => {
    answers.ClientCase = {
      data: {
        viewer,
        case: {
          ...theCase,
          createdAt: iso(-60 * 24 * 10),
          mediator: { user: { ...mediator.user, email: null } },
          parties: [
            { id: "p1", kind: "PARTY", displayName: "Pat Claimant", email: null, userId: ME },
            { id: "p2", kind: "PARTY", displayName: "Robin Respondent", email: null, userId: "u2" },
            { id: "p3", kind: "COUNSEL", displayName: "Casey Counsel", email: null, userId: null },
          ],
          sessions: [
            { id: "s1", startsAt: iso(-3000), endsAt: iso(-2940), timeZone: "Europe/London", status: "COMPLETED" },
            { id: "s2", startsAt: iso(5), endsAt: iso(65), timeZone: "Europe/London", status: "SCHEDULED" },
          ],
        },
      },
    };
    show(`/cases/${CASE}`);
    expect(await screen.findByRole("heading", { level: 1, name: "MED-2026-0042: Boundary wall" })).toBeTruthy();
    expect(screen.getByText("You take part as party.")).toBeTruthy();
    const people = screen.getByRole("list", { name: "Other people on the case" });
    expect(within(people).getAllByRole("listitem").map((li) => li.textContent)).toEqual(["Robin Respondent Party", "Casey Counsel Counsel"]);
    expect(screen.queryAllByRole("link", { name: /@/ })).toHaveLength(0);
    expect(screen.getByText("Mo Mediator")).toBeTruthy();
    const next = screen.getByRole("list", { name: "Sessions" });
    expect(within(next).getByRole("link", { name: /^Join the session of MED-2026-0042/ }).getAttribute("href")).toBe("/sessions/s2");
    const earlier = screen.getByRole("list", { name: "Earlier sessions" });
    expect(within(earlier).getByText("Held")).toBeTruthy();
  });

  it("shows that it is loading, then a failure in words with a retry", async () => {
    answers.ClientCase = "never";
    const first = show(`/cases/${CASE}`);
    expect(await screen.findByText("Loading the case…")).toBeTruthy();
    expect(screen.getByRole("heading", { level: 1, name: "Case" })).toBeTruthy();
    first.unmount();
    answers.ClientCase = { errors: [{ message: "boom", extensions: { code: "INTERNAL" } }] };
    show(`/cases/${CASE}`);
    expect(await screen.findByText(/Something went wrong on the server/)).toBeTruthy();
    expect(screen.getByRole("button", { name: "Try again" })).toBeTruthy();
  });

  it("says not found, in the API's words, for a case the viewer may not see", async () => {
    answers.ClientCase = { errors: [{ message: "case not found", extensions: { code: "NOT_FOUND" } }] };
    show(`/cases/${CASE}`);
    expect(await screen.findByRole("heading", { level: 1, name: "Case not found" })).toBeTruthy();
    expect(screen.getByRole("alert").textContent).toMatch(/^Not found\./);
    expect(screen.getByRole("link", { name: "Back to your cases" })).toBeTruthy();
  });

  it("says not found without asking the API for an address that is no case id", async () => {
    show("/cases/not-a-case");
    expect(await screen.findByRole("heading", { level: 1, name: "Case not found" })).toBeTruthy();
    expect(screen.getByRole("alert").textContent).toMatch(/^Not found\./);
  });
});
