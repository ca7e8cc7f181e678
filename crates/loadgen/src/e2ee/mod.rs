//! End-to-end encrypted media, the bots' side: the same frame encryption
//! ([`frame`], SFrame as RFC 9605 with suite AES_128_GCM_SHA256_128) and key
//! exchange ([`keys`]: ECDH P-256 identities signed by the device key, sender
//! keys wrapped per recipient and signed) as the browsers
//! (portals/shared/src/live/e2ee), so bots and browsers read each other's
//! frames and keys. docs/SECURITY.md ("End-to-end encrypted media") has the
//! design; `portals/shared/src/live/e2ee/vectors.json` holds fixed vectors
//! both implementations are tested against.

pub mod frame;
pub mod keys;
pub mod packet;
pub mod session;
