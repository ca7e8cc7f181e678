//! Object stores: where ciphertext lives.
//!
//! Objects are written through an [`ObjectWriter`] as they arrive (never
//! whole in memory) and become visible only on [`ObjectWriter::finish`]; an
//! aborted or dropped write leaves nothing behind (a temporary file removed,
//! a multipart upload aborted). Reads are streams of chunks.

use std::path::{Path, PathBuf};
use std::pin::Pin;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::VaultError;

/// A stream of an object's bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, VaultError>> + Send>>;

/// An object as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its key.
    pub key: String,
    /// Its length in bytes.
    pub len: u64,
}

/// Stores objects by key.
#[async_trait]
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    /// Starts writing `key`.
    async fn writer(&self, key: &str) -> Result<Box<dyn ObjectWriter>, VaultError>;
    /// Reads `key`; [`VaultError::NotFound`] when it is absent.
    async fn get(&self, key: &str) -> Result<ByteStream, VaultError>;
    /// The first `n` bytes of `key` (for checking headers).
    async fn get_prefix(&self, key: &str, n: usize) -> Result<Bytes, VaultError>;
    /// The length of `key`, or `None` when absent.
    async fn head(&self, key: &str) -> Result<Option<u64>, VaultError>;
    /// Deletes `key`; deleting an absent key succeeds.
    async fn delete(&self, key: &str) -> Result<(), VaultError>;
    /// Every object whose key starts with `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, VaultError>;
}

/// An object being written.
#[async_trait]
pub trait ObjectWriter: Send {
    /// The size of the pieces this writer takes best: [`Upload`](crate::Upload)
    /// hands over pieces of about this many bytes.
    fn chunk_len(&self) -> usize {
        1024 * 1024
    }
    /// A buffer the writer is done with (a part S3 has stored), to fill
    /// with the next chunk instead of allocating one.
    fn take_spare(&mut self) -> Option<BytesMut> {
        None
    }
    /// Appends bytes.
    async fn write(&mut self, bytes: Bytes) -> Result<(), VaultError>;
    /// Makes the object visible; returns its length.
    async fn finish(self: Box<Self>) -> Result<u64, VaultError>;
    /// Discards what was written.
    async fn abort(self: Box<Self>) -> Result<(), VaultError>;
}

fn check_key(key: &str) -> Result<(), VaultError> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && key
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != ".." && !p.starts_with('.'))
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(VaultError::Config(format!("invalid object key {key:?}")))
    }
}

/// The embedded default: objects as files under a directory.
#[derive(Debug, Clone)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    /// A store under `root` (made when missing).
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, VaultError> {
        let root = root.into();
        std::fs::create_dir_all(root.join(".partial")).map_err(VaultError::io)?;
        Ok(LocalDir { root })
    }

    fn path(&self, key: &str) -> Result<PathBuf, VaultError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

struct LocalWriter {
    temp: PathBuf,
    target: PathBuf,
    file: Option<tokio::fs::File>,
    len: u64,
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        // A writer dropped without finish (a disconnected client's upload
        // future cancelled) removes its partial file.
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[async_trait]
impl ObjectWriter for LocalWriter {
    async fn write(&mut self, bytes: Bytes) -> Result<(), VaultError> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| VaultError::Io("write after finish".into()))?;
        file.write_all(&bytes).await.map_err(VaultError::io)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, VaultError> {
        let mut file = self
            .file
            .take()
            .ok_or_else(|| VaultError::Io("finished twice".into()))?;
        let result = async {
            file.flush().await?;
            file.sync_all().await?;
            drop(file);
            if let Some(dir) = self.target.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            tokio::fs::rename(&self.temp, &self.target).await
        }
        .await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&self.temp).await;
            return Err(VaultError::io(e));
        }
        Ok(self.len)
    }

    async fn abort(mut self: Box<Self>) -> Result<(), VaultError> {
        self.file.take();
        match tokio::fs::remove_file(&self.temp).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(VaultError::io(e)),
        }
    }
}

const READ_CHUNK: usize = 256 * 1024;

#[async_trait]
impl ObjectStore for LocalDir {
    async fn writer(&self, key: &str) -> Result<Box<dyn ObjectWriter>, VaultError> {
        let target = self.path(key)?;
        let temp = self
            .root
            .join(".partial")
            .join(uuid::Uuid::new_v4().to_string());
        let file = tokio::fs::File::create(&temp)
            .await
            .map_err(VaultError::io)?;
        Ok(Box::new(LocalWriter {
            temp,
            target,
            file: Some(file),
            len: 0,
        }))
    }

    async fn get(&self, key: &str) -> Result<ByteStream, VaultError> {
        let path = self.path(key)?;
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(VaultError::NotFound),
            Err(e) => return Err(VaultError::io(e)),
        };
        let stream = futures_util::stream::try_unfold(file, |mut file| async move {
            let mut buf = BytesMut::with_capacity(READ_CHUNK);
            let n = file.read_buf(&mut buf).await.map_err(VaultError::io)?;
            Ok((n > 0).then(|| (buf.freeze(), file)))
        });
        Ok(Box::pin(stream))
    }

    async fn get_prefix(&self, key: &str, n: usize) -> Result<Bytes, VaultError> {
        let path = self.path(key)?;
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(VaultError::NotFound),
            Err(e) => return Err(VaultError::io(e)),
        };
        let mut buf = Vec::with_capacity(n);
        file.take(n as u64)
            .read_to_end(&mut buf)
            .await
            .map_err(VaultError::io)?;
        Ok(buf.into())
    }

    async fn head(&self, key: &str) -> Result<Option<u64>, VaultError> {
        match tokio::fs::metadata(self.path(key)?).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(VaultError::io(e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), VaultError> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(VaultError::io(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, VaultError> {
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            walk(&root, &root, &mut out).map_err(VaultError::io)?;
            out.retain(|o: &ObjectInfo| o.key.starts_with(&prefix));
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
        .map_err(|e| VaultError::Io(e.to_string()))?
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<ObjectInfo>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let meta = entry.metadata()?;
        if meta.is_dir() {
            walk(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(ObjectInfo {
                key: rel.to_string_lossy().replace('\\', "/"),
                len: meta.len(),
            });
        }
    }
    Ok(())
}

/// S3 (or an S3-compatible server) through `aws-sdk-s3`. Objects of up to
/// one part go up with one `PutObject`; larger ones as a multipart upload of
/// [`S3Store::PART_LEN`] parts, [`S3Store::PARTS_IN_FLIGHT`] in flight while
/// the next one fills. A part is the upload's own buffer, handed to the SDK
/// without a copy, so an upload holds about two parts whatever its size.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

fn s3_error<E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
) -> impl FnOnce(aws_sdk_s3::error::SdkError<E>) -> VaultError {
    move |e| {
        VaultError::Unavailable(format!(
            "S3 {what}: {}",
            aws_sdk_s3::error::DisplayErrorContext(&e)
        ))
    }
}

impl S3Store {
    /// Bytes per multipart part: S3's minimum (5 MiB), which keeps memory
    /// per upload lowest; more parts cost no throughput on a local network.
    pub const PART_LEN: usize = 5 * 1024 * 1024;
    /// Parts travelling to S3 while the next one is encrypted.
    pub const PARTS_IN_FLIGHT: usize = 1;

    /// A store in `bucket`, every key under `prefix` (may be empty).
    pub fn new(client: aws_sdk_s3::Client, bucket: String, prefix: String) -> Self {
        S3Store {
            client,
            bucket,
            prefix,
        }
    }

    fn full(&self, key: &str) -> Result<String, VaultError> {
        check_key(key)?;
        Ok(format!("{}{key}", self.prefix))
    }
}

/// A part's upload: the completed part, and the part's bytes back for reuse.
type PartTask =
    tokio::task::JoinHandle<Result<(aws_sdk_s3::types::CompletedPart, Bytes), VaultError>>;

struct S3Writer {
    store: S3Store,
    key: String,
    buf: BytesMut,
    upload_id: Option<String>,
    parts: Vec<aws_sdk_s3::types::CompletedPart>,
    in_flight: std::collections::VecDeque<PartTask>,
    next_part: i32,
    len: u64,
    done: bool,
    spare: Option<BytesMut>,
}

impl S3Writer {
    /// Sends `body` as the next part.
    async fn send_part(&mut self, body: Bytes) -> Result<(), VaultError> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let out = self
                    .store
                    .client
                    .create_multipart_upload()
                    .bucket(&self.store.bucket)
                    .key(&self.key)
                    .send()
                    .await
                    .map_err(s3_error("CreateMultipartUpload"))?;
                let id = out
                    .upload_id()
                    .ok_or_else(|| VaultError::Unavailable("S3 gave no upload id".into()))?
                    .to_owned();
                self.upload_id = Some(id.clone());
                id
            }
        };
        // The next part is read from the client and encrypted while this
        // one travels to S3.
        while self.in_flight.len() >= S3Store::PARTS_IN_FLIGHT {
            self.await_oldest().await?;
        }
        let number = self.next_part;
        self.next_part += 1;
        let client = self.store.client.clone();
        let bucket = self.store.bucket.clone();
        let key = self.key.clone();
        self.in_flight.push_back(tokio::spawn(async move {
            let out = client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(aws_sdk_s3::primitives::ByteStream::from(body.clone()))
                .send()
                .await
                .map_err(s3_error("UploadPart"))?;
            let part = aws_sdk_s3::types::CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_owned))
                .build();
            Ok((part, body))
        }));
        Ok(())
    }

    async fn await_oldest(&mut self) -> Result<(), VaultError> {
        if let Some(task) = self.in_flight.pop_front() {
            let (part, body) = task
                .await
                .map_err(|e| VaultError::Unavailable(format!("S3 part upload: {e}")))??;
            self.parts.push(part);
            // The SDK has let go of the part: its buffer can take the next
            // one (when something still holds it, it is simply freed).
            if let Ok(mut buf) = body.try_into_mut() {
                buf.clear();
                self.spare = Some(buf);
            }
        }
        Ok(())
    }

    async fn abort_upload(&mut self) -> Result<(), VaultError> {
        self.done = true;
        for task in self.in_flight.drain(..) {
            task.abort();
        }
        if let Some(id) = self.upload_id.take() {
            self.store
                .client
                .abort_multipart_upload()
                .bucket(&self.store.bucket)
                .key(&self.key)
                .upload_id(id)
                .send()
                .await
                .map_err(s3_error("AbortMultipartUpload"))?;
        }
        Ok(())
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        for task in self.in_flight.drain(..) {
            task.abort();
        }
        // Dropped mid-upload (the client went away): abort the multipart
        // upload in the background so S3 keeps no parts.
        if let Some(id) = self.upload_id.take() {
            let client = self.store.client.clone();
            let bucket = self.store.bucket.clone();
            let key = self.key.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    if let Err(e) = client
                        .abort_multipart_upload()
                        .bucket(bucket)
                        .key(key)
                        .upload_id(id)
                        .send()
                        .await
                    {
                        tracing::warn!(error = %aws_sdk_s3::error::DisplayErrorContext(&e), "could not abort a multipart upload");
                    }
                });
            }
        }
    }
}

#[async_trait]
impl ObjectWriter for S3Writer {
    fn chunk_len(&self) -> usize {
        S3Store::PART_LEN
    }

    fn take_spare(&mut self) -> Option<BytesMut> {
        self.spare.take()
    }

    async fn write(&mut self, bytes: Bytes) -> Result<(), VaultError> {
        self.len += bytes.len() as u64;
        // A whole part goes as it is; smaller pieces are gathered first.
        let part = if self.buf.is_empty() && bytes.len() >= S3Store::PART_LEN {
            bytes
        } else {
            self.buf.extend_from_slice(&bytes);
            if self.buf.len() < S3Store::PART_LEN {
                return Ok(());
            }
            self.buf.split().freeze()
        };
        if let Err(e) = self.send_part(part).await {
            let _ = self.abort_upload().await;
            return Err(e);
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, VaultError> {
        let result = async {
            if self.upload_id.is_none() {
                let body = self.buf.split().freeze();
                self.store
                    .client
                    .put_object()
                    .bucket(&self.store.bucket)
                    .key(&self.key)
                    .body(aws_sdk_s3::primitives::ByteStream::from(body))
                    .send()
                    .await
                    .map_err(s3_error("PutObject"))?;
                return Ok(());
            }
            if !self.buf.is_empty() {
                let last = self.buf.split().freeze();
                self.send_part(last).await?;
            }
            while !self.in_flight.is_empty() {
                self.await_oldest().await?;
            }
            let parts = std::mem::take(&mut self.parts);
            self.store
                .client
                .complete_multipart_upload()
                .bucket(&self.store.bucket)
                .key(&self.key)
                .upload_id(self.upload_id.clone().unwrap_or_default())
                .multipart_upload(
                    aws_sdk_s3::types::CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(s3_error("CompleteMultipartUpload"))?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                self.done = true;
                Ok(self.len)
            }
            Err(e) => {
                let _ = self.abort_upload().await;
                Err(e)
            }
        }
    }

    async fn abort(mut self: Box<Self>) -> Result<(), VaultError> {
        self.abort_upload().await
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn writer(&self, key: &str) -> Result<Box<dyn ObjectWriter>, VaultError> {
        Ok(Box::new(S3Writer {
            key: self.full(key)?,
            store: self.clone(),
            buf: BytesMut::new(),
            upload_id: None,
            parts: Vec::new(),
            in_flight: Default::default(),
            next_part: 1,
            len: 0,
            done: false,
            spare: None,
        }))
    }

    async fn get(&self, key: &str) -> Result<ByteStream, VaultError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full(key)?)
            .send()
            .await;
        let out = match out {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Err(VaultError::NotFound)
            }
            Err(e) => return Err(s3_error("GetObject")(e)),
        };
        let stream = futures_util::stream::try_unfold(out.body, |mut body| async move {
            match body.try_next().await {
                Ok(Some(chunk)) => Ok(Some((chunk, body))),
                Ok(None) => Ok(None),
                Err(e) => Err(VaultError::Unavailable(format!("S3 read: {e}"))),
            }
        });
        Ok(Box::pin(stream))
    }

    async fn get_prefix(&self, key: &str, n: usize) -> Result<Bytes, VaultError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full(key)?)
            .range(format!("bytes=0-{}", n.saturating_sub(1)))
            .send()
            .await;
        let out = match out {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Err(VaultError::NotFound)
            }
            Err(e) => return Err(s3_error("GetObject")(e)),
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| VaultError::Unavailable(format!("S3 read: {e}")))?
            .into_bytes();
        Ok(bytes.slice(..bytes.len().min(n)))
    }

    async fn head(&self, key: &str) -> Result<Option<u64>, VaultError> {
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.full(key)?)
            .send()
            .await;
        match out {
            Ok(o) => Ok(Some(o.content_length().unwrap_or(0).max(0) as u64)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(s3_error("HeadObject")(e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), VaultError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full(key)?)
            .send()
            .await
            .map_err(s3_error("DeleteObject"))?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, VaultError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(format!("{}{prefix}", self.prefix))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(s3_error("ListObjectsV2"))?;
            for o in page.contents() {
                if let Some(key) = o.key().and_then(|k| k.strip_prefix(&self.prefix)) {
                    out.push(ObjectInfo {
                        key: key.to_owned(),
                        len: o.size().unwrap_or(0).max(0) as u64,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    #[tokio::test]
    async fn local_dir_writes_atomically_and_aborts_cleanly() {
        let root =
            std::env::temp_dir().join(format!("accord-vault-store-{}", uuid::Uuid::now_v7()));
        let store = LocalDir::new(&root).unwrap();
        let mut w = store.writer("orgs/a/doc/v1").await.unwrap();
        w.write(Bytes::from_static(b"hello ")).await.unwrap();
        assert_eq!(store.head("orgs/a/doc/v1").await.unwrap(), None);
        w.write(Bytes::from_static(b"world")).await.unwrap();
        assert_eq!(w.finish().await.unwrap(), 11);
        let got: Vec<Bytes> = store
            .get("orgs/a/doc/v1")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(got.concat(), b"hello world");
        assert_eq!(
            store.get_prefix("orgs/a/doc/v1", 5).await.unwrap(),
            &b"hello"[..]
        );

        let mut w = store.writer("orgs/a/doc/v2").await.unwrap();
        w.write(Bytes::from_static(b"partial")).await.unwrap();
        w.abort().await.unwrap();
        let mut w = store.writer("orgs/a/doc/v3").await.unwrap();
        w.write(Bytes::from_static(b"dropped")).await.unwrap();
        drop(w);
        let listed = store.list("orgs/").await.unwrap();
        assert_eq!(
            listed,
            vec![ObjectInfo {
                key: "orgs/a/doc/v1".into(),
                len: 11
            }]
        );
        assert_eq!(std::fs::read_dir(root.join(".partial")).unwrap().count(), 0);

        assert!(store.writer("../escape").await.is_err());
        assert!(store.writer("a//b").await.is_err());
        assert!(matches!(
            store.get("orgs/none").await,
            Err(VaultError::NotFound)
        ));
        store.delete("orgs/a/doc/v1").await.unwrap();
        store.delete("orgs/a/doc/v1").await.unwrap();
        std::fs::remove_dir_all(root).unwrap();
    }
}
