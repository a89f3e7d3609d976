/**
 * Which locals are live at each site: the values a frame must carry.
 *
 * Backward dataflow over the item lists of ir.ts. A label's live set is the
 * live set where it stands; a loop label's is the live-in of the loop body;
 * a statement's live-out is the fall-through live set (if it can fall
 * through) joined with the live sets of the labels it may branch to. Leaves
 * are summarized conservatively (every local they read is a use, only an
 * unconditional `local.set` kills), so the result may keep a value that is
 * dead, never drop one that is live. Iterates until the label sets settle.
 *
 *   call site   live after the call, minus the local it assigns, plus the
 *               call_indirect target (the call is executed again on rewind)
 *   point       live where it stands
 */
import type { Item } from "./ir.js";

type LiveSet = Set<number>;

export function siteLiveness(body: Item[]): Map<number, number[]> {
  const labels = new Map<string, LiveSet>();
  const sites = new Map<number, LiveSet>();
  let changed = true;

  const setLabel = (name: string, live: LiveSet) => {
    const old = labels.get(name);
    if (!old || old.size !== live.size || [...live].some((x) => !old.has(x))) changed = true;
    labels.set(name, new Set(live));
  };

  const list = (items: Item[], liveOut: LiveSet): LiveSet => {
    let live = new Set(liveOut);
    for (let i = items.length - 1; i >= 0; i--) {
      const it = items[i]!;
      switch (it.k) {
        case "label":
          setLabel(it.name, live);
          break;
        case "point":
          sites.set(it.site, new Set(live));
          break;
        case "call": {
          const after = new Set(live);
          if (it.result !== undefined) after.delete(it.result);
          const atSite = new Set(after);
          if (it.target !== undefined) atSite.add(it.target);
          sites.set(it.site, atSite);
          for (const u of it.uses) after.add(u);
          live = after;
          break;
        }
        case "loop": {
          const bodyIn = list(it.body, live);
          setLabel(it.name, bodyIn);
          live = new Set(bodyIn);
          break;
        }
        case "leaf": {
          const f = it.facts;
          const out = f.fallsThrough ? new Set(live) : new Set<number>();
          for (const t of f.targets) for (const x of labels.get(t) ?? []) out.add(x);
          if (f.kill !== undefined) out.delete(f.kill);
          for (const u of f.uses) out.add(u);
          live = out;
          break;
        }
      }
    }
    return live;
  };

  for (let rounds = 0; changed; rounds++) {
    if (rounds > 10_000) throw new Error("liveness did not converge");
    changed = false;
    list(body, new Set());
  }
  return new Map([...sites].map(([s, live]) => [s, [...live].sort((a, b) => a - b)]));
}
