/**
 * A process's linear memory as one kernel holds it, and the protocol that
 * keeps the kernels' copies consistent while threads of the process run on
 * several kernels at once: home-based lazy release consistency, with twins
 * and byte diffs.
 *
 * Roles. The process's origin kernel is the **home** of its memory: home's
 * memory is the master copy. Every other kernel that runs threads of the
 * process is **remote** and keeps a replica: its own memory plus a **twin**,
 * a copy of that memory as of its last synchronization with home. Threads
 * write their kernel's memory freely; nothing is tracked while they run.
 * Pages are 4 KiB.
 *
 * Synchronization happens at the home, which orders all of a process's
 * synchronization (host/kernel/sync.ts):
 *
 *   release  a thread on a remote kernel unlocks a mutex, arrives at a
 *            barrier, exits, or migrates away:
 *              d = replica.diff()          the bytes this kernel changed since
 *                                          its last release, as runs; twin := them
 *              … d travels to home …
 *              home.applyDiff(d, kernel)   written into home's memory; the pages
 *                                          it touches get a new version
 *   acquire  a thread on a remote kernel locks, leaves a barrier, joins, or
 *            arrives there:
 *              s = home.collectFor(kernel) every page changed since that kernel
 *                                          last synchronized
 *              … s travels to the kernel …
 *              replica.merge(s)            3-way merge into memory and twin
 *   on home  home's own threads write home's memory: collectFor first runs
 *            markDirty(), which gives the pages where memory ≠ twin a new
 *            version (twin := memory there). A home thread's release and
 *            acquire need nothing else.
 *
 * Migration of a thread is a release on the source followed by an acquire on
 * the destination (to home: the diff travels with the thread; from home: the
 * page set does).
 *
 * diff() — remote release. Per dirty page (found by memcmp of memory against
 * twin, 16 pages at once, then page by page): copy the page into a snapshot
 * first, compare the snapshot with the twin, and write the snapshot into the
 * twin (the snapshot goes into the twin's reserved bytes, below the
 * first program page, where a Wasm SIMD function does the rest: simd.ts). Other threads of this kernel keep writing while diff() runs; a byte
 * they write after the snapshot differs from the twin at the next release.
 * Comparing memory and then copying memory into the twin would lose a write
 * that falls between the two, forever.
 *
 *   twin    00 00 00 00 | 11 22 33 44 | 00 00 00 00
 *   memory  00 07 00 00 | 11 22 99 44 | 00 00 00 05
 *   diff    [addr+1, [07]]  [addr+6, [99]]  [addr+11, [05]]
 *           (packed: index [addr+1, 0, 1, addr+6, 1, 1, addr+11, 2, 1], data [07 99 05])
 *
 * Runs hold changed bytes only; adjacent ones (also across pages) are one
 * run. Runs separated by unchanged bytes are NOT joined: an unchanged byte
 * holds this kernel's twin value, which may be older than home's (another
 * kernel may have released a write to it that this kernel has not acquired
 * yet: false sharing), and sending it would undo that write.
 *
 * A page travels as runs or dense, whichever is smaller (see Diff). The
 * comparison makes the page's change mask (a bit per byte) with SIMD
 * operations and counts its changed bytes and runs (simd.ts);
 * a page of many short runs — rewritten word by word, a few bytes of each
 * word unchanged — goes dense: its mask and its snapshot, no run at all.
 * A page of a few runs, or of one long one, goes as runs, taken from the
 * mask (Spans.addMask). Either way only the bytes whose mask bit is set
 * are written at home: the false-sharing rule holds for both forms.
 *
 * merge(set) — remote acquire. For each incoming page, byte by byte:
 * incoming ≠ twin → home has something newer: write it into memory and
 * twin; incoming = twin → keep the local byte (a write by a thread of this
 * kernel that is not released yet, or just the same value). The memory is
 * never read, and only changed bytes are written to it: a whole-page copy,
 * even of a page whose memory equals its twin when checked, could overwrite
 * a byte that another core writes in the meantime. A page equal to the twin
 * is skipped after one memcmp. Except in a quiet merge (merge(set, true)):
 * the caller promises that nothing writes the memory until it returns (no
 * thread of the process runs on this kernel: the common case of a thread
 * migrating in), so a page whose memory equals its twin — nothing
 * unreleased in it — is copied whole into memory and twin, which is what
 * the byte-by-byte merge would give, at memcpy speed (a page of 64 KiB
 * rewritten word by word: 8192 runs of a few bytes each). A page with
 * unreleased bytes (a thread parked here by its time slice) is merged byte
 * by byte all the same.
 *
 * Releases in flight. Each non-empty diff of a replica is numbered (its
 * `release`: 1, 2, …); home records the last one applied from each kernel
 * and puts it into every page set it collects for that kernel (`released`).
 * A page set can be collected before home applied a release that the kernel
 * made before merging it: kernel k's thread T1 asks for a lock, T2 on
 * another core of k releases page p, home collects p for T1 and only then
 * applies T2's diff. Merged, the set would write p's old bytes over T2's
 * released ones, in memory and twin. So merge() leaves out (and counts as
 * `stale`) every page that a release newer than `set.released` touched: home
 * applies that release after the set was collected, which gives p a new
 * version, so the next acquire brings p again, complete. The caller of a
 * merge that reports stale > 0 must acquire again before the thread goes on.
 * Until a set collected after home applied that release (its `released`
 * as new) is merged, every other merge reports stale too, even one that
 * does not hold p: home takes the kernel to hold p from the first set on,
 * so a set collected between the two lacks p, and merged as complete it
 * would let its thread go on with p's old bytes (two threads of the kernel
 * woken from one barrier while its release is on its way: the second one
 * read a neighbour's value from before the barrier).
 *
 * applyDiff(diff, from) — home. Writes the runs into home's memory AND
 * home's twin (so that markDirty does not take them for writes of home's own
 * threads), gives every page they touch version ++clock (one tick per call),
 * and records the release. A dense page: the bytes its mask names go into
 * memory (a word whose 4 bytes all changed as a word, others byte by byte —
 * never a read-modify-write of a word, which could undo a home thread's
 * write to its other bytes), then the page is copied whole into the twin,
 * as markDirty would (it gets the new version anyway). The runs and dense
 * pages are checked first (in bounds, not in the reserved pages, dense pages
 * ascending and not touched by a run, release numbers consecutive): nothing
 * is written if one is wrong. The releases of one kernel must be applied in the order the kernel
 * made them (release n after release n-1): a later diff of a kernel can hold
 * a newer value of a byte that an earlier one also holds.
 *
 * collectFor(kernel) — home. markDirty, then every page whose version is
 * newer than synced[kernel], in runs of consecutive pages (views of home's
 * memory: the caller copies or encodes them before home's threads write
 * again; a byte newer than the version only arrives early), the memory's
 * size and the clock; synced[kernel] := clock. A kernel that never synced
 * (-1) gets every page ever written: memory starts as zeros and a fresh
 * twin is zeros, so a page never written never travels.
 *
 * forget(kernel) — home: that kernel's replica is gone (it restarted, or
 * dropped it); the next collectFor for it sends every written page, and its
 * releases count from 1 again. A kernel that keeps its replica when the
 * process's threads leave it is not forgotten: when they come back, only
 * what changed travels.
 *
 * The reserved pages below RESERVED_END (toolchain/abi.ts) hold each
 * kernel's thread control words: they are never dirty, never diffed, never
 * merged, and never travel. A run that writes them is refused. In the
 * twin, the same bytes are diff()'s scratch (simd.ts): a page's snapshot
 * and its change mask, inside the lock; nothing else reads them.
 *
 * Growth. Page sets and diffs carry the sender's memory size in Wasm pages;
 * merge and applyDiff grow the receiver's memory to it (a failure is a
 * MemoryError naming both sizes). Twin and versions follow the memory's size
 * on every operation.
 *
 * Consistency contract. A data-race-free program whose threads synchronize
 * through the home — mutex, barrier, join, atomic counter; a migration is a
 * release on the source and an acquire on the destination — sees
 * sequentially consistent results. A page written at different bytes by
 * threads on two kernels at once merges without loss (no false sharing).
 * Racing writes to the same bytes leave one of the values, unspecified.
 *
 * What the kernel must do:
 *   - Apply each kernel's diffs at home in the order that kernel made them
 *     (applyDiff refuses release n+2 before n+1), and answer its acquires in
 *     the order they were asked, after every diff it sent before asking: one
 *     FIFO link per kernel to home, and diffs applied where that link
 *     arrives (home's control thread) rather than on whichever core a
 *     message is handed to. On a remote kernel, cores make diffs
 *     concurrently; they must go out in release order (diff.release).
 *   - After merge(set), if stale > 0, acquire again before the thread goes
 *     on (its release was on its way; the next set has it, complete).
 *   - forget(k) only when k's replica is really gone (restart, reap): a
 *     replica that lives on keeps counting its releases.
 *   - Encode a page set (views of home's memory) before letting go of it;
 *     a byte that changes meanwhile arrives early, which is harmless.
 *   - Make one replica per process per kernel (Replica.fresh once, then
 *     Replica.from(parts) on every other thread of the kernel): two fresh
 *     replicas on one kernel count releases separately, and home refuses
 *     the second count.
 * A kernel gets the pages it released back once: they have a new version
 * at home, so its next acquire carries them (its merge finds them equal to
 * the twin and skips them, but they travel).
 *
 * Parts and threads. A replica is made of shared objects so that a kernel's
 * control thread and its core workers can all operate on the one replica
 * (Replica.from(parts) on each thread):
 *
 *   memory    WebAssembly.Memory, shared: the process memory
 *   twin      WebAssembly.Memory, shared, as many bytes as `memory`
 *   versions  WebAssembly.Memory, shared: an i32 per 4 KiB page. Home: the
 *             clock value at which the page last changed (0: never since the
 *             replica was made). Remote: the number of the last release
 *             that touched it (0: none).
 *   meta      SharedArrayBuffer, i32 words:
 *
 *     Word     | Value
 *     ---------|--------------------------------------------------------------
 *     0        | lock: 0 free, 1 held, 2 held with waiters (Atomics.wait/notify)
 *     1        | clock (home): bumped once per applyDiff and per markDirty
 *              | that finds something
 *     2        | role: 0 not yet known, 1 home, 2 remote; set by the first call
 *              | that only one role makes, and checked by every later one
 *     3        | release (remote): the number of this replica's last non-empty diff
 *     4        | left out (remote): the newest release whose page a merge left out
 *              | as stale, until a set that makes up for it is merged (0: none)
 *     5 .. 7   | unused
 *     8 + k    | synced[k] (home): the clock value as of which kernel k's
 *              | replica is current; -1: k has none. k < MAX_KERNELS = 64
 *     72 + k   | applied[k] (home): the number of k's last release applied here
 *
 * Twin and versions live in shared WebAssembly memories, not plain
 * SharedArrayBuffers, because they must grow with the process memory in a
 * way that every thread holding the parts sees: `memory.grow` on one thread
 * shows in `memory.buffer` on all of them. A growable SharedArrayBuffer
 * (`maxByteLength`) would do the same, but Node.js 18 (the arm64 kernel's)
 * does not have it, and a SharedArrayBuffer replaced by a bigger one would
 * have to be posted to every thread before any of them touched the replica
 * again, which a core running guest code cannot take in. So the parts never
 * change: `generation` stays 0 and parts are handed to a thread once.
 * The memories reserve address space for `maximum` Wasm pages (Replica.fresh;
 * 65536 unless told) but take real memory only for what the process uses.
 *
 * Locking. Every public method holds the replica's lock (meta word 0,
 * lock.ts) for its whole run, so diff, merge, applyDiff and collectFor on
 * different threads of one kernel do not interleave; a caller may block
 * (Atomics.wait) while another thread's call runs. Guest threads never take
 * it: they only write memory. The twin's scratch bytes, shared by every
 * thread's Replica of the same parts, rely on this lock.
 *
 * Cost (Node 20, this 2-core machine, medians; a 2 MiB memory):
 *   diff, 16 dirty pages      8 changed bytes a page: 70 µs    whole pages: 80 µs
 *   diff, 256 dirty pages     8 changed bytes a page: 590 µs   whole pages: 850 µs
 *   merge, 16 pages           8 changed bytes a page: 27 µs    whole pages: 45 µs
 *   merge, 256 pages          8 changed bytes a page: 430 µs   whole pages: 750 µs
 *   merge of pages equal to the twin: 0.2 µs a page
 *   applyDiff, 16 / 256 pages (decoded from MessagePack): 6–8 / 115–155 µs
 *   the scan that finds dirty pages, in every diff and collectFor:
 *   ~45 µs per MiB of memory in cache, ~125 µs per MiB beyond it
 * A dirty page cost 2–3.5 µs with the mask made in JavaScript: a snapshot
 * and a twin copy (memcpy), a memcmp, the word comparison, and its runs;
 * the mask in Wasm SIMD (simd.ts) takes 0.33 µs of it instead of 2.4–3.0. Copies into and out of shared
 * memory are arranged so that source and destination agree modulo 8: V8
 * copies byte by byte otherwise, 7x slower.
 * 64 KiB rewritten word by word (bench migrate's pingpong: a new value in
 * 4 of each 8 bytes, 8192 runs), runs as [addr, view] → packed, releases in
 * a loop on one thread, medians on the loaded machine: diff 620–1030 →
 * 400–500 µs; encode + decode of the release 540 → 180 µs; applyDiff
 * 350 → 220 µs; merge of the 17 pages home sends 600 → 260 µs, quiet 17 µs.
 * The same 64 KiB (5 of each 8 bytes new) as 16 dense pages instead of
 * 8192 runs (.exp/rep-bench.ts, medians of 5 runs of 2000 releases): diff
 * 395 → 68 µs (the mask in JavaScript: ~2.3 µs a page), encode 20 → 12, decode 24 → 6,
 * applyDiff 235 → 50 (writeDenseMemory ~45 of it), diffBytes 10 → 4.
 * Pages with 4 changed bytes, or changed whole, stay runs and cost what
 * they did (diff 38 / 51 µs for 16 of them; within 5 %).
 */
import { RESERVED_END } from "../toolchain/index.js";
import { lock, unlock } from "./lock.js";
import { type PageMaskFn, pageMaskSimd, SIMD_MASK, SIMD_SCRATCH_END, SIMD_SNAPSHOT } from "./simd.js";
import { changedBytes, changedRuns, LITTLE_ENDIAN, MASK_BYTES, MASK_WORDS, PAGE_WORDS, Spans } from "./spans.js";

export const PAGE_SIZE = 4096;
/** Kernels a home keeps synchronization state for (kernel ids 0 … MAX_KERNELS-1). */
export const MAX_KERNELS = 64;
/** the largest memory a replica can follow unless Replica.fresh is told (the wasm32 limit, 4 GiB) */
export const MAX_WASM_PAGES = 65536;

const WASM_PAGE = 65536;
/** pages compared at once before looking at single pages */
const CHUNK_PAGES = 16;
const CHUNK = CHUNK_PAGES * PAGE_SIZE;
/** the first page that belongs to the program */
const FIRST_PAGE = Math.ceil(RESERVED_END / PAGE_SIZE);
const FIRST_BYTE = FIRST_PAGE * PAGE_SIZE;
/** runs up to this long are written byte by byte (cheaper than a subarray and a copy) */
const SHORT_RUN = 16;
/**
 * V8 copies into and out of shared memory word by word only when source
 * and destination agree modulo 8, and byte by byte otherwise (measured: 7x
 * slower for a 4 KiB page). Bulk copies are arranged to agree.
 */
const ALIGN = 8;
/**
 * What a page costs in a Diff, in bytes: as runs, RUN_COST a run (its index
 * triple) and its changed bytes; dense, DENSE_COST whatever changed (its
 * number, mask and snapshot). diff() sends a page in the smaller form.
 */
const RUN_COST = 12;
const DENSE_COST = 4 + MASK_BYTES + PAGE_SIZE;

// meta words
const LOCK = 0;
const CLOCK = 1;
const ROLE = 2;
const RELEASE = 3;
const LEFT_OUT = 4;
const SYNCED = 8;
const APPLIED = SYNCED + MAX_KERNELS;
const META_WORDS = APPLIED + MAX_KERNELS;

const HOME = 1;
const REMOTE = 2;

/** a replica's lock held this long means a thread died holding it */
const LOCK_TIMEOUT_MS = 60_000;


/** What a replica is made of: shared objects that all of a kernel's threads can hold (see the header). */
export interface ReplicaParts {
  memory: WebAssembly.Memory;
  twin: WebAssembly.Memory;
  versions: WebAssembly.Memory;
  meta: SharedArrayBuffer;
}

/** A run of consecutive pages: the first page's index, then their bytes (a multiple of PAGE_SIZE). */
export type PageRun = [first: number, bytes: Uint8Array];

/** What home sends a kernel at an acquire: the pages it lacks. */
export interface PageSet {
  /** home's memory size, in Wasm pages (64 KiB) */
  wasmPages: number;
  /** home's clock when the set was collected */
  clock: number;
  /** the last release of the receiving kernel that home had applied */
  released: number;
  runs: PageRun[];
}

/** A run of changed bytes: the address of the first, then the bytes (diffRuns; a Diff holds its runs packed). */
export type DiffRun = [addr: number, bytes: Uint8Array];

/**
 * What a remote kernel sends home at a release: the bytes its threads
 * changed, packed — no object per run (a release of 64 KiB can hold 8192
 * runs of a few bytes each). Each changed page travels in one of two forms,
 * whichever is smaller (RUN_COST, DENSE_COST): as runs, or dense.
 *
 *   index         u32 triples, one per run, in address order:
 *                   [3i]      address of the run's first byte
 *                   [3i + 1]  offset of its bytes in `data`
 *                   [3i + 2]  its length (> 0)
 *   data          the runs' bytes; a run longer than SHORT_RUN starts at an
 *                 offset that agrees with its address modulo ALIGN, so
 *                 `data` can hold a few bytes of padding that no run refers to
 *   densePages    u32 page numbers of the dense pages, ascending, none of
 *                 them touched by a run
 *   denseMasks    MASK_BYTES (512) per dense page, in the order of
 *                 densePages: bit j & 7 of byte j >> 3 is set when byte j
 *                 of the page changed (spans.ts)
 *   denseBytes    PAGE_SIZE (4096) per dense page, in that order: the
 *                 page's snapshot; only the bytes whose mask bit is set are
 *                 written, the others are this kernel's twin values
 *
 *   page 5 dense: densePages [5], denseMasks [0x83, 0x01, 0, … 0] (512 B),
 *   denseBytes [the snapshot of page 5] (4096 B): bytes 0, 1, 7 and 8 of
 *   page 5 changed
 *
 * Runs cost 12 bytes each, which is more than the bytes when a page is
 * rewritten word by word with a few bytes of each word equal (8192 runs of
 * 5 bytes in 64 KiB): such a page travels dense, and home writes it with
 * word operations, not per run. A page with a few runs, or one long run,
 * stays runs.
 *
 * diffRuns(d) gives the runs of both forms as [address, view] pairs, and
 * diffOf(…) packs such pairs as runs (tests, tools); the protocol never
 * needs them. On the wire the index and the page numbers travel as u32
 * little-endian, the dense part only when there is one (msg/messages.ts).
 */
export interface Diff {
  /** the sender's memory size, in Wasm pages */
  wasmPages: number;
  /** this release's number on its replica (1, 2, …); an empty diff repeats the last one's */
  release: number;
  index: Uint32Array;
  data: Uint8Array;
  densePages: Uint32Array;
  denseMasks: Uint8Array;
  denseBytes: Uint8Array;
}

/** What a merge did. */
export interface Merged {
  /** pages that had changed bytes */
  pages: number;
  /** bytes written into memory */
  bytes: number;
  /**
   * pages left out because a release of this kernel had not reached home when it collected them — or 1 if an
   * earlier merge left a page out and this set, collected before home applied that release, does not make up
   * for it: acquire again
   */
  stale: number;
}

export class MemoryError extends Error {}

function checkKernel(kernel: number): void {
  if (!Number.isInteger(kernel) || kernel < 0 || kernel >= MAX_KERNELS) {
    throw new MemoryError(`kernel ${kernel} is not a kernel id a memory home keeps state for (0 … ${MAX_KERNELS - 1})`);
  }
}

function checkWasmPages(wasmPages: number, what: string): void {
  if (!Number.isInteger(wasmPages) || wasmPages < 0 || wasmPages > MAX_WASM_PAGES) {
    throw new MemoryError(`${what} gives the memory size as ${wasmPages} Wasm pages, which no memory has`);
  }
}

function growTo(m: WebAssembly.Memory, bytes: number, what: string): void {
  const have = m.buffer.byteLength;
  if (have >= bytes) return;
  const pages = Math.ceil((bytes - have) / WASM_PAGE);
  try {
    m.grow(pages);
  } catch (e) {
    throw new MemoryError(
      `cannot grow the replica's ${what} from ${have / WASM_PAGE} to ${have / WASM_PAGE + pages} Wasm pages (${(e as Error).message}) — ` +
        `make the replica with Replica.fresh(memory, maximum) and the process memory's maximum`,
    );
  }
}

export class Replica {
  /**
   * Always 0: the parts never change (twin and versions grow in place, see
   * the header), so a thread given the parts once keeps them.
   */
  readonly generation = 0;

  private readonly meta: Int32Array;
  // views, made again when a memory grows (its `buffer` is then a new object)
  private memBuffer?: ArrayBufferLike;
  private mem = Buffer.alloc(0);
  private memBytes = new Uint8Array(0);
  private twinBuffer?: ArrayBufferLike;
  private twinBytes = Buffer.alloc(0);
  private twinWords = new Int32Array(0);
  private memWords = new Int32Array(0);
  private versionsBuffer?: ArrayBufferLike;
  private pageWords = new Int32Array(0);
  /** one page: merge's copy of an unaligned incoming page; diff's snapshot where simd.ts cannot run */
  private readonly scratchWords = new Int32Array(PAGE_WORDS);
  private readonly scratch = new Uint8Array(this.scratchWords.buffer);
  private readonly spans = new Spans();
  /** applyDiff's copy of a run whose bytes do not agree with its address modulo ALIGN */
  private staging = new Uint8Array(0);
  /** diff's change masks: one per dense page so far, then the page being looked at */
  private masks = new Int32Array(16 * MASK_WORDS);
  /** pageMaskFn's: not made yet (undefined), or none on this runtime (null) */
  private simd: PageMaskFn | null | undefined;

  private constructor(
    readonly memory: WebAssembly.Memory,
    private readonly twin: WebAssembly.Memory,
    private readonly versions: WebAssembly.Memory,
    private readonly metaBuffer: SharedArrayBuffer,
  ) {
    this.meta = new Int32Array(metaBuffer);
  }

  /**
   * A replica of `memory` with a twin of zeros: at home, made right after
   * boot (the boot data are then the first dirty pages); elsewhere, made on
   * a memory of zeros before the first merge. `maximum`: the most Wasm pages
   * the memory may grow to (the twin reserves address space for as many).
   */
  static fresh(memory: WebAssembly.Memory, maximum = MAX_WASM_PAGES): Replica {
    const pages = memory.buffer.byteLength / WASM_PAGE;
    checkWasmPages(maximum, "Replica.fresh's maximum");
    if (maximum < pages) throw new MemoryError(`Replica.fresh: a maximum of ${maximum} Wasm pages is less than the memory's ${pages}`);
    // one Wasm page of versions holds the i32s of 16384 pages: 1024 Wasm pages of memory
    const versionPages = (wasmPages: number) => Math.max(1, Math.ceil((wasmPages * (WASM_PAGE / PAGE_SIZE) * 4) / WASM_PAGE));
    let twin: WebAssembly.Memory;
    let versions: WebAssembly.Memory;
    try {
      twin = new WebAssembly.Memory({ initial: pages, maximum, shared: true });
      versions = new WebAssembly.Memory({ initial: versionPages(pages), maximum: versionPages(maximum), shared: true });
    } catch (e) {
      throw new MemoryError(`cannot make the twin of a ${pages}-Wasm-page memory (${(e as Error).message})`);
    }
    const meta = new SharedArrayBuffer(META_WORDS * 4);
    new Int32Array(meta).fill(-1, SYNCED, SYNCED + MAX_KERNELS);
    return new Replica(memory, twin, versions, meta);
  }

  /** The replica whose parts another thread handed over: the same state, not a copy. */
  static from(p: ReplicaParts): Replica {
    if (p.meta.byteLength !== META_WORDS * 4) {
      throw new MemoryError(`replica parts with ${p.meta.byteLength} bytes of meta, not ${META_WORDS * 4}: made by another version of popcorn`);
    }
    return new Replica(p.memory, p.twin, p.versions, p.meta);
  }

  parts(): ReplicaParts {
    return { memory: this.memory, twin: this.twin, versions: this.versions, meta: this.metaBuffer };
  }

  /** 4 KiB pages in the memory now. */
  get pages(): number {
    return this.memory.buffer.byteLength / PAGE_SIZE;
  }

  /** Home's clock (0 on a remote replica). */
  get clock(): number {
    return Atomics.load(this.meta, CLOCK);
  }

  // ---- remote kernels ----

  /** A release: the bytes this kernel's threads changed since the last one (see the header). */
  diff(): Diff {
    this.lock();
    try {
      this.claim(REMOTE);
      return this.diffLocked();
    } finally {
      this.unlock();
    }
  }

  /**
   * An acquire: takes in the pages home sent (3-way, see the header).
   * Acquire again if `stale` > 0. `quiet`: the caller promises that no
   * thread writes this memory until merge returns (no thread of the
   * process runs on this kernel): a page whose memory equals its twin is
   * then taken whole (see the header).
   */
  merge(set: PageSet, quiet = false): Merged {
    this.lock();
    try {
      this.claim(REMOTE);
      return this.mergeLocked(set, quiet);
    } finally {
      this.unlock();
    }
  }

  // ---- home ----

  /** Takes in kernel `from`'s release; returns how many pages it touched. */
  applyDiff(diff: Diff, from: number): number {
    this.lock();
    try {
      this.claim(HOME);
      return this.applyDiffLocked(diff, from);
    } finally {
      this.unlock();
    }
  }

  /** Gives the pages home's own threads changed a new version (one clock tick); returns how many. */
  markDirty(): number {
    this.lock();
    try {
      this.claim(HOME);
      return this.markDirtyLocked();
    } finally {
      this.unlock();
    }
  }

  /** The pages `kernel` lacks; it is taken to hold them from now on. */
  collectFor(kernel: number): PageSet {
    this.lock();
    try {
      this.claim(HOME);
      checkKernel(kernel);
      return this.collectLocked(kernel);
    } finally {
      this.unlock();
    }
  }

  /** `kernel` holds no replica any more: the next collectFor sends it every written page. */
  forget(kernel: number): void {
    this.lock();
    try {
      this.claim(HOME);
      checkKernel(kernel);
      this.meta[SYNCED + kernel] = -1;
      this.meta[APPLIED + kernel] = 0;
    } finally {
      this.unlock();
    }
  }

  // ---- inside the lock ----

  private diffLocked(): Diff {
    const end = this.fit();
    const { mem, twinBytes: twin, pageWords, scratch, spans } = this;
    const pageMaskFn = this.pageMaskFn();
    const release = this.meta[RELEASE]! + 1;
    spans.reset();
    const dense: number[] = [];
    for (let at = FIRST_BYTE; at < end; at += CHUNK) {
      const stop = Math.min(at + CHUNK, end);
      if (mem.compare(twin, at, stop, at, stop) === 0) continue;
      for (let p = at; p < stop; p += PAGE_SIZE) {
        if (mem.compare(twin, p, p + PAGE_SIZE, p, p + PAGE_SIZE) === 0) continue;
        // the snapshot: what is compared is what the twin becomes
        let sent: boolean;
        if (pageMaskFn) {
          // into the twin's reserved bytes; the module compares it and copies it over the twin's page (simd.ts)
          twin.set(mem.subarray(p, p + PAGE_SIZE), SIMD_SNAPSHOT);
          const mi = this.maskSlot(dense.length);
          const change = pageMaskFn(SIMD_SNAPSHOT, p, SIMD_MASK);
          this.masks.set(this.twinWords.subarray(SIMD_MASK >> 2, (SIMD_MASK >> 2) + MASK_WORDS), mi);
          sent = this.sendPage(change, p, mi, dense);
        } else {
          scratch.set(mem.subarray(p, p + PAGE_SIZE));
          sent = this.runsOfPage(p);
          twin.set(scratch, p);
        }
        // only a page this release carries bytes of: a number no release gets would make it stale for ever
        if (sent) pageWords[p / PAGE_SIZE] = release;
      }
    }
    const wasmPages = end / WASM_PAGE;
    const list = spans.done();
    if (list.length === 0 && dense.length === 0) return emptyDiff(wasmPages, release - 1);
    this.meta[RELEASE] = release;
    const { index, data } = packRuns(list, twin);
    const diff: Diff = { ...emptyDiff(wasmPages, release), index, data };
    if (dense.length > 0) packDense(diff, dense, this.masks, twin);
    return diff;
  }

  /** Where in `masks` the mask of the page after `dense` pages goes (`masks` grows to hold it). */
  private maskSlot(dense: number): number {
    const mi = dense * MASK_WORDS;
    if (this.masks.length < mi + MASK_WORDS) {
      const more = new Int32Array(2 * this.masks.length);
      more.set(this.masks);
      this.masks = more;
    }
    return mi;
  }

  /**
   * Adds page `p`, whose mask is at `mi` in `masks` and `change` its
   * count (simd.ts), to the release in the smaller form. Returns whether it changed.
   */
  private sendPage(change: number, p: number, mi: number, dense: number[]): boolean {
    const bytes = changedBytes(change);
    if (bytes === 0) return false;
    if (RUN_COST * changedRuns(change) + bytes > DENSE_COST) dense.push(p / PAGE_SIZE);
    else this.spans.addMask(this.masks, mi, p);
    return true;
  }

  /** diff's page comparer in Wasm SIMD, made on first use; null where it cannot run (simd.ts). */
  private pageMaskFn(): PageMaskFn | null {
    if (this.simd === undefined) this.simd = (LITTLE_ENDIAN && FIRST_BYTE >= SIMD_SCRATCH_END && pageMaskSimd(this.twin)) || null;
    return this.simd;
  }

  /** Compares the snapshot of page `p` with its twin into the spans (runs only: where simd.ts cannot run). */
  private runsOfPage(p: number): boolean {
    const end0 = this.spans.end;
    this.spans.addChanged(this.scratchWords, 0, this.twinWords, p >> 2, p);
    return this.spans.end !== end0;
  }

  private mergeLocked(set: PageSet, quiet: boolean): Merged {
    checkWasmPages(set.wasmPages, "a page set");
    if (!Number.isInteger(set.released) || set.released < 0) {
      throw new MemoryError(`a page set without the number of this kernel's last release home applied (released: ${set.released})`);
    }
    this.growMemory(set.wasmPages);
    const end = this.fit();
    checkPageRuns(set.runs, end);
    const { twinBytes: twin, pageWords, scratch, scratchWords, spans } = this;
    const released = set.released;
    // the newest release whose pages an earlier merge left out: this set makes up for them if home had applied it
    let leftOut = this.meta[LEFT_OUT]! > released ? this.meta[LEFT_OUT]! : 0;
    let pages = 0;
    let bytes = 0;
    let stale = 0;
    for (const [first, data] of set.runs) {
      // the run itself when it is aligned (home's memory, a fresh copy); otherwise each page is
      // copied into the scratch page first (a plain memcpy), and compared and taken from there
      const words = (data.byteOffset & (ALIGN - 1)) === 0 ? new Int32Array(data.buffer, data.byteOffset, data.length >> 2) : undefined;
      const n = data.length / PAGE_SIZE;
      for (let i = 0; i < n; i++) {
        const p = first + i;
        const at = p * PAGE_SIZE;
        const from = i * PAGE_SIZE;
        if (twin.compare(data, from, from + PAGE_SIZE, at, at + PAGE_SIZE) === 0) continue;
        if (pageWords[p]! > released) {
          stale++;
          if (pageWords[p]! > leftOut) leftOut = pageWords[p]!;
          continue;
        }
        if (quiet && this.mem.compare(twin, at, at + PAGE_SIZE, at, at + PAGE_SIZE) === 0) {
          // nothing unreleased in it, and nobody writes it meanwhile: the 3-way merge would give the incoming page
          const page = this.agreeing(data.subarray(from, from + PAGE_SIZE), at);
          this.mem.set(page, at);
          twin.set(page, at);
          bytes += PAGE_SIZE;
          pages++;
          continue;
        }
        spans.reset();
        if (words) {
          spans.addChanged(words, from >> 2, this.twinWords, at >> 2, at);
          bytes += this.take(spans.done(), data, from - at);
        } else {
          scratch.set(data.subarray(from, from + PAGE_SIZE));
          spans.addChanged(scratchWords, 0, this.twinWords, at >> 2, at);
          bytes += this.take(spans.done(), scratch, -at);
        }
        pages++;
      }
    }
    this.meta[LEFT_OUT] = leftOut;
    // a page left out before and not in this set (home takes this kernel to hold it): acquire again all the same
    if (stale === 0 && leftOut > 0) stale = 1;
    return { pages, bytes, stale };
  }

  /** `bytes`, or a copy of them, at an offset that agrees with `addr` modulo ALIGN (see ALIGN). */
  private readonly agreeing = (bytes: Uint8Array, addr: number): Uint8Array => {
    const shift = addr & (ALIGN - 1);
    if (bytes.length <= 4 * SHORT_RUN || (bytes.byteOffset & (ALIGN - 1)) === shift) return bytes;
    if (this.staging.length < bytes.length + ALIGN) this.staging = new Uint8Array(Math.max(bytes.length + ALIGN, 2 * this.staging.length));
    this.staging.set(bytes, shift);
    return this.staging.subarray(shift, shift + bytes.length);
  };

  /** Writes the ranges `list` of `src` (byte a at src[a + shift]) into memory and twin; returns how many bytes. */
  private take(list: number[], src: Uint8Array, shift: number): number {
    // memory first, then twin: one shared buffer per pass (see applyDiffLocked)
    this.takeInto(this.mem, list, src, shift);
    return this.takeInto(this.twinBytes, list, src, shift);
  }

  private takeInto(to: Uint8Array, list: number[], src: Uint8Array, shift: number): number {
    let bytes = 0;
    for (let k = 0; k < list.length; k += 2) {
      const s = list[k]!;
      const e = list[k + 1]!;
      if (e - s <= SHORT_RUN) for (let a = s; a < e; a++) to[a] = src[a + shift]!;
      else to.set(src.subarray(s + shift, e + shift), s);
      bytes += e - s;
    }
    return bytes;
  }

  private applyDiffLocked(diff: Diff, from: number): number {
    checkKernel(from);
    checkWasmPages(diff.wasmPages, `kernel ${from}'s diff`);
    checkDiffRuns(diff, Math.max(this.memory.buffer.byteLength, diff.wasmPages * WASM_PAGE), from);
    const { index, data, densePages } = diff;
    const empty = index.length === 0 && densePages.length === 0;
    if (!empty) {
      const expected = this.meta[APPLIED + from]! + 1;
      if (diff.release !== expected) {
        throw new MemoryError(
          `kernel ${from}'s release ${diff.release} arrived where release ${expected} was due: ` +
            `a kernel's releases must reach home in the order it made them`,
        );
      }
    }
    this.growMemory(diff.wasmPages);
    this.fit();
    if (empty) return 0;
    const { twinBytes: twin, pageWords } = this;
    const tick = this.meta[CLOCK]! + 1;
    // memory first, then twin: short runs byte by byte, one shared buffer per pass —
    // stores to two shared buffers at the same offsets interleaved cost 3x (measured)
    writeRuns(this.mem, index, data, this.agreeing);
    writeRuns(twin, index, data, this.agreeing);
    let pages = markPages(index, pageWords, tick);
    if (densePages.length > 0) {
      // memory first, then twin, here too
      writeDenseMemory(this.memBytes, this.memWords, densePages, diff.denseMasks, diff.denseBytes);
      copyDenseToTwin(this.memBytes, twin, densePages);
      pages += markDensePages(densePages, pageWords, tick);
    }
    Atomics.store(this.meta, CLOCK, tick);
    this.meta[APPLIED + from] = diff.release;
    return pages;
  }

  private collectLocked(kernel: number): PageSet {
    this.markDirtyLocked();
    const end = this.memBytes.length;
    const { pageWords, memBytes } = this;
    // version 0 is "never written": a kernel that never synced (-1) gets every page above it
    const since = Math.max(this.meta[SYNCED + kernel]!, 0);
    const n = end / PAGE_SIZE;
    const runs: PageRun[] = [];
    for (let p = FIRST_PAGE; p < n; p++) {
      if (pageWords[p]! <= since) continue;
      let q = p;
      while (q + 1 < n && pageWords[q + 1]! > since) q++;
      runs.push([p, new Uint8Array(memBytes.buffer, p * PAGE_SIZE, (q + 1 - p) * PAGE_SIZE)]);
      p = q;
    }
    const clock = this.meta[CLOCK]!;
    this.meta[SYNCED + kernel] = clock;
    return { wasmPages: end / WASM_PAGE, clock, released: this.meta[APPLIED + kernel]!, runs };
  }

  private markDirtyLocked(): number {
    const end = this.fit();
    const { mem, twinBytes: twin, pageWords } = this;
    const tick = this.meta[CLOCK]! + 1;
    let dirty = 0;
    for (let at = FIRST_BYTE; at < end; at += CHUNK) {
      const stop = Math.min(at + CHUNK, end);
      if (mem.compare(twin, at, stop, at, stop) === 0) continue;
      for (let p = at; p < stop; p += PAGE_SIZE) {
        if (mem.compare(twin, p, p + PAGE_SIZE, p, p + PAGE_SIZE) === 0) continue;
        // a write racing this copy is either in the twin (and the page gets this version) or found next time
        twin.set(mem.subarray(p, p + PAGE_SIZE), p);
        pageWords[p / PAGE_SIZE] = tick;
        dirty++;
      }
    }
    if (dirty > 0) Atomics.store(this.meta, CLOCK, tick);
    return dirty;
  }

  /** Grows the process memory to `wasmPages` (a guest's memory.grow racing this can make it grow more). */
  private growMemory(wasmPages: number): void {
    const have = this.memory.buffer.byteLength / WASM_PAGE;
    if (wasmPages <= have) return;
    try {
      this.memory.grow(wasmPages - have);
    } catch (e) {
      throw new MemoryError(`cannot grow the process memory from ${have} to ${wasmPages} Wasm pages (${(e as Error).message})`);
    }
  }

  /**
   * Brings twin and versions to the memory's size and the views up to date;
   * returns the memory's size in bytes as seen now (a guest may grow it
   * later: the rest is seen next time).
   */
  private fit(): number {
    const mb = this.memory.buffer;
    if (mb !== this.memBuffer) {
      this.memBuffer = mb;
      this.mem = Buffer.from(mb);
      this.memBytes = new Uint8Array(mb);
      this.memWords = new Int32Array(mb);
    }
    const end = this.mem.length;
    growTo(this.twin, end, "twin");
    growTo(this.versions, (end / PAGE_SIZE) * 4, "page versions");
    const tb = this.twin.buffer;
    if (tb !== this.twinBuffer) {
      this.twinBuffer = tb;
      this.twinBytes = Buffer.from(tb);
      this.twinWords = new Int32Array(tb);
    }
    const vb = this.versions.buffer;
    if (vb !== this.versionsBuffer) {
      this.versionsBuffer = vb;
      this.pageWords = new Int32Array(vb);
    }
    return end;
  }

  private claim(role: number): void {
    const was = this.meta[ROLE]!;
    if (was === role) return;
    if (was === 0) {
      this.meta[ROLE] = role;
      return;
    }
    throw new MemoryError(
      was === HOME
        ? "this replica is its process's home (it applies diffs and collects pages): diff() and merge() are for the other kernels"
        : "this replica is not its process's home (it makes diffs and merges page sets): applyDiff, markDirty, collectFor and forget are for the home",
    );
  }

  private lock(): void {
    if (!lock(this.meta, LOCK, LOCK_TIMEOUT_MS)) {
      throw new MemoryError(`a replica's lock has been held for ${LOCK_TIMEOUT_MS / 1000} s: a thread died holding it`);
    }
  }

  private unlock(): void {
    unlock(this.meta, LOCK);
  }

}

// The loops over a diff's runs are functions of their own: inside the methods, V8 optimized
// them on-stack (OSR) and deoptimized the code after them again and again (measured).

/**
 * Packs ranges [start, end) of `twin` (the list of Spans) into a Diff's index
 * and data, each long run at an offset that agrees with its address modulo
 * ALIGN.
 */
function packRuns(list: number[], twin: Uint8Array): { index: Uint32Array; data: Uint8Array } {
  const index = new Uint32Array((list.length >> 1) * 3);
  const data = new Uint8Array(indexRuns(list, index));
  copyRuns(index, twin, data);
  return { index, data };
}

/** Fills a Diff's index from the ranges of `list`; returns the size of its data. */
function indexRuns(list: number[], index: Uint32Array): number {
  let o = 0;
  for (let i = 0, j = 0; i < list.length; i += 2, j += 3) {
    const s = list[i]!;
    const n = list[i + 1]! - s;
    if (n > SHORT_RUN) o += (s - o) & (ALIGN - 1);
    index[j] = s;
    index[j + 1] = o;
    index[j + 2] = n;
    o += n;
  }
  return o;
}

/** Copies the runs `index` names from `from` (by address) into `data` (at their offsets). */
function copyRuns(index: Uint32Array, from: Uint8Array, data: Uint8Array): void {
  for (let j = 0; j < index.length; j += 3) {
    const s = index[j]!;
    const to = index[j + 1]!;
    const n = index[j + 2]!;
    if (n <= SHORT_RUN) for (let k = 0; k < n; k++) data[to + k] = from[s + k]!;
    else data.set(from.subarray(s, s + n), to);
  }
}

/**
 * The parts of a diff that has none, shared by all such diffs: they hold
 * nothing, so nothing can be written into them (a fresh typed array for
 * each costs more than the rest of a small release's packing, measured).
 * Their buffers must never be transferred.
 */
const NO_U32 = new Uint32Array(0);
const NO_BYTES = new Uint8Array(0);

/** A diff with nothing in it: `release` is the last non-empty one's. */
function emptyDiff(wasmPages: number, release: number): Diff {
  return { wasmPages, release, index: NO_U32, data: NO_BYTES, densePages: NO_U32, denseMasks: NO_BYTES, denseBytes: NO_BYTES };
}

/**
 * Puts into `diff` its dense part: the pages `dense`, their masks (the first
 * ones of `masks`, in the same order) and their snapshots, taken from the
 * twin (which diff() has just made the snapshot; page and copy agree modulo
 * ALIGN).
 */
function packDense(diff: Diff, dense: number[], masks: Int32Array, twin: Uint8Array): void {
  diff.densePages = Uint32Array.from(dense);
  diff.denseMasks = new Uint8Array(masks.buffer.slice(0, dense.length * MASK_BYTES));
  const bytes = (diff.denseBytes = new Uint8Array(dense.length * PAGE_SIZE));
  for (let k = 0; k < dense.length; k++) {
    const at = dense[k]! * PAGE_SIZE;
    bytes.set(twin.subarray(at, at + PAGE_SIZE), k * PAGE_SIZE);
  }
}

/**
 * The 32-bit word at byte `at` of `view` in the platform's byte order, as
 * an Int32Array over the same bytes would read it: what memWords stores.
 * The order a constant of the closure, not a variable argument: 12 %
 * faster in writeDenseMemory (measured).
 */
const wordAt: (view: DataView, at: number) => number = LITTLE_ENDIAN
  ? (view, at) => view.getInt32(at, true)
  : (view, at) => view.getInt32(at, false);

/**
 * Writes a diff's dense pages into memory: a word whose bytes all changed
 * as a word, a word with some changed byte by byte — only changed bytes are
 * stored, as by runs: home's threads may be writing the other bytes of the
 * word meanwhile, and a read-modify-write of the word would undo that.
 * Words of the snapshots are read through a DataView (wordAt: within 5 %
 * of an Int32Array, measured), so they need not be 4-aligned in the
 * message, and nothing is copied first. The two words of a mask byte are
 * written inline (a function per word: 15 % slower, measured).
 */
function writeDenseMemory(mem: Uint8Array, memWords: Int32Array, pages: Uint32Array, masks: Uint8Array, bytes: Uint8Array): void {
  const words = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let k = 0; k < pages.length; k++) {
    const base = pages[k]! * PAGE_WORDS;
    const mi = k * MASK_BYTES;
    const from = k * PAGE_SIZE;
    for (let j = 0; j < MASK_BYTES; j++) {
      const m = masks[mi + j]!;
      if (m === 0) continue;
      const w = base + 2 * j;
      const s = from + 8 * j;
      if (m === 0xff) {
        memWords[w] = wordAt(words, s);
        memWords[w + 1] = wordAt(words, s + 4);
        continue;
      }
      const lo = m & 15;
      if (lo === 15) memWords[w] = wordAt(words, s);
      else if (lo !== 0) {
        const a = 4 * w;
        if (lo & 1) mem[a] = bytes[s]!;
        if (lo & 2) mem[a + 1] = bytes[s + 1]!;
        if (lo & 4) mem[a + 2] = bytes[s + 2]!;
        if (lo & 8) mem[a + 3] = bytes[s + 3]!;
      }
      const hi = m >>> 4;
      if (hi === 15) memWords[w + 1] = wordAt(words, s + 4);
      else if (hi !== 0) {
        const a = 4 * w + 4;
        if (hi & 1) mem[a] = bytes[s + 4]!;
        if (hi & 2) mem[a + 1] = bytes[s + 5]!;
        if (hi & 4) mem[a + 2] = bytes[s + 6]!;
        if (hi & 8) mem[a + 3] = bytes[s + 7]!;
      }
    }
  }
}

/**
 * Copies the memory of a diff's dense pages into the twin, whole (after
 * writeDenseMemory): cheaper than a second pass of masked words, and what
 * markDirty would do to a page whose memory differs from its twin. A byte
 * of a home thread that is not in the twin yet gets the page's new version
 * with the diff's bytes; a byte written while the copy runs is in the twin
 * (and has that version) or found by the next markDirty.
 */
function copyDenseToTwin(mem: Uint8Array, twin: Uint8Array, pages: Uint32Array): void {
  for (let k = 0; k < pages.length; ) {
    // consecutive pages in one copy
    let n = 1;
    while (k + n < pages.length && pages[k + n] === pages[k]! + n) n++;
    const at = pages[k]! * PAGE_SIZE;
    twin.set(mem.subarray(at, at + n * PAGE_SIZE), at);
    k += n;
  }
}

/** Gives a diff's dense pages version `tick`; returns how many (none of them is touched by a run: checkDense). */
function markDensePages(pages: Uint32Array, pageWords: Int32Array, tick: number): number {
  for (let k = 0; k < pages.length; k++) pageWords[pages[k]!] = tick;
  return pages.length;
}

/** Writes a packed diff's runs into `to` (memory or twin); long ones through `agreeing` (see ALIGN). */
function writeRuns(to: Uint8Array, index: Uint32Array, data: Uint8Array, agreeing: (b: Uint8Array, addr: number) => Uint8Array): void {
  for (let j = 0; j < index.length; j += 3) {
    const addr = index[j]!;
    const off = index[j + 1]!;
    const n = index[j + 2]!;
    if (n <= SHORT_RUN) for (let k = 0; k < n; k++) to[addr + k] = data[off + k]!;
    else to.set(agreeing(data.subarray(off, off + n), addr), addr);
  }
}

/** Gives every page a packed diff's runs touch version `tick`; returns how many pages. */
function markPages(index: Uint32Array, pageWords: Int32Array, tick: number): number {
  let pages = 0;
  for (let j = 0; j < index.length; j += 3) {
    const addr = index[j]!;
    const last = Math.floor((addr + index[j + 2]! - 1) / PAGE_SIZE);
    for (let p = Math.floor(addr / PAGE_SIZE); p <= last; p++) {
      if (pageWords[p] === tick) continue;
      pageWords[p] = tick;
      pages++;
    }
  }
  return pages;
}

function checkPageRuns(runs: PageRun[], end: number): void {
  if (!Array.isArray(runs)) throw new MemoryError("a page set without runs");
  for (const run of runs) {
    const [first, bytes] = run;
    if (!(bytes instanceof Uint8Array) || !Number.isInteger(first)) {
      throw new MemoryError(`a page run that is not [first page, bytes]: page ${String(first)}`);
    }
    if (first < FIRST_PAGE) {
      throw new MemoryError(`page run at page ${first} writes the reserved pages below page ${FIRST_PAGE} (RESERVED_END ${RESERVED_END}), which never travel`);
    }
    if (bytes.length === 0 || bytes.length % PAGE_SIZE !== 0 || first * PAGE_SIZE + bytes.length > end) {
      throw new MemoryError(`page run at page ${first} (${bytes.length} bytes) does not fit a memory of ${end} bytes in whole 4 KiB pages`);
    }
  }
}

function checkDiffRuns(diff: Diff, end: number, from: number): void {
  const { index, data } = diff;
  if (!(index instanceof Uint32Array) || !(data instanceof Uint8Array) || index.length % 3 !== 0) {
    throw new MemoryError(`kernel ${from}'s diff is not packed as an index of u32 (address, offset, length) triples and the runs' data (see Diff)`);
  }
  for (let j = 0; j < index.length; j += 3) {
    const addr = index[j]!;
    const at = index[j + 1]!;
    const n = index[j + 2]!;
    if (n === 0 || at + n > data.length) {
      throw new MemoryError(`kernel ${from}'s diff has run ${j / 3} at ${addr} with ${n} bytes at offset ${at} of its ${data.length} bytes of data`);
    }
    if (addr < FIRST_BYTE) {
      throw new MemoryError(`kernel ${from}'s diff writes byte ${addr}, in the reserved memory below ${FIRST_BYTE}, which never travels`);
    }
    if (addr + n > end) {
      throw new MemoryError(`kernel ${from}'s diff writes bytes ${addr} … ${addr + n - 1}, past the end of a ${end}-byte memory`);
    }
  }
  checkDense(diff, end, from);
}

/** A diff's dense part: well formed, in bounds, pages ascending and not touched by a run (so the order of writing does not matter). */
function checkDense(diff: Diff, end: number, from: number): void {
  const { densePages: pages, denseMasks: masks, denseBytes: bytes, index } = diff;
  if (!(pages instanceof Uint32Array) || !(masks instanceof Uint8Array) || !(bytes instanceof Uint8Array)) {
    throw new MemoryError(`kernel ${from}'s diff has no dense part of u32 page numbers, masks and page bytes (see Diff)`);
  }
  if (masks.length !== pages.length * MASK_BYTES || bytes.length !== pages.length * PAGE_SIZE) {
    throw new MemoryError(
      `kernel ${from}'s diff has ${pages.length} dense pages with ${masks.length} bytes of masks and ${bytes.length} bytes of pages ` +
        `(${MASK_BYTES} and ${PAGE_SIZE} a page)`,
    );
  }
  for (let k = 0; k < pages.length; k++) {
    const p = pages[k]!;
    if (p < FIRST_PAGE) {
      throw new MemoryError(`kernel ${from}'s diff has dense page ${p}, in the reserved pages below page ${FIRST_PAGE}, which never travel`);
    }
    if ((p + 1) * PAGE_SIZE > end) throw new MemoryError(`kernel ${from}'s diff has dense page ${p}, past the end of a ${end}-byte memory`);
    if (k > 0 && p <= pages[k - 1]!) {
      throw new MemoryError(`kernel ${from}'s diff has dense page ${p} after page ${pages[k - 1]}: dense pages must be ascending, each once`);
    }
  }
  if (pages.length === 0) return;
  for (let j = 0; j < index.length; j += 3) {
    const first = Math.floor(index[j]! / PAGE_SIZE);
    const last = Math.floor((index[j]! + index[j + 2]! - 1) / PAGE_SIZE);
    const k = firstAtLeast(pages, first);
    if (k < pages.length && pages[k]! <= last) {
      throw new MemoryError(`kernel ${from}'s diff has run ${j / 3} at ${index[j]} in dense page ${pages[k]}: a page is sent as runs or dense, not both`);
    }
  }
}

/** The index of the first of the ascending `xs` that is ≥ x (xs.length if none). */
function firstAtLeast(xs: Uint32Array, x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Bytes of memory in a page set. */
export function pageBytes(set: PageSet): number {
  let n = 0;
  for (const [, b] of set.runs) n += b.length;
  return n;
}

/** Bytes of memory in a diff (its runs' bytes and its dense pages' changed bytes, without their addresses). */
export function diffBytes(diff: Diff): number {
  let n = 0;
  for (let j = 2; j < diff.index.length; j += 3) n += diff.index[j]!;
  return diff.denseMasks.length === 0 ? n : n + maskBits(diff.denseMasks);
}

/**
 * The set bits of dense masks (at any offset), 32 at a time: each word's bits are summed per byte (≤ 8 a byte), the byte
 * sums of up to 31 words added up in one word (≤ 248 a byte, no carry),
 * then its four bytes — a popcount per byte took 23 µs for a release of
 * 16 dense pages, this 3.5 (measured).
 */
function maskBits(masks: Uint8Array): number {
  const words = new DataView(masks.buffer, masks.byteOffset, masks.byteLength);
  const end = masks.length & ~3;
  let n = 0;
  // (a malformed diff's last bytes that make no word: one by one)
  for (let at = end; at < masks.length; at++) for (let b = masks[at]!; b !== 0; b &= b - 1) n++;
  for (let at = 0; at < end; ) {
    let sums = 0;
    for (const stop = Math.min(at + 31 * 4, end); at < stop; at += 4) {
      let v = words.getInt32(at, true); // the order does not change the count
      v = v - ((v >>> 1) & 0x55555555);
      v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
      sums += (v + (v >>> 4)) & 0x0f0f0f0f;
    }
    const pairs = (sums & 0x00ff00ff) + ((sums >>> 8) & 0x00ff00ff);
    n += (pairs & 0xffff) + (pairs >>> 16);
  }
  return n;
}

/**
 * A diff's runs as [address, bytes] pairs, the bytes views of its data and
 * dense bytes: the runs of its index, and each dense page's runs of changed
 * bytes (within the page), in address order.
 */
export function diffRuns(diff: Diff): DiffRun[] {
  const { index, data } = diff;
  const runs: DiffRun[] = new Array(index.length / 3);
  for (let j = 0; j < index.length; j += 3) runs[j / 3] = [index[j]!, data.subarray(index[j + 1]!, index[j + 1]! + index[j + 2]!)];
  if (diff.densePages.length === 0) return runs;
  return [...runs, ...denseRuns(diff)].sort((x, y) => x[0] - y[0]);
}

/** The runs of changed bytes of a diff's dense pages, page by page. */
function denseRuns(diff: Diff): DiffRun[] {
  const { densePages: pages, denseMasks: masks, denseBytes: bytes } = diff;
  const runs: DiffRun[] = [];
  const changed = (k: number, i: number) => i < PAGE_SIZE && (masks[k * MASK_BYTES + (i >> 3)]! & (1 << (i & 7))) !== 0;
  for (let k = 0; k < pages.length; k++) {
    for (let i = 0; i < PAGE_SIZE; i++) {
      if (!changed(k, i)) continue;
      let e = i + 1;
      while (changed(k, e)) e++;
      runs.push([pages[k]! * PAGE_SIZE + i, bytes.subarray(k * PAGE_SIZE + i, k * PAGE_SIZE + e)]);
      i = e;
    }
  }
  return runs;
}

/** A diff packed from [address, bytes] runs (the bytes back to back, no padding; no dense pages). */
export function diffOf(wasmPages: number, release: number, runs: DiffRun[]): Diff {
  const index = new Uint32Array(3 * runs.length);
  let total = 0;
  runs.forEach(([addr, b], i) => {
    index[3 * i] = addr;
    index[3 * i + 1] = total;
    index[3 * i + 2] = b.length;
    total += b.length;
  });
  const data = new Uint8Array(total);
  runs.forEach(([, b], i) => data.set(b, index[3 * i + 1]!));
  return { ...emptyDiff(wasmPages, release), index, data };
}
