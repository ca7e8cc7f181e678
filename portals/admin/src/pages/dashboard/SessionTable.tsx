import type { SessionsBetweenQuery } from "@accord/shared/gql";
import { Link } from "react-router";
import { t } from "../../strings";
import { sessionBadge } from "../cases/badges";
import { sessionTimes } from "../common/time";

const s = t.pages.dashboard;

export type SessionItem = SessionsBetweenQuery["sessions"][number];

/** Sessions with their case and mediator; for mediators (their own sessions) the way into the console instead of their own name. */
export function SessionTable({ sessions, viewerZone, consoleLinks }: { sessions: SessionItem[]; viewerZone: string; consoleLinks: boolean }) {
  const showMediator = !consoleLinks;
  return (
    <table className="data">
      <thead>
        <tr>
          <th scope="col">{s.colWhen}</th>
          <th scope="col">{s.colCase}</th>
          {showMediator ? <th scope="col">{s.colMediator}</th> : null}
          <th scope="col">{s.colStatus}</th>
          {consoleLinks ? <th scope="col">{s.colRoom}</th> : null}
        </tr>
      </thead>
      <tbody>
        {sessions.map((x) => {
          const when = sessionTimes(x.startsAt, x.endsAt, x.timeZone, viewerZone);
          return (
            <tr key={x.id}>
              <td data-label={s.colWhen}>
                <div>{when.viewer}</div>
                {when.planned ? <div className="muted">{when.planned}</div> : null}
              </td>
              <td data-label={s.colCase}>
                <Link to={`/cases/${x.case.id}`}>{x.case.reference}</Link> · {x.case.title}
              </td>
              {showMediator ? <td data-label={s.colMediator}>{x.case.mediator?.user.displayName ?? <span className="muted">{s.noMediator}</span>}</td> : null}
              <td data-label={s.colStatus}>{sessionBadge(x.status)}</td>
              {consoleLinks ? (
                <td data-label={s.colRoom}>
                  {x.status === "SCHEDULED" ? (
                    <Link className="btn btn-small btn-primary" to={`/sessions/${x.id}`} aria-label={s.openConsoleFor(x.case.reference)}>
                      {s.openConsole}
                    </Link>
                  ) : null}
                </td>
              ) : null}
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
