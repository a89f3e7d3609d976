// A process's memory as one kernel holds it (host/memory/replica.ts): which
// pages are dirty, which travel, and that two kernels that follow the
// departure/arrival protocol of host/kernel/core.ts always agree on memory.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MemoryError, PAGE_SIZE, Replica, pageBytes, type PageSet } from "../../host/memory/index.js";
import { RESERVED_END } from "../../host/toolchain/index.js";

const WASM_PAGE = 65536;
/** the first page that belongs to the program: the ones below hold control words */
const FIRST = Math.ceil(RESERVED_END / PAGE_SIZE);

function sharedMemory(initial: number, maximum = initial + 2): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial, maximum, shared: true });
}

const view = (m: WebAssembly.Memory) => new Uint8Array(m.buffer);

/** Writes `value` at byte `offset` of 4 KiB page `page`. */
function poke(m: WebAssembly.Memory, page: number, value: number, offset = 0): void {
  view(m)[page * PAGE_SIZE + offset] = value;
}

/** The pages a page set carries, one by one, with their versions. */
function pagesOf(set: PageSet): { page: number; version: number }[] {
  const out: { page: number; version: number }[] = [];
  let v = 0;
  for (const [first, bytes] of set.runs) {
    for (let i = 0; i < bytes.length / PAGE_SIZE; i++) out.push({ page: first + i, version: set.versions[v++]! });
  }
  expect(v, "one version per page carried").toBe(set.versions.length);
  return out;
}

/** The run boundaries as [first, last] page pairs. */
const runsOf = (set: PageSet) => set.runs.map(([first, bytes]) => [first, first + bytes.length / PAGE_SIZE - 1]);

/** The program's part of a memory (everything from RESERVED_END on). */
const programBytes = (m: WebAssembly.Memory) => Buffer.from(view(m).subarray(RESERVED_END));
const reservedBytes = (m: WebAssembly.Memory) => Buffer.from(view(m).slice(0, RESERVED_END));

/** What a page set looks like after the wire: its own copy of the bytes, no view of the sender's memory. */
function overTheWire(set: PageSet): PageSet {
  return { wasmPages: set.wasmPages, runs: set.runs.map(([f, b]) => [f, b.slice()]), versions: [...set.versions] };
}

// ---- the departure/arrival bookkeeping of host/kernel/core.ts, on replicas alone ----

/** ProcessMeta's memory part: the stay under way, and who holds a replica current as of when. */
interface Meta {
  epoch: number;
  replicas: [kernel: number, epoch: number][];
}

/** The memory part of a MigrateMessage. */
interface Departure {
  epoch: number;
  replicas: [kernel: number, epoch: number][];
  memory: PageSet;
  /** what the destination was taken to be current as of (collect's `since`) */
  since: number;
}

/** Core.depart: markDirty(epoch), collect what `to` lacks, both ends are current as of `epoch`. */
function depart(replica: Replica, self: number, to: number, meta: Meta): Departure {
  replica.markDirty(meta.epoch);
  const replicas = new Map(meta.replicas);
  const since = replicas.get(to) ?? -1;
  const memory = replica.collect(since);
  replicas.set(self, meta.epoch);
  replicas.set(to, meta.epoch);
  return { epoch: meta.epoch, replicas: [...replicas], memory: overTheWire(memory), since };
}

/** Core.arrive: apply the pages; the new stay is epoch + 1 and carries the replicas list on. */
function arrive(replica: Replica, d: Departure): Meta {
  replica.apply(d.memory);
  return { epoch: d.epoch + 1, replicas: d.replicas };
}

describe("markDirty", () => {
  it("marks only the pages whose bytes changed, with the epoch, and returns how many", () => {
    const m = sharedMemory(1);
    const r = Replica.fresh(m);
    poke(m, 3, 1);
    poke(m, 7, 2, 100);
    poke(m, 8, 3, PAGE_SIZE - 1);
    expect(r.markDirty(5)).toBe(3);
    expect(pagesOf(r.collect(4))).toEqual([
      { page: 3, version: 5 },
      { page: 7, version: 5 },
      { page: 8, version: 5 },
    ]);
    expect(pagesOf(r.collect(5))).toEqual([]);
  });

  it("finds nothing the second time: the twin has caught up", () => {
    const m = sharedMemory(1);
    const r = Replica.fresh(m);
    poke(m, 4, 9);
    expect(r.markDirty(0)).toBe(1);
    expect(r.markDirty(1)).toBe(0);
    expect(pagesOf(r.collect(-1))).toEqual([{ page: 4, version: 0 }]);
  });

  it("does not count a page written back to what it held at the last synchronization", () => {
    const m = sharedMemory(1);
    const r = Replica.fresh(m);
    poke(m, 5, 7);
    r.markDirty(0);
    poke(m, 5, 8);
    poke(m, 5, 7);
    poke(m, 6, 1);
    poke(m, 6, 0);
    expect(r.markDirty(1)).toBe(0);
    expect(pagesOf(r.collect(-1))).toEqual([{ page: 5, version: 0 }]);
  });

  it("sees pages on both sides of a 16-page comparison chunk and the last page of memory", () => {
    const m = sharedMemory(2); // 32 pages: chunks start at pages 2 and 18
    const r = Replica.fresh(m);
    const last = m.buffer.byteLength / PAGE_SIZE - 1;
    for (const p of [FIRST, 17, 18, last]) poke(m, p, 1, PAGE_SIZE - 1);
    expect(r.markDirty(0)).toBe(4);
    expect(pagesOf(r.collect(-1)).map((x) => x.page)).toEqual([FIRST, 17, 18, last]);
  });

  it("counts pages the memory grew by once they are written, and never the ones left at zero", () => {
    const m = sharedMemory(1, 3);
    const r = Replica.fresh(m);
    poke(m, 3, 1);
    expect(r.markDirty(0)).toBe(1);
    const generation = r.generation;
    m.grow(1);
    poke(m, 16, 1); // the first page of the new Wasm page
    poke(m, 31, 1); // its last
    expect(r.markDirty(1)).toBe(2);
    expect(r.generation, "twin and versions were replaced: their parts must be handed on again").toBeGreaterThan(generation);
    expect(r.pages).toBe(32);
    expect(pagesOf(r.collect(0))).toEqual([
      { page: 16, version: 1 },
      { page: 31, version: 1 },
    ]);
    expect(r.collect(0).wasmPages).toBe(2);
  });
});

describe("the reserved pages", () => {
  it(`below RESERVED_END (${RESERVED_END}) are never dirty and never travel`, () => {
    expect(FIRST).toBe(2);
    const m = sharedMemory(1);
    const r = Replica.fresh(m);
    for (let p = 0; p < FIRST; p++) {
      poke(m, p, 0xff);
      poke(m, p, 0xee, PAGE_SIZE - 1);
    }
    expect(r.markDirty(0)).toBe(0);
    expect(r.collect(-1).runs).toEqual([]);
    poke(m, FIRST, 1);
    expect(r.markDirty(1)).toBe(1);
    expect(runsOf(r.collect(-1))).toEqual([[FIRST, FIRST]]);
  });

  it("of the receiver are left as they were by an arrival", () => {
    const a = sharedMemory(1);
    const b = sharedMemory(1);
    const ra = Replica.fresh(a);
    const rb = Replica.fresh(b);
    view(a).fill(0x11);
    view(b).fill(0x22, 0, RESERVED_END); // b's own control words
    ra.markDirty(0);
    rb.apply(overTheWire(ra.collect(-1)));
    expect(reservedBytes(b).every((x) => x === 0x22)).toBe(true);
    expect(programBytes(b).equals(programBytes(a))).toBe(true);
  });
});

describe("collect", () => {
  it("returns exactly the pages with version > since, in runs of consecutive pages, with their versions", () => {
    const m = sharedMemory(1);
    const r = Replica.fresh(m);
    for (const p of [2, 3, 4, 10]) poke(m, p, 1);
    r.markDirty(0);
    for (const p of [4, 5, 11]) poke(m, p, 2);
    r.markDirty(1);
    poke(m, 15, 3);
    r.markDirty(2);

    const all = r.collect(-1);
    expect(runsOf(all)).toEqual([[2, 5], [10, 11], [15, 15]]);
    expect(all.versions).toEqual([0, 0, 1, 1, 0, 1, 2]);
    expect(runsOf(r.collect(0))).toEqual([[4, 5], [11, 11], [15, 15]]);
    expect(r.collect(0).versions).toEqual([1, 1, 1, 2]);
    expect(runsOf(r.collect(1))).toEqual([[15, 15]]);
    expect(r.collect(2).runs).toEqual([]);
    expect(all.wasmPages).toBe(1);
    for (const [first, bytes] of all.runs) {
      expect(Buffer.from(bytes).equals(Buffer.from(view(m).subarray(first * PAGE_SIZE, first * PAGE_SIZE + bytes.length)))).toBe(true);
    }
    expect(pageBytes(all)).toBe(7 * PAGE_SIZE);
  });

  it("on a fresh process, collect(-1) is every page ever written (its boot data included)", () => {
    const m = sharedMemory(1);
    poke(m, 2, 0x42); // written before the replica exists: the data segments at boot
    const r = Replica.fresh(m);
    poke(m, 9, 1);
    poke(m, 12, 1);
    r.markDirty(0);
    expect(pagesOf(r.collect(-1))).toEqual([
      { page: 2, version: 0 },
      { page: 9, version: 0 },
      { page: 12, version: 0 },
    ]);
  });

  it("for any writes in any epochs: the pages whose last change is after `since`, in maximal sorted runs", () => {
    const write = fc.record({ page: fc.integer({ min: 0, max: 47 }), slot: fc.integer({ min: 0, max: PAGE_SIZE / 4 - 1 }) });
    fc.assert(
      fc.property(fc.array(fc.array(write, { maxLength: 12 }), { minLength: 1, maxLength: 6 }), (epochs) => {
        const m = sharedMemory(3, 3); // 48 pages
        const r = Replica.fresh(m);
        const lastChange = new Map<number, number>();
        let stamp = 0;
        epochs.forEach((writes, epoch) => {
          for (const w of writes) {
            // a value never written before, so every write leaves its page unlike the twin
            new DataView(m.buffer).setUint32(w.page * PAGE_SIZE + w.slot * 4, ++stamp, true);
            if (w.page >= FIRST) lastChange.set(w.page, epoch);
          }
          const changed = new Set(writes.filter((w) => w.page >= FIRST).map((w) => w.page));
          expect(r.markDirty(epoch)).toBe(changed.size);
        });
        for (let since = -1; since <= epochs.length; since++) {
          const set = r.collect(since);
          const expected = [...lastChange].filter(([, e]) => e > since).sort(([a], [b]) => a - b);
          expect(pagesOf(set).map(({ page, version }) => [page, version])).toEqual(expected);
          const runs = runsOf(set);
          for (let i = 1; i < runs.length; i++) expect(runs[i]![0]!, "runs are sorted and not adjacent").toBeGreaterThan(runs[i - 1]![1]! + 1);
          for (const [first, bytes] of set.runs) {
            expect(Buffer.from(bytes).equals(Buffer.from(view(m).subarray(first * PAGE_SIZE, first * PAGE_SIZE + bytes.length)))).toBe(true);
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe("apply", () => {
  it("writes the pages into memory and twin: a following markDirty finds nothing", () => {
    const a = sharedMemory(1);
    const ra = Replica.fresh(a);
    for (const p of [2, 3, 8, 15]) poke(a, p, p, 17);
    ra.markDirty(0);
    const b = sharedMemory(1);
    const rb = Replica.fresh(b);
    rb.apply(overTheWire(ra.collect(-1)));
    expect(programBytes(b).equals(programBytes(a))).toBe(true);
    expect(rb.markDirty(1)).toBe(0);
    expect(rb.collect(-1)).toEqual(ra.collect(-1));
  });

  it("grows the memory to the sender's size, and a replica rebuilt from its parts sees the same pages", () => {
    const a = sharedMemory(1, 4);
    const ra = Replica.fresh(a);
    a.grow(2);
    poke(a, 40, 1);
    poke(a, 47, 2);
    ra.markDirty(0);
    const b = sharedMemory(1, 4);
    const rb = Replica.fresh(b);
    const generation = rb.generation;
    rb.apply(overTheWire(ra.collect(-1)));
    expect(b.buffer.byteLength).toBe(3 * WASM_PAGE);
    expect(programBytes(b).equals(programBytes(a))).toBe(true);
    expect(rb.generation).toBeGreaterThan(generation);
    expect(rb.markDirty(1)).toBe(0);
    const parts = rb.parts();
    expect(parts.twin.byteLength).toBe(3 * WASM_PAGE);
    expect(Replica.from(parts).collect(-1)).toEqual(rb.collect(-1));
  });

  it("refuses a run that does not fit the memory, naming the page", () => {
    const r = Replica.fresh(sharedMemory(1, 1));
    const page = new Uint8Array(PAGE_SIZE);
    expect(() => r.apply({ wasmPages: 1, runs: [[16, page]], versions: [0] })).toThrow(MemoryError);
    expect(() => r.apply({ wasmPages: 1, runs: [[16, page]], versions: [0] })).toThrow(/page 16\b/);
    expect(() => r.apply({ wasmPages: 1, runs: [[15, new Uint8Array(2 * PAGE_SIZE)]], versions: [0, 0] })).toThrow(/page 15\b/);
    expect(() => r.apply({ wasmPages: 1, runs: [[4, new Uint8Array(100)]], versions: [0] })).toThrow(/page 4\b/);
  });

  it("refuses a run into the reserved pages, naming the page", () => {
    const r = Replica.fresh(sharedMemory(1));
    expect(() => r.apply({ wasmPages: 1, runs: [[FIRST - 1, new Uint8Array(PAGE_SIZE)]], versions: [0] })).toThrow(
      new RegExp(`page ${FIRST - 1}\\b`),
    );
  });

  it("refuses to grow past the memory's maximum, with a MemoryError", () => {
    const r = Replica.fresh(sharedMemory(1, 2));
    expect(() => r.apply({ wasmPages: 5, runs: [], versions: [] })).toThrow(MemoryError);
    expect(() => r.apply({ wasmPages: 5, runs: [], versions: [] })).toThrow(/5 Wasm pages/);
  });
});

describe("the departure/arrival protocol (as host/kernel/core.ts runs it)", () => {
  it("a round trip A→B→A→B with nothing written in between sends no pages", () => {
    const a = sharedMemory(1);
    for (const p of [2, 5, 6, 12]) poke(a, p, 1);
    const ra = Replica.fresh(a); // after boot, as Core.start makes it
    const rb = Replica.fresh(sharedMemory(1));
    let meta: Meta = { epoch: 0, replicas: [] };

    const first = depart(ra, 0, 1, meta);
    expect(pageBytes(first.memory)).toBe(4 * PAGE_SIZE);
    meta = arrive(rb, first);
    const back = depart(rb, 1, 0, meta);
    expect(pageBytes(back.memory)).toBe(0);
    meta = arrive(ra, back);
    const again = depart(ra, 0, 1, meta);
    expect(pageBytes(again.memory), "a repeat migration with nothing written sends < 4 KiB of memory").toBeLessThan(PAGE_SIZE);
    expect(pageBytes(again.memory)).toBe(0);
    expect(again.replicas).toEqual([[0, 2], [1, 2]]);
  });

  it("a page written on one side travels once, to the side that lacks it", () => {
    const a = sharedMemory(1);
    const ra = Replica.fresh(a);
    const b = sharedMemory(1);
    const rb = Replica.fresh(b);
    let meta = arrive(rb, depart(ra, 0, 1, { epoch: 0, replicas: [] }));
    poke(b, 9, 7);
    const back = depart(rb, 1, 0, meta);
    expect(runsOf(back.memory)).toEqual([[9, 9]]);
    meta = arrive(ra, back);
    expect(pageBytes(depart(ra, 0, 1, meta).memory)).toBe(0);
  });

  const write = fc.record({
    page: fc.integer({ min: 0, max: 47 }), // pages 0 and 1 are reserved: written, never sent
    offset: fc.integer({ min: 0, max: PAGE_SIZE - 1 }),
    value: fc.integer({ min: 0, max: 255 }),
  });
  const stay = fc.record({
    writes: fc.array(write, { maxLength: 10 }),
    grow: fc.boolean(),
    to: fc.nat(),
  });

  /**
   * Runs a process over `kernels` kernels for the given stays and checks, at
   * every arrival: the destination's memory is the source's byte for byte
   * (the reserved pages aside, which stay the destination's own), and only
   * pages changed after the destination's replica was current travelled.
   */
  function migrateAround(kernels: number, boot: fc.Arbitrary<{ page: number; offset: number; value: number }[]>) {
    return fc.property(boot, fc.array(stay, { minLength: 1, maxLength: 12 }), (bootWrites, stays) => {
      const INITIAL = 1;
      const MAXIMUM = 3;
      const replicas = new Map<number, Replica>();
      /** per page: the last epoch in which some write changed its bytes */
      const changedIn = new Map<number, number>();
      const origin = sharedMemory(INITIAL, MAXIMUM);
      const writeAll = (m: WebAssembly.Memory, writes: { page: number; offset: number; value: number }[], epoch: number) => {
        for (const w of writes) {
          if (w.page * PAGE_SIZE >= m.buffer.byteLength) continue;
          const at = w.page * PAGE_SIZE + w.offset;
          if (view(m)[at] !== w.value && w.page >= FIRST) changedIn.set(w.page, epoch);
          view(m)[at] = w.value;
        }
      };
      writeAll(origin, bootWrites, 0);
      replicas.set(0, Replica.fresh(origin));
      let here = 0;
      let meta: Meta = { epoch: 0, replicas: [] };
      for (const s of stays) {
        const src = replicas.get(here)!;
        if (s.grow && src.memory.buffer.byteLength < MAXIMUM * WASM_PAGE) src.memory.grow(1);
        writeAll(src.memory, s.writes, meta.epoch);
        const to = (here + 1 + (s.to % (kernels - 1))) % kernels;
        const d = depart(src, here, to, meta);
        for (const { page } of pagesOf(d.memory)) {
          expect(changedIn.get(page), `page ${page} sent to kernel ${to}, current as of ${d.since}`).toBeGreaterThan(d.since);
        }
        if (!replicas.has(to)) {
          const m = sharedMemory(INITIAL, MAXIMUM);
          view(m).fill(0xc0 + to, 0, RESERVED_END); // the destination's own control words
          replicas.set(to, Replica.fresh(m));
        }
        const dst = replicas.get(to)!;
        const reserved = reservedBytes(dst.memory);
        meta = arrive(dst, d);
        expect(dst.memory.buffer.byteLength).toBe(src.memory.buffer.byteLength);
        expect(programBytes(dst.memory).equals(programBytes(src.memory)), `memory of kernel ${to} after arrival from ${here}`).toBe(true);
        expect(reservedBytes(dst.memory).equals(reserved)).toBe(true);
        here = to;
      }
    });
  }

  it("two kernels kept in sync by the protocol hold identical memory at every arrival", () => {
    fc.assert(migrateAround(2, fc.array(write, { maxLength: 8 })), { numRuns: 200 });
  });

  it("three kernels, the process going anywhere: identical memory at every arrival, only changed pages travel", () => {
    fc.assert(migrateAround(3, fc.array(write, { maxLength: 8 })), { numRuns: 200 });
  });
});
