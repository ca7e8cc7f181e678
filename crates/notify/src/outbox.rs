//! The file outbox: the embedded default transport, and what tests read.
//!
//! It writes each message as a JSON file (the same [`OutboundMessage`] the
//! queue stores), for development without an SMTP server and for tests. Message bodies hold secrets (links) and personal data:
//! they are never logged, and on Unix the outbox directory is `0700` and each
//! message file `0600`, so other local users cannot read the links.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// A message to one person: the part every transport and test reads.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutboundMessage {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

impl std::fmt::Debug for OutboundMessage {
    // Bodies hold links and personal data: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutboundMessage { .. }")
    }
}

/// A fully rendered mail: the message, its HTML alternative, a calendar
/// part and a stable `Message-ID`. What the job queue stores and a transport
/// sends; the outbox file holds it flat, so it reads as an
/// [`OutboundMessage`] too.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mail {
    /// Recipient, subject and plain-text body.
    #[serde(flatten)]
    pub message: OutboundMessage,
    /// HTML body, sent as the alternative to the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// A calendar invitation or cancellation (RFC 5546), sent inline and as
    /// `invite.ics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<CalendarPart>,
    /// The `Message-ID` (without angle brackets), derived from the job's
    /// idempotency key so that a copy sent twice is recognisably the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("message_id", &self.message_id)
            .finish_non_exhaustive()
    }
}

impl From<OutboundMessage> for Mail {
    fn from(message: OutboundMessage) -> Self {
        Mail {
            message,
            html: None,
            calendar: None,
            message_id: None,
        }
    }
}

/// A `text/calendar` part.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CalendarPart {
    /// The iTIP method: `REQUEST` or `CANCEL`.
    pub method: String,
    /// The iCalendar text.
    pub ics: String,
}

/// Writes each message as `<time>-<id>.json` in a directory.
#[derive(Debug, Clone)]
pub struct FileOutbox {
    dir: PathBuf,
}

impl FileOutbox {
    /// An outbox in `dir`, created `0700` when missing and tightened to `0700`
    /// when it exists with looser permissions.
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        create_private_dir(&dir)?;
        Ok(FileOutbox { dir })
    }

    /// Every message in the outbox, oldest first.
    pub fn messages(&self) -> std::io::Result<Vec<OutboundMessage>> {
        Ok(self.mails()?.into_iter().map(|m| m.message).collect())
    }

    /// Every mail in the outbox, with its HTML and calendar parts, oldest first.
    pub fn mails(&self) -> std::io::Result<Vec<Mail>> {
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

impl FileOutbox {
    /// Writes `message` as a new file.
    pub fn deliver(&self, message: &Mail) -> std::io::Result<()> {
        let name = format!(
            "{}-{}.json",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f"),
            uuid::Uuid::new_v4()
        );
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let bytes = serde_json::to_vec_pretty(message).map_err(std::io::Error::other)?;
        // The file is private from the moment it exists, not after a chmod.
        create_private_file(&tmp)?.write_all(&bytes)?;
        // Rename so a reader never sees half a message.
        std::fs::rename(tmp, self.dir.join(name))
    }
}

/// Creates `dir` (and missing parents) as `0700`; an existing `dir` readable or
/// writable by group or others is tightened to `0700`.
#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Creates a new file (never an existing one or a symlink's target) as `0600`.
#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn scratch() -> PathBuf {
        std::env::temp_dir().join(format!(
            "accord-outbox-test-{}",
            uuid::Uuid::new_v4().simple()
        ))
    }

    fn message() -> OutboundMessage {
        OutboundMessage {
            to: "a@example.test".into(),
            subject: "Set your password".into(),
            body: "https://accord.example/secret-link".into(),
        }
    }

    #[test]
    fn the_directory_and_messages_are_private() {
        let root = scratch();
        let dir = root.join("nested").join("outbox");
        let outbox = FileOutbox::new(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        outbox.deliver(&message().into()).unwrap();
        let files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(files[0].extension().is_some_and(|x| x == "json"));
        assert_eq!(mode(&files[0]), 0o600);
        assert_eq!(outbox.messages().unwrap()[0].body, message().body);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn an_existing_loose_directory_is_tightened() {
        let dir = scratch();
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        FileOutbox::new(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
