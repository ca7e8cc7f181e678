// The client portal's English strings (the shared screens have theirs in
// @accord/shared/ui). A translation replaces this object.

import { availabilityStrings } from "./pages/availability/strings";
import { inviteStrings } from "./pages/invite/strings";

export const t = {
  title: "Accord",
  availability: availabilityStrings,
  invite: inviteStrings,
  nav: {
    home: "My cases",
    account: "Account",
  },
  staff: {
    title: "Org admins and mediators use the admin portal",
    body: "Your cases, sessions and the session console are in the admin portal.",
    go: "Open the admin portal",
  },
  otherSignIn: "Org admins and mediators: sign in to the admin portal",
  // ---- pages (Home, CaseDetail) ----
  home: {
    title: "Your cases and sessions",
    upcoming: "Upcoming sessions",
    noUpcoming: "No sessions are planned for your cases. When your mediator schedules one, it appears here.",
    cases: "Your cases",
    noCases: "You are not on any case yet. When an organisation adds you to a case, it appears here.",
    moreCases: "Only your 30 most recent cases are listed.",
    devices: "Your camera and microphone",
    devicesIntro: "Check them before your session, so that you join without delay.",
    devicesStart: "Test camera and microphone",
    devicesDone: "Finish the test",
    timesIn: (zone: string) => `Times are shown in your time zone (${zone}).`,
  },
  caseDetail: {
    titleLoading: "Case",
    loading: "Loading the case…",
    notFoundTitle: "Case not found",
    back: "Back to your cases",
    details: "About this case",
    reference: "Reference",
    status: "Status",
    mediator: "Mediator",
    noMediator: "No mediator is assigned yet.",
    opened: "Opened",
    people: "Other people on the case",
    noPeople: "Nobody else is on this case yet.",
    you: (kind: string) => `You take part as ${kind.toLowerCase()}.`,
    sessions: "Sessions",
    noSessions: "No sessions are scheduled for this case yet.",
    pastSessions: "Earlier sessions",
  },
  sessions: {
    caseColumn: "Case",
    when: "When",
    mediator: "Mediator",
    noMediator: "Not assigned yet",
    planned: (at: string) => `Planned as ${at}`,
    join: "Join",
    joinContext: (when: string, reference?: string) => (reference ? ` the session of ${reference}, ${when}` : ` the session of ${when}`),
    opensLater: "Opens 15 minutes before the start",
    live: "Under way",
    startsIn: (minutes: number) => (minutes <= 1 ? "Starts in a minute" : `Starts in ${minutes} minutes`),
    state: {
      SCHEDULED: "Scheduled",
      CANCELLED: "Cancelled",
      COMPLETED: "Held",
    },
  },
  caseStatus: {
    OPEN: "Open",
    ON_HOLD: "On hold",
    SETTLED: "Settled",
    CLOSED: "Closed",
  },
  partyKind: {
    PARTY: "Party",
    COUNSEL: "Counsel",
    INTERPRETER: "Interpreter",
  },
} as const;
