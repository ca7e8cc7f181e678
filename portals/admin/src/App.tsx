// The admin portal's routes, under /admin/.

import { AccountPage, NotFoundPage, RequireRole, ResetPasswordPage, SetPasswordPage, Shell, SignInPage, useSession, type NavItem, type Role } from "@accord/shared/ui";
import type { ReactNode } from "react";
import { createBrowserRouter, Outlet } from "react-router";
import { ConsolePage } from "./console/ConsolePage";
import { AuditPage } from "./pages/Audit";
import { CaseDetailPage } from "./pages/CaseDetail";
import { CasesPage } from "./pages/Cases";
import { DashboardPage } from "./pages/Dashboard";
import { DeliveryPage } from "./pages/delivery/DeliveryPage";
import { MembersPage } from "./pages/Members";
import { SettingsPage } from "./pages/settings/SettingsPage";
import { settingsStrings } from "./pages/settings/strings";
import { BillingPage } from "./pages/workflow/BillingPage";
import { DeclarationsPage } from "./pages/workflow/DeclarationsPage";
import { IntakeFormPage } from "./pages/workflow/IntakeFormPage";
import { wf } from "./pages/workflow/strings";
import { t } from "./strings";

/** Only org admins and mediators use this portal; others are sent to theirs. */
const STAFF: readonly Role[] = ["org_admin", "mediator"];

function Frame() {
  const session = useSession();
  const nav: NavItem[] = [
    { to: "/", label: t.nav.dashboard, end: true },
    { to: "/cases", label: t.nav.cases },
    ...(session.role === "org_admin"
      ? [
          { to: "/members", label: t.nav.members },
          { to: "/audit", label: t.nav.audit },
          { to: "/mail", label: t.nav.mail },
          { to: "/settings", label: settingsStrings.nav },
          { to: "/billing", label: wf.fees.nav },
          { to: "/intake-form", label: wf.intake.nav },
        ]
      : []),
    { to: "/declarations", label: wf.declarations.nav },
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
    <RequireRole roles={STAFF} elsewhere={{ ...t.clientOnly, href: "/" }}>
      {children}
    </RequireRole>
  );
}

export const router = createBrowserRouter(
  [
    { path: "/sign-in", element: <SignInPage note={t.signInNote} sso /> },
    { path: "/password", element: <SetPasswordPage /> },
    { path: "/password/reset", element: <ResetPasswordPage /> },
    // The console takes the whole window.
    {
      path: "/sessions/:id",
      element: (
        <Signed>
          <ConsolePage />
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
        { index: true, element: <DashboardPage /> },
        { path: "cases", element: <CasesPage /> },
        { path: "cases/:id", element: <CaseDetailPage /> },
        { path: "members", element: <MembersPage /> },
        { path: "audit", element: <AuditPage /> },
        { path: "mail", element: <DeliveryPage /> },
        { path: "settings", element: <SettingsPage /> },
        { path: "billing", element: <BillingPage /> },
        { path: "declarations", element: <DeclarationsPage /> },
        { path: "intake-form", element: <IntakeFormPage /> },
        { path: "account", element: <AccountPage /> },
        { path: "*", element: <NotFoundPage /> },
      ],
    },
  ],
  { basename: "/admin" },
);
