// The account page of both portals: who is signed in, TOTP enrolment with a
// QR code and the recovery codes shown once, turning TOTP off, signing out
// here or everywhere.

import QRCode from "qrcode";
import { useEffect, useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { useQuery } from "urql";
import { ViewerDocument } from "../../gql/graphql";
import { useAuth } from "../auth";
import { Alert, Button, Card, ErrorAlert, Loading, PageTitle, TextField } from "../components";
import { toProblem, type Problem } from "../errors";
import { strings } from "../strings";
import { AccountPreferences } from "./AccountPreferences";

const t = strings.account;

type Enrolment = { secret: string; otpauthUri: string; qr: string };

export function AccountPage({ signInPath = "/sign-in" }: { signInPath?: string }) {
  const { api, signOut } = useAuth();
  const navigate = useNavigate();
  const [{ data, fetching, error }, refetch] = useQuery({ query: ViewerDocument });
  const [enrolment, setEnrolment] = useState<Enrolment | null>(null);
  const [code, setCode] = useState("");
  const [codes, setCodes] = useState<string[] | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const run = async (what: string, f: () => Promise<void>) => {
    setBusy(what);
    setProblem(null);
    setNotice(null);
    try {
      await f();
    } catch (e) {
      setProblem(toProblem(e));
    } finally {
      setBusy(null);
    }
  };

  const start = () =>
    run("enrol", async () => {
      const s = await api.totpSetup();
      const qr = await QRCode.toDataURL(s.otpauthUri, { margin: 1, width: 192 });
      setEnrolment({ ...s, qr });
      setCode("");
    });
  const confirm = (e: FormEvent) => {
    e.preventDefault();
    void run("confirm", async () => {
      setCodes(await api.totpConfirm(code.trim()));
      setEnrolment(null);
      setCode("");
      refetch({ requestPolicy: "network-only" });
    });
  };
  const disable = (e: FormEvent) => {
    e.preventDefault();
    void run("disable", async () => {
      await api.totpDisable(code.trim());
      setCode("");
      setNotice(t.disabled);
      refetch({ requestPolicy: "network-only" });
    });
  };

  useEffect(() => {
    if (error && toProblem(error).code === "UNAUTHENTICATED") navigate(signInPath);
  }, [error, navigate, signInPath]);

  if (fetching && !data) return <Loading />;
  if (error && !data) return <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} />;
  const viewer = data?.viewer;
  if (!viewer) return <Loading />;

  return (
    <>
      <PageTitle>{t.title}</PageTitle>
      <p>{t.signedInAs(viewer.user.displayName, viewer.organization.name)}</p>
      <ErrorAlert problem={problem} />
      {notice ? (
        <Alert kind="ok" live>
          {notice}
        </Alert>
      ) : null}
      <Card title={t.twoFactor}>
        {codes ? (
          <div className="stack">
            <h3>{t.recoveryTitle}</h3>
            <p>{t.recoveryIntro}</p>
            <ul className="codes" aria-label={t.recoveryTitle}>
              {codes.map((c) => (
                <li key={c}>{c}</li>
              ))}
            </ul>
            <Button variant="primary" onClick={() => setCodes(null)}>
              {t.recoveryDone}
            </Button>
          </div>
        ) : enrolment ? (
          <form className="stack" onSubmit={confirm}>
            <p>{t.scan}</p>
            <img className="qr" src={enrolment.qr} alt={t.qrAlt} width={192} height={192} />
            <p>
              {t.secret}: <code data-testid="totp-secret">{enrolment.secret}</code>
            </p>
            <TextField label={t.confirmCode} inputMode="numeric" autoComplete="one-time-code" maxLength={6} required value={code} onChange={(e) => setCode(e.target.value)} />
            <Button type="submit" variant="primary" busy={busy === "confirm"}>
              {t.confirm}
            </Button>
          </form>
        ) : viewer.totpEnabled ? (
          <form className="stack" onSubmit={disable}>
            <p>{t.twoFactorOn}</p>
            <TextField label={t.disableCode} inputMode="numeric" autoComplete="one-time-code" maxLength={6} required value={code} onChange={(e) => setCode(e.target.value)} />
            <Button type="submit" variant="danger" busy={busy === "disable"}>
              {t.disable}
            </Button>
          </form>
        ) : (
          <div className="stack">
            <p>{t.twoFactorOff}</p>
            <Button variant="primary" busy={busy === "enrol"} onClick={() => void start()}>
              {t.enrol}
            </Button>
          </div>
        )}
      </Card>
      <AccountPreferences />
      <Card title={t.signOut}>
        <div className="row">
          <Button
            busy={busy === "out"}
            onClick={() =>
              void run("out", async () => {
                await signOut();
                navigate(signInPath);
              })
            }
          >
            {t.signOut}
          </Button>
          <Button
            variant="danger"
            busy={busy === "everywhere"}
            aria-describedby="everywhere-hint"
            onClick={() =>
              void run("everywhere", async () => {
                await api.signOutEverywhere();
                await signOut().catch(() => undefined);
                navigate(signInPath);
              })
            }
          >
            {t.signOutEverywhere}
          </Button>
        </div>
        <p id="everywhere-hint" className="muted">
          {t.signOutEverywhereHint}
        </p>
      </Card>
    </>
  );
}
