//! Fixtures shared by the join-token and signaling tests.

use accord_domain::Role;
use accord_testkit::{spawn_app, Client, TestApp};
use base64::Engine as _;
use p256::ecdsa::{SigningKey, VerifyingKey};
use serde_json::{json, Value};

pub(crate) const B64: base64::engine::GeneralPurpose =
    base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A device key pair as a browser makes it: the secret stays, the JWK is shown.
pub(crate) struct Device {
    pub(crate) secret: SigningKey,
    pub(crate) jwk: Value,
}

pub(crate) fn device() -> Device {
    let secret = SigningKey::random(&mut rand::rngs::OsRng);
    let point = VerifyingKey::from(&secret).to_encoded_point(false);
    let jwk = json!({
        "kty": "EC", "crv": "P-256",
        "x": B64.encode(point.x().unwrap()), "y": B64.encode(point.y().unwrap()),
    });
    Device { secret, jwk }
}

/// An org with a case mediated by `med@n.test`, with `party@n.test` on it,
/// `outsider@n.test` (a party of the org, not on the case), and two
/// scheduled sessions of the case; everyone signed in.
pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) org: accord_domain::OrgId,
    pub(crate) admin: Client,
    pub(crate) mediator: Client,
    pub(crate) party: Client,
    pub(crate) outsider: Client,
    pub(crate) session: String,
    pub(crate) other_session: String,
}

pub(crate) async fn world() -> anyhow::Result<World> {
    let app = spawn_app().await?;
    let org = app.org("northside").await?;
    app.member(org, "admin@n.test", Role::OrgAdmin).await?;
    let mediator_id = app.member(org, "med@n.test", Role::Mediator).await?;
    app.member(org, "party@n.test", Role::Party).await?;
    app.member(org, "outsider@n.test", Role::Party).await?;
    let admin = app.sign_in("admin@n.test", None).await?;
    let case = admin
        .ok(
            "mutation($m: UUID) { createCase(input: {reference: \"L-1\", title: \"T\", mediatorId: $m}) { id } }",
            json!({ "m": mediator_id }),
        )
        .await?["createCase"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    admin
        .ok(
            "mutation($c: UUID!) { addParty(input: {caseId: $c, kind: PARTY, displayName: \"P\", email: \"party@n.test\"}) { id } }",
            json!({ "c": case }),
        )
        .await?;
    let schedule = "mutation($c: UUID!) { scheduleSession(input: {caseId: $c, startsAt: \"2031-01-01T10:00:00Z\", timeZone: \"UTC\", durationMinutes: 60}) { id } }";
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let data = admin.ok(schedule, json!({ "c": case })).await?;
        sessions.push(data["scheduleSession"]["id"].as_str().unwrap().to_owned());
    }
    Ok(World {
        mediator: app.sign_in("med@n.test", None).await?,
        party: app.sign_in("party@n.test", None).await?,
        outsider: app.sign_in("outsider@n.test", None).await?,
        admin,
        app,
        org,
        other_session: sessions.pop().unwrap_or_default(),
        session: sessions.pop().unwrap_or_default(),
    })
}

/// Status, headers and body of one HTTP response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Value,
}

impl Reply {
    /// The first GraphQL error's `extensions.code`.
    pub(crate) fn gql_code(&self) -> &str {
        self.body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("")
    }
    /// The first GraphQL error's `extensions.field`.
    pub(crate) fn gql_field(&self) -> &str {
        self.body["errors"][0]["extensions"]["field"]
            .as_str()
            .unwrap_or("")
    }
    /// The first GraphQL error's message.
    pub(crate) fn gql_message(&self) -> &str {
        self.body["errors"][0]["message"].as_str().unwrap_or("")
    }
    /// The `/auth` error body's code.
    pub(crate) fn rest_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    /// The `/auth` error body's field.
    pub(crate) fn rest_field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }
    /// The `/auth` error body's message.
    pub(crate) fn rest_message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
    /// The `Retry-After` header.
    pub(crate) fn retry_after(&self) -> Option<String> {
        self.headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
    /// Every `Set-Cookie` header.
    pub(crate) fn set_cookie(&self) -> Vec<String> {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }
    /// The session token from `Set-Cookie`, if one was set.
    pub(crate) fn session_token(&self) -> Option<String> {
        self.set_cookie().iter().find_map(|c| {
            c.split(';')
                .next()
                .and_then(|pair| pair.trim().strip_prefix("accord_session="))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        })
    }
}

/// Reads a response, failing on any 5xx or on a GraphQL error without a code.
pub(crate) async fn read_reply(response: reqwest::Response) -> anyhow::Result<Reply> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await?;
    assert!(status < 500, "the server answered {status}: {text}");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    if let Some(errors) = body.get("errors") {
        let errors = errors.as_array().expect("errors is a list");
        assert!(!errors.is_empty(), "empty errors list: {body}");
        for error in errors {
            assert!(
                error["extensions"]["code"].is_string(),
                "an error without extensions.code: {body}"
            );
        }
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// POSTs a GraphQL request as JSON, with the client's CSRF token when it has one.
pub(crate) async fn gql(client: &Client, query: &str, variables: Value) -> anyhow::Result<Reply> {
    post(
        client,
        "/graphql",
        &json!({ "query": query, "variables": variables }),
    )
    .await
}

/// POSTs any body with any content type (and the CSRF token, when known).
pub(crate) async fn post_raw(
    client: &Client,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> anyhow::Result<Reply> {
    let mut request = client
        .http
        .post(format!("{}{path}", client.base_url))
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(csrf) = &client.csrf {
        request = request.header("x-csrf-token", csrf);
    }
    read_reply(request.send().await?).await
}

/// POSTs JSON with the client's cookies and CSRF token (when it has one).
pub(crate) async fn post(client: &Client, path: &str, body: &Value) -> anyhow::Result<Reply> {
    post_raw(
        client,
        path,
        Some("application/json"),
        serde_json::to_vec(body)?,
    )
    .await
}
