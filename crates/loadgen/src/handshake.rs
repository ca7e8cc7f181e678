//! The join handshake: the server's `challenge` and the client's `hello`.
//! They come before the session's messages and are not part of the protocol's
//! `ClientMessage` or `ServerMessage`; the SFU's WebSocket reads the hello
//! with a type of its own that it does not export, so the bots mirror it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The server's first message: a nonce for the device key to sign.
///
/// An enum of one variant, like the SFU's own `Hello`: serde then checks
/// the `type` when reading.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub(crate) enum Challenge {
    /// `{"type":"challenge","nonce":…}`.
    Challenge {
        /// Signed as the UTF-8 bytes sent, not decoded.
        nonce: String,
    },
}

/// The client's answer to the challenge.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub(crate) enum Hello {
    /// `{"type":"hello","token":…,"deviceKey":{JWK},"signature":…}`.
    Hello {
        /// The join token.
        token: String,
        /// The device's public key as a JWK ([`crate::device::jwk`]), the one
        /// the token is bound to.
        #[serde(rename = "deviceKey")]
        device_key: Value,
        /// [`crate::device::sign_nonce`] over the challenge's nonce.
        signature: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // The wire shapes are the SFU's (`crates/sfu`), written out here so a
    // change on either side shows.
    #[test]
    fn the_handshake_has_the_sfus_shape() {
        let challenge: Challenge =
            serde_json::from_str(r#"{"type":"challenge","nonce":"bm9uY2U"}"#).expect("a challenge");
        assert_eq!(
            challenge,
            Challenge::Challenge {
                nonce: "bm9uY2U".into()
            }
        );
        assert!(serde_json::from_str::<Challenge>(r#"{"type":"state","nonce":"x"}"#).is_err());
        assert!(serde_json::from_str::<Challenge>(r#"{"type":"challenge"}"#).is_err());

        let hello = Hello::Hello {
            token: "t".into(),
            device_key: json!({ "kty": "EC", "crv": "P-256", "x": "x", "y": "y" }),
            signature: "s".into(),
        };
        assert_eq!(
            serde_json::to_value(&hello).ok(),
            Some(json!({
                "type": "hello",
                "token": "t",
                "deviceKey": { "kty": "EC", "crv": "P-256", "x": "x", "y": "y" },
                "signature": "s",
            }))
        );
    }
}
