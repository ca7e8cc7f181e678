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

mod mutation;
mod query;
pub mod types;

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
use axum::response::{Html, IntoResponse, Response};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

use crate::web::{self, SignedIn};
use crate::{ApiError, AppState};

pub use mutation::Mutation;
pub use query::Query;

/// The schema type.
pub type AccordSchema = Schema<Query, Mutation, EmptySubscription>;

/// Deepest selection accepted.
pub const MAX_DEPTH: usize = 10;
/// Largest query complexity accepted (each field counts 1; lists count per page size).
pub const MAX_COMPLEXITY: usize = 500;

/// Builds the schema; introspection only in development.
pub fn build_schema(dev_mode: bool) -> AccordSchema {
    let builder = Schema::build(Query, Mutation, EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(32)
        .limit_directives(8);
    if dev_mode {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    }
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
    /// Messages to send once the transaction has committed, so no one is mailed
    /// a link to something that was rolled back.
    outgoing: Mutex<Vec<crate::outbox::OutboundMessage>>,
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
            *guard = Some(
                self.db
                    .tenant(s.org_id, s.user_id, signed_in.request_id.clone())
                    .await?,
            );
        }
        MutexGuard::try_map(guard, Option::as_mut)
            .map_err(|_| ApiError::Internal("request transaction vanished".into()))
    }

    pub(crate) async fn queue_message(&self, message: crate::outbox::OutboundMessage) {
        self.outgoing.lock().await.push(message);
    }

    pub(crate) fn state(&self) -> &AppState {
        &self.state
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

/// Whether any operation in the document is a mutation. Documents that do not
/// parse are left to the executor, which reports them.
fn has_mutation(query: &str) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    match async_graphql::parser::parse_query(query) {
        Ok(doc) => match doc.operations {
            DocumentOperations::Single(op) => op.node.ty == OperationType::Mutation,
            DocumentOperations::Multiple(ops) => {
                ops.values().any(|op| op.node.ty == OperationType::Mutation)
            }
        },
        Err(_) => false,
    }
}

/// `POST /graphql`
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
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return reject(
                StatusCode::BAD_REQUEST,
                ApiError::BadUserInput {
                    field: None,
                    message: format!("the body is not a GraphQL request: {e}"),
                },
                rid,
            )
        }
    };
    let signed_in = match web::lookup_session(&state, &headers).await {
        Ok(s) => s,
        Err(e) => return reject(StatusCode::INTERNAL_SERVER_ERROR, e, rid),
    };
    if let Some(s) = &signed_in {
        if has_mutation(&request.query) {
            if let Err(e) = s.check_csrf(&headers) {
                return reject(StatusCode::FORBIDDEN, e, rid);
            }
        }
    }
    let ctx = Arc::new(RequestCtx {
        db: state.db().clone(),
        state: state.clone(),
        signed_in,
        tx: Mutex::new(None),
        outgoing: Mutex::new(Vec::new()),
    });
    let mut response = state
        .inner
        .schema
        .execute(request.data(Arc::clone(&ctx)))
        .await;
    // Errors raised by the executor itself (syntax, validation, limits, input
    // coercion) carry no code; they are all the client's input.
    for error in &mut response.errors {
        let ext = error.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set("code", "BAD_USER_INPUT");
        }
    }
    let tx = ctx.tx.lock().await.take();
    if let Some(mut tx) = tx {
        // A statement that failed outside a savepoint leaves the transaction
        // aborted, and Postgres then answers COMMIT with a silent ROLLBACK. Probe
        // first, so a reply never reports writes that were not kept.
        let alive = sqlx::query("SELECT 1").execute(tx.conn()).await;
        let committed = match alive {
            Ok(_) => tx.commit().await,
            Err(e) => Err(accord_db::DbError::from(e)),
        };
        if let Err(e) = committed {
            return reject(StatusCode::INTERNAL_SERVER_ERROR, e.into(), rid);
        }
    }
    for message in ctx.outgoing.lock().await.drain(..) {
        if let Err(e) = crate::auth_routes::deliver(&state, message) {
            // The change is committed; the admin can re-send the invitation.
            e.client_message(rid);
        }
    }
    axum::Json(response).into_response()
}

/// `GET /graphql`: GraphiQL in development, nothing otherwise.
pub(crate) async fn graphiql(State(state): State<AppState>) -> Response {
    if state.config().dev_mode {
        Html(
            async_graphql::http::GraphiQLSource::build()
                .endpoint("/graphql")
                .finish(),
        )
        .into_response()
    } else {
        ApiError::NotFound("page").into_response()
    }
}
