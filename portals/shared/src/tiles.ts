// How large each remote video is shown, for the server: it forwards the
// simulcast layer that fits a tile, and nothing for a tile that is hidden.
//
// The page watches each remote <video> (ResizeObserver); sizes are debounced
// per tile (a window being dragged larger sends one message, not fifty) and
// sent as `{"type":"tile","participant":…,"source":"camera"|"screen",
// "width":W,"height":H}` in device pixels; 0×0 means hidden (or gone).

import type { ClientMessage } from "./protocol";

/** The sources a tile shows. */
export type TileSource = "camera" | "screen";

/** The message as the client writes it. */
type OwnTileMessage = { type: "tile"; participant: string; source: TileSource; width: number; height: number };

/**
 * The `tile` client message: the generated protocol type once protocol.ts has
 * it (so a mismatch in shape fails the typecheck), this client's own until then.
 */
export type TileMessage = [Extract<ClientMessage, { type: "tile" }>] extends [never] ? OwnTileMessage : Extract<ClientMessage, { type: "tile" }>;

/** How long a tile's size must stay put before it is sent, ms. */
export const TILE_DEBOUNCE_MS = 300;
/** The largest width or height the server accepts. */
export const TILE_MAX = 8192;

type Timers = {
  setTimeout: (fn: () => void, ms: number) => unknown;
  clearTimeout: (handle: unknown) => void;
};

const defaultTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

type Entry = {
  participant: string;
  source: TileSource;
  width: number;
  height: number;
  timer: unknown;
  /** What the server last heard. */
  sent: { width: number; height: number } | null;
  /** The tile is gone: forget it once the server heard 0×0. */
  removed: boolean;
};

/**
 * The latest size of every tile, sent once it has been stable for the
 * debounce time and only when it differs from what was last sent.
 */
export class TileSizes {
  private readonly entries = new Map<string, Entry>();

  constructor(
    /** Sends one message; false when it could not be sent (not connected). */
    private readonly send: (message: TileMessage) => boolean,
    private readonly debounceMs = TILE_DEBOUNCE_MS,
    private readonly timers: Timers = defaultTimers,
  ) {}

  /** A tile now measures `width`×`height` (device pixels; 0×0 when hidden). */
  set(participant: string, source: TileSource, width: number, height: number): void {
    const clamp = (v: number) => (Number.isFinite(v) ? Math.min(TILE_MAX, Math.max(0, Math.round(v))) : 0);
    const w = clamp(width);
    const h = clamp(height);
    const key = `${participant}/${source}`;
    let e = this.entries.get(key);
    if (!e) {
      e = { participant, source, width: w, height: h, timer: undefined, sent: null, removed: false };
      this.entries.set(key, e);
    }
    e.width = w;
    e.height = h;
    e.removed = false;
    if (e.timer !== undefined) this.timers.clearTimeout(e.timer);
    const entry = e;
    entry.timer = this.timers.setTimeout(() => {
      entry.timer = undefined;
      this.flush(entry);
    }, this.debounceMs);
  }

  /** The tile is gone: the server hears 0×0 (debounced like any change), then it is forgotten. */
  remove(participant: string, source: TileSource): void {
    const e = this.entries.get(`${participant}/${source}`);
    if (!e) return;
    this.set(participant, source, 0, 0);
    e.removed = true;
  }

  /** Sends every tile's current size again (a new connection knows none). */
  resend(): void {
    for (const e of this.entries.values()) {
      e.sent = null;
      if (e.timer === undefined) this.flush(e);
    }
  }

  /** Stops every pending timer and forgets all tiles. */
  clear(): void {
    for (const e of this.entries.values()) if (e.timer !== undefined) this.timers.clearTimeout(e.timer);
    this.entries.clear();
  }

  private flush(e: Entry) {
    const heard = e.sent !== null && e.sent.width === e.width && e.sent.height === e.height;
    if (!heard) {
      const message: TileMessage = { type: "tile", participant: e.participant, source: e.source, width: e.width, height: e.height };
      if (!this.send(message)) return;
      e.sent = { width: e.width, height: e.height };
    }
    if (e.removed) this.entries.delete(`${e.participant}/${e.source}`);
  }
}

/**
 * Calls `onSize` with an element's rendered size in device pixels whenever it
 * changes (0×0 when hidden), starting with its current size. Returns a
 * function that stops watching. Without ResizeObserver, reports nothing.
 */
export function watchSize(el: Element, onSize: (width: number, height: number) => void, ratio: () => number = () => globalThis.devicePixelRatio || 1): () => void {
  if (typeof ResizeObserver === "undefined") return () => {};
  const observer = new ResizeObserver((entries) => {
    const last = entries[entries.length - 1];
    if (!last) return;
    const r = ratio();
    onSize(last.contentRect.width * r, last.contentRect.height * r);
  });
  observer.observe(el);
  return () => observer.disconnect();
}
