//! Secure messages through the API: a party's private thread with the
//! mediator is invisible to the other party (its messages, its existence,
//! and in Postgres itself), another org's ids are NOT_FOUND, unread counts
//! and read receipts, the notice mail and the audit log carry no content,
//! and the stored body is ciphertext.

use accord_domain::{CaseId, UserId};
use accord_testkit::Client;
use accord_vault::Scanner;
use serde_json::{json, Value};

use crate::documents::{at, local_vault, serve_vault, world};

/// Mutations whose single audit event is checked here (see flows.rs).
pub(crate) const AUDITED_HERE: &[&str] = &["sendMessage", "markMessagesRead"];

/// Runs `f` and checks that it appended exactly one audit event, `action`.
pub(crate) async fn audited<F, Fut>(admin: &Client, action: &str, f: F) -> anyhow::Result<Value>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Value>>,
{
    let events = "{ auditEvents(first: 100) { action } }";
    let before = admin.ok(events, json!({})).await?["auditEvents"]
        .as_array()
        .unwrap()
        .len();
    let out = f().await?;
    let after = admin.ok(events, json!({})).await?;
    let after = after["auditEvents"].as_array().unwrap();
    anyhow::ensure!(after.len() == before + 1, "{action}: not exactly one event");
    anyhow::ensure!(
        after[0]["action"] == action,
        "{action}: newest is {}",
        after[0]
    );
    Ok(out)
}

const SEND: &str = "mutation($c: UUID!, $p: UUID, $b: String!, $a: UUID) { sendMessage(caseId: $c, partyId: $p, body: $b, attachmentId: $a) { id body mine senderName partyId } }";
const THREADS: &str =
    "query($c: UUID!) { messageThreads(caseId: $c) { partyId title messages unread } }";
const MESSAGES: &str = "query($c: UUID!, $p: UUID) { messages(caseId: $c, partyId: $p) { id body mine senderName readBy { name } } }";
const MARK: &str = "mutation($c: UUID!, $p: UUID) { markMessagesRead(caseId: $c, partyId: $p) }";

/// The case's people: (party id, user id) for each email.
async fn party_ids(w: &crate::documents::World) -> anyhow::Result<Vec<(String, String)>> {
    let data = w
        .admin
        .ok(
            "query($c: UUID!) { case(id: $c) { parties { id userId } } }",
            json!({ "c": w.case }),
        )
        .await?;
    Ok(data["case"]["parties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["userId"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect())
}

/// Uploads a small document with `visibility`; its id.
async fn upload_doc(
    client: &accord_testkit::Client,
    case: &str,
    visibility: &str,
    name: &str,
) -> anyhow::Result<String> {
    let (status, up) = crate::documents::upload(
        client,
        &[("caseId", case), ("visibility", visibility)],
        name,
        &crate::documents::pdf(2_000, "ATTACHMENT"),
    )
    .await?;
    anyhow::ensure!(status == 201, "upload failed: {up}");
    Ok(up["documentId"].as_str().unwrap().to_owned())
}

fn thread_of<'a>(threads: &'a Value, party: Option<&str>) -> Option<&'a Value> {
    threads.as_array().unwrap().iter().find(|t| match party {
        None => t["partyId"].is_null(),
        Some(p) => t["partyId"] == p,
    })
}

#[tokio::test]
async fn a_private_thread_is_the_party_and_the_mediator_s_alone() -> anyhow::Result<()> {
    let w = world().await?;
    let (vault, _dir) = local_vault(Scanner::Disabled)?;
    let v = serve_vault(&w.app, vault).await?;
    let (p1, p2, med, admin, outsider, stranger) = (
        at(&w.p1, &v),
        at(&w.p2, &v),
        at(&w.mediator, &v),
        at(&w.admin, &v),
        at(&w.outsider, &v),
        at(&w.stranger, &v),
    );
    let people = party_ids(&w).await?;
    let p1_party = people.iter().find(|p| p.1 == w.p1_id).unwrap().0.clone();
    let p2_party = people.iter().find(|p| p.1 != w.p1_id).unwrap().0.clone();

    // p1 writes to the mediator privately.
    let secret = "my bottom line is 41999 euros";
    let sent = audited(&w.admin, "message.send", || {
        p1.ok(SEND, json!({ "c": w.case, "p": p1_party, "b": secret }))
    })
    .await?;
    assert_eq!(sent["sendMessage"]["body"], secret);
    assert_eq!(sent["sendMessage"]["mine"], true);

    // p2 sees the whole case's thread and their own, nothing of p1's.
    let threads = p2.ok(THREADS, json!({ "c": w.case })).await?["messageThreads"].clone();
    assert_eq!(threads.as_array().unwrap().len(), 2, "{threads}");
    assert!(thread_of(&threads, Some(&p1_party)).is_none());
    assert!(thread_of(&threads, Some(&p2_party)).is_some());
    assert!(!threads.to_string().contains("41999"));
    // Asking for p1's thread is exactly like asking for one that does not exist.
    let code = p2
        .error_code(MESSAGES, json!({ "c": w.case, "p": p1_party }))
        .await?;
    assert_eq!(code, "NOT_FOUND");
    let code = p2
        .error_code(MESSAGES, json!({ "c": w.case, "p": uuid::Uuid::now_v7() }))
        .await?;
    assert_eq!(code, "NOT_FOUND");
    let code = p2
        .error_code(SEND, json!({ "c": w.case, "p": p1_party, "b": "hello" }))
        .await?;
    assert_eq!(code, "NOT_FOUND");

    // The mediator sees it unread, reads it; p1 sees the receipt.
    let threads = med.ok(THREADS, json!({ "c": w.case })).await?["messageThreads"].clone();
    assert_eq!(threads.as_array().unwrap().len(), 3);
    assert_eq!(thread_of(&threads, Some(&p1_party)).unwrap()["unread"], 1);
    let list = med
        .ok(MESSAGES, json!({ "c": w.case, "p": p1_party }))
        .await?;
    assert_eq!(list["messages"][0]["body"], secret);
    assert_eq!(list["messages"][0]["mine"], false);
    let marked = audited(&w.admin, "message.read", || {
        med.ok(MARK, json!({ "c": w.case, "p": p1_party }))
    })
    .await?;
    assert_eq!(marked["markMessagesRead"], 1);
    let threads = med.ok(THREADS, json!({ "c": w.case })).await?["messageThreads"].clone();
    assert_eq!(thread_of(&threads, Some(&p1_party)).unwrap()["unread"], 0);
    let mine = p1
        .ok(MESSAGES, json!({ "c": w.case, "p": p1_party }))
        .await?;
    assert_eq!(mine["messages"][0]["readBy"].as_array().unwrap().len(), 1);

    // The mediator answers; the whole case's thread reaches both parties.
    med.ok(
        SEND,
        json!({ "c": w.case, "p": p1_party, "b": "noted, thank you" }),
    )
    .await?;
    med.ok(SEND, json!({ "c": w.case, "b": "next session on Monday" }))
        .await?;
    for p in [&p1, &p2] {
        let all = p.ok(MESSAGES, json!({ "c": w.case })).await?;
        assert_eq!(all["messages"][0]["body"], "next session on Monday");
        let threads = p.ok(THREADS, json!({ "c": w.case })).await?["messageThreads"].clone();
        assert_eq!(thread_of(&threads, None).unwrap()["unread"], 1);
    }

    // Outside the threads: an admin may see the case but is on no thread;
    // a party of the org not on the case and another org see no case at all.
    assert_eq!(
        admin.error_code(MESSAGES, json!({ "c": w.case })).await?,
        "FORBIDDEN"
    );
    assert_eq!(
        outsider.error_code(THREADS, json!({ "c": w.case })).await?,
        "NOT_FOUND"
    );
    assert_eq!(
        stranger.error_code(THREADS, json!({ "c": w.case })).await?,
        "NOT_FOUND"
    );
    assert_eq!(
        stranger
            .error_code(SEND, json!({ "c": w.case, "b": "hi" }))
            .await?,
        "NOT_FOUND"
    );
    assert_eq!(
        p1.error_code(SEND, json!({ "c": w.case, "b": "   " }))
            .await?,
        "BAD_USER_INPUT"
    );

    // Postgres itself hides p1's thread from p2, whatever the query.
    let p2_user = UserId::from_uuid(people.iter().find(|p| p.0 == p2_party).unwrap().1.parse()?);
    let mut tx = w.app.db.app.tenant(w.org, p2_user, None).await?;
    let seen: i64 =
        sqlx::query_scalar("SELECT count(*) FROM case_messages WHERE party_id IS NOT NULL")
            .fetch_one(tx.conn())
            .await?;
    assert_eq!(seen, 0, "p2 reads no private message");
    drop(tx);

    // Stored as ciphertext only.
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT ciphertext FROM case_messages")
        .fetch_all(w.app.db.admin.pool())
        .await?;
    assert_eq!(stored.len(), 3);
    for c in &stored {
        assert!(!String::from_utf8_lossy(c).contains("41999"));
    }

    // Notices say only that there is a message on the case.
    w.app.settle_mail().await?;
    // The mediator was told of p1's message (not of their own).
    let to_med: Vec<_> = w
        .app
        .messages()
        .into_iter()
        .filter(|m| m.to == "med@d.test" && m.subject.starts_with("New message"))
        .collect();
    assert_eq!(to_med.len(), 1);
    assert_eq!(to_med[0].subject, "New message on case D-1");
    for m in w.app.messages() {
        assert!(!m.body.contains("41999") && !m.subject.contains("41999"));
        assert!(!m.body.contains("noted") && !m.body.contains("Monday"));
    }
    // p2 was never told of the private exchange.
    let notices_to_p2 = w
        .app
        .messages()
        .into_iter()
        .filter(|m| m.to == "p2@d.test" && m.subject.starts_with("New message"))
        .count();
    assert_eq!(notices_to_p2, 1, "only the whole case's message");

    // The audit log names messages, never their content.
    let events = w
        .admin
        .ok(
            "{ auditEvents(first: 50) { action targetType targetId } }",
            json!({}),
        )
        .await?;
    let text = events.to_string();
    assert!(text.contains("message.send") && text.contains("message.read"));
    assert!(!text.contains("41999"));
    let _ = CaseId::from_uuid(w.case.parse()?);
    Ok(())
}

#[tokio::test]
async fn attachments_share_the_thread_s_visibility() -> anyhow::Result<()> {
    let w = world().await?;
    let (vault, _dir) = local_vault(Scanner::Disabled)?;
    let v = serve_vault(&w.app, vault).await?;
    let p1 = at(&w.p1, &v);
    let people = party_ids(&w).await?;
    let p1_party = people.iter().find(|p| p.1 == w.p1_id).unwrap().0.clone();
    // A document private to p1 and one for the whole case.
    let private = upload_doc(&p1, &w.case, "party", "offer.pdf").await?;
    let shared = upload_doc(&p1, &w.case, "case", "facts.pdf").await?;
    // The private document fits p1's thread, not the whole case's.
    p1.ok(
        SEND,
        json!({ "c": w.case, "p": p1_party, "b": "see attached", "a": private }),
    )
    .await?;
    assert_eq!(
        p1.error_code(
            SEND,
            json!({ "c": w.case, "b": "see attached", "a": private })
        )
        .await?,
        "BAD_USER_INPUT"
    );
    p1.ok(
        SEND,
        json!({ "c": w.case, "b": "see attached", "a": shared }),
    )
    .await?;
    // Another case's or an unknown document is NOT_FOUND.
    assert_eq!(
        p1.error_code(
            SEND,
            json!({ "c": w.case, "b": "x", "a": uuid::Uuid::now_v7() })
        )
        .await?,
        "NOT_FOUND"
    );
    Ok(())
}
