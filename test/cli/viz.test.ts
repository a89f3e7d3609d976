// `popcorn viz`: the page of a migration trace. The trace is built here from
// a real run of the fib example (trace-fixture.ts), not by `run --trace`.
// The page must name every frame and every value's locations, put each
// value's line where its bytes are on both sides (the spill chain
// included), refuse what is not a trace with a one-line error, and render
// in headless Chromium without errors.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import type { MigrationTraceFile } from "../../host/kernel/index.js";
import { CompileError } from "../../host/toolchain/index.js";
import { CLIENT_JS, DATA_ELEMENT_ID, parseTrace, renderTracePage, type VizModel } from "../../host/cli/viz/index.js";
import { ROOT } from "../helpers.js";
import { CHROMIUM_ARGS, findChromium } from "../setup/chromium.js";
import { fibTrace } from "./trace-fixture.js";

const dir = mkdtempSync(join(tmpdir(), "popcorn-viz-"));
let trace: MigrationTraceFile;
let html: string;

beforeAll(async () => {
  trace = (await fibTrace()).trace;
  html = renderTracePage(trace, { file: "fib.trace.json" });
});

/** The page's JSON blob, parsed. */
function modelOf(page: string): VizModel {
  const m = new RegExp(`<script type="application/json" id="${DATA_ELEMENT_ID}">([^<]*)</script>`).exec(page);
  expect(m, "the page has its JSON blob").not.toBeNull();
  return JSON.parse(m![1]!) as VizModel;
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

describe("the fixture trace", () => {
  it("holds migrations both ways, a deep fib stack, and x86-64 spill slots", () => {
    expect(trace.migrations.map((m) => `${m.from.isa}→${m.to.isa}`)).toEqual(["x86-64→aarch64", "aarch64→x86-64", "x86-64→aarch64", "aarch64→x86-64"]);
    expect(trace.migrations[1]!.frames.map((f) => f.function.split("/").pop())).toEqual(["fib", "fib", "fib", "fib", "fib", "main"]);
    expect(trace.migrations[0]!.transform.counts.from.stack).toBeGreaterThan(0);
  });
});

describe("renderTracePage", () => {
  it("is one self-contained HTML document: inline style and script, nothing fetched", () => {
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).toContain("<style>");
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet|@import|url\(\s*["']?https?:|@font-face/i);
    expect(html.replaceAll('"http://www.w3.org/2000/svg"', "")).not.toMatch(/https?:\/\//); // a namespace name, not an address
  });

  it("shows every phase, in the order they happen, and keeps the ones beside the path out of the bar's sum", () => {
    const model = modelOf(html);
    trace.migrations.forEach((m, i) => {
      const phases = model.migrations[i]!.phases;
      expect(phases.map((p) => p.name).sort()).toEqual(Object.keys(m.phasesUs).sort());
      const names = phases.map((p) => p.name);
      expect(names.indexOf("capture")).toBeLessThan(names.indexOf("lower"));
      expect(names.indexOf("send")).toBeLessThan(names.indexOf("lift"));
      for (const p of phases) expect(p.within).toBe({ dirty: "in ahead", pages: "meanwhile" }[p.name]);
    });
  });

  it("names the program, every frame's function and every value's locations, in valid embedded JSON", () => {
    expect(html).toContain(`<span class="prog" id="program">fib</span>`);
    const model = modelOf(html);
    expect(model.program).toBe("fib");
    expect(model.kernels).toEqual(trace.kernels);
    expect(model.migrations).toHaveLength(trace.migrations.length);
    trace.migrations.forEach((m, i) => {
      const v = model.migrations[i]!;
      expect(v.frames.map((f) => f.function)).toEqual(m.transform.frames.map((f) => f.function));
      expect(v.frames.map((f) => f.function)).toEqual(m.frames.map((f) => f.function));
      const texts = m.transform.frames.flatMap((f) => f.values.map((x) => [x.fromText, x.toText]));
      expect(v.values.map((x) => [x.ends[0].text, x.ends[1].text])).toEqual(texts);
      expect(v.values.map((x) => x.text)).toEqual(m.frames.flatMap((f) => f.values.map((x) => x.value)));
    });
    for (const m of trace.migrations) {
      for (const f of m.transform.frames) {
        if (!f.function.includes("<")) expect(html).toContain(f.function); // "<" is written \u003c in the blob
        for (const x of f.values) {
          expect(html).toContain(JSON.stringify(x.fromText));
          expect(html).toContain(JSON.stringify(x.toText));
        }
      }
    }
  });

  it("finds every value's bytes where it says they are, on both sides", () => {
    for (const m of modelOf(html).migrations) {
      for (const v of m.values) {
        for (const end of v.ends) if (end.kind !== "constant") expect(end.matches, `${v.name} of frame ${v.depth} at ${end.text}`).toBe(true);
      }
    }
  });

  it("reads a register value of an outer frame from the save slot of the frame it called (the spill chain)", () => {
    const m = modelOf(html).migrations[1]!; // fib(1) ← fib(2) ← … ← main, aarch64 → x86-64
    const fibs = m.values.filter((v) => m.frames[v.depth]!.name === "fib");
    expect(fibs).toHaveLength(5);
    for (const v of fibs) {
      for (const end of v.ends) {
        if (v.depth === 0) expect(end.kind).toBe("register"); // the running frame's $0 is in the register file
        else expect(end).toMatchObject({ kind: "stack", savedBy: { depth: v.depth - 1 } });
      }
    }
    const saves = m.sides[0].rows.flatMap((r) => r.parts).filter((p) => p.kind === "save" && p.value !== undefined);
    expect(saves.map((p) => p.note)).toContain("= #2 fib's $0 (3)");
  });

  it("names every row of every frame, and chains return addresses and frame pointers to the caller", () => {
    for (const m of modelOf(html).migrations) {
      for (const side of m.sides) {
        expect(side.rows[0]!.addr + 8).toBe(side.stackTop);
        expect(side.rows.at(-1)!.addr).toBe(side.sp);
        for (const r of side.rows) {
          expect(r.frame).toBeGreaterThanOrEqual(0);
          expect(r.parts.reduce((n, p) => n + p.size, 0)).toBe(8);
        }
        const ret = side.rows.flatMap((r) => r.parts).filter((p) => p.kind === "ret");
        const fp = side.rows.flatMap((r) => r.parts).filter((p) => p.kind === "fp");
        expect(ret).toHaveLength(m.frames.length);
        expect(fp).toHaveLength(m.frames.length);
        // rows run from the top of the stack: the outermost frame's first
        expect(ret[0]!.note).toMatch(/→ the entry stub$/);
        expect(ret.slice(1).every((p) => /^0x[0-9a-f]+ → #\d+ \S+, site \d+$/.test(p.note))).toBe(true);
        expect(fp.filter((p) => p.target !== undefined)).toHaveLength(m.frames.length - 1);
      }
    }
  });

  it("keeps a </script> in the trace's strings inside the JSON blob", () => {
    const t = clone(trace);
    t.program = "</script><script>alert(1)</script><!--";
    const page = renderTracePage(t);
    expect(page.match(/<\/script>/g)).toHaveLength(2);
    expect(modelOf(page).program).toBe(t.program);
  });

  it("refuses a hand-edited trace whose frames or values are out of place, naming the field, not with a TypeError", () => {
    const edits: [string, (t: MigrationTraceFile) => void][] = [
      ["transform.frames[0]", (t) => t.migrations[0]!.transform.frames.shift()],
      ["transform.frames[1].depth", (t) => (t.migrations[0]!.transform.frames[1]!.depth = -1)],
      ["transform.frames[0].values[0].index", (t) => (t.migrations[0]!.transform.frames[0]!.values[0]!.index = 99)],
      ["transform.frames[0].values[0]", (t) => t.migrations[0]!.transform.frames[0]!.values.shift()],
    ];
    for (const [field, edit] of edits) {
      const t = clone(trace);
      expect(t.migrations[0]!.transform.frames[0]!.values.length).toBeGreaterThan(1);
      edit(t);
      const render = () => renderTracePage(parseTrace(JSON.stringify(t), "edited.json"), { file: "edited.json" });
      expect(render, field).toThrow(CompileError);
      expect(render, field).toThrow(/^edited\.json: migrations\[0\]\.transform\.frames\[\d\]/);
    }
  });

  it("names each migration's thread, and reads a trace written before threads were traced as main's", () => {
    const t = clone(trace);
    t.migrations[1]!.tid = 2;
    expect(modelOf(renderTracePage(parseTrace(JSON.stringify(t), "t.json"))).migrations.map((m) => m.tid)).toEqual([0, 2, 0, 0]);
    for (const m of t.migrations) delete (m as { tid?: number }).tid;
    expect(modelOf(renderTracePage(parseTrace(JSON.stringify(t), "old.json"))).migrations.map((m) => m.tid)).toEqual([0, 0, 0, 0]);
    t.migrations[0]!.tid = 1.5;
    expect(() => parseTrace(JSON.stringify(t), "bad.json")).toThrow(/^bad\.json: migrations\[0\]\.tid/);
  });

  it("shows a trace without migrations", () => {
    const t = { ...clone(trace), migrations: [] };
    expect(modelOf(renderTracePage(t)).migrations).toEqual([]);
  });

  it("has a script that parses, holds no </script and no template-string hole", () => {
    expect(() => new Function(CLIENT_JS)).not.toThrow();
    expect(CLIENT_JS).not.toMatch(/<\/script|`/i);
  });

  const BAD: [string, (t: Record<string, any>) => unknown, RegExp][] = [
    ["an array", () => [1, 2], /^bad\.json: not a popcorn trace \(the file holds an array/],
    ["another format", (t) => ({ ...t, format: "chrome-trace" }), /^bad\.json: not a popcorn trace \(format is "chrome-trace", expected "popcorn-trace"\)$/],
    ["no format", ({ format, ...t }) => t, /^bad\.json: not a popcorn trace \(no format field/],
    ["a newer version", (t) => ({ ...t, version: 2 }), /^bad\.json: trace version 2 is newer than this popcorn reads \(1\)/],
    ["no migrations", ({ migrations, ...t }) => t, /^bad\.json: migrations: expected an array, got nothing$/],
    ["an unknown ISA", (t) => { t.migrations[0].from.isa = "mips"; return t; }, /^bad\.json: migrations\[0\]\.from\.isa: unknown ISA "mips" — known ISAs: x86-64, aarch64$/],
    ["a stack of the wrong length", (t) => { t.migrations[1].source.stack += "00"; return t; }, /^bad\.json: migrations\[1\]\.source\.stack: \d+ hex digits, but sp\.\.stackTop is \d+ bytes$/],
    ["a location of no kind", (t) => { t.migrations[0].transform.frames[0].values[0].to.kind = "memory"; return t; }, /^bad\.json: migrations\[0\]\.transform\.frames\[0\]\.values\[0\]\.to\.kind: expected "register", "stack" or "constant", got "memory"$/],
  ];
  it.each(BAD)("refuses %s with a one-line error naming the file and the field", (_, spoil, message) => {
    const bad = spoil(clone(trace) as unknown as Record<string, any>);
    let err: unknown;
    try {
      renderTracePage(bad as MigrationTraceFile, { file: "bad.json" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CompileError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain("\n");
  });
});

describe("popcorn viz", () => {
  beforeAll(() => {
    // the command under test is the bundle bin/popcorn.js runs: build it from this checkout
    const b = spawnSync(process.execPath, [join(ROOT, "build.mjs")], { encoding: "utf8" });
    expect(b.status, b.stderr).toBe(0);
  });
  const popcorn = (...args: string[]) => {
    const r = spawnSync(process.execPath, [join(ROOT, "bin/popcorn.js"), ...args], { cwd: dir, encoding: "utf8", timeout: 60_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it("writes the page and says where, how many migrations and how many bytes", () => {
    const file = join(dir, "fib.trace.json");
    writeFileSync(file, JSON.stringify(trace));
    const out = join(dir, "fib.html");
    const r = popcorn("viz", file, "-o", out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`wrote ${out} (4 migrations, ${statSync(out).size} bytes)`);
    expect(readFileSync(out, "utf8")).toBe(renderTracePage(trace, { file }));
  });

  it("writes next to the trace by default", () => {
    writeFileSync(join(dir, "default.trace.json"), JSON.stringify(trace));
    expect(popcorn("viz", "default.trace.json").code).toBe(0);
    expect(existsSync(join(dir, "default.trace.html"))).toBe(true);
  });

  it("exits 2 with the file named on JSON that is not a trace, and on a file that is not JSON", () => {
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "x", version: "1.0.0" }));
    const r = popcorn("viz", "package.json", "-o", "never.html");
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('popcorn: package.json: not a popcorn trace (no format field, expected "popcorn-trace")');
    expect(existsSync(join(dir, "never.html"))).toBe(false);
    writeFileSync(join(dir, "notes.txt"), "migrations: 3\n");
    const t = popcorn("viz", "notes.txt");
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/^popcorn: notes\.txt: not JSON \(.*\)/);
    expect(t.stderr.trim().split("\n")).toHaveLength(1);
  });
});

const chromium = findChromium();
const browserTest = chromium
  ? "renders the frames and values of the trace in headless Chromium, steps frames and migrations, with no console errors"
  : "renders the page in headless Chromium — SKIPPED: no chromium at /usr/bin/chromium or on PATH (run scripts/install-browser.sh as root)";

describe("the page in a browser", () => {
  it.skipIf(!chromium)(browserTest, async () => {
    const { chromium: pw } = await import("playwright-core");
    const file = join(dir, "browser.html");
    // migration 1 as a spawned thread's: the page names the thread
    const threaded = clone(trace);
    threaded.migrations[1]!.tid = 2;
    const html = renderTracePage(threaded, { file: "fib.trace.json" });
    writeFileSync(file, html);
    const model = modelOf(html);
    const browser = await pw.launch({ executablePath: chromium!, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1700, height: 1000 } });
      const errors: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning") errors.push(`console.${m.type()}: ${m.text()}`);
      });
      page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
      page.on("request", (r) => {
        if (!r.url().startsWith("file:") && !r.url().startsWith("data:")) errors.push(`request: ${r.url()}`);
      });
      await page.goto(pathToFileURL(file).href);
      await page.waitForSelector("#stacks[data-wires]", { state: "attached" });

      /** what the page shows of the current migration */
      const shown = () =>
        page.evaluate(() => {
          const box = document.getElementById("stacks")!.getBoundingClientRect();
          return {
            which: document.getElementById("which")!.textContent,
            route: document.getElementById("route")!.textContent,
            facts: document.querySelector(".facts")!.textContent,
            frames: [...document.querySelectorAll(".fh.mid")].map((e) => e.textContent),
            rows: [...document.querySelectorAll(".row:not(.reg)")].map((e) => e.id),
            wires: [...document.querySelectorAll("#wires path.wire")].map((p) => {
              const d = p.getAttribute("d")!.match(/-?[\d.]+/g)!.map(Number);
              return { id: Number(p.getAttribute("data-id")), title: p.textContent, y1: d[1]! + box.top, y2: d.at(-1)! + box.top };
            }),
            centers: Object.fromEntries(
              [...document.querySelectorAll(".row")].map((e) => {
                const r = e.getBoundingClientRect();
                return [e.id, r.top + r.height / 2];
              }),
            ),
            aside: document.getElementById("details")!.textContent,
          };
        });

      const checkMigration = async (i: number) => {
        const m = model.migrations[i]!;
        const s = await shown();
        expect(s.which).toBe(`migration ${i + 1} of ${model.migrations.length}`);
        expect(s.route).toBe(`kernel ${m.from.kernel} · ${m.from.isa}→kernel ${m.to.kernel} · ${m.to.isa}`);
        expect(s.facts).toMatch(new RegExp(`^pid ${m.tid ? `${m.pid}\\.${m.tid}` : m.pid} · epoch ${m.epoch} ·`));
        // one band per frame, outermost first
        expect(s.frames).toEqual([...m.frames].reverse().map((f) => `#${f.depth}${f.name}site ${f.site}${f.kind ? ` · ${f.kind}` : ""}`));
        // every row of both stacks
        expect(s.rows.sort()).toEqual(m.sides.flatMap((side, k) => side.rows.map((r) => `r${k}-${r.addr}`)).sort());
        // one line per value that has a place on both sides, from the row or register that holds it to the one that will
        const placed = m.values.filter((v) => v.ends.every((e) => e.kind !== "constant"));
        expect(s.wires.map((w) => w.id)).toEqual(placed.map((v) => v.id));
        for (const w of s.wires) {
          const v = m.values[w.id]!;
          expect(w.title).toBe(`#${v.depth} ${m.frames[v.depth]!.name} ${v.name} = ${v.text}: ${v.ends[0].text} → ${v.ends[1].text}`);
          const el = (k: 0 | 1) => {
            const e = v.ends[k];
            const side = m.sides[k];
            return e.kind === "stack" ? `r${k}-${side.sp + Math.floor((e.addr - side.sp) / 8) * 8}` : e.kind === "register" ? `g${k}-${e.reg}` : "";
          };
          expect(w.y1).toBeCloseTo(s.centers[el(0)]!, 0);
          expect(w.y2).toBeCloseTo(s.centers[el(1)]!, 0);
        }
        return s;
      };

      const first = await checkMigration(0);
      expect(first.aside).toContain("All frames");

      // frame by frame, from the innermost: the aside shows the frame's values with both locations
      const m0 = model.migrations[0]!;
      for (let d = 0; d < m0.frames.length; d++) {
        await page.keyboard.press("ArrowUp");
        const f = m0.frames[d]!;
        const aside = await page.locator("#details").textContent();
        expect(aside).toContain(`#${d} ${f.name}`);
        expect(aside).toContain(f.function);
        for (const id of f.values) {
          const v = m0.values[id]!;
          expect(aside).toContain(`${v.ends[0].text}→${v.ends[1].text}`);
        }
        expect(await page.locator(`.fh.mid.sel[data-depth="${d}"]`).count()).toBe(1);
        expect(await page.locator("#wires path.wire.on").count()).toBe(f.values.filter((id) => m0.values[id]!.ends.every((e) => e.kind !== "constant")).length);
      }
      expect(page.url()).toMatch(new RegExp(`#m=0&f=${m0.frames.length - 1}$`));
      await page.keyboard.press("Escape");

      // migration by migration: the keyboard and the buttons
      await page.keyboard.press("ArrowRight");
      const second = await checkMigration(1);
      expect(second.rows).not.toEqual(first.rows);
      expect(page.url()).toMatch(/#m=1$/);
      await page.click("#next-migration");
      await checkMigration(2);
      await page.click("#prev-migration");
      await checkMigration(1);

      // a value clicked on is followed: its line and both of its places light up
      const chained = model.migrations[1]!.values.find((v) => v.depth === 2)!;
      await page.click(`.fh.mid[data-depth="2"]`);
      await page.click(`.val >> nth=0`);
      expect(await page.locator(`#wires path.wire.hot`).getAttribute("data-id")).toBe(String(chained.id));
      expect(await page.locator(".row.hot").count()).toBe(2);

      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  const layoutTest = chromium
    ? "fits a 1280 and a 900 px window: no page scrolled sideways, every frame header shown whole, nothing else cut without an ellipsis and its full text as a tooltip"
    : "fits narrow windows — SKIPPED: no chromium at /usr/bin/chromium or on PATH (run scripts/install-browser.sh as root)";
  it.skipIf(!chromium)(layoutTest, async () => {
    const { chromium: pw } = await import("playwright-core");
    const file = join(dir, "layout.html");
    writeFileSync(file, html);
    const model = modelOf(html);
    const browser = await pw.launch({ executablePath: chromium!, args: CHROMIUM_ARGS });
    try {
      for (const width of [1280, 900]) {
        const page = await browser.newPage({ viewport: { width, height: 900 } });
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
        for (const view of ["#m=0", "#m=1&f=2"]) {
          await page.goto(pathToFileURL(file).href + view);
          await page.reload(); // a hash alone does not load the page again
          await page.waitForSelector("#stacks[data-wires]", { state: "attached" });
          const seen = await page.evaluate(() => {
            const cut: string[] = [];
            for (const el of document.querySelectorAll<HTMLElement>("body *")) {
              if (el.closest("svg, script, style") || !el.textContent?.trim()) continue;
              const css = getComputedStyle(el);
              if (css.display === "none" || css.overflowX === "visible" || el.scrollWidth <= el.clientWidth + 1) continue;
              // cut: only with an ellipsis, and the full text as the title of the element or of one around it
              const titled = el.closest<HTMLElement>("[title]");
              const full = (el.textContent ?? "").replace(/\s+/g, " ").trim();
              const shown = css.textOverflow === "ellipsis" && !!titled && titled.title.replace(/\s+/g, "").includes(full.replace(/ /g, ""));
              if (!shown || el.closest(".fh")) cut.push(`${el.className}: ${full}`);
            }
            return {
              scrollWidth: document.documentElement.scrollWidth,
              innerWidth,
              cut,
              heads: [...document.querySelectorAll<HTMLElement>(".fh:not(.mid)")].map((e) => e.textContent!.replace(/\s+/g, " ")),
              aside: document.getElementById("details")!.getBoundingClientRect().right,
              stacks: document.getElementById("stacks")!.getBoundingClientRect().right,
            };
          });
          const where = `${width} px ${view}`;
          expect(seen.scrollWidth, where).toBeLessThanOrEqual(seen.innerWidth);
          expect(seen.stacks, where).toBeLessThanOrEqual(seen.innerWidth);
          expect(seen.aside, where).toBeLessThanOrEqual(seen.innerWidth);
          expect(seen.cut, where).toEqual([]);
          // each frame header names every register its prologue saved
          const m = model.migrations[Number(/m=(\d)/.exec(view)![1])]!;
          const saves = [...m.frames].reverse().flatMap((f) => [0, 1].map((k) => f.sides[k]!.savedRegs.map((r) => r.register)));
          expect(seen.heads, where).toHaveLength(saves.length);
          seen.heads.forEach((text, i) => {
            if (saves[i]!.length) expect(text, where).toContain(`saves ${saves[i]!.join(" ")}`);
          });
        }
        // one value: "1 value", not "1 values"
        await page.goto(pathToFileURL(file).href + "#m=0");
        await page.reload();
        await page.waitForSelector("#stacks[data-wires]", { state: "attached" });
        expect(await page.locator("#details").textContent()).not.toMatch(/\b1 values\b/);
        expect(errors).toEqual([]);
        await page.close();
      }
    } finally {
      await browser.close();
    }
  });
});
