// End-to-end test of availability and the common slot in Debian's Chromium
// (playwright-core):
//
//   1. a party of the demo case, on a phone-sized screen in Berlin, opens
//      "Give your availability" from the case page and adds a window with
//      the keyboard alone (date, times, Enter); the list shows it, and axe
//      finds nothing serious on the page;
//   2. on the case page in the admin portal the mediator gives their own
//      window, sees who has answered and the earliest common time;
//      "Schedule this slot" books the session and the page says so;
//   3. the party's "Add to calendar" downloads the session's calendar entry.
//
//   node tests/browser/availability.mjs
//
// Needs what run.mjs needs: target/debug/accord, the built portals, a
// Postgres cluster (ACCORD_TEST_DATABASE_URL), /usr/bin/chromium and this
// directory's npm packages.

import { AxeBuilder } from "@axe-core/playwright";
import { chromium } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS, log, PASSWORD, PEOPLE, signInHttp, startServer } from "./lib.mjs";

const STEP_MS = 20_000;

/** A weekday about ten days ahead, `YYYY-MM-DD`. */
function aWeekday() {
  const day = new Date(Date.now() + 10 * 86_400_000);
  while (day.getUTCDay() === 0 || day.getUTCDay() === 6) day.setUTCDate(day.getUTCDate() + 1);
  return day.toISOString().slice(0, 10);
}

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

    // 1. The party gives a window, by keyboard, on a phone in Berlin.
    const partyContext = await browser.newContext({ viewport: { width: 375, height: 800 }, timezoneId: "Europe/Berlin", locale: "en-GB", acceptDownloads: true });
    const party = await partyContext.newPage();
    await signIn(party, server.base, `/sign-in?next=${encodeURIComponent(`/cases/${caseId}`)}`, PEOPLE.partyA);
    await party.waitForURL((u) => u.pathname === `/cases/${caseId}`, { timeout: STEP_MS });
    await party.getByRole("link", { name: "Give your availability" }).click();
    await party.getByRole("heading", { level: 1, name: /When are you free/ }).waitFor({ timeout: STEP_MS });
    const day = aWeekday();
    await party.getByLabel("Day").focus();
    await party.getByLabel("Day").fill(day);
    await party.keyboard.press("Tab");
    await party.getByLabel("From").fill("09:00");
    await party.getByLabel("Until").fill("17:00");
    await party.getByLabel("Until").press("Enter");
    await party.getByText("Your availability is saved.").waitFor({ timeout: STEP_MS });
    const items = party.getByRole("list", { name: "Times you are free" }).getByRole("listitem");
    // The saved notice can show before the list's refetch lands.
    await items.first().waitFor({ timeout: STEP_MS });
    if ((await items.count()) !== 1) throw new Error(`expected one window, found ${await items.count()}`);
    if (!(await items.first().textContent()).includes("09:00 to 17:00")) throw new Error("the window is not listed as given");
    const axe = await new AxeBuilder({ page: party }).analyze();
    const bad = axe.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    if (bad.length > 0) throw new Error(`axe: ${bad.map((v) => v.id).join(", ")}`);
    const wide = await party.evaluate(() => document.documentElement.scrollWidth);
    if (wide > 375) throw new Error(`the picker is ${wide} px wide on a 375 px screen`);
    log("the party gave a window");

    // 2. The mediator sees it and books the earliest common time.
    const mediatorContext = await browser.newContext({ viewport: { width: 1100, height: 900 }, timezoneId: "UTC", locale: "en-GB" });
    const mediator = await mediatorContext.newPage();
    await signIn(mediator, server.base, `/admin/sign-in?next=${encodeURIComponent(`/cases/${caseId}`)}`, PEOPLE.mediator);
    await mediator.waitForURL((u) => u.pathname === `/admin/cases/${caseId}`, { timeout: STEP_MS });
    // The mediator gives their own window on the same page, by keyboard.
    await mediator.getByLabel("Day", { exact: true }).fill(day);
    await mediator.getByLabel("From", { exact: true }).fill("09:00");
    await mediator.getByLabel("Until", { exact: true }).fill("12:00");
    await mediator.getByLabel("Until", { exact: true }).press("Enter");
    await mediator.getByText("Your availability is saved.").waitFor({ timeout: STEP_MS });
    const slots = mediator.getByRole("list", { name: "Earliest common times" });
    await slots.waitFor({ timeout: STEP_MS });
    const first = slots.getByRole("listitem").first();
    const firstText = await first.textContent();
    if (!firstText.includes("09:00") || !firstText.includes("Pat Claimant")) throw new Error(`the first common time is not 09:00 UTC with the party's own time: ${firstText}`);
    await first.getByRole("button", { name: /Schedule a session at/ }).click();
    await mediator.getByText("The session is scheduled").waitFor({ timeout: STEP_MS });
    log("the mediator booked the earliest common time");

    // 3. The party downloads a calendar entry from the home page.
    await party.goto(`${server.base}/`);
    const link = party.getByRole("link", { name: /Add to calendar/ }).first();
    await link.waitFor({ timeout: STEP_MS });
    const [download] = await Promise.all([party.waitForEvent("download"), link.click()]);
    const path = await download.path();
    const text = (await import("node:fs")).readFileSync(path, "utf8");
    if (!text.includes("BEGIN:VCALENDAR") || !text.includes("METHOD:REQUEST")) throw new Error("the download is not a calendar entry");
    log("the party downloaded the calendar entry");
    ok = true;
  } finally {
    await browser?.close();
    await server.stop();
  }
  if (!ok) process.exit(1);
  log("availability: ok");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
