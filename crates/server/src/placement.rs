//! Placing live sessions on SFU nodes (with `[redis]`): a session runs on
//! one node, chosen when its first participant asks for a join token: the
//! least-loaded node among those that announced themselves within
//! [`STALE_AFTER`] (load: participants, plus sessions and fresh placements
//! it has not reported yet; ties go to fewer forwarded packets per second).
//! One Lua script reads the current placement and writes the new one, so two
//! joins at once cannot place a session on two nodes. A session placed on a
//! node that stopped announcing itself is placed again, and its participants'
//! reconnections find it there.

use std::sync::Arc;

use accord_api::live::{LiveDirectory, LiveFuture, LiveSessionInfo, PlaceError, PlaceFuture};
use accord_domain::{OrgId, SessionId};
use accord_sfu::registry::STALE_AFTER;

use crate::redis::{Redis, COMMAND_DEADLINE, NOW_MS, PLACEMENT_TTL, RECENT_PLACEMENT};

/// Places sessions on the SFU nodes registered in Redis.
pub struct Placement {
    redis: Redis,
    place: redis::Script,
}

impl std::fmt::Debug for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Placement").finish_non_exhaustive()
    }
}

impl Placement {
    /// Over `redis`.
    pub fn new(redis: Redis) -> Placement {
        Placement {
            redis,
            place: redis::Script::new(&format!(
                "{NOW_MS}\
                 local stale = now - tonumber(ARGV[1])\n\
                 local prefix = ARGV[3]\n\
                 local cur = redis.call('GET', KEYS[1])\n\
                 if cur then\n\
                   local hb = redis.call('ZSCORE', KEYS[2], cur)\n\
                   if hb and tonumber(hb) >= stale then\n\
                     local url = redis.call('HGET', prefix .. 'node:' .. cur, 'url')\n\
                     if url then return url end\n\
                   end\n\
                 end\n\
                 local best, best_load, best_pps, best_url\n\
                 for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], stale, '+inf')) do\n\
                   local h = redis.call('HMGET', prefix .. 'node:' .. id, 'url', 'participants', 'pps', 'sessions')\n\
                   if h[1] then\n\
                     local recent = prefix .. 'placed:' .. id\n\
                     redis.call('ZREMRANGEBYSCORE', recent, '-inf', now - tonumber(ARGV[4]))\n\
                     local load = tonumber(h[2] or '0') + 2 * tonumber(h[4] or '0') + 2 * redis.call('ZCARD', recent)\n\
                     local pps = tonumber(h[3] or '0')\n\
                     if not best or load < best_load\n\
                        or (load == best_load and (pps < best_pps or (pps == best_pps and id < best))) then\n\
                       best, best_load, best_pps, best_url = id, load, pps, h[1]\n\
                     end\n\
                   end\n\
                 end\n\
                 if not best then return false end\n\
                 redis.call('SET', KEYS[1], best, 'PX', ARGV[2])\n\
                 local recent = prefix .. 'placed:' .. best\n\
                 redis.call('ZADD', recent, now, KEYS[1])\n\
                 redis.call('PEXPIRE', recent, ARGV[4])\n\
                 return best_url"
            )),
        }
    }

    /// The signaling URL of the node `session` runs on, placing it now when
    /// it runs on no healthy node.
    pub async fn place(&self, session: SessionId) -> Result<String, PlaceError> {
        let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let mut conn = self.redis.conn();
        let mut call = self.place.prepare_invoke();
        call.key(self.redis.key("session", session.as_uuid()))
            .key(self.redis.nodes_key())
            .arg(millis(STALE_AFTER))
            .arg(millis(PLACEMENT_TTL))
            .arg(self.redis.prefix())
            .arg(millis(RECENT_PLACEMENT));
        let url: Option<String> =
            tokio::time::timeout(COMMAND_DEADLINE, call.invoke_async(&mut conn))
                .await
                .map_err(|_| PlaceError(format!("redis: no answer within {COMMAND_DEADLINE:?}")))?
                .map_err(|e| PlaceError(format!("redis: {e}")))?;
        url.ok_or_else(|| PlaceError("no SFU node is healthy".into()))
    }
}

/// The API's [`LiveDirectory`] with several SFU nodes: live sessions read
/// from the SFU in this process, if it runs one, and from what every node
/// publishes in Redis (so an API with `--only api` sees the sessions its
/// nodes run); every session placed through [`Placement`].
pub struct PlacedDirectory {
    local: Option<Arc<dyn LiveDirectory>>,
    placement: Placement,
}

impl std::fmt::Debug for PlacedDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlacedDirectory")
            .field("local", &self.local.is_some())
            .finish_non_exhaustive()
    }
}

impl PlacedDirectory {
    /// Over the SFU in this process (`local`, if any) and `placement`.
    pub fn new(local: Option<Arc<dyn LiveDirectory>>, placement: Placement) -> Arc<Self> {
        Arc::new(PlacedDirectory { local, placement })
    }
}

/// The API's directory: over the SFU in this process (`local`) and, with
/// `[redis]`, placing sessions on the registered nodes.
pub fn directory(
    local: Option<Arc<crate::live_directory::HubDirectory>>,
    redis: Option<Redis>,
) -> Option<Arc<dyn LiveDirectory>> {
    let local = local.map(|l| l as Arc<dyn LiveDirectory>);
    match redis {
        Some(redis) => Some(PlacedDirectory::new(local, Placement::new(redis))),
        None => local,
    }
}

impl PlacedDirectory {
    /// The sessions of `org` the nodes published, within [`COMMAND_DEADLINE`];
    /// entries whose view expired (their node stopped) are dropped from the
    /// org's index on the way.
    async fn published(&self, org: OrgId) -> Result<Vec<LiveSessionInfo>, String> {
        let redis = &self.placement.redis;
        let index = redis.key("live-index", org.as_uuid());
        let read = async {
            let mut conn = redis.conn();
            let sessions: Vec<String> = redis::cmd("SMEMBERS")
                .arg(&index)
                .query_async(&mut conn)
                .await
                .map_err(|e| format!("redis: {e}"))?;
            if sessions.is_empty() {
                return Ok(Vec::new());
            }
            let keys: Vec<String> = sessions
                .iter()
                .map(|s| redis.key("live", format!("{}:{s}", org.as_uuid())))
                .collect();
            let views: Vec<Option<String>> = redis::cmd("MGET")
                .arg(&keys)
                .query_async(&mut conn)
                .await
                .map_err(|e| format!("redis: {e}"))?;
            let gone: Vec<&String> = sessions
                .iter()
                .zip(&views)
                .filter(|(_, v)| v.is_none())
                .map(|(s, _)| s)
                .collect();
            if !gone.is_empty() {
                let _: Result<i64, _> = redis::cmd("SREM")
                    .arg(&index)
                    .arg(&gone)
                    .query_async(&mut conn)
                    .await;
            }
            Ok(views
                .into_iter()
                .flatten()
                .filter_map(|json| {
                    serde_json::from_str::<crate::live_directory::Published>(&json).ok()
                })
                .filter_map(crate::live_directory::Published::into_info)
                .collect())
        };
        tokio::time::timeout(COMMAND_DEADLINE, read)
            .await
            .map_err(|_| format!("redis: no answer within {COMMAND_DEADLINE:?}"))?
    }
}

impl LiveDirectory for PlacedDirectory {
    fn live(&self, org: OrgId) -> LiveFuture<'_> {
        Box::pin(async move {
            let mut live = match &self.local {
                Some(local) => local.live(org).await,
                None => Vec::new(),
            };
            // What other processes' nodes run; this process's own answer wins.
            match self.published(org).await {
                Ok(published) => {
                    for s in published {
                        if !live.iter().any(|l| l.session_id == s.session_id) {
                            live.push(s);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading the live sessions the SFU nodes publish")
                }
            }
            live.sort_by_key(|s| (s.started_at, s.session_id.as_uuid()));
            live
        })
    }

    fn place(&self, session: SessionId) -> PlaceFuture<'_> {
        Box::pin(async move { self.placement.place(session).await.map(Some) })
    }
}
