// Releases and acquires between home and two kernels against a model that
// says, after EVERY step, what each memory must hold — not only after all
// kernels have synchronized. Each byte has one owner kernel (race-free
// threads; owners interleaved down to single bytes, so pages are shared
// falsely); a kernel's releases travel to home in order but may lag
// behind (several in flight); acquires are collected and merged at once,
// quiet or not; memories grow on any kernel; pages are rewritten word by
// word (dense), written back to what they held, written across page
// boundaries and up to the last byte of memory. Every diff and page set
// goes through the wire (msg/messages.ts, MessagePack) at all 8 alignments.
//
//   model        own[k]        the bytes kernel k's threads wrote (its own bytes)
//                released[k]   own[k] as of each release of k, in order
//                applied       the last of them home applied
//   home         byte a of owner 0: own[0][a]; of owner k: that release's a
//   kernel k     after an acquire: its own bytes own[k]; every other byte
//                home's, except in a page a release of k still on its way
//                touched (left out as stale: the bytes it held before)
//
// A diff applied a second time, or before the one due, is refused, and
// home does not change.
import { decode, encode } from "@msgpack/msgpack";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Diff, MemoryError, PAGE_SIZE, type PageSet, Replica } from "../../host/memory/index.js";
import { decodeMessage, encodeMessage, type ReleaseMessage } from "../../host/msg/index.js";
import { RESERVED_END } from "../../host/toolchain/index.js";

const WASM_PAGE = 65536;
const MAX = 2;
const KERNELS = [0, 1, 2];

let wires = 0;
/** A diff through a release message, the message at offset 0 … 7 of its buffer; a page set through MessagePack. */
function wireDiff(d: Diff): Diff {
  const shift = wires++ % 8;
  const bytes = encodeMessage({ t: "release", pid: 1, tid: 0, diff: d }, (n) => new Uint8Array(n + 8).subarray(shift, shift + n));
  return (decodeMessage(bytes, "the test") as ReleaseMessage).diff;
}
function wireSet(s: PageSet): PageSet {
  const bytes = encode(s);
  const shift = wires++ % 8;
  const moved = new Uint8Array(bytes.length + 8);
  moved.set(bytes, shift);
  return decode(moved.subarray(shift, shift + bytes.length)) as PageSet;
}

type Step =
  | { t: "write"; k: number; at: number; len: number; value: number }
  | { t: "words"; k: number; at: number; len: number; keep: number }
  | { t: "revert"; k: number; at: number; len: number }
  | { t: "last"; value: number }
  | { t: "grow"; k: number }
  | { t: "release"; k: number }
  | { t: "deliver"; k: number }
  | { t: "acquire"; k: number; quiet: boolean }
  | { t: "replay"; k: number };

const kernel = fc.constantFrom(...KERNELS);
const remote = fc.constantFrom(1, 2);
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant("write" as const), k: kernel, at: fc.nat(), len: fc.integer({ min: 1, max: 2 * PAGE_SIZE }), value: fc.nat(255) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("words" as const), k: kernel, at: fc.nat(), len: fc.integer({ min: 8, max: 3 * PAGE_SIZE }), keep: fc.nat(255) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("revert" as const), k: kernel, at: fc.nat(), len: fc.integer({ min: 1, max: 3 * PAGE_SIZE }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("last" as const), value: fc.nat(255) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("grow" as const), k: kernel }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("release" as const), k: remote }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("deliver" as const), k: remote }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("acquire" as const), k: remote, quiet: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("replay" as const), k: remote }) },
);

const owners = new Map<number, Int32Array[]>();
/** per kernel, the addresses it owns when owners take slices of `slice` bytes in turn */
function ownedBy(slice: number): Int32Array[] {
  let out = owners.get(slice);
  if (out) return out;
  const lists: number[][] = [[], [], []];
  for (let a = RESERVED_END; a < MAX * WASM_PAGE; a++) lists[Math.floor((a - RESERVED_END) / slice) % 3]!.push(a);
  out = lists.map((l) => Int32Array.from(l));
  owners.set(slice, out);
  return out;
}

const seen = { acquires: 0, inFlight: 0, stale: 0, dense: 0 };

function run(steps: Step[], slice: number): void {
  const memories = KERNELS.map(() => new WebAssembly.Memory({ initial: 1, maximum: MAX, shared: true }));
  const replicas = memories.map((m) => Replica.fresh(m, MAX));
  const home = replicas[0]!;
  const view = (k: number) => new Uint8Array(memories[k]!.buffer);
  const owner = (a: number) => Math.floor((a - RESERVED_END) / slice) % 3;
  const own = KERNELS.map(() => new Uint8Array(MAX * WASM_PAGE));
  /** per remote kernel: own[k] at each release not yet applied, and the pages that release touched */
  const inFlight: { diff: Diff; snapshot: Uint8Array; pages: Set<number> }[][] = [[], [], []];
  const lastReleased = KERNELS.map(() => new Uint8Array(MAX * WASM_PAGE));
  const done: Diff[][] = [[], [], []];
  /** per kernel, the addresses it owns */
  const owned = ownedBy(slice);
  /** home's bytes as the model has them: own[0] and, for the others' bytes, their last release home applied */
  const homeModel = new Uint8Array(MAX * WASM_PAGE);
  const homeByte = (a: number) => homeModel[a]!;
  const checkHome = (when: string) => {
    const v = view(0);
    if (Buffer.compare(v.subarray(RESERVED_END), homeModel.subarray(RESERVED_END, v.length)) === 0) return;
    const a = v.findIndex((x, i) => i >= RESERVED_END && x !== homeModel[i]);
    expect.fail(`${when}: home's byte ${a} (owner ${owner(a)}) is ${v[a]}, the model says ${homeByte(a)}`);
  };
  const ownBytes = (k: number, from: number, to: number, f: (a: number) => number | undefined) => {
    const v = view(k);
    for (let a = from; a < Math.min(to, v.length); a++) {
      if (owner(a) !== k) continue;
      const x = f(a);
      if (x === undefined) continue;
      v[a] = x;
      own[k]![a] = x;
      if (k === 0) homeModel[a] = x;
    }
  };
  const start = (k: number, at: number) => RESERVED_END + (at % (view(k).length - RESERVED_END));

  for (const [n, s] of steps.entries()) {
    const when = `step ${n} (${JSON.stringify(s)})`;
    switch (s.t) {
      case "write": {
        const from = start(s.k, s.at);
        ownBytes(s.k, from, from + s.len, (a) => (s.value + a) & 0xff);
        break;
      }
      case "words": {
        const from = start(s.k, s.at);
        ownBytes(s.k, from, from + s.len, (a) => (s.keep & (1 << (a & 7)) ? undefined : (own[s.k]![a]! + 1 + (a & 7)) & 0xff));
        break;
      }
      case "revert": {
        // back to what the kernel last released (home's own bytes: to what home last collected): nothing to send there
        const from = start(s.k, s.at);
        ownBytes(s.k, from, from + s.len, (a) => lastReleased[s.k]![a]!);
        break;
      }
      case "last": {
        // the last byte of the largest memory, written by its owner where that kernel's memory reaches it
        const k = KERNELS.reduce((x, y) => (view(y).length > view(x).length ? y : x));
        const a = view(k).length - 1;
        const o = owner(a);
        if (view(o).length > a) ownBytes(o, a, a + 1, () => s.value);
        break;
      }
      case "grow":
        if (memories[s.k]!.buffer.byteLength < MAX * WASM_PAGE) memories[s.k]!.grow(1);
        break;
      case "release": {
        const d = wireDiff(replicas[s.k]!.diff());
        if (d.densePages.length > 0) seen.dense++;
        const snapshot = own[s.k]!.slice();
        const pages = new Set<number>();
        for (let p = RESERVED_END / PAGE_SIZE; p < view(s.k).length / PAGE_SIZE; p++) {
          const at = p * PAGE_SIZE;
          if (Buffer.compare(snapshot.subarray(at, at + PAGE_SIZE), lastReleased[s.k]!.subarray(at, at + PAGE_SIZE)) !== 0) pages.add(p);
        }
        expect(d.wasmPages, when).toBe(view(s.k).length / WASM_PAGE);
        if (pages.size === 0) {
          expect(d.index.length + d.densePages.length, `${when}: nothing changed, an empty diff`).toBe(0);
          home.applyDiff(d, s.k); // empty: taken at any time (it only grows home's memory)
          checkHome(when);
          break;
        }
        lastReleased[s.k] = snapshot;
        inFlight[s.k]!.push({ diff: d, snapshot, pages });
        break;
      }
      case "deliver": {
        const next = inFlight[s.k]!.shift();
        if (!next) break;
        home.applyDiff(next.diff, s.k);
        for (const a of owned[s.k]!) homeModel[a] = next.snapshot[a]!;
        done[s.k]!.push(next.diff);
        checkHome(when);
        expect(view(0).length).toBeGreaterThanOrEqual(next.diff.wasmPages * WASM_PAGE);
        break;
      }
      case "replay": {
        // a diff home applied already, or one ahead of the next due: refused, nothing changes
        const again = [...done[s.k]!.slice(-1), ...inFlight[s.k]!.slice(1, 2).map((x) => x.diff)];
        for (const d of again) {
          const clock = home.clock;
          expect(() => home.applyDiff(d, s.k), when).toThrow(MemoryError);
          expect(() => home.applyDiff(d, s.k), when).toThrow(/arrived where release \d+ was due/);
          expect(home.clock).toBe(clock);
          checkHome(when);
        }
        break;
      }
      case "acquire": {
        const before = view(s.k).slice();
        const set = wireSet(home.collectFor(s.k));
        const merged = replicas[s.k]!.merge(set, s.quiet);
        const stalePages = new Set(inFlight[s.k]!.flatMap((x) => [...x.pages]));
        expect(merged.stale, when).toBeLessThanOrEqual(stalePages.size);
        if (merged.stale > 0) seen.stale++;
        if (stalePages.size > 0) seen.inFlight++;
        seen.acquires++;
        const v = view(s.k);
        expect(v.length, `${when}: grown to home's size`).toBe(Math.max(before.length, view(0).length));
        // what the kernel must hold: home's bytes (zeros past home's memory), its own bytes its own
        const want = homeModel.slice(0, v.length);
        for (const a of owned[s.k]!) if (a < v.length) want[a] = own[s.k]![a]!;
        const old = new Uint8Array(v.length);
        old.set(before);
        const same = (x: Uint8Array, at: number) => Buffer.compare(v.subarray(at, at + PAGE_SIZE), x.subarray(at, at + PAGE_SIZE)) === 0;
        for (let p = RESERVED_END / PAGE_SIZE; p < v.length / PAGE_SIZE; p++) {
          const at = p * PAGE_SIZE;
          if (same(want, at) || (stalePages.has(p) && same(old, at))) continue;
          let a = at;
          while (v[a] === want[a]) a++;
          expect.fail(`${when}: kernel ${s.k}'s byte ${a} (owner ${owner(a)}) is ${v[a]}, the model says ${want[a]} (before the merge ${before[a]}${stalePages.has(p) ? ", a stale page" : ""})`);
        }
        break;
      }
    }
  }
}

describe("releases and acquires against the model, after every step (fast-check)", () => {
  it("owners in slices of 1, 3, 8, 64 or 4096 bytes", () => {
    fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 50, size: "max" }), fc.constantFrom(1, 3, 8, 64, 4096), run), { numRuns: 120 });
    expect(seen.stale, "acquires that left a page out as stale").toBeGreaterThan(5);
    expect(seen.dense, "releases with dense pages").toBeGreaterThan(20);
  });
});
