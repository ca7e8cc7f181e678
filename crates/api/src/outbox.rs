//! Delivery of messages that carry links (password setup, reset).
//!
//! The product's mail service (SMTP, templates, calendars) plugs in behind this
//! trait; the file outbox writes each message as a JSON file, for the embedded
//! default and for tests. Message bodies hold secrets (links) and personal data:
//! they are never logged.

use std::path::PathBuf;

/// A message to one person.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OutboundMessage {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

/// Somewhere messages go.
pub trait Outbox: Send + Sync {
    /// Hands a message over for delivery.
    fn deliver(&self, message: &OutboundMessage) -> std::io::Result<()>;
}

/// Writes each message as `<time>-<id>.json` in a directory.
#[derive(Debug, Clone)]
pub struct FileOutbox {
    dir: PathBuf,
}

impl FileOutbox {
    /// An outbox in `dir` (created when missing).
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(FileOutbox { dir })
    }

    /// Every message in the outbox, oldest first.
    pub fn messages(&self) -> std::io::Result<Vec<OutboundMessage>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|p| {
                let bytes = std::fs::read(p)?;
                serde_json::from_slice(&bytes).map_err(std::io::Error::other)
            })
            .collect()
    }
}

impl Outbox for FileOutbox {
    fn deliver(&self, message: &OutboundMessage) -> std::io::Result<()> {
        let name = format!(
            "{}-{}.json",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f"),
            uuid::Uuid::new_v4()
        );
        let tmp = self.dir.join(format!(".{name}.tmp"));
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(message).map_err(std::io::Error::other)?,
        )?;
        // Rename so a reader never sees half a message.
        std::fs::rename(tmp, self.dir.join(name))
    }
}
