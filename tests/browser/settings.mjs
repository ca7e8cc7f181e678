// End-to-end test of the admin screens around invitations and mail, and the
// settings screens, in Debian's Chromium (playwright-core):
//
//   1. Organisation settings (org admin, /admin/settings): a lifetime of 0
//      days is refused next to its field; time zone Europe/Paris, French
//      dates, 7-day links and reminders 2 hours and 24 hours ahead are saved
//      (and read back through the API); a mediator is told only admins may;
//   2. working hours on the same page: Friday closed, saved and read back;
//   3. the account page in both portals: the admin chooses New York time and
//      American dates; a party chooses German dates; both read back;
//   4. the case page's invitations: Resend mails a new link with the
//      session's calendar entry (METHOD:REQUEST); once the person has
//      registered a browser with it, Re-invite asks first, then mails another;
//   5. the Mail page: a message that failed for good is retried with
//      "Retry now";
//   6. the audit log's chain check: verified, then, after an event is altered
//      behind the application's back, "Check again" reports it broken;
//   7. the dashboard's live sessions: a party joins the demo session from
//      the client portal and the admin's dashboard lists it.
//
// Every screen passes axe-core (no serious or critical violation).
//
//   node tests/browser/settings.mjs
//
// Needs what run.mjs needs: target/debug/accord, the built portals, a
// Postgres cluster (ACCORD_TEST_DATABASE_URL), /usr/bin/chromium and this
// directory's npm packages.

import { AxeBuilder } from "@axe-core/playwright";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS, clickJoin, CLUSTER, log, openParticipant, PASSWORD, PEOPLE, psql, signInHttp, startServer, until, withDatabase } from "./lib.mjs";

const STEP_MS = 20_000;
const RENEWED = "renew@example.test";

/** Fails on any serious or critical axe-core violation (within `selector` when given). */
async function accessible(page, name, selector) {
  let axe = new AxeBuilder({ page });
  if (selector) axe = axe.include(selector);
  const result = await axe.analyze();
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  if (bad.length) throw new Error(`${name}: axe found ${bad.map((v) => `${v.id} (${v.nodes.length})`).join(", ")}`);
}

/** Every outbox mail to `to` whose subject starts with `subject`, oldest first. */
function mailsTo(outbox, to, subject) {
  let files;
  try {
    files = readdirSync(outbox).filter((f) => f.endsWith(".json")).sort();
  } catch {
    return [];
  }
  return files.map((f) => JSON.parse(readFileSync(join(outbox, f), "utf8"))).filter((m) => m.to === to && m.subject.startsWith(subject));
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
  const db = withDatabase(CLUSTER, server.database);
  let browser;
  let current = null;
  let ok = false;
  try {
    const admin = await signInHttp(server.base, PEOPLE.admin);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });

    // 1. Organisation settings.
    const page = await signIn(browser, server.base, "admin", PEOPLE.admin, "/settings");
    current = page;
    await page.getByRole("heading", { name: "Organisation settings" }).waitFor({ timeout: STEP_MS });
    const lifetime = page.getByLabel("Invite links stay valid for (days)");
    await lifetime.waitFor({ timeout: STEP_MS });
    await accessible(page, "the settings page");
    await page.getByLabel("Organisation time zone").selectOption("Europe/Paris");
    await page.getByLabel("Date format in mail").first().selectOption("fr-FR");
    await page.getByText(/For example: .*\d{4}/).first().waitFor({ timeout: STEP_MS });
    await lifetime.fill("0");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.getByText("an invite link lasts from 1 to 90 days").waitFor({ timeout: STEP_MS });
    if ((await lifetime.getAttribute("aria-invalid")) !== "true") throw new Error("the lifetime field is not marked invalid");
    await lifetime.fill("7");
    await page.getByLabel("1 hour", { exact: true }).uncheck();
    await page.getByLabel("2 hours", { exact: true }).check();
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.getByText("The organisation's settings are saved.").waitFor({ timeout: STEP_MS });
    const { organizationSettings: saved } = await admin.graphql("{ organizationSettings { timeZone locale inviteLinkLifetimeDays reminderLeadMinutes } }");
    const want = { timeZone: "Europe/Paris", locale: "fr-FR", inviteLinkLifetimeDays: 7, reminderLeadMinutes: [1440, 120] };
    if (JSON.stringify(saved) !== JSON.stringify(want)) throw new Error(`saved settings: ${JSON.stringify(saved)}`);
    log("org settings: a bad lifetime refused at its field; zone, locale, lifetime and reminders saved");

    // 2. Working hours, on the same page.
    await page.getByLabel("Sessions on Friday").uncheck();
    await page.getByRole("button", { name: "Save working hours" }).click();
    await page.getByText("Working hours saved.").waitFor({ timeout: STEP_MS });
    const { orgWorkingHours } = await admin.graphql("{ orgWorkingHours { days { weekday } } }");
    if (orgWorkingHours.days.some((d) => d.weekday === "FRIDAY")) throw new Error(`Friday still open: ${JSON.stringify(orgWorkingHours)}`);
    await accessible(page, "the settings page after saving");
    log("working hours: Friday closed and saved");

    // A mediator is told that only admins change these.
    const med = await signIn(browser, server.base, "admin", PEOPLE.mediator, "/settings");
    current = med;
    await med.getByText("Only organisation admins change the organisation's settings.").waitFor({ timeout: STEP_MS });
    await med.context().close();

    // 3. The account page, in both portals.
    current = page;
    await page.goto(`${server.base}/admin/account`);
    await page.getByRole("heading", { name: "Time and language" }).waitFor({ timeout: STEP_MS });
    await page.getByLabel("Your time zone").selectOption("America/New_York");
    await page.getByLabel("Date format in mail").selectOption("en-US");
    await page.getByRole("button", { name: "Save time and language" }).click();
    await page.getByText("Your time zone and language are saved.").waitFor({ timeout: STEP_MS });
    await accessible(page, "the admin's account page");
    const { myPreferences: mine } = await admin.graphql("{ myPreferences { timeZone locale } }");
    if (mine.timeZone !== "America/New_York" || mine.locale !== "en-US") throw new Error(`the admin's preferences: ${JSON.stringify(mine)}`);
    const party = await signIn(browser, server.base, "client", PEOPLE.partyA, "/account");
    current = party;
    await party.getByLabel("Date format in mail").selectOption("de-DE");
    await party.getByRole("button", { name: "Save time and language" }).click();
    await party.getByText("Your time zone and language are saved.").waitFor({ timeout: STEP_MS });
    await accessible(party, "the party's account page");
    const partyApi = await signInHttp(server.base, PEOPLE.partyA);
    const { myPreferences: theirs } = await partyApi.graphql("{ myPreferences { locale } }");
    if (theirs.locale !== "de-DE") throw new Error(`the party's preferences: ${JSON.stringify(theirs)}`);
    await party.context().close();
    log("account pages: own time zone and date format saved in both portals");

    // 4. Resend and re-invite from the case page.
    const { sessions } = await admin.graphql("{ sessions { id caseId startsAt status case { reference } } }");
    const ahead = sessions.find((s) => s.status === "SCHEDULED" && new Date(s.startsAt) > new Date());
    if (!ahead) throw new Error(`no session ahead in the demo data: ${JSON.stringify(sessions)}`);
    await admin.graphql("mutation($c: UUID!, $e: String!) { addParty(input: {caseId: $c, kind: PARTY, displayName: \"Rene Renewed\", email: $e}) { id } }", {
      c: ahead.caseId,
      e: RENEWED,
    });
    const outbox = join(server.work, "outbox");
    current = page;
    await page.goto(`${server.base}/admin/cases/${ahead.caseId}`);
    const row = page.locator("section.invitations tr", { hasText: "Rene Renewed" });
    await row.waitFor({ timeout: STEP_MS });
    await row.getByRole("button", { name: "Resend the invitation to Rene Renewed" }).click();
    await page.getByText("A new invitation link was sent to Rene Renewed. Older links no longer work.").waitFor({ timeout: STEP_MS });
    let renewed = [];
    await until("the resent link's mail", () => (renewed = mailsTo(outbox, RENEWED, "Your invitation for case")).length === 1, STEP_MS);
    const ics = renewed[0].calendar?.ics ?? "";
    if (!ics.includes("METHOD:REQUEST") || !ics.includes(`UID:session-${ahead.id}-participant-`)) throw new Error(`the resent mail's calendar: ${ics}`);
    if (!/https?:\/\/\S+\/invite#token=[A-Za-z0-9_-]{43}/.test(renewed[0].body)) throw new Error("the resent mail has no link");
    // The person opens the resent link: their browser is registered, so
    // re-inviting them (a lost phone) is offered.
    const link = new URL(/https?:\/\/\S+\/invite#token=[A-Za-z0-9_-]{43}/.exec(renewed[0].body)[0]);
    const invitee = await (await browser.newContext()).newPage();
    await invitee.goto(`${server.base}${link.pathname}${link.hash}`);
    await invitee.waitForURL((u) => u.pathname === `/cases/${ahead.caseId}`, { timeout: STEP_MS });
    await invitee.context().close();
    await page.reload();
    await row.getByText("Redeemed", { exact: true }).waitFor({ timeout: STEP_MS });
    await row.getByRole("button", { name: "Re-invite Rene Renewed on a new device" }).click();
    await page.getByRole("button", { name: "Yes, re-invite" }).click();
    await page.getByText("Rene Renewed's device was revoked and a new invitation link was sent.").waitFor({ timeout: STEP_MS });
    await until("the re-invite's mail", () => mailsTo(outbox, RENEWED, "Your invitation for case").length === 2, STEP_MS);
    await accessible(page, "the case page's invitations", "section.invitations");
    log("resend and re-invite mail new links, with the session's calendar entry");

    // 5. Mail: a message that failed for good, retried.
    const failedTo = "bounced@example.test";
    psql(
      db,
      `INSERT INTO jobs (id, org_id, kind, idempotency_key, recipient, subject, payload, status, attempts, last_error)
       SELECT gen_random_uuid(), id, 'mail.session_reminder', 'browser-failed-1', '${failedTo}', 'Reminder: mediation session', '{}'::jsonb, 'failed', 8, '550 5.1.1 mailbox unavailable'
       FROM organizations WHERE slug = 'demo'`,
    );
    await page.goto(`${server.base}/admin/mail`);
    const failedRow = page.locator("tr", { hasText: failedTo });
    await failedRow.getByText("550 5.1.1 mailbox unavailable").waitFor({ timeout: STEP_MS });
    await accessible(page, "the mail page");
    await failedRow.getByRole("button", { name: `Retry the message to ${failedTo} now` }).click();
    await page.getByText(`The message to ${failedTo} is queued again.`).waitFor({ timeout: STEP_MS });
    log("mail: a failed message retried from the Mail page");

    // 6. The audit chain: verified, then broken by an edit behind the application's back.
    await page.goto(`${server.base}/admin/audit`);
    await page.getByText(/^Verified: all \d+ events match their hashes/).waitFor({ timeout: STEP_MS });
    await accessible(page, "the audit page");
    psql(
      db,
      `ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only;
       UPDATE audit_events SET action = 'case.tampered' WHERE seq = 2 AND org_id = (SELECT id FROM organizations WHERE slug = 'demo');
       ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only;`,
    );
    await page.getByRole("button", { name: "Check again" }).click();
    await page.getByText("The chain of events is broken at event 2.").waitFor({ timeout: STEP_MS });
    log("audit: the chain check reports an altered event");

    // 7. The dashboard's live sessions: a party joins the demo session and
    // the admin's dashboard lists it, with them in it or in its lobby.
    const live = sessions[0];
    const joined = await openParticipant(browser, server.base, live.id, "party A", PEOPLE.partyA);
    current = joined.page;
    await clickJoin(joined);
    current = page;
    await page.goto(`${server.base}/admin/`);
    const card = page.locator("section", { has: page.getByRole("heading", { name: "Live now" }) }).first();
    await card.getByRole("link", { name: live.case.reference }).waitFor({ timeout: STEP_MS });
    await card.getByText(/^1 person (in the session|waiting in the lobby)$/).waitFor({ timeout: STEP_MS });
    await accessible(page, "the dashboard");
    await joined.context.close();
    log("dashboard: the live session is listed with the party who joined");
    ok = true;
  } catch (e) {
    const text = await current?.evaluate(() => document.body.innerText).catch(() => null);
    if (text !== null && text !== undefined) console.error(`the page at the failure (${current.url()}):\n${text}`);
    throw e;
  } finally {
    await browser?.close().catch(() => undefined);
    await server.stop(!ok || process.env.ACCORD_BROWSER_KEEP === "1");
    if (!ok) console.error(`server log kept in ${server.logFile}`);
  }
}

main().then(
  () => log("settings: all passed"),
  (e) => {
    console.error(e.stack ?? String(e));
    process.exit(1);
  },
);
