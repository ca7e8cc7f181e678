// End-to-end test of invite links in Debian's Chromium (playwright-core):
//
//   1. an org admin adds a person to the demo case (a GraphQL call: the setup
//      only); the mail queue writes the invitation, with its single-use link,
//      into the file outbox;
//   2. browser A opens the link from that mail: it makes its device key,
//      redeems the link and lands on the case signed in, with no password;
//      the session's pre-join page offers "Join the session", and joining
//      works (the join token is bound to A's key);
//   3. browser B (a 375 px phone) opens the same link: a page says it was
//      already used and to ask the mediator for a new invitation (it fits the
//      phone and axe-core finds no serious or critical violation);
//   4. with A's session cookie copied into B (a stolen cookie), a join token
//      asked for B's own key is refused;
//   5. the org admin's case page shows the person's invitation as redeemed,
//      with a registered device (the invitations panel passes axe-core).
//
//   node tests/browser/invites.mjs
//
// Needs what run.mjs needs: target/debug/accord, the built portals, a
// Postgres cluster (ACCORD_TEST_DATABASE_URL), /usr/bin/chromium and this
// directory's npm packages.

import { AxeBuilder } from "@axe-core/playwright";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS, log, PASSWORD, PEOPLE, signInHttp, startServer, until } from "./lib.mjs";

const INVITEE = "invitee@example.test";
const STEP_MS = 20_000;

/** Fails on any serious or critical axe-core violation (within `selector` when given). */
async function accessible(page, name, selector) {
  let axe = new AxeBuilder({ page });
  if (selector) axe = axe.include(selector);
  const result = await axe.analyze();
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  if (bad.length) throw new Error(`${name}: axe found ${bad.map((v) => `${v.id} (${v.nodes.length})`).join(", ")}`);
}

/** The invite link in the newest outbox mail to `to` that carries one. */
function inviteLinkIn(outbox, to) {
  let files;
  try {
    files = readdirSync(outbox).filter((f) => f.endsWith(".json")).sort();
  } catch {
    return null;
  }
  for (const file of files.reverse()) {
    const mail = JSON.parse(readFileSync(join(outbox, file), "utf8"));
    const link = mail.to === to ? /https?:\/\/\S+\/invite#token=[A-Za-z0-9_-]{43}/.exec(mail.body ?? "") : null;
    if (link) return link[0];
  }
  return null;
}

async function main() {
  const server = await startServer();
  log(`server at ${server.base}`);
  let browser;
  let current = null;
  let ok = false;
  try {
    // 1. The setup: a new person on the demo case, which has a scheduled session.
    const admin = await signInHttp(server.base, PEOPLE.admin);
    const { sessions } = await admin.graphql("{ sessions { id caseId } }");
    const { id: sessionId, caseId } = sessions[0];
    const { addParty } = await admin.graphql(
      "mutation($c: UUID!, $e: String!) { addParty(input: {caseId: $c, kind: PARTY, displayName: \"Ivy Invitee\", email: $e}) { id } }",
      { c: caseId, e: INVITEE },
    );
    log(`added ${addParty.id} to case ${caseId}`);
    const outbox = join(server.work, "outbox");
    let link = null;
    await until("the invitation mail in the outbox", () => (link = inviteLinkIn(outbox, INVITEE)) !== null, STEP_MS);
    const url = new URL(link);
    const invite = `${server.base}${url.pathname}${url.hash}`;
    log("invitation mailed");

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });

    // 2. Browser A: the link signs the person in on this device.
    const a = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    const pageA = await a.newPage();
    current = pageA;
    await pageA.goto(invite);
    await pageA.waitForURL((u) => u.pathname === `/cases/${caseId}`, { timeout: STEP_MS });
    if (pageA.url().includes("token=")) throw new Error("the token stayed in the address bar");
    await pageA.goto(`${server.base}/sessions/${sessionId}`);
    const joinButton = pageA.getByRole("button", { name: "Join the session" });
    await joinButton.waitFor({ state: "visible", timeout: STEP_MS });
    await until("the camera check to enable Join", () => joinButton.isEnabled(), STEP_MS);
    await joinButton.click();
    await pageA.waitForFunction(() => window.accord?.client?.status === "joined", null, { timeout: STEP_MS });
    log("browser A redeemed the link, signed in without a password and joined");

    // 3. Browser B: the same link is spent.
    const b = await browser.newContext({ viewport: { width: 375, height: 800 } });
    const pageB = await b.newPage();
    current = pageB;
    await pageB.goto(invite);
    await pageB.getByRole("heading", { name: "This invitation link cannot be used" }).waitFor({ timeout: STEP_MS });
    await pageB.getByText("The link has already been used.").waitFor({ timeout: STEP_MS });
    await pageB.getByText("Ask your mediator to send you a new invitation.").waitFor({ timeout: STEP_MS });
    const wide = await pageB.evaluate(() => document.documentElement.scrollWidth);
    if (wide > 375) throw new Error(`the spent-link page is ${wide} px wide on a 375 px phone`);
    await accessible(pageB, "the spent-link page");
    log("browser B sees the spent-link page (375 px wide, no serious axe violation)");

    // 4. A's cookie in B: a join token for B's key is refused.
    await b.addCookies(await a.cookies());
    const answer = await pageB.evaluate(async (s) => {
      const session = await (await fetch("/auth/session")).json();
      const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
      const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
      const r = await fetch("/graphql", {
        method: "POST",
        headers: { "content-type": "application/json", "x-csrf-token": session.csrfToken },
        body: JSON.stringify({
          query: "mutation($s: UUID!, $k: JSON!) { joinToken(sessionId: $s, deviceKey: $k) { token } }",
          variables: { s, k: { kty, crv, x, y } },
        }),
      });
      return r.json();
    }, sessionId);
    const code = answer.errors?.[0]?.extensions?.code;
    if (code !== "FORBIDDEN") throw new Error(`a join token for browser B's key: ${JSON.stringify(answer)}`);
    log("a join token for browser B's key is refused");

    // 5. The admin's case page shows the invitation redeemed.
    const c = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    const pageC = await c.newPage();
    current = pageC;
    await pageC.goto(`${server.base}/admin/sign-in?next=${encodeURIComponent(`/cases/${caseId}`)}`);
    await pageC.getByLabel("Email address").fill(PEOPLE.admin);
    await pageC.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await pageC.getByRole("button", { name: "Sign in" }).click();
    const row = pageC.locator("section.invitations tr", { hasText: "Ivy Invitee" });
    await row.getByText("Redeemed", { exact: true }).waitFor({ timeout: STEP_MS });
    await row.getByText("Registered", { exact: true }).waitFor({ timeout: STEP_MS });
    await accessible(pageC, "the case page's invitations", "section.invitations");
    log("the admin sees the invitation redeemed and the device registered");
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
  () => log("invites: all passed"),
  (e) => {
    console.error(e.stack ?? String(e));
    process.exit(1);
  },
);
