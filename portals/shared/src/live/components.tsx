// The pieces both live pages show: the session's summary before joining,
// the own controls (microphone, camera, devices, hand, screen, leave), chat,
// the notices log, and the "your connection is unstable" banner.

import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from "react";
import { Alert, Button } from "../ui/components";
import { formatDateTime, formatTimeWithZone } from "../ui/format";
import { constraintFor, describeProblem, devicesOf, type Device } from "./deviceChoice";
import type { ParticipantView } from "../protocol";
import { useLive, type CaseInfo, type SessionRow } from "./hooks";
import { TileGrid } from "./tiles";
import type { LinkSample } from "./quality";
import { fitCameraForSending } from "./media";
import type { ChatLine, LiveStore, Notice } from "./store";
import type { PeerSecurity } from "./e2ee/manager";
import { live } from "./strings";

const time = (at: number) => new Date(at).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

/** The case reference, title and time of the session (in the viewer's zone). */
export function SessionSummary({ session, caseInfo, timeZone }: { session: SessionRow | null; caseInfo: CaseInfo | null; timeZone: string }) {
  if (!session) return null;
  return (
    <dl className="live-summary">
      {caseInfo ? (
        <div>
          <dt>{live.caseLabel}</dt>
          <dd>
            <span className="live-ref">{caseInfo.reference}</span> · {caseInfo.title}
          </dd>
        </div>
      ) : null}
      <div>
        <dt>{live.whenLabel}</dt>
        <dd>
          <time dateTime={session.startsAt}>{formatDateTime(session.startsAt, { timeZone })}</time> – <time dateTime={session.endsAt}>{formatTimeWithZone(session.endsAt, { timeZone })}</time>
        </dd>
      </div>
    </dl>
  );
}

/** Whether a session can still be joined, and words for why not. */
export function sessionOver(session: SessionRow | null, now = Date.now()): string | null {
  if (!session) return null;
  if (session.status === "CANCELLED") return live.cancelled;
  if (session.status === "COMPLETED" || Date.parse(session.endsAt) < now) return live.ended;
  return null;
}

export function NoticesLog({ notices }: { notices: readonly Notice[] }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [notices.length]);
  const id = useId();
  return (
    <section className="live-panel" aria-labelledby={id}>
      <h2 id={id}>{live.noticesTitle}</h2>
      {notices.length === 0 ? <p className="muted">{live.noticesEmpty}</p> : null}
      <div role="log" aria-live="polite" aria-labelledby={id} className="live-log" ref={ref} tabIndex={0}>
        <ol id="notices">
          {notices.map((n) => (
            <li key={n.id}>
              <time dateTime={new Date(n.at).toISOString()}>{time(n.at)}</time> {n.text}
            </li>
          ))}
        </ol>
      </div>
    </section>
  );
}

export function ChatPanel({ chat, label, onSend, disabled }: { chat: readonly ChatLine[]; label: (id: string) => string; onSend: (text: string) => boolean; disabled: boolean }) {
  const [text, setText] = useState("");
  const ref = useRef<HTMLDivElement>(null);
  const id = useId();
  useEffect(() => {
    const el = ref.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [chat.length]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const t = text.trim();
    if (t && onSend(t)) setText("");
  };
  return (
    <section className="live-panel" aria-labelledby={id}>
      <h2 id={id}>{live.chatTitle}</h2>
      {chat.length === 0 ? <p className="muted">{live.chatEmpty}</p> : null}
      <div role="log" aria-live="polite" aria-labelledby={id} className="live-log" ref={ref} tabIndex={0}>
        <ol id="chat-log">
          {chat.map((m) => (
            <li key={m.id}>
              <strong>{label(m.from)}:</strong> {m.text}
            </li>
          ))}
        </ol>
      </div>
      <form onSubmit={submit} className="live-inline-form">
        <label htmlFor={`${id}-text`}>{live.chatLabel}</label>
        <div className="row">
          <input id={`${id}-text`} maxLength={2000} value={text} onChange={(e) => setText(e.target.value)} disabled={disabled} autoComplete="off" />
          <Button type="submit" disabled={disabled || !text.trim()}>
            {live.send}
          </Button>
        </div>
      </form>
    </section>
  );
}

export function ConnectionBanner({ unstable, last }: { unstable: boolean; last: LinkSample | null }) {
  return (
    <div className="live-banner" role="status" aria-live="polite">
      {unstable ? (
        <Alert kind="warn">
          {live.unstable}
          {last && (last.loss !== null || last.rttMs !== null) ? <span className="muted"> ({live.unstableDetail(last.loss, last.rttMs)})</span> : null}
        </Alert>
      ) : null}
    </div>
  );
}

function useDevices(active: boolean): Device[] {
  const [devices, setDevices] = useState<Device[]>([]);
  useEffect(() => {
    const md = typeof navigator !== "undefined" ? navigator.mediaDevices : undefined;
    if (!active || !md?.enumerateDevices) return;
    let live = true;
    const read = () =>
      md.enumerateDevices().then(
        (list) => live && setDevices(list.map((d) => ({ deviceId: d.deviceId, kind: d.kind, label: d.label, groupId: d.groupId }))),
        () => {},
      );
    void read();
    md.addEventListener?.("devicechange", read);
    return () => {
      live = false;
      md.removeEventListener?.("devicechange", read);
    };
  }, [active]);
  return devices;
}

/**
 * The person's own controls: microphone and camera on or off, which camera
 * and microphone (switched without rejoining), hand, screen, leave.
 */
export function SelfControls({ store, muted, handRaised, inLobby, sharing, extra }: { store: LiveStore; muted: boolean; handRaised: boolean; inLobby: boolean; sharing: boolean; extra?: ReactNode }) {
  const client = store.client;
  const local = client?.localStream;
  const cameraTrack = local?.getVideoTracks()[0] ?? null;
  const micTrack = local?.getAudioTracks()[0] ?? null;
  const devices = useDevices(!!client);
  const cameras = devicesOf(devices, "videoinput");
  const mics = devicesOf(devices, "audioinput");
  const [camId, setCamId] = useState<string | null>(null);
  const [micId, setMicId] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const cameraValue = camId ?? cameraTrack?.getSettings().deviceId ?? cameras[0]?.deviceId ?? "";
  const micValue = micId ?? micTrack?.getSettings().deviceId ?? mics[0]?.deviceId ?? "";
  const canShare = typeof navigator !== "undefined" && !!navigator.mediaDevices && "getDisplayMedia" in navigator.mediaDevices;
  const uid = useId();

  const switchTo = async (kind: "videoinput" | "audioinput", deviceId: string | null) => {
    if (!client) return;
    setBusy(true);
    try {
      let track: MediaStreamTrack | null = null;
      if (deviceId !== null || kind === "audioinput") {
        const stream = await navigator.mediaDevices.getUserMedia(kind === "videoinput" ? { video: constraintFor(deviceId, kind) } : { audio: constraintFor(deviceId, kind) });
        track = (kind === "videoinput" ? stream.getVideoTracks() : stream.getAudioTracks())[0] ?? null;
        if (track && kind === "videoinput") await fitCameraForSending(track);
      }
      await client.replaceLocalTrack(kind === "videoinput" ? "video" : "audio", track);
      store.localChanged();
    } catch (e) {
      store.notice(`${live.deviceSwitchFailed(kind === "videoinput" ? "camera" : "microphone")}: ${describeProblem(e, kind === "videoinput" ? "camera" : "microphone").message}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="live-controls" role="toolbar" aria-label={live.controls}>
      <Button onClick={() => client?.setMuted(!muted)} data-action="microphone" disabled={!client}>
        {muted ? live.micTurnOn : live.micTurnOff}
      </Button>
      <Button
        onClick={() => {
          // Turning the camera off stops it (its light goes out); on again, the same camera.
          if (cameraTrack) setCamId(cameraTrack.getSettings().deviceId ?? camId);
          void switchTo("videoinput", cameraTrack ? null : cameraValue || null);
        }}
        disabled={!client || busy}
        data-action="camera"
      >
        {cameraTrack ? live.cameraTurnOff : live.cameraTurnOn}
      </Button>
      {cameras.length > 1 ? (
        <span className="live-device">
          <label htmlFor={`${uid}-cam`}>{live.camera}</label>
          <select
            id={`${uid}-cam`}
            value={cameraValue}
            disabled={busy}
            onChange={(e) => {
              setCamId(e.target.value);
              void switchTo("videoinput", e.target.value);
            }}
          >
            {cameras.map((d) => (
              <option key={d.deviceId} value={d.deviceId}>
                {d.label}
              </option>
            ))}
          </select>
        </span>
      ) : null}
      {mics.length > 1 ? (
        <span className="live-device">
          <label htmlFor={`${uid}-mic`}>{live.microphone}</label>
          <select
            id={`${uid}-mic`}
            value={micValue}
            disabled={busy}
            onChange={(e) => {
              setMicId(e.target.value);
              void switchTo("audioinput", e.target.value);
            }}
          >
            {mics.map((d) => (
              <option key={d.deviceId} value={d.deviceId}>
                {d.label}
              </option>
            ))}
          </select>
        </span>
      ) : null}
      <Button onClick={() => client?.setHand(!handRaised)} disabled={!client || inLobby} data-action="hand">
        {handRaised ? live.lowerHand : live.raiseHand}
      </Button>
      {canShare ? (
        <Button
          disabled={!client || inLobby}
          data-action="share"
          onClick={() => {
            if (!client) return;
            (client.sharing ? client.stopScreenShare() : client.startScreenShare()).then(
              () => store.localChanged(),
              (e: unknown) => store.notice(live.notice.shareFailed(e instanceof Error ? e.message : String(e))),
            );
          }}
        >
          {sharing ? live.stopShare : live.share}
        </Button>
      ) : null}
      {extra}
      <Button variant="danger" onClick={() => store.leave()} data-action="leave">
        {live.leave}
      </Button>
    </div>
  );
}

/**
 * The person's own room, as both session pages show it: the unstable-link
 * warning, their controls, and the tiles of the people with them (`here`).
 */
export function OwnRoom({ store, here, label, health }: { store: LiveStore; here: readonly ParticipantView[]; label: (id: string) => string; health: { unstable: boolean; last: LinkSample | null } }) {
  const snap = useLive(store);
  const client = store.client;
  const you = snap.state?.you ?? "";
  const me = snap.state?.participants.find((p) => p.id === you);
  if (!client) return null;
  return (
    <>
      <ConnectionBanner unstable={health.unstable} last={health.last} />
      <SelfControls store={store} muted={me?.muted ?? false} handRaised={me?.handRaised ?? false} inLobby={me?.room.kind === "lobby"} sharing={snap.sharing} />
      {me && me.room.kind !== "lobby" ? <EncryptionPanel store={store} here={here} you={you} label={label} /> : null}
      <section aria-label={live.tilesTitle}>
        <TileGrid
          client={client}
          people={here}
          you={you}
          remote={snap.remote}
          speaker={snap.speaker}
          label={label}
          localStream={client.localStream ?? null}
          cameraOn={(client.localStream?.getVideoTracks().length ?? 0) > 0}
          speakerId={snap.speakerId}
        />
      </section>
    </>
  );
}

/** How the people in one's room are secured: the end-to-end mark, and each person's key state and safety number. */
export function encryptionMark(enabled: boolean, others: readonly ParticipantView[], security: ReadonlyMap<string, PeerSecurity>): "on" | "securing" | "off" {
  if (!enabled) return "off";
  return others.every((p) => security.get(p.id)?.keyReceived) ? "on" : "securing";
}

export function EncryptionPanel({ store, here, you, label }: { store: LiveStore; here: readonly ParticipantView[]; you: string; label: (id: string) => string }) {
  const snap = useLive(store);
  const id = useId();
  const others = here.filter((p) => p.id !== you && p.connected);
  const mark = encryptionMark(snap.e2ee, others, snap.security);
  return (
    <section className="live-panel live-e2ee" aria-labelledby={id} data-e2ee={mark}>
      <h2 id={id}>{live.e2ee.title}</h2>
      <p className={`live-e2ee-mark live-e2ee-${mark}`} role="status">
        <strong>{mark === "on" ? live.e2ee.on : mark === "securing" ? live.e2ee.securing : live.e2ee.off}</strong>{" "}
        {mark === "on" ? live.e2ee.explainOn : mark === "securing" ? live.e2ee.explainSecuring : live.e2ee.explainOff}
      </p>
      {snap.e2ee ? (
        others.length === 0 ? (
          <p className="muted">{live.e2ee.noOne}</p>
        ) : (
          <>
            <p className="muted">{live.e2ee.compare}</p>
            <table className="live-e2ee-people">
              <caption>{live.e2ee.people}</caption>
              <thead>
                <tr>
                  <th scope="col">{live.e2ee.people}</th>
                  <th scope="col">{live.e2ee.safetyNumber}</th>
                </tr>
              </thead>
              <tbody>
                {others.map((p) => {
                  const sec = snap.security.get(p.id);
                  const state = sec?.invalid ? live.e2ee.invalid : sec?.keyReceived ? live.e2ee.keyReceived : live.e2ee.waitingKey;
                  return (
                    <tr key={p.id} data-participant={p.id}>
                      <th scope="row">
                        {label(p.id)} <span className="muted">({state})</span>
                      </th>
                      <td>
                        <code className="live-safety-number">{sec?.safetyNumber ?? "…"}</code>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </>
        )
      ) : null}
    </section>
  );
}
