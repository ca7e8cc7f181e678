//! Integration tests of the HTTP API against a real Postgres (one fresh
//! database per test, see accord-testkit).

// The allocator the `accord` binary runs with: the memory test
// (`memory.rs`) measures resident memory as production would see it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod abuse;
mod account;
mod agreements;
mod audit;
mod availability;
mod billing;
mod common;
mod conflicts;
mod cursor;
mod documents;
mod faults;
mod flows;
mod graphiql;
mod intake;
mod invites;
mod isolation;
mod join;
mod limits;
mod listing;
mod live;
mod mail;
mod memory;
mod messages;
mod oidc;
mod roles;
mod schema;
mod settings;
mod sfu;
mod signin;
