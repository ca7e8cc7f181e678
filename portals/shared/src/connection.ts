// What a closed signaling socket means, and when to try again.

/** Close codes the SFU uses (docs/signaling.md). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  Abnormal: 1006,
  ServerError: 1011,
  TryAgainLater: 1013,
  Malformed: 4400,
  Unauthorized: 4401,
  Forbidden: 4403,
  Timeout: 4408,
  Replayed: 4409,
  Removed: 4410,
  Locked: 4423,
  Denied: 4424,
} as const;

const MESSAGES: Record<number, string> = {
  [CloseCode.Malformed]: "The session server did not understand this browser's join message.",
  [CloseCode.Unauthorized]: "Your join token is invalid or has expired, or this device's signature was not accepted.",
  [CloseCode.Forbidden]: "This join token is for another session or another device.",
  [CloseCode.Timeout]: "This browser took too long to answer the session server.",
  [CloseCode.Replayed]: "This join token was already used.",
  [CloseCode.Removed]: "The mediator removed you from this session.",
  [CloseCode.Locked]: "The session is locked: nobody new may join.",
  [CloseCode.Denied]: "The mediator did not admit you to the session.",
  [CloseCode.ServerError]: "The session server could not check your join token.",
  [CloseCode.TryAgainLater]: "The session server asked to try again in a moment.",
  [CloseCode.Abnormal]: "The connection to the session server was lost.",
  [CloseCode.GoingAway]: "The session server is going away.",
  [CloseCode.Normal]: "You left the session.",
};

/** A sentence for a person: what happened, from the close code (and the server's reason, when it adds something). */
export function closeMessage(code: number, reason = ""): string {
  const known = MESSAGES[code];
  const why = reason.trim();
  if (known && why && !known.toLowerCase().includes(why.toLowerCase())) {
    return `${known} (${why})`;
  }
  if (known) return known;
  return why ? `The connection to the session server closed: ${why} (${code}).` : `The connection to the session server closed (${code}).`;
}

/** 4400–4499: the server refused or ended this participation on purpose; trying again with the same standing cannot help. */
export function isRefusal(code: number): boolean {
  return code >= 4400 && code <= 4499;
}

/** Whether a close (not asked for by this client) should be followed by a reconnection. */
export function shouldReconnect(code: number): boolean {
  return !isRefusal(code) && code !== CloseCode.Normal;
}

/**
 * When to try again after an unexpected drop. The server keeps a dropped
 * participant's place for ten seconds, so the first attempts come quickly
 * (the first at once) and all of the first few fit in that window; after
 * that it keeps trying, more slowly, until `giveUpAfterMs`. Drops that keep
 * recurring (say two tabs of one person pushing each other out) stop it:
 * more than `maxDropsPerMinute` drops in a minute and it gives up.
 */
export class ReconnectPolicy {
  private drops: number[] = [];
  private firstFailure: number | undefined;
  private attempt = 0;

  constructor(
    private readonly options: {
      delaysMs?: readonly number[];
      giveUpAfterMs?: number;
      maxDropsPerMinute?: number;
    } = {},
  ) {}

  static readonly GRACE_MS = 10_000;

  private get delays() {
    return this.options.delaysMs ?? [0, 250, 500, 1000, 2000, 2000, 3000];
  }

  /** A connection dropped at `now`: the delay before the first attempt, or null to give up. */
  dropped(now: number): number | null {
    this.drops = this.drops.filter((t) => now - t < 60_000);
    this.drops.push(now);
    if (this.drops.length > (this.options.maxDropsPerMinute ?? 5)) return null;
    this.firstFailure = now;
    this.attempt = 0;
    return this.next(now);
  }

  /** An attempt failed at `now`: the delay before the next, or null to give up. */
  failed(now: number): number | null {
    this.attempt += 1;
    return this.next(now);
  }

  /** An attempt got through. */
  succeeded(): void {
    this.firstFailure = undefined;
    this.attempt = 0;
  }

  private next(now: number): number | null {
    const since = now - (this.firstFailure ?? now);
    if (since >= (this.options.giveUpAfterMs ?? 60_000)) return null;
    const d = this.delays;
    return d[Math.min(this.attempt, d.length - 1)]!;
  }
}

/**
 * What to do when the server refuses the client's SDP (an `error` with
 * `refused`): the browser made that SDP, so sending it again would be
 * refused again. The client starts its media afresh (a new peer connection
 * and offer, which replaces whatever the server had), a few times in a row
 * at most; a connection that comes up ends the run.
 */
export class SdpRecovery {
  private restarts = 0;

  constructor(private readonly maxRestarts = 3) {}

  /** The server refused our offer or answer: restart media, or give up and say so. */
  refused(): "restart" | "give-up" {
    if (this.restarts >= this.maxRestarts) return "give-up";
    this.restarts += 1;
    return "restart";
  }

  /** The media connection came up: refusals start counting afresh. */
  connected(): void {
    this.restarts = 0;
  }
}
