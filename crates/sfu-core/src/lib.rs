//! Accord's live-session core, sans-IO.
//!
//! Everything a live session decides, as state machines fed with inputs
//! (a client message, a datagram, the time) and polled for outputs
//! (messages to send, datagrams to transmit, the next deadline). Nothing here
//! reads a clock, opens a socket or spawns a task: the driver (`accord-sfu`)
//! does, and the tests run the same code on a simulated clock over a
//! simulated network. The crate's dependencies keep it so: no tokio, axum or
//! sqlx.
//!
//! - [`protocol`]: the signaling messages (JSON over WebSocket), parsed
//!   strictly and within bounds; their TypeScript types are generated.
//! - [`session`]: lobby, main room and caucus rooms, the mediator's
//!   commands, timers, and the routes: who receives whose media.
//! - [`media`]: one str0m `Rtc` per participant; RTP forwarded per packet on
//!   the current routes, simulcast layers chosen per receiver
//!   ([`simulcast`]), VP8 descriptors read and continued ([`vp8`]), RED
//!   audio unwrapped for receivers without it ([`red`]).
//! - [`metrics`]: counters and histograms the driver exposes.
//! - [`turn`]: time-limited TURN credentials for clients.

pub mod media;
pub mod metrics;
pub mod protocol;
pub mod red;
pub mod session;
pub mod simulcast;
pub mod turn;
pub mod vp8;
