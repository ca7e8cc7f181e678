// Who is signed in, for both portals: asked of `/auth/session` once, kept in
// a context, and refreshed after sign-in and sign-out. A page that needs a
// sign-in sends the browser to the sign-in page with `?next=` and back.

import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { Navigate, useLocation } from "react-router";
import { Api, type SignedIn } from "../api";
import { ErrorAlert, Loading, PageTitle } from "./components";
import { toProblem, type Problem } from "./errors";

export type Role = "org_admin" | "mediator" | "party" | "observer";

type AuthState =
  | { status: "loading" }
  | { status: "signed-out" }
  | { status: "error"; problem: Problem }
  | { status: "signed-in"; session: SignedIn & { role: Role } };

type AuthContext = {
  api: Api;
  state: AuthState;
  /** Asks the server again who is signed in. */
  refresh(): Promise<void>;
  /** Records a completed sign-in. */
  signedIn(session: SignedIn): void;
  signOut(): Promise<void>;
};

const Ctx = createContext<AuthContext | null>(null);

export function AuthProvider({ api, children }: { api: Api; children: ReactNode }) {
  const [state, setState] = useState<AuthState>({ status: "loading" });
  const refresh = useCallback(async () => {
    try {
      const s = await api.session();
      setState(s ? { status: "signed-in", session: s as SignedIn & { role: Role } } : { status: "signed-out" });
    } catch (e) {
      setState({ status: "error", problem: toProblem(e) });
    }
  }, [api]);
  useEffect(() => {
    void refresh();
  }, [refresh]);
  const value = useMemo<AuthContext>(
    () => ({
      api,
      state,
      refresh,
      signedIn: (session) => setState({ status: "signed-in", session: session as SignedIn & { role: Role } }),
      signOut: async () => {
        try {
          await api.signOut();
        } finally {
          setState({ status: "signed-out" });
        }
      },
    }),
    [api, state, refresh],
  );
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useAuth(): AuthContext {
  const c = useContext(Ctx);
  if (!c) throw new Error("useAuth outside AuthProvider");
  return c;
}

/** The signed-in session; only inside `RequireAuth`. */
export function useSession(): SignedIn & { role: Role } {
  const { state } = useAuth();
  if (state.status !== "signed-in") throw new Error("useSession outside RequireAuth");
  return state.session;
}

/** Where the sign-in page should send the browser back to (same origin, a path only). */
export function safeNext(next: string | null, fallback = "/"): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return fallback;
  return next;
}

/** Renders `children` for a signed-in viewer; otherwise sends them to sign in and back. */
export function RequireAuth({ children, signInPath = "/sign-in" }: { children: ReactNode; signInPath?: string }) {
  const { state, refresh } = useAuth();
  const location = useLocation();
  if (state.status === "loading") return <Loading />;
  if (state.status === "error") return <ErrorAlert problem={state.problem} onRetry={() => void refresh()} />;
  if (state.status === "signed-out") {
    const next = `${location.pathname}${location.search}${location.hash}`;
    return <Navigate to={`${signInPath}?next=${encodeURIComponent(next)}`} replace />;
  }
  return <>{children}</>;
}

/** Where people whose role belongs to the other portal are sent, in words. */
export type Elsewhere = { title: string; body: string; go: string; href: string };

/**
 * A signed-in page of a portal that serves only `roles`: anyone else is
 * told which portal is theirs (never a page whose every call is refused).
 */
export function RequireRole({ roles, elsewhere, children }: { roles: readonly Role[]; elsewhere: Elsewhere; children: ReactNode }) {
  return (
    <RequireAuth>
      <RoleGate roles={roles} elsewhere={elsewhere}>
        {children}
      </RoleGate>
    </RequireAuth>
  );
}

function RoleGate({ roles, elsewhere, children }: { roles: readonly Role[]; elsewhere: Elsewhere; children: ReactNode }) {
  const session = useSession();
  if (roles.includes(session.role)) return <>{children}</>;
  return (
    <main id="main" className="page-narrow">
      <div className="card">
        <PageTitle>{elsewhere.title}</PageTitle>
        <p>{elsewhere.body}</p>
        <a className="btn btn-primary" href={elsewhere.href}>
          {elsewhere.go}
        </a>
      </div>
    </main>
  );
}
