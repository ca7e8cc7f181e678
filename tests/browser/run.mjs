// End-to-end tests of the session page in Debian's Chromium (playwright-core,
// no browser download). Starts `accord dev` on a fresh database and a free
// port, signs in three people (the demo mediator and both parties) in
// separate browser contexts, and checks that media flows as the rooms say:
//
//   1. everyone joins; the parties wait in the lobby until the mediator admits
//      them; each then decodes the other two's video;
//   2. the mediator opens a caucus and moves party A and themselves into it:
//      party B stops receiving A while A and the mediator keep receiving each
//      other; "recall all" brings back everyone's video in the main room;
//   3. party B's connection drops (the browser goes offline for 1.5 s): the
//      client reconnects with a fresh token to its room and new media.
//
// Prints the timings as a table. Needs target/debug/accord (scripts/test
// builds it), the built page (npm --prefix portals/shared run build), a
// Postgres cluster (ACCORD_TEST_DATABASE_URL, default
// postgres://postgres@127.0.0.1:5432/postgres) and /usr/bin/chromium.
//
//   node tests/browser/run.mjs
//
// ACCORD_BROWSER_KEEP=1 keeps the server's log; ACCORD_BROWSER_SCREENSHOTS=DIR
// saves each page at the end; ACCORD_BROWSER_MEDIA_IP overrides the
// address the SFU binds and announces (default: the primary IPv4 address).

import { join } from "node:path";
import { chromium } from "playwright-core";
import {
  ACCORD,
  CHROMIUM,
  CHROMIUM_ARGS,
  PEOPLE,
  clickJoin,
  diagnose,
  framesAfter,
  framesFrom,
  log,
  openParticipant,
  roomOf,
  signInHttp,
  sleep,
  startServer,
  until,
  watch,
} from "./lib.mjs";

// ---- the tests ---------------------------------------------------------------

const results = [];
/** The open pages, for failure reports. */
const participants = [];
const timings = [];
function record(name, ms, note = "") {
  timings.push({ name, ms: Math.round(ms), note });
}

async function test(name, fn) {
  const t = Date.now();
  try {
    await fn();
    results.push({ name, ok: true, ms: Date.now() - t });
    log(`ok   ${name} (${Date.now() - t} ms)`);
  } catch (e) {
    results.push({ name, ok: false, ms: Date.now() - t, error: e });
    log(`FAIL ${name}: ${e.stack ?? e}`);
    for (const p of participants) log(`${p.name} (${p.id}) at the failure:\n${JSON.stringify(await diagnose(p))}`);
  }
}

async function main() {
  log(`starting accord dev (${ACCORD})`);
  const server = await startServer();
  log(`server at ${server.base}, media on udp ${server.mediaIp}:${server.udpPort}, database ${server.database}`);
  let browser;
  const keep = process.env.ACCORD_BROWSER_KEEP === "1";
  let failed = false;
  try {
    const mediator = await signInHttp(server.base, PEOPLE.mediator);
    const { sessions } = await mediator.graphql("{ sessions { id } }");
    if (sessions.length !== 1) throw new Error(`expected one demo session, found ${sessions.length}`);
    const sessionId = sessions[0].id;
    log(`session ${sessionId}`);

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const m = await openParticipant(browser, server.base, sessionId, "mediator", PEOPLE.mediator);
    const a = await openParticipant(browser, server.base, sessionId, "party A", PEOPLE.partyA);
    const b = await openParticipant(browser, server.base, sessionId, "party B", PEOPLE.partyB);
    const everyone = [m, a, b];
    participants.push(...everyone);

    await test("three people join; the mediator admits the parties; everyone decodes the other two's video", async () => {
      await clickJoin(m);
      await clickJoin(a);
      await clickJoin(b);
      for (const p of [a, b]) {
        const room = await roomOf(p);
        if (room.kind !== "lobby") throw new Error(`${p.name} should wait in the lobby, is in ${JSON.stringify(room)}`);
        await p.page.getByText("You are in the lobby").waitFor({ state: "visible" });
      }
      // The mediator sees both knock and admits them with the page's buttons.
      for (const p of [a, b]) {
        const admit = m.page.locator(`#lobby li[data-participant="${p.id}"] button[data-action="admit"]`);
        await admit.waitFor({ state: "visible", timeout: 10_000 });
      }
      const admittedAt = Date.now();
      for (const p of [a, b]) {
        await m.page.locator(`#lobby li[data-participant="${p.id}"] button[data-action="admit"]`).click();
      }
      for (const p of [a, b]) {
        await until(`${p.name} to be in the main room`, async () => (await roomOf(p)).kind === "main", 10_000);
      }
      for (const p of everyone) {
        const others = everyone.filter((o) => o !== p);
        await framesFrom(p, others, `${p.name} to decode video from ${others.map((o) => o.name).join(" and ")}`);
      }
      for (const p of everyone) {
        const w = await watch(p);
        const others = everyone.filter((o) => o !== p);
        const first = Math.min(...others.map((o) => w.first[o.id]));
        const all = Math.max(...others.map((o) => w.first[o.id]));
        record(`${p.name}: join click → in the session (state)`, p.joinedAt - p.joinClickedAt, "token, socket, handshake; polled");
        record(`${p.name}: join click → first remote frame`, first - p.joinClickedAt, p === m ? "includes waiting for the parties" : "includes the wait in the lobby");
        record(`${p.name}: admit → first remote frame`, first - admittedAt);
        record(`${p.name}: admit → video from both others`, all - admittedAt);
      }
      // Each tile shows a playing video.
      for (const p of everyone) {
        const playing = await p.page.evaluate(
          () => [...document.querySelectorAll("#grid video")].filter((v) => v.srcObject && v.videoWidth > 0).length,
        );
        if (playing < 3) throw new Error(`${p.name}'s grid plays ${playing} videos, expected 3 (two remote and the self view)`);
      }
    });

    await test("a caucus with party A: party B stops receiving A; recall all restores everyone's video", async () => {
      if (!a.id || !b.id) throw new Error("the first test did not get everyone in");
      await m.page.getByLabel("New caucus name").fill("Party A caucus");
      await m.page.getByRole("button", { name: "Create caucus" }).click();
      const caucus = await until(
        "the caucus to exist",
        () => m.page.evaluate(() => window.accord.client.rooms.find((r) => r.id.kind === "caucus" && r.name === "Party A caucus")),
        10_000,
      );
      const key = `caucus:${caucus.id.id}`;
      const moveTo = async (p) => {
        const li = m.page.locator(`#rooms li[data-participant="${p.id}"]`);
        await li.locator("select").selectOption(key);
        await li.locator('button[data-action="move"]').click();
      };
      const inCaucus = (p) => until(`${p.name} to be in the caucus`, async () => (await roomOf(p))?.id === caucus.id.id, 10_000);
      const quiet = (p, what) =>
        until(
          what,
          async () => {
            const w = await watch(p);
            return Object.values(w.last).every((t) => t < w.at - 600);
          },
          10_000,
        );

      // Party A first, alone in the caucus: A stops decoding anyone.
      const movedAAt = Date.now();
      await moveTo(a);
      await inCaucus(a);
      await quiet(a, "party A, alone in the caucus, to stop decoding video");
      // Then the mediator joins A there: the first frames between them are the caucus's.
      const movedAt = Date.now();
      await moveTo(m);
      await inCaucus(m);
      const aSeesM = await framesAfter(a, [m], "party A to decode the mediator in the caucus", movedAt);
      const mSeesA = await framesAfter(m, [a], "the mediator to decode party A in the caucus", movedAt);
      record("move → first caucus frame (A sees mediator)", aSeesM - movedAt);
      record("move → first caucus frame (mediator sees A)", mSeesA - movedAt);
      record("party A's move: click → in the caucus, video from the main room stopped", movedAt - movedAAt, "upper bound: polled");

      // Party B, in the main room alone, receives neither; A and the mediator keep receiving each other.
      await sleep(1000);
      const t1 = Date.now();
      await sleep(2000);
      const [wa, wb, wm] = [await watch(a), await watch(b), await watch(m)];
      for (const o of [a, m]) {
        if ((wb.last[o.id] ?? 0) > t1) throw new Error(`party B still decodes ${o.name}'s video after the move`);
      }
      if ((wa.last[b.id] ?? 0) > t1) throw new Error("party A, in the caucus, still decodes party B's video");
      if (!((wa.last[m.id] ?? 0) > t1)) throw new Error("party A stopped decoding the mediator in the caucus");
      if (!((wm.last[a.id] ?? 0) > t1)) throw new Error("the mediator stopped decoding party A in the caucus");
      const bView = await b.page.evaluate(() => window.accord.client.participants.map((p) => p.id));
      if (bView.includes(a.id) || bView.includes(m.id)) throw new Error("party B's state still shows who is in the caucus");
      const bTiles = await b.page.locator("#grid figure").count();
      if (bTiles !== 1) throw new Error(`party B's grid shows ${bTiles} tiles, expected only their own`);

      // Recall all: everyone back in the main room, everyone's video again.
      const recalledAt = Date.now();
      await m.page.getByRole("button", { name: "Recall all to the main room" }).click();
      for (const p of everyone) {
        await until(`${p.name} back in the main room`, async () => (await roomOf(p))?.kind === "main", 10_000);
      }
      const bSees = await framesAfter(b, [a, m], "party B to decode A and the mediator again", recalledAt);
      const aSeesB = await framesAfter(a, [b], "party A to decode B again", recalledAt);
      const mSeesB = await framesAfter(m, [b], "the mediator to decode B again", recalledAt);
      record("recall all → B decodes A and mediator again", bSees - recalledAt);
      record("recall all → A decodes B again", aSeesB - recalledAt);
      record("recall all → mediator decodes B again", mSeesB - recalledAt);
    });

    await test("party B's connection drops; the client reconnects to its room with a fresh token and new media", async () => {
      if (!b.id) throw new Error("the first test did not get everyone in");
      for (const p of everyone) {
        await until(`${p.name} in the main room`, async () => (await roomOf(p))?.kind === "main", 10_000);
      }
      const oldPc = await b.page.evaluate(() => (window.__oldPc = window.accord.client.peerConnection) !== undefined);
      if (!oldPc) throw new Error("party B has no peer connection");
      // Offline fails the token requests until it is back; Chromium's offline
      // emulation leaves open WebSockets alone, so the page's socket is cut too
      // (a close code the server did not choose, as a dropped connection has).
      const droppedAt = Date.now();
      await b.context.setOffline(true);
      await b.page.evaluate(() => window.accord.client["ws"].close(3000, "test: connection lost"));
      await until("party B to notice the drop", () => b.page.evaluate(() => window.accord.client.status === "reconnecting"), 10_000, 20);
      await sleep(1500);
      await b.context.setOffline(false);
      await until("party B to be back", () => b.page.evaluate(() => window.accord.client.status === "joined"), 15_000, 20);
      const backAt = Date.now();
      const room = await roomOf(b);
      if (room?.kind !== "main") throw new Error(`party B came back to ${JSON.stringify(room)}, not the main room`);
      if (await b.page.evaluate(() => window.accord.client.peerConnection === window.__oldPc)) throw new Error("party B reuses the old peer connection");
      const bSees = await framesAfter(b, [a, m], "party B to decode A and the mediator after reconnecting", backAt);
      const othersSeeB = Math.max(
        await framesAfter(a, [b], "party A to decode B after B reconnected", backAt),
        await framesAfter(m, [b], "the mediator to decode B after B reconnected", backAt),
      );
      record("reconnect: drop → back in the room (offline 1.5 s)", backAt - droppedAt, "polled");
      record("reconnect: back → B decodes both others", bSees - backAt);
      record("reconnect: back → both others decode B", othersSeeB - backAt);
    });

    if (process.env.ACCORD_BROWSER_SCREENSHOTS) {
      for (const p of everyone) await p.page.screenshot({ path: join(process.env.ACCORD_BROWSER_SCREENSHOTS, `${p.name.replace(/ /g, "-")}.png`), fullPage: true });
    }
    for (const p of everyone) {
      if (p.problems.length) log(`${p.name}'s page reported:\n  ${p.problems.join("\n  ")}`);
      if (results.some((r) => !r.ok)) log(`${p.name} (${p.id}) now:\n${JSON.stringify(await diagnose(p), null, 1)}`);
    }
  } catch (e) {
    failed = true;
    log(`setup failed: ${e.stack ?? e}`);
  } finally {
    await browser?.close().catch(() => {});
    failed = failed || results.some((r) => !r.ok) || results.length === 0;
    if (failed) log(`server output (last lines):\n${server.output().split("\n").slice(-60).join("\n")}`);
    await server.stop(keep || failed);
    if (keep || failed) log(`server log kept in ${server.logFile}`);
  }

  if (timings.length) {
    const width = Math.max(...timings.map((t) => t.name.length));
    console.log("\nBrowser timings (ms, one run; frames polled every 40 ms):");
    console.log(`  ${"measure".padEnd(width)}  ${"ms".padStart(6)}  note`);
    for (const t of timings) console.log(`  ${t.name.padEnd(width)}  ${String(t.ms).padStart(6)}  ${t.note}`);
    console.log("");
  }
  const passed = results.filter((r) => r.ok).length;
  log(`${passed} of ${results.length} browser tests passed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
