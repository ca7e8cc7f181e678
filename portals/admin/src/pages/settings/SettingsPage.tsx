// Organisation settings (org admins): time zone and date format for mail,
// invite-link lifetime, reminder leads, and the working hours the slot
// finder keeps to.

import { PageTitle, useSession } from "@accord/shared/ui";
import { OnlyAdmins } from "../common/Forbidden";
import { can } from "../common/permissions";
import { DocumentSettingsCard } from "./DocumentSettingsCard";
import { OrgSettingsCard } from "./OrgSettingsCard";
import { settingsStrings } from "./strings";
import { WorkingHoursCard } from "./WorkingHoursCard";

const s = settingsStrings;

export function SettingsPage() {
  const session = useSession();
  if (!can(session.role, "manageMembers")) return <OnlyAdmins title={s.title} body={s.onlyAdmins} />;
  return (
    <>
      <PageTitle>{s.title}</PageTitle>
      <OrgSettingsCard />
      <WorkingHoursCard />
      <DocumentSettingsCard />
    </>
  );
}
