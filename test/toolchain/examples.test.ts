// Every example runs to completion plain and instrumented, with capture +
// restore into a fresh instance forced at every k-th migration point, and
// prints exactly the same thing.
import { describe, expect, it } from "vitest";
import { EXAMPLES, compileExample, run } from "../helpers.js";

describe.each(EXAMPLES)("example $name", ({ name, args, runtime }) => {
  it.each([1, 3, 17])("gives the plain run's output with capture + restore at every %i-th point", async (k) => {
    const c = await compileExample(name, { runtime: runtime ?? "stub" });
    const plain = run(c.plain, { args });
    expect(plain.status).toBe(0);
    expect(plain.output.length).toBeGreaterThan(0);
    const instrumented = run(c.wasm, { args, checkpointEvery: k });
    expect(instrumented.output).toEqual(plain.output);
    expect(instrumented.status).toBe(plain.status);
    expect(instrumented.captures).toBeGreaterThan(k === 1 ? 10 : 0);
  });

  it("runs uninterrupted with no captures", async () => {
    const c = await compileExample(name, { runtime: runtime ?? "stub" });
    const plain = run(c.plain, { args });
    const instrumented = run(c.wasm, { args });
    expect(instrumented.output).toEqual(plain.output);
    expect(instrumented.captures).toBe(name === "hello" ? 5 : 0); // hello migrates to itself 5 times
  });
});
