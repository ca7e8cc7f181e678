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

import { spawn, spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const ACCORD = process.env.ACCORD_BIN ?? join(ROOT, "target/debug/accord");
const PORTAL = join(ROOT, "portals/shared/dist");
const CHROMIUM = process.env.ACCORD_CHROMIUM ?? "/usr/bin/chromium";
const CLUSTER = process.env.ACCORD_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const PASSWORD = "demo-password-accord";
const PEOPLE = {
  mediator: "mediator@demo.accord.test",
  partyA: "party.one@demo.accord.test",
  partyB: "party.two@demo.accord.test",
};
/** How long a media expectation may take before the test fails. */
const MEDIA_TIMEOUT_MS = Number(process.env.ACCORD_BROWSER_MEDIA_TIMEOUT_MS ?? 30_000);

const log = (...a) => console.log("[browser]", ...a);

// ---- helpers ---------------------------------------------------------------

function freeTcpPort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

function freeUdpPort(host) {
  return new Promise((res, rej) => {
    const s = createSocket("udp4");
    s.once("error", rej);
    s.bind(0, host, () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/**
 * The machine's primary non-loopback IPv4 address. Chromium gathers host
 * candidates on its non-loopback interfaces only, so the SFU must be
 * reachable (and announce itself) on one of those.
 */
function primaryIpv4() {
  if (process.env.ACCORD_BROWSER_MEDIA_IP) return process.env.ACCORD_BROWSER_MEDIA_IP;
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family === "IPv4" && !a.internal) return a.address;
    }
  }
  return "127.0.0.1";
}

function withDatabase(url, database, user) {
  const u = new URL(url);
  u.pathname = `/${database}`;
  if (user) {
    u.username = user;
    u.password = "";
  }
  return u.toString();
}

function psql(url, sql) {
  const r = spawnSync("psql", ["-w", "-Atqc", sql, url], { encoding: "utf8", env: { ...process.env, PGCONNECT_TIMEOUT: "5" } });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`psql failed: ${r.stderr.trim()}`);
  return r.stdout;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, test, timeoutMs, everyMs = 100) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await test();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A minimal cookie-keeping API client for the setup steps. */
async function signInHttp(base, email) {
  const r = await fetch(`${base}/auth/sign-in`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  if (r.status !== 200) throw new Error(`sign-in of ${email} answered ${r.status}: ${await r.text()}`);
  const cookie = r.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  const { csrfToken, userId } = await r.json();
  const graphql = async (query, variables = {}) => {
    const g = await fetch(`${base}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie, "x-csrf-token": csrfToken },
      body: JSON.stringify({ query, variables }),
    });
    const body = await g.json();
    if (body.errors) throw new Error(`GraphQL: ${JSON.stringify(body.errors)}`);
    return body.data;
  };
  return { userId, graphql };
}

// ---- the server --------------------------------------------------------------

async function startServer() {
  if (!existsSync(ACCORD)) throw new Error(`${ACCORD} is missing: cargo build -p accord-server --bin accord`);
  if (!existsSync(join(PORTAL, "index.html"))) throw new Error(`${PORTAL} is missing: npm --prefix portals/shared run build`);
  return startServerWith();
}

async function startServerWith() {
  const database = `accord_test_browser_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const port = await freeTcpPort();
  const mediaIp = primaryIpv4();
  const udpPort = await freeUdpPort(mediaIp);
  const tcpMediaPort = await freeTcpPort();
  const work = mkdtempSync(join(tmpdir(), "accord-browser-"));
  const base = `http://127.0.0.1:${port}`;
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME ?? work,
    RUST_BACKTRACE: "1",
    ACCORD__DATABASE__ADMIN_URL: withDatabase(CLUSTER, database),
    ACCORD__DATABASE__URL: withDatabase(CLUSTER, database, "accord_app"),
    ACCORD__HTTP__LISTEN: `127.0.0.1:${port}`,
    ACCORD__HTTP__PUBLIC_URL: `${base}/`,
    ACCORD__HTTP__PORTAL_DIR: PORTAL,
    ACCORD__OUTBOX__DIR: join(work, "outbox"),
    ACCORD__RATE_LIMIT__BURST: "1000",
    ACCORD__RATE_LIMIT__REPLENISH_MS: "1",
    ACCORD__LOG__FILTER: process.env.ACCORD_BROWSER_LOG ?? "info",
    ACCORD__LOG__JSON: "false",
  };
  env.ACCORD__SFU__UDP_BIND = `${mediaIp}:${udpPort}`;
  env.ACCORD__SFU__TCP_BIND = `${mediaIp}:${tcpMediaPort}`;
  const logFile = join(work, "server.log");
  let output = "";
  const child = spawn(ACCORD, ["dev"], { cwd: work, env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  let exited = null;
  child.on("exit", (code, signal) => (exited = { code, signal }));
  const server = {
    base,
    database,
    mediaIp,
    udpPort,
    work,
    logFile,
    output: () => output,
    async stop(keepLog) {
      if (!exited) {
        child.kill("SIGTERM");
        await until("the server to stop", () => exited !== null, 10_000, 50).catch(() => child.kill("SIGKILL"));
      }
      writeFileSync(logFile, output);
      try {
        psql(CLUSTER, `drop database if exists "${database}" with (force)`);
      } catch (e) {
        log(`could not drop ${database}: ${e.message}`);
      }
      if (!keepLog) rmSync(work, { recursive: true, force: true });
    },
  };
  try {
    await until(
      "the server to answer /healthz",
      async () => {
        if (exited) throw new Error(`accord dev exited (${JSON.stringify(exited)}):\n${output.slice(-4000)}`);
        try {
          return (await fetch(`${base}/healthz`)).ok;
        } catch {
          return false;
        }
      },
      120_000,
      200,
    );
  } catch (e) {
    await server.stop(true);
    throw e;
  }
  return server;
}

// ---- the browsers --------------------------------------------------------------

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  // Background tabs must keep decoding: three pages share one window system.
  "--disable-background-timer-throttling",
  "--disable-renderer-backgrounding",
  "--disable-backgrounding-occluded-windows",
  "--autoplay-policy=no-user-gesture-required",
];

/**
 * Runs inside each page: samples the peer connection's inbound video (camera)
 * every 40 ms and records, per remote participant, when their video first
 * decoded and the times at which newly decoded frames were seen (an m-line's
 * count is compared with its previous sample while it carries the same
 * participant, so reused m-lines do not count twice).
 */
const WATCHER = () => {
  const w = window;
  if (w.__watch) return;
  const state = { first: {}, last: {}, increases: {}, frames: {}, at: 0, events: [] };
  const prev = {}; // mid -> { participant, frames }
  let watched = null;
  w.__watch = state;
  const note = (type, detail = "") => {
    state.events.push({ t: Math.round(performance.timeOrigin + performance.now()), type, detail });
    if (state.events.length > 300) state.events.shift();
  };
  const tick = async () => {
    const c = w.accord && w.accord.client;
    try {
      if (c && c !== watched) {
        // What the signaling did and when, for failure reports.
        watched = c;
        let room = "";
        c.on("state", (m) => {
          const me = m.participants.find((p) => p.id === m.you);
          const r = me ? JSON.stringify(me.room) : "";
          if (r !== room) note("room", (room = r));
        });
        for (const type of ["offer", "answer", "tracks", "error", "problem", "media", "status", "closed"]) {
          c.on(type, (m) => note(type, type === "tracks" ? m.tracks.map((t) => `${t.mid}:${t.participant.slice(-4)}:${t.source}`).join(" ") : type === "offer" || type === "answer" ? "" : JSON.stringify(m)));
        }
      }
      if (c) {
        const stats = await c.receiveStats();
        const now = performance.timeOrigin + performance.now();
        const frames = {};
        for (const s of stats) {
          if (s.kind !== "video" || s.source !== "camera") continue;
          frames[s.participant] = (frames[s.participant] ?? 0) + s.framesDecoded;
          const before = prev[s.mid];
          const grew = before && before.participant === s.participant ? s.framesDecoded > before.frames : s.framesDecoded > 0 && !before;
          prev[s.mid] = { participant: s.participant, frames: s.framesDecoded };
          if (!grew) continue;
          if (!state.first[s.participant]) state.first[s.participant] = now;
          state.last[s.participant] = now;
          const list = (state.increases[s.participant] ??= []);
          list.push(now);
          if (list.length > 400) list.splice(0, list.length - 400);
        }
        state.frames = frames;
        state.at = now;
      }
    } catch (e) {
      state.error = String(e);
    }
    setTimeout(tick, 40);
  };
  void tick();
};

async function openParticipant(browser, base, sessionId, name, email) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => {
    // Failed requests are reported below, with their address.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console: ${m.text()}`);
  });
  page.on("response", (r) => {
    const path = new URL(r.url()).pathname;
    const expected = (r.status() === 401 && path === "/auth/session") || (r.status() === 404 && path === "/favicon.ico");
    if (r.status() >= 400 && !expected) problems.push(`${r.request().method()} ${path} answered ${r.status()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  await page.goto(`${base}/session/${sessionId}`);
  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  const join = page.getByRole("button", { name: "Join the session" });
  await join.waitFor({ state: "visible", timeout: 15_000 });
  await until(`${name}'s camera check`, () => join.isEnabled(), 15_000);
  await page.evaluate(WATCHER);
  return { name, email, context, page, problems, id: null };
}

async function clickJoin(p) {
  const t = Date.now();
  await p.page.getByRole("button", { name: "Join the session" }).click();
  await p.page.waitForFunction(() => window.accord.client && window.accord.client.status === "joined", null, { timeout: 15_000 });
  p.id = await p.page.evaluate(() => window.accord.client.you);
  p.joinedAt = Date.now();
  p.joinClickedAt = t;
  return p;
}

const watch = (p) => p.page.evaluate(() => window.__watch);

/** What a page's client knows, for failure reports. */
const diagnose = (p) =>
  p.page
    .evaluate(async () => {
      const c = window.accord.client;
      if (!c) return { client: null };
      const pc = c.peerConnection;
      return {
        status: c.status,
        you: c.you,
        room: c.me && c.me.room,
        tracks: [...c.tracks.values()],
        remote: [...c.remote.values()].map((r) => ({ participant: r.participant, sources: r.sources })),
        pc: pc && { connection: pc.connectionState, ice: pc.iceConnectionState, signaling: pc.signalingState },
        transceivers: pc ? pc.getTransceivers().map((t) => ({ mid: t.mid, direction: t.direction, current: t.currentDirection, kind: t.receiver.track.kind, muted: t.receiver.track.muted })) : [],
        stats: await c.receiveStats(),
        watch: { first: window.__watch.first, last: window.__watch.last, frames: window.__watch.frames, at: window.__watch.at, error: window.__watch.error },
        events: window.__watch.events,
        notices: [...document.querySelectorAll("#notices li")].map((li) => li.textContent),
      };
    })
    .catch((e) => ({ error: String(e) }));
const roomOf = (p) => p.page.evaluate(() => window.accord.client.me && window.accord.client.me.room);

/** Waits until `p` has decoded video from each of `others`. */
async function framesFrom(p, others, what) {
  return until(
    what,
    async () => {
      const w = await watch(p);
      return others.every((o) => w.first[o.id]) ? w : null;
    },
    MEDIA_TIMEOUT_MS,
    50,
  );
}

/** When (epoch ms) `p` first decoded new frames from every one of `others` after `since`: the latest of those first moments. */
async function framesAfter(p, others, what, since) {
  let found = null;
  await until(
    what,
    async () => {
      const w = await watch(p);
      const firsts = others.map((o) => (w.increases[o.id] ?? []).find((t) => t > since));
      if (firsts.every((t) => t !== undefined)) found = Math.max(...firsts);
      return found !== null;
    },
    MEDIA_TIMEOUT_MS,
    50,
  );
  return found;
}

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
