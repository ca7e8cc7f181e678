// End-to-end test of the documents vault in Debian's Chromium
// (playwright-core), against `accord dev` (documents encrypted under the
// local key file):
//
//   1. party A drops a file on the case page's Documents panel, keeping it
//      between themselves and the mediator; the list shows it, and axe finds
//      nothing serious on the page;
//   2. the mediator sees it on the case page in the admin portal and
//      downloads it, byte for byte;
//   3. party B, on the same case, sees no such document (not even its
//      name) and its download address answers 404;
//   4. party A uploads a new version of it; the mediator sees both versions
//      and reads each back, party B still sees nothing and the new
//      version's address answers 404 too;
//   5. the mediator shares it with the whole case; party B now sees it, with
//      both versions, and downloads the latest byte for byte;
//   6. the org admin sets the upload limit and retention on the settings
//      page (a wrong number of days is refused on the spot), and the API
//      and the page after a reload agree.
//
//   node tests/browser/documents.mjs

import { AxeBuilder } from "@axe-core/playwright";
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS, log, PASSWORD, PEOPLE, signInHttp, startServer } from "./lib.mjs";

const STEP_MS = 20_000;
const NAME = "private-brief.pdf";
const CONTENT = "%PDF-1.7\n% a brief for the mediator alone\n" + "confidential settlement range\n".repeat(4000);
const CONTENT_V2 = "%PDF-1.7\n% the brief, revised\n" + "revised settlement range\n".repeat(5000);
const NAME_RE = new RegExp(NAME.replace(".", "\\."));

async function signIn(page, base, path, email) {
  await page.goto(`${base}${path}`);
  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function main() {
  const server = await startServer();
  log(`server at ${server.base}`);
  let browser;
  let ok = false;
  try {
    const admin = await signInHttp(server.base, PEOPLE.admin);
    const { sessions } = await admin.graphql("{ sessions { id caseId } }");
    const caseId = sessions[0].caseId;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });

    // 1. Party A drops a private document on the panel.
    const a = await (await browser.newContext()).newPage();
    await signIn(a, server.base, `/sign-in?next=${encodeURIComponent(`/cases/${caseId}`)}`, PEOPLE.partyA);
    await a.waitForURL((u) => u.pathname === `/cases/${caseId}`, { timeout: STEP_MS });
    await a.getByRole("heading", { name: "Documents" }).waitFor({ timeout: STEP_MS });
    await a.getByLabel("Who may see it").selectOption("party");
    const dropped = await a.evaluateHandle(
      ([name, content]) => {
        const dt = new DataTransfer();
        dt.items.add(new File([content], name, { type: "application/pdf" }));
        return dt;
      },
      [NAME, CONTENT],
    );
    await a.dispatchEvent("[data-testid=document-dropzone]", "drop", { dataTransfer: dropped });
    await a.getByText(/^uploaded/).waitFor({ timeout: STEP_MS });
    const row = a.getByRole("row", { name: new RegExp(NAME.replace(".", "\\.")) });
    await row.waitFor({ timeout: STEP_MS });
    if (!(await row.textContent()).includes("One party and the mediator")) throw new Error(`the document is not private: ${await row.textContent()}`);
    const axe = await new AxeBuilder({ page: a }).analyze();
    const bad = axe.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    if (bad.length > 0) throw new Error(`axe: ${bad.map((v) => `${v.id} (${v.nodes.map((n) => n.target).join(" ")})`).join(", ")}`);
    const href = await row.getByRole("link", { name: `Download ${NAME}` }).getAttribute("href");
    log("party A uploaded a private document by drag and drop");

    // 2. The mediator sees it and downloads it.
    const mediatorContext = await browser.newContext({ acceptDownloads: true });
    const m = await mediatorContext.newPage();
    await signIn(m, server.base, `/admin/sign-in?next=${encodeURIComponent(`/cases/${caseId}`)}`, PEOPLE.mediator);
    await m.waitForURL((u) => u.pathname === `/admin/cases/${caseId}`, { timeout: STEP_MS });
    const link = m.getByRole("link", { name: `Download ${NAME}` });
    await link.waitFor({ timeout: STEP_MS });
    const [download] = await Promise.all([m.waitForEvent("download"), link.click()]);
    if (download.suggestedFilename() !== NAME) throw new Error(`downloaded as ${download.suggestedFilename()}`);
    if (readFileSync(await download.path(), "utf8") !== CONTENT) throw new Error("the mediator's download differs from the upload");
    const maxe = await new AxeBuilder({ page: m }).include("[data-testid=document-dropzone]").include("table[aria-label='Documents on this case']").analyze();
    const mbad = maxe.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    if (mbad.length > 0) throw new Error(`axe (admin): ${mbad.map((v) => v.id).join(", ")}`);
    log("the mediator sees and downloads it");

    // 3. Party B sees nothing of it.
    const b = await (await browser.newContext()).newPage();
    await signIn(b, server.base, `/sign-in?next=${encodeURIComponent(`/cases/${caseId}`)}`, PEOPLE.partyB);
    await b.waitForURL((u) => u.pathname === `/cases/${caseId}`, { timeout: STEP_MS });
    await b.getByText("No documents yet.").waitFor({ timeout: STEP_MS });
    if ((await b.content()).includes(NAME)) throw new Error("party B's page names party A's private document");
    const status = await b.evaluate(async (u) => (await fetch(u)).status, href);
    if (status !== 404) throw new Error(`party B fetching the document got ${status}, not 404`);
    log("party B sees no trace of it");

    // 4. Party A uploads a new version; the mediator sees both, B neither.
    const [chooser] = await Promise.all([a.waitForEvent("filechooser"), a.getByRole("button", { name: `Upload a new version of ${NAME}` }).click()]);
    await chooser.setFiles({ name: NAME, mimeType: "application/pdf", buffer: Buffer.from(CONTENT_V2) });
    await a.getByRole("row", { name: NAME_RE }).getByText("2 versions").waitFor({ timeout: STEP_MS });
    if (!(await a.getByRole("row", { name: NAME_RE }).textContent()).includes("One party and the mediator")) throw new Error("the new version changed who may see the document");
    await m.reload();
    const mrow = m.getByRole("row", { name: NAME_RE });
    await mrow.getByText("2 versions").click({ timeout: STEP_MS });
    const versionHref = async (page, n) => page.getByRole("link", { name: `Download ${NAME}, Version ${n}` }).getAttribute("href", { timeout: STEP_MS });
    const v1 = await versionHref(m, 1);
    const v2 = await versionHref(m, 2);
    const read = (page, u) => page.evaluate(async (url) => { const r = await fetch(url); return { status: r.status, text: await r.text() }; }, u);
    const got1 = await read(m, v1);
    const got2 = await read(m, v2);
    if (got1.status !== 200 || got1.text !== CONTENT) throw new Error(`the mediator's version 1 is wrong (${got1.status})`);
    if (got2.status !== 200 || got2.text !== CONTENT_V2) throw new Error(`the mediator's version 2 is wrong (${got2.status})`);
    const latest = await mrow.getByRole("link", { name: `Download ${NAME}`, exact: true }).getAttribute("href");
    if (latest !== v2) throw new Error(`the row's download is ${latest}, not the latest version ${v2}`);
    await b.reload();
    await b.getByText("No documents yet.").waitFor({ timeout: STEP_MS });
    if ((await b.content()).includes(NAME)) throw new Error("party B's page names the new version of party A's private document");
    if ((await read(b, v2)).status !== 404) throw new Error("party B can fetch the new version");
    log("a new version: the mediator reads both, party B still sees nothing");

    // 5. The mediator shares it with the whole case; party B now sees it.
    await mrow.getByRole("button", { name: `Share ${NAME} with the whole case` }).click();
    await m.getByText(`${NAME} is now visible to everyone on the case.`).waitFor({ timeout: STEP_MS });
    await m.getByRole("row", { name: NAME_RE }).getByText("Everyone on the case").waitFor({ timeout: STEP_MS });
    await b.reload();
    const brow = b.getByRole("row", { name: NAME_RE });
    await brow.waitFor({ timeout: STEP_MS });
    const btext = await brow.textContent();
    if (!btext.includes("Everyone on the case") || !btext.includes("2 versions")) throw new Error(`party B's row after sharing: ${btext}`);
    const bgot = await read(b, await brow.getByRole("link", { name: `Download ${NAME}`, exact: true }).getAttribute("href"));
    if (bgot.status !== 200 || bgot.text !== CONTENT_V2) throw new Error(`party B's download after sharing is wrong (${bgot.status})`);
    await a.reload();
    await a.getByRole("row", { name: NAME_RE }).getByText("Everyone on the case").waitFor({ timeout: STEP_MS });
    log("shared with the whole case: party B sees both versions and reads the latest");

    // 6. The org admin's document settings.
    const s = await (await browser.newContext()).newPage();
    await signIn(s, server.base, `/admin/sign-in?next=${encodeURIComponent("/settings")}`, PEOPLE.admin);
    const limit = s.getByLabel("Largest upload (MiB)");
    await limit.waitFor({ timeout: STEP_MS });
    if ((await limit.inputValue()) !== "100") throw new Error(`the default limit shows as ${await limit.inputValue()} MiB`);
    await limit.fill("12.5");
    await s.getByLabel("Erase documents after a case closes").check();
    await s.getByLabel("Days after the case closes").fill("0");
    await s.getByRole("button", { name: "Save document settings" }).click();
    await s.getByText("Enter a whole number of days").waitFor({ timeout: STEP_MS });
    await s.getByLabel("Days after the case closes").fill("90");
    await s.getByRole("button", { name: "Save document settings" }).click();
    await s.getByText("The document settings are saved.").waitFor({ timeout: STEP_MS });
    const { documentSettings } = await admin.graphql("{ documentSettings { maxUploadBytes retentionDays } }");
    if (documentSettings.maxUploadBytes !== 12.5 * 1024 * 1024 || documentSettings.retentionDays !== 90) throw new Error(`saved as ${JSON.stringify(documentSettings)}`);
    await s.reload();
    await limit.waitFor({ timeout: STEP_MS });
    if ((await limit.inputValue()) !== "12.5" || (await s.getByLabel("Days after the case closes").inputValue()) !== "90") throw new Error("the settings page does not show what was saved");
    log("the org admin sets the upload limit and retention");
    ok = true;
  } finally {
    await browser?.close();
    await server.stop(!ok);
  }
  if (!ok) process.exit(1);
  log("documents: ok");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
