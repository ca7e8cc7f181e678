//! The `/auth` routes: sign-in and out, password links, TOTP, OIDC.
//!
//! These are plain JSON endpoints rather than GraphQL mutations because they set
//! cookies, redirect browsers, and sit behind per-IP rate limits of their own.

use std::time::Duration;

use accord_auth::{lockout, password, token, totp};
use accord_db::auth::{self as auth_db, LinkError, LinkPurpose};
use accord_db::{audit, lookup, Db, UserTx};
use accord_domain::{EmailAddress, OrgId, OrgSlug, PlainPassword, Role, UserId};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use chrono::Utc;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use crate::web::{self, Cookie, SignedIn};
use crate::{ApiError, AppState};

/// How long the identity provider has to send the browser back.
const OIDC_LOGIN_TTL: Duration = Duration::from_secs(600);

/// Handlers answer with a response or an error; the error's body carries its
/// code, and internal errors a reference to the log line (whose span holds the
/// request id).
type Reply = Result<Response, ApiError>;

/// Records an account event in the org of the signed-in session.
async fn audit_session_event(
    state: &AppState,
    signed_in: &SignedIn,
    action: &str,
) -> Result<(), ApiError> {
    let s = signed_in.session;
    let mut tx = state
        .db()
        .tenant(s.org_id, s.user_id, signed_in.request_id.clone())
        .await?;
    audit::append(&mut tx, action, "user", Some(s.user_id.as_uuid())).await?;
    tx.commit().await?;
    Ok(())
}

/// Parses a JSON body with a clear error for the client.
///
/// Only `application/json` is accepted: a cross-site HTML form can send
/// `text/plain` that happens to be JSON, but never `application/json`, so this
/// keeps other sites from signing a browser in (login CSRF) or using a link.
fn parse_body<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, ApiError> {
    if !web::is_json(headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    serde_json::from_slice(body).map_err(|e| ApiError::BadUserInput {
        field: None,
        message: format!("the request body is not valid JSON for this endpoint: {e}"),
    })
}

/// Runs a CPU-heavy password operation off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("blocking task: {e}")))
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(1))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignInRequest {
    email: String,
    password: String,
    org: Option<String>,
    totp_code: Option<String>,
    recovery_code: Option<String>,
}

fn wrong_credentials() -> ApiError {
    ApiError::Unauthenticated("wrong email or password".into())
}

/// `POST /auth/sign-in`
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let state = &state;
    let rid = web::request_id(&headers);
    let req: SignInRequest = parse_body(&headers, &body)?;
    let email = EmailAddress::parse(&req.email)?;
    let db = state.db();
    let now = Utc::now();
    // The throttle is keyed by address, known or not, and its row lock
    // serialises attempts on one address across requests and nodes. All of
    // sign-in runs on this one connection, so a burst of sign-ins can never
    // hold the pool while waiting for a second connection.
    let key = lockout::throttle_key(&email);
    let mut tx = db.unscoped().await?;
    let throttle = auth_db::lock_throttle(&mut tx, &key).await?;
    if let Some(until) = throttle.locked_until.filter(|until| *until > now) {
        let retry_after = u64::try_from((until - now).num_seconds().max(1)).unwrap_or(1);
        return Err(ApiError::RateLimited { retry_after });
    }
    let failures = throttle.failures.saturating_add(1);
    let lock = lockout::locked_until(failures, now);

    let Some(user_id) = lookup::user_by_email_on(&mut tx, &email).await? else {
        let candidate = req.password.clone();
        blocking(move || password::dummy_verify(&candidate)).await?;
        auth_db::record_failed_sign_in(&mut tx, &key, failures, lock).await?;
        tx.commit().await.map_err(accord_db::DbError::from)?;
        return Err(wrong_credentials());
    };
    let mut utx = UserTx::scope(tx, user_id).await?;
    let failed = |mut utx: UserTx| async move {
        auth_db::record_failed_sign_in(utx.conn(), &key, failures, lock).await?;
        utx.commit().await?;
        Err::<Response, ApiError>(wrong_credentials())
    };
    let creds = auth_db::credentials(&mut utx).await?;
    let candidate = req.password.clone();
    let stored = creds.password_hash.clone();
    let password_ok = blocking(move || match stored {
        Some(hash) => password::verify_password(&hash, &candidate),
        None => {
            password::dummy_verify(&candidate);
            false
        }
    })
    .await?;
    if !password_ok {
        return failed(utx).await;
    }
    if let Some(secret) = &creds.totp_secret {
        let second_factor_ok = match (&req.totp_code, &req.recovery_code) {
            (Some(code), _) => {
                match totp::verify(secret, code, now.timestamp(), creds.totp_last_step) {
                    Some(step) => {
                        auth_db::set_totp_last_step(&mut utx, step).await?;
                        true
                    }
                    None => false,
                }
            }
            (None, Some(code)) => {
                auth_db::use_recovery_code(&mut utx, &totp::hash_recovery_code(code)).await?
            }
            (None, None) => {
                // Right password, second factor still to come: not a failure.
                return Err(ApiError::bad_input(
                    "totpCode",
                    "enter the 6-digit code from your authenticator app, or a recovery code",
                ));
            }
        };
        if !second_factor_ok {
            return failed(utx).await;
        }
    }
    auth_db::clear_throttle(utx.conn(), &key).await?;
    let memberships = auth_db::memberships(&mut utx).await?;
    utx.commit().await?;
    let (org_id, role) = choose_org(db, &memberships, req.org.as_deref()).await?;
    start_session(state, user_id, org_id, role, rid, "auth.sign_in").await
}

/// Picks the org to sign in to: the one named, or the only one.
async fn choose_org(
    db: &Db,
    memberships: &[(OrgId, Role)],
    slug: Option<&str>,
) -> Result<(OrgId, Role), ApiError> {
    let not_member =
        || ApiError::Forbidden("this account is not a member of that organization".into());
    match slug {
        Some(slug) => {
            let slug = OrgSlug::parse(slug)?;
            let org = lookup::org_by_slug(db, &slug)
                .await?
                .ok_or_else(not_member)?;
            memberships
                .iter()
                .find(|(o, _)| *o == org)
                .copied()
                .ok_or_else(not_member)
        }
        None => match memberships {
            [] => Err(ApiError::Forbidden(
                "this account is not a member of any organization".into(),
            )),
            [only] => Ok(*only),
            _ => Err(ApiError::bad_input(
                "org",
                "this account belongs to several organizations: name one with \"org\"",
            )),
        },
    }
}

/// Creates the web session, records the sign-in, and answers with the cookie.
async fn start_session(
    state: &AppState,
    user_id: UserId,
    org_id: OrgId,
    role: Role,
    rid: Option<String>,
    action: &str,
) -> Reply {
    let db = state.db();
    let ttl = state.config().session_ttl;
    let session_token = token::new_token();
    let session = auth_db::create_web_session(
        db,
        &token::hash_token(&session_token),
        user_id,
        org_id,
        Utc::now() + chrono_duration(ttl),
    )
    .await?;
    let mut tx = db.tenant(org_id, user_id, rid).await?;
    accord_db::members::mark_joined(&mut tx).await?;
    audit::append(&mut tx, action, "user", Some(user_id.as_uuid())).await?;
    tx.commit().await?;
    let body = json!({
        "csrfToken": token::csrf_token(&session_token),
        "userId": user_id,
        "orgId": org_id,
        "role": role.as_str(),
        "expiresAt": session.expires_at,
    });
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        Cookie::Session.set(state.config().secure_cookies, &session_token, ttl.as_secs()),
    );
    Ok(response)
}

/// `GET /auth/options`: the ways to sign in this deployment offers, for the
/// sign-in page to show (no session needed): `oidc` is true when sign-in with
/// the organization's identity provider is configured.
pub(crate) async fn options(State(state): State<AppState>) -> Response {
    Json(json!({ "oidc": state.inner.oidc.is_some() })).into_response()
}

/// `GET /auth/session`: who is signed in, with the CSRF token for this session.
pub(crate) async fn current_session(State(state): State<AppState>, signed_in: SignedIn) -> Reply {
    let rid = signed_in.request_id.clone();
    let s = signed_in.session;
    let tx = state.db().tenant(s.org_id, s.user_id, rid.clone()).await?;
    let role = tx.actor().role;
    Ok(Json(json!({
        "csrfToken": token::csrf_token(&signed_in.token),
        "userId": s.user_id,
        "orgId": s.org_id,
        "role": role.as_str(),
        "expiresAt": s.expires_at,
    }))
    .into_response())
}

/// `POST /auth/sign-out`
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
) -> Reply {
    signed_in.check_csrf(&headers)?;
    let s = signed_in.session;
    auth_db::revoke_web_session(state.db(), s.id).await?;
    // The membership may be gone already; signing out still succeeds then.
    if let Err(e) = audit_session_event(&state, &signed_in, "auth.sign_out").await {
        if !matches!(e, ApiError::Unauthenticated(_)) {
            return Err(e);
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        Cookie::Session.clear(state.config().secure_cookies),
    );
    Ok(response)
}

/// `POST /auth/sign-out-everywhere`: ends every session of the account.
pub(crate) async fn sign_out_everywhere(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
) -> Reply {
    signed_in.check_csrf(&headers)?;
    let s = signed_in.session;
    audit_session_event(&state, &signed_in, "auth.sign_out_everywhere").await?;
    let ended = auth_db::revoke_all_web_sessions(state.db(), s.user_id).await?;
    let mut response = Json(json!({ "endedSessions": ended })).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        Cookie::Session.clear(state.config().secure_cookies),
    );
    Ok(response)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SetPasswordRequest {
    token: String,
    password: String,
}

/// `POST /auth/password`: sets a password with a single-use setup or reset link.
pub(crate) async fn set_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let req: SetPasswordRequest = parse_body(&headers, &body)?;
    let new_password = PlainPassword::parse(&req.password)?;
    // The link is checked (and locked) before any hashing, so invalid tokens
    // cost no password work.
    let (mut utx, _purpose) =
        auth_db::spend_password_link(state.db(), &token::hash_token(&req.token))
            .await
            .map_err(|e| match e {
                LinkError::Db(db) => ApiError::from(db),
                other => ApiError::bad_input("token", other.to_string()),
            })?;
    let hash = blocking(move || password::hash_password(&new_password))
        .await?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let user_id = utx.user_id();
    let email = auth_db::credentials(&mut utx).await?.email;
    auth_db::set_password_hash(&mut utx, &hash).await?;
    auth_db::void_password_links(&mut utx).await?;
    // A new password lifts a lock-out on the address.
    auth_db::clear_throttle(utx.conn(), &lockout::throttle_key(&email)).await?;
    utx.commit().await?;
    // A new password ends every existing session: whoever knew the old one is out.
    auth_db::revoke_all_web_sessions(state.db(), user_id).await?;
    // The account is not in one org; each org it belongs to records the change.
    let mut utx = state.db().user(user_id).await?;
    let memberships = auth_db::memberships(&mut utx).await?;
    utx.commit().await?;
    for (org_id, _) in memberships {
        let mut tx = state
            .db()
            .tenant(org_id, user_id, web::request_id(&headers))
            .await?;
        audit::append(
            &mut tx,
            "auth.password_set",
            "user",
            Some(user_id.as_uuid()),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(Json(json!({ "status": "password set; sign in with it now" })).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ResetRequest {
    email: String,
}

/// `POST /auth/password/reset`: mails a reset link if the account exists. The
/// answer is the same either way, so it reveals nothing about who has an account.
pub(crate) async fn request_reset(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let req: ResetRequest = parse_body(&headers, &body)?;
    let email = EmailAddress::parse(&req.email)?;
    // The link is made and sent after the answer, so neither the time taken
    // nor a delivery failure tells the caller whether the account exists.
    tokio::spawn(async move {
        if let Err(e) = send_reset_link(&state, &email).await {
            e.client_message(None);
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "status": "if an account uses this address, a reset link is on its way" })),
    )
        .into_response())
}

async fn send_reset_link(state: &AppState, email: &EmailAddress) -> Result<(), ApiError> {
    if let Some(user_id) = lookup::user_by_email(state.db(), email).await? {
        // The link and its mail commit together.
        let mut tx = accord_db::Db::unscoped(state.db()).await?;
        let link = issue_password_link(state, &mut tx, user_id, LinkPurpose::Reset).await?;
        let lifetime = lifetime(state.config().reset_link_ttl);
        crate::mail::password_reset(&mut tx, state, email, &link, &lifetime).await?;
        tx.commit().await.map_err(accord_db::DbError::from)?;
        state.wake_mailer();
    }
    Ok(())
}

/// A link lifetime in words: "3 days", "2 hours", "30 minutes", "1 minute".
pub(crate) fn lifetime(d: Duration) -> String {
    let minutes = (d.as_secs() / 60).max(1);
    let (n, unit) = if minutes.is_multiple_of(24 * 60) {
        (minutes / (24 * 60), "day")
    } else if minutes.is_multiple_of(60) {
        (minutes / 60, "hour")
    } else {
        (minutes, "minute")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Creates a single-use password link with the configured lifetime.
pub(crate) async fn issue_password_link(
    state: &AppState,
    conn: &mut sqlx::PgConnection,
    user_id: UserId,
    purpose: LinkPurpose,
) -> Result<String, ApiError> {
    let config = state.config();
    let ttl = match purpose {
        LinkPurpose::Setup => config.setup_link_ttl,
        LinkPurpose::Reset => config.reset_link_ttl,
    };
    Ok(create_password_link(conn, &config.public_url, user_id, purpose, ttl).await?)
}

/// Creates a single-use password link on `conn` (in the caller's transaction)
/// and returns its URL, `<public_url>/password#token=…`: the token rides in the
/// fragment so it never reaches a server log or a `Referer` header. Only its
/// hash is stored.
pub async fn create_password_link(
    conn: &mut sqlx::PgConnection,
    public_url: &url::Url,
    user_id: UserId,
    purpose: LinkPurpose,
    ttl: Duration,
) -> Result<String, accord_db::DbError> {
    let secret = token::new_token();
    auth_db::create_password_link(
        conn,
        &token::hash_token(&secret),
        user_id,
        purpose,
        Utc::now() + chrono_duration(ttl),
    )
    .await?;
    let mut url = public_url.clone();
    url.set_path("/password");
    url.set_query(None);
    url.set_fragment(Some(&format!("token={secret}")));
    Ok(url.to_string())
}

/// `POST /auth/totp/setup`: starts TOTP enrolment; returns the secret to scan.
pub(crate) async fn totp_setup(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
) -> Reply {
    signed_in.check_csrf(&headers)?;
    let mut utx = state.db().user(signed_in.session.user_id).await?;
    let creds = auth_db::credentials(&mut utx).await?;
    if creds.totp_secret.is_some() {
        return Err(ApiError::Conflict(
            "two-factor sign-in is already on; turn it off first to enrol a new device".into(),
        ));
    }
    let secret = totp::new_secret();
    auth_db::set_totp_pending(&mut utx, &secret).await?;
    utx.commit().await?;
    Ok(Json(json!({
        "secret": totp::secret_base32(&secret),
        "otpauthUri": totp::provisioning_uri(&secret, "Accord", creds.email.as_str()),
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CodeRequest {
    code: String,
}

/// `POST /auth/totp/confirm`: turns TOTP on once a code from the new secret
/// checks out; returns ten recovery codes, shown this once.
pub(crate) async fn totp_confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    body: Bytes,
) -> Reply {
    signed_in.check_csrf(&headers)?;
    let req: CodeRequest = parse_body(&headers, &body)?;
    let mut utx = state.db().user(signed_in.session.user_id).await?;
    let creds = auth_db::credentials(&mut utx).await?;
    let secret = creds.totp_pending_secret.ok_or_else(|| {
        ApiError::Conflict("start two-factor enrolment first (POST /auth/totp/setup)".into())
    })?;
    let step = totp::verify(&secret, &req.code, Utc::now().timestamp(), None).ok_or_else(|| {
        ApiError::bad_input(
            "code",
            "that code does not match; check the device's clock and try the next code",
        )
    })?;
    auth_db::enable_totp(&mut utx, &secret, step).await?;
    let codes = totp::new_recovery_codes();
    let hashes: Vec<[u8; 32]> = codes.iter().map(|c| totp::hash_recovery_code(c)).collect();
    auth_db::replace_recovery_codes(&mut utx, &hashes).await?;
    // Audit first: once TOTP is committed, the answer carrying the only copy
    // of the recovery codes must not be lost to a later failure.
    audit_session_event(&state, &signed_in, "auth.totp_enable").await?;
    utx.commit().await?;
    Ok(Json(json!({ "recoveryCodes": codes })).into_response())
}

/// `POST /auth/totp/disable`: turns TOTP off, given a current code.
pub(crate) async fn totp_disable(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    body: Bytes,
) -> Reply {
    signed_in.check_csrf(&headers)?;
    let req: CodeRequest = parse_body(&headers, &body)?;
    let mut utx = state.db().user(signed_in.session.user_id).await?;
    let creds = auth_db::credentials(&mut utx).await?;
    let secret = creds
        .totp_secret
        .ok_or_else(|| ApiError::Conflict("two-factor sign-in is not on".into()))?;
    totp::verify(
        &secret,
        &req.code,
        Utc::now().timestamp(),
        creds.totp_last_step,
    )
    .ok_or_else(|| ApiError::bad_input("code", "that code does not match"))?;
    auth_db::disable_totp(&mut utx).await?;
    utx.commit().await?;
    audit_session_event(&state, &signed_in, "auth.totp_disable").await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
pub(crate) struct OidcStartQuery {
    org: Option<String>,
}

/// `GET /auth/oidc/start?org=…`: sends the browser to the identity provider.
pub(crate) async fn oidc_start(
    State(state): State<AppState>,
    Query(q): Query<OidcStartQuery>,
) -> Reply {
    let oidc = state
        .inner
        .oidc
        .as_ref()
        .ok_or(ApiError::NotFound("OIDC sign-in"))?;
    if let Some(slug) = &q.org {
        OrgSlug::parse(slug)?;
    }
    let (url, pending) = oidc.begin();
    let pending_json = serde_json::to_value(&pending)
        .map_err(|e| ApiError::Internal(format!("pending login: {e}")))?;
    // The callback must come back to this browser: a cookie holds a secret
    // whose hash is stored with the pending login (login CSRF otherwise lets
    // an attacker hand a victim a callback URL for the attacker's account).
    let binding = token::new_token();
    auth_db::store_oidc_login(
        state.db(),
        &token::hash_token(&pending.state),
        &token::hash_token(&binding),
        &pending_json,
        q.org.as_deref(),
        Utc::now() + chrono_duration(OIDC_LOGIN_TTL),
    )
    .await?;
    let mut response = Redirect::to(url.as_str()).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        Cookie::OidcBinding.set(
            state.config().secure_cookies,
            &binding,
            OIDC_LOGIN_TTL.as_secs(),
        ),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub(crate) struct OidcCallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/oidc/callback`: finishes the login and links the identity to an
/// existing account by verified email. Never creates an account.
pub(crate) async fn oidc_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<OidcCallbackQuery>,
) -> Reply {
    let rid = web::request_id(&headers);
    let oidc = state
        .inner
        .oidc
        .as_ref()
        .ok_or(ApiError::NotFound("OIDC sign-in"))?;
    if let Some(error) = q.error {
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect();
        return Err(ApiError::Unauthenticated(format!(
            "the identity provider did not sign you in ({error})"
        )));
    }
    let (Some(code), Some(returned_state)) = (q.code, q.state) else {
        return Err(ApiError::bad_input(
            "code",
            "the callback lacks code or state",
        ));
    };
    let expired = || {
        ApiError::bad_input(
            "state",
            "this sign-in attempt expired or was already used; start again",
        )
    };
    let pending_login = auth_db::take_oidc_login(state.db(), &token::hash_token(&returned_state))
        .await?
        .ok_or_else(expired)?;
    let binding = Cookie::OidcBinding
        .read(&headers, state.config().secure_cookies)
        .unwrap_or_default();
    let same_browser: bool = subtle::ConstantTimeEq::ct_eq(
        &token::hash_token(&binding)[..],
        &pending_login.binding_hash[..],
    )
    .into();
    if !same_browser {
        return Err(ApiError::bad_input(
            "state",
            "this sign-in was started in another browser; start again here",
        ));
    }
    let (pending_json, org_slug) = (pending_login.pending, pending_login.org_slug);
    let pending = serde_json::from_value(pending_json).map_err(|_| expired())?;
    let identity = oidc
        .complete(&pending, &returned_state, &code)
        .await
        .map_err(|e| ApiError::Unauthenticated(e.to_string()))?;
    let db = state.db();
    let user_id = match auth_db::identity_user(db, &identity.issuer, &identity.subject).await? {
        Some(user) => user,
        None => lookup::user_by_email(db, &identity.email).await?.ok_or_else(|| {
            ApiError::Forbidden(
                "no Accord account uses this email address; ask your organization's admin to invite you"
                    .into(),
            )
        })?,
    };
    let mut utx = db.user(user_id).await?;
    let memberships = auth_db::memberships(&mut utx).await?;
    let uses_totp = auth_db::credentials(&mut utx).await?.totp_secret.is_some();
    utx.commit().await?;
    if uses_totp {
        // The identity provider cannot vouch for Accord's second factor.
        return Err(ApiError::Forbidden(
            "this account uses two-factor sign-in: sign in with your password and code".into(),
        ));
    }
    let (org_id, role) = choose_org(db, &memberships, org_slug.as_deref()).await?;
    if !matches!(role, Role::OrgAdmin | Role::Mediator) {
        return Err(ApiError::Forbidden(
            "single sign-on is for staff; sign in with your password".into(),
        ));
    }
    auth_db::link_identity(db, &identity.issuer, &identity.subject, user_id).await?;
    let mut response = start_session(
        &state,
        user_id,
        org_id,
        role,
        rid.clone(),
        "auth.sign_in_oidc",
    )
    .await?;
    // A browser arrives here: send it to the admin portal (single sign-on
    // is for staff), keeping the cookie.
    *response.status_mut() = StatusCode::SEE_OTHER;
    response.headers_mut().insert(
        header::LOCATION,
        header::HeaderValue::from_static("/admin/"),
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        Cookie::OidcBinding.clear(state.config().secure_cookies),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::lifetime;
    use std::time::Duration;

    #[test]
    fn lifetimes_read_naturally() {
        assert_eq!(lifetime(Duration::from_secs(72 * 3600)), "3 days");
        assert_eq!(lifetime(Duration::from_secs(3600)), "1 hour");
        assert_eq!(lifetime(Duration::from_secs(90 * 60)), "90 minutes");
        assert_eq!(lifetime(Duration::from_secs(1)), "1 minute");
    }
}
