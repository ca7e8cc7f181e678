//! The documents vault's cloud services going away under the HTTP routes:
//! S3 (s3s-fs) in the middle of an upload, KMS (moto) for uploads and
//! downloads. Each is reached through a proxy of the test's own that can be
//! cut (connections in progress are reset, new ones are dropped), in front
//! of the servers `scripts/test` starts (`ACCORD_TEST_S3_ENDPOINT`,
//! `ACCORD_TEST_S3_DIR`, `ACCORD_TEST_KMS_ENDPOINT`). While a service is
//! down the routes answer `503` `UNAVAILABLE` with `Retry-After`; no
//! document becomes half visible, no orphan object is left, what was
//! acknowledged before stays readable, and everything works again once the
//! service is back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use accord_vault::aws::{self, Endpoint};
use accord_vault::keys::{KmsKeys, LocalKeyFile};
use accord_vault::store::LocalDir;
use accord_vault::{Scanner, Vault};
use serde_json::{json, Value};
use sha2::Digest as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{at, download, multipart, pdf, serve_vault, upload, world, World};

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

/// A TCP proxy to a service that the test can cut and restore.
struct Proxy {
    addr: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: &str) -> anyhow::Result<Proxy> {
        let target: std::net::SocketAddr = target.trim_start_matches("http://").parse()?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let up = Arc::new(AtomicBool::new(true));
        let flag = up.clone();
        let task = tokio::spawn(async move {
            let mut conns: Vec<tokio::task::JoinHandle<()>> = Vec::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { continue };
                        if !flag.load(Ordering::SeqCst) {
                            continue; // dropped: the client sees the connection close
                        }
                        conns.push(tokio::spawn(async move {
                            if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            }
                        }));
                    }
                    _ = tokio::time::sleep(Duration::from_millis(10)) => {
                        if !flag.load(Ordering::SeqCst) {
                            for c in conns.drain(..) {
                                c.abort();
                            }
                        }
                    }
                }
            }
        });
        Ok(Proxy { addr, up, task })
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
    }

    async fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn endpoint(url: String) -> Endpoint {
    Endpoint {
        region: Some("us-east-1".into()),
        url: Some(url),
    }
}

/// A bucket of its own on the shared s3s-fs (a directory under its root).
fn new_bucket() -> anyhow::Result<Option<String>> {
    let Some(dir) = env("ACCORD_TEST_S3_DIR") else {
        return Ok(None);
    };
    let name = format!("accord-faults-{}", uuid::Uuid::new_v4().simple());
    std::fs::create_dir_all(std::path::Path::new(&dir).join(&name))?;
    Ok(Some(name))
}

/// A fresh symmetric key on the KMS server (moto does not check signatures,
/// so a plain JSON request is enough to make one).
async fn new_kms_key(url: &str) -> anyhow::Result<String> {
    let res: Value = reqwest::Client::new()
        .post(url)
        // moto tells services apart by the credential scope.
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00",
        )
        .header("x-amz-target", "TrentService.CreateKey")
        .header("content-type", "application/x-amz-json-1.1")
        .body("{}")
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(res["KeyMetadata"]["KeyId"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no key id in {res}"))?
        .to_owned())
}

fn temp_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("accord-faults-{}", uuid::Uuid::now_v7().simple()))
}

async fn listed(client: &accord_testkit::Client, case: &str) -> anyhow::Result<Vec<String>> {
    let data = client
        .ok(
            "query($c: UUID!) { caseDocuments(caseId: $c) { name } }",
            json!({ "c": case }),
        )
        .await?;
    Ok(data["caseDocuments"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

fn assert_unavailable(status: u16, body: &Value, retry_after: Option<&str>) {
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "UNAVAILABLE", "{body}");
    let secs: u64 = retry_after
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After with {body}"));
    assert!(secs > 0);
}

/// Signs `email` in with a raw request: its `Cookie` header and CSRF token.
async fn raw_session(w: &World, email: &str) -> anyhow::Result<(String, String)> {
    let res = reqwest::Client::new()
        .post(format!("{}/auth/sign-in", w.app.base_url))
        .json(&json!({ "email": email, "password": accord_testkit::PASSWORD }))
        .send()
        .await?;
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    let body: Value = res.json().await?;
    let csrf = body["csrfToken"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no CSRF token in {body}"))?
        .to_owned();
    Ok((cookie, csrf))
}

/// Uploads over a raw connection: the head and the first `first` bytes of
/// the body, then `between` runs, then the rest. Returns the status, the
/// `Retry-After` header and the JSON answer.
async fn upload_with_pause(
    w: &World,
    base_url: &str,
    file: &[u8],
    first: usize,
    between: impl std::future::Future<Output = ()>,
) -> anyhow::Result<(u16, Option<String>, Value)> {
    let (content_type, body) = multipart(&[("caseId", &w.case)], "during.pdf", file);
    let (cookie, csrf) = raw_session(w, "p1@d.test").await?;
    let addr = base_url.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await?;
    let head = format!(
        "POST /documents/upload HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCookie: {cookie}\r\nx-csrf-token: {csrf}\r\nConnection: close\r\n\r\n",
        body.len(),
    );
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(&body[..first]).await?;
    conn.flush().await?;
    between.await;
    // The server may answer before it has read everything: a refused write
    // is fine, the answer is what counts.
    let _ = conn.write_all(&body[first..]).await;
    let _ = conn.flush().await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), conn.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("no HTTP answer: {text:?}"))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status in {head:?}"))?;
    let retry_after = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("retry-after:")
                .or_else(|| l.strip_prefix("Retry-After:"))
        })
        .map(|v| v.trim().to_owned());
    Ok((
        status,
        retry_after,
        serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())),
    ))
}

#[tokio::test]
async fn s3_going_down_mid_upload_answers_unavailable_and_loses_nothing() -> anyhow::Result<()> {
    let (Some(s3), Some(bucket)) = (env("ACCORD_TEST_S3_ENDPOINT"), new_bucket()?) else {
        return Ok(());
    };
    let w = world().await?;
    let proxy = Proxy::start(&s3).await?;
    let store = aws::s3(&endpoint(proxy.url()), bucket, "vault/".into(), true).await;
    let vault = Vault::new(
        Arc::new(LocalKeyFile::from_bytes([9; 32])),
        Arc::new(store),
        Scanner::Disabled,
    );
    let v = serve_vault(&w.app, vault.clone()).await?;
    let p1 = at(&w.p1, &v);
    let mediator = at(&w.mediator, &v);

    // Acknowledged before the outage: one small, one of several parts.
    let small = pdf(3_000, "before");
    let large = pdf(11 << 20, "large before");
    let (status, small_up) = upload(&p1, &[("caseId", &w.case)], "small.pdf", &small).await?;
    assert_eq!(status, 201, "{small_up}");
    let (status, large_up) = upload(&p1, &[("caseId", &w.case)], "large.pdf", &large).await?;
    assert_eq!(status, 201, "{large_up}");

    // An upload of three parts: S3 goes away after the first part is stored,
    // so the failure comes when the rest goes up.
    let file = pdf(12 << 20, "during the outage");
    let (status, retry_after, body) = upload_with_pause(&w, &v.base_url, &file, 7 << 20, async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        proxy.cut();
    })
    .await?;
    assert_unavailable(status, &body, retry_after.as_deref());

    // While it is down: nothing half visible, and a download is unavailable
    // too, never INTERNAL.
    assert_eq!(
        listed(&mediator, &w.case).await?,
        vec!["large.pdf", "small.pdf"]
    );
    let res = p1
        .http
        .get(format!(
            "{}/documents/versions/{}/content",
            v.base_url,
            small_up["versionId"].as_str().unwrap_or_default()
        ))
        .send()
        .await?;
    assert_eq!(res.status().as_u16(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await?;
    assert_eq!(body["error"]["code"], "UNAVAILABLE", "{body}");

    // An agreement sent for signature while S3 is down: its PDF cannot be
    // stored, so it stays a draft (and no object is left behind).
    let drafted = mediator
        .ok(
            "mutation($c: UUID!) { draftAgreement(caseId: $c, kind: SETTLEMENT, title: \"Settlement\", body: \"Each side bears its costs.\") { id } }",
            json!({ "c": w.case }),
        )
        .await?;
    let agreement = drafted["draftAgreement"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let send =
        "mutation($id: UUID!) { sendAgreementForSignature(id: $id) { status contentSha256 } }";
    assert_eq!(
        mediator
            .error_code(send, json!({ "id": agreement }))
            .await?,
        "UNAVAILABLE"
    );
    let status = "query($id: UUID!) { agreement(id: $id) { status } }";
    assert_eq!(
        mediator.ok(status, json!({ "id": agreement })).await?["agreement"]["status"],
        "DRAFT"
    );

    proxy.restore().await;
    // After recovery: no row and no object of the failed upload, and what
    // was acknowledged reads back byte for byte.
    let report = accord_api::documents::verify(&w.app.db.app, &vault, w.org).await?;
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.checked, 2, "{report}");
    // The agreement goes out now, its PDF stored in S3 and checked with the
    // documents.
    let sent = mediator.ok(send, json!({ "id": agreement })).await?;
    assert_eq!(sent["sendAgreementForSignature"]["status"], "SIGNING");
    let res = mediator
        .http
        .get(format!("{}/agreements/{agreement}/pdf", v.base_url))
        .send()
        .await?;
    assert_eq!(res.status().as_u16(), 200);
    let printed = res.bytes().await?;
    let hash = sent["sendAgreementForSignature"]["contentSha256"]
        .as_str()
        .unwrap_or_default();
    let printed_hash: String = sha2::Sha256::digest(&printed)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(printed_hash, hash);
    let report = accord_api::documents::verify(&w.app.db.app, &vault, w.org).await?;
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.checked, 3, "{report}");
    for (up, bytes) in [(&small_up, &small), (&large_up, &large)] {
        let (status, got) =
            download(&mediator, up["versionId"].as_str().unwrap_or_default()).await?;
        assert_eq!(status, 200);
        assert!(
            got == *bytes,
            "a document acknowledged before the outage changed"
        );
    }
    // And the same upload now succeeds.
    let (status, again) = upload(&p1, &[("caseId", &w.case)], "during.pdf", &file).await?;
    assert_eq!(status, 201, "{again}");
    let (status, got) =
        download(&mediator, again["versionId"].as_str().unwrap_or_default()).await?;
    assert_eq!(status, 200);
    assert!(got == file);
    let report = accord_api::documents::verify(&w.app.db.app, &vault, w.org).await?;
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.checked, 4);
    Ok(())
}

#[tokio::test]
async fn kms_down_answers_unavailable_for_uploads_and_downloads_and_recovers() -> anyhow::Result<()>
{
    let Some(kms_url) = env("ACCORD_TEST_KMS_ENDPOINT") else {
        return Ok(());
    };
    let w = world().await?;
    let key_id = new_kms_key(&kms_url).await?;
    let proxy = Proxy::start(&kms_url).await?;
    let keys = aws::kms(&endpoint(proxy.url()), KmsKeys::Deployment { key_id }).await;
    let dir = temp_dir();
    let vault = Vault::new(
        Arc::new(keys),
        Arc::new(LocalDir::new(dir.join("objects"))?),
        Scanner::Disabled,
    );
    let v = serve_vault(&w.app, vault.clone()).await?;
    let p1 = at(&w.p1, &v);
    let mediator = at(&w.mediator, &v);

    let before = pdf(200_000, "under KMS");
    let (status, up) = upload(&p1, &[("caseId", &w.case)], "kept.pdf", &before).await?;
    assert_eq!(status, 201, "{up}");
    let version = up["versionId"].as_str().unwrap_or_default().to_owned();
    let downloads_audited = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM audit_events WHERE action = 'document.download'",
        )
        .fetch_one(w.app.db.admin.pool())
        .await
    };
    let audited_before = downloads_audited().await?;

    proxy.cut();
    // An upload cannot get a data key: unavailable, and nothing stored.
    let (content_type, body) = multipart(
        &[("caseId", &w.case)],
        "refused.pdf",
        &pdf(50_000, "no key"),
    );
    let res = p1
        .http
        .post(format!("{}/documents/upload", v.base_url))
        .header("content-type", content_type)
        .header("x-csrf-token", p1.csrf.clone().unwrap_or_default())
        .body(body)
        .send()
        .await?;
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let answer: Value = res.json().await?;
    assert_unavailable(status, &answer, retry_after.as_deref());
    // A download cannot unwrap its key: unavailable, and not audited as done.
    let res = mediator
        .http
        .get(format!(
            "{}/documents/versions/{version}/content",
            v.base_url
        ))
        .send()
        .await?;
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let answer: Value = res.json().await?;
    assert_unavailable(status, &answer, retry_after.as_deref());
    assert_eq!(downloads_audited().await?, audited_before);
    assert_eq!(listed(&mediator, &w.case).await?, vec!["kept.pdf"]);

    proxy.restore().await;
    let report = accord_api::documents::verify(&w.app.db.app, &vault, w.org).await?;
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.checked, 1, "{report}");
    let (status, got) = download(&mediator, &version).await?;
    assert_eq!(status, 200);
    assert!(got == before);
    assert_eq!(downloads_audited().await?, audited_before + 1);
    let (status, again) = upload(
        &p1,
        &[("caseId", &w.case)],
        "refused.pdf",
        &pdf(50_000, "no key"),
    )
    .await?;
    assert_eq!(status, 201, "{again}");
    assert_eq!(
        listed(&mediator, &w.case).await?.len(),
        2,
        "the upload after recovery is listed"
    );
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
