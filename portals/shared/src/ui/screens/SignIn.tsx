// Sign-in: email and password, then the TOTP step when the account has it (a
// recovery code as the alternative), SSO when the deployment offers it, and
// lock-outs and rate limits shown with the wait.

import { useEffect, useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { ApiError } from "../../api";
import { useAuth, safeNext } from "../auth";
import { Alert, Button, ErrorAlert, PageTitle, TextField } from "../components";
import { toProblem, type Problem } from "../errors";
import { strings } from "../strings";

const t = strings.signIn;

/**
 * `sso`: offer "sign in with your organisation's SSO" when the deployment has
 * it (staff only: the admin portal).
 */
export function SignInPage({ home = "/", sso: offerSso = false, note }: { home?: string; sso?: boolean; note?: string }) {
  const { api, signedIn, state } = useAuth();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const next = safeNext(params.get("next"), home);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [org, setOrg] = useState("");
  const [step, setStep] = useState<"password" | "totp" | "recovery">("password");
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [needOrg, setNeedOrg] = useState(false);
  const [sso, setSso] = useState(false);

  useEffect(() => {
    let live = true;
    if (offerSso) void api.options().then((o) => live && setSso(o.oidc));
    return () => {
      live = false;
    };
  }, [api, offerSso]);

  useEffect(() => {
    if (state.status === "signed-in") navigate(next, { replace: true });
  }, [state.status, navigate, next]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      const extra: { org?: string; totpCode?: string; recoveryCode?: string } = {};
      if (org.trim()) extra.org = org.trim();
      if (step === "totp") extra.totpCode = code.trim();
      if (step === "recovery") extra.recoveryCode = code.trim();
      const s = await api.signIn(email.trim(), password, extra);
      signedIn(s);
      navigate(next, { replace: true });
    } catch (err) {
      if (err instanceof ApiError && err.code === "BAD_USER_INPUT" && err.field === "totpCode" && step === "password") {
        setStep("totp");
        setCode("");
      } else if (err instanceof ApiError && err.code === "BAD_USER_INPUT" && err.field === "org") {
        setNeedOrg(true);
        setProblem(toProblem(err));
      } else {
        setProblem(toProblem(err));
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" className="page-narrow">
      <div className="card">
        <PageTitle>{step === "password" ? t.title : t.totpTitle}</PageTitle>
        {note ? <p className="muted">{note}</p> : null}
        <ErrorAlert problem={problem} />
        <form onSubmit={(e) => void submit(e)} noValidate>
          {step === "password" ? (
            <>
              <TextField label={t.email} type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
              <TextField
                label={t.password}
                type="password"
                autoComplete="current-password"
                required
                value={password}
                onChange={(e) => setPassword(e.target.value)}
              />
              {needOrg ? <TextField label={t.org} hint={t.orgHint} value={org} onChange={(e) => setOrg(e.target.value)} /> : null}
              <div className="row">
                <Button type="submit" variant="primary" busy={busy}>
                  {busy ? t.busy : t.submit}
                </Button>
                <Link to="/password/reset">{t.forgot}</Link>
              </div>
            </>
          ) : (
            <>
              {step === "totp" ? (
                <TextField
                  label={t.totpCode}
                  inputMode="numeric"
                  autoComplete="one-time-code"
                  pattern="[0-9]*"
                  maxLength={6}
                  required
                  autoFocus
                  value={code}
                  onChange={(e) => setCode(e.target.value)}
                />
              ) : (
                <TextField label={t.recoveryCode} autoComplete="off" required autoFocus value={code} onChange={(e) => setCode(e.target.value)} />
              )}
              <div className="row">
                <Button type="submit" variant="primary" busy={busy}>
                  {t.verify}
                </Button>
                <Button onClick={() => setStep(step === "totp" ? "recovery" : "totp")}>{step === "totp" ? t.useRecovery : t.useTotp}</Button>
                <Button
                  onClick={() => {
                    setStep("password");
                    setProblem(null);
                  }}
                >
                  {t.back}
                </Button>
              </div>
            </>
          )}
        </form>
        {sso && step === "password" ? (
          <>
            <hr />
            {/* A full navigation: the identity provider takes over the page. */}
            <a className="btn" href={`/auth/oidc/start${org.trim() ? `?org=${encodeURIComponent(org.trim())}` : ""}`}>
              {t.sso}
            </a>
          </>
        ) : null}
      </div>
      {state.status === "error" ? <Alert kind="warn">{state.problem.message}</Alert> : null}
    </main>
  );
}
