//! Delivery of messages that carry links (password setup, reset).
//!
//! The product's mail service (SMTP, templates, calendars) plugs in behind this
//! trait; the file outbox writes each message as a JSON file, for the embedded
//! default and for tests. Message bodies hold secrets (links) and personal data:
//! they are never logged, and on Unix the outbox directory is `0700` and each
//! message file `0600`, so other local users cannot read the links.

use std::io::Write as _;
use std::path::{Path, PathBuf};

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
    /// An outbox in `dir`, created `0700` when missing and tightened to `0700`
    /// when it exists with looser permissions.
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        create_private_dir(&dir)?;
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
        outbox.deliver(&message()).unwrap();
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
