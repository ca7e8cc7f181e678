// The admin portal's English strings (the shared screens have theirs in
// @accord/shared/ui). A translation replaces this object.

import { consoleStrings } from "./console/strings";
import { deliveryStrings } from "./pages/delivery/strings";
import { invitationStrings } from "./pages/cases/invitationStrings";
import { slotStrings } from "./pages/cases/slotStrings";
import { pageStrings } from "./pages/strings";

export const t = {
  title: "Accord admin",
  slots: slotStrings,
  invitations: invitationStrings,
  delivery: deliveryStrings,
  nav: {
    dashboard: "Dashboard",
    cases: "Cases",
    members: "Members",
    audit: "Audit log",
    mail: "Mail",
    account: "Account",
  },
  clientOnly: {
    title: "This is the admin portal",
    body: "Your account takes part in cases as a party, counsel or interpreter. Your cases and sessions are in the client portal.",
    go: "Open the client portal",
  },
  signInNote: "For org admins and mediators.",
  pages: pageStrings,
  /** The session console (the live-session words it shares with the client portal are @accord/shared's `live`). */
  console: consoleStrings,
} as const;
