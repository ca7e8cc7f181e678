import { SessionsBetweenDocument } from "@accord/shared/gql";
import { Card, Empty, ErrorAlert, Loading, toProblem } from "@accord/shared/ui";
import { useState } from "react";
import { useQuery } from "urql";
import { t } from "../../strings";
import { useViewerZone } from "../common/hooks";
import { dayBounds } from "../common/time";
import { SessionTable } from "./SessionTable";

const s = t.pages.dashboard;

/** Today's sessions and the week's (today and the next six days, in the viewer's zone), cancelled ones left out. */
export function WeekSessions() {
  const zone = useViewerZone();
  const [now] = useState(() => new Date());
  const b = dayBounds(now, zone);
  const [{ data, fetching, error }, refetch] = useQuery({ query: SessionsBetweenDocument, variables: { from: b.todayStart, to: b.weekEnd } });
  const week = (data?.sessions ?? []).filter((x) => x.status !== "CANCELLED");
  const today = week.filter((x) => x.startsAt >= b.todayStart && x.startsAt < b.tomorrowStart);
  const body = (list: typeof week, none: string) =>
    !data ? (fetching ? <Loading /> : null) : list.length === 0 ? <Empty>{none}</Empty> : <SessionTable sessions={list} viewerZone={zone} consoleLinks={false} />;
  return (
    <>
      {error ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      <Card title={`${s.today} (${data ? today.length : "…"})`}>{body(today, s.noSessionsToday)}</Card>
      <Card title={`${s.thisWeek} (${data ? week.length : "…"})`}>{body(week, s.noSessionsWeek)}</Card>
    </>
  );
}
