// End-to-end test of the portals through their pages, in Debian's Chromium
// (playwright-core) with axe-core on every page visited. Starts `accord dev`
// on a fresh database (the demo organisation), then:
//
//   1. the demo org admin signs in at /admin/sign-in, invites two parties on
//      the Members page, opens a case, assigns the mediator, adds both
//      parties and schedules two sessions (one starting within 15 minutes,
//      one tomorrow), and opens the audit log;
//   2. the first party opens the password-setup link from the mail outbox,
//      chooses a password, signs in to the client portal, sees the case and
//      both sessions (Join for the one about to start, "Opens 15 minutes
//      before the start" for the other, times in their own zone), opens the
//      case, turns on two-factor sign-in on the account page (the code
//      computed here from the key shown: RFC 6238, SHA-1, 30 s, 6 digits),
//      signs out and signs in again with a code;
//   3. the party edits the address to a case and a session of another
//      organisation (made beforehand with `accord admin` and the API: a
//      setup shortcut; the check itself is through the pages) and to an
//      unknown case, and is told "not found";
//   4. the party tests camera, microphone and speaker with the device check
//      (Chromium's fake devices), then the session page's check before
//      joining; in a browser that refuses the devices, the check says so.
//
// Every page visited is checked with axe-core: a serious or critical
// violation fails the run (all are listed at the end). A screenshot of each
// main screen goes to .data/screens/ at the repository's root.
//
// Needs target/debug/accord (cargo build -p accord-server --bin accord), the
// built portals (cd portals && npm run build), a Postgres cluster
// (ACCORD_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres)
// and /usr/bin/chromium.
//
//   node tests/browser/portals.mjs
//
// ACCORD_BROWSER_KEEP=1 keeps the server's log and the database's work folder.

import { AxeBuilder } from "@axe-core/playwright";
import { spawnSync } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS, log, startServer, until } from "./lib.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const ACCORD_BIN = process.env.ACCORD_BIN ?? join(ROOT, "target/debug/accord");
const CLUSTER = process.env.ACCORD_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const SCREENS = join(ROOT, ".data/screens");
const DEMO_PASSWORD = "demo-password-accord";
const ADMIN = "admin@demo.accord.test";
const STEP_MS = 20_000;

// ---- helpers of this test ------------------------------------------------------

/** RFC 4648 base32 (the TOTP key as authenticator apps take it) to bytes. */
function base32Decode(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/[\s=]/g, "").toUpperCase()) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`not base32: ${c}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The RFC 6238 code (HMAC-SHA-1, 30 s steps, 6 digits) of `key` at time step `step`. */
function totpAt(key, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const h = createHmac("sha1", key).update(counter).digest();
  const at = h[h.length - 1] & 0x0f;
  return String((h.readUInt32BE(at) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

const timeStep = (ms = Date.now()) => Math.floor(ms / 30_000);

/** A code for a time step after `usedStep` (the server refuses a code used once), waiting for the next step when needed. */
async function freshTotp(key, usedStep) {
  while (timeStep() <= usedStep) await new Promise((r) => setTimeout(r, 500));
  const step = timeStep();
  return { code: totpAt(key, step), step };
}

/** The wall-clock date ("2026-12-06") and time ("17:25") of an instant in a zone. */
function wallClock(ms, timeZone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-GB", { timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  return { date: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}` };
}

/** The password-setup link mailed to `email` (the file outbox writes one JSON file per message). */
function setupLink(outbox, email) {
  const files = readdirSync(outbox).filter((f) => f.endsWith(".json")).sort();
  for (const f of files.reverse()) {
    const m = JSON.parse(readFileSync(join(outbox, f), "utf8"));
    if (m.to !== email) continue;
    const link = /(https?:\/\/\S+\/password#token=[A-Za-z0-9_-]+)/.exec(m.body);
    if (link) return link[1];
  }
  return null;
}

const failures = [];
/** The page a step is on, photographed when a step throws. */
let current = null;
const fail = (what) => {
  failures.push(what);
  log(`FAIL ${what}`);
};

/** Fails the run (at its end) for every serious or critical axe violation on the page as it is now. */
async function axe(page, name) {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of bad) {
    const where = v.nodes
      .slice(0, 3)
      .map((n) => n.target.join(" "))
      .join(" | ");
    fail(`${name}: axe ${v.id} (${v.impact}): ${v.help} at ${where}`);
  }
  log(`${name}: axe found ${bad.length} serious/critical violation(s) (${result.violations.length} in all)`);
}

async function shoot(page, name) {
  await page.screenshot({ path: join(SCREENS, `${name}.png`), fullPage: true });
}

/** Waits for the page's main heading and for loading indicators to go. */
async function settled(page, heading) {
  await page.getByRole("heading", { level: 1, name: heading }).waitFor({ timeout: STEP_MS });
  await until(`${heading} to finish loading`, async () => (await page.locator(".loading").count()) === 0, STEP_MS);
}

/** A page visited: settled, checked with axe, and photographed when it is a main screen. */
async function visited(page, name, heading, { shot = true } = {}) {
  await settled(page, heading);
  await axe(page, name);
  if (shot) await shoot(page, name);
}

/**
 * Waits for what a change should show on the page; when the page does not
 * show it by itself (a list not refreshed after the change), records the
 * failure and reloads, so that the later steps still run.
 */
async function shownAfterChange(page, what, check) {
  try {
    await until(what, check, 5_000);
  } catch {
    fail(`${what}: not shown until the page was reloaded`);
    await page.reload();
    await until(`${what} after a reload`, check, STEP_MS);
  }
}

function expect(ok, what) {
  if (!ok) throw new Error(`expected ${what}`);
}

/** Console errors and failed requests a page should not have. */
function watchProblems(page, who, { expectedStatus = () => false } = {}) {
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) fail(`${who}: console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => fail(`${who}: page error: ${e.message}`));
  page.on("response", (r) => {
    const path = new URL(r.url()).pathname;
    if (r.status() >= 500 || (r.status() >= 400 && !expectedStatus(r.status(), path))) fail(`${who}: ${r.request().method()} ${path} answered ${r.status()}`);
  });
}

/** Runs `accord admin …` against the test's database. */
function accordAdmin(server, args) {
  const db = (user) => {
    const u = new URL(CLUSTER);
    u.pathname = `/${server.database}`;
    if (user) {
      u.username = user;
      u.password = "";
    }
    return u.toString();
  };
  const r = spawnSync(ACCORD_BIN, ["admin", ...args], {
    encoding: "utf8",
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME ?? server.work,
      ACCORD__DATABASE__ADMIN_URL: db(),
      ACCORD__DATABASE__URL: db("accord_app"),
      ACCORD__HTTP__PUBLIC_URL: `${server.base}/`,
      ACCORD__LOG__FILTER: "warn",
    },
  });
  if (r.status !== 0) throw new Error(`accord admin ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** A GraphQL client over plain HTTP for setup steps (not for steps under test). */
async function apiAs(base, email, password) {
  const r = await fetch(`${base}/auth/sign-in`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email, password }) });
  if (r.status !== 200) throw new Error(`sign-in of ${email} answered ${r.status}: ${await r.text()}`);
  const cookie = r.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
  const { csrfToken } = await r.json();
  return async (query, variables = {}) => {
    const g = await fetch(`${base}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie, "x-csrf-token": csrfToken },
      body: JSON.stringify({ query, variables }),
    });
    const body = await g.json();
    if (body.errors) throw new Error(`GraphQL: ${JSON.stringify(body.errors)}`);
    return body.data;
  };
}

/**
 * Another organisation with a case and a session, made with the operator's
 * CLI and the API (setup, not under test): what a party of the demo
 * organisation must not reach.
 */
async function otherOrganisation(server) {
  accordAdmin(server, ["create-org", "--slug", "elsewhere", "--name", "Elsewhere Mediation"]);
  const email = "admin@elsewhere.accord.test";
  const out = accordAdmin(server, ["create-user", "--org", "elsewhere", "--email", email, "--name", "Elsa Elsewhere", "--role", "org_admin"]);
  const token = /password#token=([A-Za-z0-9_-]+)/.exec(out)?.[1];
  if (!token) throw new Error(`no setup link in: ${out}`);
  const r = await fetch(`${server.base}/auth/password`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token, password: DEMO_PASSWORD }) });
  if (!r.ok) throw new Error(`setting the other admin's password answered ${r.status}`);
  const gql = await apiAs(server.base, email, DEMO_PASSWORD);
  const { createCase } = await gql("mutation($i: CreateCaseInput!) { createCase(input: $i) { id } }", { i: { reference: "ELSE-1", title: "Not yours" } });
  const { scheduleSession } = await gql("mutation($i: ScheduleSessionInput!) { scheduleSession(input: $i) { id } }", {
    i: { caseId: createCase.id, startsAt: new Date(Date.now() + 5 * 60_000).toISOString(), timeZone: "UTC", durationMinutes: 60 },
  });
  return { caseId: createCase.id, sessionId: scheduleSession.id };
}

// ---- the steps ------------------------------------------------------------------

const run = randomUUID().slice(0, 6).toUpperCase();
const REFERENCE = `E2E-${run}`;
const TITLE = "Shared driveway";
const PARTY_A = { name: "Alex Applicant", email: `alex.${run.toLowerCase()}@e2e.accord.test` };
const PARTY_B = { name: "Blair Builder", email: `blair.${run.toLowerCase()}@e2e.accord.test` };
const PARTY_PASSWORD = "correct horse battery staple e2e";
const ADMIN_ZONE = "Europe/London";
const PARTY_ZONE = "America/New_York";

async function adminSteps(browser, base) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: ADMIN_ZONE, locale: "en-GB" });
  const page = await context.newPage();
  current = page;
  watchProblems(page, "admin", { expectedStatus: (s, path) => s === 401 && path === "/auth/session" });

  await page.goto(`${base}/admin/sign-in`);
  await visited(page, "admin-sign-in", "Sign in");
  await page.getByLabel("Email address").fill(ADMIN);
  await page.getByLabel("Password", { exact: true }).fill(DEMO_PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await visited(page, "admin-dashboard", "Dashboard");

  // Members: the two parties get accounts (and their set-up mails).
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Members" }).click();
  await settled(page, "Members");
  const invite = page.locator("form").filter({ has: page.getByRole("button", { name: "Send invitation" }) });
  for (const p of [PARTY_A, PARTY_B]) {
    await invite.getByLabel("Email address").fill(p.email);
    await invite.getByLabel("Name", { exact: true }).fill(p.name);
    await invite.getByLabel("Role", { exact: true }).selectOption({ label: "Party" });
    await invite.getByRole("button", { name: "Send invitation" }).click();
    await page.getByText(`Invitation sent to ${p.email}.`).waitFor({ timeout: STEP_MS });
    await page.getByRole("cell", { name: p.name }).first().waitFor({ timeout: STEP_MS });
  }
  await axe(page, "admin-members");
  await shoot(page, "admin-members");

  // Cases: open a new one.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Cases", exact: true }).click();
  await visited(page, "admin-cases", "Cases");
  await page.getByRole("button", { name: "New case" }).click();
  await page.getByLabel("Reference", { exact: true }).fill(REFERENCE);
  await page.getByLabel("Title", { exact: true }).fill(TITLE);
  await page.getByRole("button", { name: "Create case" }).click();
  await settled(page, `${REFERENCE} · ${TITLE}`);
  const caseId = /\/admin\/cases\/([0-9a-f-]{36})$/.exec(page.url())?.[1];
  expect(caseId, `the new case's page, not ${page.url()}`);

  // The mediator.
  await page.getByLabel("Assigned mediator").selectOption({ label: "Mo Mediator" });
  await page.getByRole("button", { name: "Assign mediator" }).click();
  await page.getByText("The mediator assignment is saved.").waitFor({ timeout: STEP_MS });

  // Both parties.
  const add = page.getByRole("form", { name: "Add a person" });
  for (const p of [PARTY_A, PARTY_B]) {
    await add.getByLabel("Capacity").selectOption({ label: "Party" });
    await add.getByLabel("Name", { exact: true }).fill(p.name);
    await add.getByLabel("Email address").fill(p.email);
    await add.getByRole("button", { name: "Add to case" }).click();
    await page.getByText(`${p.name} was added to the case.`).waitFor({ timeout: STEP_MS });
    await shownAfterChange(page, `admin case page: ${p.name} in the list of people`, async () => (await page.getByRole("table", { name: "People on the case" }).getByRole("cell", { name: p.name, exact: true }).count()) === 1);
  }

  // Two sessions, planned in London: one that opens at once, one tomorrow.
  const soonStart = Math.ceil((Date.now() + 10 * 60_000) / (5 * 60_000)) * 5 * 60_000;
  const sessions = [
    { start: soonStart, minutes: "60" },
    { start: soonStart + 24 * 60 * 60_000, minutes: "90" },
  ];
  const schedule = page.getByRole("region", { name: "Schedule a session" });
  for (const s of sessions) {
    const at = wallClock(s.start, ADMIN_ZONE);
    await schedule.getByLabel("Date").fill(at.date);
    await schedule.getByLabel("Start time").fill(at.time);
    await schedule.getByLabel("Time zone").selectOption(ADMIN_ZONE);
    await schedule.getByLabel("Length").selectOption(s.minutes);
    await schedule.getByRole("button", { name: "Schedule session" }).click();
    await page.getByText("The session is scheduled.").waitFor({ timeout: STEP_MS });
    // The notice stays: wait for the session's row rather than the words.
    const rows = sessions.indexOf(s) + 1;
    await shownAfterChange(page, `admin case page: session ${rows} in the list`, async () => (await page.getByRole("button", { name: /^Cancel the session of/ }).count()) >= rows);
  }
  await axe(page, "admin-case-detail");
  await shoot(page, "admin-case-detail");

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit log" }).click();
  await visited(page, "admin-audit", "Audit log");
  await context.close();
  return { caseId, soonStart };
}

async function partySteps(browser, base, outbox, { caseId, soonStart }, other) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: PARTY_ZONE, locale: "en-GB" });
  const page = await context.newPage();
  current = page;
  // 401: no session yet; 400: the sign-in that asks for the TOTP step.
  watchProblems(page, "party", { expectedStatus: (s, path) => (s === 401 && path === "/auth/session") || (s === 400 && path === "/auth/sign-in") });

  // The set-up link from the mail.
  const link = await until("the party's set-up mail", () => setupLink(outbox, PARTY_A.email), STEP_MS);
  await page.goto(link);
  await visited(page, "client-password", "Choose your password", { shot: false });
  await page.getByLabel("New password", { exact: true }).fill(PARTY_PASSWORD);
  await page.getByLabel("Repeat the new password").fill(PARTY_PASSWORD);
  await page.getByRole("button", { name: "Set password" }).click();
  await page.getByText("Your password is set.").waitFor({ timeout: STEP_MS });
  expect(!page.url().includes("token="), "the spent token gone from the address");
  await page.getByRole("link", { name: "Go to sign-in" }).click();

  const signIn = async () => {
    await page.getByLabel("Email address").fill(PARTY_A.email);
    await page.getByLabel("Password", { exact: true }).fill(PARTY_PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
  };
  await visited(page, "client-sign-in", "Sign in");
  await signIn();

  // Home: the case and both sessions.
  await visited(page, "client-home", "Your cases and sessions");
  const upcoming = page.getByRole("list", { name: "Upcoming sessions" });
  const items = upcoming.getByRole("listitem");
  expect((await items.count()) === 2, `two upcoming sessions, not ${await items.count()}`);
  const join = items.nth(0).getByRole("link", { name: /^Join the session of / });
  expect((await join.getAttribute("href"))?.startsWith("/sessions/"), "a Join link to the session about to start");
  expect(await items.nth(1).getByText("Opens 15 minutes before the start").isVisible(), "tomorrow's session to open later");
  expect((await items.nth(1).getByRole("link", { name: /^Join/ }).count()) === 0, "no Join link for tomorrow's session");
  // Times in the party's zone, with the planner's when it differs.
  const shown = await items.nth(0).locator("strong").textContent();
  const nyTime = wallClock(soonStart, PARTY_ZONE).time;
  expect(shown.includes(nyTime), `the start as ${nyTime} New York time in "${shown}"`);
  expect(await items.nth(0).getByText(/^Planned as .*\(London\)$/).isVisible(), "the London planning shown");
  expect(await items.nth(0).getByText("Mediator: Mo Mediator").isVisible(), "the mediator's name");
  const soonSessionId = (await join.getAttribute("href")).split("/").pop();

  // A phone's width: nothing sideways.
  await page.setViewportSize({ width: 375, height: 812 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  if (overflow > 375) fail(`client-home at 375 px is ${overflow} px wide`);
  await axe(page, "client-home-phone");
  await shoot(page, "client-home-phone");
  await page.setViewportSize({ width: 1280, height: 900 });

  // The case.
  await page.getByRole("table", { name: "Your cases" }).getByRole("link", { name: REFERENCE }).click();
  await visited(page, "client-case-detail", `${REFERENCE}: ${TITLE}`);
  expect(page.url().endsWith(`/cases/${caseId}`), "the case's address");
  expect(await page.getByText("Mo Mediator").isVisible(), "the mediator on the case page");
  const people = page.getByRole("list", { name: "Other people on the case" });
  const peopleText = await people.textContent();
  expect(peopleText.includes(PARTY_B.name) && peopleText.includes("Party"), `the other party in "${peopleText}"`);
  expect(!peopleText.includes(PARTY_A.name), "the party not listed among the others");
  expect(!peopleText.includes("@"), "no contact details the API withholds");
  expect((await page.getByRole("list", { name: "Sessions" }).getByRole("listitem").count()) === 2, "both sessions on the case page");

  // Two-factor sign-in on the account page.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Account" }).click();
  await visited(page, "client-account", "Your account", { shot: false });
  await page.getByRole("button", { name: "Turn on two-factor sign-in" }).click();
  await axe(page, "client-account-totp-enrol");
  const secret = (await page.getByTestId("totp-secret").textContent()).trim();
  const key = base32Decode(secret);
  const enrol = await freshTotp(key, -1);
  await page.getByLabel("Code shown by the app").fill(enrol.code);
  await page.getByRole("button", { name: "Confirm" }).click();
  await page.getByRole("heading", { name: "Your recovery codes" }).waitFor({ timeout: STEP_MS });
  await axe(page, "client-account-totp");
  await shoot(page, "client-account-totp");
  await page.getByRole("button", { name: "I have stored my recovery codes" }).click();
  await page.getByText("Two-factor sign-in is on.").waitFor({ timeout: STEP_MS });
  await page.getByRole("main").getByRole("button", { name: "Sign out", exact: true }).click();

  // Signing in again asks for a code.
  await settled(page, "Sign in");
  await signIn();
  await visited(page, "client-sign-in-totp", "Two-factor sign-in");
  const again = await freshTotp(key, enrol.step);
  await page.getByLabel("6-digit code from your authenticator app").fill(again.code);
  await page.getByRole("button", { name: "Verify" }).click();
  // Back where the sign-out left (the account page), or at the start.
  await settled(page, /^(Your account|Your cases and sessions)$/);
  log("party signed in again with a TOTP code");

  // Another organisation's case and session, and an unknown case, by address.
  for (const [what, path] of [
    ["another organisation's case", `/cases/${other.caseId}`],
    ["an unknown case", `/cases/${randomUUID()}`],
  ]) {
    await page.goto(`${base}${path}`);
    await visited(page, `client-not-found (${what})`, "Case not found", { shot: false });
    const words = await page.getByRole("alert").textContent();
    expect(words.startsWith("Not found."), `the API's NOT_FOUND words for ${what}, not "${words}"`);
    expect(!(await page.getByText("Not yours").count()), `nothing of ${what} shown`);
  }
  await shoot(page, "client-case-not-found");
  // The session page says it in its own words ("There is no such session…").
  await page.goto(`${base}/sessions/${other.sessionId}`);
  try {
    await page.getByRole("alert").filter({ hasText: /not found|no such session/i }).first().waitFor({ timeout: STEP_MS });
    expect((await page.getByRole("button", { name: "Join the session" }).count()) === 0, "no way into another organisation's session");
    expect((await page.getByText("Not yours").count()) === 0, "nothing of another organisation's session shown");
  } catch (e) {
    fail(`another organisation's session: not told it is not found (${e.message.split("\n")[0]})`);
  }
  await axe(page, "client-session-not-found");
  await shoot(page, "client-session-not-found");

  // The device check, from the start page.
  await page.goto(base);
  await settled(page, "Your cases and sessions");
  await page.getByRole("button", { name: "Test camera and microphone" }).click();
  await page.getByText("Camera and microphone are working.").waitFor({ timeout: STEP_MS });
  const cameras = await page.getByLabel("Camera", { exact: true }).locator("option").allTextContents();
  const microphones = await page.getByLabel("Microphone", { exact: true }).locator("option").allTextContents();
  expect(cameras.length > 0 && cameras.every((l) => l && l !== "—"), `cameras listed with names: ${cameras}`);
  expect(microphones.length > 0 && microphones.every((l) => l && l !== "—"), `microphones listed with names: ${microphones}`);
  await until(
    "the camera preview to play",
    () => page.getByLabel("Your camera's picture").evaluate((v) => v.videoWidth > 0 && !v.paused && v.muted),
    STEP_MS,
  );
  // Chromium's fake microphone beeps: the meter moves.
  await until("the microphone level to move", () => page.getByRole("meter", { name: "Microphone level" }).evaluate((m) => m.value > 0), STEP_MS);
  const speakerChoice = await page.evaluate(() => "setSinkId" in HTMLMediaElement.prototype);
  if (speakerChoice) {
    const speakers = await page.getByLabel("Speaker", { exact: true }).locator("option").count();
    expect(speakers > 0, "speakers to choose from");
  }
  await page.getByRole("button", { name: "Test speaker" }).click();
  await until("the test sound to end", async () => (await page.getByRole("button", { name: "Test speaker" }).count()) === 1, STEP_MS);
  expect((await page.getByText("The sound could not be played").count()) === 0, "the test sound to play");
  await axe(page, "client-device-check");
  await page.getByRole("heading", { name: "Check your camera and microphone" }).scrollIntoViewIfNeeded();
  await shoot(page, "client-device-check");
  await page.getByRole("button", { name: "Finish the test" }).click();

  // The session page's check before joining (the session about to start).
  await page.goto(`${base}/sessions/${soonSessionId}`);
  const joinButton = page.getByRole("button", { name: "Join the session" });
  await joinButton.waitFor({ timeout: STEP_MS });
  await until("the Join button once camera and microphone work", () => joinButton.isEnabled(), STEP_MS);
  await axe(page, "client-session-prejoin");
  await shoot(page, "client-session-prejoin");
  await context.close();
}

/**
 * The device check where the browser refuses the camera and microphone (no
 * fake consent; prompts denied): it says so for both, in words, and offers
 * to try again. Signed in as the demo organisation's first party.
 */
async function deniedDevices(base) {
  const args = CHROMIUM_ARGS.filter((a) => a !== "--use-fake-ui-for-media-stream").concat("--deny-permission-prompts");
  const browser = await chromium.launch({ executablePath: CHROMIUM, args });
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    current = page;
    watchProblems(page, "denied devices", { expectedStatus: (s, path) => s === 401 && path === "/auth/session" });
    await page.goto(`${base}/sign-in`);
    await settled(page, "Sign in");
    await page.getByLabel("Email address").fill("party.one@demo.accord.test");
    await page.getByLabel("Password", { exact: true }).fill(DEMO_PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await settled(page, "Your cases and sessions");
    await page.getByRole("button", { name: "Test camera and microphone" }).click();
    await page.getByText(/not allowed to use your camera/).waitFor({ timeout: STEP_MS });
    await page.getByText(/not allowed to use your microphone/).waitFor({ timeout: STEP_MS });
    expect(await page.getByRole("button", { name: "Try again" }).isVisible(), "a Try again button");
    expect((await page.getByText("Camera and microphone are working.").count()) === 0, "no claim that the devices work");
    await axe(page, "client-device-check-denied");
    await page.getByRole("heading", { name: "Check your camera and microphone" }).scrollIntoViewIfNeeded();
    await shoot(page, "client-device-check-denied");
  } finally {
    await browser.close();
  }
}

async function main() {
  // The helpers of this file check themselves against RFC 6238's test vector.
  expect(totpAt(Buffer.from("12345678901234567890"), Math.floor(59 / 30)) === "287082", "the RFC 6238 SHA-1 vector at T=59");
  expect(base32Decode("GEZDGNBVGY3TQOJQ").toString() === "1234567890", "base32 decoding");

  mkdirSync(SCREENS, { recursive: true });
  const server = await startServer();
  log(`server at ${server.base}`);
  let browser;
  let ok = false;
  try {
    const other = await otherOrganisation(server);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const made = await adminSteps(browser, server.base);
    log(`case ${made.caseId} made through the admin portal`);
    await partySteps(browser, server.base, join(server.work, "outbox"), made, other);
    await deniedDevices(server.base);
    ok = failures.length === 0;
  } catch (e) {
    fail(e.stack ?? String(e));
    await current?.screenshot({ path: join(SCREENS, "failure.png"), fullPage: true }).catch(() => undefined);
  } finally {
    await browser?.close().catch(() => undefined);
    await server.stop(!ok || process.env.ACCORD_BROWSER_KEEP === "1");
  }
  if (failures.length) {
    console.error(`\n${failures.length} failure(s):\n${failures.map((f) => `  - ${f}`).join("\n")}`);
    if (!ok) console.error(`server log kept in ${server.logFile}`);
    process.exit(1);
  }
  log(`portals: all steps passed; screenshots in ${SCREENS}`);
}

await main();
