// Link quality: the mediator's per-participant indicator (from the SFU's
// `stats` messages) and the party's own "your connection is unstable" rule
// (from the peer connection's state and getStats). Pure functions, so the
// thresholds are tested without a browser.

import type { QualityView } from "../protocol";

export type LinkQuality = "good" | "fair" | "poor" | "unknown";

/** Loss (fraction) and round-trip time (ms) from which a link counts as fair, and as poor. */
export const FAIR = { loss: 0.02, rttMs: 250 } as const;
export const POOR = { loss: 0.05, rttMs: 500 } as const;

/** One participant's link as the SFU measures it. */
export function linkQuality(q: Pick<QualityView, "loss" | "rttMs" | "receiveKbps" | "sendKbps"> | undefined): LinkQuality {
  if (!q) return "unknown";
  const rtt = q.rttMs ?? 0;
  if (q.loss >= POOR.loss || rtt >= POOR.rttMs) return "poor";
  if (q.loss >= FAIR.loss || rtt >= FAIR.rttMs) return "fair";
  return "good";
}

/** One reading of this browser's own media connection. */
export type LinkSample = {
  /** The peer connection's state. */
  state: RTCPeerConnectionState | "none";
  /** Fraction of inbound packets lost since the previous reading (0 to 1), or null when nothing arrived. */
  loss: number | null;
  /** Current round-trip time of the selected candidate pair, ms, or null when unknown. */
  rttMs: number | null;
};

/** How many of the latest readings are looked at, and how many of them must be bad. */
export const UNSTABLE_WINDOW = 3;
export const UNSTABLE_BAD = 2;

/** Whether one reading is bad: loss or delay at the "poor" level. */
export function badSample(s: LinkSample): boolean {
  return (s.loss !== null && s.loss >= POOR.loss) || (s.rttMs !== null && s.rttMs >= POOR.rttMs);
}

/**
 * Whether to tell the person "your connection is unstable": at once when the
 * peer connection is disconnected or failed; otherwise when at least
 * UNSTABLE_BAD of the last UNSTABLE_WINDOW readings were bad (one bad
 * reading is a blip, not a banner).
 */
export function connectionUnstable(samples: readonly LinkSample[]): boolean {
  const last = samples[samples.length - 1];
  if (!last) return false;
  if (last.state === "disconnected" || last.state === "failed") return true;
  if (last.state !== "connected") return false;
  return samples.slice(-UNSTABLE_WINDOW).filter(badSample).length >= UNSTABLE_BAD;
}

type Totals = { received: number; lost: number };

/**
 * A reading from a getStats report: inbound RTP packets received and lost
 * (summed, compared with the previous totals) and the selected pair's RTT.
 */
export function sampleFromStats(report: RTCStatsReport, state: RTCPeerConnectionState, previous: Totals | null): { sample: LinkSample; totals: Totals } {
  let received = 0;
  let lost = 0;
  let rtt: number | null = null;
  let selected: string | undefined;
  report.forEach((s: RTCStats & Record<string, unknown>) => {
    if (s.type === "inbound-rtp") {
      received += Number(s.packetsReceived ?? 0);
      lost += Math.max(0, Number(s.packetsLost ?? 0));
    } else if (s.type === "transport" && typeof s.selectedCandidatePairId === "string") {
      selected = s.selectedCandidatePairId;
    }
  });
  report.forEach((s: RTCStats & Record<string, unknown>) => {
    if (s.type !== "candidate-pair") return;
    const chosen = selected ? s.id === selected : s.nominated === true && s.state === "succeeded";
    if (chosen && typeof s.currentRoundTripTime === "number") rtt = Math.round(s.currentRoundTripTime * 1000);
  });
  const totals = { received, lost };
  let loss: number | null = null;
  if (previous) {
    const r = received - previous.received;
    const l = lost - previous.lost;
    loss = r + l > 0 ? Math.max(0, l) / (r + Math.max(0, l)) : null;
  }
  return { sample: { state, loss, rttMs: rtt }, totals };
}
