// The minimal session page: sign in, check the camera and microphone, join,
// see the others, and (for the mediator) run the lobby and the rooms.
// Plain DOM; every control is a real button, input or select with a label.
//
// Tests drive it through `window.accord` (the Api, the SessionClient once
// joining, and a few page actions).

import "./style.css";
import { Api, ApiError } from "./api";
import type { ParticipantView, RoomId, RoomView } from "./protocol";
import { SessionClient, type RemoteMedia } from "./session";
import { watchSize } from "./tiles";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page lacks #${id}`);
  return el as T;
};

/** Creates an element with properties, attributes (`data-*`, `aria-*`) and children. */
function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<string, string | boolean | ((e: Event) => void)>> = {},
  ...children: (Node | string | null | undefined | false)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "for" || k === "role") el.setAttribute(k, String(v));
    else (el as unknown as Record<string, unknown>)[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

const api = new Api(location.origin);

type PageHooks = {
  api: Api;
  client: SessionClient | null;
  sessionId: string | null;
  /** Signs in (as the form would). */
  signIn(email: string, password: string): Promise<void>;
  /** Presses Join. */
  join(): Promise<void>;
};

declare global {
  interface Window {
    accord: PageHooks;
  }
}

const hooks: PageHooks = {
  api,
  client: null,
  sessionId: null,
  signIn: async (email, password) => {
    await api.signIn(email, password);
    await afterSignIn();
  },
  join: () => join(),
};
window.accord = hooks;

// ---- views -----------------------------------------------------------------

const SECTIONS = ["loading", "signin", "sessions", "check", "room"] as const;
function show(section: (typeof SECTIONS)[number]) {
  for (const s of SECTIONS) $(s).hidden = s !== section;
}

function setStatus(text: string) {
  $("status").textContent = text;
}

function describeError(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof DOMException && e.name === "NotAllowedError") return "The browser was not allowed to use the camera or microphone. Allow them in the address bar, then try again.";
  if (e instanceof DOMException && e.name === "NotFoundError") return "No camera or microphone was found.";
  if (e instanceof DOMException && e.name === "NotReadableError") return "The camera or microphone is in use by another program.";
  return e instanceof Error ? e.message : String(e);
}

function sessionIdFromPath(): string | null {
  const m = /^\/session\/([^/]+)\/?$/.exec(location.pathname);
  return m && UUID.test(m[1]!) ? m[1]!.toLowerCase() : null;
}

// ---- start -----------------------------------------------------------------

async function start() {
  hooks.sessionId = sessionIdFromPath();
  if (location.pathname.startsWith("/session/") && !hooks.sessionId) {
    show("sessions");
    $("sessions-error").textContent = "This address does not name a session.";
    return;
  }
  setStatus("Checking whether you are signed in…");
  try {
    const signedIn = await api.session();
    if (!signedIn) {
      setStatus("");
      show("signin");
      $("email").focus();
      return;
    }
    await afterSignIn();
  } catch (e) {
    setStatus("");
    show("signin");
    $("signin-error").textContent = describeError(e);
  }
}

async function afterSignIn() {
  setStatus("");
  if (hooks.sessionId) {
    show("check");
    void loadNames(hooks.sessionId);
    await startDeviceCheck();
  } else {
    show("sessions");
    await listSessions();
  }
}

$("signin-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const button = $<HTMLButtonElement>("signin-button");
  const error = $("signin-error");
  const email = $<HTMLInputElement>("email").value.trim();
  const password = $<HTMLInputElement>("password").value;
  if (!email || !password) {
    error.textContent = "Enter your email address and password.";
    return;
  }
  button.disabled = true;
  error.textContent = "";
  setStatus("Signing in…");
  hooks.signIn(email, password).then(
    () => {
      button.disabled = false;
    },
    (err: unknown) => {
      button.disabled = false;
      setStatus("");
      error.textContent = describeError(err);
    },
  );
});

async function listSessions() {
  const list = $("session-list");
  list.replaceChildren(h("li", {}, "Loading…"));
  try {
    const data = await api.graphql<{ sessions: { id: string; localStartsAt: string; status: string }[] }>("{ sessions { id localStartsAt status } }");
    list.replaceChildren(
      ...data.sessions.map((s) => h("li", {}, h("a", { href: `/session/${s.id}` }, `${s.localStartsAt.replace("T", " ").slice(0, 16)} (${s.status.toLowerCase()})`))),
    );
    if (data.sessions.length === 0) list.replaceChildren(h("li", {}, "No sessions."));
  } catch (e) {
    list.replaceChildren();
    $("sessions-error").textContent = describeError(e);
  }
}

// ---- device check ----------------------------------------------------------

let localStream: MediaStream | null = null;
let meterStop: (() => void) | null = null;

async function startDeviceCheck() {
  const error = $("check-error");
  const join = $<HTMLButtonElement>("join");
  const retry = $<HTMLButtonElement>("retry-devices");
  error.textContent = "";
  retry.hidden = true;
  join.disabled = true;
  setStatus("Starting your camera and microphone…");
  try {
    localStream ??= await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    $<HTMLVideoElement>("preview").srcObject = localStream;
    startMeter(localStream);
    join.disabled = false;
    setStatus("");
    join.focus();
  } catch (e) {
    setStatus("");
    error.textContent = describeError(e);
    retry.hidden = false;
  }
}

function startMeter(stream: MediaStream) {
  meterStop?.();
  const meter = $<HTMLMeterElement>("level");
  if (stream.getAudioTracks().length === 0 || typeof AudioContext === "undefined") return;
  const audio = new AudioContext();
  const source = audio.createMediaStreamSource(stream);
  const analyser = audio.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  let running = true;
  const tick = () => {
    if (!running) return;
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    meter.value = Math.min(1, Math.sqrt(sum / samples.length) * 4);
    requestAnimationFrame(tick);
  };
  tick();
  meterStop = () => {
    running = false;
    void audio.close();
  };
}

$("retry-devices").addEventListener("click", () => void startDeviceCheck());
$("join").addEventListener("click", () => void join().catch(() => {}));
$("rejoin").addEventListener("click", () => void join().catch(() => {}));

// ---- the session -----------------------------------------------------------

let client: SessionClient | null = null;
const tiles = new Map<string, HTMLElement>();
/** Stops watching a remote tile's size (the server hears its size, for the simulcast layer). */
const unwatch = new Map<string, () => void>();
let speaking: string | null = null;

async function join(): Promise<void> {
  if (!hooks.sessionId) throw new Error("no session in the address");
  const button = $<HTMLButtonElement>("join");
  button.disabled = true;
  $("check-error").textContent = "";
  if (!client || client.status === "closed") {
    client?.leave();
    client = new SessionClient({ baseUrl: location.origin, sessionId: hooks.sessionId, api, localStream: localStream ?? undefined });
    hooks.client = client;
    wire(client);
  }
  try {
    await client.join();
    meterStop?.();
    show("room");
    $("closed").hidden = true;
    $("closed-actions").hidden = true;
    render();
    $("main").focus();
  } catch (e) {
    button.disabled = false;
    $("check-error").textContent = describeError(e);
    setStatus("");
    throw e;
  }
}

function wire(c: SessionClient) {
  const mine = () => c === client;
  c.on("status", ({ status, message }) => {
    if (!mine()) return;
    setStatus(status === "joined" ? "Connected." : message || status);
  });
  c.on("state", () => mine() && render());
  c.on("remote", () => mine() && renderGrid());
  c.on("media", (state) => {
    if (!mine()) return;
    if (state === "failed") notice("The media connection failed; reconnecting may help (Leave, then Join again).");
    if (state === "connected") setStatus("Connected (media flowing).");
  });
  c.on("knock", (m) => mine() && notice(`${label(m.participant)} is waiting in the lobby.`));
  c.on("chat", (m) => {
    if (!mine()) return;
    const log = $("chat-log");
    log.append(h("li", {}, h("strong", {}, `${label(m.from)}: `), m.text));
    log.scrollTop = log.scrollHeight;
  });
  c.on("broadcast", (m) => mine() && notice(`From the mediator: ${m.text}`));
  c.on("timerWarning", (m) => mine() && notice(`One minute left in ${roomName(m.room)}.`));
  c.on("timerExpired", (m) => mine() && notice(`Time is up in ${roomName(m.room)}.`));
  c.on("mutedByMediator", () => {
    if (!mine()) return;
    notice("The mediator muted you.");
    render();
  });
  c.on("unmuteRequested", () => mine() && notice("The mediator asks you to unmute."));
  c.on("speaker", (m) => {
    if (!mine()) return;
    speaking = m.participant;
    for (const [id, tile] of tiles) tile.classList.toggle("speaking", id === speaking);
  });
  c.on("error", (m) => mine() && notice(`Not done: ${m.message}`));
  c.on("problem", (text) => mine() && notice(text));
  c.on("denied", (m) => mine() && m.message && notice(`The mediator says: ${m.message}`));
  c.on("closed", (closed) => {
    if (!mine()) return;
    const el = $("closed");
    el.textContent = closed.message;
    el.hidden = false;
    $("closed-actions").hidden = closed.code === 4410 || closed.code === 4424;
    setStatus("Not connected.");
    renderGrid();
  });
}

function notice(text: string) {
  const list = $("notices");
  list.append(h("li", {}, `${new Date().toLocaleTimeString()}: ${text}`));
  list.scrollTop = list.scrollHeight;
}

function participant(id: string): ParticipantView | undefined {
  return client?.participants.find((p) => p.id === id);
}

/** Display names by account id, from the session's case (best effort: ids otherwise). */
const names = new Map<string, string>();

async function loadNames(sessionId: string) {
  try {
    const { sessions } = await api.graphql<{ sessions: { id: string; caseId: string }[] }>("{ sessions { id caseId } }");
    const session = sessions.find((s) => s.id === sessionId);
    if (!session) return;
    const data = await api.graphql<{
      case: { mediator: { user: { id: string; displayName: string } } | null; parties: { userId: string | null; displayName: string }[] };
    }>("query($id: UUID!) { case(id: $id) { mediator { user { id displayName } } parties { userId displayName } } }", { id: session.caseId });
    const m = data.case.mediator?.user;
    if (m) names.set(m.id, m.displayName);
    for (const p of data.case.parties) if (p.userId) names.set(p.userId, p.displayName);
    render();
  } catch {
    // Names are a convenience; the roles and ids still tell people apart.
  }
}

/** A participant's name on screen: their name from the case, else their role and the end of their id. */
function label(id: string): string {
  const p = participant(id);
  const you = id === client?.you ? " (you)" : "";
  const role = p ? p.role[0]!.toUpperCase() + p.role.slice(1) : "Participant";
  const name = names.get(id);
  const shown = name ? (p ? `${name}, ${p.role}` : name) : `${role} …${id.slice(-6)}`;
  return `${shown}${you}`;
}

function sameRoom(a: RoomId, b: RoomId): boolean {
  return a.kind === b.kind && (a.kind !== "caucus" || (b.kind === "caucus" && a.id === b.id));
}

function roomKey(r: RoomId): string {
  return r.kind === "caucus" ? `caucus:${r.id}` : r.kind;
}

function roomFromKey(key: string): RoomId {
  if (key.startsWith("caucus:")) return { kind: "caucus", id: key.slice(7) };
  return key === "lobby" ? { kind: "lobby" } : { kind: "main" };
}

function roomName(r: RoomId): string {
  const found = client?.rooms.find((v) => sameRoom(v.id, r));
  return found?.name ?? (r.kind === "main" ? "Main room" : r.kind === "lobby" ? "Lobby" : "a caucus");
}

/** Re-renders while keeping keyboard focus on the control with the same key. */
function keepingFocus(fn: () => void) {
  const active = document.activeElement as HTMLElement | null;
  const key = active?.dataset.key;
  fn();
  if (key) document.querySelector<HTMLElement>(`[data-key="${CSS.escape(key)}"]`)?.focus();
}

function render() {
  const c = client;
  if (!c || !c.state) return;
  const me = c.me;
  const inLobby = me?.room.kind === "lobby";
  $("lobby-wait").hidden = !inLobby;
  $("room-name").textContent = me ? roomName(me.room) : "";
  const muted = me?.muted ?? false;
  const mute = $<HTMLButtonElement>("mute");
  mute.setAttribute("aria-pressed", String(muted));
  mute.textContent = muted ? "Unmute" : "Mute";
  const hand = $<HTMLButtonElement>("hand");
  hand.setAttribute("aria-pressed", String(me?.handRaised ?? false));
  hand.textContent = me?.handRaised ? "Lower hand" : "Raise hand";
  hand.disabled = inLobby;
  const share = $<HTMLButtonElement>("share");
  share.setAttribute("aria-pressed", String(c.sharing));
  share.textContent = c.sharing ? "Stop sharing" : "Share screen";
  share.disabled = inLobby;
  $("mediator").hidden = !c.isMediator;
  if (c.isMediator) keepingFocus(renderMediator);
  renderGrid();
}

function renderGrid() {
  const c = client;
  const grid = $("grid");
  if (!c || !c.state || c.status === "closed") {
    grid.replaceChildren();
    tiles.clear();
    for (const stop of unwatch.values()) stop();
    unwatch.clear();
    return;
  }
  const me = c.me;
  const here = me && me.room.kind !== "lobby" ? c.participants.filter((p) => sameRoom(p.room, me.room)) : me ? [me] : [];
  const ids = new Set(here.map((p) => p.id));
  for (const [id, tile] of tiles) {
    if (!ids.has(id)) {
      tile.remove();
      tiles.delete(id);
      unwatch.get(id)?.();
      if (unwatch.delete(id)) c.removeTile(id, "camera");
    }
  }
  for (const p of here) {
    let tile = tiles.get(p.id);
    if (!tile) {
      const video = h("video", { autoplay: true, playsInline: true, muted: p.id === c.you, "aria-label": `Video of ${label(p.id)}` });
      tile = h("figure", { className: "tile", "data-participant": p.id }, video, h("figcaption", {}));
      tiles.set(p.id, tile);
      const id = p.id;
      if (id !== c.you) unwatch.set(id, watchSize(video, (width, height) => c.setTileSize(id, "camera", width, height)));
    }
    grid.append(tile); // keeps the order of the state
    const video = tile.querySelector("video")!;
    const stream: MediaStream | null = p.id === c.you ? (c.localStream ?? null) : (c.remote.get(p.id)?.stream ?? null);
    if (video.srcObject !== stream) video.srcObject = stream;
    const remote: RemoteMedia | undefined = c.remote.get(p.id);
    const flags = [p.muted ? "muted" : "", p.handRaised ? "hand raised" : "", p.sharing ? "sharing" : "", p.id !== c.you && !remote ? "no video yet" : ""].filter(Boolean);
    tile.querySelector("figcaption")!.textContent = `${label(p.id)}${flags.length ? ` (${flags.join(", ")})` : ""}`;
    tile.classList.toggle("speaking", p.id === speaking);
  }
}

function renderMediator() {
  const c = client!;
  const lobby = c.participants.filter((p) => p.room.kind === "lobby");
  $("lobby").replaceChildren(
    ...lobby.map((p) =>
      h(
        "li",
        { "data-participant": p.id },
        h("span", {}, label(p.id)),
        h("button", { type: "button", "data-key": `admit:${p.id}`, "data-action": "admit", "aria-label": `Admit ${label(p.id)}`, onclick: () => c.admit(p.id) }, "Admit"),
        h("button", { type: "button", "data-key": `deny:${p.id}`, "data-action": "deny", "aria-label": `Deny ${label(p.id)}`, onclick: () => c.deny(p.id) }, "Deny"),
      ),
    ),
  );
  if (lobby.length === 0) $("lobby").replaceChildren(h("li", {}, "Nobody is waiting."));
  const rooms = c.rooms.filter((r) => r.id.kind !== "lobby");
  $("rooms").replaceChildren(...rooms.map((r) => renderRoom(c, r, rooms)));
  const lock = $<HTMLButtonElement>("lock");
  lock.setAttribute("aria-pressed", String(c.state!.locked));
  lock.textContent = c.state!.locked ? "Unlock session" : "Lock session";
}

function renderRoom(c: SessionClient, r: RoomView, rooms: RoomView[]): HTMLElement {
  const people = c.participants.filter((p) => sameRoom(p.room, r.id));
  const key = roomKey(r.id);
  const headingId = `room-${key.replace(/[^a-z0-9-]/gi, "-")}`;
  const timer = r.timerRemainingMs !== null ? ` (${Math.ceil(r.timerRemainingMs / 60000)} min left)` : "";
  return h(
    "section",
    { className: "room", "data-room": key, "aria-labelledby": headingId },
    h("h5", { id: headingId }, `${r.name}${timer}`),
    h(
      "ul",
      { className: "people" },
      ...people.map((p) => {
        const selectId = `move-${p.id}`;
        const select = h(
          "select",
          { id: selectId, "data-key": `moveto:${p.id}` },
          ...rooms.filter((o) => !sameRoom(o.id, r.id)).map((o) => h("option", { value: roomKey(o.id) }, o.name)),
        );
        return h(
          "li",
          { "data-participant": p.id },
          h("span", {}, label(p.id)),
          h("label", { for: selectId, className: "visually-hidden" }, `Move ${label(p.id)} to`),
          select,
          h("button", { type: "button", "data-key": `move:${p.id}`, "data-action": "move", "aria-label": `Move ${label(p.id)}`, onclick: () => select.value && c.move(p.id, roomFromKey(select.value)) }, "Move"),
          p.role !== "mediator" && !p.muted ? h("button", { type: "button", "data-key": `mute:${p.id}`, "aria-label": `Mute ${label(p.id)}`, onclick: () => c.mute(p.id) }, "Mute") : null,
          p.role !== "mediator" && p.muted ? h("button", { type: "button", "data-key": `askunmute:${p.id}`, "aria-label": `Ask ${label(p.id)} to unmute`, onclick: () => c.askUnmute(p.id) }, "Ask to unmute") : null,
          p.role !== "mediator" ? h("button", { type: "button", "data-key": `remove:${p.id}`, "aria-label": `Remove ${label(p.id)}`, onclick: () => confirm(`Remove ${label(p.id)} from the session? They cannot come back.`) && c.remove(p.id) }, "Remove") : null,
        );
      }),
    ),
    r.id.kind === "caucus" && people.length === 0 ? h("button", { type: "button", "data-key": `close:${key}`, onclick: () => c.closeCaucus(r.id) }, "Close this caucus") : null,
  );
}

// ---- controls --------------------------------------------------------------

$("mute").addEventListener("click", () => client?.setMuted(!(client.me?.muted ?? false)));
$("hand").addEventListener("click", () => client?.setHand(!(client.me?.handRaised ?? false)));
$("share").addEventListener("click", () => {
  const c = client;
  if (!c) return;
  (c.sharing ? c.stopScreenShare() : c.startScreenShare()).then(render, (e: unknown) => notice(`Screen sharing: ${describeError(e)}`));
});
$("leave").addEventListener("click", () => {
  client?.leave();
});
$("recall").addEventListener("click", () => client?.recallAll());
$("lock").addEventListener("click", () => client?.lock(!(client.state?.locked ?? false)));
$("caucus-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $<HTMLInputElement>("caucus-name");
  const name = input.value.trim();
  if (name && client?.createCaucus(name)) input.value = "";
});
$("broadcast-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $<HTMLInputElement>("broadcast-text");
  if (input.value.trim() && client?.broadcast(input.value.trim())) input.value = "";
});
$("chat-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $<HTMLInputElement>("chat-text");
  if (input.value.trim() && client?.chat(input.value.trim())) input.value = "";
});

void start();
