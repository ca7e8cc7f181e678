//! Accord's documents vault: where mediation documents are kept, encrypted.
//!
//! - [`stream`]: the object format. Each document version is encrypted with
//!   its own 256-bit data key in 64 KiB AES-256-GCM segments (the STREAM
//!   construction), so any size passes through in constant memory and a
//!   truncated, reordered, swapped or altered segment fails to decrypt.
//! - [`keys`]: envelope encryption. A [`keys::KeyService`] (AWS KMS, or a local
//!   key file for the embedded default) makes each data key and wraps it
//!   under the org's key, bound to the encryption context {org, case,
//!   document}. Postgres stores the wrapped key beside the object's key;
//!   destroying it (crypto-shredding) makes every copy of the ciphertext
//!   unreadable.
//! - [`store`]: where ciphertext lives, an [`store::ObjectStore`] (S3 through
//!   `aws-sdk-s3`, or a local directory). Plaintext never reaches it.
//! - [`scan`]: ClamAV's `clamd`, fed the plaintext as it streams past.
//! - [`names`]: filename rules and type sniffing.
//!
//! [`Vault`] ties them together: [`Vault::upload`] encrypts, stores and scans
//! in one pass; [`Vault::download`] streams plaintext back out;
//! [`Vault::rescan`] scans a stored version again (when clamd was down);
//! [`Vault::verify`] checks stored objects against the database's rows.
//! The database rows, visibility and audit belong to `accord-db` and the API.

pub mod config;
pub mod keys;
pub mod names;
pub mod scan;
pub mod store;
pub mod stream;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

pub use keys::{EncryptionContext, KeyService, WrappedKey};
pub use scan::{Clamd, Verdict};
pub use store::ObjectStore;
pub use stream::DataKey;

/// What went wrong in the vault.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VaultError {
    /// A service (KMS, S3) did not answer or failed: try again later.
    #[error("storage service unavailable: {0}")]
    Unavailable(String),
    /// A key could not be made or unwrapped (wrong context, destroyed, refused).
    #[error("key service: {0}")]
    Key(String),
    /// The object is not there.
    #[error("object not found")]
    NotFound,
    /// The stored object does not decrypt.
    #[error("stored object is damaged: {0}")]
    Corrupt(#[from] stream::StreamError),
    /// Local file I/O.
    #[error("i/o: {0}")]
    Io(String),
    /// A setting is wrong.
    #[error("configuration: {0}")]
    Config(String),
}

impl VaultError {
    pub(crate) fn io(e: std::io::Error) -> Self {
        VaultError::Io(e.to_string())
    }

    pub(crate) fn key_file(e: std::io::Error) -> Self {
        VaultError::Config(format!("the vault key file: {e}"))
    }
}

/// How uploads are scanned.
#[derive(Debug, Clone)]
pub enum Scanner {
    /// By clamd.
    Clamd(Clamd),
    /// Not at all: versions are marked "not scanned" (an operator's explicit
    /// choice, shown as such to everyone).
    Disabled,
}

/// What became of an upload's scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanOutcome {
    /// clamd found nothing.
    Clean,
    /// clamd found a signature.
    Infected(String),
    /// clamd could not be asked or failed mid-way: retry later.
    Pending(String),
    /// Scanning is disabled.
    NotScanned,
}

/// A version written to the store.
#[derive(Debug)]
pub struct Stored {
    /// The wrapped data key, for the database row.
    pub wrapped: WrappedKey,
    /// Plaintext bytes.
    pub plain_len: u64,
    /// The plaintext's SHA-256, computed as it streamed through (a
    /// fingerprint for records; it reveals nothing the stored ciphertext
    /// does not, to anyone without the file).
    pub sha256: [u8; 32],
    /// Stored (ciphertext) bytes.
    pub stored_len: u64,
    /// The scan's outcome.
    pub scan: ScanOutcome,
}

/// The vault: key service, object store and scanner.
#[derive(Debug, Clone)]
pub struct Vault {
    keys: Arc<dyn KeyService>,
    store: Arc<dyn ObjectStore>,
    scanner: Scanner,
}

/// An upload in progress: feed it plaintext, then [`Upload::finish`] it.
/// Dropping it (or [`Upload::abort`]) leaves nothing in the store.
pub struct Upload {
    enc: stream::Encryptor,
    writer: Box<dyn store::ObjectWriter>,
    wrapped: WrappedKey,
    scan: Option<scan::ClamdScan>,
    scan_error: Option<String>,
    scanning: bool,
    plain_len: u64,
    hash: sha2::Sha256,
    /// Ciphertext not yet handed to the store: filled up to one chunk of the
    /// store's (an S3 part), then handed over whole, without a copy.
    out: BytesMut,
    chunk_len: usize,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("plain_len", &self.plain_len)
            .finish_non_exhaustive()
    }
}

impl Upload {
    /// Encrypts and stores `data`, and passes it to the scanner.
    pub async fn write(&mut self, data: &[u8]) -> Result<(), VaultError> {
        self.plain_len += data.len() as u64;
        sha2::Digest::update(&mut self.hash, data);
        if let Some(scan) = self.scan.as_mut() {
            if let Err(e) = scan.write(data).await {
                // The scanner went away mid-upload: the upload still lands,
                // as pending, and is scanned again later.
                self.scan = None;
                self.scan_error = Some(e.0);
            }
        }
        // At most one segment (64 KiB) at a time, so `out` never grows past
        // the capacity it was given.
        for piece in data.chunks(stream::SEGMENT_LEN) {
            self.enc.update(piece, &mut self.out)?;
            if self.out.len() >= self.chunk_len {
                let chunk = std::mem::take(&mut self.out).freeze();
                self.writer.write(chunk).await?;
                // The next buffer only once the store has taken this one
                // (for S3: once the part before it is stored, whose buffer
                // comes back here), so at most two chunks are alive, the one
                // in flight and the one filling, and none is reallocated.
                self.out = self.writer.take_spare().unwrap_or_default();
                self.out.reserve(out_capacity(self.chunk_len));
            }
        }
        Ok(())
    }

    /// Plaintext bytes so far.
    pub fn len(&self) -> u64 {
        self.plain_len
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.plain_len == 0
    }

    /// Seals the last segment, makes the object visible, and reads the verdict.
    pub async fn finish(mut self) -> Result<Stored, VaultError> {
        let mut out = std::mem::take(&mut self.out);
        let enc = std::mem::replace(&mut self.enc, stream::Encryptor::new(&DataKey::random()));
        if let Err(e) = enc.finish(&mut out) {
            let _ = self.writer.abort().await;
            return Err(e.into());
        }
        if let Err(e) = self.writer.write(out.freeze()).await {
            let _ = self.writer.abort().await;
            return Err(e);
        }
        // The verdict is read before the object is committed, so a failed
        // commit leaves nothing and a verdict is never lost.
        let scan = match (self.scan.take(), self.scan_error.take(), self.scanning) {
            (_, _, false) => ScanOutcome::NotScanned,
            (Some(scan), None, true) => match scan.finish().await {
                Ok(Verdict::Clean) => ScanOutcome::Clean,
                Ok(Verdict::Infected(name)) => ScanOutcome::Infected(name),
                Err(e) => ScanOutcome::Pending(e.0),
            },
            (_, Some(e), true) => ScanOutcome::Pending(e),
            (None, None, true) => ScanOutcome::Pending("scanner unavailable".into()),
        };
        let stored_len = self.writer.finish().await?;
        let sha256: [u8; 32] = sha2::Digest::finalize(std::mem::take(&mut self.hash)).into();
        Ok(Stored {
            wrapped: self.wrapped,
            plain_len: self.plain_len,
            sha256,
            stored_len,
            scan,
        })
    }

    /// Discards the upload.
    pub async fn abort(self) {
        if let Err(e) = self.writer.abort().await {
            tracing::warn!(error = %e, "could not discard an aborted upload");
        }
    }
}

/// Room for one chunk plus the segment that crosses its end (and the header).
fn out_capacity(chunk_len: usize) -> usize {
    chunk_len + stream::HEADER_LEN + stream::SEGMENT_LEN + stream::TAG_LEN
}

/// How one stored object compares with its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Present, the right length, a readable header.
    Ok,
    /// No object for the row.
    Missing,
    /// The object's length is not the row's size encrypted.
    WrongLength {
        /// Bytes expected.
        expected: u64,
        /// Bytes found.
        found: u64,
    },
    /// The header is not this format's.
    BadHeader,
    /// The data key does not unwrap, or the first segment does not decrypt.
    Undecryptable(String),
}

/// A row `verify` checks.
#[derive(Debug, Clone)]
pub struct ExpectedObject {
    /// The object's key.
    pub key: String,
    /// Plaintext size from the row.
    pub plain_len: u64,
    /// The wrapped key, when not shredded.
    pub wrapped: Option<WrappedKey>,
    /// Its context.
    pub ctx: EncryptionContext,
}

/// What `verify` found.
#[derive(Debug, Default)]
pub struct VerifyReport {
    /// Per row: key and finding.
    pub rows: Vec<(String, Finding)>,
    /// Objects under the prefix that no row names.
    pub orphans: Vec<store::ObjectInfo>,
}

impl VerifyReport {
    /// Whether every row is fine and there are no orphans.
    pub fn is_clean(&self) -> bool {
        self.orphans.is_empty() && self.rows.iter().all(|(_, f)| *f == Finding::Ok)
    }
}

impl Vault {
    /// A vault over these parts.
    pub fn new(keys: Arc<dyn KeyService>, store: Arc<dyn ObjectStore>, scanner: Scanner) -> Self {
        Vault {
            keys,
            store,
            scanner,
        }
    }

    /// The object store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The key service.
    pub fn keys(&self) -> &Arc<dyn KeyService> {
        &self.keys
    }

    /// Whether uploads are scanned.
    pub fn scans(&self) -> bool {
        matches!(self.scanner, Scanner::Clamd(_))
    }

    /// Starts an upload to `object_key` under a fresh data key for `ctx`.
    pub async fn upload(
        &self,
        object_key: &str,
        ctx: &EncryptionContext,
    ) -> Result<Upload, VaultError> {
        let (key, wrapped) = self.keys.generate(ctx).await?;
        let writer = self.store.writer(object_key).await?;
        let chunk_len = writer.chunk_len();
        let (scan, scan_error) = match &self.scanner {
            Scanner::Clamd(c) => match c.start().await {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(e.0)),
            },
            Scanner::Disabled => (None, None),
        };
        Ok(Upload {
            enc: stream::Encryptor::new(&key),
            writer,
            wrapped,
            scan,
            scan_error,
            scanning: self.scans(),
            plain_len: 0,
            hash: sha2::Sha256::default(),
            out: BytesMut::with_capacity(out_capacity(chunk_len)),
            chunk_len,
        })
    }

    /// Stores `data`, a file the server wrote itself (an agreement's PDF),
    /// at `object_key` under a fresh data key for `ctx`. It is not scanned:
    /// no user supplied a byte of it. Nothing is left in the store when it
    /// fails.
    pub async fn put(
        &self,
        object_key: &str,
        ctx: &EncryptionContext,
        data: &[u8],
    ) -> Result<Stored, VaultError> {
        let (key, wrapped) = self.keys.generate(ctx).await?;
        let writer = self.store.writer(object_key).await?;
        let chunk_len = writer.chunk_len();
        let mut upload = Upload {
            enc: stream::Encryptor::new(&key),
            writer,
            wrapped,
            scan: None,
            scan_error: None,
            scanning: false,
            plain_len: 0,
            hash: sha2::Sha256::default(),
            out: BytesMut::with_capacity(out_capacity(chunk_len)),
            chunk_len,
        };
        if let Err(e) = upload.write(data).await {
            upload.abort().await;
            return Err(e);
        }
        upload.finish().await
    }

    /// The whole plaintext of `object_key`, refused (as too long) past
    /// `max_len` bytes: for small files the server reads itself.
    pub async fn read_all(
        &self,
        object_key: &str,
        wrapped: &WrappedKey,
        ctx: &EncryptionContext,
        max_len: usize,
    ) -> Result<Vec<u8>, VaultError> {
        let mut plain = std::pin::pin!(self.download(object_key, wrapped, ctx).await?);
        let mut out = Vec::new();
        while let Some(chunk) = plain.next().await {
            let chunk = chunk?;
            if out.len() + chunk.len() > max_len {
                return Err(VaultError::Corrupt(stream::StreamError::TooLong));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// The plaintext of `object_key`, streamed. The data key is unwrapped
    /// first, so a shredded or foreign key fails before any byte is sent; a
    /// damaged segment ends the stream with an error.
    pub async fn download(
        &self,
        object_key: &str,
        wrapped: &WrappedKey,
        ctx: &EncryptionContext,
    ) -> Result<impl Stream<Item = Result<Bytes, VaultError>> + Send + 'static, VaultError> {
        let key = self.keys.unwrap(wrapped, ctx).await?;
        let source = self.store.get(object_key).await?;
        Ok(decrypt_stream(source, key))
    }

    /// Scans a stored version again (after clamd was unavailable).
    pub async fn rescan(
        &self,
        object_key: &str,
        wrapped: &WrappedKey,
        ctx: &EncryptionContext,
    ) -> Result<ScanOutcome, VaultError> {
        let Scanner::Clamd(clamd) = &self.scanner else {
            return Ok(ScanOutcome::NotScanned);
        };
        let mut scan = match clamd.start().await {
            Ok(s) => s,
            Err(e) => return Ok(ScanOutcome::Pending(e.0)),
        };
        let mut plain = std::pin::pin!(self.download(object_key, wrapped, ctx).await?);
        while let Some(chunk) = plain.next().await {
            if let Err(e) = scan.write(&chunk?).await {
                return Ok(ScanOutcome::Pending(e.0));
            }
        }
        Ok(match scan.finish().await {
            Ok(Verdict::Clean) => ScanOutcome::Clean,
            Ok(Verdict::Infected(name)) => ScanOutcome::Infected(name),
            Err(e) => ScanOutcome::Pending(e.0),
        })
    }

    /// Deletes a stored object (after its key was shredded).
    pub async fn delete(&self, object_key: &str) -> Result<(), VaultError> {
        self.store.delete(object_key).await
    }

    /// Checks each expected object (present, length, header, first segment
    /// decrypts) and lists the objects under `prefix` no row names.
    pub async fn verify(
        &self,
        prefix: &str,
        expected: &[ExpectedObject],
    ) -> Result<VerifyReport, VaultError> {
        let listed = self.store.list(prefix).await?;
        let known: std::collections::HashSet<&str> =
            expected.iter().map(|e| e.key.as_str()).collect();
        let mut report = VerifyReport {
            orphans: listed
                .iter()
                .filter(|o| !known.contains(o.key.as_str()))
                .cloned()
                .collect(),
            ..Default::default()
        };
        let lengths: std::collections::HashMap<&str, u64> =
            listed.iter().map(|o| (o.key.as_str(), o.len)).collect();
        for e in expected {
            let finding = self
                .verify_one(e, lengths.get(e.key.as_str()).copied())
                .await?;
            report.rows.push((e.key.clone(), finding));
        }
        Ok(report)
    }

    async fn verify_one(
        &self,
        e: &ExpectedObject,
        listed_len: Option<u64>,
    ) -> Result<Finding, VaultError> {
        let Some(found) = listed_len else {
            return Ok(Finding::Missing);
        };
        let expected = stream::ciphertext_len(e.plain_len);
        if found != expected {
            return Ok(Finding::WrongLength { expected, found });
        }
        let head = match self
            .store
            .get_prefix(
                &e.key,
                stream::HEADER_LEN + stream::SEGMENT_LEN + stream::TAG_LEN,
            )
            .await
        {
            Ok(h) => h,
            Err(VaultError::NotFound) => return Ok(Finding::Missing),
            Err(err) => return Err(err),
        };
        if stream::check_header(&head).is_err() {
            return Ok(Finding::BadHeader);
        }
        let Some(wrapped) = &e.wrapped else {
            return Ok(Finding::Undecryptable("the data key was destroyed".into()));
        };
        let key = match self.keys.unwrap(wrapped, &e.ctx).await {
            Ok(k) => k,
            Err(VaultError::Unavailable(m)) => return Err(VaultError::Unavailable(m)),
            Err(err) => return Ok(Finding::Undecryptable(err.to_string())),
        };
        // The first segment: the whole object when it is one segment long.
        let mut dec = stream::Decryptor::new(&key);
        let mut sink = Vec::new();
        let result = dec.update(&head, &mut sink).and_then(|()| {
            if head.len() as u64 == found {
                dec.finish(&mut sink)
            } else {
                Ok(())
            }
        });
        Ok(match result {
            Ok(()) => Finding::Ok,
            Err(err) => Finding::Undecryptable(err.to_string()),
        })
    }
}

/// Decrypts a stream of ciphertext chunks into plaintext chunks.
pub fn decrypt_stream(
    source: store::ByteStream,
    key: DataKey,
) -> impl Stream<Item = Result<Bytes, VaultError>> + Send + 'static {
    let state = (source, Some(stream::Decryptor::new(&key)));
    futures_util::stream::try_unfold(state, |(mut source, mut dec)| async move {
        loop {
            let Some(d) = dec.as_mut() else {
                return Ok(None);
            };
            let mut out = Vec::new();
            match source.next().await {
                Some(chunk) => d.update(&chunk?, &mut out)?,
                None => {
                    if let Some(d) = dec.take() {
                        d.finish(&mut out)?;
                    }
                }
            }
            if !out.is_empty() {
                return Ok(Some((Bytes::from(out), (source, dec))));
            }
        }
    })
}

/// Builders for the AWS adapters, used by the server's configuration.
pub mod aws {
    use super::*;

    /// Where an AWS service is reached.
    #[derive(Debug, Clone, Default)]
    pub struct Endpoint {
        /// The region (`None`: from the environment or profile).
        pub region: Option<String>,
        /// A custom endpoint (moto, s3s-fs, MinIO); `None` for AWS itself.
        pub url: Option<String>,
    }

    async fn sdk_config(endpoint: &Endpoint) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &endpoint.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(url) = &endpoint.url {
            loader = loader.endpoint_url(url);
        }
        loader.load().await
    }

    /// A KMS key service.
    pub async fn kms(endpoint: &Endpoint, keys: keys::KmsKeys) -> keys::AwsKms {
        let config = sdk_config(endpoint).await;
        keys::AwsKms::new(aws_sdk_kms::Client::new(&config), keys)
    }

    /// An S3 store. `path_style` for servers without virtual-host buckets
    /// (s3s-fs, MinIO).
    pub async fn s3(
        endpoint: &Endpoint,
        bucket: String,
        prefix: String,
        path_style: bool,
    ) -> store::S3Store {
        let config = sdk_config(endpoint).await;
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(path_style)
            .build();
        store::S3Store::new(aws_sdk_s3::Client::from_conf(s3), bucket, prefix)
    }
}
