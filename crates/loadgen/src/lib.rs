//! Headless WebRTC bots for Accord: a second, independent WebRTC stack
//! (webrtc-rs) that joins live sessions through the SFU's signaling, publishes
//! synthetic media and measures what it receives. Used by integration tests
//! and benchmarks.
//!
//! A [`Bot`] joins with a join token and the device key it is bound to
//! ([`device`]), sends one offer with three send-only transceivers (Opus
//! microphone, VP8 camera, VP8 screen), answers the server's renegotiations,
//! and publishes RTP whose every payload carries a [`tag`]: who sent it, from
//! which source, its sequence number and send time. What it receives is
//! attributed by those tags into a [`Report`] (packets, bytes, latency
//! percentiles, losses per sender and source).
//!
//! It speaks the signaling protocol with the SFU's own message types
//! ([`protocol::ClientMessage`], [`protocol::ServerMessage`]), re-exported
//! here for the tests and benchmarks that drive bots.
//!
//! ```no_run
//! # async fn example(token: String, session: uuid::Uuid) -> Result<(), accord_loadgen::BotError> {
//! use accord_loadgen::{device, Bot, BotConfig};
//! let key = device::generate();
//! // Ask the API for a join token bound to `device::jwk(key.verifying_key())` first.
//! let config = BotConfig::new("ws://127.0.0.1:8080".parse().expect("a URL"), session);
//! let bot = Bot::join(config, token, key).await?;
//! bot.connected(std::time::Duration::from_secs(10)).await?;
//! println!("{:?}", bot.report());
//! bot.close().await;
//! # Ok(())
//! # }
//! ```

pub mod bench;
mod bot;
pub mod device;
pub mod e2ee;
mod handshake;
mod media;
pub mod report;
pub mod shaping;
pub mod tag;

pub use accord_sfu_core::protocol;
pub use bot::{Bot, BotConfig, BotError, Messages, RawPayload, ServerTrack};
pub use media::{SimulcastLayer, SIMULCAST_LAYERS};
pub use report::{
    Arrival, Departure, E2eeReport, Report, SentLayerReport, SentReport, StreamReport,
};
pub use tag::{Source, Tag};
pub use webrtc::peer_connection::RTCPeerConnectionState;
