//! Accord's identity primitives, free of HTTP and SQL.
//!
//! - [`password`]: argon2id hashing with OWASP's parameters, and a dummy verify so
//!   that an unknown email costs as much time as a wrong password.
//! - [`totp`]: RFC 6238 one-time codes (SHA-1, 6 digits, 30 s) with replay
//!   protection by time step, and single-use recovery codes.
//! - [`token`]: the random secrets behind web sessions and single-use links; only
//!   their SHA-256 hashes are ever stored. CSRF tokens are derived from the
//!   session token, so they need no storage and die with the session.
//! - [`lockout`]: the back-off applied to an account after repeated failures.
//! - [`oidc`]: staff sign-in with an external identity provider (authorization
//!   code + PKCE, ID token checks).
//!
//! The API crate composes these with the data layer into sign-in flows.

pub mod join;
pub mod lockout;
pub mod oidc;
pub mod password;
pub mod token;
pub mod totp;
