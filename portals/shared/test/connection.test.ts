import { describe, expect, it } from "vitest";
import { closeMessage, CloseCode, isRefusal, ReconnectPolicy, SdpRecovery, shouldReconnect } from "../src/connection";

describe("close codes", () => {
  it("says what each of the SFU's codes means", () => {
    expect(closeMessage(4401)).toMatch(/join token is invalid or has expired/);
    expect(closeMessage(4403)).toMatch(/another session or another device/);
    expect(closeMessage(4408)).toMatch(/too long/);
    expect(closeMessage(4409)).toMatch(/already used/);
    expect(closeMessage(4410)).toMatch(/removed you/);
    expect(closeMessage(4423)).toMatch(/locked/);
    expect(closeMessage(4424)).toMatch(/did not admit you/);
    expect(closeMessage(4400)).toMatch(/did not understand/);
    expect(closeMessage(1011)).toMatch(/could not check/);
    expect(closeMessage(1006)).toMatch(/lost/);
  });

  it("adds the server's reason when it says more, not when it repeats", () => {
    expect(closeMessage(4401, "the join token has expired")).toMatch(/\(the join token has expired\)$/);
    expect(closeMessage(4423, "the session is locked")).not.toMatch(/\(/);
    expect(closeMessage(4999, "odd")).toBe("The connection to the session server closed: odd (4999).");
    expect(closeMessage(3000)).toBe("The connection to the session server closed (3000).");
  });

  it("reconnects after drops, never after refusals or a normal close", () => {
    for (const code of [4400, 4401, 4403, 4408, 4409, 4410, 4423, 4424]) {
      expect(isRefusal(code)).toBe(true);
      expect(shouldReconnect(code)).toBe(false);
    }
    expect(shouldReconnect(CloseCode.Normal)).toBe(false);
    for (const code of [1001, 1005, 1006, 1011, 1012]) expect(shouldReconnect(code)).toBe(true);
  });
});

describe("ReconnectPolicy", () => {
  it("tries at once, then backs off, within the server's ten-second grace", () => {
    const p = new ReconnectPolicy();
    let now = 0;
    const delays = [p.dropped(now)];
    let total = 0;
    for (let i = 0; i < 4; i++) {
      total += delays.at(-1)!;
      now += delays.at(-1)! + 200; // each attempt takes a moment
      delays.push(p.failed(now));
    }
    expect(delays[0]).toBe(0);
    expect(delays).toEqual([...delays].sort((a, b) => a! - b!));
    expect(total + 5 * 200).toBeLessThan(ReconnectPolicy.GRACE_MS);
  });

  it("gives up after a while of failing", () => {
    const p = new ReconnectPolicy({ giveUpAfterMs: 30_000 });
    expect(p.dropped(0)).toBe(0);
    expect(p.failed(10_000)).not.toBeNull();
    expect(p.failed(30_000)).toBeNull();
  });

  it("starts afresh after a success", () => {
    const p = new ReconnectPolicy({ giveUpAfterMs: 30_000 });
    p.dropped(0);
    p.failed(1000);
    p.failed(2000);
    p.succeeded();
    expect(p.dropped(100_000)).toBe(0);
    expect(p.failed(120_000)).toBe(250);
  });

  it("stops when drops keep recurring (two tabs pushing each other out)", () => {
    const p = new ReconnectPolicy({ maxDropsPerMinute: 3 });
    expect(p.dropped(0)).toBe(0);
    p.succeeded();
    expect(p.dropped(1000)).toBe(0);
    p.succeeded();
    expect(p.dropped(2000)).toBe(0);
    p.succeeded();
    expect(p.dropped(3000)).toBeNull();
    // A minute later the window has moved on.
    expect(p.dropped(70_000)).toBe(0);
  });
});

describe("SdpRecovery", () => {
  it("restarts media after a refused offer or answer, a few times in a row at most", () => {
    const r = new SdpRecovery(3);
    expect([r.refused(), r.refused(), r.refused()]).toEqual(["restart", "restart", "restart"]);
    expect(r.refused()).toBe("give-up");
    expect(r.refused()).toBe("give-up");
  });

  it("counts afresh once a media connection comes up", () => {
    const r = new SdpRecovery(1);
    expect(r.refused()).toBe("restart");
    expect(r.refused()).toBe("give-up");
    r.connected();
    expect(r.refused()).toBe("restart");
  });
});
