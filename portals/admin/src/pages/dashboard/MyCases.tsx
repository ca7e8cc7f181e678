import { MyCasesDocument } from "@accord/shared/gql";
import { Card, Empty, ErrorAlert, Loading, toProblem } from "@accord/shared/ui";
import { Link } from "react-router";
import { useQuery } from "urql";
import { t } from "../../strings";
import { statusBadge } from "../cases/badges";

const s = t.pages.dashboard;

export function MyCases() {
  const [{ data, fetching, error }, refetch] = useQuery({ query: MyCasesDocument });
  const edges = data?.cases.edges ?? [];
  return (
    <Card title={s.yourCases} actions={<Link to="/cases">{s.allCases}</Link>}>
      {error ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {!data && fetching ? <Loading /> : null}
      {data && edges.length === 0 ? <Empty>{s.yourCasesNone}</Empty> : null}
      {edges.length > 0 ? (
        <table className="data">
          <thead>
            <tr>
              <th scope="col">{t.pages.cases.colReference}</th>
              <th scope="col">{t.pages.cases.colTitle}</th>
              <th scope="col">{t.pages.cases.colStatus}</th>
            </tr>
          </thead>
          <tbody>
            {edges.map(({ node }) => (
              <tr key={node.id}>
                <td data-label={t.pages.cases.colReference}>
                  <Link to={`/cases/${node.id}`}>{node.reference}</Link>
                </td>
                <td data-label={t.pages.cases.colTitle}>{node.title}</td>
                <td data-label={t.pages.cases.colStatus}>{statusBadge(node.status)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </Card>
  );
}
