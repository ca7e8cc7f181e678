//! Accord's Postgres layer.
//!
//! Tenant isolation is enforced by Postgres itself: every tenant-owned table has a
//! row-level security policy on the per-transaction setting `accord.org_id`, and the
//! server connects as `accord_app`, which owns no table and cannot bypass RLS. This
//! crate makes the setting impossible to forget: repository functions take a
//! [`TenantTx`], and the only way to get one is [`Db::tenant`], which opens a
//! transaction, sets the org and the acting user with `SET LOCAL` semantics, and
//! loads the actor's role from their membership (so a removed member loses access
//! on their next request).
//!
//! Work that happens before a tenant is known (sign-in) uses [`UserTx`], scoped to
//! one account, and the narrow lookup functions in [`lookup`]. Operators' commands
//! (`accord migrate`, `accord admin …`) use [`AdminDb`], which connects as the table
//! owner; the policies still bind it because the tables are `FORCE ROW LEVEL
//! SECURITY`.
//!
//! Beginning and committing a transaction are the spans `db.begin` and
//! `db.commit` (scope, org id, role): never a statement's text or values.
//!
//! The audit log ([`audit`]) is append-only and hash-chained per org.

pub mod audit;
pub mod auth;
pub mod availability;
pub mod cases;
pub mod compliance;
pub mod conflicts;
pub mod documents;
mod error;
pub mod fees;
pub mod intake;
pub mod invitations;
pub mod invoices;
pub mod jobs;
pub mod join_tokens;
pub mod lookup;
pub mod members;
pub mod orgs;
pub mod sessions;
pub mod timeline;
mod tx;
mod warm;

pub use error::{is_connection_error, DbError};
pub use tx::{pool_options, Actor, AdminDb, Db, TenantTx, UserTx, DEFAULT_POOL_SIZE};

/// The migrations in `migrations/` at the workspace root, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");
