//! The API's `/metrics` (OpenMetrics text, through `prometheus-client`):
//! requests and their latency by route class, GraphQL operations by root
//! field (`Query.cases`, `Mutation.createCase`: names from the schema,
//! never an alias, argument or variable), GraphQL errors by code, the
//! database pool, the mail queue's due jobs and the age of the oldest, and
//! failed mail deliveries by reason (a fixed few).
//!
//! Labels carry no tenant, case, user or session id and no mediation
//! content: a route class is one of a fixed few, a GraphQL label is a
//! schema field that passed validation, a code is one of the API's own.
//! Anything else in this process that keeps metrics (the SFU, when it runs
//! here) adds itself as a [`MetricsSource`] and is rendered beside.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::Value;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::state::AppState;

/// The content type of `/metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// At most this many orgs' queues are looked at per scrape.
const QUEUE_ORGS_PER_SCRAPE: i32 = 500;

/// Other metrics kept in this process, rendered after the API's.
pub trait MetricsSource: Send + Sync + std::fmt::Debug + 'static {
    /// Appends the metrics in the OpenMetrics text format, without `# EOF`.
    fn encode(&self, out: &mut String) -> std::fmt::Result;
}

type Labels = Vec<(&'static str, String)>;

fn latency() -> Histogram {
    // 1 ms … about 15 s.
    Histogram::new(exponential_buckets(0.001, 2.5, 11))
}

/// The API's metrics, one set per app.
pub struct ApiMetrics {
    registry: Registry,
    http_requests: Family<Labels, Counter>,
    http_duration: Family<Labels, Histogram, fn() -> Histogram>,
    graphql_fields: Family<Labels, Counter>,
    graphql_duration: Family<Labels, Histogram, fn() -> Histogram>,
    graphql_errors: Family<Labels, Counter>,
    pool_connections: Gauge,
    pool_idle: Gauge,
    jobs_due: Gauge,
    jobs_oldest_due_seconds: Gauge,
    mail_failures: accord_notify::worker::MailFailures,
    others: Mutex<Vec<Arc<dyn MetricsSource>>>,
}

impl std::fmt::Debug for ApiMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiMetrics").finish_non_exhaustive()
    }
}

impl Default for ApiMetrics {
    fn default() -> Self {
        let mut m = ApiMetrics {
            registry: Registry::default(),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency),
            graphql_fields: Family::default(),
            graphql_duration: Family::new_with_constructor(latency),
            graphql_errors: Family::default(),
            pool_connections: Gauge::default(),
            pool_idle: Gauge::default(),
            jobs_due: Gauge::default(),
            jobs_oldest_due_seconds: Gauge::default(),
            mail_failures: accord_notify::worker::MailFailures::default(),
            others: Mutex::new(Vec::new()),
        };
        let r = &mut m.registry;
        r.register(
            "accord_api_http_requests",
            "HTTP requests answered, by route class and status class",
            m.http_requests.clone(),
        );
        r.register(
            "accord_api_http_request_duration_seconds",
            "Time to answer an HTTP request, by route class",
            m.http_duration.clone(),
        );
        r.register(
            "accord_api_graphql_fields",
            "GraphQL root fields resolved (Query.x, Mutation.y), by field",
            m.graphql_fields.clone(),
        );
        r.register(
            "accord_api_graphql_field_duration_seconds",
            "Time to run the GraphQL operation a root field was in (its resolution and everything under it), by field",
            m.graphql_duration.clone(),
        );
        r.register(
            "accord_api_graphql_errors",
            "Errors in GraphQL answers, by extensions.code",
            m.graphql_errors.clone(),
        );
        r.register(
            "accord_api_db_pool_connections",
            "Connections open in the application's database pool",
            m.pool_connections.clone(),
        );
        r.register(
            "accord_api_db_pool_idle",
            "Idle connections in the application's database pool (including those kept for the next request)",
            m.pool_idle.clone(),
        );
        r.register(
            "accord_api_jobs_due",
            "Mail and document jobs due now and not yet taken (a stuck worker's show here)",
            m.jobs_due.clone(),
        );
        r.register(
            "accord_api_jobs_oldest_due_seconds",
            "How long the oldest due job has waited, seconds",
            m.jobs_oldest_due_seconds.clone(),
        );
        r.register(
            "accord_api_mail_failures",
            "Mail delivery attempts that failed, by reason (transport, deferred, rejected)",
            m.mail_failures.family(),
        );
        m
    }
}

/// The route class of `path`: one of a fixed few, never the path itself.
pub fn route_class(path: &str) -> &'static str {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "graphql" | "graphiql" => "graphql",
        "auth" => "auth",
        "documents" => "documents",
        "sessions" => "calendar",
        "sfu" => "sfu",
        "metrics" => "metrics",
        "healthz" => "health",
        _ => "portal",
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// An `extensions.code` as a label: the API's codes are upper-case words;
/// anything else is counted as `OTHER`.
fn code_label(code: &str) -> String {
    if !code.is_empty()
        && code.len() <= 40
        && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
    {
        code.to_owned()
    } else {
        "OTHER".to_owned()
    }
}

impl ApiMetrics {
    /// Where the mail worker counts failed attempts: hand it to the
    /// worker's `WorkerConfig::failures`.
    pub fn mail_failures(&self) -> &accord_notify::worker::MailFailures {
        &self.mail_failures
    }

    /// Renders `others` after the API's own metrics.
    pub fn add_source(&self, source: Arc<dyn MetricsSource>) {
        if let Ok(mut others) = self.others.lock() {
            others.push(source);
        }
    }

    /// One HTTP request answered.
    pub fn http_request(&self, class: &'static str, status: u16, seconds: f64) {
        self.http_requests
            .get_or_create(&vec![
                ("class", class.to_owned()),
                ("status", status_class(status).to_owned()),
            ])
            .inc();
        self.http_duration
            .get_or_create(&vec![("class", class.to_owned())])
            .observe(seconds);
    }

    /// One GraphQL root field resolved (`Query.cases`).
    fn graphql_field(&self, field: String, seconds: f64) {
        let labels = vec![("field", field)];
        self.graphql_fields.get_or_create(&labels).inc();
        self.graphql_duration
            .get_or_create(&labels)
            .observe(seconds);
    }

    /// The errors of a GraphQL answer, by their `extensions.code`.
    pub(crate) fn graphql_errors(&self, errors: &[async_graphql::ServerError]) {
        for error in errors {
            let code = error.extensions.as_ref().and_then(|e| match e.get("code") {
                Some(Value::String(code)) => Some(code.as_str()),
                _ => None,
            });
            self.graphql_error(code);
        }
    }

    /// One error in a GraphQL answer (no code: the executor's own, which the
    /// handler answers as `BAD_USER_INPUT`).
    fn graphql_error(&self, code: Option<&str>) {
        let code = code.map_or_else(|| "BAD_USER_INPUT".to_owned(), code_label);
        self.graphql_errors
            .get_or_create(&vec![("code", code)])
            .inc();
    }

    /// The text exposition, the pool and queue read now.
    pub async fn render(&self, db: &accord_db::Db) -> String {
        let pool = db.pool();
        self.pool_connections.set(i64::from(pool.size()));
        self.pool_idle
            .set(i64::try_from(db.idle_connections()).unwrap_or(i64::MAX));
        match due_jobs(db).await {
            Ok((due, oldest)) => {
                self.jobs_due.set(due);
                self.jobs_oldest_due_seconds.set(oldest);
            }
            Err(e) => tracing::warn!(error = %e, "reading the job queue for /metrics"),
        }
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry);
        let others = self.others.lock().map(|o| o.clone()).unwrap_or_default();
        for source in others {
            let _ = source.encode(&mut out);
        }
        out.push_str("# EOF\n");
        out
    }
}

/// Jobs due now across the orgs that have any (each org's counted in a
/// transaction scoped to it, as the worker reads them), and the oldest's
/// wait in whole seconds.
async fn due_jobs(db: &accord_db::Db) -> Result<(i64, i64), accord_db::DbError> {
    let mut due = 0;
    let mut oldest = 0;
    for org in accord_db::jobs::due_orgs(db, QUEUE_ORGS_PER_SCRAPE).await? {
        let mut tx = accord_db::jobs::scoped(db, org).await?;
        let (n, age): (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*), extract(epoch FROM now() - min(run_at))::float8 FROM jobs
             WHERE (status = 'pending' AND run_at <= now())
                OR (status = 'running' AND locked_until < now())",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(accord_db::DbError::from)?;
        tx.rollback().await.map_err(accord_db::DbError::from)?;
        due += n;
        oldest = oldest.max(age.unwrap_or(0.0) as i64);
    }
    Ok((due, oldest))
}

/// `GET /metrics`.
pub(crate) async fn handler(State(state): State<AppState>) -> Response {
    let text = state.metrics().render(state.db()).await;
    ([(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

/// Counts every request by route class and status class, with its latency.
pub(crate) async fn track(
    State(metrics): State<Arc<ApiMetrics>>,
    req: Request,
    next: Next,
) -> Response {
    let class = route_class(req.uri().path());
    let started = Instant::now();
    let response = next.run(req).await;
    metrics.http_request(
        class,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The root fields the operation `operation_name` of `doc` selects, as
/// `Type.field` labels (`Query.cases`): schema names, never an alias;
/// fragments at the root are followed, fields that `@skip`/`@include` leave
/// out and introspection (`__schema`, `__typename`) are not counted. The
/// handler counts them once the executor has run the operation (so only
/// for documents that passed validation, where every name is the schema's).
///
/// Counted per request rather than by a schema extension: with any
/// extension the executor wraps every field it resolves (hundreds on a page
/// of cases) in one more boxed future.
pub(crate) fn root_fields(
    doc: &async_graphql::parser::types::ExecutableDocument,
    operation_name: Option<&str>,
    variables: &async_graphql::Variables,
) -> Vec<String> {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let operation = match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, op)| op),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    };
    let Some(operation) = operation else {
        return Vec::new();
    };
    let root = match operation.node.ty {
        OperationType::Query => "Query",
        OperationType::Mutation => "Mutation",
        OperationType::Subscription => "Subscription",
    };
    let mut fields = Vec::new();
    collect_root_fields(
        doc,
        &operation.node.selection_set.node,
        variables,
        root,
        &mut fields,
        0,
    );
    fields
}

fn collect_root_fields(
    doc: &async_graphql::parser::types::ExecutableDocument,
    set: &async_graphql::parser::types::SelectionSet,
    variables: &async_graphql::Variables,
    root: &str,
    out: &mut Vec<String>,
    depth: usize,
) {
    use async_graphql::parser::types::Selection;
    // Fragments cannot cycle in a valid document; bounded all the same.
    if depth > 8 {
        return;
    }
    for selection in &set.items {
        if !included(selection.node.directives(), variables) {
            continue;
        }
        match &selection.node {
            Selection::Field(field) => {
                let name = field.node.name.node.as_str();
                let label = format!("{root}.{name}");
                if !name.starts_with("__") && !out.contains(&label) {
                    out.push(label);
                }
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = doc.fragments.get(&spread.node.fragment_name.node) {
                    collect_root_fields(
                        doc,
                        &fragment.node.selection_set.node,
                        variables,
                        root,
                        out,
                        depth + 1,
                    );
                }
            }
            Selection::InlineFragment(inline) => collect_root_fields(
                doc,
                &inline.node.selection_set.node,
                variables,
                root,
                out,
                depth + 1,
            ),
        }
    }
}

/// Whether `@skip`/`@include` keep a selection (as the executor decides).
fn included(
    directives: &[async_graphql::Positioned<async_graphql::parser::types::Directive>],
    variables: &async_graphql::Variables,
) -> bool {
    directives.iter().all(|directive| {
        let condition = directive
            .node
            .get_argument("if")
            .and_then(|value| {
                value
                    .node
                    .clone()
                    .into_const_with(|name| variables.get(&name).cloned().ok_or(()))
                    .ok()
            })
            .and_then(|value| match value {
                Value::Boolean(b) => Some(b),
                _ => None,
            });
        match (directive.node.name.node.as_str(), condition) {
            ("skip", Some(skip)) => !skip,
            ("include", Some(include)) => include,
            _ => true,
        }
    })
}

impl ApiMetrics {
    /// The root fields of an operation the executor ran, in `seconds`.
    pub(crate) fn graphql_operation(&self, fields: &[String], seconds: f64) {
        for field in fields {
            self.graphql_field(field.clone(), seconds);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_classes_are_a_fixed_few() {
        assert_eq!(route_class("/graphql"), "graphql");
        assert_eq!(route_class("/auth/sign-in"), "auth");
        assert_eq!(route_class("/documents/versions/0190/content"), "documents");
        assert_eq!(route_class("/sessions/0190/calendar.ics"), "calendar");
        assert_eq!(route_class("/sfu/ws"), "sfu");
        assert_eq!(route_class("/admin/cases/Smith%20v%20Jones"), "portal");
        assert_eq!(route_class("/"), "portal");
    }

    #[test]
    fn root_fields_are_schema_names_never_aliases() {
        let doc = async_graphql::parser::parse_query(
            "query Page($no: Boolean!) { mine: cases { edges { node { id } } } \
             ...More __typename skipped: members @skip(if: true) \
             gone: sessions @include(if: $no) } \
             fragment More on Query { viewer { id } cases { edges { node { id } } } } \
             mutation Make { createCase(input: {reference: \"R\", title: \"T\"}) { id } }",
        )
        .unwrap();
        let variables = async_graphql::Variables::from_json(serde_json::json!({ "no": false }));
        assert_eq!(
            root_fields(&doc, Some("Page"), &variables),
            ["Query.cases", "Query.viewer"]
        );
        assert_eq!(
            root_fields(&doc, Some("Make"), &variables),
            ["Mutation.createCase"]
        );
        assert!(root_fields(&doc, None, &variables).is_empty(), "ambiguous");
    }

    #[test]
    fn codes_that_are_not_the_apis_are_other() {
        assert_eq!(code_label("NOT_FOUND"), "NOT_FOUND");
        assert_eq!(code_label("Smith v Jones"), "OTHER");
        assert_eq!(code_label(""), "OTHER");
    }

    #[test]
    fn requests_render_by_class_and_status() {
        let m = ApiMetrics::default();
        m.http_request("graphql", 200, 0.01);
        m.http_request("graphql", 429, 0.001);
        m.graphql_field("Query.cases".into(), 0.02);
        m.graphql_error(Some("FORBIDDEN"));
        m.graphql_error(None);
        let mut out = String::new();
        prometheus_client::encoding::text::encode_registry(&mut out, &m.registry).unwrap();
        for line in [
            "accord_api_http_requests_total{class=\"graphql\",status=\"2xx\"} 1",
            "accord_api_http_requests_total{class=\"graphql\",status=\"4xx\"} 1",
            "accord_api_http_request_duration_seconds_count{class=\"graphql\"} 2",
            "accord_api_graphql_fields_total{field=\"Query.cases\"} 1",
            "accord_api_graphql_errors_total{code=\"FORBIDDEN\"} 1",
            "accord_api_graphql_errors_total{code=\"BAD_USER_INPUT\"} 1",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} in\n{out}");
        }
    }
}
