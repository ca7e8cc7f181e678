//! Write operations. Each authorises through the permission matrix, runs in its
//! own savepoint, and appends an audit event (identifiers only).

use accord_auth::join::{self, DeviceKey};
use accord_db::auth::LinkPurpose;
use accord_db::{audit, cases, members, sessions};
use accord_domain::{
    Action, CaseId, CaseReference, CaseStatus, CaseTitle, DisplayName, EmailAddress, IanaTimeZone,
    PartyId, PartyKind, Role, Schedule, SessionDuration, SessionId, SessionStatus, UserId,
};
use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::types::{
    not_found, AddPartyInput, Case, CreateCaseInput, GqlCaseStatus, GqlRole, InviteMemberInput,
    JoinToken, Member, Party, RescheduleSessionInput, ScheduleSessionInput, Session,
};
use super::{authorize, deny_early, mutate, rctx};
use crate::auth_routes::issue_password_link;
use crate::outbox::OutboundMessage;
use crate::ApiError;

/// Fails unless `user` is a member of the org with the mediator role.
async fn ensure_mediator(tx: &mut accord_db::TenantTx, user: UserId) -> Result<(), ApiError> {
    let not_mediator = || {
        ApiError::bad_input(
            "mediatorId",
            "that member is not a mediator of this organization",
        )
    };
    match members::get(tx, user).await {
        Ok(m) if m.role == Role::Mediator => Ok(()),
        Ok(_) | Err(accord_db::DbError::NotFound) => Err(not_mediator()),
        Err(e) => Err(e.into()),
    }
}

/// Fails when the case can no longer take sessions.
fn ensure_case_active(case: &cases::Case) -> Result<(), ApiError> {
    match case.status {
        CaseStatus::Open | CaseStatus::OnHold => Ok(()),
        CaseStatus::Settled | CaseStatus::Closed => Err(ApiError::Conflict(format!(
            "the case is {}; sessions can no longer be scheduled",
            case.status.as_str()
        ))),
    }
}

fn duration(minutes: i32) -> Result<SessionDuration, ApiError> {
    Ok(SessionDuration::from_minutes(i64::from(minutes))?)
}

/// The root of writes.
#[derive(Debug, Default)]
pub struct Mutation;

#[Object]
impl Mutation {
    /// Invites someone into the organization. A new account gets a single-use
    /// password-setup link by email; an existing account is told it was added.
    async fn invite_member(
        &self,
        ctx: &Context<'_>,
        input: InviteMemberInput,
    ) -> async_graphql::Result<Member> {
        let state = rctx(ctx).state().clone();
        let (member, message) = mutate(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::ManageMembers, None).await?;
                let email = EmailAddress::parse(&input.email)?;
                let name = DisplayName::parse(&input.display_name)?;
                let invited = members::invite(tx, &email, &name, input.role.into()).await?;
                let user = invited.member.user_id;
                audit::append(tx, "member.invite", "user", Some(user.as_uuid())).await?;
                let body = if invited.new_account {
                    let link = issue_password_link(&state, tx.conn(), user, LinkPurpose::Setup).await?;
                    format!(
                        "You have been invited to Accord.\n\nChoose your password with this link \
                         (it works once, for {}):\n{link}\n",
                        crate::auth_routes::lifetime(state.config().setup_link_ttl)
                    )
                } else {
                    "You have been added to another organization on Accord. Sign in as usual to see it.\n".into()
                };
                let message = OutboundMessage {
                    to: email.as_str().to_owned(),
                    subject: "Your Accord invitation".into(),
                    body,
                };
                Ok((Member::from(invited.member), message))
            })
        })
        .await?;
        rctx(ctx).queue_message(message).await;
        Ok(member)
    }

    /// Changes a member's role. The organization always keeps one org admin.
    async fn change_member_role(
        &self,
        ctx: &Context<'_>,
        user_id: Uuid,
        role: GqlRole,
    ) -> async_graphql::Result<Member> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::ManageMembers, None).await?;
                let user = UserId::from_uuid(user_id);
                let member =
                    members::change_role(tx, user, role.into())
                        .await
                        .map_err(|e| match e {
                            members::MembershipChangeError::Db(db) => not_found("member")(db),
                            other => other.into(),
                        })?;
                audit::append(tx, "member.change_role", "user", Some(user_id)).await?;
                Ok(Member::from(member))
            })
        })
        .await
    }

    /// Removes a member from the organization (their account stays). Returns their id.
    async fn remove_member(&self, ctx: &Context<'_>, user_id: Uuid) -> async_graphql::Result<Uuid> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::ManageMembers, None).await?;
                members::remove(tx, UserId::from_uuid(user_id))
                    .await
                    .map_err(|e| match e {
                        members::MembershipChangeError::Db(db) => not_found("member")(db),
                        other => other.into(),
                    })?;
                audit::append(tx, "member.remove", "user", Some(user_id)).await?;
                Ok(user_id)
            })
        })
        .await
    }

    /// Opens a case.
    async fn create_case(
        &self,
        ctx: &Context<'_>,
        input: CreateCaseInput,
    ) -> async_graphql::Result<Case> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::CreateCase, None).await?;
                let reference = CaseReference::parse(&input.reference)?;
                let title = CaseTitle::parse(&input.title)?;
                let mediator = input.mediator_id.map(UserId::from_uuid);
                if let Some(m) = mediator {
                    ensure_mediator(tx, m).await?;
                }
                let case = cases::create(tx, &reference, &title, mediator).await?;
                audit::append(tx, "case.create", "case", Some(case.id.as_uuid())).await?;
                Ok(case.into())
            })
        })
        .await
    }

    /// Moves a case to a new status along the allowed transitions.
    async fn update_case_status(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        status: GqlCaseStatus,
    ) -> async_graphql::Result<Case> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let id = CaseId::from_uuid(id);
                authorize(tx, Action::UpdateCaseStatus, Some(id)).await?;
                let case = cases::get(tx, id).await.map_err(not_found("case"))?;
                let next = case.status.transition(status.into())?;
                let case = cases::set_status(tx, id, next).await?;
                audit::append(tx, "case.update_status", "case", Some(id.as_uuid())).await?;
                Ok(case.into())
            })
        })
        .await
    }

    /// Assigns a mediator to a case, or clears the assignment with null.
    async fn assign_mediator(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
        mediator_id: Option<Uuid>,
    ) -> async_graphql::Result<Case> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let id = CaseId::from_uuid(case_id);
                authorize(tx, Action::AssignMediator, Some(id)).await?;
                cases::get(tx, id).await.map_err(not_found("case"))?;
                let mediator = mediator_id.map(UserId::from_uuid);
                if let Some(m) = mediator {
                    ensure_mediator(tx, m).await?;
                }
                let case = cases::set_mediator(tx, id, mediator).await?;
                audit::append(tx, "case.assign_mediator", "case", Some(case_id)).await?;
                Ok(case.into())
            })
        })
        .await
    }

    /// Adds a party, counsel or interpreter to a case.
    async fn add_party(
        &self,
        ctx: &Context<'_>,
        input: AddPartyInput,
    ) -> async_graphql::Result<Party> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let case_id = CaseId::from_uuid(input.case_id);
                authorize(tx, Action::ManageParties, Some(case_id)).await?;
                let name = DisplayName::parse(&input.display_name)?;
                let email = EmailAddress::parse(&input.email)?;
                let party = cases::add_party(tx, case_id, input.kind.into(), &name, &email)
                    .await
                    .map_err(not_found("case"))?;
                audit::append(tx, "party.add", "party", Some(party.id.as_uuid())).await?;
                Ok(Party::new(party, true))
            })
        })
        .await
    }

    /// Removes a person from a case. Returns their party id.
    async fn remove_party(&self, ctx: &Context<'_>, party_id: Uuid) -> async_graphql::Result<Uuid> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                deny_early(tx, Action::ManageParties)?;
                let id = PartyId::from_uuid(party_id);
                let party = cases::party(tx, id).await.map_err(not_found("party"))?;
                authorize(tx, Action::ManageParties, Some(party.case_id)).await?;
                cases::remove_party(tx, id)
                    .await
                    .map_err(not_found("party"))?;
                audit::append(tx, "party.remove", "party", Some(party_id)).await?;
                Ok(party_id)
            })
        })
        .await
    }

    /// Schedules a session on a case.
    async fn schedule_session(
        &self,
        ctx: &Context<'_>,
        input: ScheduleSessionInput,
    ) -> async_graphql::Result<Session> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let case_id = CaseId::from_uuid(input.case_id);
                authorize(tx, Action::ScheduleSession, Some(case_id)).await?;
                let case = cases::get(tx, case_id).await.map_err(not_found("case"))?;
                ensure_case_active(&case)?;
                let schedule = Schedule::new(
                    input.starts_at,
                    IanaTimeZone::parse(&input.time_zone)?,
                    duration(input.duration_minutes)?,
                );
                schedule.ensure_future(Utc::now())?;
                let session = sessions::schedule(tx, case_id, &schedule).await?;
                audit::append(
                    tx,
                    "session.schedule",
                    "session",
                    Some(session.id.as_uuid()),
                )
                .await?;
                Ok(session.into())
            })
        })
        .await
    }

    /// Moves a scheduled session to a new time.
    async fn reschedule_session(
        &self,
        ctx: &Context<'_>,
        input: RescheduleSessionInput,
    ) -> async_graphql::Result<Session> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                deny_early(tx, Action::ScheduleSession)?;
                let id = SessionId::from_uuid(input.id);
                let current = sessions::get(tx, id).await.map_err(not_found("session"))?;
                authorize(tx, Action::ScheduleSession, Some(current.case_id)).await?;
                if current.status != SessionStatus::Scheduled {
                    return Err(ApiError::Conflict(format!(
                        "the session is {}; only scheduled sessions can be moved",
                        current.status.as_str()
                    )));
                }
                let time_zone = match &input.time_zone {
                    Some(tz) => IanaTimeZone::parse(tz)?,
                    None => current.schedule.time_zone().clone(),
                };
                let length = match input.duration_minutes {
                    Some(m) => duration(m)?,
                    None => current.schedule.duration(),
                };
                let schedule = Schedule::new(input.starts_at, time_zone, length);
                schedule.ensure_future(Utc::now())?;
                let session = sessions::reschedule(tx, id, &schedule).await?;
                audit::append(tx, "session.reschedule", "session", Some(input.id)).await?;
                Ok(session.into())
            })
        })
        .await
    }

    /// A join token for the viewer's device to enter the session's live room:
    /// for its case's mediator and the people on its case, bound to the device
    /// key given (a P-256 public key in JWK form, as WebCrypto exports it).
    async fn join_token(
        &self,
        ctx: &Context<'_>,
        session_id: Uuid,
        device_key: async_graphql::Json<serde_json::Value>,
    ) -> async_graphql::Result<JoinToken> {
        let keys = rctx(ctx).state().config().join_keys.clone();
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let device = DeviceKey::from_jwk(&device_key.0)
                    .map_err(|e| ApiError::bad_input("deviceKey", e.to_string()))?;
                let actor = tx.actor();
                let user = actor
                    .user_id
                    .ok_or_else(|| ApiError::Forbidden("only people can join sessions".into()))?;
                let sid = SessionId::from_uuid(session_id);
                let session = sessions::get(tx, sid).await.map_err(not_found("session"))?;
                let case = cases::get(tx, session.case_id)
                    .await
                    .map_err(not_found("session"))?;
                let party = cases::parties(tx, case.id)
                    .await?
                    .into_iter()
                    .find(|p| p.user_id == Some(user));
                let own_rooms = if session.lobby_enabled {
                    "lobby"
                } else {
                    "main"
                };
                let (role, rooms) = match (case.mediator_id == Some(user), party) {
                    (true, _) => ("mediator", vec!["*".to_owned()]),
                    (false, Some(p)) if p.kind == PartyKind::Party => {
                        ("party", vec![own_rooms.to_owned()])
                    }
                    (false, Some(_)) => ("observer", vec![own_rooms.to_owned()]),
                    (false, None) => {
                        // Those who may see the session learn why; others learn nothing.
                        authorize(tx, Action::ViewSessions, Some(case.id)).await?;
                        return Err(ApiError::Forbidden(
                            "only the session's mediator and the people on its case can join it"
                                .into(),
                        ));
                    }
                };
                if session.status != SessionStatus::Scheduled {
                    return Err(ApiError::Conflict(format!(
                        "the session is {}; it can no longer be joined",
                        session.status.as_str()
                    )));
                }
                let (token, claims) = keys.issue(
                    Utc::now(),
                    join::MAX_LIFETIME,
                    actor.org_id.as_uuid(),
                    session_id,
                    user.as_uuid(),
                    role,
                    rooms,
                    &device,
                );
                audit::append(tx, "session.issue_join_token", "session", Some(session_id)).await?;
                Ok(JoinToken {
                    token,
                    expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now),
                    role: claims.role,
                    rooms: claims.rooms,
                })
            })
        })
        .await
    }

    /// Cancels a scheduled session.
    async fn cancel_session(&self, ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Session> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                deny_early(tx, Action::ScheduleSession)?;
                let sid = SessionId::from_uuid(id);
                let current = sessions::get(tx, sid).await.map_err(not_found("session"))?;
                authorize(tx, Action::ScheduleSession, Some(current.case_id)).await?;
                let next = current.status.transition(SessionStatus::Cancelled)?;
                let session = sessions::set_status(tx, sid, next).await?;
                audit::append(tx, "session.cancel", "session", Some(id)).await?;
                Ok(session.into())
            })
        })
        .await
    }
}
