import { CaseCountDocument, type CaseStatus } from "@accord/shared/gql";
import { Card, ErrorAlert, toProblem } from "@accord/shared/ui";
import { Link } from "react-router";
import { useQuery } from "urql";
import { t } from "../../strings";
import { CASE_STATUSES } from "../cases/status";

const s = t.pages.dashboard;

/** How many cases stand in each status (counted up to 100, then "100+"). */
export function CaseCounts() {
  return (
    <Card title={s.openCases} actions={<Link to="/cases">{s.allCases}</Link>}>
      <ul className="stat-list">
        {CASE_STATUSES.map((status) => (
          <Count key={status} status={status} />
        ))}
      </ul>
    </Card>
  );
}

function Count({ status }: { status: CaseStatus }) {
  const [{ data, error }, refetch] = useQuery({ query: CaseCountDocument, variables: { status } });
  const conn = data?.cases;
  const n = conn ? (conn.pageInfo.hasNextPage ? s.atLeast(conn.edges.length) : String(conn.edges.length)) : "…";
  return (
    <li>
      <Link to={`/cases?status=${status}`}>
        <span className="stat">{n}</span>
        {t.pages.caseStatus[status]}
      </Link>
      {error ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
    </li>
  );
}
