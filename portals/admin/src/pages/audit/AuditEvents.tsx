import { AuditLogDocument, type AuditLogQuery } from "@accord/shared/gql";
import { Button, Empty, ErrorAlert, formatDateTime, Loading, toProblem } from "@accord/shared/ui";
import { useEffect, useRef, useState } from "react";
import { Link } from "react-router";
import { useQuery } from "urql";
import { t } from "../../strings";
import { useViewerZone } from "../common/hooks";
import { filterVariables, hasFilters, type AuditFilters } from "./filters";

const s = t.pages.audit;
const PAGE = 50;

export function AuditEvents({ filters }: { filters: AuditFilters }) {
  return <Pages key={JSON.stringify(filters)} filters={filters} />;
}

type Event = AuditLogQuery["auditEvents"][number];

function Pages({ filters }: { filters: AuditFilters }) {
  const zone = useViewerZone();
  const [befores, setBefores] = useState<(number | null)[]>([null]);
  const [tail, setTail] = useState<{ last: number | null; full: boolean; loading: boolean; count: number }>({ last: null, full: false, loading: true, count: 0 });
  const [counts, setCounts] = useState<number[]>([]);
  const total = counts.reduce((a, b) => a + b, 0);
  return (
    <section className="card" aria-labelledby="audit-events">
      <h2 id="audit-events" className="visually-hidden">
        {s.title}
      </h2>
      <table className="data">
        <thead>
          <tr>
            <th scope="col">{s.colSeq}</th>
            <th scope="col">{s.colWhen}</th>
            <th scope="col">{s.colActor}</th>
            <th scope="col">{s.colAction}</th>
            <th scope="col">{s.colTarget}</th>
          </tr>
        </thead>
        <tbody>
          {befores.map((before, i) => (
            <Page
              key={before ?? "head"}
              before={before}
              filters={filters}
              zone={zone}
              focusOnLoad={i > 0}
              onLoaded={(count, last, loading) => {
                setCounts((c) => {
                  const copy = [...c];
                  copy[i] = count;
                  return copy;
                });
                if (i === befores.length - 1) setTail({ last, full: count === PAGE, loading, count });
              }}
            />
          ))}
        </tbody>
      </table>
      {tail.loading ? <Loading /> : null}
      {!tail.loading && total === 0 ? <Empty>{hasFilters(filters) ? s.noneMatch : s.none}</Empty> : null}
      <div className="row list-foot">
        {tail.full && tail.last !== null && !tail.loading ? (
          <Button onClick={() => setBefores((b) => [...b, tail.last])}>{s.older}</Button>
        ) : !tail.loading && total > 0 && tail.last === 1 ? (
          <p className="muted">{s.end}</p>
        ) : null}
      </div>
    </section>
  );
}

function Page({
  before,
  filters,
  zone,
  focusOnLoad,
  onLoaded,
}: {
  before: number | null;
  filters: AuditFilters;
  zone: string;
  /** Move focus to this page's first event once it is there (a page asked for with "Older"). */
  focusOnLoad: boolean;
  onLoaded: (count: number, lastSeq: number | null, loading: boolean) => void;
}) {
  const [{ data, fetching, error }, refetch] = useQuery({ query: AuditLogDocument, variables: { first: PAGE, beforeSeq: before, ...filterVariables(filters) } });
  const events: Event[] = data?.auditEvents ?? [];
  const last = events.length > 0 ? (events[events.length - 1]?.seq ?? null) : null;
  const loading = !data && fetching;
  useEffect(() => {
    onLoaded(events.length, last, loading);
  }, [events.length, last, loading]);
  const first = useRef<HTMLTableCellElement>(null);
  const focused = useRef(false);
  useEffect(() => {
    if (focusOnLoad && !focused.current && first.current) {
      focused.current = true;
      first.current.focus();
    }
  }, [focusOnLoad, events.length]);
  if (error && !data) {
    return (
      <tr>
        <td colSpan={5}>
          <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} />
        </td>
      </tr>
    );
  }
  return (
    <>
      {events.map((e, i) => (
        <tr key={e.id}>
          <td data-label={s.colSeq} ref={i === 0 ? first : undefined} tabIndex={i === 0 && focusOnLoad ? -1 : undefined}>
            {e.seq}
          </td>
          <td data-label={s.colWhen}>{formatDateTime(e.occurredAt, { timeZone: zone })}</td>
          <td data-label={s.colActor}>{e.actor ? e.actor.displayName : e.actorUserId ? <span className="muted">{t.pages.common.unknownPerson}</span> : <span className="muted">{t.pages.common.system}</span>}</td>
          <td data-label={s.colAction}>
            <span className="mono">{e.action}</span>
          </td>
          <td data-label={s.colTarget}>
            <span>{e.targetType}</span>{" "}
            {e.targetId ? (
              <>
                <Link className="mono" to={`/audit?type=${encodeURIComponent(e.targetType)}&target=${e.targetId}`} aria-label={s.eventsOf(e.targetType, e.targetId)}>
                  {e.targetId}
                </Link>
                {e.targetType === "case" ? (
                  <>
                    {" "}
                    <Link to={`/cases/${e.targetId}`} aria-label={s.openCaseOf(e.targetId)}>
                      {s.openCase}
                    </Link>
                  </>
                ) : null}
              </>
            ) : null}
          </td>
        </tr>
      ))}
    </>
  );
}
