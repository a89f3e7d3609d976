// A migration trace file built from a real run of the fib example, without
// the kernels: the run stops at a few migration points (Process, as
// test/transform/tables.ts runWithCaptures does), and each stop is taken as
// one migration between kernel 0 (x86-64) and kernel 1 (aarch64), alternately
// — lower on the ISA the process is on, rewrite (with its trace) to the other
// one, lift there, and the run goes on from the lifted frames, so a wrong
// rewrite would show in the output.
//
// What the kernels would measure and this cannot is modelled plainly:
// phasesUs holds the lower, rewrite and lift this fixture timed; memory is
// the 4 KiB pages that differ from what the destination last saw (all
// non-zero pages on the first migration), and messageBytes those pages plus
// the destination image's stack and registers.
import { PROFILES } from "../../host/isa/index.js";
import {
  dumpImage,
  loadProgram,
  MIGRATION_TRACE_VERSION,
  type MigrationTrace,
  type MigrationTraceFile,
  Process,
  traceFrames,
} from "../../host/kernel/index.js";
import { customSection, decodeSites, SITES_SECTION } from "../../host/toolchain/index.js";
import { lift, lower, type PortableFrame, rewrite } from "../../host/transform/index.js";
import { loadStackmaps } from "../../host/isa/index.js";
import { compileExample } from "../helpers.js";

export interface FibTraceOptions {
  /** arguments of fib: n and the depth of deep() */
  args?: string[];
  /** migration points between stops (the first counts from main's start) */
  gaps?: number[];
}

const PAGE = 4096;

export interface FibTrace {
  trace: MigrationTraceFile;
  /** what the run printed (the plain run prints the same) */
  output: string[];
}

export async function fibTrace(opts: FibTraceOptions = {}): Promise<FibTrace> {
  const args = opts.args ?? ["5", "3"];
  const gaps = opts.gaps ?? [5, 9, 9, 5];
  const c = await compileExample("fib");
  const sites = decodeSites(customSection(c.wasm, SITES_SECTION)!, "fib.wasm");
  const sms = loadStackmaps(c.wasm, sites, "fib.wasm");
  const kernels = [...PROFILES.keys()].map((isa, id) => ({ id, isa }));

  const program = loadProgram(c.wasm, "fib");
  const output: string[] = [];
  let next = 0;
  const p = new Process(program, {
    args,
    kernel: { id: 0, isa: kernels[0]!.isa, count: kernels.length },
    stdout: (l) => output.push(l),
    stderr: (l) => output.push(l),
    nextCapture: () => gaps[next++],
  });
  p.boot();

  const migrations: MigrationTrace[] = [];
  let on = 0;
  let lastSeen: Uint8Array | undefined;
  p.run((state) => {
    const to = (on + 1) % kernels.length;
    const [A, B] = [PROFILES.get(kernels[on]!.isa)!, PROFILES.get(kernels[to]!.isa)!];
    const [smA, smB] = [sms.get(A.name)!, sms.get(B.name)!];
    const frames = state.frames as PortableFrame[];

    let t = performance.now();
    const source = lower(frames, sites, smA, A);
    const lowerUs = (performance.now() - t) * 1000;
    const sourceDump = dumpImage(source, A); // before the rewrite reuses the buffers
    t = performance.now();
    const { image, trace } = rewrite(source, smA, smB, A, B, { trace: true, sites });
    const rewriteUs = (performance.now() - t) * 1000;
    const destination = dumpImage(image, B);
    t = performance.now();
    const lifted = lift(image, sites, smB, B);
    const liftUs = (performance.now() - t) * 1000;

    const mem = new Uint8Array(p.memory.buffer).slice();
    const pages = changedPages(mem, lastSeen);
    lastSeen = mem;
    const memoryBytes = pages * PAGE;
    migrations.push({
      seq: migrations.length,
      pid: 1,
      tid: 0,
      epoch: migrations.length,
      from: { kernel: on, isa: A.name },
      to: { kernel: to, isa: B.name },
      phasesUs: { lower: round(lowerUs), rewrite: round(rewriteUs), lift: round(liftUs) },
      totalUs: round(lowerUs + rewriteUs + liftUs),
      frames: traceFrames(frames, sites),
      source: sourceDump,
      destination,
      transform: trace!,
      memory: { bytes: memoryBytes, pages, messageBytes: memoryBytes + image.stack.length + destination.registers.length * 16 },
    });
    on = to;
    p.resume({ ...state, frames: lifted });
    return "resume";
  });

  return {
    trace: { format: "popcorn-trace", version: MIGRATION_TRACE_VERSION, program: "fib", kernels, migrations },
    output,
  };
}

const round = (us: number) => Math.round(us * 10) / 10;

/** 4 KiB pages of `now` that differ from `before` (all non-zero pages without it). */
function changedPages(now: Uint8Array, before: Uint8Array | undefined): number {
  let n = 0;
  for (let at = 0; at < now.length; at += PAGE) {
    const page = now.subarray(at, at + PAGE);
    const old = before?.subarray(at, at + PAGE);
    if (old ? !Buffer.from(page).equals(Buffer.from(old)) : page.some((b) => b !== 0)) n++;
  }
  return n;
}
