//! Key services: who wraps and unwraps the data keys.
//!
//! Every document version gets its own data key from [`KeyService::generate`]:
//! the plaintext key encrypts the object and is then dropped (zeroed); the
//! wrapped key is stored in Postgres beside the object's key. Both services
//! bind the wrap to an [`EncryptionContext`] (org, case, document), so a
//! wrapped key copied onto another document's row does not unwrap.

use std::collections::HashMap;
use std::path::Path;

use async_trait::async_trait;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hkdf;
use rand::RngCore;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::stream::DataKey;
use crate::VaultError;

/// What a data key is bound to: the KMS encryption context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptionContext {
    /// The org.
    pub org: Uuid,
    /// The case.
    pub case: Uuid,
    /// The document (all its versions share it).
    pub document: Uuid,
}

impl EncryptionContext {
    /// As KMS takes it.
    pub fn to_map(&self) -> HashMap<String, String> {
        HashMap::from([
            ("accord:org".to_owned(), self.org.to_string()),
            ("accord:case".to_owned(), self.case.to_string()),
            ("accord:document".to_owned(), self.document.to_string()),
        ])
    }

    fn canonical(&self) -> String {
        format!(
            "accord:case={};accord:document={};accord:org={}",
            self.case, self.document, self.org
        )
    }
}

/// A data key wrapped by a key service: what Postgres stores.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// Which key wrapped it (a KMS key ARN or alias, or `local:<fingerprint>`).
    pub key_id: String,
    /// The wrapped bytes.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedKey")
            .field("key_id", &self.key_id)
            .field("len", &self.ciphertext.len())
            .finish()
    }
}

/// Makes and unwraps data keys.
#[async_trait]
pub trait KeyService: Send + Sync + std::fmt::Debug {
    /// A fresh data key for `ctx`, in plaintext and wrapped.
    async fn generate(&self, ctx: &EncryptionContext) -> Result<(DataKey, WrappedKey), VaultError>;
    /// Unwraps `wrapped`; fails unless it was made for exactly `ctx`.
    async fn unwrap(
        &self,
        wrapped: &WrappedKey,
        ctx: &EncryptionContext,
    ) -> Result<DataKey, VaultError>;
}

/// The embedded default: a 256-bit master key in a file (hex). Each org's
/// wrapping key is derived from it with HKDF-SHA256, and data keys are
/// wrapped with AES-256-GCM, the context as associated data.
pub struct LocalKeyFile {
    master: Zeroizing<[u8; 32]>,
    key_id: String,
}

impl std::fmt::Debug for LocalKeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeyFile")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

const LOCAL_MAGIC: &[u8; 4] = b"LKF1";

impl LocalKeyFile {
    /// Reads the key file, or makes one (mode 0600) when `path` does not exist.
    pub fn open_or_create(path: &Path) -> Result<Self, VaultError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => Zeroizing::new(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut raw = Zeroizing::new([0u8; 32]);
                rand::rngs::OsRng.fill_bytes(raw.as_mut());
                let text = Zeroizing::new(hex::encode(raw.as_ref()));
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(VaultError::key_file)?;
                }
                write_private(path, text.as_bytes()).map_err(VaultError::key_file)?;
                text
            }
            Err(e) => return Err(VaultError::key_file(e)),
        };
        let bytes = Zeroizing::new(
            hex::decode(text.trim())
                .map_err(|_| VaultError::Config("the vault key file is not hex".into()))?,
        );
        let master: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            VaultError::Config("the vault key file must hold 32 bytes (64 hex digits)".into())
        })?;
        Ok(Self::from_bytes(master))
    }

    /// A key service over `master` (tests).
    pub fn from_bytes(master: [u8; 32]) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &master);
        let key_id = format!("local:{}", hex::encode(&digest.as_ref()[..8]));
        LocalKeyFile {
            master: Zeroizing::new(master),
            key_id,
        }
    }

    fn org_key(&self, org: Uuid) -> LessSafeKey {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"accord-vault local key file v1");
        let prk = salt.extract(self.master.as_ref());
        let info = [org.as_bytes().as_slice()];
        let mut key = Zeroizing::new([0u8; 32]);
        prk.expand(&info, &AES_256_GCM)
            .and_then(|okm| okm.fill(key.as_mut()))
            .unwrap_or_else(|_| unreachable!("HKDF-SHA256 yields 32 bytes"));
        LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, key.as_ref())
                .unwrap_or_else(|_| unreachable!("32-byte AES key")),
        )
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[async_trait]
impl KeyService for LocalKeyFile {
    async fn generate(&self, ctx: &EncryptionContext) -> Result<(DataKey, WrappedKey), VaultError> {
        let key = DataKey::random();
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut sealed = key.bytes().to_vec();
        self.org_key(ctx.org)
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(ctx.canonical().as_bytes()),
                &mut sealed,
            )
            .map_err(|_| VaultError::Key("could not wrap a data key".into()))?;
        let mut ciphertext = Vec::with_capacity(4 + NONCE_LEN + sealed.len());
        ciphertext.extend_from_slice(LOCAL_MAGIC);
        ciphertext.extend_from_slice(&nonce);
        ciphertext.extend_from_slice(&sealed);
        Ok((
            key,
            WrappedKey {
                key_id: self.key_id.clone(),
                ciphertext,
            },
        ))
    }

    async fn unwrap(
        &self,
        wrapped: &WrappedKey,
        ctx: &EncryptionContext,
    ) -> Result<DataKey, VaultError> {
        let c = &wrapped.ciphertext;
        if wrapped.key_id != self.key_id
            || c.len() != 4 + NONCE_LEN + 32 + 16
            || &c[..4] != LOCAL_MAGIC
        {
            return Err(VaultError::Key(
                "the data key was not wrapped by this key file".into(),
            ));
        }
        let nonce: [u8; NONCE_LEN] = c[4..4 + NONCE_LEN]
            .try_into()
            .map_err(|_| VaultError::Key("bad wrapped key".into()))?;
        let mut sealed = Zeroizing::new(c[4 + NONCE_LEN..].to_vec());
        let plain = self
            .org_key(ctx.org)
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(ctx.canonical().as_bytes()),
                sealed.as_mut_slice(),
            )
            .map_err(|_| {
                VaultError::Key("the data key does not unwrap for this document".into())
            })?;
        DataKey::from_slice(plain).ok_or_else(|| VaultError::Key("bad data key length".into()))
    }
}

/// Which KMS key wraps an org's data keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsKeys {
    /// One key for the deployment; the org is in the encryption context.
    Deployment {
        /// Key id, ARN or alias.
        key_id: String,
    },
    /// One key per org, found by alias `<alias_prefix><org id>`
    /// (e.g. `alias/accord-org-`), made by the operator (Terraform).
    PerOrg {
        /// The alias before the org id, starting `alias/`.
        alias_prefix: String,
    },
}

/// AWS KMS through `aws-sdk-kms`: `GenerateDataKey` (AES-256) and `Decrypt`,
/// both with the encryption context.
#[derive(Debug, Clone)]
pub struct AwsKms {
    client: aws_sdk_kms::Client,
    keys: KmsKeys,
}

impl AwsKms {
    /// A key service over `client`.
    pub fn new(client: aws_sdk_kms::Client, keys: KmsKeys) -> Self {
        AwsKms { client, keys }
    }

    fn key_for(&self, org: Uuid) -> String {
        match &self.keys {
            KmsKeys::Deployment { key_id } => key_id.clone(),
            KmsKeys::PerOrg { alias_prefix } => format!("{alias_prefix}{org}"),
        }
    }
}

fn kms_error<E: std::error::Error + Send + Sync + 'static>(
    what: &str,
) -> impl FnOnce(aws_sdk_kms::error::SdkError<E>) -> VaultError + '_ {
    move |e| {
        let detail = aws_sdk_kms::error::DisplayErrorContext(&e).to_string();
        match e {
            aws_sdk_kms::error::SdkError::ServiceError(_) => {
                VaultError::Key(format!("KMS {what}: {detail}"))
            }
            _ => VaultError::Unavailable(format!("KMS {what}: {detail}")),
        }
    }
}

#[async_trait]
impl KeyService for AwsKms {
    async fn generate(&self, ctx: &EncryptionContext) -> Result<(DataKey, WrappedKey), VaultError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(self.key_for(ctx.org))
            .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
            .set_encryption_context(Some(ctx.to_map()))
            .send()
            .await
            .map_err(kms_error("GenerateDataKey"))?;
        let plain = out
            .plaintext()
            .and_then(|b| DataKey::from_slice(b.as_ref()))
            .ok_or_else(|| VaultError::Key("KMS returned no 32-byte data key".into()))?;
        let ciphertext = out
            .ciphertext_blob()
            .map(|b| b.as_ref().to_vec())
            .ok_or_else(|| VaultError::Key("KMS returned no wrapped key".into()))?;
        let key_id = out
            .key_id()
            .map(str::to_owned)
            .unwrap_or_else(|| self.key_for(ctx.org));
        Ok((plain, WrappedKey { key_id, ciphertext }))
    }

    async fn unwrap(
        &self,
        wrapped: &WrappedKey,
        ctx: &EncryptionContext,
    ) -> Result<DataKey, VaultError> {
        let out = self
            .client
            .decrypt()
            .key_id(&wrapped.key_id)
            .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(
                wrapped.ciphertext.clone(),
            ))
            .set_encryption_context(Some(ctx.to_map()))
            .send()
            .await
            .map_err(kms_error("Decrypt"))?;
        out.plaintext()
            .and_then(|b| DataKey::from_slice(b.as_ref()))
            .ok_or_else(|| VaultError::Key("KMS returned no 32-byte data key".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> EncryptionContext {
        EncryptionContext {
            org: Uuid::now_v7(),
            case: Uuid::now_v7(),
            document: Uuid::now_v7(),
        }
    }

    #[tokio::test]
    async fn local_keys_unwrap_only_in_their_context() {
        let keys = LocalKeyFile::from_bytes([7; 32]);
        let c = ctx();
        let (plain, wrapped) = keys.generate(&c).await.unwrap();
        let back = keys.unwrap(&wrapped, &c).await.unwrap();
        assert_eq!(plain.bytes(), back.bytes());
        for other in [
            EncryptionContext {
                document: Uuid::now_v7(),
                ..c
            },
            EncryptionContext {
                case: Uuid::now_v7(),
                ..c
            },
            EncryptionContext {
                org: Uuid::now_v7(),
                ..c
            },
        ] {
            assert!(keys.unwrap(&wrapped, &other).await.is_err());
        }
        let stranger = LocalKeyFile::from_bytes([8; 32]);
        assert!(stranger.unwrap(&wrapped, &c).await.is_err());
    }

    #[test]
    fn a_key_file_is_made_once_and_read_back() {
        let dir = std::env::temp_dir().join(format!("accord-vault-key-{}", Uuid::now_v7()));
        let path = dir.join("vault.key");
        let a = LocalKeyFile::open_or_create(&path).unwrap();
        let b = LocalKeyFile::open_or_create(&path).unwrap();
        assert_eq!(a.key_id, b.key_id);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not hex").unwrap();
        assert!(LocalKeyFile::open_or_create(&path).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
