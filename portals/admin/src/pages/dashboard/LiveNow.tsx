// The sessions live now, asked again every 10 seconds: who is in them, who
// waits in the lobby and since when. Org admins see but do not join.

import { LiveNowDocument, type LiveNowQuery } from "@accord/shared/gql";
import { Badge, Card, Empty, ErrorAlert, formatDuration, Loading, toProblem } from "@accord/shared/ui";
import { useEffect } from "react";
import { Link } from "react-router";
import { useQuery } from "urql";
import { t } from "../../strings";
import { useNow } from "../common/hooks";

const s = t.pages.dashboard;
const POLL_MS = 10_000;

type Live = LiveNowQuery["liveSessions"][number];

export function LiveNow({ canJoin }: { canJoin: boolean }) {
  const [{ data, fetching, error }, refetch] = useQuery({ query: LiveNowDocument, requestPolicy: "network-only" });
  useEffect(() => {
    const id = setInterval(() => refetch({ requestPolicy: "network-only" }), POLL_MS);
    return () => clearInterval(id);
  }, [refetch]);
  const now = useNow(1000 * 15);
  const list = data?.liveSessions ?? [];
  return (
    <Card title={s.live}>
      <p className="muted">
        {s.liveRefreshed} {canJoin ? null : s.noAdminJoin}
      </p>
      {error ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {!data && fetching ? <Loading /> : null}
      {data && list.length === 0 ? <Empty>{s.liveNone}</Empty> : null}
      {list.length > 0 ? (
        <ul className="live-list">
          {list.map((l) => (
            <LiveItem key={l.sessionId} l={l} now={now} canJoin={canJoin} />
          ))}
        </ul>
      ) : null}
    </Card>
  );
}

function LiveItem({ l, now, canJoin }: { l: Live; now: number; canJoin: boolean }) {
  const c = l.session.case;
  const since = (iso: string) => formatDuration(now - Date.parse(iso));
  return (
    <li>
      <div className="spread">
        <strong>
          <Link to={`/cases/${c.id}`}>{c.reference}</Link> · {c.title}
        </strong>
        <Badge kind="ok">{s.liveFor(since(l.startedAt))}</Badge>
      </div>
      <p className="muted">{s.inSession(l.participants.length)}</p>
      {l.participants.length > 0 ? (
        <ul className="people">
          {l.participants.map((p, i) => (
            <li key={p.userId ?? `p${i}`}>
              {p.displayName} ({p.role}
              {p.roomKind === "CAUCUS" ? `, ${p.room}` : ""}){p.connected ? "" : ` · ${s.reconnecting}`}
            </li>
          ))}
        </ul>
      ) : null}
      <p className={l.lobby.length > 0 ? "" : "muted"}>
        {l.lobby.length > 0 ? <strong>{s.lobbyWaiting(l.lobby.length)}</strong> : s.lobbyEmpty}
      </p>
      {l.lobby.length > 0 ? (
        <ul className="people">
          {l.lobby.map((p, i) => (
            <li key={p.userId ?? `l${i}`}>{s.waitingFor(p.displayName, since(p.joinedAt))}</li>
          ))}
        </ul>
      ) : null}
      {canJoin ? (
        <Link className="btn btn-primary btn-small" to={`/sessions/${l.sessionId}`} aria-label={s.openConsoleFor(c.reference)}>
          {s.openConsole}
        </Link>
      ) : null}
    </li>
  );
}
