//! Agreements signed by the parties' registered devices, attacked: a key
//! that is not the person's registered device, a signature over a tampered
//! text, a person of another case, a replayed signature (again, by another
//! person, on another agreement), a stale time; drafts unseen by parties; the
//! hash signed is the SHA-256 of the PDF every reader downloads; the
//! agreement locks once all have signed, and `verify` finds any changed byte
//! in what is stored.

use accord_db::invitations;
use accord_domain::PartyId;
use accord_testkit::Client;
use accord_vault::Scanner;
use base64::Engine as _;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::Signature;
use serde_json::{json, Value};
use sha2::Digest;

use crate::billing::{get, pdf_text};
use crate::common::{device, post, Device};
use crate::documents::{at, local_vault, pdf, serve_vault, timeline, upload, world, World};
use crate::messages::audited;

/// Mutations whose single audit event is checked here (see flows.rs).
pub(crate) const AUDITED_HERE: &[&str] = &[
    "draftAgreement",
    "editAgreement",
    "sendAgreementForSignature",
    "signAgreement",
    "setAdmitUnsignedParticipants",
    "setHopByHopAllowed",
];

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

const FIELDS: &str = "id status version contentSha256 myPartyId title body signatories { partyId name signature { typedName deviceId deviceThumbprint } }";

fn draft_q() -> String {
    format!("mutation($c: UUID!, $k: AgreementKind!, $t: String!, $b: String!) {{ draftAgreement(caseId: $c, kind: $k, title: $t, body: $b) {{ {FIELDS} }} }}")
}
fn edit_q() -> String {
    format!("mutation($id: UUID!, $t: String!, $b: String!) {{ editAgreement(id: $id, title: $t, body: $b) {{ {FIELDS} }} }}")
}
fn send_q() -> String {
    format!("mutation($id: UUID!) {{ sendAgreementForSignature(id: $id) {{ {FIELDS} }} }}")
}
fn sign_q() -> String {
    format!("mutation($i: SignAgreementInput!) {{ signAgreement(input: $i) {{ {FIELDS} }} }}")
}
fn one_q() -> String {
    format!("query($id: UUID!) {{ agreement(id: $id) {{ {FIELDS} }} }}")
}

/// The people on the case: (party id, user id).
async fn people(w: &World) -> anyhow::Result<Vec<(String, String)>> {
    let data = w
        .admin
        .ok(
            "query($c: UUID!) { case(id: $c) { parties { id userId } } }",
            json!({ "c": w.case }),
        )
        .await?;
    Ok(data["case"]["parties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["userId"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect())
}

/// A browser that redeemed an invite link for `party` with `key`: signed in
/// as that person, with `key` as their registered device.
async fn registered(w: &World, party: &str, key: &Device) -> anyhow::Result<Client> {
    let mut tx = w.app.db.admin.system_tenant(w.org, None).await?;
    let issued = invitations::issue(&mut tx, party.parse::<PartyId>()?, None).await?;
    tx.commit().await?;
    let mut browser = w.app.client();
    let reply = post(
        &browser,
        "/auth/invite/redeem",
        &json!({ "token": issued.token, "deviceKey": key.jwk }),
    )
    .await?;
    anyhow::ensure!(reply.status == 200, "redemption failed: {:?}", reply.body);
    browser.csrf = reply.body["csrfToken"].as_str().map(str::to_owned);
    Ok(browser)
}

/// What the browser signs, as the client portal builds it.
fn statement(agreement: &str, hash: &str, party: &str, name: &str, at: &str) -> String {
    format!(
        "accord-agreement-signature-v1\nagreement: {agreement}\nsha256: {hash}\nparty: {party}\nname: {name}\nsigned-at: {at}"
    )
}

fn sign(key: &Device, message: &str) -> String {
    let s: Signature = key.secret.sign(message.as_bytes());
    B64.encode(s.to_bytes())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A complete, valid signature input for `key` as `party`.
fn input(key: &Device, agreement: &str, hash: &str, party: &str, name: &str) -> Value {
    let at = now();
    json!({
        "agreementId": agreement,
        "contentSha256": hash,
        "typedName": name,
        "signedAt": at,
        "publicKey": key.jwk,
        "signature": sign(key, &statement(agreement, hash, party, name, &at)),
    })
}

#[tokio::test]
async fn parties_sign_with_their_devices_and_the_agreement_locks() -> anyhow::Result<()> {
    let w = world().await?;
    let (vault, dir) = local_vault(Scanner::Disabled)?;
    let v = serve_vault(&w.app, vault.clone()).await?;
    let med = at(&w.mediator, &v);
    let list = people(&w).await?;
    let p1_party = list.iter().find(|p| p.1 == w.p1_id).unwrap().0.clone();
    let p2_party = list.iter().find(|p| p.1 != w.p1_id).unwrap().0.clone();
    let (key1, key2, thief) = (device(), device(), device());
    let p1 = at(&registered(&w, &p1_party, &key1).await?, &v);
    let p2 = at(&registered(&w, &p2_party, &key2).await?, &v);
    let (draft, edit, send, sign_m) = (draft_q(), edit_q(), send_q(), sign_q());
    // A document on the case, for the compliance export's fingerprints.
    let brief = pdf(70_000, "POSITION-STATEMENT");
    let (status, up) = upload(
        &p1,
        &[("caseId", &w.case), ("visibility", "case")],
        "Position.pdf",
        &brief,
    )
    .await?;
    assert_eq!(status, 201, "{up}");
    let listed_doc = p1
        .ok(
            "query($c: UUID!) { caseDocuments(caseId: $c) { latest { sha256 } } }",
            json!({ "c": w.case }),
        )
        .await?;
    let fingerprint: String = sha2::Sha256::digest(&brief)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        listed_doc["caseDocuments"][0]["latest"]["sha256"],
        fingerprint.as_str()
    );

    // Only the case's mediator drafts; parties and the admin may not.
    let body = "1. The respondent pays 5 000 EUR.\r\n2. Each side bears its costs.\r\n";
    let vars = json!({ "c": w.case, "k": "SETTLEMENT", "t": "Settlement", "b": body });
    assert_eq!(p1.error_code(&draft_q(), vars.clone()).await?, "FORBIDDEN");
    assert_eq!(
        at(&w.admin, &v)
            .error_code(&draft_q(), vars.clone())
            .await?,
        "FORBIDDEN"
    );
    assert_eq!(
        at(&w.stranger, &v)
            .error_code(&draft_q(), vars.clone())
            .await?,
        "NOT_FOUND"
    );
    let drafted = audited(&w.admin, "agreement.draft", || med.ok(&draft, vars)).await?
        ["draftAgreement"]
        .clone();
    let id = drafted["id"].as_str().unwrap().to_owned();
    assert_eq!(drafted["status"], "DRAFT");
    assert_eq!(
        drafted["body"],
        "1. The respondent pays 5 000 EUR.\n2. Each side bears its costs."
    );
    assert!(drafted["contentSha256"].is_null());
    // A draft is the mediator's: parties neither read it nor see it listed,
    // and only the mediator prints its preview.
    assert_eq!(
        p1.error_code(&one_q(), json!({ "id": id })).await?,
        "NOT_FOUND"
    );
    let listed = "query($c: UUID!) { agreements(caseId: $c) { id } }";
    assert_eq!(
        p1.ok(listed, json!({ "c": w.case })).await?["agreements"],
        json!([])
    );
    let pdf_path = format!("/agreements/{id}/pdf");
    let (status, kind, preview) = get(&med, &pdf_path).await?;
    assert_eq!((status, kind.as_str()), (200, "application/pdf"));
    assert!(pdf_text(&preview).iter().any(|t| t.starts_with("DRAFT")));
    assert_eq!(get(&p1, &pdf_path).await?.0, 404);
    // A signature before it is sent is refused: to a party, a draft does
    // not exist.
    let early = input(&key1, &id, &"0".repeat(64), &p1_party, "Pat One");
    assert_eq!(
        p1.error_code(&sign_q(), json!({ "i": early })).await?,
        "NOT_FOUND"
    );

    let edited = audited(&w.admin, "agreement.edit", || {
        med.ok(
            &edit,
            json!({ "id": id, "t": "Settlement agreement", "b": "The respondent pays 6 000 EUR." }),
        )
    })
    .await?["editAgreement"]
        .clone();
    assert_eq!(edited["version"], 2);
    let sent = audited(&w.admin, "agreement.send", || {
        med.ok(&send, json!({ "id": id }))
    })
    .await?["sendAgreementForSignature"]
        .clone();
    assert_eq!(sent["status"], "SIGNING");
    let hash = sent["contentSha256"].as_str().unwrap().to_owned();
    assert_eq!(hash.len(), 64);
    // The PDF is in the vault's object store, encrypted, not in the row;
    // `accord vault verify` checks it with the org's documents.
    let (object_key, in_row): (String, bool) = sqlx::query_as(
        "SELECT pdf_object_key, pdf_ciphertext IS NOT NULL FROM agreements WHERE id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(w.app.db.admin.pool())
    .await?;
    assert!(!in_row, "the PDF was kept in the row");
    let object_path = dir.join("objects").join(&object_key);
    let stored = std::fs::read(&object_path)?;
    assert!(!stored.windows(5).any(|b| b == b"%PDF-"), "stored in clear");
    assert!(
        !stored.windows(6).any(|b| b == b"6 000 "),
        "stored in clear"
    );
    let checked = accord_api::documents::verify(&w.app.db.app, &vault, w.org).await?;
    assert!(checked.is_clean(), "{checked}");
    assert_eq!(
        checked.checked, 2,
        "the brief and the agreement's PDF: {checked}"
    );
    // The hash is the SHA-256 of the PDF each reader downloads: the same
    // bytes for both parties, carrying the text as edited, not a draft.
    let (status, _, printed) = get(&p1, &pdf_path).await?;
    assert_eq!(status, 200);
    let expected: String = sha2::Sha256::digest(&printed)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hash, expected);
    assert_eq!(get(&p2, &pdf_path).await?.2, printed);
    let text = pdf_text(&printed);
    assert!(
        text.iter().any(|t| t == "The respondent pays 6 000 EUR."),
        "{text:?}"
    );
    assert!(!text.iter().any(|t| t.contains("DRAFT")), "{text:?}");
    assert_eq!(get(&at(&w.stranger, &v), &pdf_path).await?.0, 404);
    assert_eq!(get(&at(&w.outsider, &v), &pdf_path).await?.0, 404);
    // The text no longer changes.
    assert_eq!(
        med.error_code(&edit_q(), json!({ "id": id, "t": "T", "b": "changed" }))
            .await?,
        "CONFLICT"
    );

    // A key that is not p1's registered device, even signing correctly.
    let stolen = input(&thief, &id, &hash, &p1_party, "Pat One");
    assert_eq!(
        p1.error_code(&sign_q(), json!({ "i": stolen })).await?,
        "FORBIDDEN"
    );
    // A tampered text: the signature covers another hash.
    let at_ = now();
    let other_hash = "ab".repeat(32);
    let mut tampered = input(&key1, &id, &hash, &p1_party, "Pat One");
    tampered["signedAt"] = json!(at_);
    tampered["signature"] = json!(sign(
        &key1,
        &statement(&id, &other_hash, &p1_party, "Pat One", &at_)
    ));
    assert_eq!(
        p1.error_code(&sign_q(), json!({ "i": tampered })).await?,
        "BAD_USER_INPUT"
    );
    // Claiming to have signed another text.
    let claimed = input(&key1, &id, &other_hash, &p1_party, "Pat One");
    assert_eq!(
        p1.error_code(&sign_q(), json!({ "i": claimed })).await?,
        "CONFLICT"
    );
    // A signature whose name was changed after signing.
    let mut renamed = input(&key1, &id, &hash, &p1_party, "Pat One");
    renamed["typedName"] = json!("Somebody Else");
    assert_eq!(
        p1.error_code(&sign_q(), json!({ "i": renamed })).await?,
        "BAD_USER_INPUT"
    );
    // A stale time, correctly signed.
    let old = "2026-01-01T00:00:00.000Z";
    let mut stale = input(&key1, &id, &hash, &p1_party, "Pat One");
    stale["signedAt"] = json!(old);
    stale["signature"] = json!(sign(
        &key1,
        &statement(&id, &hash, &p1_party, "Pat One", old)
    ));
    assert_eq!(
        p1.error_code(&sign_q(), json!({ "i": stale })).await?,
        "BAD_USER_INPUT"
    );
    // People of no part in the case: a party of the org not on it, another org.
    let good = input(&key1, &id, &hash, &p1_party, "Pat One");
    assert_eq!(
        at(&w.outsider, &v)
            .error_code(&sign_q(), json!({ "i": good.clone() }))
            .await?,
        "NOT_FOUND"
    );
    assert_eq!(
        at(&w.stranger, &v)
            .error_code(&sign_q(), json!({ "i": good.clone() }))
            .await?,
        "NOT_FOUND"
    );

    // p1 signs.
    let after = audited(&w.admin, "agreement.sign", || {
        p1.ok(&sign_m, json!({ "i": good.clone() }))
    })
    .await?["signAgreement"]
        .clone();
    assert_eq!(after["status"], "SIGNING");
    assert_eq!(after["myPartyId"], p1_party.as_str());
    // Replays: the same signature again; p1's signature sent by p2.
    assert_eq!(
        p1.error_code(&sign_q(), json!({ "i": good.clone() }))
            .await?,
        "CONFLICT"
    );
    assert_eq!(
        p2.error_code(&sign_q(), json!({ "i": good.clone() }))
            .await?,
        "FORBIDDEN"
    );

    // A second agreement: p1's signature of the first does not sign it.
    let second = med
        .ok(
            &draft_q(),
            json!({ "c": w.case, "k": "SETTLEMENT", "t": "Addendum", "b": "Nothing more." }),
        )
        .await?["draftAgreement"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second_hash = med.ok(&send_q(), json!({ "id": second })).await?
        ["sendAgreementForSignature"]["contentSha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut replayed = good.clone();
    replayed["agreementId"] = json!(second);
    replayed["contentSha256"] = json!(second_hash);
    assert_eq!(
        p1.error_code(&sign_q(), json!({ "i": replayed })).await?,
        "BAD_USER_INPUT"
    );

    // Not settled while a signature is missing.
    let settle = "mutation($id: UUID!) { updateCaseStatus(id: $id, status: SETTLED) { status } }";
    assert_eq!(
        w.admin.error_code(settle, json!({ "id": w.case })).await?,
        "CONFLICT"
    );

    // p2 signs: everyone has, the agreement locks.
    let done = p2
        .ok(
            &sign_q(),
            json!({ "i": input(&key2, &id, &hash, &p2_party, "Pam Two") }),
        )
        .await?["signAgreement"]
        .clone();
    assert_eq!(done["status"], "SIGNED");
    // Now the case may settle.
    assert_eq!(
        w.admin.ok(settle, json!({ "id": w.case })).await?["updateCaseStatus"]["status"],
        "SETTLED"
    );

    // The compliance export carries the signature records (what verify
    // checks) and each document's SHA-256; typed names only with content.
    let path = format!("/cases/{}/compliance-export", w.case);
    let admin = at(&w.admin, &v);
    let record: Value = serde_json::from_slice(&get(&admin, &path).await?.2)?;
    let settlement = record["agreements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agreementId"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(settlement["status"], "signed");
    assert_eq!(settlement["sha256"], hash.as_str());
    let records = settlement["signatures"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    for r in records {
        assert_eq!(r["sha256"], hash.as_str());
        assert_eq!(r["deviceThumbprint"].as_str().map(str::len), Some(43));
        assert_eq!(r["signature"].as_str().map(str::len), Some(86));
        assert!(r.get("typedName").is_none(), "{r}");
    }
    let expected_doc: String = sha2::Sha256::digest(&brief)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        record["documents"][0]["versions"][0]["sha256"],
        expected_doc.as_str()
    );
    assert!(!String::from_utf8_lossy(&get(&admin, &path).await?.2).contains("Pat One"));
    let full: Value =
        serde_json::from_slice(&get(&admin, &format!("{path}?content=true")).await?.2)?;
    assert!(full["agreements"]
        .to_string()
        .contains("\"typedName\":\"Pat One\""));
    // The mediator sees both signatures and the devices they came from.
    let seen = med.ok(&one_q(), json!({ "id": id })).await?["agreement"].clone();
    let sigs: Vec<&Value> = seen["signatories"].as_array().unwrap().iter().collect();
    assert_eq!(sigs.len(), 2);
    assert!(sigs
        .iter()
        .all(|s| s["signature"]["deviceThumbprint"].as_str().unwrap().len() == 43));
    assert_eq!(
        p1.error_code(
            &sign_q(),
            json!({ "i": input(&key1, &id, &hash, &p1_party, "Pat One") })
        )
        .await?,
        "CONFLICT"
    );
    // The timeline: the mediator sees the drafting; the parties see the
    // agreement from when it was sent.
    let staff = timeline(&med, &w.case).await?;
    let parties = timeline(&p1, &w.case).await?;
    for (kind, summary) in [
        ("agreement.send", "Settlement agreement sent for signature"),
        ("agreement.sign", "Settlement agreement signed"),
        (
            "agreement.complete",
            "Settlement agreement signed by everyone",
        ),
    ] {
        let entry = (kind.to_owned(), summary.to_owned());
        assert!(
            staff.contains(&entry) && parties.contains(&entry),
            "{kind}: {staff:?} {parties:?}"
        );
    }
    for kind in ["agreement.draft", "agreement.edit"] {
        assert!(staff.iter().any(|(k, _)| k == kind), "{kind}: {staff:?}");
        assert!(
            !parties.iter().any(|(k, _)| k == kind),
            "{kind}: {parties:?}"
        );
    }
    // Postgres refuses any change to a signed agreement, whoever asks.
    let locked = sqlx::query("UPDATE agreements SET version = 9 WHERE id = $1::uuid")
        .bind(&id)
        .execute(w.app.db.admin.pool())
        .await;
    assert!(locked.is_err(), "a signed agreement changed");

    // Offline verification: clean, then any changed byte is found.
    let agreement: uuid::Uuid = id.parse()?;
    let report =
        accord_api::graphql::agreements::verify(&w.app.db.app, &vault, w.org, agreement).await?;
    assert!(report.is_clean(), "{report}");
    // The text in the PDF, the PDF's hash, two signatures.
    assert_eq!(report.good.len(), 4, "{report}");
    let admin = w.app.db.admin.pool();
    sqlx::query("UPDATE agreement_signatures SET typed_name = 'Pat 0ne' WHERE party_id = $1::uuid")
        .bind(&p1_party)
        .execute(admin)
        .await?;
    let report =
        accord_api::graphql::agreements::verify(&w.app.db.app, &vault, w.org, agreement).await?;
    assert_eq!(report.problems.len(), 1, "{report}");
    assert!(report.to_string().contains("does not verify"), "{report}");
    sqlx::query("UPDATE agreement_signatures SET typed_name = 'Pat One' WHERE party_id = $1::uuid")
        .bind(&p1_party)
        .execute(admin)
        .await?;
    sqlx::query("ALTER TABLE agreements DISABLE TRIGGER agreements_lock")
        .execute(admin)
        .await?;
    // Another file, properly encrypted, in the PDF's place: it opens, but it
    // is not the agreement's text, nor the file that was signed.
    let original: (String, String, Vec<u8>, i64) = sqlx::query_as(
        "SELECT pdf_object_key, pdf_key_id, pdf_wrapped_key, pdf_size FROM agreements WHERE id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(admin)
    .await?;
    let case_id: uuid::Uuid = w.case.parse()?;
    let other = b"%PDF-1.4\n% an unrelated file\n%%EOF\n";
    let swapped_key = format!("{}/swapped", w.org.as_uuid().simple());
    let ctx = accord_vault::EncryptionContext {
        org: w.org.as_uuid(),
        case: case_id,
        document: agreement,
    };
    let swapped = vault.put(&swapped_key, &ctx, other).await?;
    let set_pdf = "UPDATE agreements SET pdf_object_key = $2, pdf_key_id = $3,
                   pdf_wrapped_key = $4, pdf_size = $5 WHERE id = $1::uuid";
    sqlx::query(set_pdf)
        .bind(&id)
        .bind(&swapped_key)
        .bind(&swapped.wrapped.key_id)
        .bind(&swapped.wrapped.ciphertext)
        .bind(other.len() as i64)
        .execute(admin)
        .await?;
    let report =
        accord_api::graphql::agreements::verify(&w.app.db.app, &vault, w.org, agreement).await?;
    let said = report.to_string();
    assert!(
        said.contains("the PDF does not carry the stored text"),
        "{report}"
    );
    assert!(
        said.contains("is not the one sent for signature"),
        "{report}"
    );
    sqlx::query(set_pdf)
        .bind(&id)
        .bind(&original.0)
        .bind(&original.1)
        .bind(&original.2)
        .bind(original.3)
        .execute(admin)
        .await?;
    vault.delete(&swapped_key).await?;
    let report =
        accord_api::graphql::agreements::verify(&w.app.db.app, &vault, w.org, agreement).await?;
    assert!(report.is_clean(), "{report}");
    // One byte of the stored text.
    sqlx::query(
        "UPDATE agreements SET ciphertext = overlay(ciphertext placing
             decode(lpad(to_hex(get_byte(ciphertext, 20) # 1), 2, '0'), 'hex') from 21 for 1)
         WHERE id = $1::uuid",
    )
    .bind(&id)
    .execute(admin)
    .await?;
    let report =
        accord_api::graphql::agreements::verify(&w.app.db.app, &vault, w.org, agreement).await?;
    assert!(!report.is_clean(), "{report}");
    assert!(
        report
            .to_string()
            .contains("the stored text does not decrypt"),
        "{report}"
    );
    // One byte of the stored PDF's object: it no longer opens, and no
    // signature holds.
    let mut object = std::fs::read(&object_path)?;
    object[40] ^= 1;
    std::fs::write(&object_path, &object)?;
    let report =
        accord_api::graphql::agreements::verify(&w.app.db.app, &vault, w.org, agreement).await?;
    let said = report.to_string();
    assert!(said.contains("the stored PDF does not decrypt"), "{report}");
    assert!(
        said.contains("signed a hash that is not the stored PDF's"),
        "{report}"
    );

    // Audited throughout, by id only.
    let events = w
        .admin
        .ok("{ auditEvents(first: 50) { action } }", json!({}))
        .await?
        .to_string();
    for action in [
        "agreement.draft",
        "agreement.edit",
        "agreement.send",
        "agreement.sign",
        "agreement.complete",
    ] {
        assert!(events.contains(action), "{action} missing: {events}");
    }
    assert!(!events.contains("6 000"));
    Ok(())
}

#[tokio::test]
async fn a_signatory_without_a_registered_device_cannot_sign() -> anyhow::Result<()> {
    let w = world().await?;
    let (vault, _dir) = local_vault(Scanner::Disabled)?;
    let v = serve_vault(&w.app, vault).await?;
    let med = at(&w.mediator, &v);
    let list = people(&w).await?;
    let p1_party = list.iter().find(|p| p.1 == w.p1_id).unwrap().0.clone();
    let id = med
        .ok(&draft_q(), json!({ "c": w.case, "k": "AGREEMENT_TO_MEDIATE", "t": "Agreement to mediate", "b": "We keep it confidential and record nothing." }))
        .await?["draftAgreement"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let hash = med.ok(&send_q(), json!({ "id": id })).await?["sendAgreementForSignature"]
        ["contentSha256"]
        .as_str()
        .unwrap()
        .to_owned();
    // p1 signed in with a password, never redeemed a link: no device.
    let key = device();
    let p1 = at(&w.p1, &v);
    assert_eq!(
        p1.error_code(
            &sign_q(),
            json!({ "i": input(&key, &id, &hash, &p1_party, "Pat One") })
        )
        .await?,
        "CONFLICT"
    );
    Ok(())
}

#[tokio::test]
async fn an_org_may_admit_only_those_who_signed_the_agreement_to_mediate() -> anyhow::Result<()> {
    let w = world().await?;
    let (vault, _dir) = local_vault(Scanner::Disabled)?;
    let v = serve_vault(&w.app, vault).await?;
    let med = at(&w.mediator, &v);
    let list = people(&w).await?;
    let p1_party = list.iter().find(|p| p.1 == w.p1_id).unwrap().0.clone();
    let p2_party = list.iter().find(|p| p.1 != w.p1_id).unwrap().0.clone();
    let (key1, key2, med_key) = (device(), device(), device());
    let p1 = at(&registered(&w, &p1_party, &key1).await?, &v);
    let p2 = at(&registered(&w, &p2_party, &key2).await?, &v);
    let session = med
        .ok(
            "mutation($c: UUID!, $at: DateTime!) { scheduleSession(input: {caseId: $c, startsAt: $at, timeZone: \"UTC\", durationMinutes: 60}) { id } }",
            json!({ "c": w.case, "at": chrono::Utc::now() + chrono::Duration::hours(1) }),
        )
        .await?["scheduleSession"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let join =
        "mutation($s: UUID!, $k: JSON!) { joinToken(sessionId: $s, deviceKey: $k) { role } }";
    let setting = "{ admitUnsignedParticipants }";
    let set = "mutation($a: Boolean!) { setAdmitUnsignedParticipants(admit: $a) }";

    // By default, signed or not, people join (the console shows who has not signed).
    assert_eq!(
        med.ok(setting, json!({})).await?["admitUnsignedParticipants"],
        true
    );
    p1.ok(join, json!({ "s": session, "k": key1.jwk })).await?;

    // Only org admins decide; then the unsigned are refused a join token.
    for who in [&med, &p1] {
        assert_eq!(
            who.error_code(set, json!({ "a": false })).await?,
            "FORBIDDEN"
        );
    }
    let admin = at(&w.admin, &v);
    audited(&w.admin, "org.set_admit_unsigned", || {
        admin.ok(set, json!({ "a": false }))
    })
    .await?;
    assert_eq!(
        p1.ok(setting, json!({})).await?["admitUnsignedParticipants"],
        false
    );
    let refused = p1
        .graphql(join, json!({ "s": session, "k": key1.jwk }))
        .await?["errors"][0]
        .clone();
    assert_eq!(refused["extensions"]["code"], "CONFLICT", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("agreement to mediate"),
        "{refused}"
    );
    // The mediator is not a signatory and always joins.
    assert_eq!(
        med.ok(join, json!({ "s": session, "k": med_key.jwk }))
            .await?["joinToken"]["role"],
        "mediator"
    );

    // A settlement signed does not count; the agreement to mediate does, per person.
    let id = med
        .ok(
            &draft_q(),
            json!({ "c": w.case, "k": "AGREEMENT_TO_MEDIATE", "t": "Agreement to mediate", "b": "We keep it confidential and record nothing." }),
        )
        .await?["draftAgreement"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A draft is not signable, so nobody has signed yet.
    assert_eq!(
        p1.error_code(join, json!({ "s": session, "k": key1.jwk }))
            .await?,
        "CONFLICT"
    );
    let hash = med.ok(&send_q(), json!({ "id": id })).await?["sendAgreementForSignature"]
        ["contentSha256"]
        .as_str()
        .unwrap()
        .to_owned();
    p1.ok(
        &sign_q(),
        json!({ "i": input(&key1, &id, &hash, &p1_party, "Pat One") }),
    )
    .await?;
    assert_eq!(
        p1.ok(join, json!({ "s": session, "k": key1.jwk })).await?["joinToken"]["role"],
        "party"
    );
    assert_eq!(
        p2.error_code(join, json!({ "s": session, "k": key2.jwk }))
            .await?,
        "CONFLICT"
    );

    // A browser that cannot encrypt end to end: refused unless the org
    // allows hop-by-hop sessions; then its token says its media is in clear.
    let clear = "mutation($s: UUID!, $k: JSON!) { joinToken(sessionId: $s, deviceKey: $k, endToEnd: false) { token } }";
    let refused = p1
        .graphql(clear, json!({ "s": session, "k": key1.jwk }))
        .await?["errors"][0]
        .clone();
    assert_eq!(refused["extensions"]["code"], "CONFLICT", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("end-to-end"),
        "{refused}"
    );
    let allow = "mutation($a: Boolean!) { setHopByHopAllowed(allowed: $a) }";
    assert_eq!(
        med.error_code(allow, json!({ "a": true })).await?,
        "FORBIDDEN"
    );
    audited(&w.admin, "org.set_hop_by_hop", || {
        admin.ok(allow, json!({ "a": true }))
    })
    .await?;
    assert_eq!(
        p1.ok("{ hopByHopAllowed }", json!({})).await?["hopByHopAllowed"],
        true
    );
    let token = p1.ok(clear, json!({ "s": session, "k": key1.jwk })).await?["joinToken"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let claims: Value = serde_json::from_slice(&B64.decode(token.split('.').nth(1).unwrap())?)?;
    assert_eq!(claims["clear"], true, "{claims}");
    let usual = p1.ok(join, json!({ "s": session, "k": key1.jwk })).await?;
    assert!(usual["joinToken"]["role"] == "party");

    // Turned back on, the unsigned join again.
    admin.ok(set, json!({ "a": true })).await?;
    p2.ok(join, json!({ "s": session, "k": key2.jwk })).await?;
    Ok(())
}
