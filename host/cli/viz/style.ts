/**
 * The page's stylesheet. Only fonts every system has (no web fonts: the page
 * works offline). Colours name what a stack row holds, the same on both
 * sides: return addresses amber, saved frame pointers violet, saved
 * callee-saved registers teal, spill slots blue, padding grey; a save slot
 * that holds an outer frame's live value (the spill chain) gets a rose mark.
 * Each frame has a hue of its own (--fc) for its stripe and its lines.
 */
export const PAGE_CSS = `
:root {
  --bg: #f6f5f2; --panel: #ffffff; --ink: #1f2328; --muted: #6b7280; --line: #e3e1dc;
  --ret: #b45309; --ret-bg: #fef3c7; --fp: #6d28d9; --fp-bg: #ede9fe;
  --save: #0f766e; --save-bg: #d5f5ee; --slot: #1d4ed8; --slot-bg: #dbe7fe;
  --free: #9ca3af; --chain: #be123c; --chain-bg: #ffe4e6;
  --mono: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace;
  --sans: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Roboto, sans-serif;
  --gutter: 124px; --margin: 30px; --row: 21px; --c-addr: 9.4em; --c-bytes: 15.4em; --pad: 22px;
}
@media (max-width: 1000px) {
  .summary { grid-template-columns: minmax(0, 1fr); }
  :root { --gutter: 76px; --margin: 24px; --c-addr: 8.9em; --c-bytes: 12.6em; --pad: 10px; }
}
* { box-sizing: border-box; }
html, body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.45 var(--sans); }
button { font: inherit; }
header.top { padding: 14px var(--pad) 10px; background: var(--panel); border-bottom: 1px solid var(--line); }
.title { display: flex; align-items: baseline; gap: 14px; flex-wrap: wrap; }
.title h1 { margin: 0; font-size: 20px; font-weight: 650; letter-spacing: -0.01em; }
.title h1 .prog { font-family: var(--mono); color: var(--slot); }
.title .kernels { color: var(--muted); }
.title .kernels b { color: var(--ink); font-weight: 600; }
.title .keys { margin-left: auto; color: var(--muted); font-size: 12px; }
kbd { font: 11px var(--mono); border: 1px solid var(--line); border-bottom-width: 2px; border-radius: 4px; padding: 0 4px; background: #fafafa; }
.nav { display: flex; align-items: center; gap: 10px; margin-top: 10px; flex-wrap: wrap; }
.nav .btn, .fnav .btn { border: 1px solid var(--line); background: #fff; border-radius: 6px; padding: 3px 10px; cursor: pointer; color: var(--ink); }
.nav .btn:hover:not(:disabled), .fnav .btn:hover:not(:disabled) { border-color: #b9b5ac; background: #faf9f7; }
.nav .btn:disabled, .fnav .btn:disabled { opacity: 0.4; cursor: default; }
.nav .which { font-weight: 600; min-width: 9em; }
.chips { display: flex; gap: 4px; flex-wrap: wrap; max-height: 54px; overflow: auto; }
.chip { border: 1px solid var(--line); background: #fff; border-radius: 999px; padding: 0 9px; font: 12px var(--mono); cursor: pointer; color: var(--muted); }
.chip.cur { background: var(--ink); border-color: var(--ink); color: #fff; }
.summary { display: grid; grid-template-columns: minmax(260px, auto) minmax(0, 1fr); gap: 6px 28px; margin-top: 12px; align-items: start; }
.route { font-size: 16px; font-weight: 600; }
.route .arrow { color: var(--muted); padding: 0 6px; }
.facts { color: var(--muted); font-size: 13px; }
.facts b { color: var(--ink); font-weight: 600; }
.phases .bar { display: flex; height: 14px; border-radius: 4px; overflow: hidden; background: #eee; }
.phases .seg { height: 100%; min-width: 2px; }
.phases .legend { display: flex; flex-wrap: wrap; gap: 2px 14px; margin-top: 5px; font-size: 12px; color: var(--muted); }
.phases .legend i { display: inline-block; width: 9px; height: 9px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
.phases .legend b { color: var(--ink); font-weight: 600; font-family: var(--mono); font-size: 11.5px; }
.phases .legend .within { font-style: italic; }
.layout { display: grid; grid-template-columns: minmax(0, 1fr) 340px; gap: 18px; padding: 16px var(--pad) 40px; align-items: start; }
.stage { position: relative; min-width: 0; background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 10px 6px 14px; }
.stacks { position: relative; display: grid; grid-template-columns: var(--margin) minmax(0, 1fr) var(--gutter) minmax(0, 1fr) var(--margin); }
#wires { position: absolute; left: 0; top: 0; pointer-events: none; overflow: visible; }
.colhead { padding: 2px 8px 8px; min-width: 0; overflow-wrap: anywhere; }
.colhead .side { font-size: 15px; font-weight: 650; }
.colhead .role { text-transform: uppercase; letter-spacing: 0.06em; font-size: 11px; color: var(--muted); font-weight: 600; margin-right: 6px; }
.colhead small { display: block; color: var(--muted); font-size: 11.5px; }
.colhead.mid { text-align: center; color: var(--muted); font-size: 11px; line-height: 1.3; padding: 6px 2px 8px; overflow-wrap: normal; }
.colhead.dst { text-align: left; }
.cols { display: grid; grid-template-columns: var(--c-addr) var(--c-bytes) minmax(0, 1fr); align-items: end; font: 10.5px var(--sans); text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted); padding: 0 6px 3px; border-bottom: 1px solid var(--line); }
.fh { display: flex; flex-wrap: wrap; gap: 0 10px; align-items: baseline; padding: 7px 8px 3px; margin-top: 6px; border-top: 2px solid var(--fc); cursor: pointer; font-size: 12px; color: var(--muted); min-width: 0; }
.fh .it { white-space: nowrap; }
.fh .saves { white-space: normal; }
.fh.mid { justify-content: center; flex-direction: column; flex-wrap: nowrap; align-items: center; gap: 0; padding: 5px 2px 3px; text-align: center; }
.fh.mid .fname { overflow-wrap: anywhere; }
.fh .fname { color: var(--ink); font-weight: 650; font-size: 13.5px; font-family: var(--mono); }
.fh .depth { display: inline-block; background: var(--fc); color: #fff; border-radius: 4px; padding: 0 5px; font: 600 11px var(--mono); margin-right: 5px; }
.fh b { color: var(--ink); font-weight: 600; font-family: var(--mono); font-size: 11.5px; }
.fh.sel { background: color-mix(in srgb, var(--fc) 9%, transparent); }
.rows { border-left: 3px solid var(--fc); }
.row { display: grid; grid-template-columns: var(--c-addr) var(--c-bytes) minmax(0, 1fr); align-items: center; height: var(--row); padding: 0 6px; font: 11px var(--mono); border-bottom: 1px solid #f1efeb; white-space: nowrap; }
.row .addr { color: var(--muted); }
.row .bytes .b { padding: 0 1.5px; border-radius: 2px; }
.row .bytes .b.z { color: #c4c0b8; }
.row .bytes .k-ret { background: var(--ret-bg); }
.row .bytes .k-fp { background: var(--fp-bg); }
.row .bytes .k-save { background: var(--save-bg); }
.row .bytes .k-slot { background: var(--slot-bg); }
/* what a row holds: each part's tag and chain mark stay whole, its note gives way (ellipsis; the part's title has all of it) */
.row .what { display: flex; gap: 10px; min-width: 0; overflow: hidden; text-overflow: ellipsis; }
/* (the weights are far apart so that a tag's share of the shrinking rounds to nothing while a note has some left) */
.part { display: inline-flex; align-items: baseline; min-width: 0; flex: 0 1 auto; }
.part.noted { flex-shrink: 1000000; }
.part .tag, .part .note { min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.part .tag { flex: 0 1 auto; min-width: 3ch; }
.part .note { flex: 0 1000000 auto; padding-left: 0.5ch; }
.part .badge { flex: none; }
.part .tag { font-family: var(--sans); font-size: 11px; font-weight: 650; border-radius: 3px; padding: 0 4px; }
.part .note { color: #444; }
.part.k-ret .tag { color: var(--ret); background: var(--ret-bg); }
.part.k-fp .tag { color: var(--fp); background: var(--fp-bg); }
.part.k-save .tag { color: var(--save); background: var(--save-bg); }
.part.k-slot .tag { color: var(--slot); background: var(--slot-bg); }
.part.k-free .tag { color: var(--free); font-weight: 500; font-style: italic; background: none; padding: 0; }
.badge.bad { color: #fff; background: var(--chain); }
.badge { font: 600 10px var(--sans); color: var(--chain); background: var(--chain-bg); border-radius: 3px; padding: 0 4px; margin-left: 5px; text-transform: uppercase; letter-spacing: 0.04em; }
.row.free-only { background: repeating-linear-gradient(135deg, transparent 0 6px, #f5f4f1 6px 8px); }
.row[data-v] { cursor: pointer; }
.row.hit { background: color-mix(in srgb, var(--fc) 12%, #fff); }
.row.hot, .reg.hot { outline: 2px solid var(--fc); outline-offset: -2px; }
.focus .row:not(.sel):not(.hit), .focus .reg:not(.hit) { opacity: 0.38; }
.focus .rows:not(.sel) { border-left-color: color-mix(in srgb, var(--fc) 35%, #fff); }
.regs-head { padding: 14px 8px 4px; font-size: 12px; color: var(--muted); border-top: 2px solid var(--ink); margin-top: 10px; }
.regs-head b { color: var(--ink); }
.reg { --fc: #9ca3af; }
.reg .addr { color: var(--ink); font-weight: 600; }
.reg.role-value .addr { color: var(--slot); }
.outside .fh { --fc: #d1d5db; }
path.wire { fill: none; stroke: var(--fc); stroke-width: 1.6; opacity: 0.55; }
path.wire.chain { stroke-dasharray: 5 3; }
path.wire.bad { stroke: var(--chain); stroke-width: 2.4; opacity: 1; }
path.wire.off { opacity: 0.08; }
path.wire.on { opacity: 0.95; stroke-width: 2.2; }
path.wire.hot { opacity: 1; stroke-width: 3.2; }
circle.end { fill: var(--fc); opacity: 0.7; }
circle.end.off { opacity: 0.1; }
path.fpchain { fill: none; stroke: var(--fp); stroke-width: 1.3; opacity: 0.55; }
.focus path.fpchain { opacity: 0.25; }
aside.details { position: sticky; top: 12px; max-height: calc(100vh - 24px); overflow: auto; background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; font-size: 13px; }
aside h2 { font-size: 15px; margin: 0 0 2px; overflow-wrap: anywhere; }
.dhead { display: flex; align-items: baseline; gap: 10px; }
.dhead h2 { flex: 1; min-width: 0; }
.dhead .fold { display: none; border: 1px solid var(--line); background: #fff; border-radius: 6px; padding: 1px 9px; cursor: pointer; color: var(--muted); font-size: 12px; white-space: nowrap; }
.dsec { min-width: 0; }
/* narrower windows: the stacks take the whole width and the aside is a panel
   held at the bottom of the window, that folds to its title line */
@media (max-width: 1499px) {
  .layout { grid-template-columns: minmax(0, 1fr); }
  aside.details { position: sticky; top: auto; bottom: 0; max-height: 38vh; border-radius: 10px 10px 0 0; box-shadow: 0 -6px 18px rgba(31, 35, 40, 0.12); padding: 10px 16px 12px; }
  aside.details .dhead .fold { display: inline-block; }
  aside.details .dbody { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 0 28px; align-items: start; }
  aside.details .flist { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 0 12px; }
  aside.details.folded { overflow: hidden; }
  aside.details.folded .dbody, aside.details.folded .sub { display: none; }
}
aside h3 { font-size: 11px; text-transform: uppercase; letter-spacing: 0.06em; color: var(--muted); margin: 16px 0 6px; }
aside .full { font: 11.5px var(--mono); color: var(--muted); word-break: break-all; }
.fnav { display: flex; gap: 6px; margin: 10px 0 4px; }
table.kv { border-collapse: collapse; width: 100%; font-size: 12px; }
table.kv th { text-align: left; color: var(--muted); font-weight: 500; padding: 2px 8px 2px 0; vertical-align: top; white-space: nowrap; }
table.kv td { font-family: var(--mono); font-size: 11.5px; padding: 2px 6px 2px 0; vertical-align: top; overflow-wrap: anywhere; }
table.kv thead th { font-family: var(--sans); font-size: 11px; color: var(--ink); font-weight: 650; }
.val { border: 1px solid var(--line); border-left: 4px solid var(--fc); border-radius: 6px; padding: 6px 9px; margin: 6px 0; cursor: pointer; }
.val.hot { background: color-mix(in srgb, var(--fc) 8%, #fff); }
.val .vhead { display: flex; flex-wrap: wrap; gap: 0 8px; align-items: baseline; }
.val .vname { font: 650 13px var(--mono); }
.val .vtype { color: var(--muted); font-size: 12px; }
.val .vvalue { margin-left: auto; font: 600 12.5px var(--mono); }
.val .move { font: 12px var(--mono); margin-top: 2px; overflow-wrap: anywhere; }
.val .move .to { color: var(--muted); padding: 0 5px; }
.val .where { color: var(--muted); font-size: 11.5px; overflow-wrap: anywhere; }
.flist { list-style: none; margin: 0; padding: 0; }
.flist li { display: flex; gap: 8px; padding: 3px 6px; border-radius: 5px; cursor: pointer; font-size: 12.5px; }
.flist li:hover { background: #f3f2ef; }
.flist .depth { background: var(--fc); color: #fff; border-radius: 4px; padding: 0 5px; font: 600 11px var(--mono); }
.flist .fn { font-family: var(--mono); }
.flist .n { margin-left: auto; color: var(--muted); white-space: nowrap; }
.flist .fn { min-width: 0; overflow-wrap: anywhere; }
.legend-kinds { display: grid; grid-template-columns: auto 1fr; gap: 4px 8px; font-size: 12px; align-items: center; }
.legend-kinds .part { margin: 0; }
.muted { color: var(--muted); }
.empty { padding: 40px; text-align: center; color: var(--muted); font-size: 15px; }
noscript p { padding: 20px 22px; }
`;
