// The client portal's start page: the viewer's upcoming sessions (with the
// way in when one opens), their cases, and a camera and microphone test.

import { DeviceCheck } from "@accord/shared";
import { ClientHomeDocument } from "@accord/shared/gql";
import { Button, Card, Empty, ErrorAlert, Loading, PageTitle, toProblem, useAuth, viewerTimeZone, zoneLabel } from "@accord/shared/ui";
import { useEffect, useMemo, useState } from "react";
import { Link } from "react-router";
import { useQuery } from "urql";
import { t } from "../strings";
import { CaseStatusBadge } from "./CaseStatusBadge";
import "./pages.css";
import { SessionItem } from "./SessionItem";
import { displayZone, LONGEST_SESSION_MS, upcoming } from "./sessionTiming";
import { useNow } from "./useNow";

const REFRESH_MS = 2 * 60_000;

export function HomePage() {
  const now = useNow();
  const { refresh } = useAuth();
  // Fixed for the page's life: a new `from` on every tick would fetch again.
  const [from] = useState(() => new Date(Date.now() - LONGEST_SESSION_MS).toISOString());
  const [{ data, fetching, error }, refetch] = useQuery({ query: ClientHomeDocument, variables: { from } });
  const problem = error ? toProblem(error) : null;

  // A session moved or cancelled while the page is open shows within two minutes.
  useEffect(() => {
    const timer = setInterval(() => refetch({ requestPolicy: "network-only" }), REFRESH_MS);
    return () => clearInterval(timer);
  }, [refetch]);

  useEffect(() => {
    // A sign-in that ended: ask again who is signed in, which sends the page to sign-in.
    if (problem?.code === "UNAUTHENTICATED") void refresh();
  }, [problem?.code, refresh]);

  const zone = displayZone(data?.viewer.timeZone, viewerTimeZone());
  const sessions = useMemo(() => (data ? upcoming(data.sessions, now) : []), [data, now]);
  const retry = () => refetch({ requestPolicy: "network-only" });

  return (
    <>
      <PageTitle>{t.home.title}</PageTitle>
      {fetching && !data ? <Loading /> : null}
      <ErrorAlert problem={problem} onRetry={retry} />
      {data ? (
        <>
          <p className="muted">{t.home.timesIn(zoneLabel(zone))}</p>
          <Card title={t.home.upcoming}>
            {sessions.length === 0 ? (
              <Empty>{t.home.noUpcoming}</Empty>
            ) : (
              <ul className="session-list" aria-label={t.home.upcoming}>
                {sessions.map((s) => (
                  <SessionItem key={s.id} session={s} zone={zone} now={now} />
                ))}
              </ul>
            )}
          </Card>
          <Card title={t.home.cases}>
            {data.cases.edges.length === 0 ? (
              <Empty>{t.home.noCases}</Empty>
            ) : (
              <>
                <table className="data">
                  <caption className="visually-hidden">{t.home.cases}</caption>
                  <thead>
                    <tr>
                      <th scope="col">{t.caseDetail.reference}</th>
                      <th scope="col">{t.sessions.caseColumn}</th>
                      <th scope="col">{t.caseDetail.status}</th>
                      <th scope="col">{t.caseDetail.mediator}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.cases.edges.map(({ node: c }) => (
                      <tr key={c.id}>
                        <td data-label={t.caseDetail.reference}>
                          <Link to={`/cases/${c.id}`}>{c.reference}</Link>
                        </td>
                        <td data-label={t.sessions.caseColumn}>{c.title}</td>
                        <td data-label={t.caseDetail.status}>
                          <CaseStatusBadge status={c.status} />
                        </td>
                        <td data-label={t.caseDetail.mediator}>{c.mediator ? c.mediator.user.displayName : t.sessions.noMediator}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
                {data.cases.pageInfo.hasNextPage ? <p className="muted">{t.home.moreCases}</p> : null}
              </>
            )}
          </Card>
        </>
      ) : null}
      <DeviceTest />
    </>
  );
}

/** The device check on request: it asks for the camera and microphone only when the person wants to test them. */
function DeviceTest() {
  const [open, setOpen] = useState(false);
  return (
    <Card title={t.home.devices}>
      {open ? (
        <div className="stack">
          <DeviceCheck headingLevel={3} />
          <Button onClick={() => setOpen(false)}>{t.home.devicesDone}</Button>
        </div>
      ) : (
        <div className="stack">
          <p>{t.home.devicesIntro}</p>
          <Button variant="primary" onClick={() => setOpen(true)}>
            {t.home.devicesStart}
          </Button>
        </div>
      )}
    </Card>
  );
}
