/**
 * `popcorn stackmap <prog.wasm>`: where each live value of each site lives
 * on each ISA, side by side — what `llvm-readobj --stackmap` or Popcorn's
 * stackinfo dump shows for one ISA at a time.
 *
 *   function fib  (fib/fib)
 *                     x86-64                      aarch64
 *     address         0x4010c0, 73 bytes          0x4100c0, 76 bytes
 *     frame           32 bytes                    32 bytes
 *     saves           rbx [rbp-8], r12 [rbp-16]   x19 [x29+16], x20 [x29+24]
 *     site 5 call     ret 0x4010ee                ret 0x4100f0
 *       $0 i32        ebx                         w19
 *
 * A register holding a value is named by the view the value's size uses
 * (ebx, w19 for an i32; rbx, x19 for an i64); a save slot by what the ABI
 * saves of the register (rbx, x19; d8, the low 64 bits of v8).
 *
 * `popcorn check` says whether the stackmaps agree; this shows them.
 */
import { readFile } from "node:fs/promises";
import { PROFILES, checkStackmaps, loadStackmaps, locationText, profile } from "../isa/index.js";
import { CompileError, SITES_SECTION, type Site, type SiteTable, type Stackmap, customSection, decodeSites, isWasm, wasmModule } from "../toolchain/index.js";

export interface StackmapFlags {
  isa: string;
  function?: string;
  site?: number;
  json?: boolean;
}

async function readProgram(file: string): Promise<{ wasm: Uint8Array; sites: SiteTable }> {
  let wasm: Uint8Array;
  try {
    wasm = new Uint8Array(await readFile(file));
  } catch (e) {
    throw new CompileError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!isWasm(wasm)) throw new CompileError(`${file}: not a WebAssembly module — compile it first with \`popcorn compile\``);
  try {
    wasmModule(wasm);
  } catch (e) {
    throw new CompileError(`${file}: invalid WebAssembly module (${(e as Error).message})`);
  }
  const raw = customSection(wasm, SITES_SECTION);
  if (!raw) throw new CompileError(`${file}: no ${SITES_SECTION} section — compile it with \`popcorn compile\``);
  return { wasm, sites: decodeSites(raw, file) };
}

const hex = (n: number) => `0x${n.toString(16)}`;
/**
 * "fib" for "fib/fib", "Array<~lib/string/String>#push" for
 * "~lib/array/Array<~lib/string/String>#push": after the last "/" outside
 * <...>, so that the instances of a generic keep their type arguments.
 */
export function shortName(f: string): string {
  let depth = 0;
  let cut = 0;
  for (let i = 0; i < f.length; i++) {
    const c = f[i];
    if (c === "<") depth++;
    else if (c === ">" && depth > 0) depth--;
    else if (c === "/" && depth === 0) cut = i + 1;
  }
  return f.slice(cut);
}

export async function stackmapCommand(file: string, o: StackmapFlags): Promise<number> {
  const { wasm, sites } = await readProgram(file);
  const all = loadStackmaps(wasm, sites, file);
  const isas = o.isa === "all" ? [...all.keys()] : [o.isa];
  for (const isa of isas) {
    profile(isa);
    if (!all.has(isa)) throw new CompileError(`${file}: no stackmap for ${isa} — recompile it with \`popcorn compile\``);
  }
  let functions = sites.functions;
  if (o.function !== undefined) {
    functions = functions.filter((f) => f.name === o.function || shortName(f.name) === o.function);
    if (!functions.length) {
      const near = sites.functions.map((f) => f.name).filter((n) => n.includes(o.function!)).slice(0, 5);
      throw new CompileError(`${file}: no instrumented function ${o.function}${near.length ? ` — did you mean ${near.join(", ")}?` : ""}`);
    }
  }
  if (o.site !== undefined && !sites.sites[o.site]) throw new CompileError(`${file}: no site ${o.site} (sites 0..${sites.sites.length - 1})`);
  const siteFunc = o.site === undefined ? undefined : sites.sites[o.site]!.func;
  if (siteFunc !== undefined && !functions.some((f) => f.name === siteFunc)) {
    throw new CompileError(`${file}: site ${o.site} is in function ${siteFunc}, not ${o.function} — leave out --function, or give --function ${shortName(siteFunc)}`);
  }
  const maps = isas.map((isa) => all.get(isa)!);
  const shown = functions.map((f) => ({
    f,
    sites: sites.sites.slice(f.firstSite, f.firstSite + f.siteCount).filter((s) => o.site === undefined || s.id === o.site),
  })).filter((x) => o.site === undefined || x.sites.length);

  if (o.json) {
    process.stdout.write(JSON.stringify({ program: file, isas: maps.map((m) => ({ name: m.isa, abi: profile(m.isa).abi })), functions: shown.map((x) => functionJson(x.f.name, x.sites, maps)) }) + "\n");
    return 0;
  }
  const out: string[] = [`${file}: ${sites.sites.length} sites in ${sites.functions.length} instrumented functions; ${maps.map((m) => `${m.isa} (${profile(m.isa).abi})`).join(", ")}`];
  for (const x of shown) out.push("", ...functionText(x.f.name, x.sites, maps));
  process.stdout.write(out.join("\n") + "\n");
  return 0;
}

function functionJson(name: string, list: Site[], maps: Stackmap[]) {
  const fIndex = (sm: Stackmap) => sm.functions.findIndex((f) => f.name === name);
  return {
    name,
    isas: Object.fromEntries(
      maps.map((sm) => {
        const f = sm.functions[fIndex(sm)]!;
        const p = profile(sm.isa);
        return [sm.isa, {
          address: f.address,
          codeSize: f.codeSize,
          frameSize: f.frameSize,
          // named by what the ABI saves: rbx, x19, d8 (the low 64 bits of v8)
          saves: f.savedRegs.map((r) => ({ register: p.registerName(r.dwarf, p.savedRegisterBytes), offset: r.offset, text: locationText(p, { kind: "stack", offset: r.offset, size: p.savedRegisterBytes }) })),
        }];
      }),
    ),
    sites: list.map((s) => ({
      id: s.id,
      kind: s.kind,
      ...(s.callee !== undefined && { callee: s.callee }),
      returnAddress: Object.fromEntries(maps.map((sm) => [sm.isa, sm.sites[s.id]!.returnAddress])),
      values: s.values.map((v, j) => ({
        name: v.name,
        type: v.type,
        locations: Object.fromEntries(maps.map((sm) => {
          const loc = sm.sites[s.id]!.values[j]!;
          return [sm.isa, { ...loc, text: locationText(profile(sm.isa), loc) }];
        })),
      })),
    })),
  };
}

function functionText(name: string, list: Site[], maps: Stackmap[]): string[] {
  const j = functionJson(name, list, maps);
  const rows: string[][] = [["", ...maps.map((m) => m.isa)]];
  rows.push(["address", ...maps.map((m) => `${hex(j.isas[m.isa]!.address)}, ${j.isas[m.isa]!.codeSize} bytes`)]);
  rows.push(["frame", ...maps.map((m) => `${j.isas[m.isa]!.frameSize} bytes`)]);
  rows.push(["saves", ...maps.map((m) => j.isas[m.isa]!.saves.map((s) => `${s.register} ${s.text}`).join(", ") || "-")]);
  for (const s of j.sites) {
    rows.push([`site ${s.id} ${s.kind}${s.callee === undefined ? "" : ` ${shortName(s.callee)}`}`, ...maps.map((m) => `ret ${hex(s.returnAddress[m.isa]!)}`)]);
    if (!s.values.length) rows.push(["  (no live values)", ...maps.map(() => "")]);
    for (const v of s.values) rows.push([`  ${v.name} ${v.type}`, ...maps.map((m) => v.locations[m.isa]!.text)]);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return [`function ${shortName(name)}  (${name})`, ...rows.map((r) => "  " + r.map((c, i) => c.padEnd(w[i]! + 2)).join("").trimEnd())];
}

/** `popcorn check <prog.wasm>`: 0 if the stackmaps agree, 1 with every inconsistency named. */
export async function checkCommand(file: string, o: { json?: boolean }): Promise<number> {
  const { wasm } = await readProgram(file);
  const r = checkStackmaps(wasm, file);
  if (o.json) process.stdout.write(JSON.stringify({ ok: !r.problems.length, ...r }) + "\n");
  else if (r.problems.length) process.stderr.write(r.problems.map((p) => `popcorn: ${p}`).join("\n") + "\n");
  else {
    process.stdout.write(
      `${file}: stackmaps consistent — ${r.sites} sites, ${r.values} live values, ${r.functions} functions on ${r.isas.join(", ")}: ` +
        `same sites and values on every ISA, return addresses unique, frames ${[...new Set(r.isas.map((i) => PROFILES.get(i)!.stackAlign))].join("/")}-byte aligned, values in callee-saved registers or inside their frames\n`,
    );
  }
  return r.problems.length ? 1 : 0;
}
