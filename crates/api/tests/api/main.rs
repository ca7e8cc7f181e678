//! Integration tests of the HTTP API against a real Postgres (one fresh
//! database per test, see accord-testkit).

mod abuse;
mod common;
mod cursor;
mod flows;
mod isolation;
mod join;
mod oidc;
mod roles;
mod schema;
mod sfu;
mod signin;
