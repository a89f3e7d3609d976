// A departure: the control thread's migrate message for a thread its core
// reported leaving (host/kernel/departure.ts) — lowered on the source ISA,
// rewritten for the destination's, encoded; the destination lifts from the
// decoded message the frames the source captured, and the run resumed from
// them prints what the plain run prints.
import { describe, expect, it } from "vitest";
import { PROFILES } from "../../host/isa/index.js";
import { departure, DepartureError, type Leaving } from "../../host/kernel/departure.js";
import { programMaps } from "../../host/kernel/program.js";
import { decodeMessage, type MigrateMessage } from "../../host/msg/index.js";
import { lift } from "../../host/transform/index.js";
import type { PortableFrame } from "../../host/transform/index.js";
import { compileExample, run } from "../helpers.js";
import { runWithCaptures } from "../transform/tables.js";

const meta = { pid: 7, tid: 0, origin: 0, name: "fib", args: ["12", "300"], program: "p", epoch: 3 };
const leaving = (frames: PortableFrame[]): Leaving => ({
  meta,
  to: 1,
  state: { frames, globals: [["g", 5]] },
  requestedAt: performance.timeOrigin + performance.now(),
  phases: { capture: 1 },
});

describe("departure", () => {
  it("makes the migrate message the destination lifts the captured frames from, with its phases timed", async () => {
    const c = await compileExample("fib", { runtime: "stub" });
    const maps = programMaps(c.wasm, "fib.wasm")!;
    const plain = run(c.plain, { args: meta.args });
    let made = 0;
    const r = runWithCaptures(c.wasm, meta.args, [1, 40, 900], (captured) => {
      const l = leaving(captured);
      const d = departure(maps, l, { kernel: 0, isa: "x86-64" }, "aarch64", { alloc: (n) => new Uint8Array(n) });
      expect(d.trace).toBeUndefined();
      expect(Object.keys(l.phases)).toEqual(["capture", "lower", "rewrite", "encode"]);
      const msg = decodeMessage(d.bytes, "the test") as MigrateMessage;
      expect(msg).toMatchObject({ t: "migrate", pid: 7, tid: 0, epoch: 3, from: 0, frames: captured.length, globals: [["g", 5]] });
      expect(msg.image.isa).toBe("aarch64");
      // the message carries the phases made before it was encoded
      expect(Object.keys(msg.phases)).toEqual(["capture", "lower", "rewrite"]);
      const frames = lift(msg.image, maps.sites, maps.stackmaps.get("aarch64")!, PROFILES.get("aarch64")!);
      expect(frames).toEqual(captured);
      made++;
      return frames;
    });
    expect(made).toBe(r.captures);
    expect(made).toBeGreaterThan(0);
    expect(r.output).toEqual(plain.output);
  });

  it("traces the stacks on both sides when asked", async () => {
    const c = await compileExample("fib", { runtime: "stub" });
    const maps = programMaps(c.wasm, "fib.wasm")!;
    runWithCaptures(c.wasm, meta.args, [50], (captured) => {
      const d = departure(maps, leaving(captured), { kernel: 0, isa: "x86-64" }, "aarch64", { trace: true, alloc: (n) => new Uint8Array(n) });
      expect(d.trace).toMatchObject({ pid: 7, epoch: 3, from: { kernel: 0, isa: "x86-64" }, to: { kernel: 1, isa: "aarch64" } });
      expect(d.trace!.frames).toHaveLength(captured.length);
      expect(d.trace!.source.isa).toBe("x86-64");
      expect(d.trace!.destination.isa).toBe("aarch64");
      expect(d.trace!.memory.messageBytes).toBe(d.bytes.length);
    });
  });

  it("names the ISA whose stackmap is missing", async () => {
    const c = await compileExample("fib", { runtime: "stub" });
    const maps = programMaps(c.wasm, "fib.wasm")!;
    const only = { ...maps, stackmaps: new Map([["x86-64", maps.stackmaps.get("x86-64")!]]) };
    const l = leaving([]);
    expect(() => departure(only, l, { kernel: 0, isa: "x86-64" }, "aarch64", { alloc: (n) => new Uint8Array(n) })).toThrow(DepartureError);
    expect(() => departure(only, l, { kernel: 0, isa: "x86-64" }, "aarch64", { alloc: (n) => new Uint8Array(n) })).toThrow(/fib.wasm has no stackmap for aarch64/);
  });
});
