// strings — string- and allocation-heavy program for the incremental GC
// runtime (compile with --runtime incremental): generates words from a fixed
// LCG, builds lines by concatenation, joins and re-splits the text, counts
// words in a Map<string, i32>, sorts the distinct words and hashes a report.
// Almost every step allocates, and most of it becomes garbage at once.
//
// args: [words=300] [lineLength=8]
//   words        number of words generated
//   lineLength   words per line of the generated text
// Prints the text size, the number of distinct words, the three most
// frequent words, and finally `strings(<words>) hash = <h>`.

import { print, args } from "popcorn";

const SYLLABLES: string[] = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "zu", "pe"];

let seed: u32 = 2024;
function rand(n: i32): i32 {
  seed = seed * 1664525 + 1013904223;
  return <i32>((seed >>> 16) % <u32>n);
}

function makeWord(): string {
  // 2-4 syllables, skewed towards short words so some repeat often
  const parts = 1 + rand(3) * rand(2);
  let w = "";
  for (let i = 0; i <= parts; i++) w += SYLLABLES[rand(i == 0 ? 4 : SYLLABLES.length)];
  return w;
}

// Comparators cannot capture locals, so the map they consult is a global.
let COUNTS = new Map<string, i32>();
function byCountDesc(x: string, y: string): i32 {
  const d = COUNTS.get(y) - COUNTS.get(x);
  if (d != 0) return d;
  return x < y ? -1 : x > y ? 1 : 0;
}

// FNV-1a over the UTF-16 code units of s, continuing from h.
function fnv(h: u32, s: string): u32 {
  for (let i = 0; i < s.length; i++) {
    h ^= <u32>s.charCodeAt(i);
    h *= 16777619;
  }
  return h;
}

export function main(): i32 {
  const a = args();
  let words = a.length > 0 ? I32.parseInt(a[0]) : 300;
  let lineLength = a.length > 1 ? I32.parseInt(a[1]) : 8;
  if (words < 0) words = 0;
  if (lineLength < 1) lineLength = 1;

  // 1. build lines by repeated concatenation, collect them in an array
  const lines = new Array<string>();
  let line = "";
  for (let i = 0; i < words; i++) {
    const w = makeWord();
    line = line.length == 0 ? w : line + " " + w;
    if ((i + 1) % lineLength == 0) {
      lines.push(line);
      line = "";
    }
  }
  if (line.length > 0) lines.push(line);
  const text = lines.join("\n");
  print("text: " + text.length.toString() + " chars, " + lines.length.toString() + " lines");

  // 2. split it again and count the words
  const counts = new Map<string, i32>();
  COUNTS = counts;
  let total = 0;
  const split = text.split("\n");
  for (let i = 0; i < split.length; i++) {
    const ws = split[i].split(" ");
    for (let j = 0; j < ws.length; j++) {
      const w = ws[j];
      if (w.length == 0) continue;
      counts.set(w, counts.has(w) ? counts.get(w) + 1 : 1);
      total++;
    }
  }

  // 3. sort the distinct words alphabetically, and by (count desc, word asc)
  const keys = counts.keys();
  keys.sort((x: string, y: string): i32 => x < y ? -1 : x > y ? 1 : 0);
  const byCount = keys.slice(0);
  byCount.sort(byCountDesc);
  print("words: " + total.toString() + ", distinct: " + keys.length.toString());
  let top = "top:";
  for (let i = 0; i < min(3, byCount.length); i++) {
    top += " " + byCount[i] + "=" + counts.get(byCount[i]).toString();
  }
  print(top);

  // 4. a report string, transformed a few times, then hashed
  let h: u32 = 2166136261;
  for (let i = 0; i < keys.length; i++) {
    const entry = keys[i].toUpperCase() + ":" + counts.get(keys[i]).toString() + ";";
    h = fnv(h, entry.replaceAll("A", "4").substring(0, entry.length - 1));
  }
  const longest = keys.length > 0 ? keys.reduce<string>((acc: string, k: string): string => k.length > acc.length ? k : acc, "") : "";
  print("longest: " + longest);
  print("strings(" + words.toString() + ") hash = " + h.toString());
  return 0;
}
