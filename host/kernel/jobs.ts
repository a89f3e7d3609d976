/**
 * What a kernel's control thread and its core workers say to each other.
 * Inside one kernel threads may share memory: these travel by postMessage
 * (structured clone), carry shared buffers (the process memory, its twin)
 * and compiled modules, and never leave the kernel. Between kernels only
 * host/msg messages travel.
 */
import type { SysCall, ThreadState } from "./process.js";
import type { MigrationTrace } from "./trace.js";
import { threadIdentity, type MigrateMessage, type ThreadIdentity } from "../msg/index.js";

/**
 * What the source kernel knows of a migration's trace (departure.ts): its
 * destination adds the rest. requestedAt (ms, control-word.ts now()) orders
 * the migrations of a process's threads; the file leaves it out.
 */
export type PartialTrace = Omit<MigrationTrace, "seq" | "totalUs"> & { requestedAt: number };

/** What the kernels know about a thread of a process, carried along as it moves. */
export interface ProcessMeta extends ThreadIdentity {
  /** the thread's stay that is now under way (the number of its migrations so far) */
  epoch: number;
  /**
   * A migration schedule (popcorn run --migrate-at a,b,c): migrate to the
   * next kernel at the a-th migration point, then b points after arriving
   * there, and so on. What is left of it travels with the thread.
   */
  schedule?: number[];
}

/**
 * "The next kernel" of a thread on kernel `here` of `count` (signal 35,
 * --migrate-every, --migrate-at): from elsewhere, back to its origin (every
 * migration has the origin at one end); from the origin, each other kernel
 * in turn — origin + 1, origin + 2, … — one per round trip (its epoch
 * counts its migrations, two a round trip). With two kernels: the other.
 */
export function nextKernel(meta: ProcessMeta, here: number, count: number): number {
  if (here !== meta.origin) return meta.origin;
  return (meta.origin + 1 + (Math.floor(meta.epoch / 2) % Math.max(1, count - 1))) % count;
}

/** A migrated thread's meta on its destination: the stay that begins there. */
export function arrivingMeta(msg: MigrateMessage): ProcessMeta {
  return { ...threadIdentity(msg), epoch: msg.epoch + 1, schedule: msg.schedule };
}

/** What a job that runs a thread says about where: its control-word slot, and the program if the core lacks it. */
interface Placed {
  slot: number;
  programBytes?: Uint8Array;
  /** the process memory (the kernel's replica's), when this core does not hold it yet */
  memory?: WebAssembly.Memory;
}

/** A stop to ask for as soon as the thread runs again (a migration or signal that came while it was parked). */
export interface Request {
  dest?: number;
  signo: number;
}

/** control → core. Every job ends with the core reporting "free". */
export type CoreJob =
  /** boot a process: fresh memory, its main thread */
  | ({ t: "start"; meta: ProcessMeta; request?: Request } & Placed)
  /** a spawned thread's first run (its function: meta.entry): its parent's globals, its own shadow stack */
  | ({ t: "spawn"; meta: ProcessMeta; globals: [string, number | bigint][]; stackTop: number; request?: Request } & Placed)
  /** run a parked thread again (after a syscall, a yield, a refused migration); `result`: its syscall's */
  | ({ t: "run"; meta: ProcessMeta; state: ThreadState; result: number; request?: Request; why?: string } & Placed)
  /**
   * take in a migrated thread: `msg` is its migrate message as the transport
   * decoded it (its image's bytes are views of `raw`, the message's buffer,
   * which the core releases once it has lifted them); the control thread has
   * merged its pages: how many bytes, in how long
   */
  | ({ t: "arrive"; msg: MigrateMessage; raw: Uint8Array; request?: Request; memoryBytes?: number; dirtyUs?: number; pagesUs?: number } & Placed)
  /** the process is gone: forget its instances and replica */
  | { t: "reap"; pid: number }
  /** the ISA of every kernel changed (a peer joined in cluster mode) */
  | { t: "isas"; isas: string[] };

/** core → control */
export type CoreReport =
  | { t: "output"; pid: number; stream: 1 | 2; line: string }
  | { t: "log"; line: string }
  /** the core finished its job: it takes the next */
  | { t: "free" }
  /** the core's worker has started and takes jobs; its answer word for sys-now (sys-now.ts) */
  | { t: "up"; sysNow: SharedArrayBuffer; output: SharedArrayBuffer }
  /** a thread's syscall, made while it waits on its core if it completes at once (sys-now.ts) */
  | { t: "sys-now"; pid: number; tid: number; call: SysCall; seq: number }
  /** the thread runs on this core now: its control word, for signals */
  | { t: "running"; meta: ProcessMeta; ctrlAddress: number }
  /** a thread returned (tid 0: the process exits) */
  | { t: "exit"; pid: number; tid: number; status: number; error?: string }
  /** a thread stopped for a syscall or to yield its core; it is parked with the control thread */
  | { t: "stopped"; meta: ProcessMeta; state: ThreadState; call?: SysCall }
  /**
   * the thread stopped to migrate to kernel `to`: its frames, for the control
   * thread to send the memory ahead and make the migrate message
   * (departure.ts), and to resume if the destination refuses it;
   * `phases`: µs of the capture
   */
  | { t: "leaving"; meta: ProcessMeta; to: number; state: ThreadState; requestedAt: number; phases: Record<string, number> }
  /**
   * a migrated thread runs again here; it says what "running" says too (an
   * arrival posts this instead: one message, one wake-up of the control
   * thread on the next migration's path)
   */
  | {
      t: "arrived";
      meta: ProcessMeta;
      ctrlAddress: number;
      pid: number;
      tid: number;
      /** migrations the thread had made before this one */
      epoch: number;
      from: number;
      frames: number;
      memoryBytes: number;
      messageBytes: number;
      stackBytes: number;
      /** request on the source → running here */
      totalUs: number;
      phases: Record<string, number>;
    }
  /** an arrival could not be resumed: tell the source */
  | { t: "refuse"; pid: number; tid: number; from: number; reason: string };
