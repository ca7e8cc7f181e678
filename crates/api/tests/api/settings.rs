//! Organization settings (time zone, locale, invite-link lifetime, reminder
//! leads) and a person's own locale, and the mail that follows them: dates
//! in the recipient's zone and locale, theirs before the org's.

use accord_domain::Role;
use accord_testkit::spawn_app;
use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

const SETTINGS: &str = "{ organizationSettings { timeZone locale inviteLinkLifetimeDays reminderLeadMinutes availableLocales } }";
const SET: &str = "mutation($i: OrganizationSettingsInput!) { setOrganizationSettings(input: $i) { timeZone locale inviteLinkLifetimeDays reminderLeadMinutes } }";
const MINE: &str = "{ myPreferences { timeZone locale availableLocales } }";
const SET_LOCALE: &str = "mutation($l: String) { setMyLocale(locale: $l) { timeZone locale } }";

fn input(zone: Value, locale: Value, days: i32, leads: Value) -> Value {
    json!({ "i": {
        "timeZone": zone,
        "locale": locale,
        "inviteLinkLifetimeDays": days,
        "reminderLeadMinutes": leads,
    } })
}

#[tokio::test]
async fn org_admins_set_the_orgs_settings_and_others_only_read_them() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("northside").await?;
    app.member(org, "admin@n.test", Role::OrgAdmin).await?;
    app.member(org, "med@n.test", Role::Mediator).await?;
    let admin = app.sign_in("admin@n.test", None).await?;
    let mediator = app.sign_in("med@n.test", None).await?;

    let data = admin.ok(SETTINGS, json!({})).await?;
    let s = &data["organizationSettings"];
    assert_eq!(s["timeZone"], Value::Null);
    assert_eq!(s["locale"], Value::Null);
    assert_eq!(s["inviteLinkLifetimeDays"], 14);
    assert_eq!(s["reminderLeadMinutes"], json!([1440, 60]));
    assert_eq!(
        s["availableLocales"],
        json!(["en-GB", "en-US", "fr-FR", "de-DE"])
    );

    let good = input(json!("Europe/Paris"), json!("fr-fr"), 7, json!([120, 1440]));
    assert_eq!(mediator.error_code(SET, good.clone()).await?, "FORBIDDEN");
    let data = admin.ok(SET, good).await?;
    let s = &data["setOrganizationSettings"];
    assert_eq!(s["timeZone"], "Europe/Paris");
    assert_eq!(s["locale"], "fr-FR", "stored as the tag is spelled");
    assert_eq!(
        s["reminderLeadMinutes"],
        json!([1440, 120]),
        "largest first"
    );
    // Everyone in the org reads them; the invite-link lifetime is the same
    // setting as `inviteLinkLifetimeDays`.
    let data = mediator.ok(SETTINGS, json!({})).await?;
    assert_eq!(data["organizationSettings"]["inviteLinkLifetimeDays"], 7);
    let data = admin.ok("{ inviteLinkLifetimeDays }", json!({})).await?;
    assert_eq!(data["inviteLinkLifetimeDays"], 7);

    for (bad, field) in [
        (
            input(json!("Mars/Olympus"), Value::Null, 7, json!([])),
            "timeZone",
        ),
        (input(Value::Null, json!("tlh"), 7, json!([])), "locale"),
        (
            input(Value::Null, Value::Null, 0, json!([])),
            "inviteLinkLifetimeDays",
        ),
        (
            input(Value::Null, Value::Null, 91, json!([])),
            "inviteLinkLifetimeDays",
        ),
        (
            input(Value::Null, Value::Null, 7, json!([0])),
            "reminderLeadMinutes",
        ),
        (
            input(Value::Null, Value::Null, 7, json!([40321])),
            "reminderLeadMinutes",
        ),
        (
            input(Value::Null, Value::Null, 7, json!([60, 60])),
            "reminderLeadMinutes",
        ),
        (
            input(Value::Null, Value::Null, 7, json!([1, 2, 3, 4, 5])),
            "reminderLeadMinutes",
        ),
    ] {
        let body = admin.graphql(SET, bad.clone()).await?;
        let error = &body["errors"][0];
        assert_eq!(
            error["extensions"]["code"], "BAD_USER_INPUT",
            "{bad}: {body}"
        );
        assert_eq!(error["extensions"]["field"], field, "{bad}: {body}");
    }
    // A refused change changed nothing; clearing zone and locale works.
    let data = admin.ok(SETTINGS, json!({})).await?;
    assert_eq!(data["organizationSettings"]["timeZone"], "Europe/Paris");
    let data = admin
        .ok(SET, input(Value::Null, Value::Null, 14, json!([])))
        .await?;
    assert_eq!(data["setOrganizationSettings"]["timeZone"], Value::Null);
    assert_eq!(
        data["setOrganizationSettings"]["reminderLeadMinutes"],
        json!([])
    );
    Ok(())
}

#[tokio::test]
async fn everyone_sets_their_own_locale() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("northside").await?;
    app.member(org, "pat@n.test", Role::Party).await?;
    let pat = app.sign_in("pat@n.test", None).await?;
    let data = pat.ok(MINE, json!({})).await?;
    assert_eq!(data["myPreferences"]["locale"], Value::Null);
    pat.ok(
        "mutation { setMyTimeZone(timeZone: \"Europe/Berlin\") { timeZone } }",
        json!({}),
    )
    .await?;
    let data = pat.ok(SET_LOCALE, json!({ "l": "de-DE" })).await?;
    assert_eq!(data["setMyLocale"]["locale"], "de-DE");
    assert_eq!(data["setMyLocale"]["timeZone"], "Europe/Berlin");
    let body = pat.graphql(SET_LOCALE, json!({ "l": "de" })).await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "locale");
    let data = pat.ok(MINE, json!({})).await?;
    assert_eq!(data["myPreferences"]["locale"], "de-DE");
    let data = pat.ok(SET_LOCALE, json!({ "l": null })).await?;
    assert_eq!(data["setMyLocale"]["locale"], Value::Null);
    assert_eq!(
        app.client()
            .error_code(SET_LOCALE, json!({ "l": "en-US" }))
            .await?,
        "UNAUTHENTICATED"
    );
    Ok(())
}

#[tokio::test]
async fn mail_gives_times_in_the_readers_zone_and_locale_and_reminders_follow_the_org(
) -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let org = app.org("northside").await?;
    app.member(org, "admin@n.test", Role::OrgAdmin).await?;
    app.member(org, "pat@n.test", Role::Party).await?;
    let admin = app.sign_in("admin@n.test", None).await?;
    let pat = app.sign_in("pat@n.test", None).await?;
    // The org reads Paris time in French, reminded 2 hours and 1 week ahead.
    admin
        .ok(
            SET,
            input(
                json!("Europe/Paris"),
                json!("fr-FR"),
                3,
                json!([120, 10080]),
            ),
        )
        .await?;
    // Pat chose New York time in American English.
    pat.ok(
        "mutation { setMyTimeZone(timeZone: \"America/New_York\") { timeZone } }",
        json!({}),
    )
    .await?;
    pat.ok(SET_LOCALE, json!({ "l": "en-US" })).await?;

    let case = admin
        .ok(
            "mutation { createCase(input: {reference: \"N-9\", title: \"T\"}) { id } }",
            json!({}),
        )
        .await?["createCase"]["id"]
        .clone();
    for (name, email) in [("Pat", "pat@n.test"), ("Sam", "sam@example.test")] {
        admin
            .ok(
                "mutation($c: UUID!, $n: String!, $e: String!) { addParty(input: {caseId: $c, kind: PARTY, displayName: $n, email: $e}) { id } }",
                json!({ "c": case, "n": name, "e": email }),
            )
            .await?;
    }
    // 31 March 2031, 09:00 UTC: summer time in Paris (since the 30th) and
    // in New York; scheduled on London's clock.
    let starts: DateTime<Utc> = "2031-03-31T09:00:00Z".parse()?;
    admin
        .ok(
            "mutation($c: UUID!, $s: DateTime!) { scheduleSession(input: {caseId: $c, startsAt: $s, timeZone: \"Europe/London\", durationMinutes: 60}) { id } }",
            json!({ "c": case, "s": starts }),
        )
        .await?;
    app.settle_mail().await?;
    let mails = app.mails();
    let to = |who: &str| {
        mails
            .iter()
            .find(|m| m.message.to == who)
            .with_context(|| format!("an invitation to {who}"))
    };
    let sam = to("sam@example.test")?;
    assert!(
        sam.message
            .body
            .contains("lundi 31 mars 2031, 11:00 (CEST, Europe/Paris)"),
        "the org's zone and locale for someone without an account: {}",
        sam.message.body
    );
    let pat_mail = to("pat@n.test")?;
    assert!(
        pat_mail
            .message
            .body
            .contains("Monday, March 31, 2031, 5:00 AM (EDT, America/New_York)"),
        "the person's own zone and locale: {}",
        pat_mail.message.body
    );
    assert!(pat_mail
        .html
        .as_deref()
        .is_some_and(|h| h.contains("March 31, 2031, 5:00 AM")));
    // The calendar keeps the session's own zone.
    let ics = &pat_mail.calendar.as_ref().context("a calendar part")?.ics;
    assert!(
        ics.contains("DTSTART;TZID=Europe/London:20310331T100000"),
        "{ics}"
    );

    // Reminders at the org's leads, for each person.
    let mut reminders: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT run_at FROM jobs WHERE kind = 'mail.session_reminder' AND status = 'pending' ORDER BY run_at",
    )
    .fetch_all(app.db.admin.pool())
    .await?;
    reminders.dedup();
    assert_eq!(
        reminders,
        vec![starts - Duration::days(7), starts - Duration::hours(2)]
    );
    // Links last the org's 3 days.
    let lifetimes: Vec<f64> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM expires_at - created_at)::float8 FROM invitations",
    )
    .fetch_all(app.db.admin.pool())
    .await?;
    assert_eq!(lifetimes.len(), 2);
    assert!(
        lifetimes.iter().all(|s| (*s - 3.0 * 86400.0).abs() < 5.0),
        "{lifetimes:?}"
    );
    Ok(())
}
