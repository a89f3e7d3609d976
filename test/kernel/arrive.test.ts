// A core taking in a migrated thread whose message it cannot use refuses it
// (the source resumes the thread) and releases the message's buffer — for
// any flaw, also one the transport's checks let through (messages.ts
// checkMigrate): a core must never leave the source waiting for an
// acknowledgement, or a ring's record busy for ever.
import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { Core } from "../../host/kernel/core.js";
import type { CoreJob, CoreReport } from "../../host/kernel/jobs.js";
import { encodeMessage, MessageRing, type MigrateMessage } from "../../host/msg/index.js";

function core(): { take(job: CoreJob): void; reports: CoreReport[] } {
  const port = new EventEmitter() as EventEmitter & { postMessage(r: CoreReport): void };
  const reports: CoreReport[] = [];
  port.postMessage = (r) => reports.push(r);
  new Core({ kernel: 1, core: 0, isas: ["x86-64", "aarch64"] }, port as never);
  return { take: (job) => port.emit("message", job), reports };
}

const message = (over: Record<string, unknown>) =>
  ({
    t: "migrate", pid: 5, tid: 2, origin: 0, name: "x", args: [], program: "p", epoch: 0, from: 0, frames: 1,
    requestedAt: 0, phases: {}, globals: [],
    image: { isa: "aarch64", pc: 0, sp: 0, fp: 0, stackTop: 0, stack: new Uint8Array(600), regs: new Uint8Array(8) },
    ...over,
  }) as unknown as MigrateMessage;

/** The state word of the ring record that holds `raw` (1 busy, 0 released). */
const recordState = (raw: Uint8Array) => new Int32Array(raw.buffer, raw.byteOffset - 8, 2)[1];

describe("a core refuses an arrival it cannot take in, and releases its message", () => {
  it.each([
    ["phases that are not an object", { phases: null }],
    ["no image", { image: undefined }],
    ["a program this core was not given", {}],
  ])("%s", (_, over) => {
    const c = core();
    const ring = new MessageRing(1 << 16);
    const msg = message(over);
    const raw = encodeMessage(message({}), (n) => ring.reserve(n)!);
    expect(recordState(raw)).toBe(1);
    c.take({ t: "arrive", msg, raw, slot: 1 });
    const refused = c.reports.find((r) => r.t === "refuse");
    expect(refused).toMatchObject({ t: "refuse", pid: 5, tid: 2, from: 0 });
    expect(recordState(raw)).toBe(0);
    expect(c.reports.at(-1)).toEqual({ t: "free" });
  });
});
