//! Mail through the job queue: invitations with calendar entries, moves and
//! cancellations, reminders, and delivery to a real SMTP server (aiosmtpd,
//! started by each test from `ACCORD_TEST_AIOSMTPD`, the Python of a venv
//! with aiosmtpd, which `scripts/test` prepares with `ensure_aiosmtpd`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use accord_db::jobs;
use accord_domain::Role;
use accord_notify::worker::{self, MailJob, WorkerConfig};
use accord_notify::{Mailer, SmtpSecurity, SmtpSettings};
use accord_testkit::{spawn_app, spawn_app_with, AppOptions, Client, TestApp};
use anyhow::Context as _;
use serde_json::json;

/// A case with one party (`pat@example.test`, zone chosen by the test through
/// the party's account when given) and the signed-in org admin.
async fn case_with_party(app: &TestApp) -> anyhow::Result<(Client, String)> {
    let org = app.org("northside").await?;
    app.member(org, "admin@northside.test", Role::OrgAdmin)
        .await?;
    let admin = app.sign_in("admin@northside.test", None).await?;
    let data = admin
        .ok(
            "mutation { createCase(input: {reference: \"N-7\", title: \"Confidential lease dispute\"}) { id } }",
            json!({}),
        )
        .await?;
    let case_id = data["createCase"]["id"]
        .as_str()
        .context("case id")?
        .to_owned();
    admin
        .ok(
            "mutation($c: UUID!) { addParty(input: {caseId: $c, kind: PARTY, displayName: \"Pat\", email: \"pat@example.test\"}) { id } }",
            json!({ "c": case_id }),
        )
        .await?;
    Ok((admin, case_id))
}

async fn schedule(admin: &Client, case_id: &str, starts_at: &str) -> anyhow::Result<String> {
    let data = admin
        .ok(
            "mutation($c: UUID!, $s: DateTime!) { scheduleSession(input: {caseId: $c, startsAt: $s, timeZone: \"Europe/London\", durationMinutes: 90}) { id } }",
            json!({ "c": case_id, "s": starts_at }),
        )
        .await?;
    Ok(data["scheduleSession"]["id"]
        .as_str()
        .context("session id")?
        .to_owned())
}

/// `(status, kind, run_at)` of every job, oldest first (the test cluster's
/// owner is a superuser and sees all orgs).
async fn job_rows(
    app: &TestApp,
) -> anyhow::Result<Vec<(String, String, chrono::DateTime<chrono::Utc>)>> {
    Ok(
        sqlx::query_as("SELECT status, kind, run_at FROM jobs ORDER BY created_at, run_at")
            .fetch_all(app.db.admin.pool())
            .await?,
    )
}

fn ics_of(mail: &accord_notify::Mail) -> &str {
    &mail.calendar.as_ref().expect("a calendar part").ics
}

fn line<'a>(ics: &'a str, prefix: &str) -> &'a str {
    ics.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in {ics}"))
}

#[tokio::test]
async fn scheduling_moving_and_cancelling_mail_the_party_with_calendar_updates(
) -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let (admin, case_id) = case_with_party(&app).await?;
    // London changes to summer time on Sunday 30 March 2031.
    let session = schedule(&admin, &case_id, "2031-03-31T09:00:00Z").await?;
    app.settle_mail().await?;

    let mails = app.mails();
    let invite = mails
        .iter()
        .find(|m| m.message.to == "pat@example.test")
        .context("an invitation to the party")?;
    assert!(invite.message.subject.contains("N-7"));
    assert!(!invite.message.subject.contains("Confidential"));
    assert!(
        invite
            .message
            .body
            .contains("Monday 31 March 2031, 10:00 (BST, Europe/London)")
            || invite.message.body.contains("31 March 2031, 10:00 (BST"),
        "{}",
        invite.message.body
    );
    assert!(
        invite
            .message
            .body
            .contains(&format!("{}/invite#token=", app.base_url)),
        "the body carries the invite link"
    );
    assert!(invite
        .html
        .as_deref()
        .is_some_and(|h| h.contains("<a href=")));
    let ics = ics_of(invite);
    assert_eq!(line(ics, "METHOD:"), "METHOD:REQUEST");
    assert_eq!(line(ics, "SEQUENCE:"), "SEQUENCE:0");
    assert_eq!(
        line(ics, "DTSTART;"),
        "DTSTART;TZID=Europe/London:20310331T100000"
    );
    assert!(
        !ics.contains("invite#token"),
        "the calendar never holds the invite link"
    );
    assert!(ics.contains(&format!("{}/sessions/{session}", app.base_url)));
    let uid = line(ics, "UID:").to_owned();

    // Two reminders wait for their time.
    let rows = job_rows(&app).await?;
    let reminders: Vec<_> = rows
        .iter()
        .filter(|(_, kind, _)| kind == "mail.session_reminder")
        .collect();
    assert_eq!(reminders.len(), 2, "{rows:?}");
    assert!(reminders.iter().all(|(status, _, _)| status == "pending"));

    // Moved: a new REQUEST with the same UID and a higher SEQUENCE; the
    // reminders move with it.
    admin
        .ok(
            "mutation($id: UUID!) { rescheduleSession(input: {id: $id, startsAt: \"2031-03-28T09:00:00Z\"}) { id } }",
            json!({ "id": session }),
        )
        .await?;
    app.settle_mail().await?;
    let mails = app.mails();
    let moved = mails
        .iter()
        .rev()
        .find(|m| m.message.to == "pat@example.test")
        .context("a move notice")?;
    let ics = ics_of(moved);
    assert_eq!(line(ics, "UID:"), uid);
    assert_eq!(line(ics, "SEQUENCE:"), "SEQUENCE:1");
    assert_eq!(
        line(ics, "DTSTART;"),
        "DTSTART;TZID=Europe/London:20310328T090000",
        "GMT before the change"
    );
    assert!(
        moved.message.body.contains("(GMT, Europe/London)"),
        "{}",
        moved.message.body
    );
    let rows = job_rows(&app).await?;
    let pending_reminders = rows
        .iter()
        .filter(|(s, k, _)| k == "mail.session_reminder" && s == "pending")
        .count();
    let cancelled_reminders = rows
        .iter()
        .filter(|(s, k, _)| k == "mail.session_reminder" && s == "cancelled")
        .count();
    assert_eq!((pending_reminders, cancelled_reminders), (2, 2), "{rows:?}");

    // Cancelled: a CANCEL with the same UID, a higher SEQUENCE, no reminders left.
    admin
        .ok(
            "mutation($id: UUID!) { cancelSession(id: $id) { id } }",
            json!({ "id": session }),
        )
        .await?;
    app.settle_mail().await?;
    let mails = app.mails();
    let cancel = mails.last().context("a cancellation")?;
    let ics = ics_of(cancel);
    assert_eq!(line(ics, "METHOD:"), "METHOD:CANCEL");
    assert_eq!(line(ics, "UID:"), uid);
    assert_eq!(line(ics, "SEQUENCE:"), "SEQUENCE:2");
    assert_eq!(line(ics, "STATUS:"), "STATUS:CANCELLED");
    let rows = job_rows(&app).await?;
    assert!(
        !rows
            .iter()
            .any(|(s, k, _)| k == "mail.session_reminder" && s == "pending"),
        "{rows:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_party_added_later_is_invited_to_the_sessions_ahead_and_nothing_is_mailed_for_a_refused_change(
) -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let (admin, case_id) = case_with_party(&app).await?;
    schedule(&admin, &case_id, "2031-05-01T09:00:00Z").await?;
    admin
        .ok(
            "mutation($c: UUID!) { addParty(input: {caseId: $c, kind: COUNSEL, displayName: \"Casey\", email: \"casey@example.test\"}) { id } }",
            json!({ "c": case_id }),
        )
        .await?;
    app.settle_mail().await?;
    let casey: Vec<_> = app
        .mails()
        .into_iter()
        .filter(|m| m.message.to == "casey@example.test")
        .collect();
    assert_eq!(casey.len(), 1);
    assert_eq!(line(ics_of(&casey[0]), "SEQUENCE:"), "SEQUENCE:0");

    // A schedule in the past is refused: the rolled-back change mails nobody.
    let before = job_rows(&app).await?.len();
    let body = admin
        .graphql(
            "mutation($c: UUID!) { scheduleSession(input: {caseId: $c, startsAt: \"2001-01-01T09:00:00Z\", timeZone: \"Europe/London\", durationMinutes: 90}) { id } }",
            json!({ "c": case_id }),
        )
        .await?;
    assert!(body["errors"].is_array(), "{body}");
    assert_eq!(job_rows(&app).await?.len(), before);
    Ok(())
}

// ---------------------------------------------------------------------------
// A real SMTP server.

/// aiosmtpd, writing what it receives into a Maildir.
struct Smtp {
    child: tokio::process::Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The venv's Python with aiosmtpd, or `None` to skip (only outside CI).
fn aiosmtpd_python() -> Option<PathBuf> {
    match std::env::var_os("ACCORD_TEST_AIOSMTPD") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "ACCORD_TEST_AIOSMTPD is not set: in CI the SMTP tests must run (scripts/test sets it with ensure_aiosmtpd)"
            );
            eprintln!(
                "skipped: set ACCORD_TEST_AIOSMTPD to the python of a venv with aiosmtpd \
                 (scripts/lib.sh ensure_aiosmtpd) to run the SMTP tests"
            );
            None
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Smtp {
    async fn start(python: &Path, port: u16) -> anyhow::Result<Smtp> {
        let dir =
            std::env::temp_dir().join(format!("accord-smtp-{}", uuid::Uuid::new_v4().simple()));
        let child = tokio::process::Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&dir)
            .kill_on_drop(true)
            .spawn()
            .context("starting aiosmtpd")?;
        let smtp = Smtp { child, dir, port };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "aiosmtpd did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(smtp)
    }

    /// Every message received, raw.
    fn received(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.dir.join(sub)) {
                for e in entries.flatten() {
                    if let Ok(text) = std::fs::read_to_string(e.path()) {
                        out.push(text);
                    }
                }
            }
        }
        out
    }

    async fn wait_for(&self, n: usize) -> anyhow::Result<Vec<String>> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.received();
            if got.len() >= n {
                return Ok(got);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{} of {n} messages arrived",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn mailer(port: u16) -> anyhow::Result<Mailer> {
    Ok(Mailer::smtp(
        "Northside Mediation <mediation@northside.test>",
        &SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            security: SmtpSecurity::None,
            username: None,
            password: None,
            timeout: Duration::from_secs(5),
        },
    )?)
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": ")))
}

#[tokio::test]
async fn an_invitation_reaches_a_real_smtp_server_with_its_calendar() -> anyhow::Result<()> {
    let Some(python) = aiosmtpd_python() else {
        return Ok(());
    };
    let smtp = Smtp::start(&python, free_port()?).await?;
    let app = spawn_app_with(AppOptions {
        mailer: Some(mailer(smtp.port)?),
        ..AppOptions::default()
    })
    .await?;
    let (admin, case_id) = case_with_party(&app).await?;
    schedule(&admin, &case_id, "2031-03-29T09:00:00Z").await?;
    let got = smtp.wait_for(1).await?;
    assert_eq!(got.len(), 1);
    let raw = &got[0];
    assert_eq!(header(raw, "To"), Some("pat@example.test"));
    assert!(
        header(raw, "Message-ID").is_some_and(|id| id.contains("session.")),
        "{raw}"
    );
    assert!(raw.contains("multipart/alternative"), "{raw}");
    assert!(raw.contains("text/html"), "{raw}");
    assert!(
        raw.contains("text/calendar; charset=utf-8; method=REQUEST"),
        "{raw}"
    );
    assert!(raw.contains("invite.ics"), "{raw}");
    assert!(
        raw.contains("BEGIN:VCALENDAR"),
        "the calendar is readable as sent: {raw}"
    );
    app.settle_mail().await?;
    let sent: Vec<(String,)> =
        sqlx::query_as("SELECT status FROM jobs WHERE kind = 'mail.session_invitation'")
            .fetch_all(app.db.admin.pool())
            .await?;
    assert_eq!(sent, vec![("sent".to_owned(),)]);
    Ok(())
}

/// `accord_api_mail_failures_total{reason="…"}` as `/metrics` shows it.
async fn mail_failures(app: &TestApp, reason: &str) -> anyhow::Result<Option<u64>> {
    let metrics = app
        .client()
        .http
        .get(format!("{}/metrics", app.base_url))
        .send()
        .await?
        .text()
        .await?;
    let prefix = format!("accord_api_mail_failures_total{{reason=\"{reason}\"}} ");
    Ok(metrics
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok()))
}

#[tokio::test]
async fn failed_deliveries_are_counted_on_metrics_by_reason() -> anyhow::Result<()> {
    let port = free_port()?;
    // Nothing listens on `port`: every attempt fails before a reply.
    let app = spawn_app_with(AppOptions {
        mailer: Some(mailer(port)?),
        ..AppOptions::default()
    })
    .await?;
    for reason in ["transport", "deferred", "rejected"] {
        assert_eq!(
            mail_failures(&app, reason).await?,
            Some(0),
            "{reason} is shown at zero before any failure"
        );
    }
    let (admin, case_id) = case_with_party(&app).await?;
    schedule(&admin, &case_id, "2031-03-29T09:00:00Z").await?;

    // Every failed attempt the queue records is counted once, as a
    // transport failure (the mail server never answered).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let attempts: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(attempts), 0)::bigint FROM jobs WHERE last_error IS NOT NULL",
        )
        .fetch_one(app.db.admin.pool())
        .await?;
        let counted = mail_failures(&app, "transport").await?.unwrap_or(0);
        let again: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(attempts), 0)::bigint FROM jobs WHERE last_error IS NOT NULL",
        )
        .fetch_one(app.db.admin.pool())
        .await?;
        if attempts > 0 && attempts == again && counted == attempts as u64 {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{attempts} failed attempts recorded, {counted} counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(mail_failures(&app, "deferred").await?, Some(0));
    assert_eq!(mail_failures(&app, "rejected").await?, Some(0));
    Ok(())
}

#[tokio::test]
async fn with_the_smtp_server_down_nothing_is_lost_and_the_mail_arrives_once_it_is_back(
) -> anyhow::Result<()> {
    let Some(python) = aiosmtpd_python() else {
        return Ok(());
    };
    let port = free_port()?;
    // Nothing listens on `port` yet.
    let app = spawn_app_with(AppOptions {
        mailer: Some(mailer(port)?),
        ..AppOptions::default()
    })
    .await?;
    let (admin, case_id) = case_with_party(&app).await?;
    schedule(&admin, &case_id, "2031-03-29T09:00:00Z").await?;

    // The worker tries, fails, and keeps the job for later with back-off.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let row: Option<(String, i32, Option<String>, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
            "SELECT status, attempts, last_error, run_at FROM jobs WHERE kind = 'mail.session_invitation'",
        )
        .fetch_optional(app.db.admin.pool())
        .await?;
        if let Some((status, attempts, error, run_at)) = row {
            if attempts >= 1 && status == "pending" {
                assert!(error.is_some());
                assert!(run_at > chrono::Utc::now(), "retried later, not at once");
                break;
            }
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no failed attempt recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The server comes back; the back-off elapses (moved forward here
    // rather than waited for).
    let smtp = Smtp::start(&python, port).await?;
    sqlx::query("UPDATE jobs SET run_at = now() WHERE status = 'pending' AND attempts > 0")
        .execute(app.db.admin.pool())
        .await?;
    let got = smtp.wait_for(1).await?;
    app.settle_mail().await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.received().len(), 1, "delivered exactly once: {got:?}");
    let (status, attempts): (String, i32) =
        sqlx::query_as("SELECT status, attempts FROM jobs WHERE kind = 'mail.session_invitation'")
            .fetch_one(app.db.admin.pool())
            .await?;
    assert_eq!((status.as_str(), attempts), ("sent", 2));
    Ok(())
}

/// The at-least-once window, as `accord_db::jobs` documents it: a worker
/// that crashes after the SMTP server accepted a message and before the job
/// was marked `sent` makes the next worker send it again, once its lease
/// expires, with the same `Message-ID`. That is the only duplicate: a crash
/// before the send delivers once, and a job marked sent is never sent again.
#[tokio::test]
async fn a_crash_between_send_and_mark_duplicates_only_within_the_documented_window(
) -> anyhow::Result<()> {
    let Some(python) = aiosmtpd_python() else {
        return Ok(());
    };
    let smtp = Smtp::start(&python, free_port()?).await?;
    let mailer = mailer(smtp.port)?;
    let app = spawn_app_with(AppOptions {
        no_worker: true,
        ..AppOptions::default()
    })
    .await?;
    let (admin, case_id) = case_with_party(&app).await?;
    schedule(&admin, &case_id, "2031-03-29T09:00:00Z").await?;
    let db = app.db.app.clone();
    let lease = Duration::from_secs(1);
    let config = WorkerConfig {
        lease,
        ..WorkerConfig::default()
    };

    // Worker 1 claims the invitation, the server accepts it, and the worker
    // dies before marking it.
    let orgs = jobs::due_orgs(&db, 10).await?;
    assert_eq!(orgs.len(), 1);
    let mut tx = jobs::scoped(&db, orgs[0]).await?;
    let claimed = jobs::claim(&mut tx, 10, lease).await?;
    tx.commit().await?;
    assert_eq!(claimed.len(), 1, "only the invitation is due");
    let job: MailJob = serde_json::from_value(claimed[0].payload.clone())?;
    mailer.send(&job.mail).await?;
    drop(claimed);
    smtp.wait_for(1).await?;

    // While the lease holds, no other worker takes it.
    assert_eq!(worker::run_once(&db, &mailer, &config).await?.sent, 0);
    assert_eq!(smtp.received().len(), 1);

    // After it, the next worker sends it again: the documented duplicate.
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    assert_eq!(worker::run_once(&db, &mailer, &config).await?.sent, 1);
    let got = smtp.wait_for(2).await?;
    assert_eq!(got.len(), 2);
    assert_eq!(
        header(&got[0], "Message-ID"),
        header(&got[1], "Message-ID"),
        "both copies are recognisably one message"
    );

    // Marked sent now: never again.
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    assert_eq!(worker::run_once(&db, &mailer, &config).await?.sent, 0);
    assert_eq!(smtp.received().len(), 2);

    // A crash after claiming but before sending: delivered once, later.
    admin
        .ok(
            "mutation($c: UUID!) { addParty(input: {caseId: $c, kind: COUNSEL, displayName: \"Casey\", email: \"casey@example.test\"}) { id } }",
            json!({ "c": case_id }),
        )
        .await?;
    let mut tx = jobs::scoped(&db, orgs[0]).await?;
    assert_eq!(jobs::claim(&mut tx, 10, lease).await?.len(), 1);
    tx.commit().await?;
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    assert_eq!(worker::run_once(&db, &mailer, &config).await?.sent, 1);
    smtp.wait_for(3).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let to_casey = smtp
        .received()
        .iter()
        .filter(|m| header(m, "To") == Some("casey@example.test"))
        .count();
    assert_eq!(to_casey, 1);
    Ok(())
}

/// Inserts a failed message into `org`'s queue (as the mail server would
/// leave one) and returns its id.
async fn failed_job(
    app: &TestApp,
    org: accord_domain::OrgId,
    to: &str,
) -> anyhow::Result<uuid::Uuid> {
    let id = uuid::Uuid::now_v7();
    let payload = serde_json::to_value(MailJob {
        mail: accord_notify::OutboundMessage {
            to: to.to_owned(),
            subject: "Hello".into(),
            body: "Hello again".into(),
        }
        .into(),
        invitation_id: None,
    })?;
    sqlx::query(
        "INSERT INTO jobs (id, org_id, kind, idempotency_key, recipient, subject, payload, status, attempts, last_error) \
         VALUES ($1, $2, 'mail.message', $3, $4, 'Hello', $5, 'failed', 8, '550 mailbox unavailable')",
    )
    .bind(id)
    .bind(org.as_uuid())
    .bind(id.to_string())
    .bind(to)
    .bind(payload)
    .execute(app.db.admin.pool())
    .await?;
    Ok(id)
}

#[tokio::test]
async fn org_admins_see_their_orgs_failed_mail_and_retry_it() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let north = app.org("northside").await?;
    let south = app.org("southside").await?;
    app.member(north, "admin@northside.test", Role::OrgAdmin)
        .await?;
    app.member(north, "med@northside.test", Role::Mediator)
        .await?;
    let ours = failed_job(&app, north, "pat@example.test").await?;
    failed_job(&app, south, "sam@example.test").await?;
    let admin = app.sign_in("admin@northside.test", None).await?;

    let list = "{ mailDeliveries(statuses: [FAILED]) { id recipient status attempts lastError } }";
    let data = admin.ok(list, json!({})).await?;
    let rows = data["mailDeliveries"].as_array().context("a list")?;
    assert_eq!(rows.len(), 1, "only the org's own: {rows:?}");
    assert_eq!(rows[0]["id"], ours.to_string());
    assert_eq!(rows[0]["lastError"], "550 mailbox unavailable");

    let mediator = app.sign_in("med@northside.test", None).await?;
    assert_eq!(mediator.error_code(list, json!({})).await?, "FORBIDDEN");

    let retry = "mutation($j: UUID!) { retryMailDelivery(id: $j) { status attempts } }";
    let data = admin.ok(retry, json!({ "j": ours })).await?;
    assert_eq!(data["retryMailDelivery"]["status"], "PENDING");
    assert_eq!(data["retryMailDelivery"]["attempts"], 0);
    app.wait_for_message_to("pat@example.test").await?;
    app.settle_mail().await?;
    // Sent now: no longer failed, so it cannot be retried again.
    assert_eq!(
        admin.error_code(retry, json!({ "j": ours })).await?,
        "NOT_FOUND"
    );
    let sam = sqlx::query_scalar::<_, uuid::Uuid>(
        "SELECT id FROM jobs WHERE recipient = 'sam@example.test'",
    )
    .fetch_one(app.db.admin.pool())
    .await?;
    assert_eq!(
        admin.error_code(retry, json!({ "j": sam })).await?,
        "NOT_FOUND",
        "another org's message is not there"
    );
    Ok(())
}

#[tokio::test]
async fn two_workers_at_once_send_each_message_once() -> anyhow::Result<()> {
    let app = spawn_app_with(AppOptions {
        no_worker: true,
        ..AppOptions::default()
    })
    .await?;
    let org = app.org("northside").await?;
    let ids: Vec<uuid::Uuid> = {
        let mut ids = Vec::new();
        for i in 0..30 {
            let id = failed_job(&app, org, &format!("p{i}@example.test")).await?;
            ids.push(id);
        }
        ids
    };
    sqlx::query(
        "UPDATE jobs SET status = 'pending', attempts = 0, run_at = now() WHERE id = ANY($1)",
    )
    .bind(&ids)
    .execute(app.db.admin.pool())
    .await?;
    let mailer = Mailer::file("accord@accord.test", app.outbox.clone())?;
    let config = WorkerConfig {
        batch: 4,
        ..WorkerConfig::default()
    };
    let db = app.db.app.clone();
    // Several passes each, racing for the same rows.
    let worker = |db: accord_db::Db, mailer: Mailer| {
        let config = config.clone();
        async move {
            let mut sent = 0;
            for _ in 0..10 {
                sent += worker::run_once(&db, &mailer, &config).await?.sent;
            }
            anyhow::Ok(sent)
        }
    };
    let (a, b) = tokio::join!(worker(db.clone(), mailer.clone()), worker(db, mailer));
    assert_eq!(a? + b?, 30);
    let mut to: Vec<String> = app.messages().into_iter().map(|m| m.to).collect();
    to.sort();
    to.dedup();
    assert_eq!(app.messages().len(), 30, "each message once");
    assert_eq!(to.len(), 30);
    Ok(())
}
