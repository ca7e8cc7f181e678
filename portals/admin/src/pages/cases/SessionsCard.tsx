import { CancelSessionDocument, RescheduleSessionDocument, ScheduleSessionDocument } from "@accord/shared/gql";
import { Badge, Card, ConfirmButton, Empty, ErrorAlert, toProblem, type Problem, type Role } from "@accord/shared/ui";
import { useState } from "react";
import { Link } from "react-router";
import { useMutation } from "urql";
import { t } from "../../strings";
import type { CaseData } from "../CaseDetail";
import { useViewerZone } from "../common/hooks";
import { can } from "../common/permissions";
import { zoneLabel } from "@accord/shared/ui";
import { sessionTimes, splitLocal, type Attendee } from "../common/time";
import { sessionBadge } from "./badges";
import { ScheduleForm, type Plan, type PlanInput } from "./ScheduleForm";
import { takesSessions } from "./status";

const s = t.pages.caseDetail;

type Props = { c: CaseData; role: Role; viewerId: string; onNotice: (n: string) => void };
type SessionItem = CaseData["sessions"][number];

/** Who takes part, with the zone known for the viewer only (others' zones are not shared). */
function attendeesOf(c: CaseData, viewerId: string, viewerZone: string): Attendee[] {
  const list: Attendee[] = [];
  const m = c.mediator?.user;
  if (m) list.push({ name: `${m.displayName} (${t.pages.role.MEDIATOR.toLowerCase()})`, timeZone: m.id === viewerId ? viewerZone : null });
  for (const p of c.parties) list.push({ name: `${p.displayName} (${t.pages.partyKind[p.kind].toLowerCase()})`, timeZone: p.userId === viewerId ? viewerZone : null });
  return list;
}

function tomorrowInput(zone: string): PlanInput {
  const { date } = splitLocal(new Date(Date.now() + 86_400_000).toISOString(), zone);
  return { date, time: "10:00", zone, duration: 90 };
}

export function SessionsCard({ c, role, viewerId, onNotice }: Props) {
  const viewerZone = useViewerZone();
  const maySchedule = can(role, "scheduleSession");
  const active = takesSessions(c.status);
  const [, schedule] = useMutation(ScheduleSessionDocument);
  const attendees = attendeesOf(c, viewerId, viewerZone);

  const submitNew = async (plan: Plan): Promise<Problem | null> => {
    const r = await schedule({ input: { caseId: c.id, ...plan } });
    if (r.error) return toProblem(r.error);
    onNotice(s.scheduled);
    return null;
  };

  return (
    <Card title={s.sessions}>
      {c.sessions.length === 0 ? (
        <Empty>{s.sessionsNone}</Empty>
      ) : (
        <table className="data">
          <thead>
            <tr>
              <th scope="col">{s.colWhen}</th>
              <th scope="col">{s.colLength}</th>
              <th scope="col">{s.colStatus}</th>
              <th scope="col">{s.colActions}</th>
            </tr>
          </thead>
          <tbody>
            {c.sessions.map((x) => (
              <SessionRows key={x.id} x={x} role={role} mayMove={maySchedule && active} mayCancel={maySchedule} viewerZone={viewerZone} attendees={attendees} onNotice={onNotice} />
            ))}
          </tbody>
        </table>
      )}
      {maySchedule && !active ? <p className="muted">{s.sessionsClosed}</p> : null}
      {maySchedule && active ? (
        <section className="inline-form" aria-labelledby="schedule-session">
          <h3 id="schedule-session">{s.schedule}</h3>
          <ScheduleForm key={viewerZone} initial={tomorrowInput(viewerZone)} viewerZone={viewerZone} attendees={attendees} submitLabel={s.scheduleSubmit} onSubmit={submitNew} />
        </section>
      ) : null}
    </Card>
  );
}

function SessionRows({
  x,
  role,
  mayMove,
  mayCancel,
  viewerZone,
  attendees,
  onNotice,
}: {
  x: SessionItem;
  role: Role;
  /** Moving needs a case that still takes sessions; cancelling does not. */
  mayMove: boolean;
  mayCancel: boolean;
  viewerZone: string;
  attendees: Attendee[];
  onNotice: (n: string) => void;
}) {
  const [editing, setEditing] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [, reschedule] = useMutation(RescheduleSessionDocument);
  const [{ fetching: cancelling }, cancel] = useMutation(CancelSessionDocument);
  const when = sessionTimes(x.startsAt, x.endsAt, x.timeZone, viewerZone);
  const scheduled = x.status === "SCHEDULED";

  const submitMove = async (plan: Plan): Promise<Problem | null> => {
    const r = await reschedule({ input: { id: x.id, ...plan } });
    if (r.error) return toProblem(r.error);
    onNotice(s.rescheduled);
    setEditing(false);
    return null;
  };
  const doCancel = async () => {
    setProblem(null);
    const r = await cancel({ id: x.id });
    if (r.error) setProblem(toProblem(r.error));
    else onNotice(s.cancelled);
  };

  return (
    <>
      <tr>
        <td data-label={s.colWhen}>
          <div>{when.viewer}</div>
          {when.planned ? <div className="muted">{`${s.colPlanned}: ${when.planned}`}</div> : <div className="muted">{zoneLabel(x.timeZone)}</div>}
        </td>
        <td data-label={s.colLength}>{s.minutes(x.durationMinutes)}</td>
        <td data-label={s.colStatus}>
          {sessionBadge(x.status)}
          {x.live ? (
            <div>
              <Badge kind="ok">{s.liveNow}</Badge> <span className="muted">{s.liveCounts(x.live.participants.length, x.live.lobby.length)}</span>
            </div>
          ) : null}
        </td>
        <td data-label={s.colActions}>
          <div className="row">
            {scheduled && role === "mediator" ? (
              <Link className="btn btn-small btn-primary" to={`/sessions/${x.id}`}>
                {t.pages.dashboard.openConsole}
              </Link>
            ) : null}
            {scheduled && mayMove ? (
              <button type="button" className="btn btn-small" aria-expanded={editing} aria-label={s.rescheduleLabel(when.viewer)} onClick={() => setEditing((e) => !e)}>
                {s.reschedule}
              </button>
            ) : null}
            {scheduled && mayCancel ? (
              <ConfirmButton label={s.cancelSessionLabel(when.viewer)} question={s.cancelQuestion} confirm={s.cancelConfirm} cancel={s.keep} busy={cancelling} onConfirm={doCancel}>
                {s.cancelSession}
              </ConfirmButton>
            ) : null}
          </div>
          <ErrorAlert problem={problem} />
        </td>
      </tr>
      {editing && mayMove ? (
        <tr>
          <td colSpan={4}>
            <section aria-label={s.rescheduleLabel(when.viewer)}>
              <h4>{s.rescheduleTitle}</h4>
              <ScheduleForm
                initial={{ ...splitLocal(x.startsAt, x.timeZone), zone: x.timeZone, duration: x.durationMinutes }}
                viewerZone={viewerZone}
                attendees={attendees}
                submitLabel={s.rescheduleSubmit}
                onSubmit={submitMove}
                onCancel={() => setEditing(false)}
              />
            </section>
          </td>
        </tr>
      ) : null}
    </>
  );
}
