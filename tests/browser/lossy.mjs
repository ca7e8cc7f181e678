// A real Chromium subscriber on a lossy link: the mediator (publisher, host
// network namespace), party A (subscriber, in its own network namespace) and
// party B join; once A decodes the mediator, 5 % random loss is put on the
// link towards A (media from the SFU to A) for 30 s, and A's inbound
// statistics for the mediator's camera and microphone must show that
//
//   - video keeps decoding: framesDecoded rises in every 5 s slice, and the
//     freeze count stays bounded (≤ MAX_FREEZES over the window);
//   - the loss is repaired by retransmission: A sent NACKs (nackCount > 0),
//     which the SFU answers with RTX;
//   - audio reaches the listener: 1 − concealedSamples/totalSamplesReceived
//     ≥ 95 % over the window (Opus with RFC 2198 RED, which the SFU forwards
//     to receivers that negotiated it; the RTP packet ratio is printed too);
//   - party B (host, no loss), whose browser is made to leave RED out of its
//     SDP, gets the primary Opus block alone and decodes it (≥ 98 % of its
//     audio, packets well under the size of A's RED packets).
//
// Network: namespace accordloss, veth accloss0 (host, 198.19.0.1/30) <->
// accloss1 (namespace, 198.19.0.2/30). The loss is `tc … netem loss` on
// accloss0's egress, or, on a kernel without netem, an nftables rule dropping
// the same share at random on accloss1's ingress. accord binds its media port
// and HTTP to 198.19.0.1, which every browser reaches: A over the veth, the
// others locally (it is an address of the host). Chromium is told to treat
// that origin as secure, for the camera and WebCrypto. (Not 0.0.0.0 with
// sfu.public_ips: the SFU hands str0m the bound address as a datagram's
// destination, which ICE then refuses as no local candidate's.) A's Chromium
// runs inside the namespace through a wrapper (`ip netns exec accordloss
// chromium "$@"`; playwright talks to it over pipes). Whatever a killed
// earlier run left is removed first; everything is removed on exit.
//
// Needs root (network namespace, tc or nft) and what run.mjs needs.
//
//   node tests/browser/lossy.mjs
//
// ACCORD_LOSSY_PERCENT (default 5) and ACCORD_LOSSY_SECONDS (default 30)
// change the loss and the window; ACCORD_LOSSY_STRIP_RED (see below) measures
// without RED; ACCORD_BROWSER_KEEP=1 keeps the server log.

import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS, PEOPLE, clickJoin, diagnose, framesFrom, openParticipant, roomOf, signInHttp, sleep, startServer, until } from "./lib.mjs";

const NS = "accordloss";
const VETH_HOST = "accloss0";
const VETH_NS = "accloss1";
const HOST_IP = "198.19.0.1";
const NS_IP = "198.19.0.2";
const LOSS_PERCENT = Number(process.env.ACCORD_LOSSY_PERCENT ?? 5);
const WINDOW_S = Number(process.env.ACCORD_LOSSY_SECONDS ?? 30);
const SLICE_S = 5;
/**
 * Freezes allowed over the lossy window. Chromium counts a freeze when a frame
 * comes later than max(3 × the mean frame interval, mean + 150 ms). With NACK
 * and RTX on a sub-millisecond RTT a lost video packet is back within a few
 * ms, so a freeze needs a retransmission lost too (0.25 % of lost packets at
 * 5 %) or a keyframe waited for; one every 10 s is already far worse than a
 * working path, none at all would make the test flaky.
 */
const MAX_FREEZES = Math.max(1, Math.round((3 * WINDOW_S) / 30));
const MIN_AUDIO_DELIVERY = 0.95;
/** Audio delivered to a receiver without loss (party B, plain Opus). */
const MIN_CLEAN_AUDIO = 0.98;

/**
 * Whose browser is made to leave RED out of its SDP (comma list of
 * "mediator", "party"), for comparison: "mediator" measures plain Opus end to
 * end; "party" makes the SFU send party A only the primary Opus block of the
 * mediator's RED packets.
 */
const STRIP_RED = (process.env.ACCORD_LOSSY_STRIP_RED ?? "").split(",").filter(Boolean);

const say = (...a) => console.log("[browser:lossy]", ...a);

/** Runs in a page before its scripts: removes RED (red/48000/2) from every offer and answer it makes. */
const NO_RED = () => {
  const strip = (sdp) => {
    const pts = [...sdp.matchAll(/^a=rtpmap:(\d+) red\/48000\/2\r?$/gm)].map((m) => m[1]);
    if (!pts.length) return sdp;
    return sdp
      .split("\r\n")
      .filter((l) => !pts.some((pt) => l.startsWith(`a=rtpmap:${pt} `) || l.startsWith(`a=fmtp:${pt} `)))
      .map((l) => (l.startsWith("m=audio ") ? l.split(" ").filter((t, i) => i < 3 || !pts.includes(t)).join(" ") : l))
      .join("\r\n");
  };
  for (const method of ["createOffer", "createAnswer"]) {
    const original = RTCPeerConnection.prototype[method];
    RTCPeerConnection.prototype[method] = async function (...args) {
      const d = await original.apply(this, args);
      return { type: d.type, sdp: strip(d.sdp) };
    };
  }
};

// ---- the network namespace ----------------------------------------------------

function run(cmd, args, { check = true } = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.error) throw r.error;
  if (check && r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr.trim()}`);
  return r;
}

/** Removes the namespace and the veth pair; quiet when they do not exist. */
function removeNetwork() {
  run("ip", ["netns", "del", NS], { check: false });
  run("ip", ["link", "del", VETH_HOST], { check: false });
}

function createNetwork() {
  removeNetwork(); // left over by a killed run
  run("ip", ["netns", "add", NS]);
  run("ip", ["link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS]);
  run("ip", ["link", "set", VETH_NS, "netns", NS]);
  run("ip", ["addr", "add", `${HOST_IP}/30`, "dev", VETH_HOST]);
  run("ip", ["link", "set", VETH_HOST, "up"]);
  run("ip", ["netns", "exec", NS, "ip", "addr", "add", `${NS_IP}/30`, "dev", VETH_NS]);
  run("ip", ["netns", "exec", NS, "ip", "link", "set", VETH_NS, "up"]);
  run("ip", ["netns", "exec", NS, "ip", "link", "set", "lo", "up"]);
}

/** How the loss is made: netem on the host veth, or nftables in the namespace. */
let lossVia = null;

/**
 * Random loss on everything the host sends to the namespace (0: none):
 * `tc qdisc … netem loss` on the host side of the veth (egress, towards the
 * subscriber), or, on a kernel without netem (sch_netem), an nftables rule
 * that drops the same share at random on the namespace side's ingress
 * (`numgen random`): the same packets, dropped one hop later.
 */
function setLoss(percent) {
  if (percent > 0) {
    const r = run("tc", ["qdisc", "replace", "dev", VETH_HOST, "root", "netem", "loss", `${percent}%`], { check: false });
    if (r.status === 0) {
      lossVia = "netem";
      return;
    }
    if (!/unknown/i.test(r.stderr)) throw new Error(`tc netem failed: ${r.stderr.trim()}`);
    if (spawnSync("nft", ["--version"]).error) throw new Error("this kernel has no netem and nft is missing (apt-get install nftables)");
    const ruleset = `table netdev accordloss {
  chain lossy {
    type filter hook ingress device "${VETH_NS}" priority 0; policy accept;
    counter
    numgen random mod 10000 < ${Math.round(percent * 100)} counter drop
  }
}
`;
    const n = spawnSync("ip", ["netns", "exec", NS, "nft", "-f", "-"], { input: ruleset, encoding: "utf8" });
    if (n.status !== 0) throw new Error(`nft failed: ${n.stderr}`);
    lossVia = "nftables";
  } else if (lossVia === "netem") {
    run("tc", ["qdisc", "del", "dev", VETH_HOST, "root"], { check: false });
  } else if (lossVia === "nftables") {
    run("ip", ["netns", "exec", NS, "nft", "delete", "table", "netdev", "accordloss"], { check: false });
  }
}

/** Packets towards the namespace so far under the loss rule: { total, dropped }. */
function lossCounts() {
  if (lossVia === "netem") {
    const out = run("tc", ["-s", "qdisc", "show", "dev", VETH_HOST], { check: false }).stdout;
    const m = /Sent \d+ bytes (\d+) pkt \(dropped (\d+)/.exec(out);
    return m ? { total: Number(m[1]) + Number(m[2]), dropped: Number(m[2]) } : null;
  }
  if (lossVia === "nftables") {
    const out = run("ip", ["netns", "exec", NS, "nft", "list", "table", "netdev", "accordloss"], { check: false }).stdout;
    const counts = [...out.matchAll(/counter packets (\d+)/g)].map((x) => Number(x[1]));
    return counts.length === 2 ? { total: counts[0], dropped: counts[1] } : null;
  }
  return null;
}

// ---- statistics ------------------------------------------------------------------

/**
 * Runs in the subscriber's page: inbound-rtp of `sender`'s camera and
 * microphone (by the client's track map), with the codec each uses.
 */
const INBOUND = async (sender) => {
  const c = window.accord.client;
  const pc = c && c.peerConnection;
  if (!pc) return null;
  const mids = new Map([...c.tracks.values()].filter((t) => t.participant === sender).map((t) => [t.mid, t.source]));
  const report = await pc.getStats();
  const out = { at: Date.now() };
  report.forEach((s) => {
    if (s.type !== "inbound-rtp" || !mids.has(s.mid)) return;
    const source = mids.get(s.mid);
    const codec = s.codecId ? report.get(s.codecId) : undefined;
    const pick = (keys) => Object.fromEntries(keys.map((k) => [k, Number(s[k] ?? 0)]));
    if (source === "camera") {
      out.video = {
        ...pick(["framesDecoded", "freezeCount", "totalFreezesDuration", "nackCount", "pliCount", "packetsLost", "packetsReceived", "retransmittedPacketsReceived", "framesDropped", "keyFramesDecoded", "frameWidth", "frameHeight"]),
        codec: codec ? codec.mimeType : "",
      };
    } else if (source === "microphone") {
      out.audio = {
        ...pick(["packetsReceived", "packetsLost", "concealedSamples", "silentConcealedSamples", "totalSamplesReceived", "concealmentEvents", "jitterBufferDelay", "jitterBufferEmittedCount", "bytesReceived", "headerBytesReceived"]),
        codec: codec ? `${codec.mimeType} (pt ${codec.payloadType})` : "",
      };
    }
  });
  return out;
};

/** Runs in the publisher's page: what its camera and microphone send. */
const OUTBOUND = async () => {
  const pc = window.accord.client.peerConnection;
  const report = await pc.getStats();
  const out = { video: [], audio: "" };
  report.forEach((s) => {
    if (s.type !== "outbound-rtp") return;
    const codec = s.codecId ? report.get(s.codecId) : undefined;
    if (s.kind === "audio" && s.packetsSent > 0) out.audio = `${codec ? `${codec.mimeType} (pt ${codec.payloadType})` : "?"}, ${Math.round(s.bytesSent / s.packetsSent)} payload bytes per packet`;
    if (s.kind === "video" && s.bytesSent > 0) out.video.push({ rid: s.rid ?? null, width: s.frameWidth ?? 0, height: s.frameHeight ?? 0, codec: codec ? codec.mimeType : "?" });
  });
  return out;
};

const delta = (a, b, k) => b[k] - a[k];

// ---- the test ----------------------------------------------------------------------

async function main() {
  if (process.getuid && process.getuid() !== 0) throw new Error("tests/browser/lossy.mjs needs root (network namespace, tc)");
  for (const tool of ["ip", "tc"]) if (spawnSync(tool, ["-V"]).error) throw new Error(`${tool} is missing (apt-get install iproute2)`);
  const work = mkdtempSync(join(tmpdir(), "accord-lossy-"));
  let server;
  const browsers = [];
  const cleanup = () => {
    removeNetwork();
    rmSync(work, { recursive: true, force: true });
  };
  process.on("exit", cleanup);
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(130));
  let failed = false;
  try {
    say(`network namespace ${NS}: ${HOST_IP} (host, ${VETH_HOST}) <-> ${NS_IP} (${VETH_NS})`);
    createNetwork();
    const wrapper = join(work, "chromium-in-netns");
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${NS} ${CHROMIUM} "$@"\n`);
    chmodSync(wrapper, 0o755);

    // Media bound to all interfaces and announced at the veth's address, as
    // on a server with several interfaces: the SFU learns from each
    // datagram which local address it reached (IP_PKTINFO) and tells ICE.
    server = await startServer({ httpHost: HOST_IP, mediaIp: "0.0.0.0", publicIps: [HOST_IP] });
    say(`server at ${server.base}, media on udp 0.0.0.0:${server.udpPort} announced at ${HOST_IP}, database ${server.database}`);
    const mediator = await signInHttp(server.base, PEOPLE.mediator);
    const { sessions } = await mediator.graphql("{ sessions { id } }");
    if (sessions.length !== 1) throw new Error(`expected one demo session, found ${sessions.length}`);
    const sessionId = sessions[0].id;

    // Pages on http://198.19.0.1 need a secure context for the camera and WebCrypto.
    const args = [...CHROMIUM_ARGS, `--unsafely-treat-insecure-origin-as-secure=${server.base}`];
    const host = await chromium.launch({ executablePath: CHROMIUM, args });
    browsers.push(host);
    const inNs = await chromium.launch({ executablePath: wrapper, args });
    browsers.push(inNs);
    if (STRIP_RED.length) say(`RED left out of the SDP of: ${STRIP_RED.join(", ")} (ACCORD_LOSSY_STRIP_RED)`);
    const noRed = (who) => (STRIP_RED.includes(who) ? { init: NO_RED } : {});
    const m = await openParticipant(host, server.base, sessionId, "mediator", PEOPLE.mediator, noRed("mediator"));
    const a = await openParticipant(inNs, server.base, sessionId, "party A", PEOPLE.partyA, noRed("party"));
    // Party B (host, no loss) never offers RED: the SFU must send it the
    // primary Opus block of the mediator's RED packets, which must decode.
    const b = await openParticipant(host, server.base, sessionId, "party B", PEOPLE.partyB, { init: NO_RED });
    const everyone = [m, a, b];
    try {
      await clickJoin(m);
      for (const p of [a, b]) {
        await clickJoin(p);
        const admit = m.page.locator(`#lobby li[data-participant="${p.id}"] button[data-action="admit"]`);
        await admit.waitFor({ state: "visible", timeout: 10_000 });
        await admit.click();
        await until(`${p.name} to be in the main room`, async () => (await roomOf(p))?.kind === "main", 10_000);
      }
      await framesFrom(a, [m], "party A (in the namespace) to decode the mediator's video");
      await framesFrom(b, [m], "party B to decode the mediator's video");
      // The pair the transport selected (its stats say which), read until
      // the stats have it: the client sends its offer before ICE gathering
      // ends, so the pair's flags may trail the first decoded frames.
      const pair = await until(
        "party A's selected candidate pair",
        () =>
          a.page.evaluate(async () => {
            const report = await window.accord.client.peerConnection.getStats();
            let selected = null;
            report.forEach((s) => {
              if (s.type === "transport" && s.selectedCandidatePairId) selected = report.get(s.selectedCandidatePairId);
            });
            if (!selected) {
              report.forEach((s) => {
                if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") selected = s;
              });
            }
            if (!selected) return "";
            const l = report.get(selected.localCandidateId);
            const r = report.get(selected.remoteCandidateId);
            return `${l?.address ?? l?.ip}:${l?.port} ${l?.protocol} -> ${r?.address ?? r?.ip}:${r?.port}`;
          }),
        10_000,
        200,
      ).catch(() => "");
      say(`party A's media path: ${pair}`);
      if (!pair.includes(HOST_IP)) throw new Error(`party A's media does not go over the veth (${pair})`);

      const sample = () => a.page.evaluate(INBOUND, m.id);
      // A few seconds without loss, for comparison.
      await sleep(2000);
      const base0 = await sample();
      await sleep(5000);
      const base1 = await sample();
      if (!base1.video || !base1.audio) throw new Error(`party A has no inbound video or audio from the mediator: ${JSON.stringify(base1)}`);
      const answerAudio = await m.page.evaluate(() => {
        const sdp = window.accord.client.peerConnection.remoteDescription.sdp.split("\r\n");
        const at = sdp.findIndex((l) => l.startsWith("m=audio"));
        const end = sdp.findIndex((l, i) => i > at && l.startsWith("m="));
        return sdp.slice(at, end < 0 ? undefined : end).filter((l) => /^m=audio|^a=rtpmap|^a=fmtp/.test(l)).join(" | ");
      });
      say(`the SFU's answer to the mediator, audio: ${answerAudio}`);
      const sent = await m.page.evaluate(OUTBOUND);
      const perPacket = Math.round(delta(base0.audio, base1.audio, "bytesReceived") / Math.max(1, delta(base0.audio, base1.audio, "packetsReceived")));
      say(`the mediator sends audio as ${sent.audio}, video ${JSON.stringify(sent.video)}; party A receives audio as ${base1.audio.codec}, ${perPacket} payload bytes per packet, video as ${base1.video.codec}`);

      setLoss(LOSS_PERCENT);
      say(`${LOSS_PERCENT} % loss towards party A for ${WINDOW_S} s (${lossVia})`);
      const sampleB = () => b.page.evaluate(INBOUND, m.id);
      const b0 = await sampleB();
      const samples = [await sample()];
      for (let t = SLICE_S; t <= WINDOW_S; t += SLICE_S) {
        await sleep(SLICE_S * 1000);
        samples.push(await sample());
      }
      const counted = lossCounts();
      setLoss(0);
      const b1 = await sampleB();
      // The SFU's own counters (whole run), for diagnosis.
      const sfu = await fetch(`${server.base}/metrics`)
        .then((r) => r.text())
        .then((t) =>
          t
            .split("\n")
            .filter((l) => /^accord_sfu_(nacks_received|keyframe_requests|layer_switches|video_pauses)_total /.test(l))
            .map((l) => l.replace(/^accord_sfu_/, "").replace(/_total /, " "))
            .join(", "),
        )
        .catch((e) => `metrics unavailable (${e.message})`);
      say(`the SFU's counters: ${sfu}`);
      const first = samples[0];
      const last = samples[samples.length - 1];
      const slices = samples.slice(1).map((s, i) => delta(samples[i].video, s.video, "framesDecoded"));
      const v = (k) => delta(first.video, last.video, k);
      const au = (k) => delta(first.audio, last.audio, k);
      const secs = (last.at - first.at) / 1000;
      const audioDelivery = au("totalSamplesReceived") > 0 ? 1 - au("concealedSamples") / au("totalSamplesReceived") : 0;
      const rtpAudio = au("packetsReceived") / Math.max(1, au("packetsReceived") + au("packetsLost"));
      const rtpVideo = v("packetsReceived") / Math.max(1, v("packetsReceived") + v("packetsLost"));
      const baseAudio = 1 - delta(base0.audio, base1.audio, "concealedSamples") / Math.max(1, delta(base0.audio, base1.audio, "totalSamplesReceived"));
      const bytesPerPacket = (x, y) => delta(x, y, "bytesReceived") / Math.max(1, delta(x, y, "packetsReceived"));
      const aBytes = bytesPerPacket(first.audio, last.audio);
      const bBytes = b0.audio && b1.audio ? bytesPerPacket(b0.audio, b1.audio) : 0;
      const bAudio = b0.audio && b1.audio ? 1 - delta(b0.audio, b1.audio, "concealedSamples") / Math.max(1, delta(b0.audio, b1.audio, "totalSamplesReceived")) : 0;

      say(`frames decoded per ${SLICE_S} s slice: ${slices.join(", ")}`);
      const summary =
        `lossy link (${LOSS_PERCENT} % random loss towards the subscriber by ${lossVia}, ${secs.toFixed(1)} s, Chromium ${host.version()}): ` +
        `video ${v("framesDecoded")} frames decoded (${(v("framesDecoded") / secs).toFixed(1)} fps, min ${Math.min(...slices)} per ${SLICE_S} s), ` +
        `${v("freezeCount")} freezes (${(v("totalFreezesDuration") * 1000).toFixed(0)} ms frozen), ` +
        `${v("nackCount")} NACKs sent, ${v("retransmittedPacketsReceived")} retransmissions received, ${v("pliCount")} PLIs, ` +
        `RTP ${v("packetsLost")} lost of ${v("packetsReceived") + v("packetsLost")} (${(100 * rtpVideo).toFixed(1)} % received), ${last.video.frameWidth}x${last.video.frameHeight}; ` +
        `audio (${last.audio.codec}) delivery ${(100 * audioDelivery).toFixed(2)} % ` +
        `(${au("concealedSamples")} of ${au("totalSamplesReceived")} samples concealed, ${au("concealmentEvents")} concealment events; ${(100 * baseAudio).toFixed(2)} % without loss), ` +
        `RTP ${(100 * rtpAudio).toFixed(2)} % of audio packets received (${au("packetsLost")} lost of ${au("packetsReceived") + au("packetsLost")}); ` +
        `${lossVia} dropped ${counted ? `${counted.dropped} of ${counted.total}` : "?"} packets towards the subscriber; ` +
        `audio bytes per packet: party A ${aBytes.toFixed(0)}, party B (no RED, no loss) ${bBytes.toFixed(0)} with ${(100 * bAudio).toFixed(2)} % delivered`;
      console.log(`\n${summary}\n`);

      const problems = [];
      slices.forEach((n, i) => {
        if (!(n > 0)) problems.push(`no frames decoded between ${i * SLICE_S} s and ${(i + 1) * SLICE_S} s`);
      });
      if (v("freezeCount") > MAX_FREEZES) problems.push(`${v("freezeCount")} freezes, more than ${MAX_FREEZES}`);
      if (!(v("nackCount") > 0)) problems.push("party A sent no NACKs: the loss was not repaired by retransmission (or no loss happened)");
      if (!(audioDelivery >= MIN_AUDIO_DELIVERY)) problems.push(`audio delivery ${(100 * audioDelivery).toFixed(2)} % is below ${100 * MIN_AUDIO_DELIVERY} %`);
      if (!counted || counted.dropped === 0) problems.push(`${lossVia} dropped nothing: the loss was not applied`);
      // Party B gets plain Opus: decodable (nothing concealed on its clean
      // link) and, while A gets RED, clearly smaller packets than A's.
      if (!(bAudio >= MIN_CLEAN_AUDIO)) problems.push(`party B (no RED) had ${(100 * bAudio).toFixed(2)} % of its audio delivered, below ${100 * MIN_CLEAN_AUDIO} %`);
      if (STRIP_RED.length === 0 && !(bBytes < 0.75 * aBytes)) problems.push(`party B (no RED) got ${bBytes.toFixed(0)} bytes per audio packet, party A (RED) ${aBytes.toFixed(0)}: not the primary block alone`);
      for (const p of everyone) if (p.problems.length) say(`${p.name}'s page reported:\n  ${p.problems.join("\n  ")}`);
      if (problems.length) throw new Error(problems.join("; "));
      say("ok   video keeps decoding, NACKs repair the loss and audio arrives under loss");
    } catch (e) {
      for (const p of everyone) say(`${p.name} (${p.id}) at the failure:\n${JSON.stringify(await diagnose(p))}`);
      throw e;
    }
  } catch (e) {
    failed = true;
    say(`FAIL ${e.stack ?? e}`);
  } finally {
    for (const b of browsers) await b.close().catch(() => {});
    const keep = process.env.ACCORD_BROWSER_KEEP === "1";
    if (server) {
      if (failed) say(`server output (last lines):\n${server.output().split("\n").slice(-40).join("\n")}`);
      await server.stop(keep || failed);
      if (keep || failed) say(`server log kept in ${server.logFile}`);
    }
    cleanup();
  }
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
