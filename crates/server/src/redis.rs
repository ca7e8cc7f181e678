//! Redis, where several SFU nodes and the API meet (`[redis]`; optional: one
//! process needs none). It holds, under the configured key prefix:
//!
//! - `sfu:nodes`: a sorted set of node ids by their last heartbeat (Redis's
//!   own clock, so the nodes' clocks never disagree), and `sfu:node:<id>`:
//!   each node's signaling URL and load;
//! - `sfu:session:<id>`: the node a live session is placed on, set
//!   atomically by a script ([`crate::placement`]) and kept alive by that
//!   node's heartbeats;
//! - `sfu:placed:<node>`: the sessions placed on a node in the last few
//!   seconds (counted as load before its heartbeat reports them);
//! - `sfu:room:<id>`: the room state the mediator set, written by the node
//!   that serves the session, read by the one that takes it over.
//!
//! Join tokens' ids are spent in Postgres, which every node shares already.

use std::sync::Arc;
use std::time::Duration;

use accord_sfu::registry::{NodeLoad, NodeRegistry, ROOM_STATE_TTL, STALE_AFTER};
use accord_sfu::store::{StoreError, StoreFuture};
use accord_sfu_core::session::RoomState;
use anyhow::Context as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How long a placement lasts without its node's heartbeat (at least a
/// join token's lifetime: the first participant may connect that late).
pub const PLACEMENT_TTL: Duration = Duration::from_secs(120);
/// How long a fresh placement counts as load on its node.
pub const RECENT_PLACEMENT: Duration = Duration::from_secs(10);
/// How long a node's description outlives its last heartbeat.
const NODE_TTL: Duration = Duration::from_secs(60);
/// How long a node's published view of a live session lasts without being
/// renewed (nodes publish every heartbeat): a stopped node's sessions drop
/// out of the APIs' overview within this.
pub const LIVE_VIEW_TTL: Duration = Duration::from_secs(4);
/// How long an org's index of published sessions lasts without a publish.
const LIVE_INDEX_TTL: Duration = Duration::from_secs(60);
/// How long one Redis command may take.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a request waits for Redis in all (a reconnection included)
/// before it is answered `UNAVAILABLE`: a Redis that stopped answering
/// (not refusing: a paused or partitioned server) must not hold requests.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(3);

/// `[redis]`: where the SFU nodes and the API meet.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSection {
    /// `redis://host:6379/0`, or `rediss://:password@host:6379` for TLS
    /// with a password (a managed Redis).
    #[serde(serialize_with = "redacted")]
    pub url: SecretString,
    /// Prefix of every key, so that deployments (or tests) can share a
    /// server; default `accord`.
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
}

fn default_prefix() -> String {
    "accord".into()
}

fn redacted<S: serde::Serializer>(_: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("[REDACTED]")
}

/// A connection to Redis (reconnecting by itself) and the key prefix.
#[derive(Clone)]
pub struct Redis {
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// Connects as `section` says. A Redis that does not answer yet does not
    /// keep the process from starting (what needs no Redis keeps working):
    /// the connection is made on first use and again after every loss, and
    /// until then what needs it fails promptly (`UNAVAILABLE` for requests).
    /// A URL that does not parse is refused here.
    pub async fn connect(section: &RedisSection) -> anyhow::Result<Redis> {
        // rustls needs a process-wide crypto provider when more than one is
        // built in; a second install (another part got there first) is fine.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = redis::Client::open(section.url.expose_secret())
            .context("the Redis URL (redis.url)")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .context("the Redis connection settings (redis.url)")?;
        let redis = Redis {
            conn,
            prefix: format!("{}:sfu:", section.key_prefix),
        };
        let mut conn = redis.conn();
        let ping = redis::cmd("PING");
        match tokio::time::timeout(COMMAND_DEADLINE, ping.query_async::<String>(&mut conn)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "Redis does not answer yet (redis.url); what needs it is unavailable until it does")
            }
            Err(_) => tracing::warn!(
                "Redis does not answer yet (redis.url); what needs it is unavailable until it does"
            ),
        }
        Ok(redis)
    }

    pub(crate) fn key(&self, kind: &str, id: impl std::fmt::Display) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    pub(crate) fn nodes_key(&self) -> String {
        format!("{}nodes", self.prefix)
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(crate) fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }
}

/// The time on the Redis server, in milliseconds (one clock for every node).
pub(crate) const NOW_MS: &str = "local t = redis.call('TIME')\n\
     local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

/// The signaling URL of the node whose public address is `public_url`.
pub fn signaling_url(public_url: &url::Url) -> String {
    let mut url = public_url.clone();
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    // Both are special schemes, like http(s): the change is allowed.
    let _ = url.set_scheme(scheme);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url.set_query(None);
    url.join("sfu/ws")
        .map(|u| u.to_string())
        .unwrap_or_else(|_| url.to_string())
}

fn store_error(e: redis::RedisError) -> StoreError {
    StoreError(format!("redis: {e}"))
}

/// This SFU node in the registry.
pub struct SfuNode {
    redis: Redis,
    id: Uuid,
    url: String,
    heartbeat: redis::Script,
    claim: redis::Script,
    save: redis::Script,
    ended: redis::Script,
}

impl std::fmt::Debug for SfuNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SfuNode")
            .field("id", &self.id)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl SfuNode {
    /// A new node (a fresh id per process) whose signaling socket clients
    /// reach at `url` (`wss://host/sfu/ws`).
    pub fn new(redis: Redis, url: String) -> Arc<SfuNode> {
        Arc::new(SfuNode {
            redis,
            id: Uuid::new_v4(),
            url,
            heartbeat: redis::Script::new(&format!(
                "{NOW_MS}\
                 redis.call('ZADD', KEYS[1], now, ARGV[1])\n\
                 redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3600000)\n\
                 redis.call('PEXPIRE', KEYS[1], 3600000)\n\
                 redis.call('HSET', KEYS[2], 'url', ARGV[2], 'participants', ARGV[3], 'pps', ARGV[4], 'sessions', ARGV[5])\n\
                 redis.call('PEXPIRE', KEYS[2], ARGV[6])\n\
                 for i = 3, #KEYS, 2 do\n\
                   if redis.call('GET', KEYS[i]) == ARGV[1] then\n\
                     redis.call('PEXPIRE', KEYS[i], ARGV[7])\n\
                     redis.call('PEXPIRE', KEYS[i + 1], ARGV[8])\n\
                   end\n\
                 end\n\
                 return now"
            )),
            claim: redis::Script::new(&format!(
                "{NOW_MS}\
                 local cur = redis.call('GET', KEYS[1])\n\
                 if cur and cur ~= ARGV[1] then\n\
                   local hb = redis.call('ZSCORE', KEYS[2], cur)\n\
                   if hb and tonumber(hb) >= now - tonumber(ARGV[2]) then return 0 end\n\
                 end\n\
                 redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])\n\
                 return 1"
            )),
            save: redis::Script::new(
                "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n\
                 redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])\n\
                 return 1",
            ),
            ended: redis::Script::new(
                "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n\
                 redis.call('DEL', KEYS[1], KEYS[2])\n\
                 return 1",
            ),
        })
    }

    /// This node's id (fresh for each process).
    pub fn id(&self) -> Uuid {
        self.id
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl NodeRegistry for SfuNode {
    fn heartbeat(
        &self,
        load: NodeLoad,
        sessions: Vec<Uuid>,
    ) -> StoreFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut call = self.heartbeat.prepare_invoke();
            call.key(self.redis.nodes_key())
                .key(self.redis.key("node", self.id));
            for session in &sessions {
                call.key(self.redis.key("session", session))
                    .key(self.redis.key("room", session));
            }
            call.arg(self.id.to_string())
                .arg(&self.url)
                .arg(load.participants)
                .arg(load.packets_per_second)
                .arg(load.sessions)
                .arg(millis(NODE_TTL))
                .arg(millis(PLACEMENT_TTL))
                .arg(millis(ROOM_STATE_TTL));
            let _: i64 = call
                .invoke_async(&mut self.redis.conn())
                .await
                .map_err(store_error)?;
            Ok(())
        })
    }

    fn claim(&self, session: Uuid) -> StoreFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut conn = self.redis.conn();
            let mut call = self.claim.prepare_invoke();
            call.key(self.redis.key("session", session))
                .key(self.redis.nodes_key())
                .arg(self.id.to_string())
                .arg(millis(STALE_AFTER))
                .arg(millis(PLACEMENT_TTL));
            // A participant's join waits on this: bounded like a request's.
            let claimed: i64 = tokio::time::timeout(COMMAND_DEADLINE, call.invoke_async(&mut conn))
                .await
                .map_err(|_| StoreError(format!("redis: no answer within {COMMAND_DEADLINE:?}")))?
                .map_err(store_error)?;
            Ok(claimed == 1)
        })
    }

    fn load_room(&self, session: Uuid) -> StoreFuture<'_, Result<Option<RoomState>, StoreError>> {
        Box::pin(async move {
            let json: Option<String> = redis::cmd("GET")
                .arg(self.redis.key("room", session))
                .query_async(&mut self.redis.conn())
                .await
                .map_err(store_error)?;
            json.map(|j| serde_json::from_str(&j))
                .transpose()
                .map_err(|e| StoreError(format!("a kept room state that does not parse: {e}")))
        })
    }

    fn save_room(
        &self,
        session: Uuid,
        state: RoomState,
    ) -> StoreFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let json = serde_json::to_string(&state).map_err(|e| StoreError(e.to_string()))?;
            let saved: i64 = self
                .save
                .key(self.redis.key("session", session))
                .key(self.redis.key("room", session))
                .arg(self.id.to_string())
                .arg(json)
                .arg(millis(ROOM_STATE_TTL))
                .invoke_async(&mut self.redis.conn())
                .await
                .map_err(store_error)?;
            if saved == 0 {
                tracing::warn!(session = %session, "room state not kept: the session is placed on another node");
            }
            Ok(())
        })
    }

    fn publish_live(
        &self,
        live: Vec<accord_sfu::hub::LiveSnapshot>,
    ) -> StoreFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            if live.is_empty() {
                return Ok(());
            }
            let mut pipe = redis::pipe();
            for snapshot in live {
                let org = snapshot.org;
                let session = snapshot.session;
                let view =
                    crate::live_directory::Published::from(&crate::live_directory::info(snapshot));
                let json = serde_json::to_string(&view)
                    .map_err(|e| StoreError(format!("a live session as JSON: {e}")))?;
                let index = self.redis.key("live-index", org);
                pipe.cmd("SET")
                    .arg(self.redis.key("live", format!("{org}:{session}")))
                    .arg(json)
                    .arg("PX")
                    .arg(millis(LIVE_VIEW_TTL))
                    .ignore()
                    .cmd("SADD")
                    .arg(&index)
                    .arg(session.to_string())
                    .ignore()
                    .cmd("PEXPIRE")
                    .arg(&index)
                    .arg(millis(LIVE_INDEX_TTL))
                    .ignore();
            }
            let _: () =
                tokio::time::timeout(COMMAND_DEADLINE, pipe.query_async(&mut self.redis.conn()))
                    .await
                    .map_err(|_| {
                        StoreError(format!("redis: no answer within {COMMAND_DEADLINE:?}"))
                    })?
                    .map_err(store_error)?;
            Ok(())
        })
    }

    fn ended(&self, session: Uuid) -> StoreFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let _: i64 = self
                .ended
                .key(self.redis.key("session", session))
                .key(self.redis.key("room", session))
                .arg(self.id.to_string())
                .invoke_async(&mut self.redis.conn())
                .await
                .map_err(store_error)?;
            Ok(())
        })
    }
}
