// End-to-end encrypted media in Chromium (docs/SECURITY.md, "End-to-end
// encrypted media"): three people join through the portals with E2EE on (the
// default), and
//
//   1. each decodes the other two's video and audio, every frame having gone
//      through the transform worker (frames encrypted and decrypted, none
//      passed in clear); each page says "End-to-end encrypted" and shows, for
//      each other person, the same safety number the other person sees;
//   2. the mediator takes party A into a caucus: A and the mediator decode each
//      other under keys made after the move, party B's current key is not
//      among those A holds, and A holds no key of B's at all;
//   3. a key message replayed to A, or re-signed by another device, or aimed
//      at another room, is refused, and A keeps decoding the mediator.
//
// Prints each client's key events (rotations, keys sent and accepted) with
// the time since the move, and each worker's encryption cost per frame.
//
//   node tests/browser/e2ee.mjs
//
// Needs what run.mjs needs (target/debug/accord, portals/dist, Postgres,
// /usr/bin/chromium, this directory's npm packages).

import { chromium } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS, PEOPLE, clickJoin, framesAfter, framesFrom, log, openParticipant, roomOf, signInHttp, startServer, until, watch } from "./lib.mjs";

const results = [];
async function test(name, fn) {
  const started = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    log(`FAIL ${name}: ${e.stack ?? e}`);
  }
}

async function freshSession(mediator) {
  const { sessions } = await mediator.graphql("{ sessions { id caseId } }");
  const { scheduleSession } = await mediator.graphql(
    "mutation($input: ScheduleSessionInput!) { scheduleSession(input: $input) { id } }",
    { input: { caseId: sessions[0].caseId, startsAt: new Date(Date.now() + 60_000).toISOString(), timeZone: "UTC", durationMinutes: 60 } },
  );
  return scheduleSession.id;
}

/** The page's key management and worker counters. */
const security = (p) =>
  p.page.evaluate(async () => {
    const c = window.accord.client;
    const worker = await c.e2eeWorker.stats();
    return { stats: c.e2ee.stats, peers: Object.fromEntries(c.e2ee.peers), worker };
  });

/** Audio each page receives: energy decoded per remote participant (non-zero only when frames decrypt). */
const audio = (p) =>
  p.page.evaluate(async () => {
    const c = window.accord.client;
    const report = await c.peerConnection.getStats();
    const out = {};
    report.forEach((s) => {
      if (s.type !== "inbound-rtp" || s.kind !== "audio") return;
      const t = c.tracks.get(s.mid);
      if (t) out[t.participant] = { energy: s.totalAudioEnergy ?? 0, samples: s.totalSamplesReceived ?? 0, concealed: s.concealedSamples ?? 0 };
    });
    return out;
  });

async function main() {
  const server = await startServer();
  log(`server at ${server.base}`);
  const browsers = [];
  let everyone = [];
  try {
    const mediatorApi = await signInHttp(server.base, PEOPLE.mediator);
    const sessionId = await freshSession(mediatorApi);
    const launch = async () => {
      const b = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      browsers.push(b);
      return b;
    };
    const m = await openParticipant(await launch(), server.base, sessionId, "mediator", PEOPLE.mediator);
    const a = await openParticipant(await launch(), server.base, sessionId, "party A", PEOPLE.partyA);
    const b = await openParticipant(await launch(), server.base, sessionId, "party B", PEOPLE.partyB);
    everyone = [m, a, b];

    await test("three people with E2EE decode each other's video and audio; the pages say so and show matching safety numbers", async () => {
      for (const p of everyone) await clickJoin(p);
      for (const p of [a, b]) {
        const admit = m.page.locator(`#lobby li[data-participant="${p.id}"] button[data-action="admit"]`);
        await admit.waitFor({ state: "visible", timeout: 10_000 });
        await admit.click();
      }
      for (const p of [a, b]) await until(`${p.name} in the main room`, async () => (await roomOf(p)).kind === "main", 10_000);
      for (const p of everyone) {
        const others = everyone.filter((o) => o !== p);
        await framesFrom(p, others, `${p.name} to decode video from the other two`);
        const enabled = await p.page.evaluate(() => window.accord.client.e2eeEnabled);
        if (!enabled) throw new Error(`${p.name}'s client does not encrypt end to end`);
        await p.page.locator('.live-e2ee[data-e2ee="on"]').waitFor({ state: "visible", timeout: 10_000 });
        await p.page.getByText("End-to-end encrypted", { exact: true }).waitFor({ state: "visible" });
      }
      // Audio: every remote microphone decodes to sound (frames that failed to
      // decrypt would be dropped and concealed, with no energy).
      await until(
        "everyone to decode the others' audio",
        async () => {
          for (const p of everyone) {
            const got = await audio(p);
            for (const o of everyone.filter((o) => o !== p)) if (!(got[o.id]?.energy > 0)) return false;
          }
          return true;
        },
        15_000,
      );
      for (const p of everyone) {
        // Every m-line, sending or receiving, goes through the worker.
        const bare = await p.page.evaluate(() =>
          window.accord.client.peerConnection
            .getTransceivers()
            .filter((t) => t.mid && !(t.currentDirection === "sendonly" ? t.sender.transform : t.receiver.transform))
            .map((t) => `${t.mid} (${t.currentDirection})`),
        );
        if (bare.length) throw new Error(`${p.name}'s m-lines without an encoded transform: ${bare.join(", ")}`);
      }
      for (const p of everyone) {
        // Counted as they come: the last to join needs a moment more to reach 50.
        let s = await security(p);
        await until(`${p.name}'s worker to encrypt and decrypt 50 frames`, async () => {
          s = await security(p);
          return s.worker.encrypted >= 50 && s.worker.decrypted >= 50;
        }, 10_000).catch(() => undefined);
        if (s.worker.encrypted < 50 || s.worker.decrypted < 50) throw new Error(`${p.name}'s worker encrypted ${s.worker.encrypted} and decrypted ${s.worker.decrypted} frames`);
        if ((s.worker.dropped.forged ?? 0) > 0 || (s.worker.dropped.malformed ?? 0) > 0) throw new Error(`${p.name} dropped frames as forged or malformed: ${JSON.stringify(s.worker.dropped)}`);
        for (const o of everyone.filter((o) => o !== p)) {
          const mine = s.peers[o.id];
          const theirs = (await security(o)).peers[p.id];
          if (!mine?.verified || !mine.keyReceived) throw new Error(`${p.name} has no verified key of ${o.name}: ${JSON.stringify(mine)}`);
          if (!/^\d{5} \d{5} \d{5} \d{5}$/.test(mine.safetyNumber) || mine.safetyNumber !== theirs.safetyNumber) {
            throw new Error(`safety numbers differ: ${p.name} sees ${mine.safetyNumber} for ${o.name}, who sees ${theirs.safetyNumber}`);
          }
          const shown = await p.page.locator(`.live-e2ee tr[data-participant="${o.id}"] .live-safety-number`).textContent();
          if (shown !== mine.safetyNumber) throw new Error(`${p.name}'s page shows ${shown} for ${o.name}, not ${mine.safetyNumber}`);
        }
        const perFrame = (s.worker.encryptMs / s.worker.encrypted).toFixed(3);
        log(`${p.name}: ${s.worker.encrypted} frames encrypted (${perFrame} ms each), ${s.worker.decrypted} decrypted, dropped ${JSON.stringify(s.worker.dropped)}`);
      }
    });

    // Key messages A receives from now on, to replay later.
    await a.page.evaluate(() => {
      window.__keys = [];
      window.accord.client.on("e2eeKey", (k) => window.__keys.push(k));
    });

    await test("in a caucus, party A and the mediator decode each other under new keys; A holds no key of party B", async () => {
      await m.page.evaluate(() => window.accord.client.createCaucus("Party A caucus"));
      const caucus = await until("the caucus", () => m.page.evaluate(() => window.accord.client.rooms.find((r) => r.name === "Party A caucus")), 10_000);
      const before = { m: (await security(m)).stats.sendGeneration, b: (await security(b)).stats.sendGeneration };
      await m.page.evaluate(([id, room]) => window.accord.client.move(id, room), [a.id, caucus.id]);
      await until("A in the caucus", async () => (await roomOf(a))?.kind === "caucus", 10_000);
      // Alone, A stops decoding anyone (what the decoder had buffered drains).
      await until(
        "party A, alone in the caucus, to stop decoding video",
        async () => {
          const w = await watch(a);
          return Object.values(w.last).every((t) => t < w.at - 600);
        },
        10_000,
      );
      const movedAt = Date.now();
      await m.page.evaluate(([id, room]) => window.accord.client.move(id, room), [m.id, caucus.id]);
      const aSeesM = (await framesAfter(a, [m], "A to decode the mediator in the caucus", movedAt)) - movedAt;
      const mSeesA = (await framesAfter(m, [a], "the mediator to decode A in the caucus", movedAt)) - movedAt;
      log(`move → first caucus frame: A sees the mediator after ${Math.round(aSeesM)} ms, the mediator sees A after ${Math.round(mSeesA)} ms`);
      // Each holds the other's current key (the frames above may come before the key is noted).
      await until(
        "A and the mediator to hold each other's current keys",
        async () => {
          const [sa, sm] = [await security(a), await security(m)];
          return (sa.worker.receiveKeys[m.id] ?? []).includes(sm.stats.sendGeneration) && (sm.worker.receiveKeys[a.id] ?? []).includes(sa.stats.sendGeneration);
        },
        5_000,
      );
      for (const p of [a, m]) {
        const s = await security(p);
        // Key management (the page) and key frames (the worker), in time order.
        const events = [...s.stats.events, ...s.worker.events].filter((e) => e.at >= movedAt - 50).sort((x, y) => x.at - y.at);
        log(`${p.name}'s key and key-frame events since the move:\n  ${events.map((e) => `+${e.at - movedAt} ms ${everyone.reduce((w, o) => w.replaceAll(o.id, o.name), e.what)}`).join("\n  ")}`);
        log(`${p.name}'s worker: ${JSON.stringify(s.worker.dropped)} dropped; holds ${JSON.stringify(s.worker.receiveKeys)}`);
      }
      const sa = await security(a);
      const sb = await security(b);
      const sm = await security(m);
      if (!(sm.stats.sendGeneration > before.m)) throw new Error("the mediator kept its main-room key in the caucus");
      if (!(sb.stats.sendGeneration > before.b)) throw new Error("party B did not make a new key when A left");
      if (sa.worker.receiveKeys[b.id]) throw new Error(`party A still holds party B's keys ${sa.worker.receiveKeys[b.id]} (B sends with ${sb.stats.sendGeneration})`);
      if (sb.worker.receiveKeys[a.id] || sb.worker.receiveKeys[m.id]) throw new Error("party B still holds keys of those who left its room");
      const held = sa.worker.receiveKeys[m.id] ?? [];
      if (!held.includes(sm.stats.sendGeneration)) throw new Error(`party A lacks the mediator's current key ${sm.stats.sendGeneration} (holds ${held})`);
    });

    await test("a replayed, re-signed or misdirected key message is refused, and media keeps flowing", async () => {
      const outcome = await a.page.evaluate(async (mediatorId) => {
        const c = window.accord.client;
        const last = window.__keys.filter((k) => k.from === mediatorId).at(-1);
        if (!last) return { error: "A received no key from the mediator" };
        // Signed by a device that is not the mediator's.
        const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
        const sig = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, new TextEncoder().encode("forged")));
        const b64 = btoa(String.fromCharCode(...sig)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
        return {
          replayed: await c.e2ee.onKey(last),
          higher: await c.e2ee.onKey({ ...last, generation: last.generation + 10 }),
          resigned: await c.e2ee.onKey({ ...last, generation: last.generation + 11, signature: b64 }),
          elsewhere: await c.e2ee.onKey({ ...last, generation: last.generation + 12, room: { kind: "main" } }),
        };
      }, m.id);
      if (outcome.error) throw new Error(outcome.error);
      const want = { replayed: "replayed", higher: "bad-signature", resigned: "bad-signature", elsewhere: "not-for-this-room" };
      for (const [k, reason] of Object.entries(want)) {
        if (outcome[k].accepted !== false || outcome[k].reason !== reason) throw new Error(`${k}: ${JSON.stringify(outcome[k])}, expected refused as ${reason}`);
      }
      await framesAfter(a, [m], "A to keep decoding the mediator", Date.now());
    });

    await test("a browser that cannot encrypt is refused while the org requires end-to-end encryption; allowed, it joins, every page says the session is NOT end-to-end encrypted, and everyone decodes everyone", async () => {
      // The first three leave; a fresh session, with party B on a browser
      // without encoded transforms.
      for (const p of everyone) await p.context.close().catch(() => {});
      const session2 = await freshSession(mediatorApi);
      const m2 = await openParticipant(await launch(), server.base, session2, "mediator (2)", PEOPLE.mediator);
      const a2 = await openParticipant(await launch(), server.base, session2, "party A (2)", PEOPLE.partyA);
      const b2 = await openParticipant(await launch(), server.base, session2, "party B (2, no encoded transforms)", PEOPLE.partyB, {
        init: () => {
          delete globalThis.RTCRtpScriptTransform;
        },
      });
      everyone = [m2, a2, b2];
      await b2.page.getByText("cannot encrypt the session's audio and video end to end").first().waitFor({ timeout: 10_000 });
      await b2.page.getByRole("button", { name: "Join the session" }).click();
      await b2.page.getByText("holds sessions only with end-to-end encryption").first().waitFor({ timeout: 15_000 });
      log("party B's browser without encoded transforms is refused while the org requires end-to-end encryption");

      const adminApi = await signInHttp(server.base, PEOPLE.admin);
      await adminApi.graphql("mutation { setHopByHopAllowed(allowed: true) }");
      await clickJoin(m2);
      await clickJoin(a2);
      await clickJoin(b2);
      for (const p of [a2, b2]) {
        const admit = m2.page.locator(`#lobby li[data-participant="${p.id}"] button[data-action="admit"]`);
        await admit.waitFor({ state: "visible", timeout: 10_000 });
        await admit.click();
      }
      for (const p of [a2, b2]) await until(`${p.name} to be in the main room`, async () => (await roomOf(p)).kind === "main", 10_000);
      for (const p of everyone) {
        await p.page.locator('[data-e2ee="off"]').getByText("NOT end-to-end encrypted").waitFor({ timeout: 10_000 });
        const others = everyone.filter((o) => o !== p);
        await framesFrom(p, others, `${p.name} to decode ${others.map((o) => o.name).join(" and ")} in clear`);
      }
      const clear = await a2.page.evaluate(async () => (await window.accord.client.e2eeWorker.stats()).clear);
      if (!(clear > 0)) throw new Error(`party A's worker passed no frame in clear: ${clear}`);
      log("allowed, party B joined: every page says NOT end-to-end encrypted; party A's worker passed frames in clear");
    });
  } catch (e) {
    results.push({ name: "setup", ok: false });
    log(`setup failed: ${e.stack ?? e}`);
  } finally {
    for (const p of everyone) if (p.problems.length) log(`${p.name}'s page reported:\n  ${p.problems.join("\n  ")}`);
    await Promise.all(browsers.map((br) => br.close().catch(() => {})));
    const failed = results.some((r) => !r.ok) || results.length === 0;
    await server.stop(failed);
    if (failed) log(`server log kept in ${server.logFile}`);
    log(`${results.filter((r) => r.ok).length} of ${results.length} E2EE browser tests passed`);
    process.exit(failed ? 1 : 0);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
