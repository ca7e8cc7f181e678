// The frame of every signed-in page: a skip link, the product name, the
// portal's navigation, who is signed in, and the main landmark.

import type { ReactNode } from "react";
import { Link, NavLink, useNavigate } from "react-router";
import { useAuth } from "./auth";
import { Button } from "./components";
import { strings } from "./strings";

export type NavItem = { to: string; label: string; end?: boolean };

export function Shell({ title, nav, children, wide = false }: { title: string; nav: NavItem[]; children: ReactNode; wide?: boolean }) {
  const { state, signOut } = useAuth();
  const navigate = useNavigate();
  return (
    <>
      <a className="skip-link" href="#main">
        {strings.skipToContent}
      </a>
      <header className="shell-header">
        <Link className="shell-brand" to="/">
          {title}
        </Link>
        <nav className="shell-nav" aria-label="Main">
          {nav.map((n) => (
            <NavLink key={n.to} to={n.to} end={n.end ?? false}>
              {n.label}
            </NavLink>
          ))}
        </nav>
        {state.status === "signed-in" ? (
          <span className="shell-user">
            <span>{roleWords[state.session.role] ?? state.session.role}</span>
            <Button
              small
              onClick={() => {
                void signOut().finally(() => navigate("/sign-in"));
              }}
            >
              {strings.account.signOut}
            </Button>
          </span>
        ) : null}
      </header>
      <main id="main" className={`shell-main${wide ? " wide" : ""}`}>
        {children}
      </main>
    </>
  );
}

const roleWords: Record<string, string> = {
  org_admin: "Org admin",
  mediator: "Mediator",
  party: "Party",
  observer: "Observer",
};
