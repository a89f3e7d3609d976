/**
 * The migration trace file (`popcorn run --kernels … --trace <file>`): every
 * migration of a run, with the stacks on both sides and every value moved.
 * Plain JSON; `popcorn viz` turns it into a page.
 *
 *   MigrationTraceFile
 *     format       "popcorn-trace"
 *     version      MIGRATION_TRACE_VERSION
 *     program      the program's name as given to run
 *     kernels      [{ id, isa }]
 *     migrations[] process by process, each's in the order they were requested:
 *       seq          0, 1, 2, … within the file
 *       pid, tid     the process, and its thread (0: main; absent in files
 *                    written before threads were traced: main)
 *       epoch        the number of migrations the thread had made before this one
 *       from, to     { kernel, isa }
 *       phasesUs     µs per phase: capture (request → unwound, on the source
 *                    core), ahead (the memory collected and sent, by the source's
 *                    control thread; dirty: the pages found and collected, a part
 *                    of it), lower, rewrite (by the source's control thread), send
 *                    (the rest of the way: the frames' hand-off from the source
 *                    core to its control thread, encoding, transport, decoding,
 *                    the hand-over to a destination core), load (program and
 *                    memory found), pages (merged on the destination while the
 *                    source lowered and rewrote: not on the path), lift, resume
 *                    (rewind until the thread runs) — the destination's figures
 *                    arrive with its report; totalUs request → running
 *       frames[]     the portable frames, innermost first (depth 0 is the frame
 *                    that was running): { depth, site, kind, function,
 *                    values: [{ name, type, value }] } — value as text: an
 *                    integer in decimal, a float as JS prints it, a v128 as
 *                    32 hex digits (low byte first)
 *       source       the native image on the source ISA (lower's result):
 *       destination  the image the rewrite produced, for the destination ISA:
 *                      { isa, pc, sp, fp, stackTop,
 *                        registers: [{ name, dwarf, hex }]  non-zero registers,
 *                                   little-endian bytes (16 per register),
 *                        stack: hex of the bytes sp .. stackTop-1 (byte i = address sp+i) }
 *       transform    the rewrite's trace (host/transform/trace.ts, TransformTrace):
 *                    per frame both frame layouts and every value's from/to
 *                    location with its bytes
 *       memory       { bytes, pages } of memory sent, messageBytes of the whole message
 *
 * Numbers are JSON numbers (addresses are below 2^53).
 */
import type { IsaProfile } from "../isa/index.js";
import type { SiteTable } from "../toolchain/index.js";
import type { NativeImage, PortableFrame, TransformTrace, Value } from "../transform/index.js";

export const MIGRATION_TRACE_VERSION = 1;

export interface ImageDump {
  isa: string;
  pc: number;
  sp: number;
  fp: number;
  stackTop: number;
  registers: { name: string; dwarf: number; hex: string }[];
  stack: string;
}

export interface TracedFrame {
  depth: number;
  site: number;
  kind: string;
  function: string;
  values: { name: string; type: string; value: string }[];
}

export interface MigrationTrace {
  seq: number;
  pid: number;
  tid: number;
  epoch: number;
  from: { kernel: number; isa: string };
  to: { kernel: number; isa: string };
  phasesUs: Record<string, number>;
  totalUs?: number;
  frames: TracedFrame[];
  source: ImageDump;
  destination: ImageDump;
  transform: TransformTrace;
  memory: { bytes: number; pages: number; messageBytes: number };
}

export interface MigrationTraceFile {
  format: "popcorn-trace";
  version: number;
  program: string;
  kernels: { id: number; isa: string }[];
  migrations: MigrationTrace[];
}

const hexBytes = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

/** A native image as the trace file holds it (copied: the image's buffers may be reused). */
export function dumpImage(img: NativeImage, profile: IsaProfile): ImageDump {
  const registers: ImageDump["registers"] = [];
  for (let d = 0; d < profile.dwarfRegisters; d++) {
    const bytes = img.regs.subarray(d * 16, d * 16 + 16);
    if (bytes.some((x) => x !== 0)) registers.push({ name: profile.registerName(d), dwarf: d, hex: hexBytes(bytes) });
  }
  return { isa: img.isa, pc: img.pc, sp: img.sp, fp: img.fp, stackTop: img.stackTop, registers, stack: hexBytes(img.stack) };
}

function valueText(v: Value): string {
  if (Array.isArray(v)) {
    const b = new DataView(new ArrayBuffer(16));
    b.setBigUint64(0, BigInt.asUintN(64, v[0]), true);
    b.setBigUint64(8, BigInt.asUintN(64, v[1]), true);
    return hexBytes(new Uint8Array(b.buffer));
  }
  return String(v);
}

/** Portable frames with their sites' names and types. */
export function traceFrames(frames: readonly PortableFrame[], sites: SiteTable): TracedFrame[] {
  return frames.map((f, depth) => {
    const s = sites.sites[f.site]!;
    return {
      depth,
      site: f.site,
      kind: s.kind,
      function: s.func,
      values: f.values.map((v, i) => ({ name: s.values[i]?.name ?? `$${i}`, type: s.values[i]?.type ?? "?", value: valueText(v) })),
    };
  });
}
