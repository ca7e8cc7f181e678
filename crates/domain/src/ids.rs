//! Typed identifiers.
//!
//! Every entity gets its own newtype over [`Uuid`] so that the compiler
//! refuses to confuse, say, a case id with a party id, which in a
//! multi-tenant system is the kind of mix-up that leaks data across
//! boundaries. New ids are UUIDv7: time-ordered, so they index well and
//! listings sorted by id come out in creation order.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A string that should have been an id was not a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} id")]
pub struct ParseIdError {
    /// Which kind of id was expected, e.g. `"case"`.
    ///
    /// The rejected input is deliberately not kept: ids arrive from clients,
    /// and echoing arbitrary client input into errors invites it into logs.
    pub kind: &'static str,
}

macro_rules! define_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Mints a fresh, time-ordered (UUIDv7) id.
            // No `Default`: a default that silently mints a new identity would
            // make `#[derive(Default)]` on a containing struct invent entities.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID, typically one read back from storage.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| ParseIdError { kind: $kind })
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

define_id!(
    /// Identifies an organization, the tenant boundary of the platform.
    OrgId,
    "organization"
);
define_id!(
    /// Identifies a user account. A user may belong to several organizations.
    UserId,
    "user"
);
define_id!(
    /// Identifies a mediation case within an organization.
    CaseId,
    "case"
);
define_id!(
    /// Identifies a party (or counsel, or interpreter) attached to a case.
    PartyId,
    "party"
);
define_id!(
    /// Identifies a scheduled mediation session of a case.
    SessionId,
    "session"
);
define_id!(
    /// Identifies a user's membership of an organization, which carries the role.
    MembershipId,
    "membership"
);
define_id!(
    /// Identifies an entry in an organization's audit log.
    AuditEventId,
    "audit event"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_version_7_and_time_ordered() {
        let first = CaseId::new();
        let second = CaseId::new();
        assert_eq!(first.as_uuid().get_version_num(), 7);
        assert_ne!(first, second);
        assert!(first < second, "later ids must sort after earlier ones");
    }

    #[test]
    fn display_is_the_hyphenated_uuid_and_parses_back() {
        let uuid = Uuid::parse_str("0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b").unwrap();
        let id = OrgId::from_uuid(uuid);
        assert_eq!(id.to_string(), "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b");
        assert_eq!(id.to_string().parse::<OrgId>(), Ok(id));
        assert_eq!(Uuid::from(id), uuid);
        assert_eq!(id.as_uuid(), uuid);
    }

    #[test]
    fn parsing_garbage_names_the_kind_but_not_the_input() {
        let err = "not-a-uuid".parse::<SessionId>().unwrap_err();
        assert_eq!(err, ParseIdError { kind: "session" });
        assert_eq!(err.to_string(), "invalid session id");
        assert!("".parse::<UserId>().is_err());
        assert!("0190a1b2-c3d4-7e5f-8a6b".parse::<PartyId>().is_err());
        assert_eq!(
            "x".parse::<AuditEventId>().unwrap_err().to_string(),
            "invalid audit event id"
        );
    }

    #[test]
    fn serializes_as_a_bare_uuid_string() {
        let id = MembershipId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        let back: MembershipId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<MembershipId>("\"nope\"").is_err());
    }
}
