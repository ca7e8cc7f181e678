// The client portal's routes, at the origin's root.

import { AccountPage, NotFoundPage, RequireRole, ResetPasswordPage, SetPasswordPage, Shell, SignInPage, useSession, type NavItem, type Role } from "@accord/shared/ui";
import type { ReactNode } from "react";
import { createBrowserRouter, Outlet } from "react-router";
import { AvailabilityPage } from "./pages/availability/AvailabilityPage";
import { CaseDetailPage } from "./pages/CaseDetail";
import { HomePage } from "./pages/Home";
import { InvitePage } from "./pages/invite/InvitePage";
import { InvoicesPage } from "./pages/workflow/InvoicesPage";
import { wf } from "./pages/workflow/strings";
import { SessionPage } from "./session/SessionPage";
import { t } from "./strings";

/** Parties, counsel and interpreters; org admins and mediators are sent to the admin portal. */
const CLIENTS: readonly Role[] = ["party", "observer"];

function Frame() {
  const nav: NavItem[] = [
    { to: "/", label: t.nav.home, end: true },
    { to: "/invoices", label: wf.invoices.nav },
    { to: "/account", label: t.nav.account },
  ];
  return (
    <Shell title={t.title} nav={nav}>
      <Outlet />
    </Shell>
  );
}

function Signed({ children }: { children: ReactNode }) {
  return (
    <RequireRole roles={CLIENTS} elsewhere={{ ...t.staff, href: "/admin/" }}>
      {children}
    </RequireRole>
  );
}

export const router = createBrowserRouter([
  { path: "/sign-in", element: <SignInPage /> },
  { path: "/password", element: <SetPasswordPage otherSignIn={{ href: "/admin/sign-in", label: t.otherSignIn }} /> },
  { path: "/password/reset", element: <ResetPasswordPage /> },
  // An invite link from a mail: signs the person in on this device.
  { path: "/invite", element: <InvitePage /> },
  // The session takes the whole window.
  {
    path: "/sessions/:id",
    element: (
      <Signed>
        <SessionPage />
      </Signed>
    ),
  },
  {
    element: (
      <Signed>
        <Frame />
      </Signed>
    ),
    children: [
      { index: true, element: <HomePage /> },
      { path: "cases/:id", element: <CaseDetailPage /> },
      { path: "cases/:id/availability", element: <AvailabilityPage /> },
      { path: "invoices", element: <InvoicesPage /> },
      { path: "account", element: <AccountPage /> },
      { path: "*", element: <NotFoundPage /> },
    ],
  },
]);
