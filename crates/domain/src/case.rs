//! Mediation cases: their lifecycle and the kinds of people attached to them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::values::{parse_one_of, ValidationError};

/// A state machine refused a move. Shared by every lifecycle in the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot move from {from} to {to}")]
pub struct TransitionError {
    /// The current state's name.
    pub from: &'static str,
    /// The requested state's name.
    pub to: &'static str,
}

/// Where a case stands.
///
/// ```text
/// open    -> on_hold, settled, closed
/// on_hold -> open, closed
/// settled -> closed
/// closed  -> (nothing)
/// ```
///
/// Settling and closing only ever move forward, so that the record of how a
/// case ended cannot be quietly rewritten afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Mediation is under way.
    Open,
    /// Paused, e.g. while the parties take advice.
    OnHold,
    /// The parties reached an agreement.
    Settled,
    /// Finished, with or without agreement. No further changes.
    Closed,
}

impl CaseStatus {
    /// Every status, in declaration order.
    pub const ALL: [CaseStatus; 4] = [
        CaseStatus::Open,
        CaseStatus::OnHold,
        CaseStatus::Settled,
        CaseStatus::Closed,
    ];

    /// The stable wire and storage name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::OnHold => "on_hold",
            CaseStatus::Settled => "settled",
            CaseStatus::Closed => "closed",
        }
    }

    /// Whether a case in this status may move to `next`. Staying in the same
    /// status is not a move.
    pub fn can_transition_to(self, next: CaseStatus) -> bool {
        use CaseStatus::{Closed, OnHold, Open, Settled};
        matches!(
            (self, next),
            (Open, OnHold)
                | (Open, Settled)
                | (Open, Closed)
                | (OnHold, Open)
                | (OnHold, Closed)
                | (Settled, Closed)
        )
    }

    /// Moves to `next`, or explains why that is not allowed.
    pub fn transition(self, next: CaseStatus) -> Result<CaseStatus, TransitionError> {
        if self.can_transition_to(next) {
            Ok(next)
        } else {
            Err(TransitionError {
                from: self.as_str(),
                to: next.as_str(),
            })
        }
    }
}

impl fmt::Display for CaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CaseStatus {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_one_of("status", s, &CaseStatus::ALL, CaseStatus::as_str)
    }
}

/// In what capacity someone is attached to a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyKind {
    /// One of the people in dispute.
    Party,
    /// A lawyer or other adviser acting for a party.
    Counsel,
    /// Interprets for a party during sessions.
    Interpreter,
}

impl PartyKind {
    /// Every kind, in declaration order.
    pub const ALL: [PartyKind; 3] = [PartyKind::Party, PartyKind::Counsel, PartyKind::Interpreter];

    /// The stable wire and storage name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            PartyKind::Party => "party",
            PartyKind::Counsel => "counsel",
            PartyKind::Interpreter => "interpreter",
        }
    }
}

impl fmt::Display for PartyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PartyKind {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_one_of("kind", s, &PartyKind::ALL, PartyKind::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::assert_all_lists_every_variant;

    #[test]
    fn all_lists_every_variant_once() {
        assert_all_lists_every_variant!(
            CaseStatus,
            [
                CaseStatus::Open,
                CaseStatus::OnHold,
                CaseStatus::Settled,
                CaseStatus::Closed,
            ]
        );
        assert_all_lists_every_variant!(
            PartyKind,
            [PartyKind::Party, PartyKind::Counsel, PartyKind::Interpreter]
        );
    }

    #[test]
    fn every_pair_of_statuses_follows_the_lifecycle() {
        // Written by name so the expectation does not share code with the
        // implementation.
        const ALLOWED: [(&str, &str); 6] = [
            ("open", "on_hold"),
            ("open", "settled"),
            ("open", "closed"),
            ("on_hold", "open"),
            ("on_hold", "closed"),
            ("settled", "closed"),
        ];
        let mut allowed_seen = 0;
        for from in CaseStatus::ALL {
            for to in CaseStatus::ALL {
                let expected = ALLOWED.contains(&(from.as_str(), to.as_str()));
                assert_eq!(from.can_transition_to(to), expected, "{from} -> {to}");
                match from.transition(to) {
                    Ok(next) => {
                        assert!(expected, "{from} -> {to} should be refused");
                        assert_eq!(next, to);
                        allowed_seen += 1;
                    }
                    Err(err) => {
                        assert!(!expected, "{from} -> {to} should be allowed");
                        assert_eq!(
                            err,
                            TransitionError {
                                from: from.as_str(),
                                to: to.as_str()
                            }
                        );
                    }
                }
            }
        }
        assert_eq!(allowed_seen, ALLOWED.len());
    }

    #[test]
    fn staying_put_and_leaving_closed_are_refused() {
        for status in CaseStatus::ALL {
            assert!(status.transition(status).is_err(), "{status}");
            assert!(CaseStatus::Closed.transition(status).is_err(), "{status}");
        }
        assert_eq!(
            CaseStatus::Settled
                .transition(CaseStatus::Open)
                .unwrap_err()
                .to_string(),
            "cannot move from settled to open"
        );
    }

    #[test]
    fn status_names_round_trip() {
        let expected = [
            (CaseStatus::Open, "open"),
            (CaseStatus::OnHold, "on_hold"),
            (CaseStatus::Settled, "settled"),
            (CaseStatus::Closed, "closed"),
        ];
        for (status, name) in expected {
            assert_eq!(status.as_str(), name);
            assert_eq!(status.to_string(), name);
            assert_eq!(name.parse::<CaseStatus>(), Ok(status));
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{name}\"")
            );
        }
        let err = "OnHold".parse::<CaseStatus>().unwrap_err();
        assert_eq!(err.field, "status");
        assert_eq!(
            err.message,
            "must be one of: open, on_hold, settled, closed"
        );
    }

    #[test]
    fn party_kind_names_round_trip() {
        let expected = [
            (PartyKind::Party, "party"),
            (PartyKind::Counsel, "counsel"),
            (PartyKind::Interpreter, "interpreter"),
        ];
        for (kind, name) in expected {
            assert_eq!(kind.as_str(), name);
            assert_eq!(kind.to_string(), name);
            assert_eq!(name.parse::<PartyKind>(), Ok(kind));
            assert_eq!(
                serde_json::from_str::<PartyKind>(&format!("\"{name}\"")).unwrap(),
                kind
            );
        }
        assert_eq!("lawyer".parse::<PartyKind>().unwrap_err().field, "kind");
    }
}
