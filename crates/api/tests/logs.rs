//! Logs carry identifiers only: no names, emails, case titles, passwords or
//! tokens, at any level, on success or failure paths; `/metrics` carries
//! not even identifiers.

use std::io::Write;
use std::sync::{Arc, Mutex};

use accord_domain::Role;
use accord_testkit::spawn_app;
use serde_json::json;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_mediation_content_reaches_the_logs() -> anyhow::Result<()> {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .init();

    let app = spawn_app().await?;
    let org = app.org("northside").await?;
    app.member(org, "ada.admin@northside.test", Role::OrgAdmin)
        .await?;
    let admin = app.sign_in("ada.admin@northside.test", None).await?;
    let case = admin
        .ok(
            "mutation { createCase(input: {reference: \"N-7\", title: \"Confidential Zanzibar settlement\"}) { id } }",
            json!({}),
        )
        .await?;
    let case_id = case["createCase"]["id"].as_str().unwrap().to_owned();
    admin
        .ok(
            "mutation($c: UUID!) { addParty(input: {caseId: $c, kind: PARTY, displayName: \"Quentin Quartermaine\", email: \"quentin@secret.test\"}) { id } }",
            json!({ "c": case_id }),
        )
        .await?;
    // Failure paths log too: a wrong password, a conflict, a bad input.
    let wrong = app
        .client()
        .post_json(
            "/auth/sign-in",
            &json!({"email": "ada.admin@northside.test", "password": "Hunter2-wrong-password"}),
        )
        .await?;
    assert_eq!(wrong.0, 401);
    admin
        .error_code(
            "mutation { createCase(input: {reference: \"N-7\", title: \"Confidential Zanzibar settlement\"}) { id } }",
            json!({}),
        )
        .await?;
    // Metrics label by route class, schema field and error code: the case
    // just made and the failures above are counted, and nothing of them
    // (title, names, addresses, ids) is in a label.
    // An executor error (a field that does not exist) is counted by code.
    let unknown = admin.graphql("{ zanzibarCases { id } }", json!({})).await?;
    assert!(unknown["errors"].is_array(), "{unknown}");
    let client = app.client();
    let metrics = client
        .http
        .get(format!("{}/metrics", client.base_url))
        .send()
        .await?
        .text()
        .await?;
    for counted in [
        "accord_api_graphql_fields_total{field=\"Mutation.createCase\"}",
        "accord_api_graphql_fields_total{field=\"Mutation.addParty\"}",
        "accord_api_http_requests_total{class=\"auth\",status=\"4xx\"}",
        "accord_api_graphql_errors_total{code=\"BAD_USER_INPUT\"}",
        "accord_sfu_participants",
    ] {
        assert!(metrics.contains(counted), "{counted} in\n{metrics}");
    }
    for secret in [
        "ada.admin@northside.test",
        "Zanzibar",
        "zanzibar",
        "Quentin",
        "quentin@secret.test",
        "Hunter2",
        "N-7",
        case_id.as_str(),
        &org.to_string(),
    ] {
        assert!(
            !metrics.contains(secret),
            "{secret:?} leaked into the metrics:\n{metrics}"
        );
    }

    // An internal error: the database goes away under the app.
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND usename = 'accord_app'")
        .execute(app.db.admin.pool())
        .await?;
    let _ = admin
        .graphql("{ cases { edges { node { title } } } }", json!({}))
        .await?;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone())?;
    assert!(
        logs.contains("request"),
        "the capture should have seen request spans:\n{logs}"
    );
    for secret in [
        "ada.admin@northside.test",
        "Zanzibar",
        "Quentin",
        "quentin@secret.test",
        "Hunter2",
        PASSWORD_MARK,
        admin.csrf.as_deref().unwrap(),
    ] {
        assert!(
            !logs.contains(secret),
            "{secret:?} leaked into the logs:\n{logs}"
        );
    }
    Ok(())
}

const PASSWORD_MARK: &str = accord_testkit::PASSWORD;
