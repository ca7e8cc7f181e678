// End-to-end tests of the live session in Debian's Chromium (playwright-core,
// no browser download), through the portals: the mediator's console in the
// admin portal (/admin/sessions/<id>) and the parties' session page in the
// client portal (/sessions/<id>). Starts `accord dev` on a fresh database
// and a free port, signs in three people (the demo mediator and both
// parties) in separate browsers through the portals' sign-in pages, and
// checks that media flows as the rooms say:
//
//   1. everyone joins; the parties wait in the lobby until the mediator admits
//      them; each then decodes the other two's video;
//   2. the mediator opens a caucus and moves party A and themselves into it:
//      party B stops receiving A while A and the mediator keep receiving each
//      other; "recall all" brings back everyone's video in the main room;
//   3. party B's connection drops (the browser goes offline for 1.5 s): the
//      console shows B as reconnecting, and the client reconnects with a
//      fresh token to its room and new media;
//   4. the console keeps the mediator's choice of room across re-renders
//      (a hand raised while choosing), shows hands from a caucus, and the
//      parties are told where they are and whom they wait for;
//   5. party A turns the camera off and on and switches microphone on the same
//      peer connection (replaceTrack), and the mediator decodes the camera again;
//   6. the console and the party's page have no serious or critical axe-core
//      violation and fit a 375 px wide phone; an org admin at the console's
//      address is told admins cannot join and sees who is in the session, with
//      no Join button;
//   7. caucuses close; with none, a move offers a new one; a caucus is timed
//      with a countdown and cleared, and renamed;
//   8. party B leaves: their camera and microphone stop, their page no
//      longer names a room or shows controls, and the console shows them as
//      reconnecting, then left.
//
// Every admission, move, recall and reconnection is timed from the click
// that caused it (the event's own time in the page) to the first frame
// decoded after it (getStats, polled every 40 ms), and held to the bounds in
// BOUNDS: a figure over its bound fails the run, naming the measure.
// Each participant runs in a browser process of their own, as people do on
// their own machines (in one process, the three fake cameras share one
// capture service, which stalls all of them for over a second when a
// third peer connection starts).
//
//   node tests/browser/run.mjs               # the tests, one repetition
//   node tests/browser/run.mjs --timings 10  # ten repetitions, each in a fresh
//                                            # session: min/median/max per measure
//
// Needs target/debug/accord (scripts/test builds it), the built portals
// (cd portals && npm run build: portals/dist/{admin,client}), a Postgres
// cluster (ACCORD_TEST_DATABASE_URL, default
// postgres://postgres@127.0.0.1:5432/postgres), /usr/bin/chromium and this
// directory's npm packages (npm install: playwright-core, @axe-core/playwright).
//
//   node tests/browser/run.mjs
//
// ACCORD_BROWSER_KEEP=1 keeps the server's log; ACCORD_BROWSER_SCREENSHOTS=DIR
// saves each page at the end; ACCORD_BROWSER_MEDIA_IP overrides the
// address the SFU binds and announces (default: the primary IPv4 address);
// ACCORD_BROWSER_PORTAL_DIR serves portals built elsewhere (default
// portals/dist).

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { chromium } from "playwright-core";
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  PEOPLE,
  ROOT,
  clickJoin,
  clickedAt,
  diagnose,
  framesAfter,
  framesFrom,
  log,
  openParticipant,
  roomOf,
  signInHttp,
  signInPage,
  sleep,
  startServer,
  until,
  watch,
} from "./lib.mjs";

/**
 * The bound of each measure, ms: generous for a shared 2-core machine
 * running three browsers and a debug build. Goals (p50) are in
 * docs/PERFORMANCE.md.
 */
export const BOUNDS = {
  "admit → first decoded remote frame": 2000,
  "admit → video from both others": 2500,
  // With end-to-end encryption on (the default), a move and a recall wait
  // for the senders' new keys and a key frame sealed under them: the SFU
  // asks for it as soon as a sender's key id changes (docs/PERFORMANCE.md).
  // Both are held to the same bound: a key frame that comes under a key the
  // receiver lacks costs the 300 ms a browser ignores requests after each
  // key frame, and one paced at a receiver's low estimate a few hundred ms
  // more; tails of 800 ms (and once 1011 ms in a full run) were seen here.
  "move → first caucus frame": 1500,
  "recall all → main-room frames again": 1500,
  // A reconnection starts new media and new keys on both sides; its tail
  // on this machine reached 1146 ms (fresh-clone run, median runs 580–820),
  // so the bound is the product's 2 s promise for joining.
  "reconnect → decoding both ways": 2000,
};

// ---- the tests ---------------------------------------------------------------

const results = [];
/** The open pages, for failure reports. */
const participants = [];
/** Figures by measure (those with a bound) and the others, of every repetition. */
const figures = new Map();
const overBound = [];
let repetition = 0;

function record(measure, ms, who = "") {
  const v = Math.round(ms);
  if (!figures.has(measure)) figures.set(measure, []);
  figures.get(measure).push(v);
  const bound = BOUNDS[measure];
  if (bound !== undefined && !(v < bound)) {
    overBound.push(`${measure}${who ? ` (${who})` : ""}: ${v} ms, bound ${bound} ms (repetition ${repetition})`);
  }
}

/**
 * With ACCORD_BROWSER_TRACE: what `p`'s page did around `at` (from
 * `beforeMs` before it), in ms from `at`: its server messages, its key
 * steps and its worker's key and frame events.
 */
async function logTrace(p, from, at, beforeMs) {
  const { messages, keys, frames } = await p.page.evaluate(async () => {
    const c = window.accord.client;
    return { messages: c.trace, keys: c.e2ee?.stats.events ?? [], frames: (await c.e2eeWorker?.stats())?.events ?? [] };
  });
  const since = (list, f) => list.filter((t) => t.at >= at - beforeMs).map((t) => `${Math.round(t.at - at)}:${f(t)}`);
  log(`trace ${p.name} (ms from ${from}):`);
  log(`  messages: ${since(messages, (t) => `${t.type}${t.from ? `<${t.from.slice(0, 4)}` : ""}`).join(" ")}`);
  log(`  keys: ${since(keys, (t) => t.what).join(" | ")}`);
  log(`  frames: ${since(frames, (t) => t.what).join(" | ")}`);
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

/** A fresh session on the demo case, starting in a minute, scheduled by the mediator. */
async function freshSession(mediator) {
  const { sessions } = await mediator.graphql("{ sessions { id caseId } }");
  if (sessions.length < 1) throw new Error("the demo has no session");
  const { scheduleSession } = await mediator.graphql(
    "mutation($input: ScheduleSessionInput!) { scheduleSession(input: $input) { id } }",
    { input: { caseId: sessions[0].caseId, startsAt: new Date(Date.now() + 60_000).toISOString(), timeZone: "UTC", durationMinutes: 60 } },
  );
  return scheduleSession.id;
}

/** One repetition: three people in three browsers through admission, a caucus, recall and a reconnection. */
async function scenario(server, sessionId, browsers) {
  const launch = async () => {
    const b = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    browsers.push(b);
    return b;
  };
  const m = await openParticipant(await launch(), server.base, sessionId, "mediator", PEOPLE.mediator);
  const a = await openParticipant(await launch(), server.base, sessionId, "party A", PEOPLE.partyA);
  const b = await openParticipant(await launch(), server.base, sessionId, "party B", PEOPLE.partyB);
  const everyone = [m, a, b];
  participants.splice(0, participants.length, ...everyone);

  await test("three people join; the mediator admits the parties; everyone decodes the other two's video", async () => {
    await clickJoin(m);
    await clickJoin(a);
    await clickJoin(b);
    for (const p of [a, b]) {
      const room = await roomOf(p);
      if (room.kind !== "lobby") throw new Error(`${p.name} should wait in the lobby, is in ${JSON.stringify(room)}`);
      await p.page.getByText("You are in the lobby").waitFor({ state: "visible" });
    }
    // The mediator sees both knock and admits them with the page's buttons;
    // neither party has signed the case's agreement to mediate, and the
    // lobby says so.
    for (const p of [a, b]) {
      const admit = m.page.locator(`#lobby li[data-participant="${p.id}"] button[data-action="admit"]`);
      await admit.waitFor({ state: "visible", timeout: 10_000 });
      await m.page.locator(`#lobby li[data-participant="${p.id}"]`).getByText("agreement to mediate not signed").waitFor({ timeout: 10_000 });
    }
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
    // Each timed from the admission that let them see each other: a party's
    // own, or the later of the two for a pair of parties.
    const admitted = new Map([[m, -Infinity]]);
    for (const p of [a, b]) admitted.set(p, await clickedAt(m, "admit", p.id));
    for (const p of everyone) {
      const w = await watch(p);
      const others = everyone.filter((o) => o !== p);
      const since = (o) => Math.max(admitted.get(p), admitted.get(o));
      const first = Math.min(...others.map((o) => w.first[o.id] - since(o)));
      const all = Math.max(...others.map((o) => w.first[o.id] - since(o)));
      record("join click → in the session (state)", p.joinedAt - p.joinClickedAt, p.name);
      record("admit → first decoded remote frame", first, p.name);
      record("admit → video from both others", all, p.name);
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
    // A second caucus of that name is refused, and the mediator is told why.
    await m.page.getByLabel("New caucus name").fill("  party a CAUCUS ");
    await m.page.getByRole("button", { name: "Create caucus" }).click();
    await m.page.locator("#notices li", { hasText: "already a caucus of that name" }).waitFor({ state: "visible", timeout: 10_000 });
    const caucuses = await m.page.evaluate(() => window.accord.client.rooms.filter((r) => r.id.kind === "caucus").length);
    if (caucuses !== 1) throw new Error(`${caucuses} caucus rooms after a refused duplicate name, expected 1`);
    const key = `caucus:${caucus.id.id}`;
    const moveTo = async (p) => {
      const li = m.page.locator(`#rooms li[data-participant="${p.id}"]`);
      await li.locator("select").selectOption(key);
      await li.locator('button[data-action="move"]').click();
      return clickedAt(m, "move", p.id);
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
    const movedAAt = await moveTo(a);
    await inCaucus(a);
    await quiet(a, "party A, alone in the caucus, to stop decoding video");
    record("party A's move: click → in the caucus, video from the main room stopped", Date.now() - movedAAt);
    // Then the mediator joins A there: the first frames between them are the caucus's.
    const movedAt = await moveTo(m);
    await inCaucus(m);
    const aSeesM = await framesAfter(a, [m], "party A to decode the mediator in the caucus", movedAt);
    const mSeesA = await framesAfter(m, [a], "the mediator to decode party A in the caucus", movedAt);
    if (process.env.ACCORD_BROWSER_TRACE) {
      for (const p of [a, m]) await logTrace(p, `the click (A is ${a.id.slice(0, 4)}, the mediator ${m.id.slice(0, 4)})`, movedAt, 200);
      log(`move at ${new Date(movedAt).toISOString()}; A sees the mediator +${Math.round(aSeesM - movedAt)}, the mediator sees A +${Math.round(mSeesA - movedAt)}`);
    }
    record("move → first caucus frame", aSeesM - movedAt, "A sees the mediator");
    record("move → first caucus frame", mSeesA - movedAt, "the mediator sees A");

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
    // The screens as they look now (first repetition only; before the recall is timed).
    if (repetition === 1) {
      const screens = join(ROOT, ".data/screens");
      mkdirSync(screens, { recursive: true });
      await m.page.screenshot({ path: join(screens, "session-console-caucus.png"), fullPage: true });
      await a.page.screenshot({ path: join(screens, "session-party-in-caucus.png"), fullPage: true });
      await b.page.screenshot({ path: join(screens, "session-party-waiting.png"), fullPage: true });
    }

    // Recall all: everyone back in the main room, everyone's video again.
    await m.page.getByRole("button", { name: "Recall all to the main room" }).click();
    const recalledAt = await clickedAt(m, "recall");
    for (const p of everyone) {
      await until(`${p.name} back in the main room`, async () => (await roomOf(p))?.kind === "main", 10_000);
    }
    const bSees = await framesAfter(b, [a, m], "party B to decode A and the mediator again", recalledAt);
    const aSeesB = await framesAfter(a, [b], "party A to decode B again", recalledAt);
    const mSeesB = await framesAfter(m, [b], "the mediator to decode B again", recalledAt);
    record("recall all → main-room frames again", bSees - recalledAt, "B decodes A and the mediator");
    record("recall all → main-room frames again", aSeesB - recalledAt, "A decodes B");
    record("recall all → main-room frames again", mSeesB - recalledAt, "the mediator decodes B");
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
    try {
      await b.page.evaluate(() => window.accord.client["ws"].close(3000, "test: connection lost"));
      await until("party B to notice the drop", () => b.page.evaluate(() => window.accord.client.status === "reconnecting"), 10_000, 20);
    } catch (e) {
      // Back online, so that the tests after this one start from a connected party B.
      await b.context.setOffline(false);
      throw e;
    }
    // Meanwhile the console shows B as reconnecting (their place is kept,
    // marked not connected in the session's state).
    const shownReconnecting = m.page
      .locator(`#rooms li[data-participant="${b.id}"] [data-presence="reconnecting"]`)
      .waitFor({ state: "visible", timeout: 15_000 })
      .then(
        () => true,
        () => false,
      );
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
    if (process.env.ACCORD_BROWSER_TRACE) {
      for (const p of everyone) await logTrace(p, `B back (B is ${b.id.slice(0, 4)})`, backAt, 2500);
      log(`B back at ${new Date(backAt).toISOString()}; B decodes others +${bSees - backAt}, others decode B +${othersSeeB - backAt}`);
    }
    record("reconnect: drop → back in the room (offline 1.5 s)", backAt - droppedAt);
    record("reconnect → decoding both ways", Math.max(bSees, othersSeeB) - backAt);
    record("reconnect: back → B decodes both others", bSees - backAt);
    record("reconnect: back → both others decode B", othersSeeB - backAt);
    if (!(await shownReconnecting)) throw new Error("the console did not show party B as reconnecting after B's connection dropped");
    await m.page
      .locator(`#rooms li[data-participant="${b.id}"] [data-presence="reconnecting"]`)
      .waitFor({ state: "detached", timeout: 10_000 })
      .catch(() => {
        throw new Error("the console still shows party B as reconnecting after B came back");
      });
  });

  await test("the server refuses party B's SDP answer: the client starts its media afresh and everyone decodes it again", async () => {
    if (!b.id) throw new Error("the first test did not get everyone in");
    const before = await b.page.evaluate(() => (window.__refusedPc = window.accord.client.peerConnection) !== undefined);
    if (!before) throw new Error("party B has no peer connection");
    // An answer with no offer waiting, over B's own socket: the real server
    // refuses it (INVALID, refused: answer), and the client cannot make a
    // better answer than its browser did, so it starts its media again.
    const sentAt = Date.now();
    await b.page.evaluate(() => window.accord.client["ws"].send(JSON.stringify({ type: "answer", sdp: "v=0\r\n" })));
    await until(
      "party B's client to start a new peer connection",
      () => b.page.evaluate(() => window.accord.client.peerConnection !== undefined && window.accord.client.peerConnection !== window.__refusedPc),
      10_000,
      20,
    );
    // Frames counted from here are the new peer connection's.
    const restartedAt = Date.now();
    await b.page.locator("#notices li", { hasText: "refused this browser's media answer" }).waitFor({ state: "visible", timeout: 10_000 });
    const bSees = await framesAfter(b, [a, m], "party B to decode A and the mediator on its new peer connection", restartedAt);
    const othersSeeB = Math.max(
      await framesAfter(a, [b], "party A to decode B's new media", restartedAt),
      await framesAfter(m, [b], "the mediator to decode B's new media", restartedAt),
    );
    record("refused answer → decoding both ways again", Math.max(bSees, othersSeeB) - sentAt);
  });

  await test("the console keeps the mediator's choice of room across re-renders; hands show from a caucus; parties are told where they are and whom they wait for; a move, a broadcast and recall all by keyboard alone", async () => {
    if (!a.id || !b.id) throw new Error("the first test did not get everyone in");
    const rooms = () => m.page.evaluate(() => window.accord.client.rooms.filter((r) => r.id.kind === "caucus"));
    const first = (await rooms()).find((r) => r.name === "Party A caucus");
    if (!first) throw new Error("the caucus of the second test is gone");
    await m.page.getByLabel("New caucus name").fill("Second caucus");
    await m.page.getByRole("button", { name: "Create caucus" }).click();
    const second = await until("the second caucus to exist", async () => (await rooms()).find((r) => r.name === "Second caucus"), 10_000);
    // The mediator visits the first caucus.
    await m.page.getByRole("button", { name: "Go to Party A caucus" }).click();
    await until("the mediator to be in the first caucus", async () => (await roomOf(m))?.id === first.id.id, 10_000);
    // Party B, in the main room without the mediator, is told whom they wait for.
    await b.page.getByText("is meeting with someone privately").waitFor({ state: "visible", timeout: 10_000 });
    // The mediator chooses the second caucus (of two) for party A; party B raises a hand meanwhile.
    const key = `caucus:${second.id.id}`;
    const row = m.page.locator(`#rooms li[data-participant="${a.id}"]`);
    await row.locator("select").selectOption(key);
    await b.page.getByRole("button", { name: "Raise hand" }).click();
    // The console, in a caucus, shows B's hand in the queue and a notice.
    await m.page.locator(`#hands li[data-participant="${b.id}"]`).waitFor({ state: "visible", timeout: 10_000 });
    await m.page.locator("#notices li", { hasText: "raised a hand" }).waitFor({ state: "visible", timeout: 10_000 });
    const kept = await row.locator("select").inputValue();
    if (kept !== key) throw new Error(`the console's move choice became ${kept} after a re-render, expected ${key}`);
    await row.locator('button[data-action="move"]').click();
    await until("party A to land in the second caucus", async () => (await roomOf(a))?.id === second.id.id, 10_000);
    // Party A, alone there, is told so and whom they wait for.
    await a.page.getByText("You are alone in Second caucus").waitFor({ state: "visible", timeout: 10_000 });
    await b.page.getByRole("button", { name: "Lower hand" }).click();
    await m.page.locator(`#hands li[data-participant="${b.id}"]`).waitFor({ state: "detached", timeout: 10_000 });
    // By keyboard alone: party B into the second caucus (type-ahead in the
    // chooser, Tab to Move, Enter), a broadcast to every room, recall all.
    const bRow = m.page.locator(`#rooms li[data-participant="${b.id}"]`);
    await bRow.locator("select").focus();
    await m.page.keyboard.type("Second");
    const chosen = await bRow.locator("select").inputValue();
    if (chosen !== key) throw new Error(`typing "Second" in party B's chooser chose ${chosen}, expected ${key}`);
    await m.page.keyboard.press("Tab");
    const focused = await m.page.evaluate(() => document.activeElement?.getAttribute("data-action"));
    if (focused !== "move") throw new Error(`Tab from the chooser focused ${focused}, not Move`);
    await m.page.keyboard.press("Enter");
    await until("party B to land in the second caucus (keyboard)", async () => (await roomOf(b))?.id === second.id.id, 10_000);
    await m.page.getByLabel("Message to every room").focus();
    await m.page.keyboard.type("Ten minutes, then we meet together");
    await m.page.keyboard.press("Tab");
    await m.page.keyboard.press("Enter");
    for (const p of [a, b]) {
      await p.page.locator("#notices li", { hasText: "From the mediator: Ten minutes, then we meet together" }).waitFor({ state: "visible", timeout: 10_000 });
    }
    await m.page.getByRole("button", { name: "Recall all to the main room" }).focus();
    await m.page.keyboard.press("Enter");
    for (const p of everyone) {
      await until(`${p.name} back in the main room`, async () => (await roomOf(p))?.kind === "main", 10_000);
    }
    await a.page.getByText("You are alone in").waitFor({ state: "detached", timeout: 10_000 });
  });

  await test("party A turns the camera off and on and switches microphone without rejoining: the same peer connection, the mediator decodes the camera again", async () => {
    if (!a.id) throw new Error("the first test did not get everyone in");
    await a.page.evaluate(() => {
      window.__pcBefore = window.accord.client.peerConnection;
      window.__camBefore = window.accord.client.localStream.getVideoTracks()[0];
      window.__micBefore = window.accord.client.localStream.getAudioTracks()[0];
    });
    await a.page.getByRole("button", { name: "Turn camera off" }).click();
    await until("party A's camera to stop", () => a.page.evaluate(() => window.__camBefore.readyState === "ended" && window.accord.client.localStream.getVideoTracks().length === 0), 10_000);
    await a.page.getByRole("button", { name: "Turn camera on" }).click();
    const onAt = Date.now();
    await until(
      "party A's camera to be sent again",
      () =>
        a.page.evaluate(() => {
          const t = window.accord.client.localStream.getVideoTracks()[0];
          return !!t && t !== window.__camBefore && t.readyState === "live" && window.accord.client.peerConnection.getSenders().some((s) => s.track === t);
        }),
      10_000,
    );
    await framesAfter(m, [a], "the mediator to decode party A's camera again", onAt);
    const mics = a.page.getByLabel("Microphone", { exact: true });
    const options = await mics.locator("option").evaluateAll((os) => os.map((o) => o.value));
    const current = await mics.inputValue();
    const other = options.find((v) => v !== current);
    if (other) {
      await mics.selectOption(other);
      await until(
        "party A's new microphone to be sent",
        () =>
          a.page.evaluate(() => {
            const t = window.accord.client.localStream.getAudioTracks()[0];
            return !!t && t !== window.__micBefore && window.__micBefore.readyState === "ended" && window.accord.client.peerConnection.getSenders().some((s) => s.track === t);
          }),
        10_000,
      );
    }
    if (!(await a.page.evaluate(() => window.accord.client.peerConnection === window.__pcBefore))) throw new Error("party A's device changes made a new peer connection");
  });

  await test("the console and the party's page have no serious or critical accessibility violation and fit a phone; an org admin cannot join but sees who is in the session", async () => {
    for (const p of [m, a]) {
      const { violations } = await new AxeBuilder({ page: p.page }).analyze();
      const bad = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
      if (bad.length) {
        throw new Error(`${p.name}'s page: ${bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`).join("; ")}`);
      }
    }
    // On a 375 px wide phone nothing runs off the side of either page.
    for (const p of [m, a]) {
      await p.page.setViewportSize({ width: 375, height: 740 });
      await sleep(300);
      const wide = await p.page.evaluate(() => document.documentElement.scrollWidth);
      await p.page.setViewportSize({ width: 1000, height: 800 });
      if (wide > 376) throw new Error(`${p.name}'s page is ${wide} px wide in a 375 px window`);
    }
    const context = await browsers[0].newContext({ viewport: { width: 1000, height: 800 } });
    try {
      const page = await context.newPage();
      await signInPage(page, server.base, sessionId, PEOPLE.admin);
      await page.getByRole("heading", { name: "Org admins cannot join sessions" }).waitFor({ state: "visible", timeout: 10_000 });
      await page.locator("#live-people", { hasText: "Pat Claimant" }).waitFor({ state: "visible", timeout: 10_000 });
      if (await page.getByRole("button", { name: "Join the session" }).count()) throw new Error("the org admin is offered a Join button");
    } finally {
      await context.close();
    }
  });

  await test("caucuses: closed, a move with none offers a new one, timed with a countdown, renamed", async () => {
    if (!a.id) throw new Error("the first test did not get everyone in");
    const caucuses = () => m.page.evaluate(() => window.accord.client.rooms.filter((r) => r.id.kind === "caucus"));
    // The console's own state first: nobody left in a caucus (closing one
    // with people in it asks for confirmation).
    await until("the console to show nobody in a caucus", () => m.page.evaluate(() => window.accord.client.participants.every((p) => p.room.kind !== "caucus")), 10_000);
    for (const r of await caucuses()) await m.page.getByRole("button", { name: `Close ${r.name}` }).click();
    await until("every caucus to be closed", async () => (await caucuses()).length === 0, 10_000);
    // With no caucus, the chooser offers a new one (never an empty choice), and Move makes it.
    const row = m.page.locator(`#rooms li[data-participant="${a.id}"]`);
    const offered = await row.locator("select option").allTextContents();
    if (offered.join("|") !== "A new caucus") throw new Error(`with no caucus the chooser offers ${JSON.stringify(offered)}`);
    await row.locator('button[data-action="move"]').click();
    const made = await until(
      "party A to be moved into a new caucus",
      async () => {
        const room = await roomOf(a);
        return room?.kind === "caucus" ? (await caucuses()).find((r) => r.id.id === room.id) : null;
      },
      10_000,
    );
    if (made.name !== "Caucus with Pat Claimant") throw new Error(`the new caucus is called ${made.name}`);
    // A countdown, then cleared.
    await m.page.getByLabel(`Minutes for ${made.name}`).fill("5");
    await m.page.getByRole("button", { name: `Set a timer for ${made.name}` }).click();
    const room = m.page.locator(`#rooms section[data-room="caucus:${made.id.id}"]`);
    await room.locator(".live-timer", { hasText: /^4:5\d left$|^5:00 left$/ }).waitFor({ state: "visible", timeout: 5_000 });
    // The party in the caucus sees the same countdown (the server says how long is left).
    await a.page.locator("#where .live-timer", { hasText: /Time left in this room: (4:5\d|5:00)$/ }).waitFor({ state: "visible", timeout: 5_000 });
    await m.page.getByRole("button", { name: `Clear the timer of ${made.name}` }).click();
    await room.locator(".live-timer").waitFor({ state: "detached", timeout: 5_000 });
    await a.page.locator("#where .live-timer").waitFor({ state: "detached", timeout: 5_000 });
    // Renamed in place: the same caucus, party A still in it, under the new name.
    await m.page.getByRole("button", { name: `Rename ${made.name}` }).click();
    await m.page.getByLabel(`New name for ${made.name}`).fill("Pat's room");
    await m.page.getByRole("button", { name: "Save name" }).click();
    await until(
      "party A to be in the renamed caucus",
      async () => {
        const now = await caucuses();
        const r = await roomOf(a);
        return now.length === 1 && now[0].name === "Pat's room" && now[0].id.id === made.id.id && r?.kind === "caucus" && r.id === made.id.id;
      },
      10_000,
    );
    await a.page.getByText("You are alone in Pat's room").waitFor({ state: "visible", timeout: 10_000 });
    await m.page.getByRole("button", { name: "Recall all to the main room" }).click();
    await until("party A back in the main room", async () => (await roomOf(a))?.kind === "main", 10_000);
  });

  await test("party B leaves: camera and microphone stop, no room or controls remain; the console shows B reconnecting, then left", async () => {
    if (!b.id) throw new Error("the first test did not get everyone in");
    const tracks = await b.page.evaluate(() => (window.__localTracks = window.accord.client.localStream.getTracks()).length);
    if (tracks < 2) throw new Error(`party B publishes ${tracks} local tracks, expected the camera and the microphone`);
    await b.page.getByRole("button", { name: "Leave" }).click();
    await b.page.getByText("You left the session").waitFor({ state: "visible", timeout: 10_000 });
    const running = await b.page.evaluate(() => window.__localTracks.filter((t) => t.readyState !== "ended").map((t) => t.kind));
    if (running.length) throw new Error(`after Leave, party B's ${running.join(" and ")} still run`);
    if (await b.page.locator("#where").count()) throw new Error("after Leave, party B's page still says which room they are in");
    if (await b.page.getByText("You are in", { exact: false }).count()) throw new Error("after Leave, party B's page still says where they are");
    for (const name of ["Leave", "Raise hand", "Turn microphone off", "Turn camera off", "Share screen", "Send"]) {
      if (await b.page.getByRole("button", { name }).count()) throw new Error(`after Leave, party B's page still has the "${name}" control`);
    }
    const where = `#rooms li[data-participant="${b.id}"]`;
    await m.page.locator(`${where} [data-presence="reconnecting"]`).waitFor({ state: "visible", timeout: 5_000 });
    await m.page.locator(`${where} [data-presence="left"]`).waitFor({ state: "visible", timeout: 20_000 });
    await m.page.locator("#notices li", { hasText: "left the session" }).waitFor({ state: "visible", timeout: 5_000 });
  });

  if (process.env.ACCORD_BROWSER_SCREENSHOTS) {
    for (const p of everyone) await p.page.screenshot({ path: join(process.env.ACCORD_BROWSER_SCREENSHOTS, `${p.name.replace(/ /g, "-")}.png`), fullPage: true });
  }
  for (const p of everyone) {
    if (p.problems.length) log(`${p.name}'s page reported:\n  ${p.problems.join("\n  ")}`);
    if (results.some((r) => !r.ok)) log(`${p.name} (${p.id}) now:\n${JSON.stringify(await diagnose(p), null, 1)}`);
  }
}

function median(values) {
  const v = [...values].sort((x, y) => x - y);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : Math.round((v[mid - 1] + v[mid]) / 2);
}

function printTimings(repetitions) {
  if (!figures.size) return;
  const width = Math.max(...[...figures.keys()].map((k) => k.length));
  console.log(`\nBrowser timings (ms; ${repetitions} repetition${repetitions > 1 ? "s" : ""}, every figure of each; frames polled every 40 ms):`);
  console.log(`  ${"measure".padEnd(width)}  ${"n".padStart(3)}  ${"min".padStart(6)}  ${"median".padStart(6)}  ${"max".padStart(6)}  ${"bound".padStart(6)}`);
  for (const [name, v] of figures) {
    const bound = BOUNDS[name] ?? "";
    console.log(`  ${name.padEnd(width)}  ${String(v.length).padStart(3)}  ${String(Math.min(...v)).padStart(6)}  ${String(median(v)).padStart(6)}  ${String(Math.max(...v)).padStart(6)}  ${String(bound).padStart(6)}`);
  }
  console.log("");
}

async function main() {
  const at = process.argv.indexOf("--timings");
  const repetitions = at >= 0 ? Number(process.argv[at + 1]) : 1;
  if (!Number.isInteger(repetitions) || repetitions < 1) throw new Error("--timings takes a number of repetitions, e.g. --timings 10");
  log(`starting accord dev (${process.env.ACCORD_BIN ?? "target/debug/accord"})`);
  const server = await startServer();
  log(`server at ${server.base}, media on udp ${server.mediaIp}:${server.udpPort}, database ${server.database}`);
  const keep = process.env.ACCORD_BROWSER_KEEP === "1";
  let failed = false;
  try {
    const mediator = await signInHttp(server.base, PEOPLE.mediator);
    for (repetition = 1; repetition <= repetitions; repetition++) {
      const browsers = [];
      try {
        const sessionId = await freshSession(mediator);
        log(`repetition ${repetition} of ${repetitions}: session ${sessionId}`);
        await scenario(server, sessionId, browsers);
      } finally {
        await Promise.all(browsers.map((b) => b.close().catch(() => {})));
      }
      if (results.some((r) => !r.ok)) break;
    }
  } catch (e) {
    failed = true;
    log(`setup failed: ${e.stack ?? e}`);
  } finally {
    failed = failed || results.some((r) => !r.ok) || results.length === 0 || overBound.length > 0;
    if (failed) log(`server output (last lines):\n${server.output().split("\n").slice(-60).join("\n")}`);
    await server.stop(keep || failed);
    if (keep || failed) log(`server log kept in ${server.logFile}`);
  }

  printTimings(repetitions);
  for (const o of overBound) log(`OVER BOUND ${o}`);
  const passed = results.filter((r) => r.ok).length;
  log(`${passed} of ${results.length} browser tests passed${overBound.length ? `; ${overBound.length} timing(s) over their bound` : ""}`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
