// End-to-end test of the mediation workflow's screens, in Debian's Chromium
// (playwright-core), on the seeded demo org and its case DEMO-0001:
//
//   1. Billing (org admin, /admin/billing): a bad amount is refused; EUR with
//      a 100.00 admin fee and the mediator's hourly rate of 120.00 are saved
//      and read back through the API; parties are told of overridden
//      conflicts (the disclosure switch); people who have not signed the
//      agreement to mediate may no longer join (the admission switch);
//      the intake form (/admin/intake-form): accessibility needs are no
//      longer asked and the interpreter question becomes required;
//   2. Declarations (the mediator, /admin/declarations): they declare the
//      parties' email domain and the respondent's company;
//   3. the case page (org admin): "Check conflicts" lists both parties as
//      declared-domain conflicts; the admin assigns the mediator with an
//      override and a written reason, audited as conflict.override; adding
//      counsel at the declared domain is refused with the conflict shown,
//      and the admin adds them with an override and a reason; recording
//      the respondent's company is refused the same way, then saved with an
//      override;
//   4. the client portal (a party): the case page shows the disclosed
//      conflict and the timeline; the party fills in the intake form as
//      configured (no accessibility question);
//   5. the session is recorded as held for 90 minutes; on the case page the
//      admin drafts the invoice and issues it: INV-000001; the admin's PDF of
//      it lists both shares; a credit note of 20.00 is issued from the
//      invoice's row with a reason: CN-000001;
//   6. /invoices (each party): their own share only (a 50/50 split of
//      180.00 + 100.00 = 140.00 EUR each), and the PDF they download shows
//      their share and not the other party's.
//
// Every screen passes axe-core (no serious or critical violation).
//
//   node tests/browser/workflow.mjs
//
// Needs what run.mjs needs: target/debug/accord, the built portals, a
// Postgres cluster (ACCORD_TEST_DATABASE_URL), /usr/bin/chromium and this
// directory's npm packages.

import { AxeBuilder } from "@axe-core/playwright";
import { chromium } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS, log, PASSWORD, PEOPLE, signInHttp, startServer } from "./lib.mjs";

const STEP_MS = 20_000;

/** The text runs of a PDF's uncompressed content streams (what Accord writes). */
function pdfText(bytes) {
  const raw = Buffer.from(bytes).toString("latin1");
  if (!raw.startsWith("%PDF-") || !raw.trimEnd().endsWith("%%EOF")) throw new Error("not a whole PDF");
  const runs = [];
  for (const m of raw.matchAll(/\(((?:\\.|[^\\)])*)\) Tj/g)) runs.push(m[1].replace(/\\(.)/g, "$1"));
  return runs;
}

async function accessible(page, name) {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  if (bad.length) throw new Error(`${name}: axe found ${bad.map((v) => `${v.id} (${v.nodes.length})`).join(", ")}`);
}

async function signIn(browser, base, portal, email, path) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const prefix = portal === "admin" ? "/admin" : "";
  await page.goto(`${base}${prefix}/sign-in?next=${encodeURIComponent(path)}`);
  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => u.pathname === `${prefix}${path}`, { timeout: STEP_MS });
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
    const { cases } = await admin.graphql("{ cases(first: 5) { edges { node { id reference mediator { user { id displayName } } sessions { id } } } } }");
    const demo = cases.edges.map((e) => e.node).find((c) => c.reference === "DEMO-0001");
    if (!demo) throw new Error(`no demo case: ${JSON.stringify(cases)}`);
    const mediatorName = demo.mediator.user.displayName;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });

    // 1. Billing settings.
    const page = await signIn(browser, server.base, "admin", PEOPLE.admin, "/billing");
    current = page;
    await page.getByRole("heading", { name: "Fee schedule" }).waitFor({ timeout: STEP_MS });
    await page.getByLabel("Currency (ISO code, e.g. EUR)").fill("EUR");
    await page.getByLabel("Admin fee per case").fill("1.234");
    await page.getByRole("button", { name: "Save fee schedule" }).click();
    await page.getByText("Type an amount such as 120.50.").waitFor({ timeout: STEP_MS });
    await page.getByLabel("Admin fee per case").fill("100.00");
    await page.getByRole("button", { name: "Save fee schedule" }).click();
    await page.getByText("Fee schedule saved.").waitFor({ timeout: STEP_MS });
    await page.getByLabel(`How ${mediatorName} charges`).selectOption("HOURLY");
    await page.getByLabel(`Rate for ${mediatorName}`).fill("120");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.getByText(`Rate saved for ${mediatorName}.`).waitFor({ timeout: STEP_MS });
    await page.getByLabel("Tell the people on a case when a conflict of interest was overridden").check();
    await page.getByText("Disclosure setting saved.").waitFor({ timeout: STEP_MS });
    await page.getByLabel("Let people who have not signed their case's agreement to mediate join its sessions").uncheck();
    await page.getByText("Admission setting saved.").waitFor({ timeout: STEP_MS });
    await page.getByLabel("Let people whose browser cannot encrypt end to end join, protected hop by hop only").check();
    await page.getByText("Encryption setting saved.").waitFor({ timeout: STEP_MS });
    await accessible(page, "the billing page");
    const { feeSchedule, admitUnsignedParticipants, hopByHopAllowed } = await admin.graphql("{ feeSchedule { currency adminFeeMinor mediators { rateMinor basis } } admitUnsignedParticipants hopByHopAllowed }");
    if (feeSchedule.currency !== "EUR" || feeSchedule.adminFeeMinor !== 10000 || feeSchedule.mediators[0].rateMinor !== 12000) {
      throw new Error(`fee schedule: ${JSON.stringify(feeSchedule)}`);
    }
    if (admitUnsignedParticipants !== false) throw new Error("the admission switch was not saved");
    if (hopByHopAllowed !== true) throw new Error("the hop-by-hop switch was not saved");
    log("billing: a bad amount refused; EUR, 100.00 per case and 120.00 an hour saved; disclosure on; only signed participants admitted; hop-by-hop sessions allowed");

    // 1b. The intake form's configuration.
    await page.goto(`${server.base}/admin/intake-form`);
    await page.getByRole("heading", { name: "Questions" }).waitFor({ timeout: STEP_MS });
    await page.getByLabel("Ask: Accessibility needs").uncheck();
    await page.getByLabel("Required: Interpreter needed").check();
    await page.getByRole("button", { name: "Save intake form" }).click();
    await page.getByText("Intake form saved.").waitFor({ timeout: STEP_MS });
    await accessible(page, "the intake form page");
    const { intakeForm } = await admin.graphql("{ intakeForm { fields { field required } } }");
    const asked = intakeForm.fields.map((f) => `${f.field}${f.required ? "!" : ""}`).join(" ");
    if (asked !== "DISPUTE_TYPE! AMOUNT_IN_DISPUTE PREFERRED_LANGUAGE INTERPRETER_NEEDED!") throw new Error(`intake form: ${asked}`);
    log("intake form: accessibility needs no longer asked, interpreter required");

    // 2. The mediator declares the parties' domain.
    const med = await signIn(browser, server.base, "admin", PEOPLE.mediator, "/declarations");
    current = med;
    await med.getByLabel("Kind").selectOption("EMAIL_DOMAIN");
    await med.getByLabel("Organisation, email address or domain").fill("demo.accord.test");
    await med.getByRole("button", { name: "Declare" }).click();
    await med.getByText("Relationship declared.", { exact: true }).waitFor({ timeout: STEP_MS });
    await med.getByRole("cell", { name: "demo.accord.test", exact: true }).waitFor({ timeout: STEP_MS });
    await med.getByLabel("Kind").selectOption("ORGANIZATION");
    await med.getByLabel("Organisation, email address or domain").fill("Quayside Properties");
    await med.getByRole("button", { name: "Declare" }).click();
    await med.getByRole("cell", { name: "Quayside Properties", exact: true }).waitFor({ timeout: STEP_MS });
    await accessible(med, "the declarations page");
    await med.context().close();
    log("declarations: the mediator declared demo.accord.test and Quayside Properties");

    // 3. The admin checks and overrides on the case page.
    current = page;
    await page.goto(`${server.base}/admin/cases/${demo.id}`);
    await page.getByRole("heading", { name: "Conflicts of interest" }).waitFor({ timeout: STEP_MS });
    await page.getByLabel("Mediator to check").selectOption({ label: mediatorName });
    await page.getByRole("button", { name: "Check conflicts" }).click();
    await page.getByRole("heading", { name: /conflicts? found/ }).waitFor({ timeout: STEP_MS });
    const rows = await page.getByRole("table", { name: /conflicts? found/ }).getByRole("row").count();
    if (rows < 3) throw new Error(`expected both parties in the conflicts table, got ${rows - 1} rows`);
    await accessible(page, "the case page with conflicts");
    const reason = "Both parties were told of the mediator's tie and agreed in writing.";
    await page.getByLabel("Reason for assigning despite the conflict").fill(reason);
    await page.getByRole("button", { name: "Assign with override" }).click();
    await page.getByText("Mediator assigned with an override; the reason is recorded.").waitFor({ timeout: STEP_MS });
    const { auditEvents } = await admin.graphql("query($t: UUID) { auditEvents(first: 3, targetId: $t) { action } }", { t: demo.id });
    if (auditEvents[0].action !== "conflict.override") throw new Error(`audit: ${JSON.stringify(auditEvents)}`);
    log("case page: two conflicts found, overridden with a reason, audited");

    // 3b. Counsel at the declared domain: refused, then added with an override.
    const addForm = page.getByRole("form", { name: "Add a person" });
    await addForm.getByLabel("Capacity").selectOption("COUNSEL");
    await addForm.getByLabel("Name").fill("Dana Counsel");
    await addForm.getByLabel("Email address").fill("dana.counsel@demo.accord.test");
    await addForm.getByRole("button", { name: "Add to case" }).click();
    await addForm.getByRole("heading", { name: "The case's mediator has 1 declared relationship with this person" }).waitFor({ timeout: STEP_MS });
    await addForm.getByRole("cell", { name: "demo.accord.test" }).waitFor({ timeout: STEP_MS });
    await accessible(page, "the case page with a person's conflict");
    const partyReason = "Dana's firm is known to the mediator; both parties agreed in writing.";
    await addForm.getByLabel("Reason for adding despite the conflict").fill(partyReason);
    await addForm.getByRole("button", { name: "Add with override" }).click();
    await page.getByText("Dana Counsel added with an override; the reason is recorded.").waitFor({ timeout: STEP_MS });
    const after = await admin.graphql("query($t: UUID) { auditEvents(first: 1, targetId: $t) { action } }", { t: demo.id });
    if (after.auditEvents[0].action !== "conflict.override") throw new Error(`audit: ${JSON.stringify(after)}`);
    // 3c. The respondent's organisation is the declared one: refused with
    // what matched, then saved with an override.
    const orgField = page.getByLabel("Organisation Robin Respondent is on the case for");
    await orgField.fill("Quayside Properties");
    await page.getByRole("button", { name: "Save the organisation of Robin Respondent" }).click();
    // (The declared domain matches the respondent's address too.)
    await page.getByRole("heading", { name: /^This organisation meets \d declared relationships? of the case's mediator$/ }).waitFor({ timeout: STEP_MS });
    await page.getByRole("cell", { name: "quayside properties", exact: true }).waitFor({ timeout: STEP_MS });
    await accessible(page, "the case page with an organisation's conflict");
    await page.getByLabel("Reason for recording it despite the conflict").fill("The mediator's past work for Quayside was disclosed; both sides agreed.");
    await page.getByRole("button", { name: "Save with override" }).click();
    await page.getByText("Organisation of Robin Respondent saved with an override; the reason is recorded.").waitFor({ timeout: STEP_MS });
    const orgs = await admin.graphql("query($c: UUID!) { case(id: $c) { partyOrganizations { organization } } }", { c: demo.id });
    if (!orgs.case.partyOrganizations.some((o) => o.organization === "Quayside Properties")) throw new Error(`organisations: ${JSON.stringify(orgs)}`);
    const people = await admin.graphql("query($c: UUID!) { case(id: $c) { parties { displayName kind } } }", { c: demo.id });
    if (!people.case.parties.some((p) => p.displayName === "Dana Counsel" && p.kind === "COUNSEL")) throw new Error(`people: ${JSON.stringify(people)}`);
    log("case page: counsel at the declared domain refused, then added with an override, audited; the respondent's company likewise");

    // 4. A party sees the disclosure and the timeline, and fills in intake.
    const party = await signIn(browser, server.base, "client", PEOPLE.partyA, `/cases/${demo.id}`);
    current = party;
    await party.getByText(reason).waitFor({ timeout: STEP_MS });
    await party.getByRole("list", { name: "What has happened" }).getByText("Case opened").waitFor({ timeout: STEP_MS });
    await party.getByLabel(/Type of dispute/).selectOption("Commercial");
    await party.getByLabel(/Do you need an interpreter/).selectOption("no");
    await party.getByLabel(/Amount in dispute/).fill("2500.00");
    if ((await party.getByLabel(/Accessibility needs/).count()) !== 0) throw new Error("the intake form still asks for accessibility needs");
    await party.getByRole("button", { name: "Send answers" }).click();
    await party.getByText("Your answers were sent.").waitFor({ timeout: STEP_MS });
    await accessible(party, "the party's case page");
    const { caseIntake } = await admin.graphql("query($c: UUID!) { caseIntake(caseId: $c) { answers { field value } } }", { c: demo.id });
    const amount = caseIntake[0]?.answers.find((a) => a.field === "AMOUNT_IN_DISPUTE")?.value;
    if (amount !== "250000") throw new Error(`intake answers: ${JSON.stringify(caseIntake)}`);
    log("client case page: disclosure and timeline shown; intake answered (2500.00 as 250000 minor units)");

    // 5. The session is held for 90 minutes; the admin drafts and issues.
    const medApi = await signInHttp(server.base, PEOPLE.mediator);
    const start = new Date(Date.now() - 3 * 3600_000);
    const end = new Date(start.getTime() + 90 * 60_000);
    await medApi.graphql("mutation($s: UUID!, $a: DateTime!, $b: DateTime!) { recordSessionHeld(sessionId: $s, startedAt: $a, endedAt: $b) { minutes } }", {
      s: demo.sessions[0].id,
      a: start.toISOString(),
      b: end.toISOString(),
    });
    current = page;
    await page.reload();
    await page.getByText(/·\s*90 minutes/).waitFor({ timeout: STEP_MS });
    await page.getByRole("button", { name: "Draft invoice from held sessions" }).click();
    await page.getByText("Invoice drafted.").waitFor({ timeout: STEP_MS });
    await page.getByRole("button", { name: "Issue", exact: true }).click();
    await page.getByText("Invoice INV-000001 issued; each party now sees their share.").waitFor({ timeout: STEP_MS });
    await page.getByRole("list", { name: "Timeline" }).waitFor({ timeout: STEP_MS });
    await accessible(page, "the case page with an invoice");
    log("case page: invoice drafted from 90 minutes held and issued as INV-000001");

    // 5b. The invoice as a PDF (the admin's: both shares), and a credit note.
    const { caseBilling } = await admin.graphql("query($c: UUID!) { caseBilling(caseId: $c) { invoices { id label } } }", { c: demo.id });
    const invoice = caseBilling.invoices.find((i) => i.label === "INV-000001");
    const pdfLink = page.getByRole("link", { name: "Download INV-000001 as PDF" });
    await pdfLink.waitFor({ timeout: STEP_MS });
    const adminPdf = await page.request.get(`${server.base}${await pdfLink.getAttribute("href")}`);
    if (adminPdf.status() !== 200 || adminPdf.headers()["content-type"] !== "application/pdf") throw new Error(`admin PDF: ${adminPdf.status()}`);
    const adminText = pdfText(await adminPdf.body());
    for (const want of ["Invoice INV-000001", "Case DEMO-0001", "280.00 EUR", "Shares between the parties", "Pat Claimant", "Robin Respondent", "140.00 EUR"]) {
      if (!adminText.includes(want)) throw new Error(`admin PDF lacks ${want}: ${JSON.stringify(adminText)}`);
    }
    await page.getByRole("button", { name: "Refund part of INV-000001 with a credit note" }).click();
    await page.getByLabel("Amount to refund on INV-000001").fill("20.00");
    await page.getByLabel("Reason for the refund").fill("Session started late");
    await accessible(page, "the case page with the credit note form");
    await page.getByRole("button", { name: "Issue credit note" }).click();
    await page.getByText("Credit note CN-000001 issued.").waitFor({ timeout: STEP_MS });
    await page.getByRole("cell", { name: "CN-000001 · Credit note" }).waitFor({ timeout: STEP_MS });
    log("case page: the invoice's PDF lists both shares; credit note CN-000001 of 20.00 issued with a reason");

    // 6. Each party sees only their own share.
    for (const email of [PEOPLE.partyA, PEOPLE.partyB]) {
      const p = await signIn(browser, server.base, "client", email, "/invoices");
      current = p;
      await p.getByRole("heading", { name: /INV-000001/ }).waitFor({ timeout: STEP_MS });
      await p.getByText("140.00 EUR", { exact: true }).waitFor({ timeout: STEP_MS });
      await p.getByText("280.00 EUR").waitFor({ timeout: STEP_MS });
      await accessible(p, "the invoices page");
      const own = await p.request.get(`${server.base}/invoices/${invoice.id}/pdf`);
      if (own.status() !== 200) throw new Error(`party PDF: ${own.status()}`);
      const text = pdfText(await own.body());
      if (!text.includes("Your share") || !text.includes("140.00 EUR")) throw new Error(`party PDF: ${JSON.stringify(text)}`);
      const names = text.filter((t) => t === "Pat Claimant" || t === "Robin Respondent");
      if (names.length !== 1) throw new Error(`party PDF names ${JSON.stringify(names)}: only their own share belongs there`);
      await p.context().close();
    }
    log("invoices: each party sees their 140.00 EUR share of 280.00 EUR, and so does their PDF");
    ok = true;
  } catch (e) {
    if (current) {
      try {
        const text = await current.locator("main").innerText();
        const at = Math.max(0, text.indexOf("Conflicts of interest"));
        log(`page at failure: ${current.url()}\n${text.slice(0, 1500)}\n…\n${text.slice(at, at + 1500)}`);
      } catch {
        // the page may be gone
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
    log("workflow: all checks passed");
    process.exit(0);
  },
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
