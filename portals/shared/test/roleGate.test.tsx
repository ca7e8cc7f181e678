// @vitest-environment jsdom
// A portal's pages for the roles it serves; anyone else is sent to theirs,
// and someone not signed in to the sign-in page and back.

import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryRouter, RouterProvider } from "react-router";
import { Api } from "../src/api";
import { AuthProvider, RequireRole } from "../src/ui/auth";

const ELSEWHERE = { title: "This is the admin portal", body: "Yours is the client portal.", go: "Open the client portal", href: "/" };

function mount(role: string | null) {
  const fetchImpl = (() =>
    Promise.resolve(
      role ? Response.json({ csrfToken: "c", userId: "u", orgId: "o", role, expiresAt: new Date(Date.now() + 3_600_000).toISOString() }) : new Response(null, { status: 401 }),
    )) as typeof fetch;
  const router = createMemoryRouter(
    [
      {
        path: "/cases",
        element: (
          <RequireRole roles={["org_admin", "mediator"]} elsewhere={ELSEWHERE}>
            <p>the cases page</p>
          </RequireRole>
        ),
      },
      { path: "/sign-in", element: <p>the sign-in page</p> },
    ],
    { initialEntries: ["/cases"] },
  );
  render(
    <AuthProvider api={new Api("http://portal.test/", fetchImpl)}>
      <RouterProvider router={router} />
    </AuthProvider>,
  );
  return router;
}

describe("RequireRole", () => {
  afterEach(cleanup);

  it("shows the page to the roles the portal serves", async () => {
    mount("mediator");
    expect(await screen.findByText("the cases page")).toBeTruthy();
  });

  it("tells another role which portal is theirs, and shows nothing of the page", async () => {
    mount("party");
    expect(await screen.findByRole("heading", { name: "This is the admin portal" })).toBeTruthy();
    expect(screen.getByRole("link", { name: "Open the client portal" }).getAttribute("href")).toBe("/");
    expect(screen.queryByText("the cases page")).toBeNull();
  });

  it("sends someone not signed in to sign in, and back afterwards", async () => {
    const router = mount(null);
    expect(await screen.findByText("the sign-in page")).toBeTruthy();
    expect(router.state.location.search).toBe("?next=%2Fcases");
  });
});
