//! Who may do what.
//!
//! The whole policy is one table, `MATRIX`, so that it can be read, reviewed
//! and tested as a single product decision rather than reconstructed from
//! checks scattered through the code. A cell says how far a role's grant for
//! an action reaches; [`authorize`] combines it with whether the actor is
//! involved in the object at hand.
//!
//! Organization membership itself is not checked here: the caller has already
//! resolved the actor's role *in the organization that owns the object*, and
//! an actor without a membership has no role and therefore no grants.

use std::fmt;

use crate::role::Role;

/// Something an actor may attempt within an organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// See the organization's name, slug and settings.
    ViewOrganization,
    /// List the organization's members and their roles.
    ViewMembers,
    /// Invite members, change their role, remove them.
    ManageMembers,
    /// Open a new case.
    CreateCase,
    /// List cases.
    ListCases,
    /// Read a case.
    ViewCase,
    /// Move a case through its lifecycle.
    UpdateCaseStatus,
    /// Assign or replace the mediator of a case.
    AssignMediator,
    /// Add or remove parties on a case.
    ManageParties,
    /// See the parties' email addresses and phone numbers.
    ViewPartyContacts,
    /// Schedule, reschedule or cancel a session.
    ScheduleSession,
    /// See a case's sessions.
    ViewSessions,
    /// Read the organization's audit log.
    ReadAuditLog,
    /// See which sessions are live now, who is in them and who waits in
    /// their lobby (without joining them).
    ViewLiveSessions,
}

impl Action {
    /// Every action, in declaration order. The permission table is indexed in
    /// this order.
    pub const ALL: [Action; 14] = [
        Action::ViewOrganization,
        Action::ViewMembers,
        Action::ManageMembers,
        Action::CreateCase,
        Action::ListCases,
        Action::ViewCase,
        Action::UpdateCaseStatus,
        Action::AssignMediator,
        Action::ManageParties,
        Action::ViewPartyContacts,
        Action::ScheduleSession,
        Action::ViewSessions,
        Action::ReadAuditLog,
        Action::ViewLiveSessions,
    ];

    /// The stable name of the action, as used in audit entries and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ViewOrganization => "view_organization",
            Action::ViewMembers => "view_members",
            Action::ManageMembers => "manage_members",
            Action::CreateCase => "create_case",
            Action::ListCases => "list_cases",
            Action::ViewCase => "view_case",
            Action::UpdateCaseStatus => "update_case_status",
            Action::AssignMediator => "assign_mediator",
            Action::ManageParties => "manage_parties",
            Action::ViewPartyContacts => "view_party_contacts",
            Action::ScheduleSession => "schedule_session",
            Action::ViewSessions => "view_sessions",
            Action::ReadAuditLog => "read_audit_log",
            Action::ViewLiveSessions => "view_live_sessions",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

// The table is indexed by discriminant; this keeps `ALL` and the declaration
// order from drifting apart without anyone noticing.
const _: () = {
    let mut i = 0;
    while i < Action::ALL.len() {
        assert!(Action::ALL[i].index() == i);
        i += 1;
    }
};

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How far a grant reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// Never allowed.
    Deny,
    /// Only objects the actor is involved in (assigned mediator of the case,
    /// or a party/observer on the case).
    Involved,
    /// Every object in the org.
    OrgWide,
}

impl Grant {
    /// Whether this grant allows acting given the actor's involvement.
    ///
    /// An [`Involved`](Grant::Involved) grant with
    /// [`NotApplicable`](Involvement::NotApplicable) involvement is allowed:
    /// it arises for org-level actions such as listing cases, and means the
    /// caller must restrict the results to objects the actor is involved in.
    pub fn permits(self, involvement: Involvement) -> bool {
        match self {
            Grant::Deny => false,
            Grant::OrgWide => true,
            Grant::Involved => match involvement {
                Involvement::Involved | Involvement::NotApplicable => true,
                Involvement::NotInvolved => false,
            },
        }
    }
}

/// Whether the actor is attached to the object at hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Involvement {
    /// The actor is the case's assigned mediator, or a party or observer on it.
    Involved,
    /// The actor has no attachment to the object.
    NotInvolved,
    /// For org-level actions with no specific object (e.g. CreateCase, ListCases).
    NotApplicable,
}

/// The permission policy: rows are roles in [`Role::ALL`] order, columns are
/// actions in [`Action::ALL`] order.
const MATRIX: [[Grant; Action::ALL.len()]; Role::ALL.len()] = {
    use Grant::{Deny, Involved, OrgWide};
    // Parties and observers see the same things; observers exist so that
    // someone can follow a case without being recorded as taking part in it.
    const PARTICIPANT: [Grant; Action::ALL.len()] = [
        OrgWide,  // view_organization
        Deny,     // view_members
        Deny,     // manage_members
        Deny,     // create_case
        Involved, // list_cases
        Involved, // view_case
        Deny,     // update_case_status
        Deny,     // assign_mediator
        Deny,     // manage_parties
        Deny,     // view_party_contacts
        Deny,     // schedule_session
        Involved, // view_sessions
        Deny,     // read_audit_log
        Deny,     // view_live_sessions
    ];
    [
        // org_admin
        [OrgWide; Action::ALL.len()],
        // mediator
        [
            OrgWide,  // view_organization
            OrgWide,  // view_members
            Deny,     // manage_members
            Deny,     // create_case
            Involved, // list_cases
            Involved, // view_case
            Involved, // update_case_status
            Deny,     // assign_mediator
            Involved, // manage_parties
            Involved, // view_party_contacts
            Involved, // schedule_session
            Involved, // view_sessions
            Deny,     // read_audit_log
            Involved, // view_live_sessions
        ],
        // party
        PARTICIPANT,
        // observer
        PARTICIPANT,
    ]
};

/// How far `role`'s grant for `action` reaches.
pub fn grant(role: Role, action: Action) -> Grant {
    MATRIX[role.index()][action.index()]
}

/// Checks that `role` may perform `action` given the actor's `involvement`.
///
/// `Ok` for an [`Involved`](Grant::Involved) grant with
/// [`NotApplicable`](Involvement::NotApplicable) involvement means "allowed,
/// but the results must be filtered to involved objects": a mediator may list
/// cases, but only sees the ones assigned to them. Use [`grant`] to find out
/// whether such filtering is needed.
pub fn authorize(role: Role, action: Action, involvement: Involvement) -> Result<(), Denied> {
    if grant(role, action).permits(involvement) {
        Ok(())
    } else {
        Err(Denied { role, action })
    }
}

/// A role was refused an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("role {role} may not {action}")]
pub struct Denied {
    /// The actor's role.
    pub role: Role,
    /// What the actor attempted.
    pub action: Action,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::assert_all_lists_every_variant;

    /// The product decision, written out independently of [`MATRIX`] so that
    /// a slip in either shows up as a mismatch. `org` = org-wide,
    /// `inv` = only where involved, `-` = denied.
    const EXPECTED: &str = "
        action               org_admin  mediator  party  observer
        view_organization    org        org       org    org
        view_members         org        org       -      -
        manage_members       org        -         -      -
        create_case          org        -         -      -
        list_cases           org        inv       inv    inv
        view_case            org        inv       inv    inv
        update_case_status   org        inv       -      -
        assign_mediator      org        -         -      -
        manage_parties       org        inv       -      -
        view_party_contacts  org        inv       -      -
        schedule_session     org        inv       -      -
        view_sessions        org        inv       inv    inv
        read_audit_log       org        -         -      -
        view_live_sessions   org        inv       -      -
    ";

    /// Parses [`EXPECTED`] into (role, action, grant) triples, insisting that
    /// it names every role and every action exactly once.
    fn expected_table() -> Vec<(Role, Action, Grant)> {
        let mut lines = EXPECTED.lines().map(str::trim).filter(|l| !l.is_empty());
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(header[0], "action");
        let roles: Vec<Role> = header[1..].iter().map(|r| r.parse().unwrap()).collect();
        assert_eq!(roles.len(), Role::ALL.len());
        for role in Role::ALL {
            assert_eq!(roles.iter().filter(|r| **r == role).count(), 1, "{role}");
        }

        let mut seen_actions = Vec::new();
        let mut table = Vec::new();
        for line in lines {
            let cells: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(cells.len(), roles.len() + 1, "malformed row: {line}");
            let action = Action::ALL
                .into_iter()
                .find(|a| a.as_str() == cells[0])
                .unwrap_or_else(|| panic!("unknown action {}", cells[0]));
            assert!(!seen_actions.contains(&action), "{action} listed twice");
            seen_actions.push(action);
            for (role, cell) in roles.iter().zip(&cells[1..]) {
                let grant = match *cell {
                    "org" => Grant::OrgWide,
                    "inv" => Grant::Involved,
                    "-" => Grant::Deny,
                    other => panic!("unknown grant {other}"),
                };
                table.push((*role, action, grant));
            }
        }
        assert_eq!(seen_actions.len(), Action::ALL.len(), "missing actions");
        table
    }

    #[test]
    fn all_lists_every_action_once() {
        assert_all_lists_every_variant!(
            Action,
            [
                Action::ViewOrganization,
                Action::ViewMembers,
                Action::ManageMembers,
                Action::CreateCase,
                Action::ListCases,
                Action::ViewCase,
                Action::UpdateCaseStatus,
                Action::AssignMediator,
                Action::ManageParties,
                Action::ViewPartyContacts,
                Action::ScheduleSession,
                Action::ViewSessions,
                Action::ReadAuditLog,
                Action::ViewLiveSessions,
            ]
        );
    }

    #[test]
    fn action_names_are_distinct_snake_case() {
        for (i, a) in Action::ALL.into_iter().enumerate() {
            let name = a.as_str();
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            assert_eq!(a.to_string(), name);
            for b in &Action::ALL[i + 1..] {
                assert_ne!(name, b.as_str());
            }
        }
    }

    #[test]
    fn matrix_matches_the_product_decision_for_every_role_and_action() {
        let table = expected_table();
        assert_eq!(table.len(), Role::ALL.len() * Action::ALL.len());
        for (role, action, expected) in table {
            assert_eq!(grant(role, action), expected, "{role} / {action}");
        }
    }

    #[test]
    fn grant_permits_each_involvement_as_specified() {
        use Involvement::{Involved, NotApplicable, NotInvolved};
        let cases = [
            (Grant::Deny, Involved, false),
            (Grant::Deny, NotInvolved, false),
            (Grant::Deny, NotApplicable, false),
            (Grant::Involved, Involved, true),
            (Grant::Involved, NotInvolved, false),
            (Grant::Involved, NotApplicable, true),
            (Grant::OrgWide, Involved, true),
            (Grant::OrgWide, NotInvolved, true),
            (Grant::OrgWide, NotApplicable, true),
        ];
        for (grant, involvement, allowed) in cases {
            assert_eq!(
                grant.permits(involvement),
                allowed,
                "{grant:?} / {involvement:?}"
            );
        }
    }

    #[test]
    fn authorize_follows_the_table_for_every_role_action_and_involvement() {
        for (role, action, expected) in expected_table() {
            for involvement in [
                Involvement::Involved,
                Involvement::NotInvolved,
                Involvement::NotApplicable,
            ] {
                let allowed = match (expected, involvement) {
                    (Grant::Deny, _) => false,
                    (Grant::OrgWide, _) => true,
                    (Grant::Involved, Involvement::NotInvolved) => false,
                    (Grant::Involved, _) => true,
                };
                let outcome = authorize(role, action, involvement);
                if allowed {
                    assert_eq!(outcome, Ok(()), "{role} / {action} / {involvement:?}");
                } else {
                    assert_eq!(
                        outcome,
                        Err(Denied { role, action }),
                        "{role} / {action} / {involvement:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn denial_names_role_and_action() {
        let err = authorize(
            Role::Party,
            Action::ManageMembers,
            Involvement::NotApplicable,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "role party may not manage_members");
    }

    #[test]
    fn mediators_list_only_their_cases_and_cannot_touch_others() {
        assert_eq!(grant(Role::Mediator, Action::ListCases), Grant::Involved);
        assert!(authorize(
            Role::Mediator,
            Action::ListCases,
            Involvement::NotApplicable
        )
        .is_ok());
        assert!(authorize(Role::Mediator, Action::ViewCase, Involvement::NotInvolved).is_err());
        assert!(authorize(Role::OrgAdmin, Action::ViewCase, Involvement::NotInvolved).is_ok());
    }
}
