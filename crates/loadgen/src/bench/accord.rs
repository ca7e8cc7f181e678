//! What the benchmark needs from Accord's API: signed-in clients for the demo
//! organization's admin and mediator (`accord dev`), as many party accounts as
//! a scenario needs (invited by the admin, password set through the setup
//! link the file outbox holds), and a fresh case and session per scenario run,
//! with join tokens for fresh device keys.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use url::Url;
use uuid::Uuid;

/// The demo organization's password (`accord dev`).
pub const DEMO_PASSWORD: &str = "demo-password-accord";
const ADMIN: &str = "admin@demo.accord.test";
const MEDIATOR: &str = "mediator@demo.accord.test";

const JOIN: &str =
    "mutation($s: UUID!, $k: JSON!) { joinToken(sessionId: $s, deviceKey: $k) { token } }";

/// A signed-in API client.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    csrf: String,
    /// The signed-in user's id.
    pub user: Uuid,
}

impl Client {
    /// Signs in with a password.
    pub async fn sign_in(base: &Url, email: &str, password: &str) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .timeout(Duration::from_secs(60))
            .build()?;
        let reply = http
            .post(base.join("auth/sign-in")?)
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await?;
        let status = reply.status();
        let body: Value = reply.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "signing in {email}: {status} {body}");
        let text = |k: &str| {
            body[k]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow::anyhow!("no {k} in the sign-in answer {body}"))
        };
        Ok(Client {
            csrf: text("csrfToken")?,
            user: Uuid::parse_str(&text("userId")?)?,
            http,
            base: base.clone(),
        })
    }

    /// Runs a GraphQL operation; fails on any error.
    pub async fn gql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let reply: Value = self
            .http
            .post(self.base.join("graphql")?)
            .header("x-csrf-token", &self.csrf)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await?
            .json()
            .await?;
        if let Some(errors) = reply.get("errors") {
            anyhow::bail!("GraphQL: {errors}");
        }
        Ok(reply["data"].clone())
    }

    /// A join token for `session` bound to the public JWK `device_key`.
    pub async fn join_token(&self, session: Uuid, device_key: Value) -> anyhow::Result<String> {
        let data = self
            .gql(JOIN, json!({ "s": session, "k": device_key }))
            .await?;
        data["joinToken"]["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no join token in {data}"))
    }
}

/// The demo organization, seen by the benchmark.
#[derive(Debug)]
pub struct Accord {
    base: Url,
    outbox: PathBuf,
    admin: Client,
    /// The demo mediator.
    pub mediator: Client,
    /// Party accounts, signed in.
    pub parties: Vec<Client>,
    cases: u64,
}

/// The SFU's `/metrics` text.
pub async fn metrics(base: &Url) -> anyhow::Result<String> {
    let reply = reqwest::Client::new()
        .get(base.join("metrics")?)
        .timeout(Duration::from_secs(10))
        .send()
        .await?;
    let status = reply.status();
    let text = reply.text().await?;
    anyhow::ensure!(status.is_success(), "GET /metrics: {status}");
    Ok(text)
}

/// The histogram `name` of a `/metrics` text: cumulative counts by upper
/// bound (seconds), ascending.
pub fn histogram(text: &str, name: &str) -> anyhow::Result<Vec<(f64, u64)>> {
    let prefix = format!("{name}_bucket{{le=\"");
    let mut buckets = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(prefix.as_str()) else {
            continue;
        };
        let (le, count) = rest
            .split_once("\"} ")
            .ok_or_else(|| anyhow::anyhow!("unexpected metrics line {line:?}"))?;
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse()?
        };
        buckets.push((le, count.parse()?));
    }
    anyhow::ensure!(!buckets.is_empty(), "no {name} in /metrics");
    Ok(buckets)
}

fn party_email(i: usize) -> String {
    format!("bench.party.{i}@demo.accord.test")
}

/// The password-setup token in the newest outbox message to `email`.
fn setup_token(outbox: &Path, email: &str) -> anyhow::Result<Option<String>> {
    let mut newest: Option<(std::time::SystemTime, String)> = None;
    for entry in std::fs::read_dir(outbox)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let Ok(message) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if message["to"] != email {
            continue;
        }
        let body = message["body"].as_str().unwrap_or_default();
        let Some(at) = body.find("#token=") else {
            continue;
        };
        let token: String = body[at + 7..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        let modified = entry.metadata()?.modified()?;
        if newest.as_ref().is_none_or(|(t, _)| modified > *t) {
            newest = Some((modified, token));
        }
    }
    Ok(newest.map(|(_, t)| t))
}

impl Accord {
    /// Signs in the demo admin and mediator (`base`: `http://host:port/`;
    /// `outbox`: the server's `outbox.dir`).
    pub async fn connect(base: Url, outbox: PathBuf) -> anyhow::Result<Accord> {
        Ok(Accord {
            admin: Client::sign_in(&base, ADMIN, DEMO_PASSWORD).await?,
            mediator: Client::sign_in(&base, MEDIATOR, DEMO_PASSWORD).await?,
            base,
            outbox,
            parties: Vec::new(),
            cases: 0,
        })
    }

    /// Makes sure `n` party accounts exist and are signed in: invites the
    /// missing ones, sets their passwords with the outbox's setup links.
    pub async fn ensure_parties(&mut self, n: usize) -> anyhow::Result<()> {
        while self.parties.len() < n {
            let i = self.parties.len();
            let email = party_email(i);
            if let Ok(client) = Client::sign_in(&self.base, &email, DEMO_PASSWORD).await {
                self.parties.push(client);
                continue;
            }
            self.admin
                .gql(
                    "mutation($e: String!, $n: String!) { inviteMember(input: {email: $e, displayName: $n, role: PARTY}) { role } }",
                    json!({ "e": email, "n": format!("Bench Party {i}") }),
                )
                .await?;
            let token = {
                let mut found = None;
                for _ in 0..50 {
                    found = setup_token(&self.outbox, &email)?;
                    if found.is_some() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                found.ok_or_else(|| {
                    anyhow::anyhow!(
                        "no setup link for {email} in the outbox {}",
                        self.outbox.display()
                    )
                })?
            };
            let reply = reqwest::Client::new()
                .post(self.base.join("auth/password")?)
                .json(&json!({ "token": token, "password": DEMO_PASSWORD }))
                .send()
                .await?;
            let status = reply.status();
            anyhow::ensure!(
                status.is_success(),
                "setting the password of {email}: {status} {}",
                reply.text().await.unwrap_or_default()
            );
            self.parties
                .push(Client::sign_in(&self.base, &email, DEMO_PASSWORD).await?);
        }
        Ok(())
    }

    /// A new case mediated by the demo mediator with parties `0..parties`, and
    /// a scheduled session on it (lobby on: the mediator admits).
    pub async fn new_session(&mut self, parties: usize) -> anyhow::Result<Uuid> {
        self.ensure_parties(parties).await?;
        self.cases += 1;
        let reference = format!("BENCH-{}-{}", std::process::id(), self.cases);
        let case = self
            .admin
            .gql(
                "mutation($r: String!, $m: UUID) { createCase(input: {reference: $r, title: \"Benchmark\", mediatorId: $m}) { id } }",
                json!({ "r": reference, "m": self.mediator.user }),
            )
            .await?["createCase"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no case id"))?;
        for i in 0..parties {
            self.admin
                .gql(
                    "mutation($c: UUID!, $n: String!, $e: String!) { addParty(input: {caseId: $c, kind: PARTY, displayName: $n, email: $e}) { id } }",
                    json!({ "c": case, "n": format!("Bench Party {i}"), "e": party_email(i) }),
                )
                .await?;
        }
        let session = self
            .admin
            .gql(
                "mutation($c: UUID!) { scheduleSession(input: {caseId: $c, startsAt: \"2031-01-01T10:00:00Z\", timeZone: \"UTC\", durationMinutes: 600}) { id } }",
                json!({ "c": case }),
            )
            .await?["scheduleSession"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no session id"))?;
        Ok(Uuid::parse_str(&session)?)
    }
}
