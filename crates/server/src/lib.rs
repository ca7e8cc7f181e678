//! The `accord` binary's library: layered configuration ([`config`]), the
//! command line ([`cli`]), logging and trace export ([`telemetry`]) and the
//! demo data that `accord dev` seeds ([`seed`]).
//! Wiring lives here so integration tests can drive the same code paths as the
//! binary.

pub mod cli;
pub mod config;
pub mod live_directory;
pub mod live_store;
pub mod placement;
pub mod redis;
pub mod seed;
pub mod telemetry;
