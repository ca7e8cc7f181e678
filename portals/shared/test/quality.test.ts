import { describe, expect, it } from "vitest";
import { badSample, connectionUnstable, linkQuality, sampleFromStats, type LinkSample } from "../src/live/quality";

const ok: LinkSample = { state: "connected", loss: 0, rttMs: 40 };
const lossy: LinkSample = { state: "connected", loss: 0.08, rttMs: 40 };
const slow: LinkSample = { state: "connected", loss: 0, rttMs: 650 };

describe("connectionUnstable", () => {
  it("is quiet with no readings and on a good link", () => {
    expect(connectionUnstable([])).toBe(false);
    expect(connectionUnstable([ok, ok, ok])).toBe(false);
  });
  it("warns at once when the peer connection is disconnected or failed", () => {
    expect(connectionUnstable([ok, { state: "disconnected", loss: null, rttMs: null }])).toBe(true);
    expect(connectionUnstable([{ state: "failed", loss: null, rttMs: null }])).toBe(true);
  });
  it("does not warn for one bad reading (a blip)", () => {
    expect(connectionUnstable([ok, ok, lossy])).toBe(false);
    expect(connectionUnstable([lossy, ok, ok])).toBe(false);
  });
  it("warns when two of the last three readings lose packets or are slow", () => {
    expect(connectionUnstable([ok, lossy, lossy])).toBe(true);
    expect(connectionUnstable([lossy, ok, slow])).toBe(true);
    expect(connectionUnstable([lossy, lossy, ok, ok])).toBe(false);
  });
  it("says nothing while connecting or without a connection", () => {
    expect(connectionUnstable([lossy, lossy, { state: "connecting", loss: null, rttMs: null }])).toBe(false);
    expect(connectionUnstable([{ state: "none", loss: null, rttMs: null }])).toBe(false);
  });
  it("counts unknown loss and delay as good", () => {
    expect(badSample({ state: "connected", loss: null, rttMs: null })).toBe(false);
    expect(badSample({ state: "connected", loss: 0.05, rttMs: null })).toBe(true);
    expect(badSample({ state: "connected", loss: null, rttMs: 500 })).toBe(true);
  });
});

describe("linkQuality", () => {
  const q = (loss: number, rttMs: number | null) => ({ loss, rttMs, receiveKbps: 500, sendKbps: 500 });
  it("grades a participant's link from loss and round-trip time", () => {
    expect(linkQuality(undefined)).toBe("unknown");
    expect(linkQuality(q(0, 30))).toBe("good");
    expect(linkQuality(q(0, null))).toBe("good");
    expect(linkQuality(q(0.03, 30))).toBe("fair");
    expect(linkQuality(q(0, 300))).toBe("fair");
    expect(linkQuality(q(0.1, 30))).toBe("poor");
    expect(linkQuality(q(0, 800))).toBe("poor");
  });
});

describe("sampleFromStats", () => {
  const report = (entries: Record<string, unknown>[]) => new Map(entries.map((e) => [e.id as string, e])) as unknown as RTCStatsReport;
  it("reads loss since the previous totals and the selected pair's RTT", () => {
    const first = sampleFromStats(
      report([
        { id: "a", type: "inbound-rtp", packetsReceived: 100, packetsLost: 0 },
        { id: "v", type: "inbound-rtp", packetsReceived: 900, packetsLost: 0 },
        { id: "t", type: "transport", selectedCandidatePairId: "p" },
        { id: "p", type: "candidate-pair", currentRoundTripTime: 0.12 },
        { id: "q", type: "candidate-pair", currentRoundTripTime: 0.9 },
      ]),
      "connected",
      null,
    );
    expect(first.sample).toEqual({ state: "connected", loss: null, rttMs: 120 });
    const second = sampleFromStats(
      report([
        { id: "a", type: "inbound-rtp", packetsReceived: 190, packetsLost: 10 },
        { id: "v", type: "inbound-rtp", packetsReceived: 1800, packetsLost: 0 },
        { id: "t", type: "transport", selectedCandidatePairId: "p" },
        { id: "p", type: "candidate-pair", currentRoundTripTime: 0.2 },
      ]),
      "connected",
      first.totals,
    );
    expect(second.sample.loss).toBeCloseTo(10 / 1000);
    expect(second.sample.rttMs).toBe(200);
  });
  it("has no loss figure when nothing arrived", () => {
    const r = report([{ id: "a", type: "inbound-rtp", packetsReceived: 5, packetsLost: 0 }]);
    expect(sampleFromStats(r, "connected", { received: 5, lost: 0 }).sample.loss).toBeNull();
  });
});
