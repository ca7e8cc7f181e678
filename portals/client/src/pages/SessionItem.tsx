// One session in a list: when (in the viewer's zone, and as planned when that
// differs), its case and mediator where the list spans cases, and the way in:
// a Join link from 15 minutes before the start to the end.

import { Badge } from "@accord/shared/ui";
import type { SessionStatus } from "@accord/shared/gql";
import { Link } from "react-router";
import { t } from "../strings";
import { canJoin, formatSessionTime, joinState, minutesUntil, plannedTime } from "./sessionTiming";

export type SessionLike = {
  id: string;
  startsAt: string;
  endsAt: string;
  timeZone: string;
  status: SessionStatus;
  case?: { id: string; reference: string; title: string; mediator: { user: { displayName: string } } | null };
};

export function SessionItem({ session, zone, now, caseReference }: { session: SessionLike; zone: string; now: number; caseReference?: string }) {
  const state = joinState(session, now);
  const when = formatSessionTime(session, zone);
  const planned = plannedTime(session, zone);
  const c = session.case;
  return (
    <li className="session-item">
      <div className="session-main">
        <p className="session-when">
          <strong>{when}</strong>
          {planned ? <span className="muted session-planned">{t.sessions.planned(planned)}</span> : null}
        </p>
        {c ? (
          <>
            <p className="session-case">
              <Link to={`/cases/${c.id}`}>{c.reference}</Link> <span>{c.title}</span>
            </p>
            <p className="muted">
              {t.sessions.mediator}: {c.mediator ? c.mediator.user.displayName : t.sessions.noMediator}
            </p>
          </>
        ) : null}
      </div>
      <div className="session-action">
        {state === "cancelled" ? (
          <Badge kind="danger">{t.sessions.state.CANCELLED}</Badge>
        ) : state === "over" ? (
          <Badge>{t.sessions.state.COMPLETED}</Badge>
        ) : (
          <>
            {state === "live" ? <Badge kind="ok">{t.sessions.live}</Badge> : state === "soon" ? <Badge kind="warn">{t.sessions.startsIn(minutesUntil(session, now))}</Badge> : null}
            {canJoin(state) ? (
              <Link className="btn btn-primary" to={`/sessions/${session.id}`}>
                {t.sessions.join}
                <span className="visually-hidden">{t.sessions.joinContext(when, c?.reference ?? caseReference)}</span>
              </Link>
            ) : (
              <span className="muted">{t.sessions.opensLater}</span>
            )}
            <a className="btn" href={`/sessions/${session.id}/calendar.ics`} download>
              {t.availability.addToCalendar}
              <span className="visually-hidden">{t.availability.calendarContext(when, c?.reference ?? caseReference)}</span>
            </a>
          </>
        )}
      </div>
    </li>
  );
}
