/**
 * `popcorn check`: are a program's stackmaps consistent with each other and
 * with its site table? The checks Popcorn's check-stackmaps makes on a
 * multi-ISA binary, on ours:
 *
 *   sections   popcorn.sites decodes; every known ISA has its
 *              popcorn.stackmap.<isa>; no section names an unknown ISA
 *   per ISA    the section decodes (return addresses unique and inside their
 *              function, the by-address index agrees); same module hash,
 *              sites, functions and live values (count and sizes) as
 *              popcorn.sites; frame sizes aligned to the ISA's stack
 *              alignment; every register location a callee-saved register
 *              of the value's class (a value lives across a call); every
 *              stack slot and save slot inside its frame, naturally aligned;
 *              no two of them, nor the frame record, sharing a byte, and no
 *              two values of a site in one register (overlap.ts)
 *   across     the same functions in the same order on every ISA
 *
 * It reports every problem it finds, the first one first.
 */
import {
  SITES_SECTION,
  STACKMAP_SECTION_PREFIX,
  type SiteTable,
  type Stackmap,
  customSection,
  decodeSites,
  decodeStackmap,
} from "../toolchain/index.js";
import { VALUE_BYTES } from "./allocate.js";
import { PROFILES } from "./profiles.js";
import { customSectionsWithPrefix, checkStackmap } from "./load.js";
import { frameOverlaps } from "./overlap.js";
import { locationText, type IsaProfile } from "./profile.js";

export interface CheckReport {
  isas: string[];
  sites: number;
  values: number;
  functions: number;
  /** empty when consistent; otherwise one line per problem, each naming the ISA, site or function */
  problems: string[];
}

export function checkStackmaps(wasm: Uint8Array, where: string): CheckReport {
  const problems: string[] = [];
  const report = (isas: string[], sites?: SiteTable): CheckReport => ({
    isas,
    sites: sites?.sites.length ?? 0,
    values: sites?.sites.reduce((n, s) => n + s.values.length, 0) ?? 0,
    functions: sites?.functions.length ?? 0,
    problems,
  });
  const raw = customSection(wasm, SITES_SECTION);
  if (!raw) return { ...report([]), problems: [`${where}: no ${SITES_SECTION} section — compile it with \`popcorn compile\``] };
  let sites: SiteTable;
  try {
    sites = decodeSites(raw, where);
  } catch (e) {
    return { ...report([]), problems: [(e as Error).message] };
  }
  const sections = customSectionsWithPrefix(wasm, STACKMAP_SECTION_PREFIX, where);
  const maps = new Map<string, Stackmap>();
  for (const name of PROFILES.keys()) {
    if (!sections.has(STACKMAP_SECTION_PREFIX + name)) problems.push(`${where}: no ${STACKMAP_SECTION_PREFIX}${name} section — recompile with \`popcorn compile\``);
  }
  for (const [section, bytes] of sections) {
    const isa = section.slice(STACKMAP_SECTION_PREFIX.length);
    const p = PROFILES.get(isa);
    if (!p) {
      problems.push(`${where}: section ${section} names an ISA this popcorn does not know (known: ${[...PROFILES.keys()].join(", ")})`);
      continue;
    }
    try {
      const sm = decodeStackmap(bytes, where, section);
      if (sm.isa !== isa) throw new Error(`${where}: section ${section} holds a stackmap for ${sm.isa}`);
      checkStackmap(sm, sites, where);
      maps.set(isa, sm);
      problems.push(...checkFrames(sm, sites, p, where));
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  const [first, ...rest] = [...maps.values()];
  for (const sm of first ? rest : []) {
    sm.functions.forEach((f, i) => {
      const other = first!.functions[i];
      if (other?.name !== f.name) {
        problems.push(`${where}: function ${i} is ${f.name} on ${sm.isa} but ${other?.name ?? "missing"} on ${first!.isa} — rebuild with the same popcorn version`);
      }
    });
  }
  return report([...maps.keys()], sites);
}

function checkFrames(sm: Stackmap, sites: SiteTable, p: IsaProfile, where: string): string[] {
  const out: string[] = [];
  const classOf = (type: string) => (type === "f32" || type === "f64" ? p.calleeSaved.fpr : type === "v128" ? [] : p.calleeSaved.gpr);
  for (const f of sm.functions) {
    if (f.frameSize % p.stackAlign) out.push(`${where}: ${sm.isa}: function ${f.name} has a frame of ${f.frameSize} bytes, not a multiple of ${p.stackAlign}`);
    const lo = p.cfaOffset(f.frameSize) - f.frameSize; // frame = [CFA - frameSize, CFA), offsets from the frame base
    const hi = p.cfaOffset(f.frameSize);
    for (const r of f.savedRegs) {
      if (r.offset < lo || r.offset + p.savedRegisterBytes > hi) {
        out.push(`${where}: ${sm.isa}: function ${f.name} saves ${p.registerName(r.dwarf, p.savedRegisterBytes)} at frame offset ${r.offset}, outside its ${f.frameSize}-byte frame`);
      }
    }
  }
  for (const s of sites.sites) {
    const m = sm.sites[s.id]!;
    const f = sm.functions[m.func]!;
    const lo = p.cfaOffset(f.frameSize) - f.frameSize;
    const hi = p.cfaOffset(f.frameSize);
    m.values.forEach((loc, j) => {
      const v = s.values[j]!;
      const at = `${where}: ${sm.isa}: site ${s.id} (${s.func}) value ${v.name} (${v.type}) in ${locationText(p, loc)}`;
      if (loc.kind === "register" && !classOf(v.type).includes(loc.dwarf)) {
        out.push(`${at}: not a callee-saved register for a ${v.type} — a value live across a call would be lost`);
      } else if (loc.kind === "stack") {
        if (loc.offset < lo || loc.offset + loc.size > hi) out.push(`${at}: outside the ${f.frameSize}-byte frame of ${f.name}`);
        else if (loc.offset % Math.min(VALUE_BYTES[v.type], 8)) out.push(`${at}: not aligned to ${Math.min(VALUE_BYTES[v.type], 8)} bytes`);
      }
    });
  }
  const valueText = (site: number, j: number) => {
    const v = sites.sites[site]!.values[j]!;
    return `value ${v.name} (${v.type})`;
  };
  for (const o of frameOverlaps(sm, p, valueText)) out.push(`${where}: ${sm.isa}: ${o}`);
  return out;
}
