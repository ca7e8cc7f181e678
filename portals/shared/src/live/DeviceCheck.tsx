// The pre-join device check: camera, microphone and speaker choice, a camera
// preview, a microphone level meter and a test sound, with words for every
// way a device can fail. The session pages show it before "Join the session".
//
// Usage:
//
//   import { DeviceCheck, type DeviceSelection } from "@accord/shared";
//
//   const [selection, setSelection] = useState<DeviceSelection | null>(null);
//   <DeviceCheck onChange={setSelection} />
//   <button disabled={!selection} onClick={() => join(selection.handOver())}>Join the session</button>
//
// Props (all optional):
//   onChange(selection: DeviceSelection | null)
//       Called whenever the selection changes: a DeviceSelection while both
//       the camera and the microphone deliver, null while either does not
//       (starting, refused, missing, unplugged, being switched).
//   onReady(selection: DeviceSelection)
//       Called with each selection that works (the non-null calls of
//       onChange), for callers that only care about the ready state.
//   initial: { cameraId?, microphoneId?, speakerId? }
//       Devices to prefer, e.g. remembered from last time; ignored when the
//       browser no longer lists them.
//   headingLevel: 2 | 3 (default 2)
//       The level of the check's heading in the page.
//
// DeviceSelection:
//   stream        a MediaStream with the chosen camera's video track and the
//                 chosen microphone's audio track;
//   cameraId, microphoneId
//                 their device ids;
//   speakerId     the chosen output device ("default" for the system's), or
//                 null where the browser cannot choose (no setSinkId): apply it
//                 to remote audio with `applySpeaker(element, speakerId)`;
//   handOver()    returns the stream, whose tracks are then the caller's: the
//                 check never stops them (not on unmount, nor when another
//                 device is chosen); every other track it opened, it stops.

import { useCallback, useEffect, useId, useMemo, useRef, useState } from "react";
import { Alert, Button, SelectField } from "../ui/components";
import {
  HEARD_LEVEL,
  applySpeaker,
  canChooseSpeaker,
  chimeWav,
  chooseDevice,
  constraintFor,
  describeProblem,
  deviceWords,
  devicesOf,
  levelOf,
  type Device,
  type DeviceProblem,
} from "./deviceChoice";
import "./DeviceCheck.css";

export { applySpeaker, canChooseSpeaker, chooseDevice, describeProblem, deviceWords, devicesOf, problemCode, type Device, type DeviceProblem } from "./deviceChoice";

/** The devices chosen and working, handed to the session. */
export type DeviceSelection = {
  stream: MediaStream;
  cameraId: string | null;
  microphoneId: string | null;
  speakerId: string | null;
  /** The stream, whose tracks keep running after the check unmounts. */
  handOver(): MediaStream;
};

export type DeviceChoices = { cameraId?: string | null; microphoneId?: string | null; speakerId?: string | null };

export type DeviceCheckProps = {
  onChange?: (selection: DeviceSelection | null) => void;
  onReady?: (selection: DeviceSelection) => void;
  initial?: DeviceChoices;
  headingLevel?: 2 | 3;
};

type Kind = "videoinput" | "audioinput";
const what = (kind: Kind) => (kind === "videoinput" ? "camera" : "microphone");

function mediaDevices(): MediaDevices | null {
  return typeof navigator !== "undefined" && navigator.mediaDevices && typeof navigator.mediaDevices.getUserMedia === "function" ? navigator.mediaDevices : null;
}

async function listDevices(md: MediaDevices): Promise<Device[]> {
  const all = await md.enumerateDevices();
  return all.map((d) => ({ deviceId: d.deviceId, kind: d.kind, label: d.label, groupId: d.groupId }));
}

/** The device id a live track reports, when it reports one. */
const idOf = (track: MediaStreamTrack | null) => (track ? (track.getSettings().deviceId ?? null) : null);

export function DeviceCheck({ onChange, onReady, initial, headingLevel = 2 }: DeviceCheckProps) {
  const H = headingLevel === 2 ? "h2" : "h3";
  const headingId = useId();
  const [devices, setDevices] = useState<Device[]>([]);
  const [cameraId, setCameraId] = useState<string | null>(initial?.cameraId ?? null);
  const [microphoneId, setMicrophoneId] = useState<string | null>(initial?.microphoneId ?? null);
  const [speakerId, setSpeakerId] = useState<string | null>(initial?.speakerId ?? null);
  const [video, setVideo] = useState<MediaStreamTrack | null>(null);
  const [audio, setAudio] = useState<MediaStreamTrack | null>(null);
  const [problems, setProblems] = useState<{ videoinput: DeviceProblem | null; audioinput: DeviceProblem | null }>({ videoinput: null, audioinput: null });
  const [starting, setStarting] = useState<{ videoinput: boolean; audioinput: boolean }>({ videoinput: true, audioinput: true });
  const [speakerProblem, setSpeakerProblem] = useState<string | null>(null);
  const [playing, setPlaying] = useState(false);
  const speakerChoice = useMemo(canChooseSpeaker, []);

  // What the effects and handlers need without re-running: the open tracks
  // (to stop them), those handed over (never stopped here), a counter per kind so a
  // late answer for a device no longer wanted is dropped, and the callbacks.
  const tracks = useRef<{ videoinput: MediaStreamTrack | null; audioinput: MediaStreamTrack | null }>({ videoinput: null, audioinput: null });
  const handedOver = useRef(new WeakSet<MediaStreamTrack>());
  const mounted = useRef(true);
  const generation = useRef({ videoinput: 0, audioinput: 0 });
  const chosen = useRef({ videoinput: cameraId, audioinput: microphoneId });
  chosen.current = { videoinput: cameraId, audioinput: microphoneId };
  const latestProblems = useRef(problems);
  latestProblems.current = problems;
  const callbacks = useRef({ onChange, onReady });
  callbacks.current = { onChange, onReady };

  const setTrack = useCallback((kind: Kind, track: MediaStreamTrack | null) => {
    tracks.current[kind] = track;
    (kind === "videoinput" ? setVideo : setAudio)(track);
  }, []);

  const refreshDevices = useCallback(async () => {
    const md = mediaDevices();
    if (!md) return;
    try {
      const list = await listDevices(md);
      if (!mounted.current) return;
      setDevices(list);
      const inUse = (kind: Kind) => idOf(tracks.current[kind]);
      setCameraId((wanted) => chooseDevice(devicesOf(list, "videoinput"), { wanted: inUse("videoinput") ?? wanted, inUse: inUse("videoinput") }));
      setMicrophoneId((wanted) => {
        // A track on the system default reports the real device's id; keep "default" chosen then.
        const current = inUse("audioinput");
        const keep = wanted === "default" && tracks.current.audioinput ? "default" : (current ?? wanted);
        return chooseDevice(devicesOf(list, "audioinput"), { wanted: keep, inUse: current });
      });
      setSpeakerId((wanted) => chooseDevice(devicesOf(list, "audiooutput"), { wanted }));
    } catch {
      // Listing failed (rare): the selects keep what they showed.
    }
  }, []);

  /** Makes a new track the one in use for its kind, watching for its end. */
  const accept = useCallback(
    (kind: Kind, track: MediaStreamTrack) => {
      track.onended = () => {
        if (tracks.current[kind] !== track) return;
        setTrack(kind, null);
        setProblems((p) => ({ ...p, [kind]: { code: "missing", message: deviceWords.problems.lost[what(kind)] } }));
        void refreshDevices();
      };
      setTrack(kind, track);
      setProblems((p) => ({ ...p, [kind]: null }));
    },
    [refreshDevices, setTrack],
  );

  /** Stops the track of a kind before another is opened (some cameras open only once). */
  const release = useCallback(
    (kind: Kind) => {
      const old = tracks.current[kind];
      if (!old) return;
      old.onended = null;
      if (!handedOver.current.has(old)) old.stop();
      setTrack(kind, null);
    },
    [setTrack],
  );

  /** Opens one kind of device (stopping the one it replaces), or records why it cannot. */
  const open = useCallback(
    async (kind: Kind, deviceId: string | null) => {
      const md = mediaDevices();
      const gen = ++generation.current[kind];
      release(kind);
      setProblems((p) => ({ ...p, [kind]: null }));
      if (!md) {
        const insecure = typeof window !== "undefined" && window.isSecureContext === false;
        setProblems((p) => ({ ...p, [kind]: describeProblem({ name: insecure ? "SecurityError" : "TypeError" }, what(kind)) }));
        setStarting((s) => ({ ...s, [kind]: false }));
        return;
      }
      setStarting((s) => ({ ...s, [kind]: true }));
      try {
        const constraints = constraintFor(deviceId, kind);
        const stream = await md.getUserMedia(kind === "videoinput" ? { video: constraints } : { audio: constraints });
        const track = (kind === "videoinput" ? stream.getVideoTracks() : stream.getAudioTracks())[0] ?? null;
        if (!mounted.current || gen !== generation.current[kind]) {
          stream.getTracks().forEach((t) => t.stop());
          return;
        }
        if (!track) throw Object.assign(new Error("no track"), { name: "NotFoundError" });
        accept(kind, track);
      } catch (e) {
        if (!mounted.current || gen !== generation.current[kind]) return;
        setProblems((p) => ({ ...p, [kind]: describeProblem(e, what(kind)) }));
      } finally {
        if (mounted.current && gen === generation.current[kind]) setStarting((s) => ({ ...s, [kind]: false }));
      }
      // Labels and ids come with permission; list again now.
      await refreshDevices();
    },
    [accept, refreshDevices, release],
  );

  /**
   * Opens both devices with one request (one permission prompt); when that
   * fails, each on its own, to say which one does not work.
   */
  const start = useCallback(async () => {
    const md = mediaDevices();
    if (md) {
      const gen = { videoinput: ++generation.current.videoinput, audioinput: ++generation.current.audioinput };
      const current = () => mounted.current && gen.videoinput === generation.current.videoinput && gen.audioinput === generation.current.audioinput;
      release("videoinput");
      release("audioinput");
      setStarting({ videoinput: true, audioinput: true });
      try {
        const stream = await md.getUserMedia({
          video: constraintFor(chosen.current.videoinput, "videoinput"),
          audio: constraintFor(chosen.current.audioinput, "audioinput"),
        });
        const v = stream.getVideoTracks()[0];
        const a = stream.getAudioTracks()[0];
        if (current() && v && a) {
          accept("videoinput", v);
          accept("audioinput", a);
          setStarting({ videoinput: false, audioinput: false });
          await refreshDevices();
          return;
        }
        stream.getTracks().forEach((t) => t.stop());
      } catch {
        // Which one failed is found out below.
      }
      if (!current()) return;
    }
    await open("audioinput", chosen.current.audioinput);
    await open("videoinput", chosen.current.videoinput);
  }, [accept, open, refreshDevices, release]);

  // Start on mount; stop everything on unmount unless handed over.
  useEffect(() => {
    mounted.current = true;
    void start();
    const md = mediaDevices();
    const onDeviceChange = () => {
      void refreshDevices().then(() => {
        // A device plugged in after "no camera/microphone": try it at once.
        for (const kind of ["videoinput", "audioinput"] as const) {
          if (!tracks.current[kind] && latestProblems.current[kind]?.code === "missing") void open(kind, null);
        }
      });
    };
    md?.addEventListener?.("devicechange", onDeviceChange);
    return () => {
      mounted.current = false;
      md?.removeEventListener?.("devicechange", onDeviceChange);
      for (const kind of ["videoinput", "audioinput"] as const) {
        const t = tracks.current[kind];
        if (!t) continue;
        t.onended = null;
        if (!handedOver.current.has(t)) t.stop();
      }
    };
    // Once per mount: `start` and `open` are stable.
  }, []); // eslint-disable-line react-hooks/exhaustive-deps

  // Tell the caller what works now.
  const selection = useMemo<DeviceSelection | null>(() => {
    if (!video || !audio || video.readyState !== "live" || audio.readyState !== "live") return null;
    const stream = new MediaStream([video, audio]);
    return {
      stream,
      cameraId,
      microphoneId,
      speakerId: speakerChoice ? speakerId : null,
      handOver() {
        handedOver.current.add(video);
        handedOver.current.add(audio);
        return stream;
      },
    };
  }, [video, audio, cameraId, microphoneId, speakerId, speakerChoice]);
  useEffect(() => {
    callbacks.current.onChange?.(selection);
    if (selection) callbacks.current.onReady?.(selection);
  }, [selection]);

  const cameras = devicesOf(devices, "videoinput");
  const microphones = devicesOf(devices, "audioinput");
  const speakers = devicesOf(devices, "audiooutput");
  const anyProblem = problems.videoinput || problems.audioinput;

  const choose = (kind: Kind, id: string) => {
    (kind === "videoinput" ? setCameraId : setMicrophoneId)(id);
    void open(kind, id);
  };

  const retry = () => {
    const missing = (["videoinput", "audioinput"] as const).filter((kind) => !tracks.current[kind]);
    if (missing.length === 2) void start();
    else for (const kind of missing) void open(kind, chosen.current[kind]);
  };

  const testSpeaker = async () => {
    setSpeakerProblem(null);
    const url = URL.createObjectURL(new Blob([chimeWav() as BlobPart], { type: "audio/wav" }));
    const el = new Audio();
    el.src = url;
    const done = () => {
      setPlaying(false);
      URL.revokeObjectURL(url);
    };
    el.onended = done;
    setPlaying(true);
    try {
      if (speakerChoice) await applySpeaker(el, speakerId);
      await el.play();
    } catch {
      done();
      setSpeakerProblem(deviceWords.problems.speaker);
    }
  };

  return (
    <section className="device-check" aria-labelledby={headingId}>
      <H id={headingId}>{deviceWords.title}</H>
      <p className="muted">{deviceWords.intro}</p>
      {problems.videoinput ? <Alert kind="error">{problems.videoinput.message}</Alert> : null}
      {problems.audioinput ? <Alert kind="error">{problems.audioinput.message}</Alert> : null}
      {anyProblem ? (
        <p>
          <Button onClick={retry}>{deviceWords.retry}</Button>
        </p>
      ) : null}
      <div className="device-check-grid">
        <div className="device-check-preview">
          <Preview track={video} />
          <MicLevel track={audio} />
        </div>
        <div className="device-check-choices">
          <SelectField
            label={deviceWords.camera}
            value={cameraId ?? ""}
            disabled={cameras.length === 0}
            onChange={(e) => choose("videoinput", e.target.value)}
          >
            {cameras.length === 0 ? <option value="">—</option> : null}
            {cameras.map((d) => (
              <option key={d.deviceId} value={d.deviceId}>
                {d.label}
              </option>
            ))}
          </SelectField>
          <SelectField
            label={deviceWords.microphone}
            value={microphoneId ?? ""}
            disabled={microphones.length === 0}
            onChange={(e) => choose("audioinput", e.target.value)}
          >
            {microphones.length === 0 ? <option value="">—</option> : null}
            {microphones.map((d) => (
              <option key={d.deviceId} value={d.deviceId}>
                {d.label}
              </option>
            ))}
          </SelectField>
          {speakerChoice && speakers.length > 0 ? (
            <SelectField label={deviceWords.speaker} hint={deviceWords.speakerHint} value={speakerId ?? ""} onChange={(e) => setSpeakerId(e.target.value)}>
              {speakers.map((d) => (
                <option key={d.deviceId} value={d.deviceId}>
                  {d.label}
                </option>
              ))}
            </SelectField>
          ) : (
            <p className="muted">{deviceWords.noSpeakerChoice}</p>
          )}
          <div className="row">
            <Button onClick={() => void testSpeaker()} busy={playing}>
              {playing ? deviceWords.playing : deviceWords.testSpeaker}
            </Button>
          </div>
          {speakerProblem ? <Alert kind="error">{speakerProblem}</Alert> : null}
        </div>
      </div>
      <div aria-live="polite" className="device-check-status">
        {selection ? (
          <Alert kind="ok">{deviceWords.ready}</Alert>
        ) : (starting.videoinput || starting.audioinput) && !anyProblem ? (
          <p className="muted">{deviceWords.starting}</p>
        ) : null}
      </div>
    </section>
  );
}

/** The camera's picture, mirrored as people expect to see themselves. */
function Preview({ track }: { track: MediaStreamTrack | null }) {
  const ref = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.srcObject = track ? new MediaStream([track]) : null;
    if (track) void el.play().catch(() => undefined);
  }, [track]);
  return (
    <div className="device-check-video">
      <video ref={ref} muted autoPlay playsInline aria-label={deviceWords.preview} hidden={!track} />
      {track ? null : <p className="device-check-novideo">{deviceWords.previewOff}</p>}
    </div>
  );
}

/** The microphone's level, 0 to 1, sampled ten times a second. */
function MicLevel({ track }: { track: MediaStreamTrack | null }) {
  const [level, setLevel] = useState(0);
  const [heard, setHeard] = useState(false);
  const labelId = useId();
  useEffect(() => {
    setLevel(0);
    if (!track || typeof AudioContext === "undefined") return;
    const context = new AudioContext();
    const source = context.createMediaStreamSource(new MediaStream([track]));
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    source.connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    // A context made without a click may start suspended: resume on the next one.
    const resume = () => void context.resume().catch(() => undefined);
    if (context.state === "suspended") {
      resume();
      document.addEventListener("pointerdown", resume, { once: true });
      document.addEventListener("keydown", resume, { once: true });
    }
    const timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      const l = Math.round(levelOf(samples) * 50) / 50;
      setLevel(l);
      if (l >= HEARD_LEVEL) setHeard(true);
    }, 100);
    return () => {
      clearInterval(timer);
      document.removeEventListener("pointerdown", resume);
      document.removeEventListener("keydown", resume);
      source.disconnect();
      void context.close().catch(() => undefined);
    };
  }, [track]);
  return (
    <div className="device-check-level">
      <span id={labelId} className="device-check-level-label">
        {deviceWords.level}
      </span>
      <meter aria-labelledby={labelId} min={0} max={1} low={HEARD_LEVEL} optimum={0.6} value={track ? level : 0} />
      <span className="muted device-check-heard">{track ? (heard ? deviceWords.heard : deviceWords.notHeard) : null}</span>
    </div>
  );
}
