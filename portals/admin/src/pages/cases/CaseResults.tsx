// The list of cases for one filter, a page at a time: each loaded page is
// its own query (kept in urql's cache), the last one says whether more follow.

import { CaseListDocument, type CaseListQuery, type CaseStatus } from "@accord/shared/gql";
import { Button, Empty, ErrorAlert, formatDate, Loading, toProblem } from "@accord/shared/ui";
import { useEffect, useRef, useState } from "react";
import { Link } from "react-router";
import { useQuery } from "urql";
import { t } from "../../strings";
import { useViewerZone } from "../common/hooks";
import { statusBadge } from "./badges";

const s = t.pages.cases;
const PAGE = 20;

type Props = { status: CaseStatus | null; search: string | null };

export function CaseResults(props: Props) {
  // A new filter starts again from the first page.
  return <Pages key={`${props.status ?? ""}\u0000${props.search ?? ""}`} {...props} />;
}

function Pages({ status, search }: Props) {
  const [afters, setAfters] = useState<(string | null)[]>([null]);
  const [tail, setTail] = useState<{ next: string | null; count: number; loading: boolean }>({ next: null, count: 0, loading: true });
  const [counts, setCounts] = useState<number[]>([]);
  const total = counts.reduce((a, b) => a + b, 0);
  const filtered = status !== null || search !== null;
  return (
    <section aria-labelledby="case-results">
      <h2 id="case-results" className="visually-hidden">
        {s.title}
      </h2>
      <table className="data">
        <thead>
          <tr>
            <th scope="col">{s.colReference}</th>
            <th scope="col">{s.colTitle}</th>
            <th scope="col">{s.colStatus}</th>
            <th scope="col">{s.colMediator}</th>
            <th scope="col">{s.colUpdated}</th>
          </tr>
        </thead>
        <tbody>
          {afters.map((after, i) => (
            <Page
              key={after ?? ""}
              after={after}
              status={status}
              search={search}
              focusOnLoad={i > 0}
              onLoaded={(count, next, loading) => {
                setCounts((c) => {
                  const copy = [...c];
                  copy[i] = count;
                  return copy;
                });
                if (i === afters.length - 1) setTail({ next, count, loading });
              }}
            />
          ))}
        </tbody>
      </table>
      {tail.loading ? <Loading /> : null}
      {!tail.loading && total === 0 ? <Empty>{filtered ? s.noneMatch : s.none}</Empty> : null}
      <div className="row list-foot">
        {total > 0 ? (
          <p className="muted" aria-live="polite">
            {s.shown(total)}
          </p>
        ) : null}
        {tail.next && !tail.loading ? (
          <Button onClick={() => setAfters((a) => [...a, tail.next])}>{s.loadMore}</Button>
        ) : null}
      </div>
    </section>
  );
}

type Edge = CaseListQuery["cases"]["edges"][number];

function Page({
  after,
  status,
  search,
  focusOnLoad,
  onLoaded,
}: {
  after: string | null;
  status: CaseStatus | null;
  search: string | null;
  /** Move focus to this page's first case once it is there (a page asked for with "Load more"). */
  focusOnLoad: boolean;
  onLoaded: (count: number, next: string | null, loading: boolean) => void;
}) {
  const zone = useViewerZone();
  const [{ data, fetching, error }, refetch] = useQuery({ query: CaseListDocument, variables: { first: PAGE, after, status, search } });
  const edges: Edge[] = data?.cases.edges ?? [];
  const next = data?.cases.pageInfo.hasNextPage ? (data.cases.pageInfo.endCursor ?? null) : null;
  const loading = !data && fetching;
  useEffect(() => {
    onLoaded(edges.length, next, loading);
    // onLoaded is a new function every render; what matters is what it reports.
  }, [edges.length, next, loading]);
  const first = useRef<HTMLAnchorElement>(null);
  const focused = useRef(false);
  useEffect(() => {
    if (focusOnLoad && !focused.current && first.current) {
      focused.current = true;
      first.current.focus();
    }
  }, [focusOnLoad, edges.length]);
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
      {edges.map(({ node }, i) => (
        <tr key={node.id}>
          <td data-label={s.colReference}>
            <Link ref={i === 0 ? first : undefined} to={`/cases/${node.id}`}>
              {node.reference}
            </Link>
          </td>
          <td data-label={s.colTitle}>{node.title}</td>
          <td data-label={s.colStatus}>{statusBadge(node.status)}</td>
          <td data-label={s.colMediator}>{node.mediator?.user.displayName ?? <span className="muted">{t.pages.dashboard.noMediator}</span>}</td>
          <td data-label={s.colUpdated}>{formatDate(node.updatedAt, { timeZone: zone })}</td>
        </tr>
      ))}
    </>
  );
}

