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

use accord_api::live::{LiveDirectory, LiveFuture, PlaceError, PlaceFuture};
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
/// from the SFU in this process, if it runs one (a node's sessions show in
/// the overview of an API in the same process), and every session placed
/// through [`Placement`].
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

impl LiveDirectory for PlacedDirectory {
    fn live(&self, org: OrgId) -> LiveFuture<'_> {
        match &self.local {
            Some(local) => local.live(org),
            None => Box::pin(async { Vec::new() }),
        }
    }

    fn place(&self, session: SessionId) -> PlaceFuture<'_> {
        Box::pin(async move { self.placement.place(session).await.map(Some) })
    }
}
