// Capture at random migration points: whatever the points, the program
// prints what the plain run prints.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileExample, run } from "../helpers.js";

describe("capture at random points", () => {
  it.each([
    { name: "quicksort", args: ["150"] },
    { name: "fib", args: ["9", "120"] },
    { name: "indirect", args: ["60", "8"] },
  ])("$name gives the plain output wherever it is captured", async ({ name, args }) => {
    const c = await compileExample(name, { runtime: "stub" });
    const plain = run(c.plain, { args });
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 12 }), (gaps) => {
        let i = 0;
        const r = run(c.wasm, { args, nextCapture: () => gaps[i++] });
        expect(r.output).toEqual(plain.output);
        expect(r.status).toBe(plain.status);
      }),
      { numRuns: 25 },
    );
  });
});
