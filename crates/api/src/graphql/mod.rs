//! The GraphQL API at `/graphql`.
//!
//! Each request runs in one tenant transaction, opened on first use from the
//! web session's org and user ([`RequestCtx::tx`]) and committed after execution;
//! the response is sent only after the commit succeeded, so nothing a client saw
//! acknowledged is lost. Each mutation runs in a savepoint of its own so a failed
//! mutation leaves no partial writes while earlier ones in the same request stand.
//!
//! Every resolver authorises through the permission matrix of `accord-domain`
//! ([`authorize`]); objects outside the viewer's reach are `NOT_FOUND`.

pub mod agreements;
pub mod availability;
pub mod billing;
pub mod conflicts;
pub mod delivery;
pub mod documents;
mod graphiql;
pub mod intake;
pub mod invites;
pub mod live;
pub mod messages;
mod mutation;
mod query;
pub mod settings;
pub mod timeline;
pub mod types;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use accord_db::cases::Visibility;
use accord_db::{Db, TenantTx};
use accord_domain::{Action, CaseId, Grant};
use async_graphql::{Context, EmptySubscription, Schema};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

use crate::web::{self, SignedIn};
use crate::{ApiError, AppState};

pub use mutation::Mutation;
pub use query::Query;

/// The root of reads.
// One object per bounded context, merged.
#[derive(async_graphql::MergedObject, Debug, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    Query,
    availability::AvailabilityQuery,
    delivery::DeliveryQuery,
    documents::DocumentsQuery,
    invites::InvitesQuery,
    conflicts::ConflictsQuery,
    billing::BillingQuery,
    intake::IntakeQuery,
    timeline::TimelineQuery,
    messages::MessagesQuery,
    agreements::AgreementsQuery,
    settings::SettingsQuery,
);

/// The root of writes.
// One object per bounded context, merged.
#[derive(async_graphql::MergedObject, Debug, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    Mutation,
    availability::AvailabilityMutation,
    delivery::DeliveryMutation,
    documents::DocumentsMutation,
    invites::InvitesMutation,
    conflicts::ConflictsMutation,
    billing::BillingMutation,
    intake::IntakeMutation,
    messages::MessagesMutation,
    agreements::AgreementsMutation,
    settings::SettingsMutation,
);

/// The schema type.
pub type AccordSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Deepest selection accepted.
pub const MAX_DEPTH: usize = 10;
/// Largest query complexity accepted (each field counts 1; lists count per page size).
pub const MAX_COMPLEXITY: usize = 500;

/// Builds the schema; introspection only in development.
pub fn build_schema(dev_mode: bool) -> AccordSchema {
    let builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .limit_recursive_depth(32)
    .limit_directives(8);
    if dev_mode {
        builder.finish()
    } else {
        // "Did you mean …" would spell out the schema's names to anyone.
        builder
            .disable_introspection()
            .disable_suggestions()
            .finish()
    }
}

/// An executor error's `message` without the names it quotes that the
/// caller did not send (`sent`: the query and the variables): each such
/// quoted name becomes `[hidden]`, so the message reveals nothing of the
/// schema the caller did not already write, and still points at their own
/// mistake (`Unknown field "cses" on type [hidden].`).
fn redact_unsent(message: &str, sent: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for (i, part) in message.split('"').enumerate() {
        if i % 2 == 0 {
            out.push_str(part);
            continue;
        }
        let known = part
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|word| !word.is_empty())
            .all(|word| sent.contains(word));
        if known {
            out.push('"');
            out.push_str(part);
            out.push('"');
        } else {
            out.push_str("[hidden]");
        }
    }
    out
}

/// The schema in SDL, as checked in at `graphql/schema.graphql`.
pub fn schema_sdl() -> String {
    build_schema(true).sdl()
}

/// Per-request state handed to resolvers.
pub(crate) struct RequestCtx {
    db: Db,
    state: AppState,
    signed_in: Option<SignedIn>,
    tx: Mutex<Option<TenantTx>>,
    /// Cases this request has already shown the viewer may see, so that a list
    /// of sessions names their cases without a query (and a check) per session.
    /// Emptied before each mutation, which may change them.
    cases: std::sync::Mutex<HashMap<CaseId, accord_db::cases::Case>>,
    /// The org's live sessions, asked of the SFU once per request.
    live: tokio::sync::OnceCell<Vec<crate::live::LiveSessionInfo>>,
    /// Children of the cases above, loaded for all of them at once by the
    /// first resolver that needs one (`Case.mediator`, `Case.parties`), so a
    /// page of cases costs one query per field, not one per case.
    batches: tokio::sync::Mutex<Batches>,
    /// The actor's role, once [`RequestCtx::role`] has read it.
    role: std::sync::OnceLock<accord_domain::Role>,
}

/// What [`RequestCtx::batches`] holds: `None` for an id asked for but absent.
#[derive(Default)]
pub(crate) struct Batches {
    pub(crate) mediators: HashMap<accord_domain::UserId, Option<accord_db::members::Member>>,
    pub(crate) parties: HashMap<CaseId, Vec<accord_db::cases::Party>>,
}

impl RequestCtx {
    /// The request's tenant transaction, opened on first use.
    pub(crate) async fn tx(&self) -> Result<MappedMutexGuard<'_, TenantTx>, ApiError> {
        let signed_in = self
            .signed_in
            .as_ref()
            .ok_or_else(|| ApiError::Unauthenticated("sign in first".into()))?;
        let mut guard = self.tx.lock().await;
        if guard.is_none() {
            let s = signed_in.session;
            // Boxed: this rarely taken path's future is large (about 1.5
            // KiB), and every resolver's future holds this one's (async-graphql
            // then copies each into a box of its own, per field and row).
            *guard = Some(
                Box::pin(
                    self.db
                        .tenant(s.org_id, s.user_id, signed_in.request_id.clone()),
                )
                .await?,
            );
        }
        MutexGuard::try_map(guard, Option::as_mut)
            .map_err(|_| ApiError::Internal("request transaction vanished".into()))
    }

    /// The actor's role in the request's transaction (which it opens on
    /// first use), read once per request: a request's role does not change.
    pub(crate) async fn role(&self) -> Result<accord_domain::Role, ApiError> {
        if let Some(role) = self.role.get() {
            return Ok(*role);
        }
        let role = self.tx().await?.actor().role;
        Ok(*self.role.get_or_init(|| role))
    }

    /// Enqueues `message` in the request's transaction: it is sent (by the
    /// mail worker) only if the request commits. A failed enqueue leaves the
    /// transaction aborted, so the request fails at its commit and nothing
    /// it did is kept.
    #[allow(dead_code)] // for mail composed outside `crate::mail`
    pub(crate) async fn queue_message(&self, message: crate::outbox::OutboundMessage) {
        let result = match self.tx().await {
            Ok(mut tx) => {
                crate::mail::enqueue_plain(tx.conn(), &self.state, "mail.message", message).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "could not enqueue a message");
        }
    }

    pub(crate) fn state(&self) -> &AppState {
        &self.state
    }

    /// A case this request already showed the viewer may see.
    pub(crate) fn known_case(&self, id: CaseId) -> Option<accord_db::cases::Case> {
        self.cases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    /// Remembers cases the viewer may see (the caller checked).
    pub(crate) fn remember_cases(&self, cases: impl IntoIterator<Item = accord_db::cases::Case>) {
        let mut known = self.cases.lock().unwrap_or_else(|p| p.into_inner());
        for case in cases {
            known.insert(case.id, case);
        }
    }

    fn forget_cases(&self) {
        self.cases.lock().unwrap_or_else(|p| p.into_inner()).clear();
        if let Ok(mut batches) = self.batches.try_lock() {
            *batches = Batches::default();
        }
    }

    /// Keeps the children a page of `cases` brought along, so that
    /// `Case.mediator` and `Case.parties` answer from them.
    pub(crate) async fn remember_children(
        &self,
        cases: &[accord_db::cases::Case],
        mediators: Option<Vec<accord_db::members::Member>>,
        parties: Option<Vec<(CaseId, Vec<accord_db::cases::Party>)>>,
    ) {
        let mut batches = self.batches.lock().await;
        if let Some(mediators) = mediators {
            // A mediator the page did not bring at all is no longer a member.
            for id in cases.iter().filter_map(|c| c.mediator_id) {
                batches.mediators.entry(id).or_insert(None);
            }
            for member in mediators {
                batches.mediators.insert(member.user_id, Some(member));
            }
        }
        for (case, people) in parties.into_iter().flatten() {
            batches.parties.insert(case, people);
        }
    }

    /// The cases this request has shown, for batch loads.
    fn known_case_list(&self) -> Vec<accord_db::cases::Case> {
        self.cases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The org's live sessions as the SFU of this process reports them, asked
    /// once per request; empty when no SFU runs here.
    pub(crate) async fn live_sessions(
        &self,
        org: accord_domain::OrgId,
    ) -> &[crate::live::LiveSessionInfo] {
        self.live
            .get_or_init(|| async {
                match self.state.inner.live.get() {
                    Some(directory) => directory.live(org).await,
                    None => Vec::new(),
                }
            })
            .await
    }
}

pub(crate) fn rctx<'c>(ctx: &Context<'c>) -> &'c RequestCtx {
    // The handler always inserts the RequestCtx; a missing one is a wiring bug
    // that tests catch at once, and it surfaces as an opaque INTERNAL error.
    ctx.data_unchecked::<Arc<RequestCtx>>()
}

/// Checks `action` for the transaction's actor. With an `Involved` grant and a
/// case, the actor must be involved in that case (otherwise the case is
/// `NOT_FOUND` to them); without a case, listings are narrowed to involved cases.
pub(crate) async fn authorize(
    tx: &mut TenantTx,
    action: Action,
    case: Option<CaseId>,
) -> Result<Visibility, ApiError> {
    let actor = tx.actor();
    match accord_domain::grant(actor.role, action) {
        Grant::Deny => Err(accord_domain::Denied {
            role: actor.role,
            action,
        }
        .into()),
        Grant::OrgWide => Ok(Visibility::All),
        Grant::Involved => {
            let user = actor
                .user_id
                .ok_or_else(|| ApiError::Internal("system actor with an involved grant".into()))?;
            match case {
                None => Ok(Visibility::InvolvedOnly(user)),
                Some(case) => {
                    if accord_db::cases::is_involved(tx, case, user).await? {
                        Ok(Visibility::InvolvedOnly(user))
                    } else {
                        Err(ApiError::NotFound("case"))
                    }
                }
            }
        }
    }
}

/// Remembers the cases `case_ids` of sessions listed with `visibility`, in
/// one query, when that listing already proves the viewer may see them (an
/// org-wide grant, or sessions narrowed to the viewer's own cases), so that
/// `Session.case` answers from memory. Otherwise nothing is remembered and
/// each `Session.case` checks its case itself.
pub(crate) async fn remember_cases_of(
    ctx: &Context<'_>,
    case_ids: impl IntoIterator<Item = CaseId>,
    visibility: Visibility,
) -> async_graphql::Result<()> {
    let rc = rctx(ctx);
    let ids: Vec<CaseId> = case_ids
        .into_iter()
        .filter(|id| rc.known_case(*id).is_none())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let cases = read(ctx, move |tx| {
        Box::pin(async move {
            let actor = tx.actor();
            let proven = match accord_domain::grant(actor.role, Action::ViewCase) {
                Grant::OrgWide => true,
                Grant::Involved => {
                    matches!(visibility, Visibility::InvolvedOnly(u) if Some(u) == actor.user_id)
                }
                Grant::Deny => false,
            };
            if !proven {
                return Ok(Vec::new());
            }
            Ok(accord_db::cases::get_many(tx, &ids).await?)
        })
    })
    .await?;
    rc.remember_cases(cases);
    Ok(())
}

/// The member `mediator` of `case` (a case the request has shown), loaded with
/// the mediators of every case the request has shown, in one query.
pub(crate) async fn batched_mediator(
    ctx: &Context<'_>,
    case: &accord_db::cases::Case,
    mediator: accord_domain::UserId,
) -> async_graphql::Result<Option<accord_db::members::Member>> {
    let rc = rctx(ctx);
    let mut batches = rc.batches.lock().await;
    if let Some(found) = batches.mediators.get(&mediator) {
        return Ok(found.clone());
    }
    let mut wanted: Vec<accord_domain::UserId> = rc
        .known_case_list()
        .into_iter()
        .chain(std::iter::once(case.clone()))
        .filter_map(|c| c.mediator_id)
        .filter(|id| !batches.mediators.contains_key(id))
        .collect();
    wanted.sort_unstable_by_key(|id| id.as_uuid());
    wanted.dedup();
    let ids = wanted.clone();
    let found = read(ctx, move |tx| {
        Box::pin(async move { Ok(accord_db::members::get_many(tx, &ids).await?) })
    })
    .await?;
    for id in wanted {
        batches.mediators.insert(id, None);
    }
    for member in found {
        batches.mediators.insert(member.user_id, Some(member));
    }
    Ok(batches.mediators.get(&mediator).cloned().flatten())
}

/// `shown` of the people on `case` (a case the request has shown), loaded
/// with those of every case the request has shown, in one query. (`shown`
/// reads them where the batch keeps them: nothing is copied but what it
/// makes.)
pub(crate) async fn batched_parties<T>(
    ctx: &Context<'_>,
    case: &accord_db::cases::Case,
    shown: impl FnOnce(&[accord_db::cases::Party]) -> T,
) -> async_graphql::Result<T> {
    let rc = rctx(ctx);
    let mut batches = rc.batches.lock().await;
    if let Some(found) = batches.parties.get(&case.id) {
        return Ok(shown(found));
    }
    let mut wanted: Vec<CaseId> = rc
        .known_case_list()
        .into_iter()
        .map(|c| c.id)
        .chain(std::iter::once(case.id))
        .filter(|id| !batches.parties.contains_key(id))
        .collect();
    wanted.sort_unstable_by_key(|id| id.as_uuid());
    wanted.dedup();
    let ids = wanted.clone();
    let found = read(ctx, move |tx| {
        Box::pin(async move { Ok(accord_db::cases::parties_of_many(tx, &ids).await?) })
    })
    .await?;
    for id in wanted {
        batches.parties.insert(id, Vec::new());
    }
    for party in found {
        batches
            .parties
            .entry(party.case_id)
            .or_default()
            .push(party);
    }
    Ok(shown(
        batches
            .parties
            .get(&case.id)
            .map(Vec::as_slice)
            .unwrap_or_default(),
    ))
}

/// Refuses `action` when the actor's role may never do it, before any object is
/// looked up: otherwise "forbidden" for an existing id and "not found" for a
/// missing one would tell a party which ids exist.
pub(crate) fn deny_early(tx: &TenantTx, action: Action) -> Result<(), ApiError> {
    let role = tx.actor().role;
    match accord_domain::grant(role, action) {
        Grant::Deny => Err(accord_domain::Denied { role, action }.into()),
        Grant::Involved | Grant::OrgWide => Ok(()),
    }
}

type BoxFut<'t, T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send + 't>>;

/// Runs a mutation in a savepoint of the request transaction: on error its
/// writes are undone and the rest of the request carries on.
pub(crate) async fn mutate<T, F>(ctx: &Context<'_>, f: F) -> async_graphql::Result<T>
where
    F: for<'t> FnOnce(&'t mut TenantTx) -> BoxFut<'t, T>,
{
    rctx(ctx).forget_cases();
    let mut tx = rctx(ctx).tx().await.map_err(gql)?;
    sqlx::query("SAVEPOINT accord_mutation")
        .execute(tx.conn())
        .await
        .map_err(|e| gql(ApiError::from(accord_db::DbError::from(e))))?;
    let result = f(&mut tx).await;
    let end = if result.is_ok() {
        "RELEASE SAVEPOINT accord_mutation"
    } else {
        "ROLLBACK TO SAVEPOINT accord_mutation"
    };
    sqlx::query(end)
        .execute(tx.conn())
        .await
        .map_err(|e| gql(ApiError::from(accord_db::DbError::from(e))))?;
    result.map_err(gql)
}

/// Runs a read in the request transaction.
pub(crate) async fn read<T, F>(ctx: &Context<'_>, f: F) -> async_graphql::Result<T>
where
    F: for<'t> FnOnce(&'t mut TenantTx) -> BoxFut<'t, T>,
{
    let mut tx = rctx(ctx).tx().await.map_err(gql)?;
    f(&mut tx).await.map_err(gql)
}

/// An API error as a GraphQL error.
pub(crate) fn gql(e: ApiError) -> async_graphql::Error {
    e.into_graphql(None)
}

fn error_body(e: ApiError, request_id: Option<&str>) -> serde_json::Value {
    let message = e.client_message(request_id);
    serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": e.code() } }] })
}

fn reject(status: StatusCode, e: ApiError, request_id: Option<&str>) -> Response {
    (status, axum::Json(error_body(e, request_id))).into_response()
}

/// What a request's document holds, read once before execution.
#[derive(Debug, Default, PartialEq, Eq)]
struct Operations {
    /// Whether any operation in the document is a mutation.
    any_mutation: bool,
    /// The type of the operation that runs (`query`, `mutation`), when the
    /// document names it unambiguously.
    kind: Option<&'static str>,
    /// That operation's name, when it has one.
    name: Option<String>,
    /// Its root fields, as metrics count them ([`crate::metrics::root_fields`]).
    root_fields: Vec<String>,
}

/// Operation names longer than this are cut in spans.
const MAX_OPERATION_NAME: usize = 100;

/// The documents the API parsed recently, by their text: a client's pages
/// send the same few queries over and over, and copying a parsed document
/// costs a fraction of parsing it again. Bounded in entries and in the size
/// of a document it keeps, so distinct queries (a client's mistakes, or
/// someone trying many) cost at most that much memory; when full, it starts
/// over.
#[derive(Default)]
pub(crate) struct DocumentCache {
    parsed: std::sync::Mutex<HashMap<String, async_graphql::parser::types::ExecutableDocument>>,
}

impl DocumentCache {
    /// At most this many documents are kept.
    const ENTRIES: usize = 128;
    /// Longer query texts are parsed each time and not kept.
    const MAX_QUERY_LEN: usize = 4096;

    fn get(&self, query: &str) -> Option<async_graphql::parser::types::ExecutableDocument> {
        let parsed = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
        parsed.get(query).cloned()
    }

    fn keep(&self, query: &str, doc: &async_graphql::parser::types::ExecutableDocument) {
        if query.len() > Self::MAX_QUERY_LEN {
            return;
        }
        let mut parsed = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
        if parsed.len() >= Self::ENTRIES {
            parsed.clear();
        }
        parsed.insert(query.to_owned(), doc.clone());
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.parsed.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Reads the operations of the request's document, parsing it once (or
/// taking it from `documents`): the executor then runs the document found
/// here rather than parsing the text again. Documents that do not parse are
/// left to the executor, which reports them.
fn operations(documents: &DocumentCache, request: &mut async_graphql::Request) -> Operations {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let kind = |ty: OperationType| match ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    let operation_name = request.operation_name.clone();
    let variables = std::mem::take(&mut request.variables);
    let cached = documents.get(&request.query);
    let hit = cached.is_some();
    if let Some(doc) = cached {
        request.set_parsed_query(doc);
    }
    let query = (!hit).then(|| request.query.clone());
    let Ok(doc) = request.parsed_query() else {
        request.variables = variables;
        return Operations::default();
    };
    if let Some(query) = query {
        documents.keep(&query, doc);
    }
    let root_fields = crate::metrics::root_fields(doc, operation_name.as_deref(), &variables);
    let ops = match &doc.operations {
        DocumentOperations::Single(op) => Operations {
            any_mutation: op.node.ty == OperationType::Mutation,
            kind: Some(kind(op.node.ty)),
            // The parser's `Single` is the one anonymous operation.
            name: None,
            root_fields,
        },
        DocumentOperations::Multiple(ops) => {
            let any_mutation = ops.values().any(|op| op.node.ty == OperationType::Mutation);
            let selected = match operation_name.as_deref() {
                Some(wanted) => ops.iter().find(|(name, _)| name.as_str() == wanted),
                None if ops.len() == 1 => ops.iter().next(),
                None => None,
            };
            Operations {
                any_mutation,
                kind: selected.map(|(_, op)| kind(op.node.ty)),
                // A GraphQL name (letters, digits, `_`), bounded all the same.
                name: selected.map(|(name, _)| name.chars().take(MAX_OPERATION_NAME).collect()),
                root_fields,
            }
        }
    };
    request.variables = variables;
    ops
}

/// The span of one GraphQL request: `graphql <OperationName>` (or `graphql
/// anonymous`), with the operation's type and name. Names are GraphQL
/// identifiers the client's code declares, never values; the query text
/// and variables are not recorded.
fn operation_span(ops: &Operations) -> tracing::Span {
    let name = ops.name.as_deref().unwrap_or("anonymous");
    tracing::info_span!(
        "graphql",
        otel.name = %format_args!("graphql {name}"),
        otel.kind = "server",
        graphql.operation.type = ops.kind.unwrap_or("unknown"),
        graphql.operation.name = ops.name.as_deref(),
    )
}

/// How one execution of a GraphQL request ended.
enum Attempt {
    /// An answer to send as it is.
    Done(Response),
    /// The database failed before anything of the request was committed (or
    /// even sent to be committed): running it again is safe.
    Unavailable(ApiError),
}

/// `POST /graphql`
///
/// One request is one transaction. When the database connection is lost or
/// refused before the commit was sent (and within [`RETRY_WITHIN`]), the
/// whole request runs once more on a fresh connection; when that fails too
/// (or the commit itself was cut off, so whether it landed is unknown), the
/// answer is `503` with the code `UNAVAILABLE` and `Retry-After`, never
/// `INTERNAL`.
pub(crate) async fn handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rid = web::request_id(&headers);
    let rid = rid.as_deref();
    if !web::is_json(&headers) {
        return reject(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BadUserInput {
                field: None,
                message: "send GraphQL requests as JSON (Content-Type: application/json)".into(),
            },
            rid,
        );
    }
    let started = std::time::Instant::now();
    match attempt(&state, &headers, &body, rid).await {
        Attempt::Done(response) => response,
        // A first attempt that already waited out the pool (the server is
        // down, not blipping) is not made to wait a second time.
        Attempt::Unavailable(first) if started.elapsed() >= RETRY_WITHIN => {
            with_retry_after(first, rid)
        }
        Attempt::Unavailable(first) => {
            tracing::info!(
                request_id = rid.unwrap_or(""),
                error = %first,
                "retrying a request the database failed"
            );
            match attempt(&state, &headers, &body, rid).await {
                Attempt::Done(response) => response,
                Attempt::Unavailable(e) => with_retry_after(e, rid),
            }
        }
    }
}

/// A request the database failed within this time is run once more; one
/// that took longer (it waited for a connection until the pool gave up) is
/// answered `UNAVAILABLE` at once.
const RETRY_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);

/// An answer with `Retry-After` (`503 UNAVAILABLE`, `429 RATE_LIMITED`).
fn with_retry_after(e: ApiError, request_id: Option<&str>) -> Response {
    let retry_after = e.retry_after();
    let mut response = reject(e.status(), e, request_id);
    if let Some(value) =
        retry_after.and_then(|s| axum::http::HeaderValue::from_str(&s.to_string()).ok())
    {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, value);
    }
    response
}

/// The database's failure as the request's answer: retryable when it is the
/// connection's and nothing was committed.
fn failed(e: ApiError, request_id: Option<&str>) -> Attempt {
    if matches!(e, ApiError::Unavailable { .. }) {
        Attempt::Unavailable(e)
    } else {
        Attempt::Done(reject(e.status(), e, request_id))
    }
}

/// Runs the request once in a transaction of its own, in its operation's span.
async fn attempt(state: &AppState, headers: &HeaderMap, body: &[u8], rid: Option<&str>) -> Attempt {
    use tracing::Instrument as _;
    let mut request: async_graphql::Request = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return Attempt::Done(reject(
                StatusCode::BAD_REQUEST,
                ApiError::BadUserInput {
                    field: None,
                    message: format!("the body is not a GraphQL request: {e}"),
                },
                rid,
            ))
        }
    };
    let ops = operations(&state.inner.documents, &mut request);
    let span = operation_span(&ops);
    execute(state, headers, request, &ops, rid)
        .instrument(span)
        .await
}

async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    request: async_graphql::Request,
    ops: &Operations,
    rid: Option<&str>,
) -> Attempt {
    let any_mutation = ops.any_mutation;
    // The session, the role and the transaction's scope in one statement.
    let (signed_in, tx) = match web::lookup_session_with_tx(state, headers).await {
        Ok(Some((s, tx))) => (Some(s), tx),
        Ok(None) => (None, None),
        Err(e) => return failed(e, rid),
    };
    if let Some(s) = &signed_in {
        if let Err(retry_after) = state.graphql_limiter().check(s.session.user_id) {
            return Attempt::Done(with_retry_after(ApiError::RateLimited { retry_after }, rid));
        }
        if any_mutation {
            if let Err(e) = s.check_csrf(headers) {
                return Attempt::Done(reject(StatusCode::FORBIDDEN, e, rid));
            }
        }
    }
    let ctx = Arc::new(RequestCtx {
        db: state.db().clone(),
        state: state.clone(),
        signed_in,
        tx: Mutex::new(tx),
        cases: std::sync::Mutex::new(HashMap::new()),
        live: tokio::sync::OnceCell::new(),
        batches: tokio::sync::Mutex::new(Batches::default()),
        role: std::sync::OnceLock::new(),
    });
    // What the caller wrote, to hold the executor's messages against.
    let sent = (!state.config().dev_mode).then(|| {
        let mut sent = request.query.clone();
        if let Ok(variables) = serde_json::to_string(&request.variables) {
            sent.push_str(&variables);
        }
        sent
    });
    let started = std::time::Instant::now();
    let mut response = state
        .inner
        .schema
        .execute(request.data(Arc::clone(&ctx)))
        .await;
    // The operation ran (it passed validation) when it answered data or an
    // error from a field; otherwise the executor refused the document.
    let ran = !matches!(response.data, async_graphql::Value::Null)
        || response.errors.iter().any(|e| !e.path.is_empty());
    if ran {
        state
            .metrics()
            .graphql_operation(&ops.root_fields, started.elapsed().as_secs_f64());
    }
    // Errors raised by the executor itself (syntax, validation, limits, input
    // coercion) carry no code; they are all the client's input.
    // Which operation's resolvers found a server they need unavailable
    // (the database, Redis, the vault's key service...: each logged its own
    // cause when it failed); the request's log line names the fields.
    let mut unavailable: Vec<String> = Vec::new();
    for error in &mut response.errors {
        let ext = error.extensions.get_or_insert_with(Default::default);
        match ext.get("code") {
            None => {
                ext.set("code", "BAD_USER_INPUT");
                if let Some(sent) = &sent {
                    error.message = redact_unsent(&error.message, sent);
                }
            }
            Some(async_graphql::Value::String(code)) if code == "UNAVAILABLE" => {
                let path = error
                    .path
                    .iter()
                    .map(|s| match s {
                        async_graphql::PathSegment::Field(f) => f.clone(),
                        async_graphql::PathSegment::Index(i) => i.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(".");
                unavailable.push(if path.is_empty() {
                    "the request".into()
                } else {
                    path
                });
            }
            Some(_) => {}
        }
    }
    state.metrics().graphql_errors(&response.errors);
    let tx = ctx.tx.lock().await.take();
    if !unavailable.is_empty() {
        // Some of the request could not run: answer none of it (dropping the
        // transaction rolls back whatever did run).
        drop(tx);
        return Attempt::Unavailable(ApiError::Unavailable {
            retry_after: crate::error::UNAVAILABLE_RETRY_AFTER,
            detail: format!(
                "a server that {} needs was unavailable (the cause is logged above); the whole request was undone",
                unavailable.join(", ")
            ),
        });
    }
    if let Some(tx) = tx {
        // A statement that failed outside a savepoint leaves the transaction
        // aborted, and Postgres then answers COMMIT with a silent ROLLBACK:
        // `commit` probes in the same round trip and fails then, so a reply
        // never reports writes that were not kept. (Always: a resolver may
        // log a failed statement and carry on, as `queue_message` does, so an
        // answer without errors proves nothing.)
        if let Err(e) = tx.commit().await {
            // The COMMIT may or may not have landed before the connection
            // went: not safe to run again here; the client decides.
            let e = ApiError::from(e);
            return Attempt::Done(if matches!(e, ApiError::Unavailable { .. }) {
                with_retry_after(e, rid)
            } else {
                reject(e.status(), e, rid)
            });
        }
        // Mail a mutation enqueued is now committed: send it soon. (Queries
        // enqueue none; waking the worker after each of them cost a poll of
        // the jobs table per few reads under load.)
        if any_mutation {
            state.wake_mailer();
        }
    }
    Attempt::Done(json(&response, rid))
}

/// `response` as the JSON body of a 200. Written into a buffer sized for a
/// typical page at once: `axum::Json` starts at 128 bytes and doubles, which
/// copied a page's answer six times over as it grew.
fn json(response: &async_graphql::Response, request_id: Option<&str>) -> Response {
    let mut body = Vec::with_capacity(RESPONSE_BUFFER);
    match serde_json::to_writer(&mut body, response) {
        Ok(()) => (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        // A `Value` has string keys and serde_json writes a non-finite
        // number as null, so this cannot happen; if it did, the answer is
        // the API's own (`INTERNAL`, the detail logged, not shown).
        Err(e) => {
            let e = ApiError::Internal(format!("writing the GraphQL answer: {e}"));
            reject(e.status(), e, request_id)
        }
    }
}

/// The answer buffer's first size: a 20-case page with its people is about
/// 6 KiB.
const RESPONSE_BUFFER: usize = 8 * 1024;

/// `GET /graphql`: GraphiQL in development ([`graphiql`]), nothing otherwise.
pub(crate) async fn graphiql(State(state): State<AppState>) -> Response {
    if state.config().dev_mode {
        graphiql::page(state.config().graphiql_dir.as_deref()).await
    } else {
        ApiError::NotFound("page").into_response()
    }
}

/// `GET /graphiql/{file}`: GraphiQL's scripts and styles, in development only.
pub(crate) async fn graphiql_asset(
    State(state): State<AppState>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    if state.config().dev_mode {
        graphiql::asset(state.config().graphiql_dir.as_deref(), &file).await
    } else {
        ApiError::NotFound("page").into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::{redact_unsent, DocumentCache, Operations};

    fn operations(query: &str, operation_name: Option<&str>) -> Operations {
        operations_in(&DocumentCache::default(), query, operation_name)
    }

    fn operations_in(
        documents: &DocumentCache,
        query: &str,
        operation_name: Option<&str>,
    ) -> Operations {
        let mut request = async_graphql::Request::new(query);
        if let Some(name) = operation_name {
            request = request.operation_name(name);
        }
        super::operations(documents, &mut request)
    }

    #[test]
    fn a_kept_document_reads_as_a_fresh_parse_and_the_cache_stays_bounded() {
        let documents = DocumentCache::default();
        let two = "query Cases { cases { edges { node { id } } } } mutation Make { createCase(input: {reference: \"N-7\", title: \"Zanzibar\"}) { id } }";
        let fresh = operations_in(&documents, two, Some("Make"));
        assert_eq!(documents.len(), 1);
        let kept = operations_in(&documents, two, Some("Make"));
        assert_eq!(kept, fresh);
        assert_eq!(kept.kind, Some("mutation"));
        // The same text with another operation chosen reads that one.
        let other = operations_in(&documents, two, Some("Cases"));
        assert_eq!(other.kind, Some("query"));
        assert_eq!(documents.len(), 1);
        // Text that does not parse is not kept; neither is an oversized one.
        assert_eq!(
            operations_in(&documents, "{ broken", None),
            Operations::default()
        );
        let long = format!(
            "{{ cases {{ edges {{ node {{ id }} }} }} }}{}",
            " ".repeat(5000)
        );
        assert_eq!(operations_in(&documents, &long, None).kind, Some("query"));
        assert_eq!(documents.len(), 1);
        // Many distinct documents never make it hold more than its bound.
        for n in 0..(DocumentCache::ENTRIES * 3) {
            operations_in(
                &documents,
                &format!("query Q{n} {{ viewer {{ id }} }}"),
                None,
            );
            assert!(documents.len() <= DocumentCache::ENTRIES);
        }
    }

    #[test]
    fn operations_are_named_by_the_document_never_by_its_values() {
        let named = operations(
            "mutation AddParty($n: String!) { addParty(input: {displayName: $n}) { id } }",
            None,
        );
        assert_eq!(
            named,
            Operations {
                any_mutation: true,
                kind: Some("mutation"),
                name: Some("AddParty".into()),
                root_fields: vec!["Mutation.addParty".to_owned()],
            }
        );
        let anonymous = operations("{ cases { edges { node { title } } } }", None);
        assert_eq!((anonymous.kind, anonymous.name), (Some("query"), None));
        let two = "query Cases { cases { edges { node { id } } } } mutation Make { createCase(input: {reference: \"N-7\", title: \"Zanzibar\"}) { id } }";
        let chosen = operations(two, Some("Cases"));
        assert!(chosen.any_mutation, "CSRF looks at every operation");
        assert_eq!(
            (chosen.kind, chosen.name.as_deref()),
            (Some("query"), Some("Cases"))
        );
        assert_eq!(operations(two, None).name, None, "ambiguous: none chosen");
        assert_eq!(operations("{ broken", None), Operations::default());
    }

    #[test]
    fn quoted_names_the_caller_did_not_send_are_hidden() {
        let sent = "{ cses { id } }";
        assert_eq!(
            redact_unsent("Unknown field \"cses\" on type \"Query\".", sent),
            "Unknown field \"cses\" on type [hidden]."
        );
        assert_eq!(
            redact_unsent(
                "Field \"createCase\" argument \"input\" of type \"CreateCaseInput!\" is required",
                "mutation { createCase { id } }"
            ),
            "Field \"createCase\" argument [hidden] of type [hidden] is required"
        );
        assert_eq!(redact_unsent("no quotes here", sent), "no quotes here");
    }
}
