import { SessionsBetweenDocument } from "@accord/shared/gql";
import { Card, Empty, ErrorAlert, Loading, toProblem } from "@accord/shared/ui";
import { useState } from "react";
import { useQuery } from "urql";
import { t } from "../../strings";
import { useViewerZone } from "../common/hooks";
import { SessionTable } from "./SessionTable";

const s = t.pages.dashboard;

/** A mediator's sessions from an hour ago on (one under way is still listed), scheduled ones only. */
export function UpcomingSessions() {
  const zone = useViewerZone();
  const [from] = useState(() => new Date(Date.now() - 3_600_000).toISOString());
  const [{ data, fetching, error }, refetch] = useQuery({ query: SessionsBetweenDocument, variables: { from, to: null } });
  const list = (data?.sessions ?? []).filter((x) => x.status === "SCHEDULED" && x.endsAt > new Date().toISOString()).slice(0, 20);
  return (
    <Card title={s.yourSessions}>
      {error ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {!data && fetching ? <Loading /> : null}
      {data && list.length === 0 ? <Empty>{s.yourSessionsNone}</Empty> : null}
      {list.length > 0 ? <SessionTable sessions={list} viewerZone={zone} consoleLinks /> : null}
    </Card>
  );
}
