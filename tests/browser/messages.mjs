// End-to-end test of secure messages and device-signed agreements, in
// Debian's Chromium (playwright-core), on the seeded demo case DEMO-0001:
//
//   1. both parties get a fresh invite link (re-invite, a GraphQL call: the
//      setup only) and open it each in their own browser: each browser makes
//      its device key, which the link registers;
//   2. the first party files a private document and writes to the mediator
//      in their private thread, attaching it; the
//      other party's case page lists only the whole case's thread and their
//      own private one, which is empty: no trace of the first party's message;
//   3. the mediator (admin portal) sees the private thread unread, reads the
//      message, drafts the settlement agreement from the template, previews
//      it as a PDF and sends it for signature, then the agreement to mediate;
//   4. each party downloads each agreement's PDF (the agreement to mediate
//      and the settlement), whose SHA-256 is the fingerprint the page shows,
//      then types their name and signs it on their device;
//   5. the mediator sees it signed by everyone, with both signatures;
//   6. the org admin marks the case settled;
//   7. the case's compliance record carries the settlement's signature
//      records, nothing of the private attachment, and content only when
//      asked.
//
// Every screen passes axe-core (no serious or critical violation).
//
//   node tests/browser/messages.mjs
//
// Needs what run.mjs needs: target/debug/accord, the built portals, a
// Postgres cluster (ACCORD_TEST_DATABASE_URL), /usr/bin/chromium and this
// directory's npm packages.

import { AxeBuilder } from "@axe-core/playwright";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS, log, PASSWORD, PEOPLE, signInHttp, startServer, until } from "./lib.mjs";

const STEP_MS = 20_000;
const SECRET = "Between us: I could accept 4 200 EUR";
const NOTE = "Bottom line.txt";
const NOTE_TEXT = "Lowest acceptable: 4 200 EUR, paid within 30 days.\n";

/** The bytes of the file a click on `link` downloads. */
async function downloadedFile(page, link) {
  const [download] = await Promise.all([page.waitForEvent("download", { timeout: STEP_MS }), link.click()]);
  return readFileSync(await download.path());
}

/** The bytes of the PDF a click on `link` downloads. */
async function downloaded(page, link) {
  const bytes = await downloadedFile(page, link);
  if (!bytes.subarray(0, 8).toString("latin1").startsWith("%PDF-")) throw new Error("the download is not a PDF");
  return bytes;
}

async function accessible(page, name) {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  if (bad.length) throw new Error(`${name}: axe found ${bad.map((v) => `${v.id} (${v.nodes.length})`).join(", ")}`);
}

/** The newest invite link mailed to `to` after `since` (file names sort by time). */
function inviteLinkIn(outbox, to, seen) {
  let files;
  try {
    files = readdirSync(outbox).filter((f) => f.endsWith(".json")).sort();
  } catch {
    return null;
  }
  for (const file of files.reverse()) {
    if (seen.has(file)) continue;
    const mail = JSON.parse(readFileSync(join(outbox, file), "utf8"));
    const link = mail.to === to ? /https?:\/\/\S+\/invite#token=[A-Za-z0-9_-]{43}/.exec(mail.body ?? "") : null;
    if (link) return link[0];
  }
  return null;
}

/** A browser of its own for `email`, signed in by opening a fresh invite link. */
async function partyBrowser(browser, server, admin, outbox, party, caseId) {
  const seen = new Set((() => {
    try {
      return readdirSync(outbox);
    } catch {
      return [];
    }
  })());
  await admin.graphql("mutation($p: UUID!) { reinviteParty(partyId: $p) { status } }", { p: party.id });
  let link = null;
  await until(`a new invitation to ${party.email}`, () => (link = inviteLinkIn(outbox, party.email, seen)) !== null, STEP_MS);
  const url = new URL(link);
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${server.base}${url.pathname}${url.hash}`);
  await page.waitForURL((u) => u.pathname === `/cases/${caseId}`, { timeout: STEP_MS });
  return page;
}

async function main() {
  const server = await startServer();
  log(`server at ${server.base}`);
  let browser;
  let current = null;
  let ok = false;
  try {
    const admin = await signInHttp(server.base, PEOPLE.admin);
    const { cases } = await admin.graphql("{ cases(first: 5) { edges { node { id reference parties { id email displayName kind } } } } }");
    const demo = cases.edges.map((e) => e.node).find((c) => c.reference === "DEMO-0001");
    if (!demo) throw new Error(`no demo case: ${JSON.stringify(cases)}`);
    const one = demo.parties.find((p) => p.email === PEOPLE.partyA);
    const two = demo.parties.find((p) => p.email === PEOPLE.partyB);
    if (!one || !two) throw new Error(`the demo parties: ${JSON.stringify(demo.parties)}`);
    const outbox = join(server.work, "outbox");
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });

    // 1. Each party registers this browser's device key with a fresh link.
    const a = await partyBrowser(browser, server, admin, outbox, one, demo.id);
    const b = await partyBrowser(browser, server, admin, outbox, two, demo.id);
    log("both parties opened their invite links on their own browsers");

    // 2. Party one files a private document and writes to the mediator
    // privately, attaching it.
    current = a;
    await a.getByRole("heading", { name: "Documents" }).waitFor({ timeout: STEP_MS });
    await a.getByLabel("Who may see it").selectOption("party");
    const dropped = await a.evaluateHandle(
      ([name, content]) => {
        const dt = new DataTransfer();
        dt.items.add(new File([content], name, { type: "text/plain" }));
        return dt;
      },
      [NOTE, NOTE_TEXT],
    );
    await a.dispatchEvent("[data-testid=document-dropzone]", "drop", { dataTransfer: dropped });
    await a.getByRole("link", { name: `Download ${NOTE}` }).first().waitFor({ timeout: STEP_MS });
    await a.getByRole("heading", { name: "Messages" }).waitFor({ timeout: STEP_MS });
    await a.getByRole("button", { name: "Private with the mediator" }).click();
    await a.getByLabel("Message to Private with the mediator").fill(SECRET);
    await a.getByLabel("Attach a document (optional)").selectOption({ label: NOTE });
    await a.getByRole("button", { name: "Send message" }).click();
    await a.getByText("Message sent.").waitFor({ timeout: STEP_MS });
    await a.getByText(SECRET).waitFor({ timeout: STEP_MS });
    await a.getByText(`Attached: ${NOTE}`).waitFor({ timeout: STEP_MS });
    await accessible(a, "party one's case page with messages");
    log("party one wrote to the mediator privately, attaching a private document");

    current = b;
    await b.reload();
    await b.getByRole("heading", { name: "Messages" }).waitFor({ timeout: STEP_MS });
    const threads = b.getByRole("group", { name: "Threads" }).getByRole("button");
    await until("party two's threads", async () => (await threads.count()) === 2, STEP_MS);
    const names = await threads.allInnerTexts();
    if (names.some((n) => n.includes(one.displayName))) throw new Error(`party two sees party one's thread: ${names}`);
    await b.getByRole("button", { name: "Private with the mediator" }).click();
    await b.getByText("No messages yet.").waitFor({ timeout: STEP_MS });
    if ((await b.content()).includes("4 200")) throw new Error("party two's page shows party one's private message");
    if ((await b.content()).includes(NOTE)) throw new Error("party two's page names party one's private document");
    log("party two sees no trace of it");

    // 3. The mediator reads it and drafts the settlement.
    const mctx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    const m = await mctx.newPage();
    current = m;
    await m.goto(`${server.base}/admin/sign-in?next=${encodeURIComponent(`/cases/${demo.id}`)}`);
    await m.getByLabel("Email address").fill(PEOPLE.mediator);
    await m.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await m.getByRole("button", { name: "Sign in" }).click();
    await m.waitForURL((u) => u.pathname === `/admin/cases/${demo.id}`, { timeout: STEP_MS });
    const privateThread = m.getByRole("button", { name: `Private: ${one.displayName}` });
    await privateThread.getByText("1 unread").waitFor({ timeout: STEP_MS });
    await privateThread.click();
    await m.getByText(SECRET).waitFor({ timeout: STEP_MS });
    const attached = m.locator("ol.messages").getByRole("link", { name: `Download ${NOTE}` });
    const [note] = await Promise.all([m.waitForEvent("download", { timeout: STEP_MS }), attached.click()]);
    if (readFileSync(await note.path(), "utf8") !== NOTE_TEXT) throw new Error("the attachment the mediator downloaded differs");
    log("the mediator reads it and downloads its attachment");
    await m.getByRole("button", { name: "Save draft" }).click();
    await m.getByText("Draft saved.").waitFor({ timeout: STEP_MS });
    const preview = await downloaded(m, m.getByRole("link", { name: /^Preview .* as PDF$/ }));
    if (!preview.toString("latin1").includes("DRAFT: not sent for signature")) throw new Error("the draft's preview is not marked as a draft");
    await m.getByRole("button", { name: "Send for signature" }).click();
    await m.getByText("Sent for signature.").waitFor({ timeout: STEP_MS });
    // And the agreement to mediate, from its template.
    await m.getByLabel("Which agreement").selectOption("AGREEMENT_TO_MEDIATE");
    await m.getByRole("button", { name: "Save draft" }).click();
    await m.getByText("Draft saved.").waitFor({ timeout: STEP_MS });
    await m.getByRole("button", { name: "Send for signature" }).click();
    await m.getByText("Sent for signature.").waitFor({ timeout: STEP_MS });
    await accessible(m, "the mediator's case page with messages and agreements");
    log("the mediator drafted the settlement and the agreement to mediate and sent them for signature");

    // 4. Both parties sign on their devices.
    for (const [page, party] of [
      [a, one],
      [b, two],
    ]) {
      current = page;
      await page.reload();
      for (const kind of ["Agreement to mediate", "Settlement agreement"]) {
        const article = page.getByRole("article", { name: new RegExp(`^${kind}: `) });
        await article.waitFor({ timeout: STEP_MS });
        const pdf = await downloaded(page, article.getByRole("link", { name: /^Download .* as PDF$/ }));
        const sha = createHash("sha256").update(pdf).digest("hex");
        await article.getByText(`Fingerprint (SHA-256 of the PDF): ${sha}`).waitFor({ timeout: STEP_MS });
        await article.getByLabel("Type your full name to sign").fill(party.displayName);
        await article.getByRole("button", { name: "Sign with this device" }).click();
        await article.getByText("You signed the agreement on this device.").waitFor({ timeout: STEP_MS });
      }
    }
    await accessible(b, "party two's case page after signing");
    log("both parties downloaded each PDF, whose SHA-256 is the fingerprint shown, and signed both agreements on their devices");

    // 5. The mediator sees it signed.
    current = m;
    await m.reload();
    await until("both agreements signed by everyone", async () => (await m.getByText("Signed by everyone", { exact: true }).count()) === 2, STEP_MS);
    for (const party of [one, two]) await m.getByText(`${party.displayName}: signed as ${party.displayName}`).first().waitFor({ timeout: STEP_MS });
    log("the mediator sees both agreements signed by everyone");

    // 6. The org admin marks the case settled.
    const actx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    const adminPage = await actx.newPage();
    current = adminPage;
    await adminPage.goto(`${server.base}/admin/sign-in?next=${encodeURIComponent(`/cases/${demo.id}`)}`);
    await adminPage.getByLabel("Email address").fill(PEOPLE.admin);
    await adminPage.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await adminPage.getByRole("button", { name: "Sign in" }).click();
    await adminPage.waitForURL((u) => u.pathname === `/admin/cases/${demo.id}`, { timeout: STEP_MS });
    await adminPage.getByRole("button", { name: "Mark as settled" }).click();
    await adminPage.getByRole("button", { name: "Yes, mark as settled" }).click();
    await adminPage.getByText("The case is now settled.").waitFor({ timeout: STEP_MS });
    log("the org admin marked the case settled");

    // 7. The compliance record: the settlement's signature records and the
    // attachment's fingerprint, no message or file name; typed names only
    // in the record with content.
    const plain = JSON.parse((await downloadedFile(adminPage, adminPage.getByRole("link", { name: "Download the record (no content)" }))).toString("utf8"));
    const settlement = plain.agreements.find((x) => x.kind === "settlement" && x.status === "signed");
    if (!settlement || settlement.signatures.length !== 2 || settlement.signatures.some((s) => s.typedName !== undefined)) throw new Error(`the record's agreements: ${JSON.stringify(plain.agreements)}`);
    const noteSha = createHash("sha256").update(NOTE_TEXT).digest("hex");
    // The attachment is private to party one and the mediator: the org's
    // record shows no trace of it, not even its fingerprint.
    if (plain.documents.some((d) => d.versions.some((v) => v.sha256 === noteSha))) throw new Error("the record lists party one's private document");
    const plainText = JSON.stringify(plain);
    if (plainText.includes(NOTE) || plainText.includes("4 200")) throw new Error("the record without content names a file or quotes a message");
    const full = JSON.parse((await downloadedFile(adminPage, adminPage.getByRole("link", { name: /^Download with content/ }))).toString("utf8"));
    const typed = full.agreements.flatMap((x) => x.signatures.map((s) => s.typedName));
    if (!typed.includes(one.displayName) || !typed.includes(two.displayName)) throw new Error(`typed names in the record with content: ${typed}`);
    log("the compliance record lists the signature records, no trace of the private attachment, content only when asked");
    ok = true;
  } catch (e) {
    if (current) {
      try {
        log(`page at failure: ${current.url()}\n${(await current.locator("main").innerText()).slice(0, 3000)}`);
      } catch {
        // the page is gone
      }
    }
    throw e;
  } finally {
    if (browser) await browser.close();
    await server.stop(!ok);
    if (!ok) log(`server log kept in ${server.logFile}`);
  }
}

main().then(
  () => {
    log("messages and agreements: ok");
    process.exit(0);
  },
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
