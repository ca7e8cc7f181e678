// The slot finder on the case page (case's mediator and org admins): who has
// given availability, the earliest times common to everyone who has, shown
// on the viewer's clock with each person's own, and "Schedule this slot",
// which books the session through scheduleSession like the form below it.

import { ProposeSlotsDocument, ScheduleSessionDocument } from "@accord/shared/gql";
import { Badge, Button, Card, Empty, ErrorAlert, Loading, SelectField, toProblem, useSession, type Problem, type Role } from "@accord/shared/ui";
import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { t } from "../../strings";
import { useViewerZone } from "../common/hooks";
import { formatSpan, formatZoned } from "../common/time";
import type { CaseData } from "../CaseDetail";
import { MyAvailabilityCard } from "./MyAvailabilityCard";
import "./slots.css";

const s = t.slots;
const DURATIONS = [30, 45, 60, 90, 120, 180, 240];
const RANGES = [7, 14, 30, 60, 90];
const DAY = 24 * 60 * 60 * 1000;

type Search = { from: string; to: string; durationMinutes: number };

function searchFor(durationMinutes: number, days: number, now = Date.now()): Search {
  return { from: new Date(now).toISOString(), to: new Date(now + days * DAY).toISOString(), durationMinutes };
}

type Props = { c: CaseData; role: Role; onNotice: (n: string) => void };

export function SlotFinder({ c, role, onNotice }: Props) {
  if (role !== "org_admin" && role !== "mediator") return null;
  return <Finder c={c} onNotice={onNotice} />;
}

function Finder({ c, onNotice }: { c: CaseData; onNotice: (n: string) => void }) {
  const viewerZone = useViewerZone();
  const session = useSession();
  const [duration, setDuration] = useState(60);
  const [days, setDays] = useState(14);
  const [search, setSearch] = useState<Search>(() => searchFor(60, 14));
  const [{ data, fetching, error }, refetch] = useQuery({ query: ProposeSlotsDocument, variables: { caseId: c.id, ...search, first: 8 }, requestPolicy: "network-only" });
  const [{ fetching: scheduling }, schedule] = useMutation(ScheduleSessionDocument);
  const [problem, setProblem] = useState<Problem | null>(null);

  const find = (e: FormEvent) => {
    e.preventDefault();
    setSearch(searchFor(duration, days));
  };

  const book = async (startsAt: string) => {
    setProblem(null);
    const result = await schedule({ input: { caseId: c.id, startsAt, timeZone: viewerZone, durationMinutes: search.durationMinutes } });
    if (result.error) {
      setProblem(toProblem(result.error));
      return;
    }
    onNotice(s.scheduled);
    refetch({ requestPolicy: "network-only" });
  };

  const proposal = data?.proposeSlots;
  const answered = proposal?.participants.filter((p) => p.hasGivenAvailability) ?? [];
  return (
    <Card title={s.title}>
      <p>{s.intro}</p>
      {c.mediator?.user.id === session.userId ? <MyAvailabilityCard caseId={c.id} onChange={() => refetch({ requestPolicy: "network-only" })} /> : null}
      <form onSubmit={find} noValidate>
        <div className="form-grid">
          <SelectField label={s.duration} value={String(duration)} onChange={(e) => setDuration(Number(e.target.value))}>
            {DURATIONS.map((m) => (
              <option key={m} value={m}>
                {s.durationMinutes(m)}
              </option>
            ))}
          </SelectField>
          <SelectField label={s.within} value={String(days)} onChange={(e) => setDays(Number(e.target.value))}>
            {RANGES.map((d) => (
              <option key={d} value={d}>
                {s.withinDays(d)}
              </option>
            ))}
          </SelectField>
        </div>
        <Button type="submit" busy={fetching}>
          {s.find}
        </Button>
      </form>
      {error ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      <ErrorAlert problem={problem} />
      {!proposal && fetching ? <Loading label={s.loading} /> : null}
      {proposal ? (
        <>
          <h3>{s.who}</h3>
          <ul className="slot-people" aria-label={s.who}>
            {proposal.participants.map((p) => (
              <li key={p.partyId ?? p.userId ?? p.displayName}>
                {p.displayName} <span className="muted">({s.role[p.role] ?? p.role})</span>{" "}
                {p.hasGivenAvailability ? <Badge kind="ok">{s.given(p.timeZone ?? "")}</Badge> : <Badge kind="warn">{s.waiting}</Badge>}
              </li>
            ))}
          </ul>
          <h3>{s.slots}</h3>
          {answered.length === 0 ? (
            <Empty>{s.nobody}</Empty>
          ) : proposal.slots.length === 0 ? (
            <Empty>{s.none}</Empty>
          ) : (
            <ol className="slot-list" aria-label={s.slots}>
              {proposal.slots.map((slot) => {
                const when = formatSpan(slot.startsAt, slot.endsAt, viewerZone);
                return (
                  <li key={slot.startsAt}>
                    <div>
                      <strong>{s.yourTime(when)}</strong>
                      <ul>
                        {answered.map((p) => (
                          <li key={p.partyId ?? p.userId ?? p.displayName}>{s.theirTime(p.displayName, formatZoned(slot.startsAt, p.timeZone ?? viewerZone))}</li>
                        ))}
                      </ul>
                    </div>
                    <Button small variant="primary" busy={scheduling} aria-label={s.scheduleLabel(when)} onClick={() => void book(slot.startsAt)}>
                      {s.schedule}
                    </Button>
                  </li>
                );
              })}
            </ol>
          )}
        </>
      ) : null}
    </Card>
  );
}
