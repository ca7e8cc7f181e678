// Shared by the browser tests (run.mjs, lossy.mjs): the accord server on a
// fresh database, Chromium participants driven through the portals' session
// pages (the mediator's console in the admin portal, the party's view in the
// client portal), and the helpers both use. See run.mjs for what the environment must provide.

import { spawn, spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const ACCORD = process.env.ACCORD_BIN ?? join(ROOT, "target/debug/accord");
/** The built portals (admin/ and client/); ACCORD_BROWSER_PORTAL_DIR points elsewhere, e.g. at a private build. */
export const PORTAL = process.env.ACCORD_BROWSER_PORTAL_DIR ?? join(ROOT, "portals/dist");
export const CHROMIUM = process.env.ACCORD_CHROMIUM ?? "/usr/bin/chromium";
export const CLUSTER = process.env.ACCORD_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const PASSWORD = "demo-password-accord";
export const PEOPLE = {
  mediator: "mediator@demo.accord.test",
  partyA: "party.one@demo.accord.test",
  partyB: "party.two@demo.accord.test",
  admin: "admin@demo.accord.test",
};
/** How long a media expectation may take before the test fails. */
export const MEDIA_TIMEOUT_MS = Number(process.env.ACCORD_BROWSER_MEDIA_TIMEOUT_MS ?? 30_000);

export const log = (...a) => console.log("[browser]", ...a);

// ---- helpers ---------------------------------------------------------------

export function freeTcpPort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

export function freeUdpPort(host) {
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
export function primaryIpv4() {
  if (process.env.ACCORD_BROWSER_MEDIA_IP) return process.env.ACCORD_BROWSER_MEDIA_IP;
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family === "IPv4" && !a.internal) return a.address;
    }
  }
  return "127.0.0.1";
}

export function withDatabase(url, database, user) {
  const u = new URL(url);
  u.pathname = `/${database}`;
  if (user) {
    u.username = user;
    u.password = "";
  }
  return u.toString();
}

export function psql(url, sql) {
  const r = spawnSync("psql", ["-w", "-Atqc", sql, url], { encoding: "utf8", env: { ...process.env, PGCONNECT_TIMEOUT: "5" } });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`psql failed: ${r.stderr.trim()}`);
  return r.stdout;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function until(what, test, timeoutMs, everyMs = 100) {
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
export async function signInHttp(base, email) {
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

/**
 * Starts `accord dev` on a fresh database. By default HTTP on 127.0.0.1 and
 * media bound to (and announced at) the primary IPv4 address; `httpHost`
 * moves the HTTP listener (and the public URL), `mediaIp` the media ports'
 * bind address, and `publicIps` sets the addresses announced to clients
 * (`sfu.public_ips`).
 */
export async function startServer(options = {}) {
  if (!existsSync(ACCORD)) throw new Error(`${ACCORD} is missing: cargo build -p accord-server --bin accord`);
  for (const portal of ["admin", "client"]) {
    if (!existsSync(join(PORTAL, portal, "index.html"))) throw new Error(`${join(PORTAL, portal)} is missing: cd portals && npm run build`);
  }
  return startServerWith(options);
}

async function startServerWith({ httpHost = "127.0.0.1", mediaIp = primaryIpv4(), publicIps = null } = {}) {
  const database = `accord_test_browser_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const port = await freeTcpPort();
  const udpPort = await freeUdpPort(mediaIp);
  const tcpMediaPort = await freeTcpPort();
  const work = mkdtempSync(join(tmpdir(), "accord-browser-"));
  const base = `http://${httpHost}:${port}`;
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME ?? work,
    RUST_BACKTRACE: "1",
    ACCORD__DATABASE__ADMIN_URL: withDatabase(CLUSTER, database),
    ACCORD__DATABASE__URL: withDatabase(CLUSTER, database, "accord_app"),
    ACCORD__HTTP__LISTEN: `${httpHost}:${port}`,
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
  if (publicIps) env.ACCORD__SFU__PUBLIC_IPS = JSON.stringify(publicIps);
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

export const CHROMIUM_ARGS = [
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
export const WATCHER = () => {
  const w = window;
  if (w.__watch) return;
  const state = { first: {}, last: {}, increases: {}, frames: {}, at: 0, events: [], clicks: [] };
  // When the person clicked each control (the event's own time, not when
  // the test asked for the click): what the timings count from.
  document.addEventListener(
    "click",
    (e) => {
      const b = e.target instanceof Element ? e.target.closest("button") : null;
      if (!b) return;
      const li = b.closest("[data-participant]");
      state.clicks.push({ t: performance.timeOrigin + e.timeStamp, action: b.dataset.action ?? b.textContent.trim(), participant: li ? li.dataset.participant : null });
    },
    true,
  );
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

/** Where each person signs in: mediators to the admin portal's console, others to the client portal's session page. */
export const signInPath = (email, sessionId) =>
  email === PEOPLE.mediator || email === PEOPLE.admin ? `/admin/sign-in?next=${encodeURIComponent(`/sessions/${sessionId}`)}` : `/sign-in?next=${encodeURIComponent(`/sessions/${sessionId}`)}`;

/** Signs `email` in on a fresh page of `context` and lands on the session's page. */
export async function signInPage(page, base, sessionId, email) {
  await page.goto(`${base}${signInPath(email, sessionId)}`);
  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => u.pathname.endsWith(`/sessions/${sessionId}`), { timeout: 15_000 });
}

export async function openParticipant(browser, base, sessionId, name, email, { init } = {}) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  // A script for every page before its own (e.g. to change what the browser offers).
  if (init) await context.addInitScript(init);
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
  await signInPage(page, base, sessionId, email);
  const join = page.getByRole("button", { name: "Join the session" });
  await join.waitFor({ state: "visible", timeout: 15_000 });
  await until(`${name}'s camera check`, () => join.isEnabled(), 15_000);
  await page.evaluate(WATCHER);
  return { name, email, context, page, problems, id: null };
}

export async function clickJoin(p) {
  const t = Date.now();
  await p.page.getByRole("button", { name: "Join the session" }).click();
  await p.page.waitForFunction(() => window.accord.client && window.accord.client.status === "joined", null, { timeout: 15_000 });
  p.id = await p.page.evaluate(() => window.accord.client.you);
  p.joinedAt = Date.now();
  p.joinClickedAt = t;
  return p;
}

export const watch = (p) => p.page.evaluate(() => window.__watch);

/** When (epoch ms) `p` last clicked a button with this action (and for this participant). */
export async function clickedAt(p, action, participant = null) {
  const { clicks } = await watch(p);
  const c = clicks.filter((c) => c.action === action && (participant === null || c.participant === participant)).at(-1);
  if (!c) throw new Error(`${p.name} has no recorded "${action}" click`);
  return c.t;
}

/** What a page's client knows, for failure reports. */
export const diagnose = (p) =>
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
        // What this browser's camera sends, per simulcast layer (packets,
        // frames encoded, height, limitation) and what its capture delivers:
        // the other side of the story when a receiver sees nothing.
        sending: pc
          ? await pc.getStats().then((report) => {
              const out = [];
              report.forEach((s) => {
                if (s.type === "outbound-rtp" && s.kind === "video")
                  out.push(`${s.rid ?? s.mid}: ${s.packetsSent ?? 0} packets, ${s.framesEncoded ?? 0} frames, ${s.frameHeight ?? 0}p, limited by ${s.qualityLimitationReason ?? "?"}`);
                if (s.type === "media-source" && s.kind === "video") out.push(`capture: ${s.frames ?? "?"} frames`);
              });
              return out;
            })
          : [],
        watch: { first: window.__watch.first, last: window.__watch.last, frames: window.__watch.frames, at: window.__watch.at, error: window.__watch.error },
        events: window.__watch.events,
        notices: [...document.querySelectorAll("#notices li")].map((li) => li.textContent),
      };
    })
    .catch((e) => ({ error: String(e) }));
export const roomOf = (p) => p.page.evaluate(() => window.accord.client.me && window.accord.client.me.room);

/** Waits until `p` has decoded video from each of `others`. */
export async function framesFrom(p, others, what) {
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
export async function framesAfter(p, others, what, since) {
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

