// The invite landing page, `/invite#token=…`: the link a person gets by mail.
// It makes this browser's device key (non-extractable P-256, kept in
// IndexedDB), redeems the link with the key's public half, and lands on the
// person's case, signed in without a password. A link that cannot be used
// (spent, expired, replaced, of another device, invalid) gets a page that
// says so and what to do. The token leaves the address bar at once.

import { DeviceKey } from "@accord/shared";
import { Alert, ErrorAlert, Loading, PageTitle, toProblem, useAuth, type Problem } from "@accord/shared/ui";
import { useEffect, useRef, useState } from "react";
import { Link, useNavigate } from "react-router";
import { t } from "../../strings";
import { redeemInvite, tokenFromHash, type RedeemResult, type RefusalReason } from "./redeem";

// One redemption per token and attempt, whatever React does with effects
// (StrictMode runs them twice): a link is single-use, a second request would
// be refused as spent.
const attempts = new Map<string, Promise<RedeemResult>>();

type State = { kind: "working" } | { kind: "refused"; reason: RefusalReason } | { kind: "error"; problem: Problem };

export function InvitePage() {
  const s = t.invite;
  const { signedIn } = useAuth();
  const navigate = useNavigate();
  // The latest of each, without making the redemption effect run again when
  // signing in changes them.
  const done = useRef({ signedIn, navigate });
  done.current = { signedIn, navigate };
  const [token] = useState(() => tokenFromHash(window.location.hash));
  const [attempt, setAttempt] = useState(0);
  const [state, setState] = useState<State>(() => (token ? { kind: "working" } : { kind: "refused", reason: "INVALID" }));

  useEffect(() => {
    // The token is a credential: keep it out of the address bar and history.
    if (window.location.hash) window.history.replaceState(window.history.state, "", window.location.pathname + window.location.search);
  }, []);

  useEffect(() => {
    if (!token) return;
    let live = true;
    const key = `${token}:${attempt}`;
    let pending = attempts.get(key);
    if (!pending) {
      pending = DeviceKey.load().then((device) => redeemInvite(token, device.publicJwk));
      attempts.set(key, pending);
    }
    pending.then(
      (result) => {
        if (!live) return;
        if (result.ok) {
          done.current.signedIn(result.session);
          done.current.navigate(`/cases/${result.session.caseId}`, { replace: true });
        } else {
          setState({ kind: "refused", reason: result.reason });
        }
      },
      (e: unknown) => {
        if (live) setState({ kind: "error", problem: toProblem(e) });
      },
    );
    return () => {
      live = false;
    };
  }, [token, attempt]);

  return (
    <main id="main" className="page-narrow">
      <div className="card">
        {state.kind === "refused" ? (
          <>
            <PageTitle>{s.refusedTitle}</PageTitle>
            <Alert kind="warn">
              <p>{s.reasons[state.reason]}</p>
              <p>{s.askAgain}</p>
            </Alert>
            <p>
              <Link to="/sign-in">{s.signIn}</Link>
            </p>
          </>
        ) : (
          <>
            <PageTitle>{s.title}</PageTitle>
            {state.kind === "working" ? (
              <>
                <Loading label={s.working} />
                <p className="muted">{s.workingHint}</p>
              </>
            ) : (
              <ErrorAlert
                problem={state.problem}
                onRetry={() => {
                  setState({ kind: "working" });
                  setAttempt((n) => n + 1);
                }}
              />
            )}
          </>
        )}
      </div>
    </main>
  );
}
