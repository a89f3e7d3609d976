// What a kernel daemon takes from an authenticated client (remote.ts
// checkRequest): each field of the kind it must be, or a RemoteError naming
// it — a bad request found by a review hung its process (name: null made
// every migration of it refused by the peer) or crashed the daemon (a ping
// of -1 bytes).
import { describe, expect, it } from "vitest";
import { checkRequest, MAX_PING_BYTES, RemoteError } from "../../host/kernel/remote.js";

const exec = { t: "exec", req: 1, name: "hello.wasm", bytes: new Uint8Array([0, 0x61, 0x73, 0x6d]), args: ["2"] };

describe("a daemon checks a client's request field by field", () => {
  it("takes the requests popcorn's own clients send", () => {
    for (const r of [
      exec,
      { ...exec, schedule: [5, 10], scheduler: "balance" },
      { t: "signal", pid: 100001, signo: 35, to: 1 },
      { t: "signal", pid: 100001, tid: 2, signo: 9 },
      { t: "ping", req: 2, to: 1, size: 64, count: 200 },
      { t: "ps", req: 3 },
      { t: "dmesg", req: 4 },
      { t: "cluster", req: 5 },
      { t: "watch" },
    ]) {
      expect(checkRequest(r)).toBe(r);
    }
  });

  it.each([
    [{ ...exec, name: null }, /name is null/],
    [{ ...exec, args: "2" }, /args/],
    [{ ...exec, bytes: "wasm" }, /bytes/],
    [{ ...exec, pid: 100001 }, /pid is 100001, not absent/],
    [{ ...exec, schedule: "abc" }, /schedule/],
    [{ ...exec, scheduler: "fastest" }, /scheduler/],
    [{ t: "signal", pid: -5, signo: 9 }, /pid is -5/],
    [{ t: "ping", req: 1, to: 1, size: -1, count: 1 }, /size is -1/],
    [{ t: "ping", req: 1, to: 1, size: MAX_PING_BYTES + 1, count: 1 }, /size/],
    [{ t: "ping", req: 1, to: 1, size: 64, count: 1e10 }, /count/],
    [{ t: "ps" }, /req is missing/],
    [{ t: "reboot" }, /unknown kind "reboot"/],
  ])("refuses %j", (r, why) => {
    expect(() => checkRequest(r as never)).toThrow(RemoteError);
    expect(() => checkRequest(r as never)).toThrow(why);
  });
});
