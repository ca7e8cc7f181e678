//! Accord's SFU: the authority on live sessions.
//!
//! - [`protocol`]: the signaling messages (JSON over WebSocket), parsed strictly
//!   and within bounds.
//! - [`session`]: the sans-IO session core: lobby, main room and caucus rooms,
//!   the mediator's commands, timers on the caller's clock, and the rule that
//!   decides who receives whose media. Media forwarding (one str0m `Rtc` per
//!   participant, one UDP port) is driven from it by a thin driver that owns the
//!   sockets and the clock.

pub mod batch;
pub mod media;
pub mod metrics;
pub mod protocol;
pub mod red;
pub mod session;
pub mod signaling;
pub mod simulcast;
pub mod turn;
pub mod udp;
pub mod vp8;
