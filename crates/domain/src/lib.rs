//! The domain model of Accord, a multi-tenant platform for confidential
//! online mediation.
//!
//! Everything here is pure: no I/O, no clocks read behind the caller's back,
//! no async. The storage, authentication and API layers build on these types
//! so that the rules of the product live in one place and are enforced the
//! same way whichever door a request comes through.
//!
//! The crate is organised around a few ideas:
//!
//! - [`ids`]: one newtype per kind of entity, so an organization id can never
//!   be passed where a case id is expected. Ids are UUIDv7 and therefore sort
//!   by creation time.
//! - [`role`] and [`permission`]: every member of an organization holds one
//!   [`Role`]. What a role may do is a single table of [`Grant`]s, read by
//!   [`grant`] and enforced by [`authorize`]. Some grants only reach the
//!   objects the actor is involved in (the cases they mediate or are a party
//!   to); the caller states that [`Involvement`] and, for listings, filters
//!   accordingly.
//! - [`values`]: validated value types ("parse, don't validate"). Once a
//!   string has become an [`EmailAddress`] or a [`CaseTitle`] it is known to
//!   be well formed, and deserialization goes through the same parser so
//!   nothing unchecked slips in through JSON. Values that carry personal data
//!   or case content redact themselves in `Debug` output, because mediation
//!   is confidential and logs are not.
//! - [`case`] and [`session`]: the lifecycle of a mediation case and of its
//!   scheduled sessions, as explicit state machines, plus [`Schedule`], which
//!   pins a session to an instant in UTC while remembering the time zone it
//!   should be shown in.

pub mod availability;
pub mod case;
pub mod conflict;
pub mod ids;
pub mod intake;
pub mod invoice;
pub mod money;
pub mod permission;
pub mod role;
pub mod session;
pub mod values;

pub use availability::{
    common_slots, Availability, DayHours, LocalWindow, SlotSearch, WorkingHours,
};
pub use case::{CaseStatus, PartyKind, TransitionError};
pub use ids::*;
pub use money::{Currency, Split};
pub use permission::{authorize, grant, Action, Denied, Grant, Involvement};
pub use role::Role;
pub use session::{Schedule, SessionDuration, SessionStatus};
pub use values::{
    CaseReference, CaseTitle, DisplayName, EmailAddress, IanaTimeZone, OrgName, OrgSlug,
    PlainPassword, ValidationError,
};

#[cfg(test)]
mod test_support {
    /// Asserts that an enum's `ALL` constant lists every variant exactly once
    /// and in the given order.
    ///
    /// The variants are written once and used twice: in an exhaustive
    /// `match`, so adding a variant to the enum stops the tests compiling
    /// until it is listed here, and as the expected contents of `ALL`, so a
    /// variant listed here but forgotten in `ALL` fails at run time.
    macro_rules! assert_all_lists_every_variant {
        ($ty:ty, [$($variant:path),+ $(,)?]) => {{
            fn _exhaustive(value: $ty) {
                match value {
                    $($variant => {})+
                }
            }
            let listed: &[$ty] = &[$($variant),+];
            assert_eq!(listed, &<$ty>::ALL[..]);
        }};
    }

    pub(crate) use assert_all_lists_every_variant;
}
