//! ICE servers for clients: STUN/TURN URLs, with time-limited TURN
//! credentials in coturn's shared-secret format (`use-auth-secret`):
//! the username is `<expiry unix time>:<participant id>` and the password is
//! base64(HMAC-SHA1(secret, username)). coturn checks both with the same
//! secret (`static-auth-secret`), so no per-user state is shared.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;

use crate::protocol::{IceServer, ParticipantId};

/// TURN relays clients may use when UDP to the media port is blocked.
#[derive(Debug, Clone)]
pub struct TurnConfig {
    /// `turn:` / `turns:` URLs (and `stun:` ones, sent without credentials).
    pub urls: Vec<String>,
    /// The secret shared with coturn (`static-auth-secret`).
    pub secret: SecretString,
    /// How long credentials stay valid, in seconds.
    pub ttl_seconds: u64,
}

impl TurnConfig {
    /// The ICE servers for one participant, valid from `now_unix` for the TTL.
    pub fn ice_servers(&self, participant: ParticipantId, now_unix: u64) -> Vec<IceServer> {
        let (stun, turn): (Vec<String>, Vec<String>) = self
            .urls
            .iter()
            .cloned()
            .partition(|u| u.starts_with("stun:"));
        let mut servers = Vec::new();
        if !stun.is_empty() {
            servers.push(IceServer {
                urls: stun,
                username: None,
                credential: None,
            });
        }
        if !turn.is_empty() {
            let (username, credential) = credentials(
                self.secret.expose_secret().as_bytes(),
                participant,
                now_unix + self.ttl_seconds,
            );
            servers.push(IceServer {
                urls: turn,
                username: Some(username),
                credential: Some(credential),
            });
        }
        servers
    }
}

/// coturn's REST-API credentials for `participant`, expiring at `expires_unix`.
pub fn credentials(
    secret: &[u8],
    participant: ParticipantId,
    expires_unix: u64,
) -> (String, String) {
    let username = format!("{expires_unix}:{participant}");
    let credential = match <Hmac<Sha1> as Mac>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(username.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }
        // HMAC takes keys of any length; there is no error to meet here.
        Err(_) => String::new(),
    };
    (username, credential)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_match_coturns_shared_secret_scheme() {
        // Computed independently: base64(hmac_sha1(b"north-wind", username)).
        let who = uuid::Uuid::from_u128(1);
        let (user, pass) = credentials(b"north-wind", who, 1_700_000_000);
        assert_eq!(user, "1700000000:00000000-0000-0000-0000-000000000001");
        assert_eq!(pass, "4AqJt2egfZwoALwg2Q076FgfOo0=");
    }

    #[test]
    fn stun_urls_go_without_credentials_and_turn_urls_with_them() {
        let turn = TurnConfig {
            urls: vec![
                "stun:turn.example.org:3478".into(),
                "turn:turn.example.org:3478?transport=udp".into(),
                "turns:turn.example.org:5349?transport=tcp".into(),
            ],
            secret: SecretString::from("s"),
            ttl_seconds: 600,
        };
        let servers = turn.ice_servers(uuid::Uuid::nil(), 100);
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].username, None);
        assert_eq!(servers[1].urls.len(), 2);
        assert!(servers[1].username.as_deref().unwrap().starts_with("700:"));
    }
}
