/**
 * What a kernel's control thread and its core workers say to each other.
 * Inside one kernel threads may share memory: these travel by postMessage
 * (structured clone), carry shared buffers (the process memory, its twin)
 * and compiled modules, and never leave the kernel. Between kernels only
 * host/msg messages travel.
 */
import type { ReplicaParts } from "../memory/index.js";
import type { MigrationTrace } from "./trace.js";

/** What the source core knows of a migration's trace. */
export type PartialTrace = Omit<MigrationTrace, "seq" | "totalUs">;

/** What the kernels know about a process, carried along as it moves. */
export interface ProcessMeta {
  pid: number;
  origin: number;
  name: string;
  args: string[];
  /** hex sha-256 of the program bytes */
  program: string;
  /** the stay that is now under way (the number of migrations so far) */
  epoch: number;
  replicas: [kernel: number, epoch: number][];
  /**
   * A migration schedule (popcorn run --migrate-at a,b,c): migrate to the
   * next kernel at the a-th migration point, then b points after arriving
   * there, and so on. What is left of it travels with the process.
   */
  schedule?: number[];
}

/** control → core */
export type CoreJob =
  | {
      t: "start";
      meta: ProcessMeta;
      programBytes?: Uint8Array;
    }
  /** parts: the kernel's replica of the process, when this core does not hold it yet */
  | { t: "arrive"; raw: Uint8Array; programBytes?: Uint8Array; parts?: ReplicaParts }
  /** the migration this core sent was refused: resume the process here */
  | { t: "resume"; pid: number; why: string }
  /** the process is gone: forget its instance */
  | { t: "reap"; pid: number }
  /** its migration was acknowledged: forget what was kept to resume it here */
  | { t: "settled"; pid: number }
  /** the ISA of every kernel changed (a peer joined in cluster mode) */
  | { t: "isas"; isas: string[] };

/** core → control */
export type CoreReport =
  | { t: "output"; pid: number; stream: 1 | 2; line: string }
  | { t: "log"; line: string }
  /** the process runs on this core now: its control word, for signals (parts: its replica, when new) */
  | { t: "running"; meta: ProcessMeta; parts?: ReplicaParts; ctrlAddress: number }
  | { t: "exit"; pid: number; status: number; error?: string }
  /** the process stopped to migrate: `bytes` is the encoded migrate message (the core keeps what it needs to resume it if refused) */
  | {
      t: "depart";
      meta: ProcessMeta;
      to: number;
      bytes: Uint8Array;
      parts?: ReplicaParts;
      frames: number;
      /** µs per phase on this side: capture, lower, rewrite, dirty, encode */
      phases: Record<string, number>;
    }
  /** a departure's stacks and transformation, when the kernels trace (its destination adds the rest) */
  | { t: "trace"; trace: PartialTrace }
  /** a migrated process runs again here */
  | {
      t: "arrived";
      pid: number;
      /** migrations the process had made before this one */
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
  | { t: "refuse"; pid: number; from: number; reason: string };
