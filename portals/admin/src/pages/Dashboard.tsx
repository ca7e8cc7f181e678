// The start page. Org admins: this week's sessions, what is live now, cases
// by status. Mediators: what is live on their cases, their upcoming sessions
// (with the way into the session console) and their cases.

import { PageTitle, useSession } from "@accord/shared/ui";
import { t } from "../strings";
import { CaseCounts } from "./dashboard/CaseCounts";
import { LiveNow } from "./dashboard/LiveNow";
import { MyCases } from "./dashboard/MyCases";
import { UpcomingSessions } from "./dashboard/UpcomingSessions";
import { WeekSessions } from "./dashboard/WeekSessions";
import "./pages.css";

export function DashboardPage() {
  const session = useSession();
  const admin = session.role === "org_admin";
  return (
    <>
      <PageTitle>{t.pages.dashboard.title}</PageTitle>
      {admin ? (
        <>
          <LiveNow canJoin={false} />
          <WeekSessions />
          <CaseCounts />
        </>
      ) : (
        <>
          <LiveNow canJoin />
          <UpcomingSessions />
          <MyCases />
        </>
      )}
    </>
  );
}
