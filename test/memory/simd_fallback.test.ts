// diff() makes a page's change mask with Wasm SIMD (memory/simd.ts) and
// sends a page as runs or dense; where the module cannot run (a twin that
// is not a shared memory, as on a runtime without SIMD) it compares in
// JavaScript (spans.ts addChanged) and sends runs only. Both must send the
// same bytes at the same addresses, release after release, with the
// memory growing between them; and home must end with the same memory
// from either (fast-check).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Diff, diffBytes, diffRuns, MemoryError, PAGE_SIZE, Replica } from "../../host/memory/index.js";
import { decodeMessage, encodeMessage, type ReleaseMessage } from "../../host/msg/index.js";
import { RESERVED_END } from "../../host/toolchain/index.js";

const WASM_PAGE = 65536;
const MAX = 2;

/** The bytes a diff writes, by address (-1: not written), runs of either form however they are cut; -2 where two runs overlap. */
function bytesOf(d: Diff): Int16Array {
  const out = new Int16Array(MAX * WASM_PAGE).fill(-1);
  for (const [addr, bytes] of diffRuns(d)) {
    for (let i = 0; i < bytes.length; i++) out[addr + i] = out[addr + i] === -1 ? bytes[i]! : -2;
  }
  return out;
}

let shift = 0;
function wire(d: Diff): Diff {
  const s = shift++ % 8;
  const bytes = encodeMessage({ t: "release", pid: 1, tid: 0, diff: d }, (n) => new Uint8Array(n + 8).subarray(s, s + n));
  return (decodeMessage(bytes, "the test") as ReleaseMessage).diff;
}

/** A replica whose twin the SIMD module cannot import: a plain (not shared) memory, as on a runtime without it. */
function plainReplica(memory: WebAssembly.Memory): Replica {
  const parts = Replica.fresh(memory, MAX).parts();
  const twin = new WebAssembly.Memory({ initial: memory.buffer.byteLength / WASM_PAGE, maximum: MAX });
  return Replica.from({ ...parts, twin });
}

type Write =
  | { t: "fill"; at: number; len: number; value: number }
  | { t: "words"; at: number; len: number; keep: number; word: number }
  | { t: "back"; at: number; len: number }
  | { t: "last"; value: number }
  | { t: "grow" };

const write: fc.Arbitrary<Write> = fc.oneof(
  fc.record({ t: fc.constant("fill" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 2 * PAGE_SIZE }), value: fc.nat(255) }),
  fc.record({ t: fc.constant("words" as const), at: fc.nat(), len: fc.integer({ min: 8, max: 3 * PAGE_SIZE }), keep: fc.nat(255), word: fc.constantFrom(2, 4, 8, 16) }),
  fc.record({ t: fc.constant("back" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 3 * PAGE_SIZE }) }),
  fc.record({ t: fc.constant("last" as const), value: fc.nat(255) }),
  fc.record({ t: fc.constant("grow" as const) }),
);

describe("diff with the SIMD page mask and without it", () => {
  it("sends the same bytes at the same addresses, release after release, as the memory grows; home ends the same", () => {
    let dense = 0;
    fc.assert(
      fc.property(fc.array(fc.array(write, { maxLength: 6 }), { minLength: 1, maxLength: 5 }), (rounds) => {
        const mems = [0, 1].map(() => new WebAssembly.Memory({ initial: 1, maximum: MAX, shared: true }));
        const simd = Replica.fresh(mems[0]!, MAX);
        const plain = plainReplica(mems[1]!);
        const homes = [0, 1].map(() => new WebAssembly.Memory({ initial: 1, maximum: MAX, shared: true }));
        const homeReplicas = homes.map((m) => Replica.fresh(m, MAX));
        const released = new Uint8Array(MAX * WASM_PAGE); // what both released last: "back" writes it again
        rounds.forEach((writes, round) => {
          for (const w of writes) {
            for (const m of mems) {
              const v = new Uint8Array(m.buffer);
              const from = RESERVED_END + ("at" in w ? w.at % (v.length - RESERVED_END) : 0);
              const to = "len" in w ? Math.min(from + w.len, v.length) : from;
              if (w.t === "grow") {
                if (v.length < MAX * WASM_PAGE) m.grow(1);
              } else if (w.t === "last") v[v.length - 1] = w.value;
              else if (w.t === "back") v.set(released.subarray(from, to), from);
              else for (let a = from; a < to; a++) {
                if (w.t === "fill") v[a] = w.value;
                else if (!(w.keep & (1 << (a % w.word)))) v[a] = (v[a]! + 1 + ((a + round) & 0x3f)) & 0xff;
              }
            }
          }
          const d = [simd.diff(), plain.diff()];
          expect(d[1]!.densePages.length, "without SIMD: runs only").toBe(0);
          if (d[0]!.densePages.length > 0) dense++;
          expect(d[0]!.release).toBe(d[1]!.release);
          expect(d[0]!.wasmPages).toBe(d[1]!.wasmPages);
          expect(diffBytes(d[0]!)).toBe(diffBytes(d[1]!));
          const [a, b] = d.map(bytesOf);
          if (!Buffer.from(a!.buffer).equals(Buffer.from(b!.buffer))) {
            const at = a!.findIndex((x, i) => x !== b![i]);
            expect.fail(`round ${round}: byte ${at} is ${a![at]} with SIMD, ${b![at]} without (-1: not sent)`);
          }
          // and the bytes sent are exactly the changed ones, with their new values
          const now = new Uint8Array(mems[0]!.buffer);
          for (let i = 0; i < a!.length; i++) {
            const want = i >= RESERVED_END && i < now.length && now[i] !== released[i] ? now[i]! : -1;
            if (a![i] !== want) expect.fail(`round ${round}: byte ${i} sent as ${a![i]}, the memory changed it to ${want} (-1: unchanged)`);
          }
          released.set(now);
          d.forEach((x, k) => homeReplicas[k]!.applyDiff(wire(x), 1));
          expect(Buffer.from(homes[0]!.buffer).equals(Buffer.from(homes[1]!.buffer))).toBe(true);
          expect(Buffer.from(new Uint8Array(homes[0]!.buffer).subarray(RESERVED_END)).equals(Buffer.from(now.subarray(RESERVED_END, homes[0]!.buffer.byteLength)))).toBe(true);
        });
      }),
      { numRuns: 60 },
    );
    expect(dense, "releases with dense pages").toBeGreaterThan(10);
  });

  it("a diff applied twice or ahead of its turn is refused, and home does not change", () => {
    const m = new WebAssembly.Memory({ initial: 1, maximum: MAX, shared: true });
    const r = Replica.fresh(m, MAX);
    const hm = new WebAssembly.Memory({ initial: 1, maximum: MAX, shared: true });
    const home = Replica.fresh(hm, MAX);
    const v = new Uint8Array(m.buffer);
    v[RESERVED_END] = 1;
    const d1 = wire(r.diff());
    v[RESERVED_END + 1] = 2;
    const d2 = wire(r.diff());
    expect(() => home.applyDiff(d2, 1)).toThrow(/release 2 arrived where release 1 was due/);
    home.applyDiff(d1, 1);
    const before = Buffer.from(new Uint8Array(hm.buffer));
    expect(() => home.applyDiff(d1, 1)).toThrow(MemoryError);
    expect(() => home.applyDiff(d1, 1)).toThrow(/release 1 arrived where release 2 was due/);
    expect(Buffer.from(new Uint8Array(hm.buffer)).equals(before)).toBe(true);
    home.applyDiff(d2, 1);
    expect([...new Uint8Array(hm.buffer).subarray(RESERVED_END, RESERVED_END + 2)]).toEqual([1, 2]);
  });
});
