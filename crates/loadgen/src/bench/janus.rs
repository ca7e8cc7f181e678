//! A client for Janus's HTTP API and its videoroom plugin (Janus 1.x,
//! multistream): sessions, handles, synchronous and asynchronous plugin
//! requests, and a long-poll loop that routes events to their handles.
//!
//! The message builders and parsers are plain functions of JSON so they can be
//! tested without a server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The videoroom plugin's package name.
pub const VIDEOROOM: &str = "janus.plugin.videoroom";

/// What went wrong talking to Janus.
#[derive(Debug, thiserror::Error)]
pub enum JanusError {
    /// The HTTP request failed.
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// Janus answered `{"janus":"error"}`.
    #[error("Janus error {code}: {reason}")]
    Janus {
        /// Janus's error code.
        code: i64,
        /// Its reason.
        reason: String,
    },
    /// The plugin answered with an `error_code`.
    #[error("videoroom error {code}: {reason}")]
    Plugin {
        /// The plugin's error code.
        code: i64,
        /// Its reason.
        reason: String,
    },
    /// Something else unexpected.
    #[error("unexpected from Janus: {0}")]
    Protocol(String),
    /// No answer in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
}

// ---------------------------------------------------------------- messages

/// `{"janus":"create"}`: a new session.
pub fn create_session(transaction: &str) -> Value {
    json!({ "janus": "create", "transaction": transaction })
}

/// `{"janus":"attach"}`: a handle on `plugin`.
pub fn attach(transaction: &str, plugin: &str) -> Value {
    json!({ "janus": "attach", "plugin": plugin, "transaction": transaction })
}

/// `{"janus":"message"}` to a plugin, with an optional JSEP (`offer`/`answer`).
pub fn message(transaction: &str, body: Value, jsep: Option<(&str, &str)>) -> Value {
    let mut m = json!({ "janus": "message", "transaction": transaction, "body": body });
    if let Some((kind, sdp)) = jsep {
        m["jsep"] = json!({ "type": kind, "sdp": sdp, "trickle": false });
    }
    m
}

/// `{"janus":"destroy"}`: ends a session.
pub fn destroy(transaction: &str) -> Value {
    json!({ "janus": "destroy", "transaction": transaction })
}

/// Videoroom `create`: a room for `publishers` publishers, VP8 and Opus, no
/// bit-rate cap, not recorded, not listed.
pub fn create_room(room: u64, publishers: usize) -> Value {
    json!({
        "request": "create",
        "room": room,
        "publishers": publishers,
        "bitrate": 0,
        "videocodec": "vp8",
        "audiocodec": "opus",
        "is_private": true,
        "record": false,
        "notify_joining": false,
        "audiolevel_event": false,
        "permanent": false,
    })
}

/// Videoroom `destroy` of a room.
pub fn destroy_room(room: u64) -> Value {
    json!({ "request": "destroy", "room": room })
}

/// Videoroom `join` as a publisher.
pub fn join_publisher(room: u64, display: &str) -> Value {
    json!({ "request": "join", "ptype": "publisher", "room": room, "display": display })
}

/// Videoroom `configure` of a publisher (sent with the offer).
pub fn configure() -> Value {
    json!({ "request": "configure", "audio": true, "video": true })
}

fn feed_streams(feeds: &[u64]) -> Vec<Value> {
    feeds.iter().map(|f| json!({ "feed": f })).collect()
}

/// Videoroom `join` as a (multistream) subscriber of every stream of `feeds`.
pub fn join_subscriber(room: u64, feeds: &[u64]) -> Value {
    json!({
        "request": "join",
        "ptype": "subscriber",
        "room": room,
        "use_msid": false,
        "streams": feed_streams(feeds),
    })
}

/// Videoroom `subscribe`: adds every stream of `feeds` to a subscription.
pub fn subscribe(feeds: &[u64]) -> Value {
    json!({ "request": "subscribe", "streams": feed_streams(feeds) })
}

/// Videoroom `start` (sent with the subscriber's answer).
pub fn start() -> Value {
    json!({ "request": "start" })
}

// ----------------------------------------------------------------- parsing

/// Fails on `{"janus":"error"}`.
pub fn check(reply: &Value) -> Result<(), JanusError> {
    if reply["janus"] == "error" {
        return Err(JanusError::Janus {
            code: reply["error"]["code"].as_i64().unwrap_or(0),
            reason: reply["error"]["reason"]
                .as_str()
                .unwrap_or("(no reason)")
                .to_owned(),
        });
    }
    Ok(())
}

/// The `data.id` of a `success` (a session's or a handle's id).
pub fn success_id(reply: &Value) -> Result<u64, JanusError> {
    check(reply)?;
    if reply["janus"] != "success" {
        return Err(JanusError::Protocol(format!(
            "expected success, got {reply}"
        )));
    }
    reply["data"]["id"]
        .as_u64()
        .ok_or_else(|| JanusError::Protocol(format!("no data.id in {reply}")))
}

/// The plugin's answer in a `success` or `event`, failing on an `error_code`.
pub fn plugin_data(reply: &Value) -> Result<&Value, JanusError> {
    check(reply)?;
    let data = &reply["plugindata"]["data"];
    if data.is_null() {
        return Err(JanusError::Protocol(format!("no plugindata in {reply}")));
    }
    if let Some(code) = data["error_code"].as_i64() {
        return Err(JanusError::Plugin {
            code,
            reason: data["error"].as_str().unwrap_or("(no reason)").to_owned(),
        });
    }
    Ok(data)
}

/// The `(type, sdp)` of a message's JSEP, if it carries one.
pub fn jsep(reply: &Value) -> Option<(&str, &str)> {
    Some((
        reply["jsep"]["type"].as_str()?,
        reply["jsep"]["sdp"].as_str()?,
    ))
}

/// The events of a long-poll answer: an array (with `maxev`) or one object;
/// keep-alives are dropped.
pub fn events(body: Value) -> Vec<Value> {
    let all = match body {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        one => vec![one],
    };
    all.into_iter()
        .filter(|e| e["janus"] != "keepalive")
        .collect()
}

// ------------------------------------------------------------------ client

type Routes = Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<Value>>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One Janus session and its event poller.
pub struct Session {
    http: reqwest::Client,
    url: String,
    id: u64,
    routes: Routes,
    poller: JoinHandle<()>,
    next_tx: AtomicU64,
    timeout: Duration,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("id", &self.id).finish()
    }
}

/// A handle on a plugin, with its events.
#[derive(Debug)]
pub struct Handle {
    session: Arc<Session>,
    id: u64,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Value>>,
}

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> Result<Value, JanusError> {
    Ok(http
        .post(url)
        .json(body)
        .send()
        .await?
        .error_for_status()?
        .json::<Value>()
        .await?)
}

impl Session {
    /// Creates a session at `url` (e.g. `http://198.18.0.2:8088/janus`) and
    /// starts long-polling its events.
    pub async fn create(url: &str, timeout: Duration) -> Result<Arc<Session>, JanusError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let url = url.trim_end_matches('/').to_owned();
        let id = success_id(&post(&http, &url, &create_session("create")).await?)?;
        let routes: Routes = Arc::default();
        let poller = tokio::spawn(poll(
            http.clone(),
            format!("{url}/{id}"),
            Arc::clone(&routes),
        ));
        Ok(Arc::new(Session {
            http,
            url,
            id,
            routes,
            poller,
            next_tx: AtomicU64::new(1),
            timeout,
        }))
    }

    fn transaction(&self) -> String {
        format!("t{}", self.next_tx.fetch_add(1, Ordering::Relaxed))
    }

    /// Attaches a handle to `plugin`.
    pub async fn attach(self: &Arc<Self>, plugin: &str) -> Result<Handle, JanusError> {
        let reply = post(
            &self.http,
            &format!("{}/{}", self.url, self.id),
            &attach(&self.transaction(), plugin),
        )
        .await?;
        let id = success_id(&reply)?;
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.routes).insert(id, tx);
        Ok(Handle {
            session: Arc::clone(self),
            id,
            events: tokio::sync::Mutex::new(rx),
        })
    }

    /// Destroys the session (best effort) and stops polling.
    pub async fn destroy(&self) {
        let url = format!("{}/{}", self.url, self.id);
        if let Err(e) = post(&self.http, &url, &destroy(&self.transaction())).await {
            tracing::debug!(error = %e, "destroying a Janus session");
        }
        self.poller.abort();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// Long-polls `url` and hands each event to the handle it names.
async fn poll(http: reqwest::Client, url: String, routes: Routes) {
    let mut rid: u64 = 0;
    loop {
        rid += 1;
        let reply = http
            .get(format!("{url}?maxev=20&rid={rid}"))
            .send()
            .await
            .and_then(|r| r.error_for_status());
        let body = match reply {
            Ok(r) => r.json::<Value>().await,
            Err(e) => Err(e),
        };
        match body {
            Ok(body) => {
                for event in events(body) {
                    if event["janus"] == "error" {
                        tracing::warn!(%event, "Janus long poll");
                        return;
                    }
                    let sender = event["sender"].as_u64().unwrap_or(0);
                    if let Some(tx) = lock(&routes).get(&sender) {
                        let _ = tx.send(event);
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "Janus long poll");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

impl Handle {
    fn url(&self) -> String {
        format!("{}/{}/{}", self.session.url, self.session.id, self.id)
    }

    /// A request the plugin answers at once (`create`, `destroy`, …): its data.
    pub async fn request(&self, body: Value) -> Result<Value, JanusError> {
        let reply = post(
            &self.session.http,
            &self.url(),
            &message(&self.session.transaction(), body, None),
        )
        .await?;
        Ok(plugin_data(&reply)?.clone())
    }

    /// A request answered by an event (`join`, `configure`, `start`, …): the
    /// whole event (with its `jsep`, if any).
    pub async fn request_async(
        &self,
        body: Value,
        jsep: Option<(&str, &str)>,
    ) -> Result<Value, JanusError> {
        let transaction = self.session.transaction();
        let reply = post(
            &self.session.http,
            &self.url(),
            &message(&transaction, body, jsep),
        )
        .await?;
        check(&reply)?;
        if reply["janus"] == "success" {
            // Answered at once after all.
            plugin_data(&reply)?;
            return Ok(reply);
        }
        if reply["janus"] != "ack" {
            return Err(JanusError::Protocol(format!("expected ack, got {reply}")));
        }
        let mut events = self.events.lock().await;
        tokio::time::timeout(self.session.timeout, async {
            while let Some(event) = events.recv().await {
                if event["janus"] == "event" && event["transaction"] == transaction.as_str() {
                    plugin_data(&event)?;
                    return Ok(event);
                }
            }
            Err(JanusError::Protocol("the event stream ended".into()))
        })
        .await
        .map_err(|_| JanusError::Timeout("a videoroom event"))?
    }

    /// Detaches (best effort).
    pub async fn detach(&self) {
        let body = json!({ "janus": "detach", "transaction": self.session.transaction() });
        if let Err(e) = post(&self.session.http, &self.url(), &body).await {
            tracing::debug!(error = %e, "detaching a Janus handle");
        }
        lock(&self.session.routes).remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_core_messages() {
        assert_eq!(
            create_session("a"),
            json!({ "janus": "create", "transaction": "a" })
        );
        assert_eq!(
            attach("b", VIDEOROOM),
            json!({ "janus": "attach", "plugin": "janus.plugin.videoroom", "transaction": "b" })
        );
        assert_eq!(
            message("c", configure(), Some(("offer", "v=0\r\n"))),
            json!({
                "janus": "message",
                "transaction": "c",
                "body": { "request": "configure", "audio": true, "video": true },
                "jsep": { "type": "offer", "sdp": "v=0\r\n", "trickle": false },
            })
        );
        assert!(message("d", start(), None).get("jsep").is_none());
    }

    #[test]
    fn builds_videoroom_requests() {
        let room = create_room(42, 6);
        assert_eq!(room["request"], "create");
        assert_eq!(room["room"], 42);
        assert_eq!(room["publishers"], 6);
        assert_eq!(room["videocodec"], "vp8");
        assert_eq!(
            join_publisher(42, "bot"),
            json!({ "request": "join", "ptype": "publisher", "room": 42, "display": "bot" })
        );
        let sub = join_subscriber(42, &[7, 9]);
        assert_eq!(sub["ptype"], "subscriber");
        assert_eq!(sub["streams"], json!([{ "feed": 7 }, { "feed": 9 }]));
        assert_eq!(
            subscribe(&[3]),
            json!({ "request": "subscribe", "streams": [{ "feed": 3 }] })
        );
        assert_eq!(
            destroy_room(42),
            json!({ "request": "destroy", "room": 42 })
        );
    }

    #[test]
    fn parses_ids_and_errors() {
        let ok = json!({ "janus": "success", "transaction": "a", "data": { "id": 123 } });
        assert_eq!(success_id(&ok).ok(), Some(123));
        let err =
            json!({ "janus": "error", "error": { "code": 458, "reason": "No such session" } });
        match success_id(&err) {
            Err(JanusError::Janus { code, reason }) => {
                assert_eq!(code, 458);
                assert_eq!(reason, "No such session");
            }
            other => panic!("expected a Janus error, got {other:?}"),
        }
        assert!(matches!(
            success_id(&json!({ "janus": "ack" })),
            Err(JanusError::Protocol(_))
        ));
    }

    #[test]
    fn parses_plugin_events() {
        let joined = json!({
            "janus": "event", "sender": 5, "transaction": "t1",
            "plugindata": { "plugin": VIDEOROOM, "data": { "videoroom": "joined", "room": 42, "id": 99 } },
        });
        assert_eq!(
            plugin_data(&joined).ok().map(|d| d["id"].clone()),
            Some(json!(99))
        );
        assert_eq!(jsep(&joined), None);
        let answered = json!({
            "janus": "event",
            "plugindata": { "plugin": VIDEOROOM, "data": { "videoroom": "event", "configured": "ok" } },
            "jsep": { "type": "answer", "sdp": "v=0" },
        });
        assert_eq!(jsep(&answered), Some(("answer", "v=0")));
        let refused = json!({
            "janus": "event",
            "plugindata": { "plugin": VIDEOROOM, "data": { "videoroom": "event", "error_code": 426, "error": "No such room" } },
        });
        assert!(matches!(
            plugin_data(&refused),
            Err(JanusError::Plugin { code: 426, .. })
        ));
    }

    #[test]
    fn splits_long_poll_answers() {
        assert!(events(json!({ "janus": "keepalive" })).is_empty());
        assert_eq!(events(json!({ "janus": "webrtcup", "sender": 1 })).len(), 1);
        let many = json!([
            { "janus": "webrtcup", "sender": 1 },
            { "janus": "keepalive" },
            { "janus": "media", "sender": 1, "type": "video", "receiving": true },
        ]);
        assert_eq!(events(many).len(), 2);
        assert!(events(Value::Null).is_empty());
    }
}
