//! Hostile clients: cross-site requests, hammering the sign-in routes, malformed
//! and oversized GraphQL, queries built to exhaust the server, and inputs that
//! break the domain's rules. Nothing may answer 500, and every GraphQL error
//! carries `extensions.code`.

use std::time::Duration;

use accord_api::RateLimitConfig;
use accord_domain::Role;
use accord_testkit::{spawn_app_with, AppOptions, Client, TestApp, PASSWORD};
use anyhow::Context as _;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::common::{gql, post, post_raw, read_reply, Reply};

/// Asserts a GraphQL request failed with `code` (and `field`, when given).
fn assert_error(reply: &Reply, code: &str, field: Option<&str>) {
    assert_eq!(reply.gql_code(), code, "{reply:?}");
    if let Some(field) = field {
        assert_eq!(reply.gql_field(), field, "{reply:?}");
    }
}

/// An org with a signed-in admin and a mediator.
async fn admin_app(options: AppOptions) -> anyhow::Result<(TestApp, Client)> {
    let app = spawn_app_with(options).await?;
    let org = app.org("acme").await?;
    app.member(org, "admin@acme.test", Role::OrgAdmin).await?;
    app.member(org, "med@acme.test", Role::Mediator).await?;
    let admin = app.sign_in("admin@acme.test", None).await?;
    Ok((app, admin))
}

async fn case_count(client: &Client) -> anyhow::Result<usize> {
    let data = client
        .ok("{ cases(first: 100) { edges { node { id } } } }", json!({}))
        .await?;
    Ok(data["cases"]["edges"].as_array().map_or(0, Vec::len))
}

async fn create_case(admin: &Client, reference: &str) -> anyhow::Result<String> {
    let data = admin
        .ok(
            "mutation($r: String!) { createCase(input: {reference: $r, title: \"A dispute\"}) { id } }",
            json!({ "r": reference }),
        )
        .await?;
    Ok(data["createCase"]["id"]
        .as_str()
        .context("no case id")?
        .to_owned())
}

const CREATE_CASE: &str =
    "mutation { createCase(input: {reference: \"X-1\", title: \"Forged\"}) { id } }";

#[tokio::test]
async fn graphql_mutations_need_the_sessions_csrf_token() -> anyhow::Result<()> {
    let (app, admin) = admin_app(AppOptions::default()).await?;
    let mut no_token = admin.clone();
    no_token.csrf = None;

    let missing = gql(&no_token, CREATE_CASE, json!({})).await?;
    assert_eq!(missing.status, 403, "{missing:?}");
    assert_error(&missing, "FORBIDDEN", None);
    assert!(
        missing.body.get("data").is_none_or(Value::is_null),
        "{missing:?}"
    );

    let mut wrong = admin.clone();
    wrong.csrf = Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into());
    let forged = gql(&wrong, CREATE_CASE, json!({})).await?;
    assert_eq!(forged.status, 403, "{forged:?}");
    assert_error(&forged, "FORBIDDEN", None);

    let mut empty = admin.clone();
    empty.csrf = Some(String::new());
    assert_eq!(gql(&empty, CREATE_CASE, json!({})).await?.status, 403);

    // The token of another live session (even of the same account) is no good.
    let other = app.sign_in("med@acme.test", None).await?;
    let second = app.sign_in("admin@acme.test", None).await?;
    for token in [&other.csrf, &second.csrf] {
        let mut borrowed = admin.clone();
        borrowed.csrf.clone_from(token);
        assert_ne!(borrowed.csrf, admin.csrf);
        let reply = gql(&borrowed, CREATE_CASE, json!({})).await?;
        assert_eq!(reply.status, 403, "{reply:?}");
        assert_error(&reply, "FORBIDDEN", None);
    }

    // A mutation hidden behind a query in the same document, selected by name.
    let hidden = "query Look { viewer { role } } mutation Sneak { createCase(input: {reference: \"X-2\", title: \"Forged\"}) { id } }";
    let request = no_token
        .http
        .post(format!("{}/graphql", app.base_url))
        .json(&json!({ "query": hidden, "operationName": "Sneak" }));
    let sneaky = read_reply(request.send().await?).await?;
    assert_eq!(sneaky.status, 403, "{sneaky:?}");

    // A cross-site form can only send "simple" content types.
    let form = post_raw(
        &no_token,
        "/graphql",
        Some("text/plain"),
        serde_json::to_vec(&json!({ "query": CREATE_CASE }))?,
    )
    .await?;
    assert_eq!(form.status, 415, "{form:?}");
    let urlencoded = post_raw(
        &no_token,
        "/graphql",
        Some("application/x-www-form-urlencoded"),
        format!("query={CREATE_CASE}").into_bytes(),
    )
    .await?;
    assert_eq!(urlencoded.status, 415, "{urlencoded:?}");

    // Nothing was created, and reads need no token.
    let data = no_token
        .ok(
            "{ viewer { role } cases { edges { node { reference } } } }",
            json!({}),
        )
        .await?;
    assert_eq!(data["viewer"]["role"], "ORG_ADMIN");
    assert_eq!(data["cases"]["edges"], json!([]));
    let audit = no_token.ok("{ auditEvents { action } }", json!({})).await?;
    assert!(
        audit["auditEvents"]
            .as_array()
            .context("no audit")?
            .iter()
            .all(|e| e["action"] != "case.create"),
        "{audit}"
    );

    // The right token works, so the refusals above were about the token.
    let created = gql(&admin, CREATE_CASE, json!({})).await?;
    assert_eq!(created.status, 200, "{created:?}");
    assert!(created.body.get("errors").is_none(), "{created:?}");
    assert_eq!(case_count(&no_token).await?, 1);
    Ok(())
}

fn tight_limit() -> AppOptions {
    AppOptions {
        rate_limit: RateLimitConfig {
            burst: 3,
            replenish_every: Duration::from_secs(60),
            trusted_proxy_hops: 0,
        },
        ..AppOptions::default()
    }
}

fn assert_rate_limited(reply: &Reply) {
    assert_eq!(reply.status, 429, "{reply:?}");
    assert_eq!(reply.rest_code(), "RATE_LIMITED", "{reply:?}");
    let retry_after: u64 = reply
        .retry_after()
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric Retry-After: {reply:?}"));
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited_per_client() -> anyhow::Result<()> {
    let app = spawn_app_with(tight_limit()).await?;
    let org = app.org("acme").await?;
    app.member(org, "admin@acme.test", Role::OrgAdmin).await?;
    // The first of the three requests the bucket allows this address.
    let admin = app.sign_in("admin@acme.test", None).await?;
    let client = app.client();

    for attempt in 1..=2 {
        let reply = post(
            &client,
            "/auth/sign-in",
            &json!({ "email": "x@acme.test", "password": "wrong-password" }),
        )
        .await?;
        assert_eq!(reply.status, 401, "attempt {attempt}: {reply:?}");
    }
    // The 4th attempt from this address, wrong or right, is throttled.
    let wrong = post(
        &client,
        "/auth/sign-in",
        &json!({ "email": "x@acme.test", "password": "wrong-password" }),
    )
    .await?;
    assert_rate_limited(&wrong);
    let right = post(
        &client,
        "/auth/sign-in",
        &json!({ "email": "admin@acme.test", "password": PASSWORD }),
    )
    .await?;
    assert_rate_limited(&right);
    // Garbage is throttled before it is parsed.
    assert_rate_limited(
        &post_raw(
            &client,
            "/auth/sign-in",
            Some("application/json"),
            b"{".to_vec(),
        )
        .await?,
    );

    // The password routes share the bucket.
    let password = post(
        &client,
        "/auth/password",
        &json!({ "token": "whatever", "password": "long-enough-password" }),
    )
    .await?;
    assert_rate_limited(&password);
    let reset = post(
        &client,
        "/auth/password/reset",
        &json!({ "email": "admin@acme.test" }),
    )
    .await?;
    assert_rate_limited(&reset);
    assert!(
        app.messages().is_empty(),
        "a throttled reset request sent mail"
    );

    // GraphQL and the session routes are not behind it.
    for _ in 0..5 {
        let reply = gql(&admin, "{ viewer { role } }", json!({})).await?;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(reply.body.get("errors").is_none(), "{reply:?}");
    }
    let session = read_reply(
        admin
            .http
            .get(format!("{}/auth/session", app.base_url))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(session.status, 200, "{session:?}");
    let health = read_reply(
        admin
            .http
            .get(format!("{}/healthz", app.base_url))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(health.status, 200);
    Ok(())
}

#[tokio::test]
async fn every_limited_route_draws_on_the_same_bucket() -> anyhow::Result<()> {
    let app = spawn_app_with(tight_limit()).await?;
    let org = app.org("acme").await?;
    app.member(org, "admin@acme.test", Role::OrgAdmin).await?;
    let client = app.client();

    let reset = post(
        &client,
        "/auth/password/reset",
        &json!({ "email": "admin@acme.test" }),
    )
    .await?;
    assert_eq!(reset.status, 202, "{reset:?}");
    let password = post(
        &client,
        "/auth/password",
        &json!({ "token": "garbage", "password": "long-enough-password" }),
    )
    .await?;
    assert_eq!(password.status, 400, "{password:?}");
    let sign_in = post(
        &client,
        "/auth/sign-in",
        &json!({ "email": "admin@acme.test", "password": "wrong-password" }),
    )
    .await?;
    assert_eq!(sign_in.status, 401, "{sign_in:?}");

    for (path, body) in [
        (
            "/auth/sign-in",
            json!({ "email": "admin@acme.test", "password": PASSWORD }),
        ),
        (
            "/auth/password",
            json!({ "token": "garbage", "password": "long-enough-password" }),
        ),
        (
            "/auth/password/reset",
            json!({ "email": "admin@acme.test" }),
        ),
    ] {
        let reply = post(&client, path, &body).await?;
        assert_rate_limited(&reply);
    }
    // Forwarded headers are not trusted: a spoofed address does not get a new bucket.
    let spoofed = client
        .http
        .post(format!("{}/auth/sign-in", app.base_url))
        .header("x-forwarded-for", "203.0.113.7")
        .header("forwarded", "for=203.0.113.7")
        .json(&json!({ "email": "admin@acme.test", "password": PASSWORD }))
        .send()
        .await?;
    assert_rate_limited(&read_reply(spoofed).await?);
    Ok(())
}

#[tokio::test]
async fn malformed_and_oversized_requests_are_client_errors() -> anyhow::Result<()> {
    let (app, admin) = admin_app(AppOptions::default()).await?;
    let anon = app.client();

    for client in [&anon, &admin] {
        let not_json = post_raw(
            client,
            "/graphql",
            Some("application/json"),
            b"{ viewer { role } }".to_vec(),
        )
        .await?;
        assert_eq!(not_json.status, 400, "{not_json:?}");
        assert_error(&not_json, "BAD_USER_INPUT", None);

        let no_query = post(client, "/graphql", &json!({ "variables": {} })).await?;
        assert_error(&no_query, "BAD_USER_INPUT", None);

        let wrong_shape = post(client, "/graphql", &json!({ "query": 42 })).await?;
        assert_eq!(wrong_shape.status, 400, "{wrong_shape:?}");

        let text = post_raw(
            client,
            "/graphql",
            Some("text/plain"),
            br#"{"query":"{ viewer { role } }"}"#.to_vec(),
        )
        .await?;
        assert_eq!(text.status, 415, "{text:?}");
        assert_error(&text, "BAD_USER_INPUT", None);
        let none = post_raw(
            client,
            "/graphql",
            None,
            br#"{"query":"{ viewer { role } }"}"#.to_vec(),
        )
        .await?;
        assert_eq!(none.status, 415, "{none:?}");

        let syntax = gql(client, "{ viewer { role }", json!({})).await?;
        assert_error(&syntax, "BAD_USER_INPUT", None);
        let empty = gql(client, "", json!({})).await?;
        assert_error(&empty, "BAD_USER_INPUT", None);
    }

    // JSON nested far beyond any real request.
    let nested = format!(
        "{{\"query\":\"{{ viewer {{ role }} }}\",\"variables\":{{\"x\":{}1{}}}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let deep_json = post_raw(
        &admin,
        "/graphql",
        Some("application/json"),
        nested.into_bytes(),
    )
    .await?;
    assert_eq!(deep_json.status, 400, "{deep_json:?}");

    // Just over 64 KiB, as valid JSON (padding in the query).
    let padded = json!({ "query": format!("{{ viewer {{ role }} }}{}", " ".repeat(64 * 1024)) });
    let request = admin
        .http
        .post(format!("{}/graphql", app.base_url))
        .header("x-csrf-token", admin.csrf.clone().unwrap_or_default())
        .json(&padded)
        .send()
        .await?;
    assert_eq!(request.status().as_u16(), 413, "{:?}", request.text().await);
    // The /auth routes take far less.
    let big_sign_in = post(
        &anon,
        "/auth/sign-in",
        &json!({ "email": "admin@acme.test", "password": "p".repeat(16 * 1024) }),
    )
    .await?;
    assert_eq!(big_sign_in.status, 413);

    // Still serving, to the same client and others.
    let health = read_reply(
        anon.http
            .get(format!("{}/healthz", app.base_url))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(health.status, 200);
    assert_eq!(
        admin.ok("{ viewer { role } }", json!({})).await?["viewer"]["role"],
        "ORG_ADMIN"
    );
    // No GraphiQL outside development.
    let page = read_reply(
        anon.http
            .get(format!("{}/graphql", app.base_url))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(page.status, 404, "{page:?}");
    Ok(())
}

/// A selection of made-up fields nested `depth` levels deep.
fn nested(depth: usize) -> String {
    let mut open = String::new();
    for i in 0..depth - 1 {
        open.push_str(&format!("f{i} {{ "));
    }
    format!("{{ {open}leaf {} }}", "} ".repeat(depth - 1))
}

#[tokio::test]
async fn depth_and_complexity_are_limited() -> anyhow::Result<()> {
    let (app, admin) = admin_app(AppOptions::default()).await?;
    create_case(&admin, "C-1").await?;

    // Depth is checked before anything else, even on made-up fields.
    let too_deep = gql(&admin, &nested(11), json!({})).await?;
    assert_error(&too_deep, "BAD_USER_INPUT", None);
    let message = too_deep.gql_message().to_ascii_lowercase();
    assert!(
        message.contains("deep") || message.contains("depth"),
        "{too_deep:?}"
    );
    // The classic introspection bomb is caught by depth too.
    let bomb = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } }";
    let reply = gql(&admin, bomb, json!({})).await?;
    assert_error(&reply, "BAD_USER_INPUT", None);
    assert!(reply.body["data"].is_null(), "{reply:?}");
    // Unauthenticated clients too.
    let anon = gql(&app.client(), &nested(40), json!({})).await?;
    assert_error(&anon, "BAD_USER_INPUT", None);

    // A real query of reasonable size is fine.
    let fine = gql(
        &admin,
        "{ cases(first: 50) { edges { node { id title } } } }",
        json!({}),
    )
    .await?;
    assert!(fine.body.get("errors").is_none(), "{fine:?}");

    // A full page with nested lists costs more than the budget.
    let wide = "{ cases(first: 100) { edges { node { id title parties { id email } sessions { id startsAt } } } } }";
    let reply = gql(&admin, wide, json!({})).await?;
    assert_error(&reply, "BAD_USER_INPUT", None);
    assert!(
        reply.gql_message().to_ascii_lowercase().contains("complex"),
        "{reply:?}"
    );
    assert!(reply.body["data"].is_null(), "{reply:?}");
    // So does the same page size passed in a variable.
    let via_variable = gql(
        &admin,
        "query($n: Int!) { cases(first: $n) { edges { node { id title parties { id email } sessions { id startsAt } } } } }",
        json!({ "n": 100 }),
    )
    .await?;
    assert_error(&via_variable, "BAD_USER_INPUT", None);

    // Many aliases of a cheap field.
    let aliases: String = (0..300)
        .map(|i| format!("a{i}: viewer {{ role }} "))
        .collect();
    let reply = gql(&admin, &format!("{{ {aliases} }}"), json!({})).await?;
    assert_error(&reply, "BAD_USER_INPUT", None);
    assert!(reply.body["data"].is_null(), "{reply:?}");
    // Aliased mutations count as well, and none of them ran.
    let mutations: String = (0..300)
        .map(|i| {
            format!("m{i}: createCase(input: {{reference: \"M-{i}\", title: \"t\"}}) {{ id }} ")
        })
        .collect();
    let reply = gql(&admin, &format!("mutation {{ {mutations} }}"), json!({})).await?;
    assert_error(&reply, "BAD_USER_INPUT", None);
    assert_eq!(case_count(&admin).await?, 1);

    // Fragments spread many times do not dodge the count.
    let spreads: String = (0..300)
        .map(|i| format!("x{i}: viewer {{ ...V }} "))
        .collect();
    let reply = gql(
        &admin,
        &format!("{{ {spreads} }} fragment V on Viewer {{ role user {{ id }} }}"),
        json!({}),
    )
    .await?;
    assert_error(&reply, "BAD_USER_INPUT", None);
    Ok(())
}

#[tokio::test]
async fn a_deeply_nested_document_does_not_take_the_server_down() -> anyhow::Result<()> {
    let (app, admin) = admin_app(AppOptions::default()).await?;
    // Far beyond the depth limit, within the body limit; as signed-in
    // (the CSRF check parses the document) and anonymous clients.
    let levels = 20_000;
    let query = format!("{}{}", "{a".repeat(levels), "}".repeat(levels));
    for client in [&admin, &app.client()] {
        let reply = gql(client, &query, json!({})).await?;
        assert_error(&reply, "BAD_USER_INPUT", None);
        let mutation = format!("mutation {query}");
        let reply = gql(client, &mutation, json!({})).await?;
        assert!(reply.status == 200 || reply.status == 403, "{reply:?}");
    }
    assert_eq!(
        admin.ok("{ viewer { role } }", json!({})).await?["viewer"]["role"],
        "ORG_ADMIN"
    );
    Ok(())
}

#[tokio::test]
async fn wrong_types_and_unknown_names_are_bad_input() -> anyhow::Result<()> {
    let (_app, admin) = admin_app(AppOptions::default()).await?;
    let case_id = create_case(&admin, "C-1").await?;

    let cases_n = "query($n: Int!) { cases(first: $n) { edges { node { id } } } }";
    let string_for_int = gql(&admin, cases_n, json!({ "n": "ten" })).await?;
    assert_error(&string_for_int, "BAD_USER_INPUT", None);
    let float_for_int = gql(&admin, cases_n, json!({ "n": 1.5 })).await?;
    assert_error(&float_for_int, "BAD_USER_INPUT", None);
    let huge_int = gql(&admin, cases_n, json!({ "n": 1_u64 << 40 })).await?;
    assert_error(&huge_int, "BAD_USER_INPUT", None);
    let missing = gql(&admin, cases_n, json!({})).await?;
    assert_error(&missing, "BAD_USER_INPUT", None);

    let case_q = "query($id: UUID!) { case(id: $id) { id } }";
    let bad_uuid = gql(&admin, case_q, json!({ "id": "not-a-uuid" })).await?;
    assert_error(&bad_uuid, "BAD_USER_INPUT", None);
    let sql = gql(&admin, case_q, json!({ "id": "' OR 1=1 --" })).await?;
    assert_error(&sql, "BAD_USER_INPUT", None);
    let inline = gql(&admin, "{ case(id: \"1234\") { id } }", json!({})).await?;
    assert_error(&inline, "BAD_USER_INPUT", None);
    // A well-formed id of nothing is NOT_FOUND, not a crash.
    let nothing = gql(
        &admin,
        case_q,
        json!({ "id": "00000000-0000-0000-0000-000000000000" }),
    )
    .await?;
    assert_error(&nothing, "NOT_FOUND", None);
    assert!(admin.ok(case_q, json!({ "id": case_id })).await?["case"]["id"].is_string());

    let unknown_field = gql(&admin, "{ viewer { role passwordHash } }", json!({})).await?;
    assert_error(&unknown_field, "BAD_USER_INPUT", None);
    let unknown_root = gql(&admin, "{ users { email } }", json!({})).await?;
    assert_error(&unknown_root, "BAD_USER_INPUT", None);
    let unknown_argument = gql(
        &admin,
        "{ cases(orgId: \"x\") { edges { node { id } } } }",
        json!({}),
    )
    .await?;
    assert_error(&unknown_argument, "BAD_USER_INPUT", None);
    let unknown_input_field = gql(
        &admin,
        "mutation { createCase(input: {reference: \"C-2\", title: \"t\", orgId: \"x\"}) { id } }",
        json!({}),
    )
    .await?;
    assert_error(&unknown_input_field, "BAD_USER_INPUT", None);

    let bad_enum = gql(
        &admin,
        "{ cases(status: PENDING) { edges { node { id } } } }",
        json!({}),
    )
    .await?;
    assert_error(&bad_enum, "BAD_USER_INPUT", None);
    let lower_enum = gql(
        &admin,
        "query($s: CaseStatus) { cases(status: $s) { edges { node { id } } } }",
        json!({ "s": "open" }),
    )
    .await?;
    assert_error(&lower_enum, "BAD_USER_INPUT", None);
    let bad_enum_arg = gql(
        &admin,
        "mutation($id: UUID!) { updateCaseStatus(id: $id, status: ARCHIVED) { id } }",
        json!({ "id": case_id }),
    )
    .await?;
    assert_error(&bad_enum_arg, "BAD_USER_INPUT", None);
    let bad_role = gql(
        &admin,
        "mutation { inviteMember(input: {email: \"a@b.test\", displayName: \"A\", role: SUPERUSER}) { activated } }",
        json!({}),
    )
    .await?;
    assert_error(&bad_role, "BAD_USER_INPUT", None);

    // Nothing above changed anything.
    assert_eq!(case_count(&admin).await?, 1);
    Ok(())
}

#[tokio::test]
async fn paging_arguments_are_checked() -> anyhow::Result<()> {
    let (_app, admin) = admin_app(AppOptions::default()).await?;
    for i in 0..3 {
        create_case(&admin, &format!("P-{i}")).await?;
    }

    for first in [0, -1, 101] {
        let reply = gql(
            &admin,
            "query($n: Int!) { cases(first: $n) { edges { node { id } } } }",
            json!({ "n": first }),
        )
        .await?;
        assert_error(&reply, "BAD_USER_INPUT", Some("first"));
        let reply = gql(
            &admin,
            "query($n: Int!) { auditEvents(first: $n) { seq } }",
            json!({ "n": first }),
        )
        .await?;
        assert_error(&reply, "BAD_USER_INPUT", Some("first"));
    }

    let page = admin
        .ok("{ cases(first: 2) { edges { cursor node { reference } } pageInfo { hasNextPage endCursor } } }", json!({}))
        .await?;
    assert_eq!(page["cases"]["pageInfo"]["hasNextPage"], true);
    let cursor = page["cases"]["pageInfo"]["endCursor"]
        .as_str()
        .context("no cursor")?
        .to_owned();
    let rest = admin
        .ok(
            "query($a: String) { cases(first: 2, after: $a) { edges { node { reference } } pageInfo { hasNextPage } } }",
            json!({ "a": cursor }),
        )
        .await?;
    assert_eq!(rest["cases"]["edges"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["cases"]["pageInfo"]["hasNextPage"], false);

    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let nil = "00000000-0000-0000-0000-000000000000";
    let after = "query($a: String) { cases(after: $a) { edges { node { id } } } }";
    for garbage in [
        "garbage!!".to_owned(),
        String::new(),
        format!("{cursor}="),
        b64("not a cursor"),
        b64(&format!("x:{nil}")),
        b64("1700000000000000:not-a-uuid"),
        b64(&format!("99999999999999999999:{nil}")),
        b64(&format!("{}:{nil}", i64::MAX)),
        "A".repeat(10_000),
    ] {
        let reply = gql(&admin, after, json!({ "a": garbage })).await?;
        assert_error(&reply, "BAD_USER_INPUT", Some("after"));
    }
    Ok(())
}

/// The page-size rule must answer for itself even when the page asked for is
/// far beyond it: a client asking for 1000 cases is told to ask for at most
/// 100 (`extensions.field = "first"`), not that its query is "too complex".
#[tokio::test]
async fn an_oversized_page_is_refused_by_the_page_size_rule() -> anyhow::Result<()> {
    let (_app, admin) = admin_app(AppOptions::default()).await?;
    create_case(&admin, "P-1").await?;
    for first in [1000, 100_000, i32::MAX] {
        let reply = gql(
            &admin,
            "query($n: Int!) { cases(first: $n) { edges { node { id } } } }",
            json!({ "n": first }),
        )
        .await?;
        assert_error(&reply, "BAD_USER_INPUT", Some("first"));
        let reply = gql(
            &admin,
            "query($n: Int!) { auditEvents(first: $n) { seq } }",
            json!({ "n": first }),
        )
        .await?;
        assert_error(&reply, "BAD_USER_INPUT", Some("first"));
    }
    Ok(())
}

#[tokio::test]
async fn introspection_is_off_in_production() -> anyhow::Result<()> {
    let (app, admin) = admin_app(AppOptions::default()).await?;
    for client in [&admin, &app.client()] {
        for query in [
            "{ __schema { types { name } } }",
            "{ __type(name: \"Case\") { fields { name } } }",
        ] {
            // Refused silently (null) or with an error, but never answered.
            let reply = gql(client, query, json!({})).await?;
            let data = &reply.body["data"];
            assert!(
                data.is_null() || (data["__schema"].is_null() && data["__type"].is_null()),
                "introspection answered: {reply:?}"
            );
            let text = reply.body.to_string();
            for leak in ["Case", "Mutation", "fields", "OrgAdmin", "ORG_ADMIN"] {
                assert!(!text.contains(leak), "{leak} leaked: {reply:?}");
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn introspection_works_in_development() -> anyhow::Result<()> {
    let app = spawn_app_with(AppOptions {
        dev_mode: true,
        ..AppOptions::default()
    })
    .await?;
    let reply = gql(&app.client(), "{ __schema { types { name } } }", json!({})).await?;
    assert!(reply.body.get("errors").is_none(), "{reply:?}");
    let names: Vec<&str> = reply.body["data"]["__schema"]["types"]
        .as_array()
        .context("no types")?
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"Case") && names.contains(&"Mutation"),
        "{names:?}"
    );
    // The depth limit still holds: ten levels pass, eleven do not.
    let ten = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } }";
    let reply = gql(&app.client(), ten, json!({})).await?;
    assert!(reply.body.get("errors").is_none(), "{reply:?}");
    let eleven = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } }";
    let reply = gql(&app.client(), eleven, json!({})).await?;
    assert_error(&reply, "BAD_USER_INPUT", None);
    // The GraphiQL page is there: 200 once its files are installed, else 503
    // saying how to install them (graphiql.rs tests both).
    let page = app
        .client()
        .http
        .get(format!("{}/graphql", app.base_url))
        .send()
        .await?;
    let status = page.status().as_u16();
    let body = page.text().await?;
    assert!(
        status == 200 || (status == 503 && body.contains("npm --prefix tools/graphiql ci")),
        "{status}: {body}"
    );
    Ok(())
}

#[tokio::test]
async fn rule_breaking_inputs_name_their_field() -> anyhow::Result<()> {
    let (_app, admin) = admin_app(AppOptions::default()).await?;
    let case_id = create_case(&admin, "V-1").await?;

    let create = "mutation($r: String!, $t: String!) { createCase(input: {reference: $r, title: $t}) { id } }";
    for (reference, title, field) in [
        ("V-2", "", "title"),
        ("V-2", "   ", "title"),
        ("V-2", &*"t".repeat(301), "title"),
        ("", "A title", "reference"),
        (&*"R".repeat(65), "A title", "reference"),
    ] {
        let reply = gql(&admin, create, json!({ "r": reference, "t": title })).await?;
        assert_error(&reply, "BAD_USER_INPUT", Some(field));
    }
    let not_a_mediator = gql(
        &admin,
        "mutation($m: UUID) { createCase(input: {reference: \"V-3\", title: \"t\", mediatorId: $m}) { id } }",
        json!({ "m": "00000000-0000-0000-0000-000000000000" }),
    )
    .await?;
    assert_error(&not_a_mediator, "BAD_USER_INPUT", Some("mediatorId"));

    let schedule = "mutation($c: UUID!, $s: DateTime!, $z: String!, $d: Int!) { scheduleSession(input: {caseId: $c, startsAt: $s, timeZone: $z, durationMinutes: $d}) { id } }";
    let future = "2031-03-30T09:00:00Z";
    for (starts_at, zone, minutes, field) in [
        ("2001-01-01T09:00:00Z", "Europe/London", 60, "startsAt"),
        (future, "Europe/London", 5, "durationMinutes"),
        (future, "Europe/London", 0, "durationMinutes"),
        (future, "Europe/London", -60, "durationMinutes"),
        (future, "Europe/London", 721, "durationMinutes"),
        (future, "Mars/Olympus", 60, "timeZone"),
        (future, "europe/london", 60, "timeZone"),
        (future, "", 60, "timeZone"),
    ] {
        let reply = gql(
            &admin,
            schedule,
            json!({ "c": case_id, "s": starts_at, "z": zone, "d": minutes }),
        )
        .await?;
        assert_error(&reply, "BAD_USER_INPUT", Some(field));
    }
    let not_a_time = gql(
        &admin,
        schedule,
        json!({ "c": case_id, "s": "next tuesday", "z": "Europe/London", "d": 60 }),
    )
    .await?;
    assert_error(&not_a_time, "BAD_USER_INPUT", None);

    let add_party = "mutation($c: UUID!, $e: String!, $n: String!) { addParty(input: {caseId: $c, kind: PARTY, displayName: $n, email: $e}) { id } }";
    for (email, name, field) in [
        ("not-an-email", "Pat", "email"),
        ("pat@", "Pat", "email"),
        ("", "Pat", "email"),
        ("pat@example.test", "", "displayName"),
    ] {
        let reply = gql(
            &admin,
            add_party,
            json!({ "c": case_id, "e": email, "n": name }),
        )
        .await?;
        assert_error(&reply, "BAD_USER_INPUT", Some(field));
    }
    let invite = gql(
        &admin,
        "mutation { inviteMember(input: {email: \"nope\", displayName: \"N\", role: MEDIATOR}) { activated } }",
        json!({}),
    )
    .await?;
    assert_error(&invite, "BAD_USER_INPUT", Some("email"));

    // None of it left anything behind.
    let data = admin
        .ok(
            "query($c: UUID!) { case(id: $c) { parties { id } sessions { id } } cases { edges { node { id } } } }",
            json!({ "c": case_id }),
        )
        .await?;
    assert_eq!(data["case"]["parties"], json!([]));
    assert_eq!(data["case"]["sessions"], json!([]));
    assert_eq!(data["cases"]["edges"].as_array().map(Vec::len), Some(1));
    Ok(())
}

#[tokio::test]
async fn collisions_with_the_current_state_are_conflicts() -> anyhow::Result<()> {
    let (_app, admin) = admin_app(AppOptions::default()).await?;
    let case_id = create_case(&admin, "K-1").await?;

    let duplicate = gql(
        &admin,
        "mutation { createCase(input: {reference: \"K-1\", title: \"Again\"}) { id } }",
        json!({}),
    )
    .await?;
    assert_error(&duplicate, "CONFLICT", None);
    assert_eq!(case_count(&admin).await?, 1);

    // One failing mutation does not undo the one before it in the same request.
    let mixed = gql(
        &admin,
        "mutation { a: createCase(input: {reference: \"K-2\", title: \"Fine\"}) { id } b: createCase(input: {reference: \"K-1\", title: \"Dup\"}) { id } }",
        json!({}),
    )
    .await?;
    assert_error(&mixed, "CONFLICT", None);
    assert_eq!(case_count(&admin).await?, 2);

    let party = "mutation($c: UUID!) { addParty(input: {caseId: $c, kind: PARTY, displayName: \"Pat\", email: \"pat@example.test\"}) { id } }";
    admin.ok(party, json!({ "c": case_id })).await?;
    let again = gql(&admin, party, json!({ "c": case_id })).await?;
    assert_error(&again, "CONFLICT", None);

    let session = admin
        .ok(
            "mutation($c: UUID!) { scheduleSession(input: {caseId: $c, startsAt: \"2031-03-30T09:00:00Z\", timeZone: \"Europe/London\", durationMinutes: 60}) { id } }",
            json!({ "c": case_id }),
        )
        .await?;
    let session_id = session["scheduleSession"]["id"]
        .as_str()
        .context("no session id")?
        .to_owned();
    let cancel = "mutation($id: UUID!) { cancelSession(id: $id) { status } }";
    assert_eq!(
        admin.ok(cancel, json!({ "id": session_id })).await?["cancelSession"]["status"],
        "CANCELLED"
    );
    let twice = gql(&admin, cancel, json!({ "id": session_id })).await?;
    assert_error(&twice, "CONFLICT", None);
    let moved = gql(
        &admin,
        "mutation($id: UUID!) { rescheduleSession(input: {id: $id, startsAt: \"2031-04-01T09:00:00Z\"}) { id } }",
        json!({ "id": session_id }),
    )
    .await?;
    assert_error(&moved, "CONFLICT", None);

    let status = "mutation($id: UUID!, $s: CaseStatus!) { updateCaseStatus(id: $id, status: $s) { status } }";
    assert_eq!(
        admin
            .ok(status, json!({ "id": case_id, "s": "CLOSED" }))
            .await?["updateCaseStatus"]["status"],
        "CLOSED"
    );
    for next in ["OPEN", "ON_HOLD", "SETTLED", "CLOSED"] {
        let reply = gql(&admin, status, json!({ "id": case_id, "s": next })).await?;
        assert_error(&reply, "CONFLICT", None);
    }
    let closed_schedule = gql(
        &admin,
        "mutation($c: UUID!) { scheduleSession(input: {caseId: $c, startsAt: \"2031-03-30T09:00:00Z\", timeZone: \"Europe/London\", durationMinutes: 60}) { id } }",
        json!({ "c": case_id }),
    )
    .await?;
    assert_error(&closed_schedule, "CONFLICT", None);
    let data = admin
        .ok(
            "query($c: UUID!) { case(id: $c) { status } }",
            json!({ "c": case_id }),
        )
        .await?;
    assert_eq!(data["case"]["status"], "CLOSED");
    Ok(())
}

#[tokio::test]
async fn auth_bodies_must_be_json_and_request_ids_are_the_servers() -> anyhow::Result<()> {
    let app = accord_testkit::spawn_app().await?;
    let org = app.org("acme").await?;
    app.member(org, "admin@acme.test", accord_domain::Role::OrgAdmin)
        .await?;
    // A cross-site form can post text/plain that parses as JSON: refused.
    let forged = app
        .client()
        .http
        .post(format!("{}/auth/sign-in", app.base_url))
        .header("content-type", "text/plain")
        .body(format!(
            "{{\"email\":\"admin@acme.test\",\"password\":\"{}\"}}",
            accord_testkit::PASSWORD
        ))
        .send()
        .await?;
    assert_eq!(forged.status(), 415);
    assert!(forged.headers().get("set-cookie").is_none());
    let body: serde_json::Value = forged.json().await?;
    assert_eq!(body["error"]["code"], "BAD_USER_INPUT");

    let chosen = app
        .client()
        .http
        .get(format!("{}/healthz", app.base_url))
        .header("x-request-id", "pick-me")
        .send()
        .await?;
    let id = chosen.headers()["x-request-id"].to_str()?;
    assert_ne!(id, "pick-me");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    Ok(())
}

#[tokio::test]
async fn behind_a_proxy_the_limit_keys_on_the_address_the_proxy_saw() -> anyhow::Result<()> {
    let app = accord_testkit::spawn_app_with(accord_testkit::AppOptions {
        rate_limit: accord_api::RateLimitConfig {
            burst: 2,
            replenish_every: std::time::Duration::from_secs(60),
            trusted_proxy_hops: 1,
        },
        ..Default::default()
    })
    .await?;
    let attempt = |forwarded: &'static str| {
        let client = app.client();
        async move {
            client
                .http
                .post(format!("{}/auth/sign-in", client.base_url))
                .header("x-forwarded-for", forwarded)
                .json(&serde_json::json!({ "email": "a@b.test", "password": "wrong-password-123" }))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    };
    // Left-most entries are the client's to invent; the proxy's entry is the
    // right-most. Two hosts of one IPv6 /64 are one subscriber.
    assert_eq!(attempt("1.1.1.1, 2001:db8:1:2::10").await?, 401);
    assert_eq!(attempt("9.9.9.9, 2001:db8:1:2::20").await?, 401);
    assert_eq!(attempt("7.7.7.7, 2001:db8:1:2:ffff::1").await?, 429);
    // Another subscriber has a bucket of their own.
    assert_eq!(attempt("2001:db8:1:3::10").await?, 401);
    Ok(())
}
