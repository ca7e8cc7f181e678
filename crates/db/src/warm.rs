//! Connections handed from one request's transaction straight to the next.
//!
//! sqlx's pool tests every connection that comes back to it with a round
//! trip (a `Sync`, answered by `ReadyForQuery`) and offers no way to skip
//! it. A connection whose `COMMIT` (or `ROLLBACK`) Postgres has just
//! answered needs no such test: it is open, idle and outside any
//! transaction, so none of the transaction's `SET LOCAL` settings are left
//! on it. [`Warm`] keeps such connections and gives them to the next
//! tenant transaction, the most recently kept first (docs/PERFORMANCE.md
//! has what the saved round trip is worth).
//!
//! Only tenant transactions (a request's) take connections here. They wait
//! for a kept connection, or for room to take a new one from the pool, in
//! one queue, in turn. At most one connection fewer than the pool holds
//! circulate here at a time, counted from when they are taken from the pool
//! until they go back to it, so at least one always returns to sqlx's own
//! queue: the work that uses the pool directly (sign-in, the workers) is
//! never starved by a flood of requests. A kept connection idle for
//! [`crate::tx::PING_WHEN_IDLE_FOR`] or more is pinged before it is given
//! out (as the pool pings its own), and one that has circulated for longer
//! than [`KEEP_FOR`] goes back to the pool, which applies its own lifetime
//! rules.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};
use tokio::sync::Semaphore;

use crate::tx::PING_WHEN_IDLE_FOR;
use crate::DbError;

/// A connection circulates through [`Warm`] for at most this long, then
/// goes back to the pool.
const KEEP_FOR: Duration = Duration::from_secs(10 * 60);

/// The connections kept for the next caller (see the module's comment).
///
/// Callers queue on `units` in turn (tokio's semaphore is first come, first
/// served): a unit is a kept connection, or room for one more connection to
/// join, so no caller waits while another one, arriving later, is handed a
/// kept connection ahead of it.
#[derive(Debug)]
pub(crate) struct Warm {
    state: Mutex<State>,
    /// One permit per kept connection and per free place in the set.
    units: Semaphore,
    /// The most connections circulating here at once.
    cap: usize,
}

#[derive(Debug, Default)]
struct State {
    /// Kept connections, the most recently kept last.
    idle: Vec<Kept>,
    /// Connections circulating here: kept, or out with a [`Lease`] that
    /// belongs here.
    members: usize,
    /// Set by [`Warm::release_idle`] (the pool is closing): nothing more is
    /// kept, so every connection goes back to the pool.
    closed: bool,
}

#[derive(Debug)]
struct Kept {
    conn: PoolConnection<Postgres>,
    /// When it was kept (its idle time).
    kept_at: Instant,
    /// When it began circulating here.
    joined: Instant,
}

/// A connection taken with [`Warm::take`] (or from a pool alone): derefs to
/// the connection. Dropped, it goes back to the pool (which tests it and
/// ends any transaction left open); [`Lease::keep`] instead keeps it for the
/// next caller when it circulates here.
#[derive(Debug)]
pub(crate) struct Lease {
    /// `Some` until kept or dropped.
    conn: Option<PoolConnection<Postgres>>,
    /// The set it circulates in, with when it joined: `None` for one that
    /// goes back to the pool.
    member: Option<(Arc<Warm>, Instant)>,
}

impl Warm {
    /// A set for connections of `pool`, keeping one fewer than the pool
    /// holds (none for a pool of one).
    pub(crate) fn for_pool(pool: &PgPool) -> Arc<Self> {
        let cap = (pool.options().get_max_connections() as usize).saturating_sub(1);
        Arc::new(Warm {
            state: Mutex::new(State::default()),
            units: Semaphore::new(cap),
            cap,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connections kept now (idle, ready for the next caller).
    pub(crate) fn idle(&self) -> usize {
        self.state().idle.len()
    }

    /// Gives the kept connections back to the pool, and from now on keeps
    /// none (the pool is closing).
    pub(crate) fn release_idle(&self) {
        let idle = {
            let mut state = self.state();
            state.closed = true;
            std::mem::take(&mut state.idle)
        };
        for kept in idle {
            // Each leaves the set as it goes back (a waiting caller may then
            // take a new one from the pool).
            drop(kept.conn);
            self.leave();
        }
    }

    /// A member leaves the set: its place is free for the next caller.
    fn leave(&self) {
        self.state().members -= 1;
        self.units.add_permits(1);
    }

    /// The most recently kept connection (pinged first when it has been
    /// idle a while), else a new one from `pool`; in turn with other
    /// callers, for at most the pool's acquire timeout.
    pub(crate) async fn take(self: &Arc<Self>, pool: &PgPool) -> Result<Lease, DbError> {
        if self.cap == 0 {
            return Ok(Lease::pooled(pool.acquire().await?));
        }
        let wait = pool.options().get_acquire_timeout();
        match tokio::time::timeout(wait, self.units.acquire()).await {
            Ok(Ok(permit)) => permit.forget(),
            // (The semaphore is never closed.)
            Ok(Err(_)) | Err(_) => return Err(sqlx::Error::PoolTimedOut.into()),
        }
        // The unit is this caller's: a kept connection, or a free place.
        let kept = {
            let mut state = self.state();
            let kept = state.idle.pop();
            if kept.is_none() {
                state.members += 1;
            }
            kept
        };
        let mut lease = Lease {
            conn: None,
            member: Some((
                Arc::clone(self),
                kept.as_ref().map_or_else(Instant::now, |k| k.joined),
            )),
        };
        if let Some(kept) = kept {
            let idle_for = kept.kept_at.elapsed();
            lease.conn = Some(kept.conn);
            if idle_for < PING_WHEN_IDLE_FOR {
                return Ok(lease);
            }
            if sqlx::Connection::ping(&mut *lease).await.is_ok() {
                return Ok(lease);
            }
            // Gone while idle: closed as it goes, and a new one takes its place.
            if let Some(mut dead) = lease.conn.take() {
                dead.close_on_drop();
            }
            if let Some((_, joined)) = lease.member.as_mut() {
                *joined = Instant::now();
            }
        }
        // On error the lease drops without a connection: the place is free.
        lease.conn = Some(pool.acquire().await?);
        Ok(lease)
    }
}

impl Lease {
    /// A connection of a pool without a [`Warm`] set.
    pub(crate) fn pooled(conn: PoolConnection<Postgres>) -> Self {
        Lease {
            conn: Some(conn),
            member: None,
        }
    }

    /// Keeps the connection for the next caller, if it circulates in a
    /// [`Warm`] set and has not done so for too long; otherwise it goes
    /// back to the pool. Only for a connection Postgres has just answered,
    /// outside any transaction.
    pub(crate) fn keep(mut self) {
        let conn = self.conn.take();
        // (A connection of no set just goes back to the pool.)
        let Some((warm, joined)) = self.member.take() else {
            return;
        };
        let mut state = warm.state();
        match conn {
            Some(conn) if !state.closed && joined.elapsed() < KEEP_FOR => {
                state.idle.push(Kept {
                    conn,
                    kept_at: Instant::now(),
                    joined,
                });
                drop(state);
                warm.units.add_permits(1);
            }
            // Back to the pool first, then its place is free.
            _ => {
                drop(state);
                drop(conn);
                warm.leave();
            }
        }
    }

    /// Closes the connection instead of giving it back (it failed).
    pub(crate) fn close(mut self) {
        if let Some(conn) = self.conn.as_mut() {
            conn.close_on_drop();
        }
    }
}

impl Deref for Lease {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.conn.as_deref().expect("a lease holds its connection")
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn
            .as_deref_mut()
            .expect("a lease holds its connection")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Not kept: the connection (if still here) goes back to the pool and
        // no longer circulates in the set.
        if let Some((warm, _)) = self.member.take() {
            warm.leave();
        }
    }
}
