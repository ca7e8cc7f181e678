//! Integration tests of the HTTP API against a real Postgres (one fresh
//! database per test, see accord-testkit).

mod flows;
mod oidc;
mod schema;
