//! Traces over OTLP/HTTP from a real `accord serve`: an OTLP receiver runs
//! in the test (`POST /v1/traces`, protobuf decoded with
//! `opentelemetry-proto`), the server is pointed at it by its config file,
//! and what arrives is checked: the GraphQL operation's span by its name,
//! the HTTP request and database spans under it, the SFU's join; and
//! nothing of the case (title, reference, party name, email), the accounts
//! or the operations' text and variables in any span name, attribute,
//! event or resource. With telemetry off nothing is sent even where the
//! standard `OTEL_*` variables name a collector, and a collector that is
//! down fails no request and is logged once.

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use accord_domain::Role;
use accord_testkit::{spawn_app, Client, TestApp, PASSWORD};
use common::{free_port, Accord};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{json, Value};

const TITLE: &str = "Zanzibar Quokka settlement";
const REFERENCE: &str = "ZQ-4471";
const PARTY: &str = "Quentin Quartermaine";
const PARTY_EMAIL: &str = "quentin.q@secret.test";
const ADMIN_EMAIL: &str = "ada.admin@northside.test";

/// An OTLP/HTTP receiver for traces on `127.0.0.1:0`.
#[derive(Clone, Default)]
struct Receiver {
    requests: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

impl Receiver {
    async fn start() -> anyhow::Result<(Receiver, String)> {
        let receiver = Receiver::default();
        let requests = receiver.requests.clone();
        let router = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let requests = requests.clone();
                async move {
                    match ExportTraceServiceRequest::decode(body) {
                        Ok(request) => {
                            requests.lock().unwrap().push(request);
                            // An empty ExportTraceServiceResponse.
                            (
                                axum::http::StatusCode::OK,
                                [("content-type", "application/x-protobuf")],
                                Vec::new(),
                            )
                        }
                        Err(_) => (
                            axum::http::StatusCode::BAD_REQUEST,
                            [("content-type", "text/plain")],
                            b"not an ExportTraceServiceRequest".to_vec(),
                        ),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok((receiver, url))
    }

    fn requests(&self) -> Vec<ExportTraceServiceRequest> {
        self.requests.lock().unwrap().clone()
    }

    fn spans(&self) -> Vec<Span> {
        self.requests()
            .into_iter()
            .flat_map(|r| r.resource_spans)
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .collect()
    }
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn string_attribute<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    match attribute(&span.attributes, key) {
        Some(any_value::Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

/// `accord serve` on a port of its own, in a directory of its own, both
/// gone when the test ends however it ends; [`Server::stop`] stops it as an
/// operator would (SIGTERM).
struct Server {
    accord: common::Server,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accord.process.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    /// Starts `accord serve` on `app`'s database with `telemetry` as the
    /// config file's `[telemetry]` section (none when empty) and `env`.
    async fn start(app: &TestApp, telemetry: &str, env: &[(&str, &str)]) -> anyhow::Result<Server> {
        let dir = std::env::temp_dir().join(format!(
            "accord-telemetry-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir)?;
        let started = Accord::new(app, &dir)
            .envs(env)
            .log_filter("info")
            .keep_log()
            .start(|port| {
                format!(
                    "[http]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}/\"\n\n\
                     [sfu]\nudp_bind = \"127.0.0.1:0\"\ntcp_bind = \"127.0.0.1:0\"\n\n{telemetry}\n"
                )
            })
            .await;
        match started {
            Ok(accord) => Ok(Server { accord, dir }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    fn log(&self) -> String {
        self.accord.log()
    }

    /// SIGTERM, then waits for a clean exit; how long it took. (A server
    /// that does not stop is killed when the [`Server`] is dropped.)
    async fn stop(&mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        self.accord.process.signal("TERM")?;
        loop {
            if let Some(status) = self.accord.process.exited()? {
                anyhow::ensure!(
                    status.success(),
                    "accord serve exited with {status}:\n{}",
                    self.log()
                );
                return Ok(started.elapsed());
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(30),
                "accord serve did not stop within 30 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Signs in as `email` (with the test kit's password).
    async fn sign_in(&self, email: &str) -> anyhow::Result<Client> {
        let mut client = Client {
            http: reqwest::Client::builder().cookie_store(true).build()?,
            base_url: self.accord.base.clone(),
            csrf: None,
        };
        let (status, body) = client
            .post_json(
                "/auth/sign-in",
                &json!({ "email": email, "password": PASSWORD }),
            )
            .await?;
        anyhow::ensure!(status == 200, "sign-in failed: {status} {body}");
        client.csrf = body["csrfToken"].as_str().map(str::to_owned);
        Ok(client)
    }
}

/// An org with its admin, in `app`'s database.
async fn org_with_admin(app: &TestApp) -> anyhow::Result<()> {
    let org = app.org("northside").await?;
    app.member(org, ADMIN_EMAIL, Role::OrgAdmin).await?;
    Ok(())
}

/// Opens a case with a party and reads it back, as a portal would; returns
/// the case's id.
async fn case_work(admin: &Client) -> anyhow::Result<String> {
    let made = admin
        .ok(
            &format!(
                "mutation CreateConfidentialCase {{ createCase(input: {{reference: \"{REFERENCE}\", title: \"{TITLE}\"}}) {{ id }} }}"
            ),
            json!({}),
        )
        .await?;
    let case_id = made["createCase"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    admin
        .ok(
            "mutation AddParty($c: UUID!, $n: String!, $e: String!) { addParty(input: {caseId: $c, kind: PARTY, displayName: $n, email: $e}) { id } }",
            json!({ "c": case_id, "n": PARTY, "e": PARTY_EMAIL }),
        )
        .await?;
    let read = admin
        .ok(
            "{ cases(search: \"Zanzibar\") { edges { node { title parties { displayName email } } } } }",
            json!({}),
        )
        .await?;
    assert_eq!(read["cases"]["edges"][0]["node"]["title"], TITLE, "{read}");
    Ok(case_id)
}

/// A join over the signaling socket with a token that is not one: the
/// close code.
async fn refused_join(base: &str) -> anyhow::Result<u16> {
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    let ws = base.replacen("http://", "ws://", 1);
    let session = uuid::Uuid::new_v4();
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("{ws}/sfu/ws?session={session}")).await?;
    let challenge = socket.next().await;
    anyhow::ensure!(
        matches!(challenge, Some(Ok(Message::Text(_)))),
        "expected the challenge, got {challenge:?}"
    );
    let hello =
        json!({ "type": "hello", "token": "not-a-token", "deviceKey": {}, "signature": "" });
    socket.send(Message::Text(hello.to_string().into())).await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await? {
            Some(Ok(Message::Close(frame))) => {
                // Read on until the socket ends: the close is answered and
                // the server's side of the join (its span) is over before
                // the test stops the server.
                let _ = tokio::time::timeout(Duration::from_secs(5), async {
                    while socket.next().await.is_some() {}
                })
                .await;
                return Ok(frame.map(|f| u16::from(f.code)).unwrap_or(0));
            }
            Some(Ok(_)) => {}
            other => anyhow::bail!("the socket ended without a close frame: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_collector_and_carry_no_mediation_content() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    org_with_admin(&app).await?;
    let (receiver, collector) = Receiver::start().await?;
    let mut server = Server::start(
        &app,
        &format!(
            "[telemetry]\notlp_endpoint = \"{collector}\"\nservice_name = \"accord-telemetry-test\"\n"
        ),
        // Nothing is sent on a timer during the test: what arrives was sent
        // by the flush at shutdown.
        &[("OTEL_BSP_SCHEDULE_DELAY", "600000")],
    )
    .await?;
    let admin = server.sign_in(ADMIN_EMAIL).await?;
    let case_id = case_work(&admin).await?;
    assert_eq!(refused_join(&server.accord.base).await?, 4401);
    server.stop().await?;

    let spans = receiver.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let named = |name: &str| spans.iter().find(|s| s.name == name);

    // The operation's span, by its name and type only.
    let create = named("graphql CreateConfidentialCase")
        .unwrap_or_else(|| panic!("no span for the operation among {names:?}"));
    assert_eq!(
        string_attribute(create, "graphql.operation.type"),
        Some("mutation")
    );
    assert_eq!(
        string_attribute(create, "graphql.operation.name"),
        Some("CreateConfidentialCase")
    );
    let add = named("graphql AddParty").unwrap_or_else(|| panic!("{names:?}"));
    assert_eq!(
        string_attribute(add, "graphql.operation.type"),
        Some("mutation")
    );
    let read = named("graphql anonymous").unwrap_or_else(|| panic!("{names:?}"));
    assert_eq!(
        string_attribute(read, "graphql.operation.type"),
        Some("query")
    );

    // Under the HTTP request's span, with the database's work under it,
    // all in one trace.
    let request = spans
        .iter()
        .find(|s| s.span_id == create.parent_span_id)
        .unwrap_or_else(|| panic!("the operation's parent was not exported: {names:?}"));
    assert_eq!(request.name, "request");
    assert_eq!(string_attribute(request, "path"), Some("/graphql"));
    let in_trace: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == create.trace_id)
        .collect();
    let commit = in_trace
        .iter()
        .find(|s| s.name == "db.commit")
        .unwrap_or_else(|| panic!("no commit in the operation's trace: {names:?}"));
    assert_eq!(string_attribute(commit, "accord.role"), Some("org_admin"));
    assert_eq!(
        string_attribute(commit, "db.operation.name"),
        Some("COMMIT")
    );
    assert!(
        in_trace
            .iter()
            .any(|s| s.name == "db.begin"
                && string_attribute(s, "accord.scope") == Some("web_session")),
        "no scoped begin in the operation's trace: {names:?}"
    );

    // The SFU's join handshake: the session and the outcome.
    let join = named("sfu.join").unwrap_or_else(|| panic!("{names:?}"));
    assert_eq!(string_attribute(join, "accord.outcome"), Some("refused"));
    assert!(
        matches!(
            attribute(&join.attributes, "accord.close_code"),
            Some(any_value::Value::IntValue(4401))
        ),
        "{join:?}"
    );

    // The resource names the service as configured.
    let requests = receiver.requests();
    let resource = requests[0].resource_spans[0]
        .resource
        .as_ref()
        .expect("a resource");
    assert!(
        matches!(
            attribute(&resource.attributes, "service.name"),
            Some(any_value::Value::StringValue(s)) if s == "accord-telemetry-test"
        ),
        "{resource:?}"
    );

    // Nothing of the case, its party or the accounts, anywhere: span names,
    // attributes, events, links, resource.
    let everything = format!("{requests:?}");
    for secret in [
        TITLE,
        "Zanzibar",
        "Quokka",
        REFERENCE,
        PARTY,
        "Quentin",
        PARTY_EMAIL,
        ADMIN_EMAIL,
        PASSWORD,
        "createCase(",
        admin.csrf.as_deref().unwrap_or("no csrf token"),
    ] {
        assert!(
            !everything.contains(secret),
            "{secret:?} was exported:\n{everything}"
        );
    }
    // Ids are identifiers, not content; still, the case's id is in no span
    // either: variables are never recorded.
    assert!(!everything.contains(&case_id), "{everything}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_telemetry_off_nothing_is_exported_whatever_the_environment_says() -> anyhow::Result<()>
{
    let app = spawn_app().await?;
    org_with_admin(&app).await?;
    let (receiver, collector) = Receiver::start().await?;
    let traces = format!("{collector}/v1/traces");
    let mut server = Server::start(
        &app,
        "",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.as_str()),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ],
    )
    .await?;
    let admin = server.sign_in(ADMIN_EMAIL).await?;
    case_work(&admin).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.stop().await?;
    assert!(
        receiver.requests().is_empty(),
        "exported with telemetry off: {:?}",
        receiver.requests()
    );
    assert!(
        !server.log().contains("exporting traces"),
        "{}",
        server.log()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_fails_no_request_and_is_logged_once() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    org_with_admin(&app).await?;
    // Nothing listens there.
    let down = format!("http://127.0.0.1:{}", free_port());
    let mut server = Server::start(
        &app,
        &format!("[telemetry]\notlp_endpoint = \"{down}\"\n"),
        &[("OTEL_BSP_SCHEDULE_DELAY", "50")],
    )
    .await?;
    assert!(
        server.log().contains("exporting traces"),
        "{}",
        server.log()
    );
    let admin = server.sign_in(ADMIN_EMAIL).await?;
    // Several rounds, with exports failing between them.
    for _ in 0..4 {
        let started = Instant::now();
        case_work_again(&admin).await?;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "requests slowed down: {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let took = server.stop().await?;
    assert!(took < Duration::from_secs(15), "shutdown took {took:?}");
    let log = server.log();
    assert_eq!(
        log.matches("telemetry: exporting spans failed").count(),
        1,
        "the failure is logged once:\n{log}"
    );
    Ok(())
}

/// A read and a write that touch case content, repeatable.
async fn case_work_again(admin: &Client) -> anyhow::Result<Value> {
    let reference = format!("R-{}", uuid::Uuid::new_v4().simple());
    admin
        .ok(
            "mutation Open($r: String!) { createCase(input: {reference: $r, title: \"Lease dispute\"}) { id } }",
            json!({ "r": reference }),
        )
        .await?;
    admin
        .ok("{ cases { edges { node { title } } } }", json!({}))
        .await
}
