//! The cloud adapters against real servers: moto (KMS) and s3s-fs (S3),
//! which `scripts/test` starts and names in `ACCORD_TEST_KMS_ENDPOINT` and
//! `ACCORD_TEST_S3_ENDPOINT` (with `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`
//! for s3s-fs's signature check). Without them the tests say so and pass,
//! except under CI, where they fail.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use accord_vault::aws::{self, Endpoint};
use accord_vault::keys::{EncryptionContext, KeyService, KmsKeys};
use accord_vault::store::{ObjectStore, S3Store};
use accord_vault::{Scanner, Vault, VaultError};
use futures_util::TryStreamExt;
use uuid::Uuid;

fn env(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "{name} is unset: scripts/test starts the server"
            );
            eprintln!("skipped: {name} is unset (scripts/test starts the server)");
            None
        }
    }
}

fn endpoint(url: &str) -> Endpoint {
    Endpoint {
        region: Some("us-east-1".into()),
        url: Some(url.to_owned()),
    }
}

fn ctx() -> EncryptionContext {
    EncryptionContext {
        org: Uuid::now_v7(),
        case: Uuid::now_v7(),
        document: Uuid::now_v7(),
    }
}

async fn kms_client(url: &str) -> aws_sdk_kms::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .load()
        .await;
    aws_sdk_kms::Client::new(&config)
}

async fn new_key(url: &str) -> String {
    let out = kms_client(url).await.create_key().send().await.unwrap();
    out.key_metadata().unwrap().key_id().to_owned()
}

/// A fresh bucket on the S3 server.
async fn bucket(url: &str) -> (S3Store, aws_sdk_s3::Client, String) {
    let name = format!("accord-{}", Uuid::new_v4().simple());
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .load()
        .await;
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    client.create_bucket().bucket(&name).send().await.unwrap();
    let store = aws::s3(&endpoint(url), name.clone(), "vault/".into(), true).await;
    (store, client, name)
}

#[tokio::test]
async fn kms_wraps_data_keys_bound_to_their_context() {
    let Some(url) = env("ACCORD_TEST_KMS_ENDPOINT") else {
        return;
    };
    let key_id = new_key(&url).await;
    let kms = aws::kms(&endpoint(&url), KmsKeys::Deployment { key_id }).await;
    let c = ctx();
    let (plain, wrapped) = kms.generate(&c).await.unwrap();
    let back = kms.unwrap(&wrapped, &c).await.unwrap();
    let sealed = accord_vault::stream::seal_all(&plain, b"under KMS").unwrap();
    assert_eq!(
        accord_vault::stream::open_all(&back, &sealed).unwrap(),
        b"under KMS"
    );
    // Another document's context does not unwrap it.
    let other = EncryptionContext {
        document: Uuid::now_v7(),
        ..c
    };
    assert!(matches!(
        kms.unwrap(&wrapped, &other).await,
        Err(VaultError::Key(_))
    ));

    // One key per org, by alias.
    let client = kms_client(&url).await;
    let org_key = new_key(&url).await;
    client
        .create_alias()
        .alias_name(format!("alias/accord-org-{}", c.org))
        .target_key_id(&org_key)
        .send()
        .await
        .unwrap();
    let per_org = aws::kms(
        &endpoint(&url),
        KmsKeys::PerOrg {
            alias_prefix: "alias/accord-org-".into(),
        },
    )
    .await;
    let (_, wrapped) = per_org.generate(&c).await.unwrap();
    assert!(per_org.unwrap(&wrapped, &c).await.is_ok());
    // An org without its key gets none.
    assert!(per_org.generate(&ctx()).await.is_err());
}

#[tokio::test]
async fn kms_down_is_unavailable() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let kms = aws::kms(
        &endpoint(&format!("http://{closed}")),
        KmsKeys::Deployment {
            key_id: "alias/none".into(),
        },
    )
    .await;
    assert!(matches!(
        kms.generate(&ctx()).await,
        Err(VaultError::Unavailable(_))
    ));
}

#[tokio::test]
async fn s3_streams_large_objects_in_parts_and_back() {
    let Some(url) = env("ACCORD_TEST_S3_ENDPOINT") else {
        return;
    };
    let (store, _, _) = bucket(&url).await;
    let store: Arc<dyn ObjectStore> = Arc::new(store);
    let keys = Arc::new(accord_vault::keys::LocalKeyFile::from_bytes([3; 32]));
    let vault = Vault::new(keys, store.clone(), Scanner::Disabled);
    let c = ctx();
    // 20 MiB + a bit: three parts of ciphertext.
    let chunk: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
    let mut up = vault.upload("orgs/a/documents/b/c", &c).await.unwrap();
    for _ in 0..21 {
        up.write(&chunk).await.unwrap();
    }
    let stored = up.finish().await.unwrap();
    assert_eq!(stored.plain_len, 21 * chunk.len() as u64);
    assert_eq!(
        store.head("orgs/a/documents/b/c").await.unwrap(),
        Some(accord_vault::stream::ciphertext_len(stored.plain_len))
    );
    let plain: Vec<bytes::Bytes> = vault
        .download("orgs/a/documents/b/c", &stored.wrapped, &c)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let plain = plain.concat();
    assert_eq!(plain.len(), 21 * chunk.len());
    assert!(plain.chunks(chunk.len()).all(|p| p == chunk.as_slice()));
    let listed = store.list("orgs/a/").await.unwrap();
    assert_eq!(listed.len(), 1);

    // A small object goes up in one request; an aborted one leaves nothing.
    let mut small = vault.upload("orgs/a/documents/b/d", &c).await.unwrap();
    small.write(b"short").await.unwrap();
    small.finish().await.unwrap();
    let mut gone = vault.upload("orgs/a/documents/b/e", &c).await.unwrap();
    for _ in 0..10 {
        gone.write(&chunk).await.unwrap();
    }
    gone.abort().await;
    let keys: Vec<String> = store
        .list("orgs/")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(keys, vec!["orgs/a/documents/b/c", "orgs/a/documents/b/d"]);
    store.delete("orgs/a/documents/b/d").await.unwrap();
    assert!(matches!(
        store.get("orgs/a/documents/b/d").await,
        Err(VaultError::NotFound)
    ));
}

/// A TCP proxy in front of the S3 server that can be cut.
struct Proxy {
    addr: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: std::net::SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let flag = up.clone();
        let task = tokio::spawn(async move {
            let mut conns: Vec<tokio::task::JoinHandle<()>> = Vec::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { continue };
                        if !flag.load(Ordering::SeqCst) {
                            continue; // dropped: the client sees a reset
                        }
                        conns.push(tokio::spawn(async move {
                            if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            }
                        }));
                    }
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {
                        if !flag.load(Ordering::SeqCst) {
                            for c in conns.drain(..) {
                                c.abort();
                            }
                        }
                    }
                }
            }
        });
        Proxy { addr, up, task }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn s3_going_down_mid_upload_is_a_clear_error_and_leaves_no_object() {
    let Some(url) = env("ACCORD_TEST_S3_ENDPOINT") else {
        return;
    };
    let (_, raw, name) = bucket(&url).await;
    let target: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let proxy = Proxy::start(target).await;
    let store: Arc<dyn ObjectStore> = Arc::new(
        aws::s3(
            &endpoint(&format!("http://{}", proxy.addr)),
            name.clone(),
            "vault/".into(),
            true,
        )
        .await,
    );
    let vault = Vault::new(
        Arc::new(accord_vault::keys::LocalKeyFile::from_bytes([4; 32])),
        store.clone(),
        Scanner::Disabled,
    );
    let chunk = vec![7u8; 1 << 20];
    let mut up = vault.upload("orgs/x/documents/y/z", &ctx()).await.unwrap();
    let mut failed = None;
    for i in 0..40 {
        if i == 12 {
            proxy.up.store(false, Ordering::SeqCst);
        }
        if let Err(e) = up.write(&chunk).await {
            failed = Some(e);
            break;
        }
    }
    let err = match failed {
        Some(e) => e,
        None => up.finish().await.map(|_| ()).unwrap_err(),
    };
    assert!(matches!(err, VaultError::Unavailable(_)), "{err:?}");
    // After recovery: no object, and no multipart upload left open.
    proxy.up.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let listed = raw.list_objects_v2().bucket(&name).send().await.unwrap();
    assert_eq!(listed.key_count().unwrap_or(0), 0, "{listed:?}");
    assert!(store.list("").await.unwrap().is_empty());
}
