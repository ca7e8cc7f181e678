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
    case_for, not_found, AddPartyInput, Case, CreateCaseInput, GqlCaseStatus, GqlRole,
    InviteMemberInput, JoinToken, Member, Party, RescheduleSessionInput, ScheduleSessionInput,
    Session, Viewer,
};
use super::{authorize, deny_early, mutate, rctx};
use crate::auth_routes::issue_password_link;
use crate::mail::{self, SessionChange};
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

/// Fails unless `device` may join for `user` on `case`: once a person has
/// registered a device with their invite link, only that device's key gets
/// join tokens (a stolen session cookie or link is useless elsewhere).
async fn ensure_registered_device(
    tx: &mut accord_db::TenantTx,
    case: CaseId,
    user: UserId,
    device: &DeviceKey,
) -> Result<(), ApiError> {
    match accord_db::invitations::device_binding(tx, case, user).await? {
        accord_db::invitations::DeviceBinding::None => Ok(()),
        accord_db::invitations::DeviceBinding::Live(jkt) if jkt == device.thumbprint() => Ok(()),
        accord_db::invitations::DeviceBinding::Live(_) => Err(ApiError::Forbidden(
            "this is not the device registered with your invitation: join from the device \
             where you opened it, or ask your mediator for a new invitation"
                .into(),
        )),
        accord_db::invitations::DeviceBinding::Revoked => Err(ApiError::Forbidden(
            "the device registered with your invitation was revoked: open the newest \
             invitation you were sent, or ask your mediator for a new one"
                .into(),
        )),
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

/// Adds the person `input` names to `case` (audited as `party.add`).
pub(super) async fn add_person(
    tx: &mut accord_db::TenantTx,
    case: &cases::Case,
    input: &AddPartyInput,
) -> Result<cases::Party, ApiError> {
    let name = DisplayName::parse(&input.display_name)?;
    let email = EmailAddress::parse(&input.email)?;
    let party = cases::add_party(tx, case.id, input.kind.into(), &name, &email)
        .await
        .map_err(not_found("case"))?;
    audit::append(tx, "party.add", "party", Some(party.id.as_uuid())).await?;
    Ok(party)
}

/// Invites a person just added to `case` to every session still ahead on it.
pub(super) async fn invite_to_sessions_ahead(
    tx: &mut accord_db::TenantTx,
    state: &crate::AppState,
    case: &cases::Case,
    party: PartyId,
) -> Result<(), ApiError> {
    let now = Utc::now();
    let ahead = sessions::list(
        tx,
        accord_db::cases::Visibility::All,
        Some(case.id),
        Some(now),
        None,
    )
    .await?;
    for session in ahead {
        if session.status == SessionStatus::Scheduled && session.schedule.starts_at() > now {
            mail::session_changed(
                tx,
                state,
                &session,
                case,
                SessionChange::Scheduled,
                Some(party),
            )
            .await?;
        }
    }
    Ok(())
}

fn duration(minutes: i32) -> Result<SessionDuration, ApiError> {
    Ok(SessionDuration::from_minutes(i64::from(minutes))?)
}

/// The root of writes.
#[derive(Debug, Default)]
pub struct Mutation;

#[Object(name = "CoreMutation")]
impl Mutation {
    /// Invites someone into the organization. A new account gets a single-use
    /// password-setup link by email; an existing account is told it was added.
    async fn invite_member(
        &self,
        ctx: &Context<'_>,
        input: InviteMemberInput,
    ) -> async_graphql::Result<Member> {
        let state = rctx(ctx).state().clone();
        mutate(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::ManageMembers, None).await?;
                let email = EmailAddress::parse(&input.email)?;
                let name = DisplayName::parse(&input.display_name)?;
                let invited = members::invite(tx, &email, &name, input.role.into()).await?;
                let user = invited.member.user_id;
                audit::append(tx, "member.invite", "user", Some(user.as_uuid())).await?;
                if invited.new_account {
                    let link =
                        issue_password_link(&state, tx.conn(), user, LinkPurpose::Setup).await?;
                    let lifetime = crate::auth_routes::lifetime(state.config().setup_link_ttl);
                    mail::member_invited(
                        tx,
                        &state,
                        &email,
                        name.as_str(),
                        Some((&link, &lifetime)),
                    )
                    .await?;
                } else {
                    mail::member_invited(tx, &state, &email, name.as_str(), None).await?;
                }
                Ok(Member::from(invited.member))
            })
        })
        .await
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
                if let Some(m) = mediator {
                    super::conflicts::record_assignment(tx, case.id, m).await?;
                }
                audit::append(tx, "case.create", "case", Some(case.id.as_uuid())).await?;
                Ok(case.into())
            })
        })
        .await
    }

    /// Moves a case to a new status along the allowed transitions. A case
    /// settles only once a settlement agreement of it is signed by everyone.
    async fn update_case_status(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        status: GqlCaseStatus,
    ) -> async_graphql::Result<Case> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let id = CaseId::from_uuid(id);
                let case = case_for(tx, Action::UpdateCaseStatus, id).await?;
                let next = case.status.transition(status.into())?;
                // Settled means the parties signed their settlement.
                if next == CaseStatus::Settled && !super::agreements::settlement_signed(tx, id).await? {
                    return Err(ApiError::Conflict(
                        "a case settles once every party has signed its settlement agreement; none is signed by everyone yet"
                            .into(),
                    ));
                }
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
                case_for(tx, Action::AssignMediator, id).await?;
                let mediator = mediator_id.map(UserId::from_uuid);
                if let Some(m) = mediator {
                    ensure_mediator(tx, m).await?;
                    super::conflicts::ensure_no_conflicts(tx, id, m).await?;
                }
                let case = cases::set_mediator(tx, id, mediator).await?;
                audit::append(tx, "case.assign_mediator", "case", Some(case_id)).await?;
                Ok(case.into())
            })
        })
        .await
    }

    /// Adds a party, counsel or interpreter to a case. When the case has a
    /// mediator, the person is first checked against the mediator's declared
    /// relationships: a conflict is `CONFLICT` (see `partyConflicts`), and an
    /// org admin may add them anyway with `addPartyWithOverride`.
    async fn add_party(
        &self,
        ctx: &Context<'_>,
        input: AddPartyInput,
    ) -> async_graphql::Result<Party> {
        let state = rctx(ctx).state().clone();
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let case =
                    case_for(tx, Action::ManageParties, CaseId::from_uuid(input.case_id)).await?;
                let party = add_person(tx, &case, &input).await?;
                super::conflicts::check_new_party(tx, &case, party.id, None).await?;
                invite_to_sessions_ahead(tx, &state, &case, party.id).await?;
                Ok(Party::new(&party, true))
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
        let state = rctx(ctx).state().clone();
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let case_id = CaseId::from_uuid(input.case_id);
                let case = case_for(tx, Action::ScheduleSession, case_id).await?;
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
                mail::session_changed(tx, &state, &session, &case, SessionChange::Scheduled, None)
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
        let state = rctx(ctx).state().clone();
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
                let case = cases::get(tx, session.case_id)
                    .await
                    .map_err(not_found("session"))?;
                let change = SessionChange::Rescheduled {
                    previous: current.schedule.starts_at(),
                };
                mail::session_changed(tx, &state, &session, &case, change, None).await?;
                Ok(session.into())
            })
        })
        .await
    }

    /// A join token for the viewer's device to enter the session's live room:
    /// for its case's mediator and the people on its case, bound to the device
    /// key given (a P-256 public key in JWK form, as WebCrypto exports it).
    /// `endToEnd: false` is for a browser that cannot encrypt media end to
    /// end: refused unless the org allows hop-by-hop sessions, and then the
    /// live session runs hop by hop only, marked so to everyone.
    async fn join_token(
        &self,
        ctx: &Context<'_>,
        session_id: Uuid,
        device_key: async_graphql::Json<serde_json::Value>,
        #[graphql(default = true)] end_to_end: bool,
    ) -> async_graphql::Result<JoinToken> {
        let keys = rctx(ctx).state().config().join_keys.clone();
        let token = mutate(ctx, move |tx| {
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
                let party_id = party.as_ref().map(|p| p.id);
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
                if role != "mediator" {
                    ensure_registered_device(tx, case.id, user, &device).await?;
                    // The org may admit only those who signed the agreement to mediate.
                    if let Some(party) = party_id {
                        if !accord_db::conflicts::admit_unsigned(tx).await?
                            && !super::agreements::signed_to_mediate(tx, case.id, party).await?
                        {
                            return Err(ApiError::Conflict(
                                "sign the agreement to mediate on your case page before joining: this organisation admits only those who have signed it"
                                    .into(),
                            ));
                        }
                    }
                }
                if !end_to_end && !accord_db::conflicts::allow_hop_by_hop(tx).await? {
                    return Err(ApiError::Conflict(
                        "this organisation holds sessions only with end-to-end encryption, which this browser cannot do: join from a current Chrome, Edge, Firefox or Safari"
                            .into(),
                    ));
                }
                if session.status != SessionStatus::Scheduled {
                    return Err(ApiError::Conflict(format!(
                        "the session is {}; it can no longer be joined",
                        session.status.as_str()
                    )));
                }
                let (mut token, mut claims) = keys.issue(
                    Utc::now(),
                    join::MAX_LIFETIME,
                    actor.org_id.as_uuid(),
                    session_id,
                    user.as_uuid(),
                    role,
                    rooms,
                    &device,
                );
                if !end_to_end {
                    claims.clear = true;
                    token = keys.sign(&claims);
                }
                audit::append(tx, "session.issue_join_token", "session", Some(session_id)).await?;
                Ok(JoinToken {
                    token,
                    expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now),
                    role: claims.role,
                    rooms: claims.rooms,
                    url: None,
                })
            })
        })
        .await?;
        // With several SFU nodes, the one the session is placed on (placed
        // now when it runs nowhere); after the token, so a refused request
        // places nothing.
        let mut token = token;
        if let Some(live) = rctx(ctx).state().inner.live.get() {
            token.url = live
                .place(SessionId::from_uuid(session_id))
                .await
                .map_err(|e| {
                    super::gql(ApiError::Unavailable {
                        retry_after: 1,
                        detail: format!("placing a live session on an SFU node: {e}"),
                    })
                })?
                .map(|base| format!("{base}?session={session_id}"));
        }
        Ok(token)
    }

    /// Sets the signed-in person's own time zone (an IANA name such as
    /// `Europe/London`, as spelled there), or clears it with null. It belongs
    /// to the account: the same in every organization.
    async fn set_my_time_zone(
        &self,
        ctx: &Context<'_>,
        time_zone: Option<String>,
    ) -> async_graphql::Result<Viewer> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let user = tx
                    .actor()
                    .user_id
                    .ok_or_else(|| ApiError::Unauthenticated("sign in first".into()))?;
                let time_zone = time_zone.as_deref().map(IanaTimeZone::parse).transpose()?;
                let account = members::set_own_time_zone(tx, time_zone.as_ref()).await?;
                audit::append(tx, "user.set_time_zone", "user", Some(user.as_uuid())).await?;
                Ok(Viewer {
                    member: members::get(tx, user).await?,
                    account,
                })
            })
        })
        .await
    }

    /// Cancels a scheduled session.
    async fn cancel_session(&self, ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Session> {
        let state = rctx(ctx).state().clone();
        mutate(ctx, move |tx| {
            Box::pin(async move {
                deny_early(tx, Action::ScheduleSession)?;
                let sid = SessionId::from_uuid(id);
                let current = sessions::get(tx, sid).await.map_err(not_found("session"))?;
                authorize(tx, Action::ScheduleSession, Some(current.case_id)).await?;
                let next = current.status.transition(SessionStatus::Cancelled)?;
                let session = sessions::set_status(tx, sid, next).await?;
                audit::append(tx, "session.cancel", "session", Some(id)).await?;
                let case = cases::get(tx, session.case_id)
                    .await
                    .map_err(not_found("session"))?;
                mail::session_changed(tx, &state, &session, &case, SessionChange::Cancelled, None)
                    .await?;
                Ok(session.into())
            })
        })
        .await
    }
}
