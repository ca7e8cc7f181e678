// The device check's pure parts: which camera, microphone and speaker to use
// from what the browser lists, how a device is named before permission gives
// labels, what a getUserMedia failure means for a person, the microphone
// level from an analyser's samples, and the test sound. The component
// (DeviceCheck.tsx) holds the browser objects; everything here is tested
// without them.

/** A camera, microphone or speaker as the device check shows it. */
export type Device = { deviceId: string; kind: MediaDeviceKind; label: string; groupId?: string };

/** The three kinds the check chooses. */
export type DeviceKind = "videoinput" | "audioinput" | "audiooutput";

/** What stops a camera or microphone from working, in a person's terms. */
export type DeviceProblemCode = "denied" | "missing" | "in-use" | "insecure" | "unsupported" | "failed";

export type DeviceProblem = { code: DeviceProblemCode; message: string };

/** English words of the device check; a translation replaces this object. */
export const deviceWords = {
  title: "Check your camera and microphone",
  intro: "You see yourself below. Speak: the bar under your picture moves when the microphone hears you.",
  camera: "Camera",
  microphone: "Microphone",
  speaker: "Speaker",
  preview: "Your camera's picture",
  previewOff: "No camera picture",
  level: "Microphone level",
  heard: "The microphone hears you.",
  notHeard: "Nothing heard yet. Say a few words.",
  testSpeaker: "Test speaker",
  playing: "Playing a sound…",
  speakerHint: "Press Test speaker: you should hear a short chime.",
  noSpeakerChoice: "This browser plays sound on your system's default output. To use another speaker or headset, choose it in your system's sound settings.",
  starting: "Starting your camera and microphone…",
  retry: "Try again",
  ready: "Camera and microphone are working.",
  unnamed: (kind: DeviceKind, n: number) => `${kind === "videoinput" ? "Camera" : kind === "audioinput" ? "Microphone" : "Speaker"} ${n}`,
  systemDefault: "System default",
  problems: {
    camera: {
      denied:
        "The browser is not allowed to use your camera. Allow the camera for this site (the camera icon in the address bar, or the site settings), then press Try again.",
      missing: "No camera was found. Connect one, or choose another one above, then press Try again.",
      "in-use": "Your camera is in use by another application. Close it (for example another video call), then press Try again.",
      insecure: "The camera works only on a secure (https) connection.",
      unsupported: "This browser cannot use a camera. Use a recent version of Chrome, Edge, Firefox or Safari.",
      failed: "Your camera could not be started. Press Try again; if it keeps failing, restart the browser.",
    },
    microphone: {
      denied:
        "The browser is not allowed to use your microphone. Allow the microphone for this site (the icon in the address bar, or the site settings), then press Try again.",
      missing: "No microphone was found. Connect one, or choose another one above, then press Try again.",
      "in-use": "Your microphone is in use by another application. Close it (for example another call), then press Try again.",
      insecure: "The microphone works only on a secure (https) connection.",
      unsupported: "This browser cannot use a microphone. Use a recent version of Chrome, Edge, Firefox or Safari.",
      failed: "Your microphone could not be started. Press Try again; if it keeps failing, restart the browser.",
    },
    lost: {
      camera: "Your camera stopped (it was unplugged or taken by another application). Choose a camera, or press Try again.",
      microphone: "Your microphone stopped (it was unplugged or taken by another application). Choose a microphone, or press Try again.",
    },
    speaker: "The sound could not be played on this speaker. Choose another one.",
  },
} as const;

/** The code of a getUserMedia (or play) failure, by the DOMException's name. */
export function problemCode(error: unknown): DeviceProblemCode {
  const name = typeof error === "object" && error !== null && "name" in error ? String((error as { name: unknown }).name) : "";
  switch (name) {
    case "NotAllowedError":
    case "PermissionDeniedError": // older Chrome
      return "denied";
    case "SecurityError":
      return typeof window !== "undefined" && window.isSecureContext === false ? "insecure" : "denied";
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
    case "ConstraintNotSatisfiedError":
      return "missing";
    case "NotReadableError":
    case "TrackStartError":
    case "AbortError":
      return "in-use";
    case "TypeError":
      return "unsupported";
    default:
      return "failed";
  }
}

/** A getUserMedia failure as words, for the camera or the microphone. */
export function describeProblem(error: unknown, what: "camera" | "microphone"): DeviceProblem {
  const code = problemCode(error);
  return { code, message: deviceWords.problems[what][code] };
}

/**
 * The devices of one kind, with names: the browser's label, or "Camera 2"
 * while it gives none (before permission). Chrome's "default" and
 * "communications" entries repeat a real device under another id; the
 * "default" one is kept (it follows the system's choice) and
 * "communications" dropped.
 */
export function devicesOf(all: readonly Device[], kind: DeviceKind): Device[] {
  const out: Device[] = [];
  const seen = new Set<string>();
  for (const d of all) {
    if (d.kind !== kind || d.deviceId === "communications" || seen.has(d.deviceId)) continue;
    seen.add(d.deviceId);
    out.push({ ...d, label: d.label.trim() || (d.deviceId === "default" ? deviceWords.systemDefault : deviceWords.unnamed(kind, out.length + 1)) });
  }
  return out;
}

/**
 * Which device of a list to use: the one asked for when it is there, else
 * the one in use (the track's deviceId), else the system default entry, else
 * the first; null when the list is empty or has only unusable entries (an
 * empty deviceId, as browsers list devices before permission).
 */
export function chooseDevice(list: readonly Device[], { wanted, inUse }: { wanted?: string | null; inUse?: string | null } = {}): string | null {
  const usable = list.filter((d) => d.deviceId !== "");
  const has = (id: string | null | undefined): id is string => !!id && usable.some((d) => d.deviceId === id);
  if (has(wanted)) return wanted;
  if (has(inUse)) return inUse;
  if (has("default")) return "default";
  return usable[0]?.deviceId ?? null;
}

/** Constraints for one kind of device: the exact device when one is chosen. */
export function constraintFor(deviceId: string | null, kind: "videoinput" | "audioinput"): MediaTrackConstraints {
  const base: MediaTrackConstraints =
    kind === "videoinput"
      ? { width: { ideal: 1280 }, height: { ideal: 720 } }
      : { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
  // "default" follows the system's choice: no exact device then.
  return deviceId && deviceId !== "default" ? { ...base, deviceId: { exact: deviceId } } : base;
}

/**
 * The microphone level, 0 to 1, from an analyser's time-domain samples
 * (-1..1): the RMS in decibels, -60 dBFS and below as 0, 0 dBFS as 1.
 */
export function levelOf(samples: ArrayLike<number>): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i] ?? 0;
    sum += s * s;
  }
  const rms = Math.sqrt(sum / samples.length);
  if (rms <= 0) return 0;
  const db = 20 * Math.log10(rms);
  return Math.min(1, Math.max(0, (db + 60) / 60));
}

/** A level above which the microphone is taken to hear the person (about -39 dBFS). */
export const HEARD_LEVEL = 0.35;

/**
 * The test sound: a two-note chime (A5 then E6, 0.7 s, gentle fade) as a
 * 16-bit mono WAV file, played through an <audio> element so that the chosen
 * speaker (setSinkId) applies to it.
 */
export function chimeWav(sampleRate = 22050): Uint8Array {
  const seconds = 0.7;
  const n = Math.round(sampleRate * seconds);
  const data = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const t = i / sampleRate;
    const f = t < seconds / 2 ? 880 : 1318.5;
    const local = t < seconds / 2 ? t : t - seconds / 2;
    const envelope = Math.min(1, local * 200) * Math.exp(-local * 6);
    data[i] = Math.round(Math.sin(2 * Math.PI * f * t) * envelope * 0.5 * 32767);
  }
  const bytes = new Uint8Array(44 + n * 2);
  const view = new DataView(bytes.buffer);
  const ascii = (at: number, s: string) => [...s].forEach((c, k) => view.setUint8(at + k, c.charCodeAt(0)));
  ascii(0, "RIFF");
  view.setUint32(4, 36 + n * 2, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  view.setUint32(16, 16, true); // fmt chunk size
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true); // byte rate
  view.setUint16(32, 2, true); // block align
  view.setUint16(34, 16, true); // bits per sample
  ascii(36, "data");
  view.setUint32(40, n * 2, true);
  for (let i = 0; i < n; i++) view.setInt16(44 + i * 2, data[i] ?? 0, true);
  return bytes;
}

/** Whether this browser lets a page choose where an element's sound plays. */
export function canChooseSpeaker(): boolean {
  return typeof HTMLMediaElement !== "undefined" && "setSinkId" in HTMLMediaElement.prototype;
}

/** Plays an element's sound on a speaker where the browser allows the choice; a no-op elsewhere. */
export async function applySpeaker(element: HTMLMediaElement, speakerId: string | null): Promise<void> {
  const sink = (element as HTMLMediaElement & { setSinkId?: (id: string) => Promise<void> }).setSinkId;
  if (!sink || speakerId === null) return;
  await sink.call(element, speakerId === "default" ? "" : speakerId);
}
