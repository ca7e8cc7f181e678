// The video tiles of one's room: everyone's camera, and a shared screen.
// A screen share takes the stage; otherwise the active speaker does once
// they have spoken for a moment. Tiles keep their React keys (and so their
// <video> elements) whatever is staged: the stage is a CSS class.

import { useEffect, useRef, useState } from "react";
import type { ParticipantView } from "../protocol";
import type { RemoteMedia, SessionClient } from "../session";
import { watchSize, type TileSource } from "../tiles";
import { applySpeaker } from "./deviceChoice";
import { live } from "./strings";

/** How long someone must stay the active speaker before they take the stage, ms. */
export const STAGE_HOLD_MS = 3000;

function Video({
  stream,
  muted,
  label,
  client,
  participant,
  source,
  speakerId = null,
}: {
  speakerId?: string | null;
  stream: MediaStream | null;
  muted: boolean;
  label: string;
  client: SessionClient | null;
  /** A remote tile: the server hears its size (for the simulcast layer). */
  participant?: string;
  source?: TileSource;
}) {
  const ref = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    const v = ref.current;
    if (!v) return;
    v.muted = muted;
    if (v.srcObject !== stream) v.srcObject = stream;
  }, [stream, muted]);
  useEffect(() => {
    const v = ref.current;
    if (v && !muted && speakerId) void applySpeaker(v, speakerId).catch(() => {});
  }, [muted, speakerId]);
  useEffect(() => {
    const v = ref.current;
    if (!v || !client || !participant || !source) return;
    const stop = watchSize(v, (w, h) => client.setTileSize(participant, source, w, h));
    return () => {
      stop();
      client.removeTile(participant, source);
    };
  }, [client, participant, source]);
  return <video ref={ref} autoPlay playsInline muted={muted} aria-label={label} />;
}

/** The speaker who has held the floor for STAGE_HOLD_MS (null until someone has). */
export function useStagedSpeaker(speaker: string | null, candidates: readonly string[]): string | null {
  const [staged, setStaged] = useState<string | null>(null);
  const key = candidates.join(",");
  useEffect(() => {
    if (!speaker || !key.split(",").includes(speaker) || speaker === staged) return;
    const t = setTimeout(() => setStaged(speaker), STAGE_HOLD_MS);
    return () => clearTimeout(t);
  }, [speaker, staged, key]);
  return staged && candidates.includes(staged) ? staged : null;
}

export function TileGrid({
  client,
  people,
  you,
  remote,
  speaker,
  label,
  localStream,
  cameraOn,
  speakerId = null,
}: {
  /** Where remote sound plays. */
  speakerId?: string | null;
  client: SessionClient | null;
  /** Who is in this person's room (themselves included). */
  people: readonly ParticipantView[];
  you: string | undefined;
  remote: readonly RemoteMedia[];
  speaker: string | null;
  label: (id: string) => string;
  localStream: MediaStream | null;
  cameraOn: boolean;
}) {
  const byId = new Map(remote.map((r) => [r.participant, r]));
  const screens = people.filter((p) => p.id !== you && p.sharing && byId.get(p.id)?.screen);
  const stagedSpeaker = useStagedSpeaker(
    speaker,
    people.filter((p) => p.id !== you).map((p) => p.id),
  );
  const stage = screens[0] ? `screen:${screens[0].id}` : people.length > 2 && stagedSpeaker ? `camera:${stagedSpeaker}` : null;
  return (
    <div id="grid" className={`live-grid${stage ? " has-stage" : ""}`}>
      {screens.map((p) => (
        <figure key={`screen:${p.id}`} className={`live-tile screen${stage === `screen:${p.id}` ? " staged" : ""}`} data-screen={p.id}>
          <Video stream={byId.get(p.id)?.screen ?? null} muted label={live.screenOf(label(p.id))} client={client} participant={p.id} source="screen" />
          <figcaption>{live.screenOf(label(p.id))}</figcaption>
        </figure>
      ))}
      {people.map((p) => {
        const self = p.id === you;
        const media = byId.get(p.id);
        const flags = [
          p.muted ? live.flags.muted : "",
          p.handRaised ? live.flags.hand : "",
          p.sharing ? live.flags.sharing : "",
          !self && !media ? live.flags.noVideo : "",
          self && !cameraOn ? live.cameraIsOff : "",
          speaker === p.id ? live.flags.speaking : "",
        ].filter(Boolean);
        const staged = stage === `camera:${p.id}`;
        return (
          <figure key={p.id} className={`live-tile${speaker === p.id ? " speaking" : ""}${staged ? " staged" : ""}${self ? " self" : ""}`} data-participant={p.id}>
            {self ? (
              <Video stream={localStream} muted label={live.videoOf(label(p.id))} client={null} />
            ) : (
              <Video stream={media?.stream ?? null} muted={false} label={live.videoOf(label(p.id))} client={client} participant={p.id} source="camera" speakerId={speakerId} />
            )}
            <figcaption>
              <span className="live-name">{label(p.id)}</span>
              {flags.length ? <span className="live-flags"> ({flags.join(", ")})</span> : null}
            </figcaption>
          </figure>
        );
      })}
    </div>
  );
}
