//! Single-use invite links and the devices they register.
//!
//! # For code that mails invitations
//!
//! - [`issue`]`(tx, party_id, ttl)` makes a new link for one person on a case
//!   (party, counsel, interpreter) and returns an [`Issued`] holding the raw
//!   token: the only time it exists outside the mail. Only its SHA-256 is
//!   stored. `ttl = None` uses the org's setting (default 14 days). Earlier
//!   links stay valid (each session's invitation carries its own); a resend
//!   or re-invite ([`renew`]) voids them. Call it in the transaction that
//!   enqueues the mail, so that a rolled-back change leaves no link behind.
//! - [`invite_url`]`(public_url, token)` is the link to put in the mail:
//!   `<public_url>/invite#token=<token>` (in the fragment, so the token never
//!   reaches a server log or a `Referer`).
//! - [`mark_sent`], [`mark_delivered`], [`mark_failed`], [`mark_bounced`] (or
//!   [`record_delivery`] with a [`DeliveryState`]) record what became of the
//!   mail, with an optional short machine-made detail (an SMTP reply code,
//!   never message content). Admins see it per person on the case page.
//!
//! A person who already has a registered device can still be sent a link (a
//! later session's invitation): redeeming it on the same browser signs them in
//! again; on another browser it is refused until a mediator or admin
//! re-invites them ([`reinvite`]), which revokes the old device.
//!
//! # Redemption
//!
//! [`redeem`] runs in one transaction: it finds the link's org through a
//! `SECURITY DEFINER` lookup, locks the invitation row, checks it (unknown,
//! expired, voided, spent, another org), gives the person an account when they
//! have none (passwordless: no password is ever set, so the link and then the
//! device are their only credentials), registers the device's key thumbprint,
//! spends the link and starts the web session. Two redemptions racing for one
//! link serialise on the row lock; the second sees it spent. A unique index
//! (one live device per person) backs this up.

use accord_domain::{CaseId, OrgId, PartyId, Role, SessionId, UserId};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{audit, Db, DbError, TenantTx};

/// What became of the mail that carries a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Issued; the mail is not yet handed to a transport.
    Queued,
    /// Handed to the transport (written to the outbox, or SMTP under way).
    Sent,
    /// Accepted by the SMTP server.
    Delivered,
    /// The mailer gave up.
    Failed,
    /// Reported undeliverable after acceptance.
    Bounced,
}

impl DeliveryState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sent => "sent",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Bounced => "bounced",
        }
    }

    fn parse(s: &str) -> Result<Self, DbError> {
        Ok(match s {
            "queued" => DeliveryState::Queued,
            "sent" => DeliveryState::Sent,
            "delivered" => DeliveryState::Delivered,
            "failed" => DeliveryState::Failed,
            "bounced" => DeliveryState::Bounced,
            other => return Err(DbError::Corrupt(format!("delivery state {other:?}"))),
        })
    }
}

/// Where a person's latest invitation stands, as admins see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    /// Issued, mail not yet handed over.
    Queued,
    /// Mail handed to the transport.
    Sent,
    /// Mail accepted by the SMTP server.
    Delivered,
    /// Someone tried to redeem it, without success so far.
    Opened,
    /// Redeemed: the person's device is registered.
    Redeemed,
    /// The mail could not be sent.
    Failed,
    /// The mail bounced.
    Bounced,
    /// Not redeemed in time.
    Expired,
}

/// A new link. `token` is the secret: put it in the mail and forget it.
#[derive(Clone)]
pub struct Issued {
    /// The invitation's id (for [`record_delivery`]).
    pub id: Uuid,
    /// The raw token, base64url (43 characters).
    pub token: String,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// An invitation as stored (never the token).
#[derive(Debug, Clone)]
pub struct Invitation {
    /// Its id.
    pub id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// The person invited.
    pub party_id: PartyId,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// What the mailer last reported.
    pub delivery: DeliveryState,
    /// The mailer's short reason, if any.
    pub delivery_detail: Option<String>,
    /// When the mailer last reported.
    pub delivery_updated_at: Option<DateTime<Utc>>,
    /// First redemption attempt.
    pub opened_at: Option<DateTime<Utc>>,
    /// When it was redeemed.
    pub redeemed_at: Option<DateTime<Utc>>,
    /// When a newer link replaced it.
    pub voided_at: Option<DateTime<Utc>>,
}

impl Invitation {
    /// The state to show, at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> InvitationState {
        if self.redeemed_at.is_some() {
            InvitationState::Redeemed
        } else if self.expires_at <= now {
            InvitationState::Expired
        } else if self.opened_at.is_some() {
            InvitationState::Opened
        } else {
            match self.delivery {
                DeliveryState::Queued => InvitationState::Queued,
                DeliveryState::Sent => InvitationState::Sent,
                DeliveryState::Delivered => InvitationState::Delivered,
                DeliveryState::Failed => InvitationState::Failed,
                DeliveryState::Bounced => InvitationState::Bounced,
            }
        }
    }
}

#[derive(sqlx::FromRow)]
struct InvitationRow {
    id: Uuid,
    case_id: Uuid,
    party_id: Uuid,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    delivery_state: String,
    delivery_detail: Option<String>,
    delivery_updated_at: Option<DateTime<Utc>>,
    opened_at: Option<DateTime<Utc>>,
    redeemed_at: Option<DateTime<Utc>>,
    voided_at: Option<DateTime<Utc>>,
}

impl TryFrom<InvitationRow> for Invitation {
    type Error = DbError;
    fn try_from(r: InvitationRow) -> Result<Self, DbError> {
        Ok(Invitation {
            id: r.id,
            case_id: CaseId::from_uuid(r.case_id),
            party_id: PartyId::from_uuid(r.party_id),
            created_at: r.created_at,
            expires_at: r.expires_at,
            delivery: DeliveryState::parse(&r.delivery_state)?,
            delivery_detail: r.delivery_detail,
            delivery_updated_at: r.delivery_updated_at,
            opened_at: r.opened_at,
            redeemed_at: r.redeemed_at,
            voided_at: r.voided_at,
        })
    }
}

const INVITATION_COLUMNS: &str = "id, case_id, party_id, created_at, expires_at, delivery_state, \
     delivery_detail, delivery_updated_at, opened_at, redeemed_at, voided_at";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    B64.encode(bytes)
}

/// The SHA-256 of a link token, as stored.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The link to mail: `<public_url>/invite#token=<token>`.
pub fn invite_url(public_url: &str, token: &str) -> String {
    format!("{}/invite#token={token}", public_url.trim_end_matches('/'))
}

/// The org's link lifetime.
pub async fn ttl(tx: &mut TenantTx) -> Result<Duration, DbError> {
    let days: i32 = sqlx::query_scalar("SELECT invite_ttl_days FROM organizations WHERE id = $1")
        .bind(tx.actor().org_id.as_uuid())
        .fetch_one(tx.conn())
        .await?;
    Ok(Duration::days(i64::from(days)))
}

/// Sets the org's link lifetime in days (1 to 90; outside is a conflict on the
/// column's check, reported by the caller as bad input).
pub async fn set_ttl_days(tx: &mut TenantTx, days: i32) -> Result<(), DbError> {
    if !(1..=90).contains(&days) {
        return Err(DbError::Conflict {
            constraint: "organizations_invite_ttl_days_check".to_owned(),
        });
    }
    sqlx::query("UPDATE organizations SET invite_ttl_days = $2 WHERE id = $1")
        .bind(tx.actor().org_id.as_uuid())
        .bind(days)
        .execute(tx.conn())
        .await?;
    audit::append(
        tx,
        "org.invite_ttl",
        "organization",
        Some(tx.actor().org_id.as_uuid()),
    )
    .await?;
    Ok(())
}

/// Issues a new link for one person on a case (their earlier links stay
/// valid). `ttl = None` uses the org's setting. Audited as
/// `invitation.issue`. An unknown person is [`DbError::NotFound`].
pub async fn issue(
    tx: &mut TenantTx,
    party_id: PartyId,
    ttl: Option<Duration>,
) -> Result<Issued, DbError> {
    let issued = insert_link(tx, party_id, ttl).await?;
    audit::append(tx, "invitation.issue", "party", Some(party_id.as_uuid())).await?;
    Ok(issued)
}

/// [`issue`] without its audit event (for callers that record their own).
async fn insert_link(
    tx: &mut TenantTx,
    party_id: PartyId,
    ttl: Option<Duration>,
) -> Result<Issued, DbError> {
    let org = tx.actor().org_id.as_uuid();
    let case_id: Uuid =
        sqlx::query_scalar("SELECT case_id FROM case_parties WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(party_id.as_uuid())
            .fetch_one(tx.conn())
            .await?;
    let ttl = match ttl {
        Some(ttl) => ttl,
        None => self::ttl(tx).await?,
    };
    let token = new_token();
    let id = Uuid::now_v7();
    let expires_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO invitations (org_id, id, case_id, party_id, token_hash, created_by, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, now() + $7::bigint * interval '1 second') RETURNING expires_at",
    )
    .bind(org)
    .bind(id)
    .bind(case_id)
    .bind(party_id.as_uuid())
    .bind(hash_token(&token).as_slice())
    .bind(tx.actor().user_id.map(|u| u.as_uuid()))
    .bind(ttl.num_seconds())
    .fetch_one(tx.conn())
    .await?;
    Ok(Issued {
        id,
        token,
        expires_at,
    })
}

async fn void_open_links(tx: &mut TenantTx, party_id: PartyId) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE invitations SET voided_at = now() \
         WHERE org_id = $1 AND party_id = $2 AND redeemed_at IS NULL AND voided_at IS NULL",
    )
    .bind(tx.actor().org_id.as_uuid())
    .bind(party_id.as_uuid())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Records what became of an invitation's mail. `detail` is a short
/// machine-made reason (at most 200 characters kept), never message content.
pub async fn record_delivery(
    tx: &mut TenantTx,
    invitation_id: Uuid,
    state: DeliveryState,
    detail: Option<&str>,
) -> Result<(), DbError> {
    let detail = detail.map(|d| d.chars().take(200).collect::<String>());
    let result = sqlx::query(
        "UPDATE invitations SET delivery_state = $3, delivery_detail = $4, delivery_updated_at = now() \
         WHERE org_id = $1 AND id = $2",
    )
    .bind(tx.actor().org_id.as_uuid())
    .bind(invitation_id)
    .bind(state.as_str())
    .bind(detail)
    .execute(tx.conn())
    .await?;
    if result.rows_affected() == 0 {
        return Err(DbError::NotFound);
    }
    Ok(())
}

/// The mail was handed to the transport.
pub async fn mark_sent(tx: &mut TenantTx, invitation_id: Uuid) -> Result<(), DbError> {
    record_delivery(tx, invitation_id, DeliveryState::Sent, None).await
}

/// The SMTP server accepted the mail (`detail`: e.g. its reply code).
pub async fn mark_delivered(
    tx: &mut TenantTx,
    invitation_id: Uuid,
    detail: Option<&str>,
) -> Result<(), DbError> {
    record_delivery(tx, invitation_id, DeliveryState::Delivered, detail).await
}

/// The mailer gave up (`detail`: why, without content).
pub async fn mark_failed(
    tx: &mut TenantTx,
    invitation_id: Uuid,
    detail: Option<&str>,
) -> Result<(), DbError> {
    record_delivery(tx, invitation_id, DeliveryState::Failed, detail).await
}

/// The mail bounced.
pub async fn mark_bounced(
    tx: &mut TenantTx,
    invitation_id: Uuid,
    detail: Option<&str>,
) -> Result<(), DbError> {
    record_delivery(tx, invitation_id, DeliveryState::Bounced, detail).await
}

/// The latest invitation of each person on a case (people never invited are absent).
pub async fn latest_for_case(
    tx: &mut TenantTx,
    case_id: CaseId,
) -> Result<Vec<Invitation>, DbError> {
    let rows: Vec<InvitationRow> = sqlx::query_as(&format!(
        "SELECT DISTINCT ON (party_id) {INVITATION_COLUMNS} FROM invitations \
         WHERE org_id = $1 AND case_id = $2 ORDER BY party_id, created_at DESC, id DESC"
    ))
    .bind(tx.actor().org_id.as_uuid())
    .bind(case_id.as_uuid())
    .fetch_all(tx.conn())
    .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// The latest invitation of one person, if they were ever invited.
pub async fn latest_for_party(
    tx: &mut TenantTx,
    party_id: PartyId,
) -> Result<Option<Invitation>, DbError> {
    let row: Option<InvitationRow> = sqlx::query_as(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations WHERE org_id = $1 AND party_id = $2 \
         ORDER BY created_at DESC, id DESC LIMIT 1"
    ))
    .bind(tx.actor().org_id.as_uuid())
    .bind(party_id.as_uuid())
    .fetch_optional(tx.conn())
    .await?;
    row.map(TryInto::try_into).transpose()
}

/// Whether a person has a live registered device.
pub async fn has_live_device(tx: &mut TenantTx, party_id: PartyId) -> Result<bool, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM devices WHERE org_id = $1 AND party_id = $2 AND revoked_at IS NULL)",
    )
    .bind(tx.actor().org_id.as_uuid())
    .bind(party_id.as_uuid())
    .fetch_one(tx.conn())
    .await?)
}

/// What the registered devices say about a user joining a case's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceBinding {
    /// The user never registered a device on this case: no binding.
    None,
    /// Join tokens go to this key thumbprint only.
    Live(String),
    /// Every device they registered was revoked (re-invited): no token until
    /// the new link is redeemed.
    Revoked,
}

/// The device binding of `user_id` on `case_id`.
pub async fn device_binding(
    tx: &mut TenantTx,
    case_id: CaseId,
    user_id: UserId,
) -> Result<DeviceBinding, DbError> {
    let rows: Vec<(String, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT jkt, revoked_at FROM devices WHERE org_id = $1 AND case_id = $2 AND user_id = $3",
    )
    .bind(tx.actor().org_id.as_uuid())
    .bind(case_id.as_uuid())
    .bind(user_id.as_uuid())
    .fetch_all(tx.conn())
    .await?;
    if let Some((jkt, _)) = rows.iter().find(|(_, revoked)| revoked.is_none()) {
        return Ok(DeviceBinding::Live(jkt.clone()));
    }
    Ok(if rows.is_empty() {
        DeviceBinding::None
    } else {
        DeviceBinding::Revoked
    })
}

/// Whether the link was a re-invite (device revoked) or a plain resend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// A new link; the registered device (if any) stays.
    Resend,
    /// A new link and the registered device revoked, with the web session it started.
    Reinvite,
}

/// Issues a new link for a person, voiding their unused ones, revoking their
/// device first for a [`Renewal::Reinvite`]. Audited as one event,
/// `invitation.resend` or `invitation.reinvite` (which revoked the device).
pub async fn renew(
    tx: &mut TenantTx,
    party_id: PartyId,
    renewal: Renewal,
) -> Result<Issued, DbError> {
    let org = tx.actor().org_id.as_uuid();
    // Existence first, so that an unknown person is NotFound whatever the kind.
    sqlx::query_scalar::<_, Uuid>("SELECT id FROM case_parties WHERE org_id = $1 AND id = $2")
        .bind(org)
        .bind(party_id.as_uuid())
        .fetch_one(tx.conn())
        .await?;
    if renewal == Renewal::Reinvite {
        let revoked: Vec<(Uuid, Option<Uuid>)> = sqlx::query_as(
            "UPDATE devices SET revoked_at = now(), revoked_by = $3 \
             WHERE org_id = $1 AND party_id = $2 AND revoked_at IS NULL \
             RETURNING id, web_session_id",
        )
        .bind(org)
        .bind(party_id.as_uuid())
        .bind(tx.actor().user_id.map(|u| u.as_uuid()))
        .fetch_all(tx.conn())
        .await?;
        for (_device, web_session) in revoked {
            if let Some(web_session) = web_session {
                sqlx::query(
                    "UPDATE web_sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(web_session)
                .execute(tx.conn())
                .await?;
            }
        }
    }
    void_open_links(tx, party_id).await?;
    let issued = insert_link(tx, party_id, None).await?;
    let action = match renewal {
        Renewal::Resend => "invitation.resend",
        Renewal::Reinvite => "invitation.reinvite",
    };
    audit::append(tx, action, "party", Some(party_id.as_uuid())).await?;
    Ok(issued)
}

/// The case's next session still to start (scheduled, not cancelled), whose
/// calendar entry a renewed link's mail carries.
pub async fn next_session(
    tx: &mut TenantTx,
    case_id: CaseId,
) -> Result<Option<SessionId>, DbError> {
    let id: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM sessions WHERE org_id = $1 AND case_id = $2 \
         AND status = 'scheduled' AND starts_at > now() ORDER BY starts_at, id LIMIT 1",
    )
    .bind(tx.actor().org_id.as_uuid())
    .bind(case_id.as_uuid())
    .fetch_optional(tx.conn())
    .await?;
    Ok(id.map(SessionId::from_uuid))
}

/// Why a link was not redeemed. Each is the user's doing (or an attacker's),
/// never a server fault, except [`RedeemError::Db`].
#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    /// No such link (never issued, mistyped, or of another org).
    #[error("this invitation link is not valid")]
    Unknown,
    /// Past its expiry.
    #[error("this invitation link has expired")]
    Expired,
    /// Replaced by a newer link.
    #[error("this invitation link was replaced by a newer one")]
    Replaced,
    /// Already redeemed (on this browser or another).
    #[error("this invitation link has already been used")]
    Spent,
    /// The person has a registered device and this is another one.
    #[error("this person's invitation is already registered on another device")]
    OtherDevice,
    /// The data layer failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A redeemed link.
#[derive(Debug, Clone)]
pub struct Redeemed {
    /// The org.
    pub org_id: OrgId,
    /// The account the browser is now signed in as.
    pub user_id: UserId,
    /// The case.
    pub case_id: CaseId,
    /// The person on the case.
    pub party_id: PartyId,
    /// The registered device.
    pub device_id: Uuid,
    /// Whether a passwordless account was made for the person just now.
    pub new_account: bool,
}

/// What the web session started by a redemption looks like.
#[derive(Debug, Clone, Copy)]
pub struct NewWebSession<'a> {
    /// SHA-256 of the session token the browser gets.
    pub token_hash: &'a [u8; 32],
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct LockedInvitation {
    id: Uuid,
    case_id: Uuid,
    party_id: Uuid,
    expired: bool,
    redeemed_at: Option<DateTime<Utc>>,
    voided_at: Option<DateTime<Utc>>,
}

/// Redeems a link for the device whose key thumbprint is `jkt`, in one
/// transaction (see the module docs). `org`, when given, must be the link's
/// org, else the link is [`RedeemError::Unknown`]. A spent, replaced or
/// other-device attempt is audited (`invitation.reuse`) before it is refused.
pub async fn redeem(
    db: &Db,
    token: &str,
    jkt: &str,
    org: Option<OrgId>,
    session: NewWebSession<'_>,
    request_id: Option<String>,
) -> Result<Redeemed, RedeemError> {
    let hash = hash_token(token);
    let found: Option<Uuid> = sqlx::query_scalar("SELECT accord_lookup_invitation($1)")
        .bind(hash.as_slice())
        .fetch_one(db.pool())
        .await
        .map_err(DbError::from)?;
    let org_id = match (found, org) {
        (None, _) => return Err(RedeemError::Unknown),
        (Some(found), Some(org)) if found != org.as_uuid() => return Err(RedeemError::Unknown),
        (Some(found), _) => OrgId::from_uuid(found),
    };
    let mut tx = db.anonymous_tenant(org_id, Role::Party, request_id).await?;
    let row: LockedInvitation = sqlx::query_as(
        "SELECT id, case_id, party_id, expires_at <= now() AS expired, redeemed_at, voided_at \
         FROM invitations WHERE org_id = $1 AND token_hash = $2 FOR UPDATE",
    )
    .bind(org_id.as_uuid())
    .bind(hash.as_slice())
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?
    .ok_or(RedeemError::Unknown)?;
    let LockedInvitation {
        id: invitation_id,
        case_id,
        party_id,
        expired,
        redeemed_at,
        voided_at,
    } = row;
    sqlx::query("UPDATE invitations SET opened_at = coalesce(opened_at, now()) WHERE id = $1")
        .bind(invitation_id)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;

    let refusal = if redeemed_at.is_some() {
        Some(RedeemError::Spent)
    } else if voided_at.is_some() {
        Some(RedeemError::Replaced)
    } else if expired {
        Some(RedeemError::Expired)
    } else {
        None
    };
    if let Some(refusal) = refusal {
        let action = match refusal {
            RedeemError::Expired => "invitation.expired_use",
            _ => "invitation.reuse",
        };
        audit::append(&mut tx, action, "invitation", Some(invitation_id)).await?;
        tx.commit().await?;
        return Err(refusal);
    }

    // The person's live device, if they registered one with an earlier link.
    let live: Option<(Uuid, String)> = sqlx::query_as(
        "SELECT id, jkt FROM devices WHERE org_id = $1 AND party_id = $2 AND revoked_at IS NULL",
    )
    .bind(org_id.as_uuid())
    .bind(party_id)
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    if let Some((_, live_jkt)) = &live {
        if live_jkt != jkt {
            audit::append(
                &mut tx,
                "invitation.other_device",
                "invitation",
                Some(invitation_id),
            )
            .await?;
            tx.commit().await?;
            return Err(RedeemError::OtherDevice);
        }
    }

    let (user_id, new_account) = party_account(&mut tx, party_id).await?;
    tx.act_as(user_id).await?;

    let web_session_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO web_sessions (id, token_hash, user_id, org_id, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(web_session_id)
    .bind(session.token_hash.as_slice())
    .bind(user_id.as_uuid())
    .bind(org_id.as_uuid())
    .bind(session.expires_at)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;

    let device_id = match live {
        Some((device_id, _)) => device_id,
        None => {
            let device_id = Uuid::now_v7();
            sqlx::query(
                "INSERT INTO devices (org_id, id, case_id, party_id, user_id, jkt, invitation_id, web_session_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(org_id.as_uuid())
            .bind(device_id)
            .bind(case_id)
            .bind(party_id)
            .bind(user_id.as_uuid())
            .bind(jkt)
            .bind(invitation_id)
            .bind(web_session_id)
            .execute(tx.conn())
            .await
            .map_err(|e| match DbError::from(e) {
                // Lost a race with another of the person's links, redeemed
                // on another device at the same moment.
                DbError::Conflict { .. } => RedeemError::OtherDevice,
                other => RedeemError::Db(other),
            })?;
            audit::append(&mut tx, "device.register", "device", Some(device_id)).await?;
            device_id
        }
    };
    sqlx::query("UPDATE invitations SET redeemed_at = now(), device_id = $2 WHERE id = $1")
        .bind(invitation_id)
        .bind(device_id)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
    sqlx::query(
        "UPDATE memberships SET joined_at = coalesce(joined_at, now()) WHERE org_id = $1 AND user_id = $2",
    )
    .bind(org_id.as_uuid())
    .bind(user_id.as_uuid())
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    audit::append(
        &mut tx,
        "invitation.redeem",
        "invitation",
        Some(invitation_id),
    )
    .await?;
    tx.commit().await?;
    Ok(Redeemed {
        org_id,
        user_id,
        case_id: CaseId::from_uuid(case_id),
        party_id: PartyId::from_uuid(party_id),
        device_id,
        new_account,
    })
}

/// The account of a person on a case: the linked one, else the account with
/// their email (given a party membership here if it has none), else a new
/// passwordless account. Links the person to it.
async fn party_account(tx: &mut TenantTx, party_id: Uuid) -> Result<(UserId, bool), DbError> {
    let org = tx.actor().org_id.as_uuid();
    let (linked, email, name): (Option<Uuid>, String, String) = sqlx::query_as(
        "SELECT user_id, email, display_name FROM case_parties WHERE org_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(org)
    .bind(party_id)
    .fetch_one(tx.conn())
    .await?;
    if let Some(user) = linked {
        return Ok((UserId::from_uuid(user), false));
    }
    let existing: Option<Uuid> = sqlx::query_scalar("SELECT accord_lookup_user_by_email($1)")
        .bind(&email)
        .fetch_one(tx.conn())
        .await?;
    let (user, new_account) = match existing {
        Some(user) => (user, false),
        None => {
            let user = Uuid::now_v7();
            sqlx::query(
                "INSERT INTO users (id, email, display_name, password_hash) VALUES ($1, $2, $3, NULL)",
            )
            .bind(user)
            .bind(&email)
            .bind(&name)
            .execute(tx.conn())
            .await?;
            (user, true)
        }
    };
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, display_name) VALUES ($1, $2, 'party', $3) \
         ON CONFLICT (org_id, user_id) DO NOTHING",
    )
    .bind(org)
    .bind(user)
    .bind(&name)
    .execute(tx.conn())
    .await?;
    sqlx::query("UPDATE case_parties SET user_id = $3 WHERE org_id = $1 AND id = $2")
        .bind(org)
        .bind(party_id)
        .bind(user)
        .execute(tx.conn())
        .await?;
    Ok((UserId::from_uuid(user), new_account))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_carry_the_token_in_the_fragment() {
        assert_eq!(
            invite_url("https://client.example/", "abc"),
            "https://client.example/invite#token=abc"
        );
        assert_eq!(
            invite_url("http://127.0.0.1:8080", "x-y_z"),
            "http://127.0.0.1:8080/invite#token=x-y_z"
        );
    }

    #[test]
    fn tokens_are_random_and_only_hashes_compare() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }

    #[test]
    fn state_prefers_redeemed_then_expiry_then_opened() {
        let now = Utc::now();
        let mut inv = Invitation {
            id: Uuid::nil(),
            case_id: CaseId::new(),
            party_id: PartyId::new(),
            created_at: now,
            expires_at: now + Duration::days(1),
            delivery: DeliveryState::Delivered,
            delivery_detail: None,
            delivery_updated_at: None,
            opened_at: None,
            redeemed_at: None,
            voided_at: None,
        };
        assert_eq!(inv.state(now), InvitationState::Delivered);
        inv.opened_at = Some(now);
        assert_eq!(inv.state(now), InvitationState::Opened);
        assert_eq!(inv.state(now + Duration::days(2)), InvitationState::Expired);
        inv.redeemed_at = Some(now);
        assert_eq!(
            inv.state(now + Duration::days(2)),
            InvitationState::Redeemed
        );
    }
}
