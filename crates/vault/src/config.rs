//! The vault's settings, as the server's `[vault]` section reads them.
//!
//! The embedded default keeps documents under `.data/vault/`: a local key
//! file (`vault.key`, made on first start, mode 0600) and an object
//! directory. Pointing Accord at AWS is a matter of two switches:
//! `keys = "kms"` with `kms_key_id` (or `kms_alias_prefix` for one key per
//! org), and `store = "s3"` with `s3_bucket`. `*_endpoint` settings reach
//! S3- or KMS-compatible servers (s3s-fs, moto, MinIO).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{aws, keys, store, Clamd, Scanner, Vault, VaultError};

/// Which key service wraps data keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeysKind {
    /// The local key file.
    Local,
    /// AWS KMS.
    Kms,
}

/// Which object store holds ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// A local directory.
    Local,
    /// S3.
    S3,
}

/// `[vault]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaultSettings {
    /// Store documents at all (default true).
    pub enabled: bool,
    /// `local` (default) or `kms`.
    pub keys: KeysKind,
    /// The local key file (default `.data/vault/vault.key`).
    pub key_file: PathBuf,
    /// KMS: the deployment's key (id, ARN or alias); the org is in each
    /// data key's encryption context.
    pub kms_key_id: Option<String>,
    /// KMS: one key per org instead, by alias `<prefix><org id>`
    /// (e.g. `alias/accord-org-`).
    pub kms_alias_prefix: Option<String>,
    /// KMS region (default: the environment's).
    pub kms_region: Option<String>,
    /// A KMS-compatible endpoint (tests); unset for AWS.
    pub kms_endpoint: Option<String>,
    /// `local` (default) or `s3`.
    pub store: StoreKind,
    /// The local object directory (default `.data/vault/objects`).
    pub dir: PathBuf,
    /// S3: the bucket.
    pub s3_bucket: Option<String>,
    /// S3: a prefix before every key (e.g. `accord/`).
    pub s3_prefix: String,
    /// S3 region (default: the environment's).
    pub s3_region: Option<String>,
    /// An S3-compatible endpoint (s3s-fs, MinIO); unset for AWS.
    pub s3_endpoint: Option<String>,
    /// Path-style bucket addressing (needed by s3s-fs and MinIO).
    pub s3_path_style: bool,
    /// clamd's `host:port`; unset: uploads are not scanned and are marked so.
    pub clamd: Option<String>,
    /// How long each exchange with clamd may take, in seconds.
    pub clamd_timeout_seconds: u64,
}

impl Default for VaultSettings {
    fn default() -> Self {
        VaultSettings {
            enabled: true,
            keys: KeysKind::Local,
            key_file: PathBuf::from(".data/vault/vault.key"),
            kms_key_id: None,
            kms_alias_prefix: None,
            kms_region: None,
            kms_endpoint: None,
            store: StoreKind::Local,
            dir: PathBuf::from(".data/vault/objects"),
            s3_bucket: None,
            s3_prefix: String::new(),
            s3_region: None,
            s3_endpoint: None,
            s3_path_style: false,
            clamd: None,
            clamd_timeout_seconds: 10,
        }
    }
}

impl VaultSettings {
    /// Checks the settings without reaching any service.
    pub fn validate(&self) -> Result<(), VaultError> {
        if !self.enabled {
            return Ok(());
        }
        if self.keys == KeysKind::Kms {
            match (&self.kms_key_id, &self.kms_alias_prefix) {
                (Some(_), None) => {}
                (None, Some(p)) if p.starts_with("alias/") => {}
                (None, Some(_)) => {
                    return Err(VaultError::Config(
                        "vault.kms_alias_prefix must start with alias/".into(),
                    ))
                }
                _ => {
                    return Err(VaultError::Config(
                        "vault.keys = \"kms\" needs exactly one of vault.kms_key_id and vault.kms_alias_prefix".into(),
                    ))
                }
            }
        }
        if self.store == StoreKind::S3 && self.s3_bucket.as_deref().unwrap_or("").is_empty() {
            return Err(VaultError::Config(
                "vault.store = \"s3\" needs vault.s3_bucket".into(),
            ));
        }
        if self.clamd_timeout_seconds == 0 {
            return Err(VaultError::Config(
                "vault.clamd_timeout_seconds must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The vault these settings describe (`None` when disabled).
    pub async fn build(&self) -> Result<Option<Vault>, VaultError> {
        if !self.enabled {
            return Ok(None);
        }
        self.validate()?;
        let keys: Arc<dyn keys::KeyService> = match self.keys {
            KeysKind::Local => Arc::new(keys::LocalKeyFile::open_or_create(&self.key_file)?),
            KeysKind::Kms => {
                let which = match (&self.kms_key_id, &self.kms_alias_prefix) {
                    (Some(id), _) => keys::KmsKeys::Deployment { key_id: id.clone() },
                    (None, Some(prefix)) => keys::KmsKeys::PerOrg {
                        alias_prefix: prefix.clone(),
                    },
                    (None, None) => return Err(VaultError::Config("no KMS key".into())),
                };
                let endpoint = aws::Endpoint {
                    region: self.kms_region.clone(),
                    url: self.kms_endpoint.clone(),
                };
                Arc::new(aws::kms(&endpoint, which).await)
            }
        };
        let store: Arc<dyn store::ObjectStore> = match self.store {
            StoreKind::Local => Arc::new(store::LocalDir::new(&self.dir)?),
            StoreKind::S3 => {
                let endpoint = aws::Endpoint {
                    region: self.s3_region.clone(),
                    url: self.s3_endpoint.clone(),
                };
                Arc::new(
                    aws::s3(
                        &endpoint,
                        self.s3_bucket.clone().unwrap_or_default(),
                        self.s3_prefix.clone(),
                        self.s3_path_style,
                    )
                    .await,
                )
            }
        };
        let scanner = match &self.clamd {
            Some(addr) => Scanner::Clamd(Clamd::new(
                addr.clone(),
                Duration::from_secs(self.clamd_timeout_seconds),
            )),
            None => Scanner::Disabled,
        };
        Ok(Some(Vault::new(keys, store, scanner)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_needs_one_key_setting() {
        let mut s = VaultSettings {
            keys: KeysKind::Kms,
            ..VaultSettings::default()
        };
        assert!(s.validate().is_err());
        s.kms_key_id = Some("alias/accord".into());
        assert!(s.validate().is_ok());
        s.kms_alias_prefix = Some("alias/accord-org-".into());
        assert!(s.validate().is_err());
        s.kms_key_id = None;
        assert!(s.validate().is_ok());
        s.kms_alias_prefix = Some("accord-org-".into());
        assert!(s.validate().is_err());
    }

    #[test]
    fn s3_needs_a_bucket() {
        let s = VaultSettings {
            store: StoreKind::S3,
            ..VaultSettings::default()
        };
        assert!(s.validate().is_err());
    }
}
