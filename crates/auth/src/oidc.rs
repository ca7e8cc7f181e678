//! Sign-in through an external OpenID Connect identity provider (IdP).
//!
//! Organisations that run Accord usually already have an IdP; letting their people sign in with
//! it spares them another password and lets the organisation revoke access in one place. What
//! Accord takes from the IdP is exactly one thing: a *verified* email address (plus the stable
//! issuer/subject pair). Everything else (which tenant, which role) stays Accord's decision.
//!
//! The flow is the authorization code flow with every guard OpenID Connect offers a confidential
//! client, because a forged or replayed sign-in here would expose confidential mediation files:
//!
//! * **state**, compared in constant time, binds the callback to the browser session that began
//!   the sign-in (login CSRF);
//! * **PKCE (S256)** makes a stolen authorization code useless without the verifier that never
//!   left the server;
//! * **nonce** binds the ID token to this very sign-in attempt (token replay/injection);
//! * the **ID token** is checked for issuer, audience, expiry and a signature by a key from the
//!   provider's published JWKS.
//!
//! The HTTP client never follows redirects: the IdP's metadata names URLs the server then fetches,
//! and following redirects from those would let a hostile or compromised IdP point Accord's server
//! at internal addresses (SSRF).
//!
//! The JWKS is fetched once, by [`OidcClient::discover`]. When an IdP rotates its keys, sign-ins
//! fail with a `signature` reason until the client is discovered again, so callers should
//! re-discover periodically or after such a failure.
//!
//! Nothing here logs tokens, codes, email addresses or secrets.

use std::fmt;
use std::time::Duration;

use accord_domain::EmailAddress;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// How long any single request to the IdP may take. A slow IdP must not tie up request handlers.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
const HTTP_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What an operator configures for one identity provider.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The IdP's issuer identifier; discovery reads `<issuer>/.well-known/openid-configuration`.
    pub issuer_url: url::Url,
    /// The client ID Accord is registered under at the IdP.
    pub client_id: String,
    /// The client secret that goes with `client_id`.
    pub client_secret: SecretString,
    /// Accord's callback URL, exactly as registered at the IdP.
    pub redirect_url: url::Url,
}

/// The client type after discovery: authorization and token endpoints known for certain.
type DiscoveredClient = CoreClient<
    EndpointSet,      // authorization endpoint
    EndpointNotSet,   // device authorization endpoint
    EndpointNotSet,   // introspection endpoint
    EndpointNotSet,   // revocation endpoint
    EndpointSet,      // token endpoint
    EndpointMaybeSet, // userinfo endpoint
>;

/// A relying-party client for one discovered identity provider.
///
/// Cheap to clone; share one per provider rather than discovering for every sign-in.
#[derive(Clone)]
pub struct OidcClient {
    client: DiscoveredClient,
    http: reqwest::Client,
    /// Kept for `Debug` only; the client checks tokens against its own copy.
    issuer: String,
}

impl fmt::Debug for OidcClient {
    // Hand-written so the client secret held inside `client` cannot leak into logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcClient")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client.client_id().as_str())
            .field(
                "redirect_url",
                &self.client.redirect_uri().map(|url| url.as_str()),
            )
            .finish_non_exhaustive()
    }
}

/// What the server keeps between [`OidcClient::begin`] and [`OidcClient::complete`], typically in
/// the pre-sign-in session. It must never be sent to the browser: the nonce and PKCE verifier are
/// what make an intercepted code or token worthless.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct PendingLogin {
    /// The `state` sent to the IdP; the callback must return exactly this.
    pub state: String,
    nonce: String,
    pkce_verifier: String,
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin").finish_non_exhaustive()
    }
}

/// The outcome of a successful sign-in: who the IdP says this is, and their verified email.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    /// The ID token's `iss`.
    pub issuer: String,
    /// The ID token's `sub`: stable for this person at this issuer, unlike the email address.
    pub subject: String,
    /// The ID token's `email`, which the IdP asserted as verified.
    pub email: EmailAddress,
}

/// Why a sign-in through the IdP failed. The messages are safe to show to the person signing in.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Discovery or the JWKS fetch failed, or the metadata is unusable.
    #[error("the identity provider could not be reached or described itself wrongly")]
    Discovery(String),
    /// The callback's `state` is not the one this sign-in attempt sent.
    #[error("the sign-in response does not belong to this sign-in attempt")]
    StateMismatch,
    /// The token endpoint failed or refused the code (for instance a replayed code).
    #[error("the identity provider refused the authorization code")]
    TokenExchange(String),
    /// The ID token failed verification. The reason is one of `"audience"`, `"expired"`,
    /// `"nonce"`, `"signature"`, `"issuer"`, `"missing"`, `"access_token_hash"`, `"subject"`,
    /// `"acr"`, `"auth_time"`, `"unsupported"` or `"other"`.
    #[error("the identity provider's ID token is not valid: {0}")]
    InvalidIdToken(String),
    /// The ID token has no `email`, no `email_verified: true`, or an email Accord cannot use.
    #[error("the identity provider did not supply a verified email address")]
    UnverifiedEmail,
}

impl OidcClient {
    /// Fetch discovery document + JWKS.
    pub async fn discover(config: OidcConfig) -> Result<Self, OidcError> {
        let http = reqwest::Client::builder()
            // Never follow redirects: see the module docs (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .connect_timeout(HTTP_CONNECT_TIMEOUT)
            .build()
            .map_err(|err| OidcError::Discovery(error_chain(&err)))?;

        let issuer_text = issuer_identifier(&config.issuer_url);
        let issuer = IssuerUrl::new(issuer_text.clone())
            .map_err(|err| OidcError::Discovery(error_chain(&err)))?;
        // Also checks that the document's `issuer` is exactly the configured one, so a document
        // served for one issuer cannot be passed off as another's.
        let metadata = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|err| OidcError::Discovery(error_chain(&err)))?;
        let token_endpoint = metadata.token_endpoint().cloned().ok_or_else(|| {
            OidcError::Discovery("the provider metadata names no token endpoint".to_owned())
        })?;

        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(config.client_id),
            Some(ClientSecret::new(
                config.client_secret.expose_secret().to_owned(),
            )),
        )
        .set_token_uri(token_endpoint)
        .set_redirect_uri(RedirectUrl::from_url(config.redirect_url));

        Ok(Self {
            client,
            http,
            issuer: issuer_text,
        })
    }

    /// Start a login: the URL to send the browser to, and what to keep server-side until the
    /// callback.
    pub fn begin(&self) -> (url::Url, PendingLogin) {
        let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
        // The `openid` scope is added by the client itself; `email` is what Accord needs.
        let (url, state, nonce) = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".to_owned()))
            .set_pkce_challenge(pkce_challenge)
            .url();
        let pending = PendingLogin {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: pkce_verifier.secret().clone(),
        };
        (url, pending)
    }

    /// Finish: check `returned_state` equals `pending.state` (constant-time), exchange the code
    /// with the PKCE verifier, verify the ID token (issuer, audience, signature, expiry, nonce),
    /// and require an `email` claim with `email_verified == true`.
    ///
    /// `pending` should be discarded afterwards whatever the outcome: a sign-in attempt is
    /// single-use, and the IdP refuses a second exchange of the same code anyway.
    pub async fn complete(
        &self,
        pending: &PendingLogin,
        returned_state: &str,
        code: &str,
    ) -> Result<VerifiedIdentity, OidcError> {
        // Constant time, so the expected state cannot be guessed byte by byte from timings.
        let state_matches: bool = pending
            .state
            .as_bytes()
            .ct_eq(returned_state.as_bytes())
            .into();
        if !state_matches {
            tracing::warn!("OIDC callback state does not match the pending sign-in");
            return Err(OidcError::StateMismatch);
        }

        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|err| {
                let reason = token_error_reason(&err);
                tracing::warn!(%reason, "OIDC token exchange failed");
                OidcError::TokenExchange(reason)
            })?;

        let id_token = response
            .id_token()
            .ok_or_else(|| invalid_id_token("missing"))?;
        let verifier = self.client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &Nonce::new(pending.nonce.clone()))
            .map_err(|err| invalid_id_token(claims_error_reason(&err)))?;

        // If the IdP binds the access token to the ID token, check the binding, so a token
        // response assembled from parts of different responses is refused.
        if let Some(expected) = claims.access_token_hash() {
            let actual = id_token
                .signing_alg()
                .and_then(|alg| Ok((alg, id_token.signing_key(&verifier)?)))
                .ok()
                .and_then(|(alg, key)| {
                    AccessTokenHash::from_token(response.access_token(), alg, key).ok()
                });
            if actual.as_ref() != Some(expected) {
                return Err(invalid_id_token("access_token_hash"));
            }
        }

        if claims.email_verified() != Some(true) {
            tracing::info!("OIDC sign-in refused: no verified email address in the ID token");
            return Err(OidcError::UnverifiedEmail);
        }
        let email = claims
            .email()
            .and_then(|email| EmailAddress::parse(email.as_str()).ok())
            .ok_or_else(|| {
                tracing::info!("OIDC sign-in refused: missing or unusable email claim");
                OidcError::UnverifiedEmail
            })?;

        Ok(VerifiedIdentity {
            issuer: claims.issuer().as_str().to_owned(),
            subject: claims.subject().as_str().to_owned(),
            email,
        })
    }
}

/// The issuer identifier as the IdP spells it. `url::Url` always gives a bare host a `/` path,
/// but issuers are almost always written without it (`https://accounts.google.com`), and
/// discovery compares the issuer string exactly.
fn issuer_identifier(url: &url::Url) -> String {
    let text = url.as_str();
    if url.path() == "/" && url.query().is_none() && url.fragment().is_none() {
        text.trim_end_matches('/').to_owned()
    } else {
        text.to_owned()
    }
}

fn invalid_id_token(reason: &str) -> OidcError {
    tracing::warn!(reason, "OIDC ID token rejected");
    OidcError::InvalidIdToken(reason.to_owned())
}

/// A fixed word per failure: the library's own messages quote claim values, which do not belong
/// in error messages or logs.
fn claims_error_reason(err: &ClaimsVerificationError) -> &'static str {
    match err {
        ClaimsVerificationError::InvalidAudience(_) => "audience",
        ClaimsVerificationError::Expired(_) => "expired",
        ClaimsVerificationError::InvalidNonce(_) => "nonce",
        ClaimsVerificationError::SignatureVerification(_) => "signature",
        ClaimsVerificationError::InvalidIssuer(_) => "issuer",
        ClaimsVerificationError::InvalidSubject(_) => "subject",
        ClaimsVerificationError::InvalidAuthContext(_) => "acr",
        ClaimsVerificationError::InvalidAuthTime(_) => "auth_time",
        ClaimsVerificationError::Unsupported(_) => "unsupported",
        _ => "other",
    }
}

/// Describes a failed code exchange without the response body, which may hold tokens.
fn token_error_reason<RE, T>(err: &RequestTokenError<RE, T>) -> String
where
    RE: std::error::Error + 'static,
    T: openidconnect::ErrorResponse + 'static,
{
    match err {
        // The IdP's OAuth error (e.g. `invalid_grant: ...`) names no secrets.
        RequestTokenError::ServerResponse(response) => response.to_string(),
        RequestTokenError::Request(err) => error_chain(err),
        RequestTokenError::Parse(_, _) => "the token response could not be parsed".to_owned(),
        RequestTokenError::Other(message) => message.clone(),
    }
}

/// An error and its sources on one line; the `Display` of these errors alone is often just
/// "Request failed".
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_identifier_drops_only_the_implied_root_slash() {
        let bare = url::Url::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(issuer_identifier(&bare), "http://127.0.0.1:8080");
        let pathed = url::Url::parse("https://idp.example/realms/accord/").unwrap();
        assert_eq!(
            issuer_identifier(&pathed),
            "https://idp.example/realms/accord/"
        );
    }

    #[test]
    fn pending_login_debug_hides_secrets() {
        let pending = PendingLogin {
            state: "the-state".to_owned(),
            nonce: "the-nonce".to_owned(),
            pkce_verifier: "the-verifier".to_owned(),
        };
        let printed = format!("{pending:?}");
        assert!(!printed.contains("the-state"));
        assert!(!printed.contains("the-nonce"));
        assert!(!printed.contains("the-verifier"));
    }
}
