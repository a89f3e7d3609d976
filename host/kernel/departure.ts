/**
 * A departure: the migrate message of a thread that stopped to leave this
 * kernel, made by the kernel's control thread from the portable frames its
 * core reported ("leaving"):
 *
 *   lower    frames → native image of this kernel's ISA   (its stackmap)
 *   rewrite  native image A → native image B              (both stackmaps)
 *   encode   one MigrateMessage, into `alloc`'s buffer (the control
 *            thread's ring: msg/ring.ts)
 *
 * The control thread makes it, not the core: the core's report would
 * otherwise be a second hand-off between the two threads on every
 * migration's path (leaving, then depart), and on this 2-core machine each
 * hand-off waits for a thread to be scheduled. The control thread sends the
 * memory ahead first, then makes and sends this message, on the same link.
 *
 * Each phase is timed (µs) into `phases`. With `trace`, the stacks on both
 * sides and every value moved (trace.ts), for `popcorn run --trace`.
 *
 * While it runs, the control thread handles nothing else: ~0.5 µs a frame
 * (lower and rewrite), so a 10,000-frame stack holds the kernel's messages
 * and syscalls for ~5 ms. Popcorn caps stacks at 512 frames.
 */
import { profile } from "../isa/index.js";
import { encodeMessage, threadIdentity, type MigrateMessage } from "../msg/index.js";
import type { SiteTable, Stackmap } from "../toolchain/index.js";
import { lower, rewrite } from "../transform/index.js";
import { now } from "./control-word.js";
import type { PartialTrace, ProcessMeta } from "./jobs.js";
import type { ThreadState } from "./process.js";
import { dumpImage, traceFrames } from "./trace.js";

/** What the control thread knows of a program to transform its threads: its sites and stackmaps (program.ts programMaps). */
export interface ProgramMaps {
  name: string;
  sites: SiteTable;
  /** by ISA profile name */
  stackmaps: Map<string, Stackmap>;
}

export interface Leaving {
  meta: ProcessMeta;
  to: number;
  state: ThreadState;
  requestedAt: number;
  /** µs per phase so far (capture, on the core; ahead, the memory sent) */
  phases: Record<string, number>;
}

export interface Departure {
  bytes: Uint8Array;
  trace?: PartialTrace;
}

export class DepartureError extends Error {}

/** The thread's migrate message from kernel `from` to kernel `l.to`; adds lower, rewrite and encode to `l.phases`. */
export function departure(
  program: ProgramMaps,
  l: Leaving,
  from: { kernel: number; isa: string },
  toIsa: string,
  opts: { trace?: boolean; alloc: (n: number) => Uint8Array },
): Departure {
  const smA = program.stackmaps.get(from.isa);
  const smB = program.stackmaps.get(toIsa);
  if (!smA || !smB) throw new DepartureError(`${program.name} has no stackmap for ${smA ? toIsa : from.isa} — recompile it with this popcorn`);
  const { phases } = l;
  const pa = profile(from.isa);
  const pb = profile(toIsa);
  let t = now();
  const a = lower(l.state.frames, program.sites, smA, pa);
  phases.lower = (now() - t) * 1000;
  const source = opts.trace ? dumpImage(a, pa) : undefined; // before rewrite reuses a's buffers
  t = now();
  const { image, trace } = rewrite(a, smA, smB, pa, pb, { trace: opts.trace, sites: program.sites });
  phases.rewrite = (now() - t) * 1000;
  // the trace is made before the message: nothing may throw once the message holds a ring's record
  const traced: PartialTrace | undefined =
    source && trace
      ? {
          pid: l.meta.pid,
          tid: l.meta.tid,
          epoch: l.meta.epoch,
          requestedAt: l.requestedAt,
          from,
          to: { kernel: l.to, isa: toIsa },
          phasesUs: {},
          frames: traceFrames(l.state.frames, program.sites),
          source,
          destination: dumpImage(image, pb),
          transform: trace,
          memory: { bytes: 0, pages: 0, messageBytes: 0 }, // the destination's record has the memory
        }
      : undefined;
  t = now();
  const msg: MigrateMessage = {
    t: "migrate",
    ...threadIdentity(l.meta),
    epoch: l.meta.epoch,
    schedule: l.meta.schedule,
    image,
    globals: l.state.globals,
    ...(l.state.sysResult !== undefined && { sysResult: l.state.sysResult }),
    requestedAt: l.requestedAt,
    phases,
    from: from.kernel,
    frames: l.state.frames.length,
  };
  const bytes = encodeMessage(msg, opts.alloc);
  // (the trace's phases leave encode out: the destination's send, which its record adds, holds it)
  if (traced) traced.phasesUs = { ...phases };
  phases.encode = (now() - t) * 1000;
  if (!traced) return { bytes };
  traced.memory.messageBytes = bytes.length;
  return { bytes, trace: traced };
}
