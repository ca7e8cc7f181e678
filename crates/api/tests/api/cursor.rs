//! Forged paging cursors: a well-formed cursor whose time the database cannot
//! represent (or the API could never have issued) is the client's mistake, not
//! a 500.

use accord_domain::Role;
use accord_testkit::spawn_app;
use base64::Engine as _;
use serde_json::json;

#[tokio::test]
async fn cursors_with_impossible_times_are_bad_input() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("acme").await?;
    app.member(org, "admin@acme.test", Role::OrgAdmin).await?;
    let admin = app.sign_in("admin@acme.test", None).await?;

    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let id = "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab";
    let query = "query($a: String) { cases(after: $a) { edges { node { id } } } }";
    for micros in [
        // About 251,000 BC: chrono accepts it, Postgres's timestamptz (from
        // 4713 BC) does not; before the window check this was a 500 INTERNAL.
        "-8000000000000000000",
        // Year 1716 and just past the year 9999: the API never issued them.
        "-8000000000000000",
        "253402300800000001",
        // The edges of the window: 1999-12-31T23:59:59.999999Z and 3000-01-01.
        "946684799999999",
        "32503680000000000",
    ] {
        let body = admin
            .graphql(query, json!({ "a": b64(&format!("{micros}:{id}")) }))
            .await?;
        let error = &body["errors"][0];
        assert_eq!(
            error["extensions"]["code"], "BAD_USER_INPUT",
            "{micros}: {body}"
        );
        assert_eq!(error["extensions"]["field"], "after", "{micros}: {body}");
        assert_eq!(
            error["message"], "this cursor is not one this API gave out",
            "{micros}: {body}"
        );
    }

    // A time inside the window is a valid (if empty) page.
    let data = admin
        .ok(query, json!({ "a": b64(&format!("946684800000000:{id}")) }))
        .await?;
    assert_eq!(data["cases"]["edges"], json!([]));
    Ok(())
}
