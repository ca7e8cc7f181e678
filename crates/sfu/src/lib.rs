//! Accord's SFU driver: the sockets, tasks and clock around the sans-IO
//! live-session core (`accord-sfu-core`).
//!
//! - [`udp`] and [`batch`]: the one media port (UDP, and ICE-TCP framing),
//!   read and written in batches, each datagram routed to its session by
//!   ICE username or source address.
//! - [`hub`]: the running live sessions, one task each, owning its
//!   `LiveSession` and `Media` and feeding them the time.
//! - [`ws`]: the signaling WebSocket with the device-bound join handshake,
//!   and `/metrics`.
//!
//! - [`registry`]: several SFU nodes behind one API: heartbeats with the
//!   node's load, serving only the sessions placed here, and the room state
//!   kept where another node can take a session over.
//!
//! The driver reaches the database only through [`store::LiveStore`]
//! (spend a join token's id, append an audit event), which the server
//! implements; it has no database crate of its own.

pub mod batch;
pub mod hub;
pub mod registry;
pub mod store;
pub mod udp;
pub mod ws;
