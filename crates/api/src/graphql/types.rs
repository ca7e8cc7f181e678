//! GraphQL object, enum and input types, thin wrappers over the data layer's rows.

use accord_db::{cases, members, orgs, sessions};
use accord_domain::{Action, CaseId, CaseStatus, Grant, PartyKind, Role, SessionStatus};
use async_graphql::{ComplexObject, Context, Enum, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::live::LiveSession;
use super::{authorize, gql, rctx, read};
use crate::ApiError;

/// A member's role in the organization.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "Role")]
pub enum GqlRole {
    /// Runs the organization: members, cases, compliance.
    OrgAdmin,
    /// Mediates the cases assigned to them.
    Mediator,
    /// A party to a case.
    Party,
    /// Counsel or interpreter: sees the cases they are on.
    Observer,
}

/// Where a case stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "CaseStatus")]
pub enum GqlCaseStatus {
    /// Active.
    Open,
    /// Paused.
    OnHold,
    /// Agreement reached.
    Settled,
    /// Finished.
    Closed,
}

/// The capacity in which a person is on a case.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "PartyKind")]
pub enum GqlPartyKind {
    /// A party to the dispute.
    Party,
    /// A party's lawyer.
    Counsel,
    /// An interpreter.
    Interpreter,
}

/// Where a scheduled session stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "SessionStatus")]
pub enum GqlSessionStatus {
    /// Planned.
    Scheduled,
    /// Called off.
    Cancelled,
    /// Held.
    Completed,
}

macro_rules! convert {
    ($gql:ident, $domain:ident, [$($variant:ident),+]) => {
        impl From<$domain> for $gql {
            fn from(v: $domain) -> Self { match v { $($domain::$variant => $gql::$variant),+ } }
        }
        impl From<$gql> for $domain {
            fn from(v: $gql) -> Self { match v { $($gql::$variant => $domain::$variant),+ } }
        }
    };
}
convert!(GqlRole, Role, [OrgAdmin, Mediator, Party, Observer]);
convert!(GqlCaseStatus, CaseStatus, [Open, OnHold, Settled, Closed]);
convert!(GqlPartyKind, PartyKind, [Party, Counsel, Interpreter]);
convert!(
    GqlSessionStatus,
    SessionStatus,
    [Scheduled, Cancelled, Completed]
);

/// An account as members of the organization see it.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "User", serial)]
pub struct User {
    /// Its id.
    pub id: Uuid,
    /// Email address; null for roles that may not see members' contact details.
    pub email: Option<String>,
    /// Display name.
    pub display_name: String,
}

/// The signed-in user in the current organization.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub(crate) member: members::Member,
    pub(crate) account: members::OwnAccount,
}

#[Object]
impl Viewer {
    /// The account.
    async fn user(&self) -> User {
        member_user(&self.member)
    }
    /// The role in this organization.
    async fn role(&self) -> GqlRole {
        self.member.role.into()
    }
    /// Whether signing in to this account asks for a code from an
    /// authenticator app (TOTP); turned on and off at `/auth/totp/*`.
    async fn totp_enabled(&self) -> bool {
        self.account.totp_enabled
    }
    /// The IANA time zone this person chose for showing times (their own
    /// setting, the same in every organization; `setMyTimeZone`); null until
    /// they choose one, when the portals use the browser's.
    async fn time_zone(&self) -> Option<&str> {
        self.account.time_zone.as_ref().map(|tz| tz.as_str())
    }
    /// The organization the session is signed in to.
    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Organization> {
        read(ctx, |tx| {
            Box::pin(async move { Ok(Organization(orgs::current(tx).await?)) })
        })
        .await
    }
}

pub(crate) fn member_user(m: &members::Member) -> User {
    User {
        id: m.user_id.as_uuid(),
        email: Some(m.email.as_str().to_owned()),
        display_name: m.display_name.as_str().to_owned(),
    }
}

/// An organization (a mediation provider).
#[derive(Debug, Clone)]
pub struct Organization(pub(crate) orgs::Organization);

#[Object]
impl Organization {
    /// Its id.
    async fn id(&self) -> Uuid {
        self.0.id.as_uuid()
    }
    /// Short name used at sign-in.
    async fn slug(&self) -> &str {
        self.0.slug.as_str()
    }
    /// Display name.
    async fn name(&self) -> &str {
        self.0.name.as_str()
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A member of the organization.
#[derive(Debug, Clone)]
pub struct Member {
    pub(crate) inner: members::Member,
    /// Whether the viewer may see contact details and account state.
    pub(crate) show_contact: bool,
}

impl From<members::Member> for Member {
    fn from(inner: members::Member) -> Self {
        Member {
            inner,
            show_contact: true,
        }
    }
}

#[Object(serial)]
impl Member {
    /// The account.
    async fn user(&self) -> User {
        let mut user = member_user(&self.inner);
        if !self.show_contact {
            user.email = None;
        }
        user
    }
    /// The role in this organization.
    async fn role(&self) -> GqlRole {
        self.inner.role.into()
    }
    /// When they joined.
    async fn joined_at(&self) -> DateTime<Utc> {
        self.inner.joined_at
    }
    /// Whether they have signed in to this organization yet (false while an
    /// invitation is not taken up); null for roles that may not see members.
    async fn activated(&self) -> Option<bool> {
        self.show_contact.then_some(self.inner.joined)
    }
}

/// A mediation case.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex, name = "Case", serial)]
pub struct Case {
    /// Its id.
    pub id: Uuid,
    /// The organization's reference, unique in the organization.
    pub reference: String,
    /// Title.
    pub title: String,
    /// Where it stands.
    pub status: GqlCaseStatus,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    #[graphql(skip)]
    pub(crate) inner: cases::Case,
}

impl From<cases::Case> for Case {
    fn from(c: cases::Case) -> Self {
        Case {
            id: c.id.as_uuid(),
            reference: c.reference.as_str().to_owned(),
            title: c.title.as_str().to_owned(),
            status: c.status.into(),
            created_at: c.created_at,
            updated_at: c.updated_at,
            inner: c,
        }
    }
}

#[ComplexObject]
impl Case {
    /// The assigned mediator. Their email is shown only to roles that may see
    /// members' contact details.
    async fn mediator(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Member>> {
        let Some(mediator) = self.inner.mediator_id else {
            return Ok(None);
        };
        let role = rctx(ctx).role().await.map_err(gql)?;
        let show_contact = accord_domain::grant(role, Action::ViewMembers) != Grant::Deny;
        Ok(super::batched_mediator(ctx, &self.inner, mediator)
            .await?
            .map(|m| Member {
                inner: m,
                show_contact,
            }))
    }

    /// The people on the case. Contact details only for roles allowed to see them.
    async fn parties(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Party>> {
        let role = rctx(ctx).role().await.map_err(gql)?;
        let show_contact = match accord_domain::grant(role, Action::ViewPartyContacts) {
            Grant::Deny => false,
            // Viewing the case already proved involvement for Involved grants.
            Grant::Involved | Grant::OrgWide => true,
        };
        super::batched_parties(ctx, &self.inner, |people| {
            people.iter().map(|p| Party::new(p, show_contact)).collect()
        })
        .await
    }

    /// The organisation each person is on the case for, where one was
    /// recorded (conflict checks match on it). Empty for roles that may not
    /// see the people's contact details.
    async fn party_organizations(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<PartyOrganization>> {
        let case_id = self.inner.id;
        read(ctx, move |tx| {
            Box::pin(async move {
                if accord_domain::grant(tx.actor().role, Action::ViewPartyContacts) == Grant::Deny {
                    return Ok(Vec::new());
                }
                Ok(accord_db::conflicts::party_organizations(tx, case_id)
                    .await?
                    .into_iter()
                    .map(|(party, organization)| PartyOrganization {
                        party_id: party.as_uuid(),
                        organization,
                    })
                    .collect())
            })
        })
        .await
    }

    /// The case's sessions, by start time.
    async fn sessions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Session>> {
        let case_id = self.inner.id;
        // Their `case` is this one, which the viewer sees.
        rctx(ctx).remember_cases([self.inner.clone()]);
        read(ctx, move |tx| {
            Box::pin(async move {
                let visibility = authorize(tx, Action::ViewSessions, Some(case_id)).await?;
                Ok(sessions::list(tx, visibility, Some(case_id), None, None)
                    .await?
                    .into_iter()
                    .map(Session::from)
                    .collect())
            })
        })
        .await
    }
}

/// The organisation a person is on their case for.
#[derive(SimpleObject, Debug, Clone)]
pub struct PartyOrganization {
    /// The person's entry on the case.
    pub party_id: Uuid,
    /// The organisation, as typed.
    pub organization: String,
}

/// A person on a case.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "Party", serial)]
pub struct Party {
    /// Its id.
    pub id: Uuid,
    /// The case.
    pub case_id: Uuid,
    /// Party, counsel or interpreter.
    pub kind: GqlPartyKind,
    /// Name.
    pub display_name: String,
    /// Email address; null for roles that may not see contact details.
    pub email: Option<String>,
    /// The linked account, when the person is a member.
    pub user_id: Option<Uuid>,
    /// When they were added.
    pub created_at: DateTime<Utc>,
}

impl Party {
    pub(crate) fn new(p: &cases::Party, show_contact: bool) -> Self {
        Party {
            id: p.id.as_uuid(),
            case_id: p.case_id.as_uuid(),
            kind: p.kind.into(),
            display_name: p.display_name.as_str().to_owned(),
            email: show_contact.then(|| p.email.as_str().to_owned()),
            user_id: p.user_id.map(|u| u.as_uuid()),
            created_at: p.created_at,
        }
    }
}

/// A scheduled mediation session.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex, name = "Session")]
pub struct Session {
    /// Its id.
    pub id: Uuid,
    /// The case.
    pub case_id: Uuid,
    /// Start, as a UTC instant.
    pub starts_at: DateTime<Utc>,
    /// End, as a UTC instant.
    pub ends_at: DateTime<Utc>,
    /// The IANA time zone it was planned in.
    pub time_zone: String,
    /// Start as wall-clock time in `timeZone` (RFC 3339 with offset).
    pub local_starts_at: String,
    /// Length in minutes.
    pub duration_minutes: i32,
    /// Where it stands.
    pub status: GqlSessionStatus,
    /// Whether parties wait in a lobby until admitted.
    pub lobby_enabled: bool,
    /// When it was scheduled.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<sessions::Session> for Session {
    fn from(s: sessions::Session) -> Self {
        Session {
            id: s.id.as_uuid(),
            case_id: s.case_id.as_uuid(),
            starts_at: s.schedule.starts_at(),
            ends_at: s.schedule.ends_at(),
            time_zone: s.schedule.time_zone().as_str().to_owned(),
            local_starts_at: s.schedule.local_start().to_rfc3339(),
            duration_minutes: i32::try_from(s.schedule.duration().minutes()).unwrap_or(i32::MAX),
            status: s.status.into(),
            lobby_enabled: s.lobby_enabled,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

#[ComplexObject]
impl Session {
    /// The session's case, as `case(id:)` shows it (every viewer who sees a
    /// session sees its case).
    async fn case(&self, ctx: &Context<'_>) -> async_graphql::Result<Case> {
        let id = CaseId::from_uuid(self.case_id);
        let rc = rctx(ctx);
        if let Some(case) = rc.known_case(id) {
            return Ok(case.into());
        }
        let case = read(ctx, move |tx| {
            Box::pin(async move {
                authorize(tx, Action::ViewCase, Some(id)).await?;
                cases::get(tx, id).await.map_err(not_found("case"))
            })
        })
        .await?;
        rc.remember_cases([case.clone()]);
        Ok(case.into())
    }

    /// Its live room while someone is in it or waits in its lobby; null when
    /// it is not live, when no SFU runs with this API, and for roles that may
    /// not see live sessions (parties and observers).
    async fn live(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<LiveSession>> {
        super::live::of_session(ctx, self).await
    }
}

/// A page of cases.
#[derive(SimpleObject, Debug)]
#[graphql(serial)]
pub struct CaseConnection {
    /// The cases with their cursors.
    pub edges: Vec<CaseEdge>,
    /// Where the page ends.
    pub page_info: PageInfo,
}

/// A case and its cursor.
#[derive(SimpleObject, Debug)]
#[graphql(complex, serial)]
pub struct CaseEdge {
    /// The case.
    pub node: Case,
}

#[ComplexObject]
impl CaseEdge {
    /// Pass as `after` to continue after this case.
    // Encoded only when asked for: a page shown without cursors does not
    // pay for them.
    async fn cursor(&self) -> String {
        super::query::encode_cursor(&self.node.inner)
    }
}

/// Paging state.
#[derive(SimpleObject, Debug)]
#[graphql(serial)]
pub struct PageInfo {
    /// Whether more items follow.
    pub has_next_page: bool,
    /// The last edge's cursor.
    pub end_cursor: Option<String>,
}

/// An entry of the audit log (identifiers only).
#[derive(SimpleObject, Debug)]
pub struct AuditEvent {
    /// Position in the organization's chain, from 1.
    pub seq: i64,
    /// Its id.
    pub id: Uuid,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Who did it; null for the system.
    pub actor_user_id: Option<Uuid>,
    /// What was done, e.g. `case.create`.
    pub action: String,
    /// The kind of object acted on.
    pub target_type: String,
    /// The object acted on.
    pub target_id: Option<Uuid>,
    /// The request that did it.
    pub request_id: Option<String>,
    /// This event's chain hash, hex.
    pub hash: String,
    /// Who did it, while they are a member of the organization (null for the
    /// system and for people no longer in it; `actorUserId` stays).
    pub actor: Option<User>,
}

impl From<accord_db::audit::AuditEvent> for AuditEvent {
    fn from(e: accord_db::audit::AuditEvent) -> Self {
        AuditEvent {
            seq: e.seq,
            id: e.id.as_uuid(),
            occurred_at: e.occurred_at,
            actor_user_id: e.actor_user_id.map(|u| u.as_uuid()),
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            request_id: e.request_id,
            hash: e.hash.iter().map(|b| format!("{b:02x}")).collect(),
            actor: None,
        }
    }
}

/// The result of checking the organization's audit chain from its first
/// event to its recorded head.
#[derive(SimpleObject, Debug)]
pub struct AuditChainStatus {
    /// True when every event matches its hash, links to the one before it,
    /// no sequence number is missing and the chain ends at the recorded head.
    pub verified: bool,
    /// How many events were checked.
    pub events: i64,
    /// The first sequence number at which the chain is broken (null when verified).
    pub broken_at_seq: Option<i64>,
    /// What is wrong there, for a person (null when verified).
    pub problem: Option<String>,
    /// When the check ran.
    pub checked_at: DateTime<Utc>,
}

/// Inviting someone into the organization.
#[derive(InputObject, Debug)]
pub struct InviteMemberInput {
    /// Their email address; a password-setup link goes there.
    pub email: String,
    /// Their name.
    pub display_name: String,
    /// The role they get.
    pub role: GqlRole,
}

/// Opening a case.
#[derive(InputObject, Debug)]
pub struct CreateCaseInput {
    /// The organization's reference, e.g. `MED-2026-0042`.
    pub reference: String,
    /// Title.
    pub title: String,
    /// A member with the mediator role to assign now.
    pub mediator_id: Option<Uuid>,
}

/// Adding a person to a case.
#[derive(InputObject, Debug)]
pub struct AddPartyInput {
    /// The case.
    pub case_id: Uuid,
    /// Party, counsel or interpreter.
    pub kind: GqlPartyKind,
    /// Name.
    pub display_name: String,
    /// Email address.
    pub email: String,
}

/// Scheduling a session.
#[derive(InputObject, Debug)]
pub struct ScheduleSessionInput {
    /// The case.
    pub case_id: Uuid,
    /// Start, as an instant (RFC 3339 with offset).
    pub starts_at: DateTime<Utc>,
    /// The IANA time zone it is planned in, e.g. `Europe/London`.
    pub time_zone: String,
    /// Length in minutes (15 to 720).
    pub duration_minutes: i32,
}

/// Moving a session.
#[derive(InputObject, Debug)]
pub struct RescheduleSessionInput {
    /// The session.
    pub id: Uuid,
    /// New start.
    pub starts_at: DateTime<Utc>,
    /// New time zone; unchanged when omitted.
    pub time_zone: Option<String>,
    /// New length; unchanged when omitted.
    pub duration_minutes: Option<i32>,
}

/// A token that lets one device into a session's live room once, within two minutes.
#[derive(SimpleObject, Debug)]
pub struct JoinToken {
    /// The signed token, to present to the SFU with a signature of its challenge.
    pub token: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// The role in the session: `mediator`, `party` or `observer`.
    pub role: String,
    /// Rooms the participant may enter on their own (`*` for all).
    pub rooms: Vec<String>,
    /// The signaling WebSocket to present it to (`wss://node/sfu/ws?session=…`)
    /// when the deployment runs several SFU nodes: the node the session is
    /// placed on. Null: the SFU at this API's own address (`/sfu/ws`).
    pub url: Option<String>,
}

/// The case `id`, once the actor may do `action` on it: the permission
/// matrix first (a role that may never do it is `FORBIDDEN`; a case they are
/// not on is `NOT_FOUND`), then the case itself (`NOT_FOUND` when absent).
/// Resolvers that act on a case start here rather than each pairing the
/// check and the load themselves.
pub(crate) async fn case_for(
    tx: &mut accord_db::TenantTx,
    action: Action,
    id: CaseId,
) -> Result<cases::Case, ApiError> {
    authorize(tx, action, Some(id)).await?;
    cases::get(tx, id).await.map_err(not_found("case"))
}

/// Maps "no such row" to a not-found error naming the kind of object.
pub(crate) fn not_found(what: &'static str) -> impl Fn(accord_db::DbError) -> ApiError {
    move |e| match e {
        accord_db::DbError::NotFound => ApiError::NotFound(what),
        other => other.into(),
    }
}
