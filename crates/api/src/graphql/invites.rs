//! Invite links, as the case's mediator and org admins see and renew them.
//!
//! Each person on a case gets a single-use link by mail; opening it registers
//! their browser as their device (`POST /auth/invite/redeem`). Here, staff see
//! where each person's latest link stands (`caseInvitations`), mail a fresh
//! link that keeps the registered device (`resendInvitation`), or re-invite:
//! revoke the device (and the web session it started) and mail a new link
//! (`reinviteParty`), for a lost or replaced phone or a link that went to the
//! wrong place. Both void the person's older unused links and are audited.
//! Org admins set how long links stay valid (`setInviteLinkLifetime`).

use accord_db::invitations::{self, Invitation, InvitationState, Renewal};
use accord_db::{cases, TenantTx};
use accord_domain::{Action, CaseId, PartyId};
use async_graphql::{Context, Enum, Object, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::types::not_found;
use super::{authorize, deny_early, mutate, rctx, read};
use crate::{ApiError, AppState};

/// Where a person's latest invite link stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum InvitationStatus {
    /// Made; the mail is not yet handed over.
    Queued,
    /// The mail was handed to the mail transport.
    Sent,
    /// The mail server accepted the mail.
    Delivered,
    /// Someone tried to use the link; it is not redeemed yet.
    Opened,
    /// Redeemed: the person's device is registered.
    Redeemed,
    /// The mail could not be sent.
    Failed,
    /// The mail bounced.
    Bounced,
    /// Not used in time.
    Expired,
}

impl From<InvitationState> for InvitationStatus {
    fn from(s: InvitationState) -> Self {
        match s {
            InvitationState::Queued => InvitationStatus::Queued,
            InvitationState::Sent => InvitationStatus::Sent,
            InvitationState::Delivered => InvitationStatus::Delivered,
            InvitationState::Opened => InvitationStatus::Opened,
            InvitationState::Redeemed => InvitationStatus::Redeemed,
            InvitationState::Failed => InvitationStatus::Failed,
            InvitationState::Bounced => InvitationStatus::Bounced,
            InvitationState::Expired => InvitationStatus::Expired,
        }
    }
}

/// A person's latest invite link (never the link itself).
#[derive(SimpleObject, Debug, Clone)]
pub struct PartyInvitation {
    /// The invitation.
    pub id: Uuid,
    /// The person on the case.
    pub party_id: Uuid,
    /// Where it stands.
    pub status: InvitationStatus,
    /// When the link was made.
    pub issued_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// The mailer's short reason for the delivery state (an SMTP reply), if any.
    pub delivery_detail: Option<String>,
    /// When the mailer last reported.
    pub delivery_updated_at: Option<DateTime<Utc>>,
    /// First attempt to use the link.
    pub opened_at: Option<DateTime<Utc>>,
    /// When it was redeemed.
    pub redeemed_at: Option<DateTime<Utc>>,
    /// Whether the person has a registered device now.
    pub device_registered: bool,
}

impl PartyInvitation {
    fn new(inv: Invitation, device_registered: bool) -> Self {
        PartyInvitation {
            id: inv.id,
            party_id: inv.party_id.as_uuid(),
            status: inv.state(Utc::now()).into(),
            issued_at: inv.created_at,
            expires_at: inv.expires_at,
            delivery_detail: inv.delivery_detail,
            delivery_updated_at: inv.delivery_updated_at,
            opened_at: inv.opened_at,
            redeemed_at: inv.redeemed_at,
            device_registered,
        }
    }
}

/// Reads about invite links.
#[derive(Debug, Default)]
pub struct InvitesQuery;

#[Object]
impl InvitesQuery {
    /// The latest invite link of each person on a case who was ever sent one
    /// (for the case's mediator and org admins).
    async fn case_invitations(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
    ) -> async_graphql::Result<Vec<PartyInvitation>> {
        read(ctx, move |tx| {
            Box::pin(async move {
                deny_early(tx, Action::ManageParties)?;
                let case_id = CaseId::from_uuid(case_id);
                authorize(tx, Action::ManageParties, Some(case_id)).await?;
                cases::get(tx, case_id).await.map_err(not_found("case"))?;
                let mut out = Vec::new();
                for inv in invitations::latest_for_case(tx, case_id).await? {
                    let device = invitations::has_live_device(tx, inv.party_id).await?;
                    out.push(PartyInvitation::new(inv, device));
                }
                Ok(out)
            })
        })
        .await
    }

    /// How many days a new invite link stays valid in this organization.
    async fn invite_link_lifetime_days(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        read(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::ViewOrganization, None).await?;
                Ok(invitations::ttl(tx).await?.num_days() as i32)
            })
        })
        .await
    }
}

/// Writes about invite links.
#[derive(Debug, Default)]
pub struct InvitesMutation;

async fn renew(
    tx: &mut TenantTx,
    state: &AppState,
    party_id: Uuid,
    renewal: Renewal,
) -> Result<PartyInvitation, ApiError> {
    deny_early(tx, Action::ManageParties)?;
    let id = PartyId::from_uuid(party_id);
    let party = cases::party(tx, id).await.map_err(not_found("party"))?;
    authorize(tx, Action::ManageParties, Some(party.case_id)).await?;
    let case = cases::get(tx, party.case_id)
        .await
        .map_err(not_found("party"))?;
    let issued = invitations::renew(tx, id, renewal).await?;
    crate::mail::invitation_renewed(tx, state, &party, &case, &issued).await?;
    let inv = invitations::latest_for_party(tx, id)
        .await?
        .ok_or(ApiError::NotFound("party"))?;
    let device = invitations::has_live_device(tx, id).await?;
    Ok(PartyInvitation::new(inv, device))
}

#[Object]
impl InvitesMutation {
    /// Mails a person a fresh invite link, voiding their older unused ones.
    /// A device they registered stays registered.
    async fn resend_invitation(
        &self,
        ctx: &Context<'_>,
        party_id: Uuid,
    ) -> async_graphql::Result<PartyInvitation> {
        let state = rctx(ctx).state().clone();
        mutate(ctx, move |tx| {
            Box::pin(async move { renew(tx, &state, party_id, Renewal::Resend).await })
        })
        .await
    }

    /// Re-invites a person: revokes their registered device (and the browser
    /// session it started) and mails them a new link, voiding older ones.
    async fn reinvite_party(
        &self,
        ctx: &Context<'_>,
        party_id: Uuid,
    ) -> async_graphql::Result<PartyInvitation> {
        let state = rctx(ctx).state().clone();
        mutate(ctx, move |tx| {
            Box::pin(async move { renew(tx, &state, party_id, Renewal::Reinvite).await })
        })
        .await
    }

    /// Sets how many days new invite links stay valid (1 to 90; org admins).
    async fn set_invite_link_lifetime(
        &self,
        ctx: &Context<'_>,
        days: i32,
    ) -> async_graphql::Result<i32> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::ManageMembers, None).await?;
                if !(1..=90).contains(&days) {
                    return Err(ApiError::bad_input(
                        "days",
                        "an invite link lasts from 1 to 90 days",
                    ));
                }
                invitations::set_ttl_days(tx, days).await?;
                Ok(days)
            })
        })
        .await
    }
}
