//! The documents vault through the API: uploads and downloads as each role,
//! visibility enforced by Postgres (NOT_FOUND, never a hint of existence),
//! bad input, a client that goes away mid-upload, virus scanning with a real
//! clamd (and without one: pending, then retried), erasure by
//! crypto-shredding, legal holds, retention, and `vault verify`.
//!
//! The app under test is the usual one (`spawn_app`) for signing in, and a
//! second router on the same database with a vault configured, which the
//! same signed-in clients reach (cookies are per host, not per port).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use accord_api::{ApiConfig, AppState};
use accord_domain::{OrgId, Role};
use accord_testkit::{spawn_app, Client, TestApp};
use accord_vault::keys::LocalKeyFile;
use accord_vault::store::LocalDir;
use accord_vault::{Clamd, Scanner, Vault};
use serde_json::{json, Value};

/// S3 and KMS going away under the routes.
mod vault_faults;

const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// A PDF-looking file of `len` bytes whose body holds `marker`.
pub(crate) fn pdf(len: usize, marker: &str) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    while v.len() < len {
        v.extend_from_slice(marker.as_bytes());
        v.push(b'\n');
    }
    v.truncate(len);
    v
}

pub(crate) struct VaultApp {
    pub(crate) base_url: String,
    _server: tokio::task::JoinHandle<()>,
}

/// Serves the API with `vault` on the app's database.
pub(crate) async fn serve_vault(app: &TestApp, vault: Vault) -> anyhow::Result<VaultApp> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let config = ApiConfig {
        public_url: url::Url::parse(&base_url)?,
        mail_from: "accord@accord.test".into(),
        secure_cookies: false,
        dev_mode: false,
        session_ttl: Duration::from_secs(3600),
        setup_link_ttl: Duration::from_secs(3600),
        reset_link_ttl: Duration::from_secs(1800),
        rate_limit: accord_api::RateLimitConfig {
            burst: 1000,
            replenish_every: Duration::from_millis(1),
            trusted_proxy_hops: 0,
        },
        join_keys: app.join_keys.clone(),
        portal_dir: None,
        graphiql_dir: None,
    };
    let state = AppState::new(
        app.db.app.clone(),
        config,
        None,
        accord_notify::worker::Wake::default(),
    )
    .with_vault(vault);
    let router = accord_api::app(state);
    let server = tokio::spawn(async move {
        let _ = accord_api::serve_router(listener, router, std::future::pending()).await;
    });
    Ok(VaultApp {
        base_url,
        _server: server,
    })
}

fn temp_dir(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("accord-{what}-{}", uuid::Uuid::now_v7().simple()))
}

/// A vault on a local key file and directory, scanning with `scanner`.
pub(crate) fn local_vault(scanner: Scanner) -> anyhow::Result<(Vault, PathBuf)> {
    let dir = temp_dir("vault");
    let keys = LocalKeyFile::open_or_create(&dir.join("vault.key"))?;
    let store = LocalDir::new(dir.join("objects"))?;
    Ok((Vault::new(Arc::new(keys), Arc::new(store), scanner), dir))
}

/// An org with a case mediated by `med@`, parties `p1@` and `p2@` on it,
/// `outsider@` (a party of the org, not on the case), `admin@`; and a second
/// org with its own admin. Everyone signed in.
pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) org: OrgId,
    pub(crate) case: String,
    pub(crate) admin: Client,
    pub(crate) mediator: Client,
    pub(crate) p1: Client,
    pub(crate) p1_id: String,
    pub(crate) p2: Client,
    pub(crate) outsider: Client,
    pub(crate) stranger: Client,
}

pub(crate) async fn world() -> anyhow::Result<World> {
    // Internal errors are logged, not sent: show them when a test fails.
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let app = spawn_app().await?;
    let org = app.org("docs").await?;
    app.member(org, "admin@d.test", Role::OrgAdmin).await?;
    let med = app.member(org, "med@d.test", Role::Mediator).await?;
    let p1 = app.member(org, "p1@d.test", Role::Party).await?;
    app.member(org, "p2@d.test", Role::Party).await?;
    app.member(org, "outsider@d.test", Role::Party).await?;
    let other = app.org("elsewhere").await?;
    app.member(other, "stranger@e.test", Role::OrgAdmin).await?;
    let admin = app.sign_in("admin@d.test", None).await?;
    let case = admin
        .ok(
            "mutation($m: UUID) { createCase(input: {reference: \"D-1\", title: \"T\", mediatorId: $m}) { id } }",
            json!({ "m": med }),
        )
        .await?["createCase"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for email in ["p1@d.test", "p2@d.test"] {
        admin
            .ok(
                "mutation($c: UUID!, $e: String!) { addParty(input: {caseId: $c, kind: PARTY, displayName: \"P\", email: $e}) { id } }",
                json!({ "c": case, "e": email }),
            )
            .await?;
    }
    Ok(World {
        mediator: app.sign_in("med@d.test", None).await?,
        p1: app.sign_in("p1@d.test", None).await?,
        p1_id: p1.to_string(),
        p2: app.sign_in("p2@d.test", None).await?,
        outsider: app.sign_in("outsider@d.test", None).await?,
        stranger: app.sign_in("stranger@e.test", None).await?,
        admin,
        app,
        org,
        case,
    })
}

/// `client` pointed at the vault's server.
pub(crate) fn at(client: &Client, v: &VaultApp) -> Client {
    Client {
        base_url: v.base_url.clone(),
        ..client.clone()
    }
}

/// A multipart body: the text fields, then the file.
pub(crate) fn multipart(
    fields: &[(&str, &str)],
    filename: &str,
    bytes: &[u8],
) -> (String, Vec<u8>) {
    let boundary = format!("accordtest{}", uuid::Uuid::new_v4().simple());
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Uploads; returns the status and the JSON answer.
pub(crate) async fn upload(
    client: &Client,
    fields: &[(&str, &str)],
    filename: &str,
    bytes: &[u8],
) -> anyhow::Result<(u16, Value)> {
    let (content_type, body) = multipart(fields, filename, bytes);
    let mut req = client
        .http
        .post(format!("{}/documents/upload", client.base_url))
        .header("content-type", content_type)
        .body(body);
    if let Some(csrf) = &client.csrf {
        req = req.header("x-csrf-token", csrf);
    }
    let res = req.send().await?;
    let status = res.status().as_u16();
    let text = res.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

/// The case's timeline as `client` sees it, newest first: (kind, summary).
pub(crate) async fn timeline(client: &Client, case: &str) -> anyhow::Result<Vec<(String, String)>> {
    let page = client
        .ok(
            "query($c: UUID!) { caseTimeline(caseId: $c, first: 100) { entries { kind summary } } }",
            json!({ "c": case }),
        )
        .await?;
    Ok(page["caseTimeline"]["entries"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_owned(),
                e["summary"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}

pub(crate) async fn download(client: &Client, version: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    let res = client
        .http
        .get(format!(
            "{}/documents/versions/{version}/content",
            client.base_url
        ))
        .send()
        .await?;
    Ok((res.status().as_u16(), res.bytes().await?.to_vec()))
}

const LIST: &str = "query($c: UUID!) { caseDocuments(caseId: $c) { id name visibility latest { id scanState filename } } }";
const ONE: &str = "query($d: UUID!) { document(id: $d) { id name versions { id number } } }";

fn names(data: &Value) -> Vec<String> {
    data["caseDocuments"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| d["name"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn private_documents_reach_the_mediator_and_nobody_else() -> anyhow::Result<()> {
    let w = world().await?;
    let (vault, dir) = local_vault(Scanner::Disabled)?;
    let v = serve_vault(&w.app, vault).await?;
    let (p1, p2, med) = (at(&w.p1, &v), at(&w.p2, &v), at(&w.mediator, &v));
    let (outsider, stranger, admin) = (at(&w.outsider, &v), at(&w.stranger, &v), at(&w.admin, &v));

    // Several segments, so the download really streams and reassembles.
    let content = pdf(300_000, "PRIVATE-BRIEF-SECRET");
    let (status, up) = upload(
        &p1,
        &[("caseId", &w.case), ("visibility", "party")],
        "Brief for the mediator.pdf",
        &content,
    )
    .await?;
    assert_eq!(status, 201, "{up}");
    assert_eq!(up["scanState"], "not_scanned");
    assert_eq!(up["mediaType"], "application/pdf");
    let doc = up["documentId"].as_str().unwrap().to_owned();
    let version = up["versionId"].as_str().unwrap().to_owned();

    // The mediator sees and downloads it, byte for byte.
    let listed = med.ok(LIST, json!({ "c": w.case })).await?;
    assert_eq!(names(&listed), vec!["Brief for the mediator.pdf"]);
    assert_eq!(listed["caseDocuments"][0]["visibility"], "PARTY");
    let (status, bytes) = download(&med, &version).await?;
    assert_eq!(status, 200);
    assert_eq!(bytes, content);
    // The uploader too.
    assert_eq!(download(&p1, &version).await?.1, content);

    // The other party: not listed, not found, not downloadable.
    assert!(names(&p2.ok(LIST, json!({ "c": w.case })).await?).is_empty());
    assert_eq!(p2.error_code(ONE, json!({ "d": doc })).await?, "NOT_FOUND");
    let (status, body) = download(&p2, &version).await?;
    assert_eq!(status, 404);
    assert!(
        !contains(&body, b"Brief"),
        "the name leaked: {}",
        String::from_utf8_lossy(&body)
    );
    // The case timeline follows: the uploader and the mediator see a
    // document added, the other party sees no event of it.
    for who in [&p1, &med] {
        let seen = timeline(who, &w.case).await?;
        assert!(
            seen.contains(&("document.upload".into(), "Document added".into())),
            "{seen:?}"
        );
    }
    let theirs = timeline(&p2, &w.case).await?;
    assert!(
        !theirs.iter().any(|(k, _)| k.starts_with("document.")),
        "{theirs:?}"
    );
    assert!(theirs.iter().any(|(k, _)| k == "case.create"), "{theirs:?}");
    // Not even the org's admin (not the case's mediator).
    assert!(names(&admin.ok(LIST, json!({ "c": w.case })).await?).is_empty());
    assert_eq!(download(&admin, &version).await?.0, 404);
    // A party of the org not on the case, and another org: NOT_FOUND, like a
    // random id.
    assert_eq!(
        outsider.error_code(LIST, json!({ "c": w.case })).await?,
        "NOT_FOUND"
    );
    assert_eq!(download(&outsider, &version).await?.0, 404);
    assert_eq!(
        stranger.error_code(ONE, json!({ "d": doc })).await?,
        "NOT_FOUND"
    );
    assert_eq!(
        stranger.error_code(LIST, json!({ "c": w.case })).await?,
        "NOT_FOUND"
    );
    let (s_missing, b_missing) = download(&stranger, &uuid::Uuid::now_v7().to_string()).await?;
    let (s_real, b_real) = download(&stranger, &version).await?;
    assert_eq!((s_real, s_missing), (404, 404));
    let code = |b: &[u8]| serde_json::from_slice::<Value>(b).map(|v| v["error"]["code"].clone());
    assert_eq!(code(&b_real)?, code(&b_missing)?);
    // A party cannot file a document private to someone else.
    let (status, body) = upload(
        &p2,
        &[
            ("caseId", &w.case),
            ("visibility", "party"),
            ("partyUserId", &w.p1_id),
        ],
        "x.pdf",
        &pdf(100, "x"),
    )
    .await?;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("partyUserId"))
    );

    // A case-wide document of p2 reaches p1.
    let (status, shared) = upload(
        &p2,
        &[("caseId", &w.case)],
        "Position statement.pdf",
        &pdf(5000, "p2"),
    )
    .await?;
    assert_eq!(status, 201, "{shared}");
    assert_eq!(
        names(&p1.ok(LIST, json!({ "c": w.case })).await?),
        vec!["Position statement.pdf", "Brief for the mediator.pdf"]
    );

    // p2 cannot change who sees p1's brief (cannot see it at all).
    let share = "mutation($d: UUID!) { setDocumentVisibility(documentId: $d, visibility: CASE) { id visibility } }";
    assert_eq!(
        p2.error_code(share, json!({ "d": doc })).await?,
        "NOT_FOUND"
    );
    // p1 sees it but is not the mediator.
    assert_eq!(
        p1.error_code(share, json!({ "d": doc })).await?,
        "FORBIDDEN"
    );
    // The mediator shares it with the case; now p2 sees and downloads it.
    let shared = med.ok(share, json!({ "d": doc })).await?;
    assert_eq!(shared["setDocumentVisibility"]["visibility"], "CASE");
    assert_eq!(names(&p2.ok(LIST, json!({ "c": w.case })).await?).len(), 2);
    assert_eq!(download(&p2, &version).await?.1, content);

    // A second version by its author; versions are listed newest first.
    let (status, v2) = upload(
        &p1,
        &[("caseId", &w.case), ("documentId", &doc)],
        "Brief v2.pdf",
        &pdf(2000, "second"),
    )
    .await?;
    assert_eq!(status, 201, "{v2}");
    assert_eq!(v2["version"], 2);
    let one = med.ok(ONE, json!({ "d": doc })).await?;
    assert_eq!(one["document"]["name"], "Brief v2.pdf");
    let numbers: Vec<i64> = one["document"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![2, 1]);
    // p2 (not its author, not the mediator) may not add versions.
    let (status, _) = upload(
        &p2,
        &[("caseId", &w.case), ("documentId", &doc)],
        "mine.pdf",
        &pdf(100, "x"),
    )
    .await?;
    assert_eq!(status, 403);

    // Nothing in the store is plaintext, and the audit log names no file.
    for file in files_under(&dir.join("objects")) {
        let bytes = std::fs::read(&file)?;
        assert!(
            !contains(&bytes, b"PRIVATE-BRIEF-SECRET"),
            "plaintext in {}",
            file.display()
        );
    }
    let actions: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, coalesce(target_type, '') FROM audit_events WHERE action LIKE 'document.%' ORDER BY seq",
    )
    .fetch_all(w.app.db.admin.pool())
    .await?;
    let actions: Vec<&str> = actions.iter().map(|(a, _)| a.as_str()).collect();
    for expected in [
        "document.upload",
        "document.download",
        "document.visibility_change",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} not audited: {actions:?}"
        );
    }
    let leaked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE row_to_json(audit_events)::text ILIKE '%brief%'",
    )
    .fetch_one(w.app.db.admin.pool())
    .await?;
    assert_eq!(leaked, 0, "a document name reached the audit log");

    // The mediator asks for its erasure: queued, and audited by id.
    med.ok(
        "mutation($d: UUID!) { eraseDocument(documentId: $d) }",
        json!({ "d": doc }),
    )
    .await?;
    let requested: Option<uuid::Uuid> = sqlx::query_scalar(
        "SELECT target_id FROM audit_events WHERE action = 'document.erase_request' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(w.app.db.admin.pool())
    .await?;
    assert_eq!(requested, Some(uuid::Uuid::parse_str(&doc)?));
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

#[tokio::test]
async fn bad_uploads_are_refused_clearly_and_leave_nothing() -> anyhow::Result<()> {
    let w = world().await?;
    let (vault, dir) = local_vault(Scanner::Disabled)?;
    let v = serve_vault(&w.app, vault).await?;
    let p1 = at(&w.p1, &v);
    let case = [("caseId", w.case.as_str())];
    let field = |b: &Value| b["error"]["field"].as_str().map(str::to_owned);

    let (status, body) = upload(&p1, &case, "empty.pdf", b"").await?;
    assert_eq!(
        (status, field(&body).as_deref()),
        (400, Some("file")),
        "{body}"
    );
    let elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0rest of a program";
    let (status, body) = upload(&p1, &case, "notes.pdf", elf).await?;
    assert_eq!(
        (status, field(&body).as_deref()),
        (400, Some("file")),
        "{body}"
    );
    assert_eq!(body["error"]["code"], "BAD_USER_INPUT");
    for name in [
        "../../etc/passwd",
        "a\\b.pdf",
        "bell\u{7}.pdf",
        "next\u{85}line.pdf",
        "..",
        "   ",
    ] {
        let (status, body) = upload(&p1, &case, name, &pdf(100, "x")).await?;
        assert_eq!(
            (status, field(&body).as_deref()),
            (400, Some("filename")),
            "{name:?}: {body}"
        );
    }
    let (status, _) = upload(
        &p1,
        &[("caseId", &uuid::Uuid::now_v7().to_string())],
        "x.pdf",
        &pdf(100, "x"),
    )
    .await?;
    assert_eq!(status, 404);
    let (status, _) = upload(&p1, &[("caseId", "not-an-id")], "x.pdf", &pdf(100, "x")).await?;
    assert_eq!(status, 404);
    // Without the CSRF token.
    let no_csrf = Client {
        csrf: None,
        ..p1.clone()
    };
    let (status, _) = upload(&no_csrf, &case, "x.pdf", &pdf(100, "x")).await?;
    assert_eq!(status, 403);
    // Signed out.
    let nobody = Client {
        http: reqwest::Client::new(),
        ..p1.clone()
    };
    assert_eq!(
        upload(&nobody, &case, "x.pdf", &pdf(100, "x")).await?.0,
        401
    );

    // Over the org's limit: 413, with the limit in the message.
    let admin = at(&w.admin, &v);
    let set = "mutation($m: Float!) { setDocumentSettings(maxUploadBytes: $m) { maxUploadBytes } }";
    admin.ok(set, json!({ "m": 100_000.0 })).await?;
    assert_eq!(p1.error_code(set, json!({ "m": 5.0 })).await?, "FORBIDDEN");
    assert_eq!(
        admin.error_code(set, json!({ "m": 0.5 })).await?,
        "BAD_USER_INPUT"
    );
    let (status, body) = upload(&p1, &case, "big.pdf", &pdf(300_000, "big")).await?;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "BAD_USER_INPUT");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("100000"));
    let (status, _) = upload(&p1, &case, "fits.pdf", &pdf(100_000, "ok")).await?;
    assert_eq!(status, 201);

    // One document stored, nothing else: no rows, no objects, no partial files.
    let versions: i64 = sqlx::query_scalar("SELECT count(*) FROM document_versions")
        .fetch_one(w.app.db.admin.pool())
        .await?;
    assert_eq!(versions, 1);
    assert_eq!(files_under(&dir.join("objects")).len(), 1);
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

#[tokio::test]
async fn a_client_that_disconnects_mid_upload_leaves_nothing() -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    let w = world().await?;
    let (vault, dir) = local_vault(Scanner::Disabled)?;
    let v = serve_vault(&w.app, vault).await?;
    let p1 = at(&w.p1, &v);
    let (content_type, body) =
        multipart(&[("caseId", &w.case)], "long.pdf", &pdf(4_000_000, "cut"));
    // Announce it all, send 60 %, hang up.
    let jar_cookie = session_cookie(&w, "p1@d.test").await?;
    let addr = v.base_url.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await?;
    let head = format!(
        "POST /documents/upload HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCookie: {jar_cookie}\r\nx-csrf-token: {}\r\n\r\n",
        body.len(),
        p1.csrf.clone().unwrap_or_default()
    );
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(&body[..body.len() * 6 / 10]).await?;
    conn.flush().await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(conn);
    // The server notices, discards the partial object and writes no row.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let partial = files_under(&dir.join("objects"));
        if partial.is_empty() {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "left behind: {partial:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM document_versions")
        .fetch_one(w.app.db.admin.pool())
        .await?;
    assert_eq!(rows, 0);
    // And the next upload works.
    assert_eq!(
        upload(&p1, &[("caseId", &w.case)], "ok.pdf", &pdf(1000, "ok"))
            .await?
            .0,
        201
    );
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

/// Signs `email` in with a raw request and returns its `Cookie` header value.
async fn session_cookie(w: &World, email: &str) -> anyhow::Result<String> {
    let res = reqwest::Client::new()
        .post(format!("{}/auth/sign-in", w.app.base_url))
        .json(&json!({ "email": email, "password": accord_testkit::PASSWORD }))
        .send()
        .await?;
    let cookies: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").to_owned())
        .collect();
    anyhow::ensure!(!cookies.is_empty(), "no cookie from sign-in");
    Ok(cookies.join("; "))
}

fn clamd_addr() -> Option<String> {
    match std::env::var("ACCORD_TEST_CLAMD") {
        Ok(a) if !a.is_empty() => Some(a),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "ACCORD_TEST_CLAMD is unset: scripts/test starts clamd"
            );
            eprintln!("skipped: ACCORD_TEST_CLAMD is unset (scripts/test starts clamd)");
            None
        }
    }
}

#[tokio::test]
async fn clamd_quarantines_threats_and_pending_scans_are_retried() -> anyhow::Result<()> {
    let Some(clamd) = clamd_addr() else {
        return Ok(());
    };
    let w = world().await?;
    let dir = temp_dir("vault");
    let keys = Arc::new(LocalKeyFile::open_or_create(&dir.join("vault.key"))?);
    let store = Arc::new(LocalDir::new(dir.join("objects"))?);
    let scanning = Vault::new(
        keys.clone(),
        store.clone(),
        Scanner::Clamd(Clamd::new(clamd.clone(), Duration::from_secs(10))),
    );
    let v = serve_vault(&w.app, scanning.clone()).await?;
    let (p1, med) = (at(&w.p1, &v), at(&w.mediator, &v));
    let case = [("caseId", w.case.as_str())];

    let (status, clean) = upload(&p1, &case, "clean.pdf", &pdf(200_000, "clean")).await?;
    assert_eq!(
        (status, clean["scanState"].as_str()),
        (201, Some("clean")),
        "{clean}"
    );

    // The EICAR test file: quarantined, the uploader is told, nobody else sees it.
    let (status, bad) = upload(&p1, &case, "eicar.txt", EICAR.as_bytes()).await?;
    assert_eq!(
        (status, bad["scanState"].as_str()),
        (201, Some("quarantined")),
        "{bad}"
    );
    assert!(bad["message"].as_str().unwrap().contains("quarantined"));
    let bad_version = bad["versionId"].as_str().unwrap();
    assert_eq!(
        names(&med.ok(LIST, json!({ "c": w.case })).await?),
        vec!["clean.pdf"]
    );
    let mine = p1.ok(LIST, json!({ "c": w.case })).await?;
    assert_eq!(
        mine["caseDocuments"][0]["latest"]["scanState"],
        "QUARANTINED"
    );
    assert_eq!(download(&p1, bad_version).await?.0, 409);
    assert_eq!(download(&med, bad_version).await?.0, 404);

    // clamd unreachable: the upload lands as pending, seen by its uploader only.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?
    };
    let down = Vault::new(
        keys.clone(),
        store.clone(),
        Scanner::Clamd(Clamd::new(closed.to_string(), Duration::from_secs(2))),
    );
    let v_down = serve_vault(&w.app, down.clone()).await?;
    let p1_down = at(&w.p1, &v_down);
    let (status, pending) = upload(&p1_down, &case, "later.pdf", &pdf(70_000, "later")).await?;
    assert_eq!(
        (status, pending["scanState"].as_str()),
        (201, Some("pending")),
        "{pending}"
    );
    let (status, pending_bad) =
        upload(&p1_down, &case, "later-eicar.txt", EICAR.as_bytes()).await?;
    assert_eq!(
        (status, pending_bad["scanState"].as_str()),
        (201, Some("pending"))
    );
    assert_eq!(
        names(&med.ok(LIST, json!({ "c": w.case })).await?),
        vec!["clean.pdf"]
    );
    assert_eq!(
        download(&med, pending["versionId"].as_str().unwrap())
            .await?
            .0,
        404
    );

    // The retry while clamd is still down keeps them pending and reschedules.
    let ran = accord_api::documents::run_due(&w.app.db.app, &down, Duration::from_secs(60)).await?;
    assert_eq!(ran, 2);
    let open: Vec<(String, i32)> = sqlx::query_as(
        "SELECT status, attempts FROM jobs WHERE kind = 'vault.scan' ORDER BY created_at",
    )
    .fetch_all(w.app.db.admin.pool())
    .await?;
    assert_eq!(
        open,
        vec![("pending".to_owned(), 1), ("pending".to_owned(), 1)]
    );
    // Once clamd answers: the clean one is released, the threat quarantined.
    sqlx::query("UPDATE jobs SET run_at = now() WHERE kind = 'vault.scan'")
        .execute(w.app.db.admin.pool())
        .await?;
    let ran =
        accord_api::documents::run_due(&w.app.db.app, &scanning, Duration::from_secs(60)).await?;
    assert_eq!(ran, 2);
    let listed = names(&med.ok(LIST, json!({ "c": w.case })).await?);
    assert_eq!(listed, vec!["later.pdf", "clean.pdf"]);
    let (status, bytes) = download(&med, pending["versionId"].as_str().unwrap()).await?;
    assert_eq!((status, bytes), (200, pdf(70_000, "later")));
    let state: String =
        sqlx::query_scalar("SELECT scan_state FROM document_versions WHERE id = $1")
            .bind(uuid::Uuid::parse_str(
                pending_bad["versionId"].as_str().unwrap(),
            )?)
            .fetch_one(w.app.db.admin.pool())
            .await?;
    assert_eq!(state, "quarantined");
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

#[tokio::test]
async fn erasure_shreds_keys_and_legal_holds_keep_everything() -> anyhow::Result<()> {
    let w = world().await?;
    let (vault, dir) = local_vault(Scanner::Disabled)?;
    let v = serve_vault(&w.app, vault.clone()).await?;
    let (p1, med, admin) = (at(&w.p1, &v), at(&w.mediator, &v), at(&w.admin, &v));
    let content = pdf(150_000, "TO-BE-ERASED");
    let (_, up) = upload(
        &p1,
        &[("caseId", &w.case)],
        "settlement draft.pdf",
        &content,
    )
    .await?;
    let doc = up["documentId"].as_str().unwrap().to_owned();
    let version = up["versionId"].as_str().unwrap().to_owned();
    let object = files_under(&dir.join("objects")).pop().unwrap();
    // A copy of the ciphertext that survives the erasure (a backup).
    let copy = std::fs::read(&object)?;

    // Under legal hold nothing is erased.
    let hold = "mutation($c: UUID!, $h: Boolean!) { setLegalHold(caseId: $c, hold: $h) }";
    assert_eq!(
        med.error_code(hold, json!({ "c": w.case, "h": true }))
            .await?,
        "FORBIDDEN"
    );
    admin.ok(hold, json!({ "c": w.case, "h": true })).await?;
    let erase = "mutation($d: UUID!) { eraseDocument(documentId: $d) }";
    assert_eq!(
        med.error_code(erase, json!({ "d": doc })).await?,
        "CONFLICT"
    );
    assert_eq!(
        p1.error_code(erase, json!({ "d": doc })).await?,
        "FORBIDDEN"
    );
    // Nor by the database itself, whatever code asks.
    let refused = sqlx::query(
        "UPDATE document_versions SET wrapped_key = NULL, filename = NULL, erased_at = now() WHERE document_id = $1",
    )
    .bind(uuid::Uuid::parse_str(&doc)?)
    .execute(w.app.db.admin.pool())
    .await;
    assert!(refused.is_err(), "the hold guard let an erasure through");
    // Retention does not touch a held case either.
    admin
        .ok("mutation { setDocumentSettings(maxUploadBytes: 104857600, retentionDays: 1) { retentionDays } }", json!({}))
        .await?;
    sqlx::query("UPDATE cases SET status = 'closed', updated_at = now() - interval '3 days'")
        .execute(w.app.db.admin.pool())
        .await?;
    assert_eq!(
        accord_api::documents::retention_sweep(&w.app.db.app).await?,
        0
    );
    assert_eq!(download(&med, &version).await?.1, content);

    // Hold lifted: retention queues the erasure, the worker shreds and deletes.
    admin.ok(hold, json!({ "c": w.case, "h": false })).await?;
    assert_eq!(
        accord_api::documents::retention_sweep(&w.app.db.app).await?,
        1
    );
    assert_eq!(
        accord_api::documents::retention_sweep(&w.app.db.app).await?,
        0,
        "queued twice"
    );
    let ran =
        accord_api::documents::run_due(&w.app.db.app, &vault, Duration::from_secs(60)).await?;
    assert_eq!(ran, 1);
    assert!(names(&med.ok(LIST, json!({ "c": w.case })).await?).is_empty());
    assert_eq!(download(&med, &version).await?.0, 404);
    assert!(!object.exists(), "the object outlived its erasure");
    let (wrapped, filename): (Option<Vec<u8>>, Option<String>) =
        sqlx::query_as("SELECT wrapped_key, filename FROM document_versions WHERE id = $1")
            .bind(uuid::Uuid::parse_str(&version)?)
            .fetch_one(w.app.db.admin.pool())
            .await?;
    assert_eq!((wrapped, filename), (None, None));
    // The surviving copy cannot be decrypted with anything Accord still holds:
    // no wrapped key is left to unwrap, and no other key opens it.
    let all_keys: Vec<Option<Vec<u8>>> =
        sqlx::query_scalar("SELECT wrapped_key FROM document_versions")
            .fetch_all(w.app.db.admin.pool())
            .await?;
    assert!(all_keys.iter().all(Option::is_none));
    assert!(accord_vault::stream::open_all(&accord_vault::DataKey::random(), &copy).is_err());
    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_events WHERE action IN ('case.legal_hold_place', 'organization.document_settings', 'case.legal_hold_lift', 'document.retention_expire', 'document.erase') ORDER BY seq",
    )
    .fetch_all(w.app.db.admin.pool())
    .await?;
    assert_eq!(
        audited,
        vec![
            "case.legal_hold_place",
            "organization.document_settings",
            "case.legal_hold_lift",
            "document.retention_expire",
            "document.erase"
        ]
    );
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

#[tokio::test]
async fn verify_finds_damaged_missing_and_orphaned_objects() -> anyhow::Result<()> {
    let w = world().await?;
    let (vault, dir) = local_vault(Scanner::Disabled)?;
    let v = serve_vault(&w.app, vault.clone()).await?;
    let p1 = at(&w.p1, &v);
    for (name, len) in [("a.pdf", 1000), ("b.pdf", 70_000), ("c.pdf", 500)] {
        assert_eq!(
            upload(&p1, &[("caseId", &w.case)], name, &pdf(len, name))
                .await?
                .0,
            201
        );
    }
    let clean = accord_api::documents::verify(&w.app.db.app, &vault, w.org).await?;
    assert!(clean.is_clean(), "{clean}");
    assert_eq!(clean.checked, 3);

    let mut objects = files_under(&dir.join("objects"));
    objects.sort();
    // One truncated, one deleted, one with a flipped byte in its first segment.
    let bytes = std::fs::read(&objects[0])?;
    std::fs::write(&objects[0], &bytes[..bytes.len() - 10])?;
    std::fs::remove_file(&objects[1])?;
    let mut flipped = std::fs::read(&objects[2])?;
    flipped[20] ^= 0xff;
    std::fs::write(&objects[2], &flipped)?;
    let orphan = dir
        .join("objects")
        .join(accord_api::documents::org_prefix(w.org))
        .join("stray");
    std::fs::create_dir_all(orphan.parent().unwrap())?;
    std::fs::write(&orphan, b"left over")?;

    let report = accord_api::documents::verify(&w.app.db.app, &vault, w.org).await?;
    assert!(!report.is_clean());
    let text = report.to_string();
    assert!(text.contains("WrongLength"), "{text}");
    assert!(text.contains("Missing"), "{text}");
    assert!(text.contains("Undecryptable"), "{text}");
    assert_eq!(report.report.orphans.len(), 1, "{text}");
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
