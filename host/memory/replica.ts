/**
 * A process's linear memory as one kernel holds it: the memory itself, a
 * twin, and a version per page.
 *
 * Pages are 4 KiB. The origin kernel is the memory's home; every kernel a
 * process has run on keeps its replica when the process leaves, so that a
 * process coming back brings only what changed.
 *
 *   memory    WebAssembly.Memory (shared: the kernel's control thread and
 *             cores see it; no other kernel ever does)
 *   twin      a copy of `memory` as of the last synchronization (arrival or
 *             departure): what the memory held when this kernel last agreed
 *             with the rest of the system. Dirty pages are those that differ.
 *   versions  per page, the epoch in which it last changed (-1: never
 *             written). A process's epoch counts its migrations: the stay
 *             between migrations e and e+1 is epoch e.
 *
 * Departure at the end of epoch e, to kernel B that holds a replica current
 * as of epoch r (or none, r = -1):
 *   1. markDirty(e): pages where memory ≠ twin get version e; twin := memory
 *      on those pages (the twin is maintained page by page, never copied
 *      whole).
 *   2. collect(r): the pages with version > r, in runs of consecutive pages.
 *      B's replica is then current as of e.
 * Arrival: apply(runs, versions) writes the pages into memory and twin.
 *
 * The first migration to B sends every page ever written (r = -1); a
 * migration back and forth with nothing written sends none.
 *
 * The reserved pages below RESERVED_END hold the threads' control words:
 * per-thread runtime state that each kernel sets for the threads it runs.
 * They never travel and are never dirty.
 */
import { RESERVED_END } from "../toolchain/index.js";

export const PAGE_SIZE = 4096;
const WASM_PAGE = 65536;
/** pages compared at once before looking at single pages */
const CHUNK_PAGES = 16;
/** the first page that belongs to the program */
const FIRST_PAGE = Math.ceil(RESERVED_END / PAGE_SIZE);

/** What a replica is made of: shared buffers that a kernel's threads can all hold. */
export interface ReplicaParts {
  memory: WebAssembly.Memory;
  twin: SharedArrayBuffer;
  versions: SharedArrayBuffer;
}

/** A run of consecutive pages: the first page's index, then their bytes. */
export type PageRun = [first: number, bytes: Uint8Array];

export interface PageSet {
  wasmPages: number;
  runs: PageRun[];
  versions: number[];
}

export class MemoryError extends Error {}

export class Replica {
  /** goes up whenever twin and versions are replaced by bigger ones (their parts must be handed on again) */
  generation = 0;

  private constructor(
    readonly memory: WebAssembly.Memory,
    private twin: Uint8Array,
    private versions: Int32Array,
  ) {}

  /** A replica of a memory that is still all zeros. */
  static fresh(memory: WebAssembly.Memory): Replica {
    const r = new Replica(memory, new Uint8Array(new SharedArrayBuffer(0)), new Int32Array(new SharedArrayBuffer(0)));
    r.fit();
    return r;
  }

  static from(p: ReplicaParts): Replica {
    return new Replica(p.memory, new Uint8Array(p.twin), new Int32Array(p.versions));
  }

  parts(): ReplicaParts {
    return { memory: this.memory, twin: this.twin.buffer as SharedArrayBuffer, versions: this.versions.buffer as SharedArrayBuffer };
  }

  get pages(): number {
    return this.memory.buffer.byteLength / PAGE_SIZE;
  }

  /** Grows twin and versions to the memory's size (new pages: zero, never written). */
  private fit(): void {
    const bytes = this.memory.buffer.byteLength;
    if (this.twin.length >= bytes) return;
    const twin = new Uint8Array(new SharedArrayBuffer(bytes));
    twin.set(this.twin);
    const versions = new Int32Array(new SharedArrayBuffer((bytes / PAGE_SIZE) * 4)).fill(-1);
    versions.set(this.versions);
    this.twin = twin;
    this.versions = versions;
    this.generation++;
  }

  /** Marks the pages written since the last synchronization with `epoch`; returns how many. */
  markDirty(epoch: number): number {
    this.fit();
    const mem = Buffer.from(this.memory.buffer as ArrayBuffer);
    const twin = Buffer.from(this.twin.buffer as ArrayBuffer, 0, mem.length);
    let dirty = 0;
    const chunk = CHUNK_PAGES * PAGE_SIZE;
    for (let at = FIRST_PAGE * PAGE_SIZE; at < mem.length; at += chunk) {
      const end = Math.min(at + chunk, mem.length);
      if (mem.compare(twin, at, end, at, end) === 0) continue;
      for (let p = at; p < end; p += PAGE_SIZE) {
        if (mem.compare(twin, p, p + PAGE_SIZE, p, p + PAGE_SIZE) === 0) continue;
        twin.set(mem.subarray(p, p + PAGE_SIZE), p);
        this.versions[p / PAGE_SIZE] = epoch;
        dirty++;
      }
    }
    return dirty;
  }

  /** The pages a kernel whose replica is current as of epoch `since` (-1: it has none) lacks. */
  collect(since: number): PageSet {
    const mem = new Uint8Array(this.memory.buffer);
    const runs: PageRun[] = [];
    const versions: number[] = [];
    const n = this.versions.length;
    for (let p = FIRST_PAGE; p < n; p++) {
      if (this.versions[p]! <= since) continue;
      let q = p;
      while (q + 1 < n && this.versions[q + 1]! > since) q++;
      runs.push([p, mem.subarray(p * PAGE_SIZE, (q + 1) * PAGE_SIZE)]);
      for (let i = p; i <= q; i++) versions.push(this.versions[i]!);
      p = q;
    }
    return { wasmPages: this.memory.buffer.byteLength / WASM_PAGE, runs, versions };
  }

  /** Writes pages that arrived from another kernel into memory and twin. */
  apply(set: PageSet): void {
    const have = this.memory.buffer.byteLength / WASM_PAGE;
    if (set.wasmPages > have) {
      try {
        this.memory.grow(set.wasmPages - have);
      } catch (e) {
        throw new MemoryError(`cannot grow the process memory to ${set.wasmPages} Wasm pages (${(e as Error).message})`);
      }
    }
    this.fit();
    const mem = new Uint8Array(this.memory.buffer);
    let v = 0;
    for (const [first, bytes] of set.runs) {
      const at = first * PAGE_SIZE;
      if (bytes.length % PAGE_SIZE || first < FIRST_PAGE || at + bytes.length > mem.length) {
        throw new MemoryError(`page run at page ${first} (${bytes.length} bytes) does not fit a memory of ${mem.length} bytes`);
      }
      mem.set(bytes, at);
      this.twin.set(bytes, at);
      for (let p = first; p < first + bytes.length / PAGE_SIZE; p++) this.versions[p] = set.versions[v++] ?? 0;
    }
  }
}

/** Bytes of memory in a page set. */
export function pageBytes(set: PageSet): number {
  return set.runs.reduce((n, [, b]) => n + b.length, 0);
}
