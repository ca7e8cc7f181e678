// One case: its status and lifecycle, mediator, people and sessions. What
// the viewer's role may not change is shown without controls.

import { DocumentsPanel } from "@accord/shared/documents";
import { CaseDetailDocument, type CaseDetailQuery } from "@accord/shared/gql";
import { Alert, ErrorAlert, formatDate, Loading, PageTitle, toProblem, useSession } from "@accord/shared/ui";
import { useRef, useState } from "react";
import { Link, useParams } from "react-router";
import { useQuery } from "urql";
import { t } from "../strings";
import { statusBadge } from "./cases/badges";
import { MediatorCard } from "./cases/MediatorCard";
import { PartiesCard } from "./cases/PartiesCard";
import { SessionsCard } from "./cases/SessionsCard";
import { SlotFinder } from "./cases/SlotFinder";
import { StatusCard } from "./cases/StatusCard";
import { useFocusRescue, useViewerZone } from "./common/hooks";
import { CaseWorkflow } from "./workflow/CaseWorkflow";
import "./pages.css";

const s = t.pages.caseDetail;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type CaseData = CaseDetailQuery["case"];

export function CaseDetailPage() {
  const { id = "" } = useParams();
  if (!UUID.test(id)) return <CaseNotFound />;
  // A new case id is a new page: nothing of the last case's forms carries over.
  return <CaseView key={id} id={id} />;
}

function CaseNotFound() {
  return (
    <>
      <PageTitle>{s.notFoundTitle}</PageTitle>
      <Alert kind="warn">{s.notFound}</Alert>
      <p>
        <Link to="/cases">{s.back}</Link>
      </p>
    </>
  );
}

function CaseView({ id }: { id: string }) {
  const session = useSession();
  const zone = useViewerZone();
  const [{ data, fetching, error }, refetch] = useQuery({ query: CaseDetailDocument, variables: { id } });
  const [notice, setNotice] = useState<string | null>(null);
  const noticeRef = useRef<HTMLDivElement>(null);
  useFocusRescue(noticeRef, notice !== null, [data, notice]);
  const reload = () => refetch({ requestPolicy: "network-only" });
  // Every change is followed by the case as the server now has it (urql's
  // document cache cannot know that, say, a first session belongs to it).
  const changed = (words: string) => {
    setNotice(words);
    reload();
  };

  if (!data) {
    if (error) {
      const problem = toProblem(error);
      if (problem.code === "NOT_FOUND" || problem.code === "FORBIDDEN") return <CaseNotFound />;
      return (
        <>
          <PageTitle>{s.titleLoading}</PageTitle>
          <ErrorAlert problem={problem} onRetry={reload} />
        </>
      );
    }
    return (
      <>
        <PageTitle>{s.titleLoading}</PageTitle>
        {fetching ? <Loading /> : null}
      </>
    );
  }

  const c = data.case;
  return (
    <>
      <p>
        <Link to="/cases">{s.back}</Link>
      </p>
      <PageTitle>{`${c.reference} · ${c.title}`}</PageTitle>
      <ul className="meta">
        <li>{statusBadge(c.status)}</li>
        <li>{s.opened(formatDate(c.createdAt, { timeZone: zone }))}</li>
      </ul>
      {error ? <ErrorAlert problem={toProblem(error)} onRetry={reload} /> : null}
      <div aria-live="polite" ref={noticeRef} tabIndex={-1}>
        {notice ? <Alert kind="ok">{notice}</Alert> : null}
      </div>
      <StatusCard c={c} role={session.role} onNotice={changed} />
      <MediatorCard c={c} role={session.role} onNotice={changed} />
      <PartiesCard c={c} role={session.role} onNotice={changed} />
      <SlotFinder c={c} role={session.role} onNotice={changed} />
      <SessionsCard c={c} role={session.role} viewerId={session.userId} onNotice={changed} />
      <CaseWorkflow c={c} role={session.role} onNotice={changed} />
      <DocumentsPanel caseId={c.id} asParty={false} canManage={session.role === "org_admin" || c.mediator?.user.id === session.userId} />
    </>
  );
}
