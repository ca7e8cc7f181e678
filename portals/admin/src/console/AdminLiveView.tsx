// What an org admin sees at a session's console address: they cannot join
// (only the case's mediator and the people on its case can), so instead of
// a Join button that would be refused, who is in the session now.

import { SessionSummary, live, useSessionInfo } from "@accord/shared";
import { ConsoleSessionLiveDocument, type ConsoleSessionLiveQuery } from "@accord/shared/gql";
import { Alert, ErrorAlert, Loading, PageTitle, formatTimeWithZone, toProblem } from "@accord/shared/ui";
import { useEffect } from "react";
import { Link } from "react-router";
import { useQuery } from "urql";
import { consoleStrings as t } from "./strings";

type LiveParticipant = NonNullable<ConsoleSessionLiveQuery["sessions"][number]["live"]>["participants"][number];

export function AdminLiveView({ sessionId }: { sessionId: string }) {
  const info = useSessionInfo(sessionId);
  const caseId = info.session?.caseId;
  const [result, reexecute] = useQuery({ query: ConsoleSessionLiveDocument, variables: { caseId: caseId ?? "" }, pause: !caseId, requestPolicy: "cache-and-network" });
  useEffect(() => {
    if (!caseId) return;
    const every = setInterval(() => reexecute({ requestPolicy: "network-only" }), 5000);
    return () => clearInterval(every);
  }, [reexecute, caseId]);
  const problem = result.error ? toProblem(result.error) : null;
  const data = result.data ? (result.data.sessions.find((s) => s.id.toLowerCase() === sessionId.toLowerCase())?.live ?? null) : undefined;
  const room = (p: LiveParticipant) => (p.roomKind === "MAIN" ? t.mainRoom : p.roomKind === "LOBBY" ? t.lobbyTitle : p.room);
  const row = (p: LiveParticipant) => (
    <li key={`${p.userId ?? p.displayName}`}>
      <strong>{p.displayName}</strong> ({t.roles[p.role] ?? p.role}) — {room(p)}
      {p.connected ? "" : ` — ${live.presence.reconnecting}`} <span className="muted">{t.since(formatTimeWithZone(p.joinedAt))}</span>
    </li>
  );
  return (
    <main id="main" className="live-prejoin">
      <PageTitle>{t.adminTitle}</PageTitle>
      {info.fetching ? <Loading /> : null}
      <ErrorAlert problem={info.problem} onRetry={info.retry} />
      <SessionSummary session={info.session} caseInfo={info.caseInfo} timeZone={info.timeZone} />
      <p>{t.adminBody}</p>
      <ErrorAlert problem={problem} onRetry={() => reexecute({ requestPolicy: "network-only" })} />
      {info.missing ? <Alert kind="error">{live.notFound}</Alert> : null}
      {data === undefined && !info.fetching && !problem && !info.problem && !info.missing ? <Loading /> : null}
      {data === null ? <p id="live-people">{t.adminNotLive}</p> : null}
      {data ? (
        <section aria-labelledby="live-now" id="live-people">
          <h2 id="live-now">{t.adminLiveTitle}</h2>
          <ul>{data.participants.map(row)}</ul>
          {data.lobby.length ? (
            <>
              <h3>{t.adminLobby}</h3>
              <ul>{data.lobby.map(row)}</ul>
            </>
          ) : null}
        </section>
      ) : null}
      {info.session ? <Link to={`/cases/${info.session.caseId}`}>{t.backToCase}</Link> : null}
    </main>
  );
}
