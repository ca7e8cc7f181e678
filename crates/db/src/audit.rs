//! The append-only, hash-chained audit log.
//!
//! Each event's hash is SHA-256 over a length-prefixed encoding of its fields and
//! the previous event's hash; the first event of an org links to 32 zero bytes.
//! `audit_heads` records the last sequence number and hash, updated in the same
//! transaction, so appends are serialised per org and a deleted tail shows.
//! Events hold identifiers only: the action name, the target's type and id, the
//! actor's id and the request id. Never names, emails or case content.

use accord_domain::{AuditEventId, OrgId, UserId};
use chrono::{DateTime, SubsecRound, Utc};
use sha2::{Digest, Sha256};

use crate::{DbError, TenantTx};

const GENESIS: [u8; 32] = [0; 32];

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// The org whose chain it belongs to.
    pub org_id: OrgId,
    /// Position in the org's chain, from 1.
    pub seq: i64,
    /// Its id.
    pub id: AuditEventId,
    /// When it happened (microsecond precision, as stored).
    pub occurred_at: DateTime<Utc>,
    /// Who did it; `None` for the system.
    pub actor_user_id: Option<UserId>,
    /// What was done, e.g. `case.create`.
    pub action: String,
    /// The kind of object acted on, e.g. `case`.
    pub target_type: String,
    /// The object acted on.
    pub target_id: Option<uuid::Uuid>,
    /// The request that did it.
    pub request_id: Option<String>,
    /// The previous event's hash.
    pub prev_hash: [u8; 32],
    /// This event's hash.
    pub hash: [u8; 32],
}

fn put(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

fn put_opt(h: &mut Sha256, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => {
            h.update([1]);
            put(h, b);
        }
        None => h.update([0]),
    }
}

impl AuditEvent {
    /// The hash this event should carry, from its fields and `prev_hash`.
    pub fn compute_hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        put(&mut h, b"accord-audit-v1");
        put(&mut h, self.org_id.as_uuid().as_bytes());
        put(&mut h, &self.seq.to_be_bytes());
        put(&mut h, self.id.as_uuid().as_bytes());
        put(&mut h, &self.occurred_at.timestamp_micros().to_be_bytes());
        let actor = self.actor_user_id.map(|a| a.as_uuid());
        put_opt(&mut h, actor.as_ref().map(|a| a.as_bytes().as_slice()));
        put(&mut h, self.action.as_bytes());
        put(&mut h, self.target_type.as_bytes());
        put_opt(
            &mut h,
            self.target_id.as_ref().map(|t| t.as_bytes().as_slice()),
        );
        put_opt(&mut h, self.request_id.as_deref().map(str::as_bytes));
        put(&mut h, &self.prev_hash);
        h.finalize().into()
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    org_id: uuid::Uuid,
    seq: i64,
    id: uuid::Uuid,
    occurred_at: DateTime<Utc>,
    actor_user_id: Option<uuid::Uuid>,
    action: String,
    target_type: String,
    target_id: Option<uuid::Uuid>,
    request_id: Option<String>,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

fn hash32(bytes: Vec<u8>) -> [u8; 32] {
    // The table's CHECK constraints keep these at 32 bytes; anything else reads
    // as an all-ones hash, which can never verify.
    bytes.try_into().unwrap_or([0xff; 32])
}

impl From<EventRow> for AuditEvent {
    fn from(r: EventRow) -> Self {
        AuditEvent {
            org_id: OrgId::from_uuid(r.org_id),
            seq: r.seq,
            id: AuditEventId::from_uuid(r.id),
            occurred_at: r.occurred_at,
            actor_user_id: r.actor_user_id.map(UserId::from_uuid),
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            request_id: r.request_id,
            prev_hash: hash32(r.prev_hash),
            hash: hash32(r.hash),
        }
    }
}

const EVENT_COLUMNS: &str = "org_id, seq, id, occurred_at, actor_user_id, action, target_type, \
     target_id, request_id, prev_hash, hash";

/// Appends an event for the transaction's actor and request. `action` is
/// `noun.verb` (e.g. `case.create`); `target_type` a lowercase noun.
pub async fn append(
    tx: &mut TenantTx,
    action: &str,
    target_type: &str,
    target_id: Option<uuid::Uuid>,
) -> Result<AuditEvent, DbError> {
    let actor = tx.actor();
    let org = actor.org_id.as_uuid();
    // The head row's lock serialises appends of one org; the first append of an
    // org creates it.
    sqlx::query(
        "INSERT INTO audit_heads (org_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING",
    )
    .bind(org)
    .bind(GENESIS.as_slice())
    .execute(tx.conn())
    .await?;
    let (seq, prev): (i64, Vec<u8>) =
        sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE org_id = $1 FOR UPDATE")
            .bind(org)
            .fetch_one(tx.conn())
            .await?;
    let mut event = AuditEvent {
        org_id: actor.org_id,
        seq: seq + 1,
        id: AuditEventId::new(),
        occurred_at: Utc::now().trunc_subsecs(6),
        actor_user_id: actor.user_id,
        action: action.to_owned(),
        target_type: target_type.to_owned(),
        target_id,
        request_id: tx.request_id().map(str::to_owned),
        prev_hash: hash32(prev),
        hash: [0; 32],
    };
    event.hash = event.compute_hash();
    sqlx::query(&format!(
        "INSERT INTO audit_events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(org)
    .bind(event.seq)
    .bind(event.id.as_uuid())
    .bind(event.occurred_at)
    .bind(event.actor_user_id.map(|a| a.as_uuid()))
    .bind(&event.action)
    .bind(&event.target_type)
    .bind(event.target_id)
    .bind(&event.request_id)
    .bind(event.prev_hash.as_slice())
    .bind(event.hash.as_slice())
    .execute(tx.conn())
    .await?;
    sqlx::query("UPDATE audit_heads SET seq = $2, hash = $3 WHERE org_id = $1")
        .bind(org)
        .bind(event.seq)
        .bind(event.hash.as_slice())
        .execute(tx.conn())
        .await?;
    Ok(event)
}

/// Which events a listing shows: each set field must match (all are ANDed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only events before this sequence number (exclusive): the paging cursor.
    pub before_seq: Option<i64>,
    /// Only events by this user.
    pub actor: Option<UserId>,
    /// Only events with this action, e.g. `case.create`.
    pub action: Option<String>,
    /// Only events on this kind of object, e.g. `case`.
    pub target_type: Option<String>,
    /// Only events on this object.
    pub target_id: Option<uuid::Uuid>,
}

/// Events newest first that match `filter`, at most `limit`.
pub async fn list(
    tx: &mut TenantTx,
    filter: &AuditFilter,
    limit: u32,
) -> Result<Vec<AuditEvent>, DbError> {
    let rows: Vec<EventRow> = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE org_id = $1 \
           AND ($2::bigint IS NULL OR seq < $2) \
           AND ($4::uuid IS NULL OR actor_user_id = $4) \
           AND ($5::text IS NULL OR action = $5) \
           AND ($6::text IS NULL OR target_type = $6) \
           AND ($7::uuid IS NULL OR target_id = $7) \
         ORDER BY seq DESC LIMIT $3"
    ))
    .bind(tx.actor().org_id.as_uuid())
    .bind(filter.before_seq)
    .bind(i64::from(limit))
    .bind(filter.actor.map(|a| a.as_uuid()))
    .bind(filter.action.as_deref())
    .bind(filter.target_type.as_deref())
    .bind(filter.target_id)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// One way the chain can be broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainProblem {
    /// The event's stored hash does not match its fields: it was edited.
    Edited {
        /// Sequence number of the event.
        seq: i64,
    },
    /// The event does not link to the one before it: an event before it was
    /// removed, or events were reordered.
    BrokenLink {
        /// Sequence number of the event.
        seq: i64,
    },
    /// Sequence numbers jump: events were deleted.
    Missing {
        /// The sequence number expected.
        expected: i64,
        /// The sequence number found.
        found: i64,
    },
    /// The chain ends somewhere other than the recorded head: its tail was removed
    /// or the head was altered.
    HeadMismatch {
        /// Last sequence number in the chain.
        chain_seq: i64,
        /// Sequence number recorded in the head.
        head_seq: i64,
    },
}

impl ChainProblem {
    /// The sequence number where the chain stops being trustworthy: the
    /// edited or unlinked event, the first missing one, or, when the head
    /// disagrees, the event after the shorter of chain and head.
    pub fn seq(&self) -> i64 {
        match *self {
            ChainProblem::Edited { seq } | ChainProblem::BrokenLink { seq } => seq,
            ChainProblem::Missing { expected, .. } => expected,
            ChainProblem::HeadMismatch {
                chain_seq,
                head_seq,
            } if chain_seq == head_seq => chain_seq,
            ChainProblem::HeadMismatch {
                chain_seq,
                head_seq,
            } => chain_seq.min(head_seq) + 1,
        }
    }
}

impl std::fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainProblem::Edited { seq } => write!(f, "event {seq} was edited"),
            ChainProblem::BrokenLink { seq } => {
                write!(
                    f,
                    "event {seq} does not follow the event before it (removed or reordered)"
                )
            }
            ChainProblem::Missing { expected, found } => {
                write!(f, "events {expected}..{found} are missing")
            }
            ChainProblem::HeadMismatch {
                chain_seq,
                head_seq,
            } => write!(
                f,
                "the chain ends at event {chain_seq} but the head records event {head_seq}"
            ),
        }
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// How many events were checked.
    pub events: u64,
    /// Every problem found, in chain order. Empty means intact.
    pub problems: Vec<ChainProblem>,
}

/// Walks the org's whole chain and reports every break.
pub async fn verify(tx: &mut TenantTx) -> Result<Verification, DbError> {
    let org = tx.actor().org_id.as_uuid();
    let mut problems = Vec::new();
    let mut events = 0u64;
    let mut expected_seq = 1i64;
    let mut prev_hash = GENESIS;
    let mut after = 0i64;
    loop {
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events WHERE org_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT 1000"
        ))
        .bind(org)
        .bind(after)
        .fetch_all(tx.conn())
        .await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let event = AuditEvent::from(row);
            events += 1;
            after = event.seq;
            if event.seq != expected_seq {
                problems.push(ChainProblem::Missing {
                    expected: expected_seq,
                    found: event.seq,
                });
            }
            if event.compute_hash() != event.hash {
                problems.push(ChainProblem::Edited { seq: event.seq });
            }
            if event.prev_hash != prev_hash {
                problems.push(ChainProblem::BrokenLink { seq: event.seq });
            }
            expected_seq = event.seq + 1;
            prev_hash = event.hash;
        }
    }
    let head: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE org_id = $1")
            .bind(org)
            .fetch_optional(tx.conn())
            .await?;
    let (head_seq, head_hash) = head.map_or((0, GENESIS), |(s, h)| (s, hash32(h)));
    if head_seq != after || head_hash != prev_hash {
        problems.push(ChainProblem::HeadMismatch {
            chain_seq: after,
            head_seq,
        });
    }
    Ok(Verification { events, problems })
}

#[cfg(test)]
mod tests {
    use super::ChainProblem;

    #[test]
    fn each_problem_names_where_the_chain_stops_being_trustworthy() {
        assert_eq!(ChainProblem::Edited { seq: 4 }.seq(), 4);
        assert_eq!(ChainProblem::BrokenLink { seq: 5 }.seq(), 5);
        let gap = ChainProblem::Missing {
            expected: 3,
            found: 6,
        };
        assert_eq!(gap.seq(), 3);
        // A removed tail: the first event the head says exists.
        let tail = ChainProblem::HeadMismatch {
            chain_seq: 7,
            head_seq: 9,
        };
        assert_eq!(tail.seq(), 8);
        // A head set back: the first event it no longer covers.
        let behind = ChainProblem::HeadMismatch {
            chain_seq: 9,
            head_seq: 7,
        };
        assert_eq!(behind.seq(), 8);
        // Same length, other hash: the last event disagrees with the head.
        let rehashed = ChainProblem::HeadMismatch {
            chain_seq: 9,
            head_seq: 9,
        };
        assert_eq!(rehashed.seq(), 9);
    }
}
