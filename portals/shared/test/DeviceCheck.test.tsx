// @vitest-environment jsdom
// The device check against a fake browser: mediaDevices, MediaStream and
// tracks are stand-ins that record what the component does with them.

import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DeviceCheck, type DeviceSelection } from "../src/live/DeviceCheck";

class FakeTrack {
  readyState: "live" | "ended" = "live";
  onended: (() => void) | null = null;
  stopped = false;
  constructor(
    readonly kind: "audio" | "video",
    readonly deviceId: string,
  ) {}
  getSettings() {
    return { deviceId: this.deviceId };
  }
  stop() {
    this.stopped = true;
    this.readyState = "ended";
  }
  /** The device went away: the browser ends the track. */
  unplug() {
    this.readyState = "ended";
    this.onended?.();
  }
}

class FakeStream {
  constructor(private readonly tracks: FakeTrack[] = []) {}
  getTracks() {
    return this.tracks;
  }
  getVideoTracks() {
    return this.tracks.filter((t) => t.kind === "video");
  }
  getAudioTracks() {
    return this.tracks.filter((t) => t.kind === "audio");
  }
}

const LIST: MediaDeviceInfo[] = [
  { kind: "videoinput", deviceId: "cam1", label: "Built-in camera", groupId: "g1" },
  { kind: "videoinput", deviceId: "cam2", label: "USB camera", groupId: "g2" },
  { kind: "audioinput", deviceId: "default", label: "Default - Built-in microphone", groupId: "g1" },
  { kind: "audioinput", deviceId: "mic1", label: "Built-in microphone", groupId: "g1" },
  { kind: "audiooutput", deviceId: "default", label: "Default - Speakers", groupId: "g1" },
].map((d) => ({ ...d, toJSON: () => d }) as MediaDeviceInfo);

type Constraints = { video?: { deviceId?: { exact: string } }; audio?: { deviceId?: { exact: string } } };
type Answer = (c: Constraints) => FakeStream | Error;

let opened: FakeTrack[];
let answer: Answer;
const getUserMedia = vi.fn(async (c: Constraints) => {
  const a = answer(c);
  if (a instanceof Error) throw a;
  opened.push(...a.getTracks());
  return a;
});
const named = (name: string) => Object.assign(new Error(name), { name });
/** Every device works: the exact one asked for, else the first of each kind. */
const working: Answer = (c) =>
  new FakeStream([
    ...(c.video ? [new FakeTrack("video", c.video.deviceId?.exact ?? "cam1")] : []),
    ...(c.audio ? [new FakeTrack("audio", c.audio.deviceId?.exact ?? "mic1")] : []),
  ]);

beforeEach(() => {
  opened = [];
  answer = working;
  getUserMedia.mockClear();
  vi.stubGlobal("MediaStream", FakeStream);
  Object.defineProperty(navigator, "mediaDevices", {
    configurable: true,
    value: { getUserMedia, enumerateDevices: async () => LIST, addEventListener: vi.fn(), removeEventListener: vi.fn() },
  });
  vi.spyOn(HTMLMediaElement.prototype, "play").mockResolvedValue(undefined);
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

const lastSelection = (f: ReturnType<typeof vi.fn>) => f.mock.calls.at(-1)?.[0] as DeviceSelection | null | undefined;

describe("DeviceCheck", () => {
  it("asks once for camera and microphone, lists the devices and reports a working selection", async () => {
    const onChange = vi.fn();
    const onReady = vi.fn();
    render(<DeviceCheck onChange={onChange} onReady={onReady} />);
    await waitFor(() => expect(lastSelection(onChange)).toBeTruthy());
    expect(getUserMedia).toHaveBeenCalledTimes(1);
    expect(getUserMedia.mock.calls[0]?.[0]).toHaveProperty("video");
    expect(getUserMedia.mock.calls[0]?.[0]).toHaveProperty("audio");
    const s = lastSelection(onChange)!;
    expect(s.cameraId).toBe("cam1");
    expect(s.microphoneId).toBe("mic1");
    expect(s.stream.getTracks()).toHaveLength(2);
    expect(onReady).toHaveBeenCalledWith(s);
    const camera = screen.getByLabelText<HTMLSelectElement>("Camera");
    expect([...camera.options].map((o) => o.text)).toEqual(["Built-in camera", "USB camera"]);
    expect(camera.value).toBe("cam1");
    expect(screen.getByText("Camera and microphone are working.")).toBeTruthy();
    expect(screen.getByRole("meter", { name: "Microphone level" })).toBeTruthy();
  });

  it("stops its tracks on unmount, unless the caller took them over", async () => {
    const onChange = vi.fn();
    const first = render(<DeviceCheck onChange={onChange} />);
    await waitFor(() => expect(lastSelection(onChange)).toBeTruthy());
    first.unmount();
    expect(opened.every((t) => t.stopped)).toBe(true);

    opened = [];
    const again = vi.fn();
    const second = render(<DeviceCheck onChange={again} />);
    await waitFor(() => expect(lastSelection(again)).toBeTruthy());
    const stream = lastSelection(again)!.handOver();
    second.unmount();
    expect(stream.getTracks()).toHaveLength(2);
    expect(opened.some((t) => t.stopped)).toBe(false);
  });

  it("never stops a handed-over track, even when another device is chosen afterwards", async () => {
    const onChange = vi.fn();
    const view = render(<DeviceCheck onChange={onChange} />);
    await waitFor(() => expect(lastSelection(onChange)).toBeTruthy());
    const handed = lastSelection(onChange)!.handOver().getTracks() as unknown as FakeTrack[];
    fireEvent.change(screen.getByLabelText("Camera"), { target: { value: "cam2" } });
    await waitFor(() => expect(lastSelection(onChange)?.cameraId).toBe("cam2"));
    expect(handed.some((t) => t.stopped)).toBe(false);
    const second = opened.find((t) => t.kind === "video" && t.deviceId === "cam2")!;
    view.unmount();
    // The camera opened after the hand-over was the check's own.
    expect(second.stopped).toBe(true);
    expect(handed.some((t) => t.stopped)).toBe(false);
  });

  it("switches the camera: the old one stops, the chosen one opens exactly", async () => {
    const onChange = vi.fn();
    render(<DeviceCheck onChange={onChange} />);
    await waitFor(() => expect(lastSelection(onChange)).toBeTruthy());
    const oldVideo = opened.find((t) => t.kind === "video")!;
    fireEvent.change(screen.getByLabelText("Camera"), { target: { value: "cam2" } });
    await waitFor(() => expect(lastSelection(onChange)?.cameraId).toBe("cam2"));
    expect(oldVideo.stopped).toBe(true);
    expect(getUserMedia.mock.calls.at(-1)?.[0]).toEqual({ video: expect.objectContaining({ deviceId: { exact: "cam2" } }) });
    expect(lastSelection(onChange)!.stream.getVideoTracks()[0]?.getSettings().deviceId).toBe("cam2");
    expect(screen.getByLabelText<HTMLSelectElement>("Camera").value).toBe("cam2");
  });

  it("says that permission was refused and offers to try again", async () => {
    answer = () => named("NotAllowedError");
    const onChange = vi.fn();
    render(<DeviceCheck onChange={onChange} />);
    await screen.findByText(/not allowed to use your camera/);
    await screen.findByText(/not allowed to use your microphone/);
    expect(onChange.mock.calls.every(([s]) => s === null)).toBe(true);
    answer = working;
    fireEvent.click(screen.getByRole("button", { name: "Try again" }));
    await waitFor(() => expect(lastSelection(onChange)).toBeTruthy());
    expect(screen.queryByText(/not allowed to use/)).toBeNull();
  });

  it("names the device that fails when only one does", async () => {
    answer = (c) => (c.video ? named(c.audio ? "NotFoundError" : "NotReadableError") : working(c));
    const onChange = vi.fn();
    render(<DeviceCheck onChange={onChange} />);
    await screen.findByText(/camera is in use by another application/);
    expect(screen.queryByText(/microphone/i, { selector: ".alert" })).toBeNull();
    expect(onChange.mock.calls.every(([s]) => s === null)).toBe(true);
    // The microphone still works and is measured.
    expect(opened.filter((t) => t.kind === "audio" && !t.stopped)).toHaveLength(1);
  });

  it("notices a device that goes away", async () => {
    const onChange = vi.fn();
    render(<DeviceCheck onChange={onChange} />);
    await waitFor(() => expect(lastSelection(onChange)).toBeTruthy());
    act(() => opened.find((t) => t.kind === "audio")!.unplug());
    await screen.findByText(/microphone stopped/);
    expect(lastSelection(onChange)).toBeNull();
  });

  it("says when the browser cannot use devices at all", async () => {
    Object.defineProperty(navigator, "mediaDevices", { configurable: true, value: undefined });
    render(<DeviceCheck />);
    await screen.findByText(/This browser cannot use a camera/);
    await screen.findByText(/This browser cannot use a microphone/);
  });
});
