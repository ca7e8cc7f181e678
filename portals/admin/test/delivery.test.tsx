// @vitest-environment jsdom
// The Mail screen against a fake server: the real Api, urql client and
// router, with fetch answering each GraphQL operation by name.

import { Api } from "@accord/shared";
import { AuthProvider, GraphqlProvider, RequireAuth } from "@accord/shared/ui";
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { createMemoryRouter, RouterProvider } from "react-router";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DeliveryPage } from "../src/pages/delivery/DeliveryPage";

const iso = (offsetMin: number) => new Date(Date.now() + offsetMin * 60_000).toISOString();
type Answer = { data?: unknown; errors?: unknown[] };
let answers: Record<string, Answer | Answer[]>;
let role: "org_admin" | "mediator";
let asked: { name: string; variables: unknown }[];

function fakeFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url, "http://portal.test");
  if (url.pathname === "/auth/session") {
    return Promise.resolve(Response.json({ csrfToken: "c", userId: "u", orgId: "o", role, expiresAt: iso(600) }));
  }
  if (url.pathname === "/graphql") {
    const body = JSON.parse(String(init?.body)) as { operationName?: string; query: string; variables?: unknown };
    const name = body.operationName ?? /(?:query|mutation) (\w+)/.exec(body.query)?.[1] ?? "";
    asked.push({ name, variables: body.variables });
    const a = answers[name];
    const answer = Array.isArray(a) ? (a.length > 1 ? a.shift() : a[0]) : a;
    if (!answer) return Promise.resolve(Response.json({ errors: [{ message: `no answer for ${name}`, extensions: { code: "INTERNAL" } }] }));
    return Promise.resolve(Response.json(answer));
  }
  return Promise.resolve(new Response("not found", { status: 404 }));
}

function show() {
  const api = new Api("http://portal.test", fakeFetch);
  const router = createMemoryRouter([{ path: "/mail", element: <RequireAuth><DeliveryPage /></RequireAuth> }], { initialEntries: ["/mail"] });
  return render(
    <AuthProvider api={api}>
      <GraphqlProvider api={api}>
        <RouterProvider router={router} />
      </GraphqlProvider>
    </AuthProvider>,
  );
}

const failed = {
  id: "j1",
  kind: "mail.session_invitation",
  recipient: "pat@example.test",
  subject: "Invitation: mediation session N-7",
  status: "FAILED",
  attempts: 8,
  maxAttempts: 8,
  lastError: "permanent delivery failure: 550 mailbox unavailable",
  runAt: iso(-5),
  updatedAt: iso(-5),
};

beforeEach(() => {
  vi.stubGlobal("fetch", fakeFetch);
  answers = { ViewerZone: { data: { viewer: { timeZone: "Europe/London", user: { id: "u" } } } } };
  role = "org_admin";
  asked = [];
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("Mail", () => {
  it("tells a mediator it is for org admins, without asking the API", async () => {
    role = "mediator";
    show();
    expect(await screen.findByText(/Only org admins see the organization's outgoing mail/)).toBeTruthy();
    expect(asked.map((a) => a.name)).not.toContain("MailDeliveries");
  });

  it("lists a failed message with the server's reason and retries it", async () => {
    answers.MailDeliveries = [{ data: { mailDeliveries: [failed] } }, { data: { mailDeliveries: [] } }];
    answers.RetryMailDelivery = { data: { retryMailDelivery: { id: "j1", status: "PENDING", attempts: 0, runAt: iso(0), updatedAt: iso(0) } } };
    show();
    expect(await screen.findByText(/550 mailbox unavailable/)).toBeTruthy();
    expect(screen.getByText("Session invitation")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Retry the message to pat@example.test now" }));
    expect(await screen.findByText("The message to pat@example.test is queued again.")).toBeTruthy();
    expect(asked.find((a) => a.name === "RetryMailDelivery")?.variables).toEqual({ id: "j1" });
  });

  it("says so when nothing is waiting, and shows the API's refusal in words", async () => {
    answers.MailDeliveries = { data: { mailDeliveries: [] } };
    show();
    expect(await screen.findByText(/Nothing is waiting/)).toBeTruthy();
    cleanup();
    answers.MailDeliveries = { errors: [{ message: "only org admins see mail deliveries", extensions: { code: "FORBIDDEN" } }] };
    show();
    expect(await screen.findByRole("alert")).toBeTruthy();
  });

  it("asks for sent messages when the person chooses them", async () => {
    answers.MailDeliveries = { data: { mailDeliveries: [] } };
    show();
    await screen.findByText(/Nothing is waiting/);
    fireEvent.change(screen.getByLabelText("Show"), { target: { value: "sent" } });
    expect(await screen.findByText("No message was sent yet.")).toBeTruthy();
    expect(asked.filter((a) => a.name === "MailDeliveries").map((a) => a.variables)).toContainEqual({ statuses: ["SENT"] });
  });
});
