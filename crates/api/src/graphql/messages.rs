//! Secure messages between sessions.
//!
//! A case has one thread for everyone on it and one private thread per person
//! on it with the case's mediator (the caucus of the written channel). The
//! mediator reads and writes every thread of their case; a person on the case
//! reads and writes the whole case's thread and their own private one, and
//! never learns that another's exists (asking for it is `NOT_FOUND`, like an
//! id that does not exist). Org admins are not members of any thread.
//! Postgres enforces the same rule (`accord_thread_member`), so a query that
//! forgot it still returns nothing.
//!
//! Bodies are case content: each is sealed with a data key of its own, which
//! the vault's key service wraps for {org, case, message}; they never reach a
//! log or the audit log (whose events name only the message). A new message
//! queues a notice to the thread's other members that says only that there is
//! a message on the case (its reference), never what it says. Read receipts
//! are kept per message and reader; unread counts come from them.

use std::collections::{BTreeMap, HashMap};

use accord_db::cases::{Case, Party};
use accord_db::{audit, cases, members, TenantTx};
use accord_domain::{Action, CaseId, UserId};
use accord_vault::{EncryptionContext, Vault, VaultError, WrappedKey};
use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::types::not_found;
use super::{authorize, deny_early, mutate, rctx, read};
use crate::{ApiError, AppState};

/// Per thread (the private party's id, or none for the whole case's):
/// messages, unread by the viewer, and when the last was written.
type ThreadCounts = (Option<Uuid>, i64, i64, Option<DateTime<Utc>>);

/// Longest message body, in characters.
pub const MAX_BODY_CHARS: usize = 10_000;

/// A body sealed under a data key of its own.
pub(crate) struct Sealed {
    pub(crate) key_id: String,
    pub(crate) wrapped_key: Vec<u8>,
    pub(crate) ciphertext: Vec<u8>,
}

pub(crate) fn vault_error(e: VaultError) -> ApiError {
    match e {
        VaultError::Unavailable(detail) => ApiError::Unavailable {
            retry_after: 5,
            detail,
        },
        other => ApiError::Internal(format!("vault: {other}")),
    }
}

/// The vault, or `UNAVAILABLE` when none is configured: case content is
/// never stored in the clear.
pub(crate) fn vault_of(state: &AppState) -> Result<Vault, ApiError> {
    state.vault().cloned().ok_or_else(|| ApiError::Unavailable {
        retry_after: 60,
        detail: "no documents vault is configured; messages and agreements need its keys".into(),
    })
}

/// Seals `plain` for `ctx` with a fresh data key.
pub(crate) async fn seal(
    vault: &Vault,
    ctx: &EncryptionContext,
    plain: &[u8],
) -> Result<Sealed, ApiError> {
    let (key, wrapped) = vault.keys().generate(ctx).await.map_err(vault_error)?;
    let ciphertext = accord_vault::stream::seal_all(&key, plain)
        .map_err(|e| vault_error(VaultError::Corrupt(e)))?;
    Ok(Sealed {
        key_id: wrapped.key_id,
        wrapped_key: wrapped.ciphertext,
        ciphertext,
    })
}

/// Opens what [`seal`] sealed for `ctx`; fails on any changed byte.
pub(crate) async fn open(
    vault: &Vault,
    ctx: &EncryptionContext,
    key_id: String,
    wrapped_key: Vec<u8>,
    ciphertext: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let wrapped = WrappedKey {
        key_id,
        ciphertext: wrapped_key,
    };
    let key = vault.keys().unwrap(&wrapped, ctx).await?;
    Ok(accord_vault::stream::open_all(&key, ciphertext)?)
}

/// A thread the viewer belongs to.
struct Thread {
    case: Case,
    /// The person whose private thread it is; `None`: the whole case's.
    party: Option<Party>,
    parties: Vec<Party>,
    viewer: UserId,
    mediates: bool,
}

fn viewer(tx: &TenantTx) -> Result<UserId, ApiError> {
    tx.actor()
        .user_id
        .ok_or_else(|| ApiError::Unauthenticated("sign in first".into()))
}

/// The case, its people, and whether the viewer mediates it; `FORBIDDEN` for
/// someone who may see the case but is on none of its threads (an org admin).
async fn members_of(tx: &mut TenantTx, case_id: CaseId) -> Result<Thread, ApiError> {
    deny_early(tx, Action::ViewCase)?;
    let me = viewer(tx)?;
    authorize(tx, Action::ViewCase, Some(case_id)).await?;
    let case = cases::get(tx, case_id).await.map_err(not_found("case"))?;
    let parties = cases::parties(tx, case_id).await?;
    let mediates = case.mediator_id == Some(me);
    if !mediates && !parties.iter().any(|p| p.user_id == Some(me)) {
        return Err(ApiError::Forbidden(
            "messages are for the case's mediator and the people on the case".into(),
        ));
    }
    Ok(Thread {
        case,
        party: None,
        parties,
        viewer: me,
        mediates,
    })
}

/// The thread `(case, party)` if the viewer belongs to it; another person's
/// private thread is `NOT_FOUND`, exactly like one that does not exist.
async fn thread(
    tx: &mut TenantTx,
    case_id: CaseId,
    party_id: Option<Uuid>,
) -> Result<Thread, ApiError> {
    let mut t = members_of(tx, case_id).await?;
    if let Some(p) = party_id {
        let party = t
            .parties
            .iter()
            .find(|x| x.id.as_uuid() == p)
            .filter(|x| t.mediates || x.user_id == Some(t.viewer))
            .cloned()
            .ok_or(ApiError::NotFound("thread"))?;
        t.party = Some(party);
    }
    Ok(t)
}

impl Thread {
    fn party_uuid(&self) -> Option<Uuid> {
        self.party.as_ref().map(|p| p.id.as_uuid())
    }

    /// Everyone who reads this thread, with an account: (user, email).
    async fn readers(&self, tx: &mut TenantTx) -> Result<Vec<(UserId, String)>, ApiError> {
        let mut out = BTreeMap::new();
        if let Some(m) = self.case.mediator_id {
            if let Ok(member) = members::get(tx, m).await {
                out.insert(m.as_uuid(), (m, member.email.as_str().to_owned()));
            }
        }
        let people: Vec<&Party> = match &self.party {
            Some(p) => vec![p],
            None => self.parties.iter().collect(),
        };
        for p in people {
            if let Some(u) = p.user_id {
                out.entry(u.as_uuid())
                    .or_insert((u, p.email.as_str().to_owned()));
            }
        }
        Ok(out.into_values().collect())
    }
}

fn context(org: Uuid, case: Uuid, message: Uuid) -> EncryptionContext {
    EncryptionContext {
        org,
        case,
        document: message,
    }
}

/// Who has read a message.
#[derive(SimpleObject, Debug, Clone)]
pub struct ReadReceipt {
    /// The reader.
    pub user_id: Uuid,
    /// Their name.
    pub name: String,
    /// When they first read it.
    pub read_at: DateTime<Utc>,
}

/// One message.
#[derive(SimpleObject, Debug, Clone)]
pub struct MessageView {
    /// Its id.
    pub id: Uuid,
    /// The case.
    pub case_id: Uuid,
    /// The person whose private thread it is in; null: the whole case's.
    pub party_id: Option<Uuid>,
    /// Who wrote it.
    pub sender_id: Uuid,
    /// Their name.
    pub sender_name: String,
    /// Whether the viewer wrote it.
    pub mine: bool,
    /// The text.
    pub body: String,
    /// An attached vault document (same visibility as the thread).
    pub attachment_id: Option<Uuid>,
    /// When it was sent.
    pub sent_at: DateTime<Utc>,
    /// Who else has read it.
    pub read_by: Vec<ReadReceipt>,
}

/// A thread as its member sees it in a list.
#[derive(SimpleObject, Debug, Clone)]
pub struct MessageThread {
    /// The person whose private thread it is; null: the whole case's.
    pub party_id: Option<Uuid>,
    /// "Whole case", or the person's name.
    pub title: String,
    /// Messages in it.
    pub messages: i64,
    /// Messages from others the viewer has not read.
    pub unread: i64,
    /// When the last one was sent.
    pub last_message_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: Uuid,
    party_id: Option<Uuid>,
    sender_id: Uuid,
    key_id: String,
    wrapped_key: Vec<u8>,
    ciphertext: Vec<u8>,
    attachment_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

async fn names(tx: &mut TenantTx, ids: Vec<Uuid>) -> Result<HashMap<Uuid, String>, ApiError> {
    let ids: Vec<UserId> = ids.into_iter().map(UserId::from_uuid).collect();
    Ok(members::get_many(tx, &ids)
        .await?
        .into_iter()
        .map(|m| (m.user_id.as_uuid(), m.display_name.as_str().to_owned()))
        .collect())
}

async fn views(
    tx: &mut TenantTx,
    vault: &Vault,
    case: Uuid,
    me: Uuid,
    rows: Vec<MessageRow>,
) -> Result<Vec<MessageView>, ApiError> {
    let org = tx.actor().org_id.as_uuid();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let reads: Vec<(Uuid, Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT message_id, user_id, read_at FROM message_reads
         WHERE message_id = ANY($1) ORDER BY read_at",
    )
    .bind(&ids)
    .fetch_all(tx.conn())
    .await
    .map_err(db)?;
    let mut people: Vec<Uuid> = rows.iter().map(|r| r.sender_id).collect();
    people.extend(reads.iter().map(|r| r.1));
    people.sort_unstable();
    people.dedup();
    let names = names(tx, people).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let plain = open(
            vault,
            &context(org, case, r.id),
            r.key_id,
            r.wrapped_key,
            &r.ciphertext,
        )
        .await
        .map_err(vault_error)?;
        let read_by = reads
            .iter()
            .filter(|x| x.0 == r.id && x.1 != r.sender_id)
            .map(|x| ReadReceipt {
                user_id: x.1,
                name: names.get(&x.1).cloned().unwrap_or_default(),
                read_at: x.2,
            })
            .collect();
        out.push(MessageView {
            id: r.id,
            case_id: case,
            party_id: r.party_id,
            sender_id: r.sender_id,
            sender_name: names.get(&r.sender_id).cloned().unwrap_or_default(),
            mine: r.sender_id == me,
            body: String::from_utf8(plain)
                .map_err(|_| ApiError::Internal("a message body is not UTF-8".into()))?,
            attachment_id: r.attachment_id,
            sent_at: r.created_at,
            read_by,
        });
    }
    Ok(out)
}

pub(crate) fn db(e: sqlx::Error) -> ApiError {
    accord_db::DbError::from(e).into()
}

/// A message body as sent: trimmed, not empty, not too long.
pub fn parse_body(body: &str) -> Result<String, ApiError> {
    let body = body.trim();
    if body.is_empty() {
        return Err(ApiError::bad_input("body", "write a message first"));
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(ApiError::bad_input(
            "body",
            format!("a message has at most {MAX_BODY_CHARS} characters"),
        ));
    }
    Ok(body.to_owned())
}

/// Reads for messages.
#[derive(Debug, Default)]
pub struct MessagesQuery;

#[Object]
impl MessagesQuery {
    /// The case's threads the viewer belongs to, with unread counts: the
    /// whole case's, and the private ones (their own, or every person's for
    /// the mediator).
    async fn message_threads(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
    ) -> async_graphql::Result<Vec<MessageThread>> {
        read(ctx, move |tx| {
            Box::pin(async move {
                let t = members_of(tx, CaseId::from_uuid(case_id)).await?;
                let me = t.viewer.as_uuid();
                let counts: Vec<ThreadCounts> = sqlx::query_as(
                    "SELECT m.party_id, count(*),
                            count(*) FILTER (WHERE m.sender_id <> $2 AND NOT EXISTS (
                                SELECT 1 FROM message_reads r
                                WHERE r.message_id = m.id AND r.user_id = $2)),
                            max(m.created_at)
                     FROM case_messages m WHERE m.case_id = $1 GROUP BY m.party_id",
                )
                .bind(case_id)
                .bind(me)
                .fetch_all(tx.conn())
                .await
                .map_err(db)?;
                let count_of = |p: Option<Uuid>| {
                    counts
                        .iter()
                        .find(|c| c.0 == p)
                        .map(|c| (c.1, c.2, c.3))
                        .unwrap_or((0, 0, None))
                };
                let mut out = Vec::new();
                let (messages, unread, last) = count_of(None);
                out.push(MessageThread {
                    party_id: None,
                    title: "Whole case".into(),
                    messages,
                    unread,
                    last_message_at: last,
                });
                for p in &t.parties {
                    if !t.mediates && p.user_id != Some(t.viewer) {
                        continue;
                    }
                    let (messages, unread, last) = count_of(Some(p.id.as_uuid()));
                    out.push(MessageThread {
                        party_id: Some(p.id.as_uuid()),
                        title: if t.mediates {
                            format!("Private: {}", p.display_name.as_str())
                        } else {
                            "Private with the mediator".into()
                        },
                        messages,
                        unread,
                        last_message_at: last,
                    });
                }
                Ok(out)
            })
        })
        .await
    }

    /// The messages of one thread, oldest first (`partyId` null: the whole
    /// case's thread).
    async fn messages(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
        party_id: Option<Uuid>,
    ) -> async_graphql::Result<Vec<MessageView>> {
        let vault = vault_of(rctx(ctx).state()).map_err(super::gql)?;
        read(ctx, move |tx| {
            Box::pin(async move {
                let t = thread(tx, CaseId::from_uuid(case_id), party_id).await?;
                let rows: Vec<MessageRow> = sqlx::query_as(
                    "SELECT id, party_id, sender_id, key_id, wrapped_key, ciphertext,
                            attachment_id, created_at
                     FROM case_messages
                     WHERE case_id = $1 AND party_id IS NOT DISTINCT FROM $2
                     ORDER BY created_at, id",
                )
                .bind(case_id)
                .bind(t.party_uuid())
                .fetch_all(tx.conn())
                .await
                .map_err(db)?;
                views(tx, &vault, case_id, t.viewer.as_uuid(), rows).await
            })
        })
        .await
    }
}

/// Writes for messages.
#[derive(Debug, Default)]
pub struct MessagesMutation;

#[Object]
impl MessagesMutation {
    /// Sends a message to a thread the viewer belongs to (`partyId` null: the
    /// whole case's), optionally with a vault document of the thread's
    /// visibility; its other members get a notice without its content.
    async fn send_message(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
        party_id: Option<Uuid>,
        body: String,
        attachment_id: Option<Uuid>,
    ) -> async_graphql::Result<MessageView> {
        let state = rctx(ctx).state().clone();
        let vault = vault_of(&state).map_err(super::gql)?;
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let t = thread(tx, CaseId::from_uuid(case_id), party_id).await?;
                let body = parse_body(&body)?;
                if let Some(doc) = attachment_id {
                    check_attachment(tx, &t, doc).await?;
                }
                let org = tx.actor().org_id.as_uuid();
                let id = Uuid::now_v7();
                let sealed = seal(&vault, &context(org, case_id, id), body.as_bytes()).await?;
                let row: MessageRow = sqlx::query_as(
                    "INSERT INTO case_messages
                         (org_id, id, case_id, party_id, sender_id, key_id, wrapped_key,
                          ciphertext, attachment_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     RETURNING id, party_id, sender_id, key_id, wrapped_key, ciphertext,
                               attachment_id, created_at",
                )
                .bind(org)
                .bind(id)
                .bind(case_id)
                .bind(t.party_uuid())
                .bind(t.viewer.as_uuid())
                .bind(&sealed.key_id)
                .bind(&sealed.wrapped_key)
                .bind(&sealed.ciphertext)
                .bind(attachment_id)
                .fetch_one(tx.conn())
                .await
                .map_err(db)?;
                audit::append(tx, "message.send", "case_message", Some(id)).await?;
                let reference = t.case.reference.as_str().to_owned();
                let portal = state
                    .config()
                    .public_url
                    .as_str()
                    .trim_end_matches('/')
                    .to_owned();
                for (user, email) in t.readers(tx).await? {
                    if user == t.viewer {
                        continue;
                    }
                    let notice = crate::outbox::OutboundMessage {
                        to: email,
                        subject: format!("New message on case {reference}"),
                        body: notice_body(&reference, &portal),
                    };
                    crate::mail::enqueue_plain(tx.conn(), &state, "message.notice", notice).await?;
                }
                let me = t.viewer.as_uuid();
                Ok(views(tx, &vault, case_id, me, vec![row]).await?.remove(0))
            })
        })
        .await
    }

    /// Marks every message of a thread as read by the viewer; returns how
    /// many were newly read.
    async fn mark_messages_read(
        &self,
        ctx: &Context<'_>,
        case_id: Uuid,
        party_id: Option<Uuid>,
    ) -> async_graphql::Result<i64> {
        mutate(ctx, move |tx| {
            Box::pin(async move {
                let t = thread(tx, CaseId::from_uuid(case_id), party_id).await?;
                let org = tx.actor().org_id.as_uuid();
                let marked = sqlx::query(
                    "INSERT INTO message_reads (org_id, message_id, user_id)
                     SELECT $1, m.id, $2 FROM case_messages m
                     WHERE m.case_id = $3 AND m.party_id IS NOT DISTINCT FROM $4
                       AND m.sender_id <> $2
                     ON CONFLICT DO NOTHING",
                )
                .bind(org)
                .bind(t.viewer.as_uuid())
                .bind(case_id)
                .bind(t.party_uuid())
                .execute(tx.conn())
                .await
                .map_err(db)?
                .rows_affected();
                audit::append(tx, "message.read", "case", Some(case_id)).await?;
                Ok(i64::try_from(marked).unwrap_or(i64::MAX))
            })
        })
        .await
    }
}

/// What a message notice says: that there is a message, and where; never
/// what it says.
pub fn notice_body(reference: &str, portal: &str) -> String {
    format!(
        "There is a new message for you on case {reference} in Accord.\n\n\
         Sign in to read it: {portal}/\n\n\
         For your confidentiality this mail does not include the message.\n"
    )
}

/// An attachment must be a document of the case the viewer may see, with
/// the thread's visibility: the whole case's for the whole case's thread,
/// the person's private one for their thread.
async fn check_attachment(tx: &mut TenantTx, t: &Thread, doc: Uuid) -> Result<(), ApiError> {
    let found: Option<(Uuid, String, Option<Uuid>)> = sqlx::query_as(
        "SELECT case_id, visibility, party_user_id FROM documents
         WHERE id = $1 AND erased_at IS NULL",
    )
    .bind(doc)
    .fetch_optional(tx.conn())
    .await
    .map_err(db)?;
    let (case, visibility, party_user) = found.ok_or(ApiError::NotFound("document"))?;
    if case != t.case.id.as_uuid() {
        return Err(ApiError::NotFound("document"));
    }
    let fits = match &t.party {
        None => visibility == "case",
        Some(p) => {
            visibility == "party"
                && party_user.is_some()
                && party_user == p.user_id.map(|u| u.as_uuid())
        }
    };
    if fits {
        Ok(())
    } else {
        Err(ApiError::bad_input(
            "attachmentId",
            "attach a document shared exactly like the thread (the whole case, or private to this person)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_trimmed_and_bounded() {
        assert_eq!(parse_body("  hello \n").unwrap(), "hello");
        assert!(parse_body(" \n\t ").is_err());
        assert!(parse_body(&"x".repeat(MAX_BODY_CHARS)).is_ok());
        assert!(parse_body(&"x".repeat(MAX_BODY_CHARS + 1)).is_err());
    }

    #[test]
    fn a_notice_names_the_case_only() {
        let n = notice_body("C-7", "https://accord.example");
        assert!(n.contains("C-7"));
        assert!(n.contains("https://accord.example/"));
    }
}
