//! The roles a member can hold within an organization.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::values::{parse_one_of, ValidationError};

/// The single role a user holds in an organization. What each role may do is
/// decided in [`crate::permission`], not here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the organization: members, cases, assignments, audit.
    OrgAdmin,
    /// Conducts the cases they are assigned to.
    Mediator,
    /// Takes part in the cases they are attached to.
    Party,
    /// Follows the cases they are attached to without taking part.
    Observer,
}

impl Role {
    /// Every role, in declaration order. The permission table is indexed in
    /// this order.
    pub const ALL: [Role; 4] = [Role::OrgAdmin, Role::Mediator, Role::Party, Role::Observer];

    /// The stable wire and storage name of the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::OrgAdmin => "org_admin",
            Role::Mediator => "mediator",
            Role::Party => "party",
            Role::Observer => "observer",
        }
    }

    /// Position of the role in [`Role::ALL`], used to index tables.
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

// Tables are indexed by discriminant; this keeps `ALL` and the declaration
// order from drifting apart without anyone noticing.
const _: () = {
    let mut i = 0;
    while i < Role::ALL.len() {
        assert!(Role::ALL[i].index() == i);
        i += 1;
    }
};

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_one_of("role", s, &Role::ALL, |role| role.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::assert_all_lists_every_variant;

    #[test]
    fn all_lists_every_role_once() {
        assert_all_lists_every_variant!(
            Role,
            [Role::OrgAdmin, Role::Mediator, Role::Party, Role::Observer]
        );
    }

    #[test]
    fn names_round_trip() {
        let expected = [
            (Role::OrgAdmin, "org_admin"),
            (Role::Mediator, "mediator"),
            (Role::Party, "party"),
            (Role::Observer, "observer"),
        ];
        for (role, name) in expected {
            assert_eq!(role.as_str(), name);
            assert_eq!(role.to_string(), name);
            assert_eq!(name.parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{name}\""));
            assert_eq!(
                serde_json::from_str::<Role>(&format!("\"{name}\"")).unwrap(),
                role
            );
        }
    }

    #[test]
    fn unknown_names_are_rejected() {
        for raw in ["", "admin", "OrgAdmin", "Mediator", " party", "observer "] {
            let err = raw.parse::<Role>().unwrap_err();
            assert_eq!(err.field, "role");
            assert_eq!(
                err.message,
                "must be one of: org_admin, mediator, party, observer"
            );
        }
    }
}
