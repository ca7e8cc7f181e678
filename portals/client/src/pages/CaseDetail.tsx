// One case as a party, counsel or interpreter sees it: reference, title,
// status, mediator, the other people on it, and its sessions. An id the
// viewer may not see (another organisation's, someone else's case, or none)
// is "not found", as the API says.

import { CaseWorkflow } from "./workflow/CaseWorkflow";
import { DocumentsPanel } from "@accord/shared/documents";
import { ClientCaseDocument } from "@accord/shared/gql";
import { Card, describe, Empty, ErrorAlert, Loading, PageTitle, formatDate, toProblem, useAuth, viewerTimeZone } from "@accord/shared/ui";
import { useEffect, useMemo } from "react";
import { Link, useParams } from "react-router";
import { useQuery } from "urql";
import { t } from "../strings";
import { CaseStatusBadge } from "./CaseStatusBadge";
import "./pages.css";
import { SessionItem } from "./SessionItem";
import { displayZone, past, upcoming } from "./sessionTiming";
import { useNow } from "./useNow";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function CaseDetailPage() {
  const { id = "" } = useParams();
  const valid = UUID.test(id);
  const now = useNow();
  const { refresh } = useAuth();
  const [{ data, fetching, error }, refetch] = useQuery({ query: ClientCaseDocument, variables: { id }, pause: !valid });
  const problem = error ? toProblem(error) : null;

  useEffect(() => {
    if (problem?.code === "UNAUTHENTICATED") void refresh();
  }, [problem?.code, refresh]);

  const zone = displayZone(data?.viewer.timeZone, viewerTimeZone());
  const c = data?.case;
  const sessions = useMemo(() => (c ? { next: upcoming(c.sessions, now), before: past(c.sessions, now) } : null), [c, now]);

  // Not a case id at all, or one the API does not show this viewer.
  if (!valid || (problem && (problem.code === "NOT_FOUND" || problem.code === "BAD_USER_INPUT") && !c)) {
    return (
      <>
        <PageTitle>{t.caseDetail.notFoundTitle}</PageTitle>
        <ErrorAlert problem={problem ?? { code: "NOT_FOUND", message: describe("NOT_FOUND") }} />
        <p>
          <Link to="/">{t.caseDetail.back}</Link>
        </p>
      </>
    );
  }
  if (!c) {
    return (
      <>
        <PageTitle>{t.caseDetail.titleLoading}</PageTitle>
        {fetching || !problem ? <Loading label={t.caseDetail.loading} /> : null}
        <ErrorAlert problem={problem} onRetry={() => refetch({ requestPolicy: "network-only" })} />
        <p>
          <Link to="/">{t.caseDetail.back}</Link>
        </p>
      </>
    );
  }

  const me = data?.viewer.user.id;
  const mine = c.parties.find((p) => p.userId === me);
  const others = c.parties.filter((p) => p.userId !== me);

  return (
    <>
      <PageTitle>{`${c.reference}: ${c.title}`}</PageTitle>
      <ErrorAlert problem={problem} onRetry={() => refetch({ requestPolicy: "network-only" })} />
      <p>
        <Link to="/">{t.caseDetail.back}</Link>
      </p>
      <Card title={t.caseDetail.details}>
        <dl className="facts">
          <div>
            <dt>{t.caseDetail.reference}</dt>
            <dd>{c.reference}</dd>
          </div>
          <div>
            <dt>{t.caseDetail.status}</dt>
            <dd>
              <CaseStatusBadge status={c.status} />
            </dd>
          </div>
          <div>
            <dt>{t.caseDetail.mediator}</dt>
            <dd>
              {c.mediator ? (
                <>
                  {c.mediator.user.displayName}
                  {c.mediator.user.email ? (
                    <>
                      {" "}
                      (<a href={`mailto:${c.mediator.user.email}`}>{c.mediator.user.email}</a>)
                    </>
                  ) : null}
                </>
              ) : (
                t.caseDetail.noMediator
              )}
            </dd>
          </div>
          <div>
            <dt>{t.caseDetail.opened}</dt>
            <dd>{formatDate(c.createdAt, { timeZone: zone })}</dd>
          </div>
        </dl>
        {mine ? <p>{t.caseDetail.you(t.partyKind[mine.kind])}</p> : null}
        {mine ? (
          <p>
            <Link to={`/cases/${c.id}/availability`}>{t.availability.link}</Link>
          </p>
        ) : null}
      </Card>
      <Card title={t.caseDetail.people}>
        {others.length === 0 ? (
          <Empty>{t.caseDetail.noPeople}</Empty>
        ) : (
          <ul className="people" aria-label={t.caseDetail.people}>
            {others.map((p) => (
              <li key={p.id}>
                <span className="person-name">{p.displayName}</span> <span className="muted">{t.partyKind[p.kind]}</span>
                {p.email ? (
                  <>
                    {" "}
                    <a href={`mailto:${p.email}`}>{p.email}</a>
                  </>
                ) : null}
              </li>
            ))}
          </ul>
        )}
      </Card>
      <Card title={t.caseDetail.sessions}>
        {sessions && sessions.next.length + sessions.before.length === 0 ? <Empty>{t.caseDetail.noSessions}</Empty> : null}
        {sessions && sessions.next.length > 0 ? (
          <ul className="session-list" aria-label={t.caseDetail.sessions}>
            {sessions.next.map((s) => (
              <SessionItem key={s.id} session={s} zone={zone} now={now} caseReference={c.reference} />
            ))}
          </ul>
        ) : null}
        {sessions && sessions.before.length > 0 ? (
          <>
            <h3>{t.caseDetail.pastSessions}</h3>
            <ul className="session-list" aria-label={t.caseDetail.pastSessions}>
              {sessions.before.map((s) => (
                <SessionItem key={s.id} session={s} zone={zone} now={now} caseReference={c.reference} />
              ))}
            </ul>
          </>
        ) : null}
      </Card>
      <DocumentsPanel caseId={c.id} asParty canManage={false} />
      <CaseWorkflow caseId={c.id} />
    </>
  );
}
