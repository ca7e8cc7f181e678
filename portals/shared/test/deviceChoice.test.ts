import { describe, expect, it } from "vitest";
import { HEARD_LEVEL, chimeWav, chooseDevice, constraintFor, describeProblem, deviceWords, devicesOf, levelOf, problemCode, type Device } from "../src/live/deviceChoice";

const dev = (kind: MediaDeviceKind, deviceId: string, label = ""): Device => ({ kind, deviceId, label });

describe("devicesOf", () => {
  it("keeps one kind, names unlabelled devices by number and keeps the system default entry", () => {
    const all = [
      dev("audioinput", "default", "Default - Headset"),
      dev("audioinput", "communications", "Communications - Headset"),
      dev("audioinput", "a1", "Headset"),
      dev("videoinput", "v1", ""),
      dev("videoinput", "v2", "  "),
      dev("audiooutput", "default", ""),
    ];
    expect(devicesOf(all, "audioinput").map((d) => [d.deviceId, d.label])).toEqual([
      ["default", "Default - Headset"],
      ["a1", "Headset"],
    ]);
    expect(devicesOf(all, "videoinput").map((d) => d.label)).toEqual(["Camera 1", "Camera 2"]);
    expect(devicesOf(all, "audiooutput").map((d) => d.label)).toEqual([deviceWords.systemDefault]);
  });

  it("drops a device listed twice", () => {
    expect(devicesOf([dev("videoinput", "v1", "A"), dev("videoinput", "v1", "A")], "videoinput")).toHaveLength(1);
  });
});

describe("chooseDevice", () => {
  const cams = [dev("videoinput", "v1", "Front"), dev("videoinput", "v2", "Back")];
  const mics = [dev("audioinput", "default", "Default"), dev("audioinput", "m1", "Mic")];

  it("takes the wanted device while it is listed", () => {
    expect(chooseDevice(cams, { wanted: "v2", inUse: "v1" })).toBe("v2");
  });

  it("falls back to the one in use, then the system default, then the first", () => {
    expect(chooseDevice(cams, { wanted: "gone", inUse: "v1" })).toBe("v1");
    expect(chooseDevice(mics, { wanted: "gone", inUse: "gone-too" })).toBe("default");
    expect(chooseDevice(cams, { wanted: "gone" })).toBe("v1");
    expect(chooseDevice(cams)).toBe("v1");
  });

  it("has nothing to choose from an empty list or one without ids (before permission)", () => {
    expect(chooseDevice([])).toBeNull();
    expect(chooseDevice([dev("videoinput", "")], { wanted: "" })).toBeNull();
  });
});

describe("constraintFor", () => {
  it("asks for the exact device, or none for the system default", () => {
    expect(constraintFor("v2", "videoinput")).toMatchObject({ deviceId: { exact: "v2" } });
    expect(constraintFor("default", "audioinput")).not.toHaveProperty("deviceId");
    expect(constraintFor(null, "audioinput")).toMatchObject({ echoCancellation: true });
  });
});

describe("problemCode and describeProblem", () => {
  const err = (name: string) => Object.assign(new Error(name), { name });

  it("maps the browsers' error names to what a person can do about them", () => {
    expect(problemCode(err("NotAllowedError"))).toBe("denied");
    expect(problemCode(err("PermissionDeniedError"))).toBe("denied");
    expect(problemCode(err("NotFoundError"))).toBe("missing");
    expect(problemCode(err("OverconstrainedError"))).toBe("missing");
    expect(problemCode(err("NotReadableError"))).toBe("in-use");
    expect(problemCode(err("TrackStartError"))).toBe("in-use");
    expect(problemCode(err("AbortError"))).toBe("in-use");
    expect(problemCode(new TypeError("no getUserMedia"))).toBe("unsupported");
    expect(problemCode(err("SomethingNew"))).toBe("failed");
    expect(problemCode("not even an error")).toBe("failed");
    expect(problemCode(null)).toBe("failed");
  });

  it("words the problem for the device concerned", () => {
    const denied = describeProblem(err("NotAllowedError"), "camera");
    expect(denied.code).toBe("denied");
    expect(denied.message).toMatch(/not allowed to use your camera/);
    expect(describeProblem(err("NotReadableError"), "microphone").message).toMatch(/microphone is in use/);
    expect(describeProblem(err("NotFoundError"), "microphone").message).toMatch(/No microphone was found/);
  });
});

describe("levelOf", () => {
  it("is 0 for silence and nothing, 1 for a full-scale square wave", () => {
    expect(levelOf([])).toBe(0);
    expect(levelOf(new Float32Array(512))).toBe(0);
    expect(levelOf(Float32Array.from({ length: 512 }, (_, i) => (i % 2 ? 1 : -1)))).toBe(1);
  });

  it("counts speech-like levels as heard and room noise as not", () => {
    const sine = (amplitude: number) => Float32Array.from({ length: 1024 }, (_, i) => amplitude * Math.sin((2 * Math.PI * i) / 32));
    expect(levelOf(sine(0.1))).toBeGreaterThan(HEARD_LEVEL); // about -23 dBFS
    expect(levelOf(sine(0.003))).toBeLessThan(HEARD_LEVEL); // about -53 dBFS
  });
});

describe("chimeWav", () => {
  it("is a 16-bit mono PCM WAV file of 0.7 s that is not silent", () => {
    const bytes = chimeWav(8000);
    const view = new DataView(bytes.buffer);
    const text = (at: number) => String.fromCharCode(...bytes.slice(at, at + 4));
    expect(text(0)).toBe("RIFF");
    expect(text(8)).toBe("WAVE");
    expect(text(36)).toBe("data");
    expect(view.getUint32(4, true)).toBe(bytes.length - 8);
    expect(view.getUint16(20, true)).toBe(1);
    expect(view.getUint16(22, true)).toBe(1);
    expect(view.getUint32(24, true)).toBe(8000);
    expect(view.getUint16(34, true)).toBe(16);
    const samples = view.getUint32(40, true) / 2;
    expect(samples).toBe(5600);
    let peak = 0;
    for (let i = 0; i < samples; i++) peak = Math.max(peak, Math.abs(view.getInt16(44 + i * 2, true)));
    expect(peak).toBeGreaterThan(8000);
    expect(peak).toBeLessThanOrEqual(32767);
  });
});
