// The pages the mailed links open: `/password#token=…` (set up or reset a
// password; the token rides in the fragment, never sent to a server log) and
// `/password/reset` (ask for a reset link).

import { useMemo, useState, type FormEvent } from "react";
import { Link } from "react-router";
import { useAuth } from "../auth";
import { Alert, Button, ErrorAlert, PageTitle, TextField } from "../components";
import { toProblem, type Problem } from "../errors";
import { strings } from "../strings";

const t = strings.password;

/** The token in a `#token=…` fragment, or null. */
export function tokenFromHash(hash: string): string | null {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const token = params.get("token");
  return token && /^[A-Za-z0-9_-]{16,}$/.test(token) ? token : null;
}

export function SetPasswordPage({ signInPath = "/sign-in", otherSignIn }: { signInPath?: string; otherSignIn?: { href: string; label: string } }) {
  const { api } = useAuth();
  const token = useMemo(() => tokenFromHash(window.location.hash), []);
  const [password, setPassword] = useState("");
  const [repeat, setRepeat] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [mismatch, setMismatch] = useState(false);
  const [done, setDone] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!token) return;
    if (password !== repeat) {
      setMismatch(true);
      return;
    }
    setMismatch(false);
    setBusy(true);
    setProblem(null);
    try {
      await api.setPassword(token, password);
      // The token is spent: drop it from the address bar and history.
      history.replaceState(null, "", window.location.pathname);
      setDone(true);
    } catch (err) {
      setProblem(toProblem(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" className="page-narrow">
      <div className="card">
        <PageTitle>{t.setupTitle}</PageTitle>
        {!token && !done ? <Alert kind="warn">{t.noToken}</Alert> : null}
        {done ? (
          <>
            <Alert kind="ok" live>
              {t.done}
            </Alert>
            <div className="row">
              <Link className="btn btn-primary" to={signInPath}>
                {t.goSignIn}
              </Link>
              {otherSignIn ? (
                <a className="btn" href={otherSignIn.href}>
                  {otherSignIn.label}
                </a>
              ) : null}
            </div>
          </>
        ) : token ? (
          <form onSubmit={(e) => void submit(e)} noValidate>
            <ErrorAlert problem={problem} />
            <TextField
              label={t.newPassword}
              type="password"
              autoComplete="new-password"
              hint={t.hint}
              required
              value={password}
              error={problem?.field === "password" ? problem.message : undefined}
              onChange={(e) => setPassword(e.target.value)}
            />
            <TextField
              label={t.confirm}
              type="password"
              autoComplete="new-password"
              required
              value={repeat}
              error={mismatch ? t.mismatch : undefined}
              onChange={(e) => setRepeat(e.target.value)}
            />
            <Button type="submit" variant="primary" busy={busy}>
              {busy ? t.busy : t.submit}
            </Button>
          </form>
        ) : null}
      </div>
    </main>
  );
}

export function ResetPasswordPage({ signInPath = "/sign-in" }: { signInPath?: string }) {
  const { api } = useAuth();
  const [email, setEmail] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [sent, setSent] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      await api.requestReset(email.trim());
      setSent(true);
    } catch (err) {
      setProblem(toProblem(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" className="page-narrow">
      <div className="card">
        <PageTitle>{t.resetTitle}</PageTitle>
        {sent ? (
          <Alert kind="ok" live>
            {t.resetSent}
          </Alert>
        ) : (
          <form onSubmit={(e) => void submit(e)} noValidate>
            <p>{t.resetIntro}</p>
            <ErrorAlert problem={problem} />
            <TextField label={strings.signIn.email} type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
            <Button type="submit" variant="primary" busy={busy}>
              {t.resetSubmit}
            </Button>
          </form>
        )}
        <p>
          <Link to={signInPath}>{strings.signIn.back}</Link>
        </p>
      </div>
    </main>
  );
}
