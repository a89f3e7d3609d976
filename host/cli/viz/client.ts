/**
 * The page's script, as text: it reads the view model (model.ts) from the
 * page's JSON blob and draws one migration at a time.
 *
 *   header   program, kernels, migration n of N (◀ ▶, ← →), the route,
 *            phases in µs as a bar, bytes of memory and message
 *   stage    a grid of five columns: fp-chain margin | source stack |
 *            gutter | destination stack | fp-chain margin. One band per
 *            frame, outermost at the top (high addresses, as a stack is
 *            drawn), each band as tall as the taller side; then the
 *            registers that hold something. An SVG over the grid draws a
 *            line per live value from where its bytes are on the source
 *            to where they go on the destination (dashed when one end is a
 *            save slot of an inner frame: the spill chain), and the chain
 *            of saved frame pointers in the margins.
 *   aside    the selected frame (▲ ▼, ↑ ↓; Esc for all): its layout on both
 *            sides and every value with both locations. Beside the stacks
 *            in a wide window; in a narrower one (style.ts) a panel held at
 *            the bottom of the window that folds to its title line.
 *
 * Nothing is cut silently: frame headers wrap, and what a row holds gives
 * way with an ellipsis (notes first, the chain mark never), its full text
 * in the cell's and the part's title.
 *
 * State lives in the URL's hash (#m=1&f=2), so a view can be linked to.
 * Plain browser JavaScript; it must not contain a backquote or a dollar
 * sign followed by a brace, since it lives in a template string — there is
 * a test that parses it.
 */
export const CLIENT_JS = String.raw`
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("popcorn-viz-data").textContent);
  var FRAME_COLORS = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#65a30d", "#9333ea", "#0d9488"];
  var PHASE_COLORS = {
    capture: "#64748b", ahead: "#0e7490", lower: "#2563eb", rewrite: "#7c3aed", dirty: "#0891b2", encode: "#0d9488",
    send: "#d97706", decode: "#ca8a04", load: "#a16207", pages: "#059669", lift: "#db2777", resume: "#dc2626"
  };
  var SVGNS = "http://www.w3.org/2000/svg";
  var state = { m: 0, f: -1, v: -1, folded: false };

  function byId(id) { return document.getElementById(id); }
  function h(tag, attrs, kids) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var val = attrs[k];
        if (val === undefined || val === null || val === false) return;
        if (k === "class") el.className = val;
        else if (k === "text") el.textContent = String(val);
        else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), val);
        else el.setAttribute(k, val === true ? "" : String(val));
      });
    }
    if (kids) add(el, kids);
    return el;
  }
  function add(el, kids) {
    kids.forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      if (Array.isArray(c)) add(el, c);
      else el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return el;
  }
  function s(tag, attrs) {
    var el = document.createElementNS(SVGNS, tag);
    Object.keys(attrs).forEach(function (k) { el.setAttribute(k, String(attrs[k])); });
    return el;
  }
  function hex(a) { return "0x" + a.toString(16); }
  function color(depth) { return depth < 0 ? "#9ca3af" : FRAME_COLORS[depth % FRAME_COLORS.length]; }
  function fc(depth) { return "--fc:" + color(depth); }
  function bytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1048576) return (n / 1024).toFixed(n < 10240 ? 1 : 0) + " KiB";
    return (n / 1048576).toFixed(1) + " MiB";
  }
  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }
  function us(x) { return x >= 100 ? Math.round(x).toString() : x >= 10 ? x.toFixed(1) : x.toFixed(2); }
  function rowOf(side, addr) { return side.sp + Math.floor((addr - side.sp) / 8) * 8; }
  function mig() { return DATA.migrations[state.m]; }
  function frameLabel(m, depth) { var f = m.frames[depth]; return f ? "#" + depth + " " + f.name : "?"; }

  /* ---------- state and the URL ---------- */
  function readHash() {
    var q = new URLSearchParams(location.hash.slice(1));
    var m = parseInt(q.get("m") || "0", 10);
    var f = q.get("f");
    state.m = Math.max(0, Math.min(DATA.migrations.length - 1, isNaN(m) ? 0 : m));
    var n = DATA.migrations.length ? mig().frames.length : 0;
    var fi = f === null ? -1 : parseInt(f, 10);
    state.f = isNaN(fi) || fi < 0 || fi >= n ? -1 : fi;
    state.v = -1;
  }
  function writeHash() {
    var h2 = "#m=" + state.m + (state.f >= 0 ? "&f=" + state.f : "");
    if (location.hash !== h2) history.replaceState(null, "", h2);
  }
  function goMigration(m) {
    if (m < 0 || m >= DATA.migrations.length || m === state.m) return;
    state.m = m;
    state.f = -1;
    state.v = -1;
    render();
  }
  function goFrame(f) {
    var n = mig() ? mig().frames.length : 0;
    state.f = f < -1 ? -1 : f >= n ? n - 1 : f;
    state.v = -1;
    select();
  }
  function toggleValue(id) {
    state.v = state.v === id ? -1 : id;
    select();
  }

  /* ---------- header ---------- */
  function renderHeader() {
    var n = DATA.migrations.length;
    byId("kernels").replaceChildren.apply(byId("kernels"), DATA.kernels.map(function (k, i) {
      return h("span", null, [i ? " · " : "", "kernel ", h("b", { text: k.id }), " ", k.isa]);
    }));
    var nav = byId("nav");
    nav.replaceChildren(
      h("button", { class: "btn", id: "prev-migration", title: "previous migration (←)", disabled: state.m <= 0, onclick: function () { goMigration(state.m - 1); } }, ["◀"]),
      h("span", { class: "which", id: "which" }, [n ? "migration " + (state.m + 1) + " of " + n : "no migrations"]),
      h("button", { class: "btn", id: "next-migration", title: "next migration (→)", disabled: state.m >= n - 1, onclick: function () { goMigration(state.m + 1); } }, ["▶"]),
      h("div", { class: "chips" }, DATA.migrations.map(function (m, i) {
        return h("button", { class: "chip" + (i === state.m ? " cur" : ""), title: "pid " + (m.tid ? m.pid + "." + m.tid : m.pid) + ": " + m.from.isa + " → " + m.to.isa, onclick: function () { goMigration(i); } },
          ["#" + m.seq + " " + m.from.kernel + "→" + m.to.kernel]);
      }))
    );
    var sum = byId("summary");
    var m = mig();
    if (!m) { sum.replaceChildren(); return; }
    var c = m.counts;
    var onPath = m.phases.filter(function (p) { return !p.within; });
    var total = m.totalUs !== null ? m.totalUs : onPath.reduce(function (a, p) { return a + p.us; }, 0);
    var sumUs = onPath.reduce(function (a, p) { return a + p.us; }, 0) || 1;
    sum.replaceChildren(
      h("div", null, [
        h("div", { class: "route", id: "route" }, ["kernel " + m.from.kernel + " · " + m.from.isa, h("span", { class: "arrow", text: "→" }), "kernel " + m.to.kernel + " · " + m.to.isa]),
        h("div", { class: "facts" }, [
          "pid ", h("b", { text: m.tid ? m.pid + "." + m.tid : m.pid }), " · epoch ", h("b", { text: m.epoch }), " · ",
          h("b", { text: c.frames }), c.frames === 1 ? " frame · " : " frames · ", h("b", { text: c.values }), c.values === 1 ? " value (" : " values (", h("b", { text: bytes(c.valueBytes) }), ")"
        ]),
        h("div", { class: "facts" }, [
          "memory sent ", h("b", { text: bytes(m.memory.bytes) }), " (" + m.memory.pages + " pages) · message ", h("b", { text: bytes(m.memory.messageBytes) })
        ]),
        h("div", { class: "facts" }, [
          "in registers ", h("b", { text: c.from.register + " → " + c.to.register }), " · in slots ", h("b", { text: c.from.stack + " → " + c.to.stack }),
          " · saved registers ", h("b", { text: c.savedRegisters.from + " → " + c.savedRegisters.to })
        ])
      ]),
      h("div", { class: "phases" }, [
        h("div", { class: "facts" }, ["phases, total ", h("b", { text: us(total) + " µs" })]),
        h("div", { class: "bar" }, onPath.map(function (p) {
          return h("div", { class: "seg", title: p.name + ": " + us(p.us) + " µs", style: "flex:" + Math.max(p.us / sumUs, 0.004) + ";background:" + (PHASE_COLORS[p.name] || "#94a3b8") });
        })),
        h("div", { class: "legend" }, m.phases.map(function (p) {
          if (p.within) return h("span", { class: "within" }, [p.name + " ", h("b", { text: us(p.us) }), " µs (" + p.within + ")"]);
          return h("span", null, [h("i", { style: "background:" + (PHASE_COLORS[p.name] || "#94a3b8") }), p.name + " ", h("b", { text: us(p.us) }), " µs"]);
        }))
      ])
    );
  }

  /* ---------- the stacks ---------- */
  function partEl(m, p) {
    var v = p.value !== undefined ? m.values[p.value] : null;
    var chain = p.kind === "save" && v !== null;
    var tip = p.label + (p.note ? ": " + p.note : "") + (p.u64 ? " (" + p.u64 + ")" : "") + (chain ? " — an outer frame's value in a callee-saved register, saved by this frame's prologue" : "");
    return h("span", { class: "part k-" + p.kind + (chain ? " chain" : "") + (p.note ? " noted" : ""), title: tip }, [
      h("span", { class: "tag", text: p.label }), p.note ? " " : "", p.note ? h("span", { class: "note", text: p.note }) : null,
      chain ? h("span", { class: "badge", text: "chain" }) : null
    ]);
  }
  function partText(p) { return p.label + (p.note ? " " + p.note : "") + (p.kind === "save" && p.value !== undefined ? " chain" : ""); }
  function rowEl(m, sideIx, r) {
    var values = r.parts.filter(function (p) { return p.value !== undefined; }).map(function (p) { return p.value; });
    var bytesEl = h("span", { class: "bytes" });
    for (var i = 0; i < r.hex.length / 2; i++) {
      var b = r.hex.substr(2 * i, 2);
      var part = r.parts.filter(function (p) { return i >= p.off && i < p.off + p.size; })[0];
      bytesEl.appendChild(h("span", { class: "b" + (b === "00" ? " z" : "") + (part && part.kind !== "free" ? " k-" + part.kind : ""), text: b }));
    }
    var onlyFree = r.parts.length > 0 && r.parts.every(function (p) { return p.kind === "free"; });
    var el = h("div", {
      class: "row" + (onlyFree ? " free-only" : ""), id: "r" + sideIx + "-" + r.addr, "data-depth": r.frame,
      "data-v": values.length ? values.join(" ") : null, style: fc(r.frame)
    }, [h("span", { class: "addr", text: hex(r.addr) }), bytesEl, h("span", { class: "what", title: r.parts.map(partText).join("; ") }, r.parts.map(function (p) { return partEl(m, p); }))]);
    if (values.length) {
      el.addEventListener("click", function () { toggleValue(values[0]); });
      el.title = "click: follow this value";
    }
    return el;
  }
  function regEl(m, sideIx, g) {
    var low = g.hex.slice(0, 16);
    var le = "";
    for (var i = 14; i >= 0; i -= 2) le += low.substr(i, 2);
    var shown = "0x" + (le.replace(/^0+/, "") || "0");
    var depth = g.values.length ? m.values[g.values[0]].depth : -1;
    var el = h("div", {
      class: "row reg role-" + g.role, id: "g" + sideIx + "-" + g.name, "data-depth": depth,
      "data-v": g.values.length ? g.values.join(" ") : null, style: fc(depth)
    }, [
      h("span", { class: "addr", text: g.name }), h("span", { class: "bytes", text: shown }),
      h("span", { class: "what", title: g.name + ": " + (g.role === "value" ? "holds" : g.role) + " " + g.note }, [h("span", { class: "part noted k-" + (g.role === "value" ? "slot" : "free"), title: (g.role === "value" ? "holds" : g.role) + " " + g.note }, [
        h("span", { class: "tag", text: g.role === "value" ? "holds" : g.role }), " ", h("span", { class: "note", text: g.note })
      ])])
    ]);
    if (g.values.length) el.addEventListener("click", function () { toggleValue(g.values[0]); });
    return el;
  }
  function sideHead(m, sideIx, f) {
    var fs = f.sides[sideIx];
    var side = m.sides[sideIx];
    var saves = fs.savedRegs.map(function (r) { return r.register; }).join(" ");
    return h("div", {
      class: "fh", "data-depth": f.depth, style: fc(f.depth) + ";grid-column:" + (sideIx ? "4/6" : "1/3"),
      title: side.isa + " frame of " + frameLabel(m, f.depth) + ": " + fs.frameSize + " bytes, CFA " + hex(fs.cfa) + ", frame base " + side.names.fp + " = " + hex(fs.base) + (saves ? ", saves " + saves : ""),
      onclick: function () { goFrame(state.f === f.depth ? -1 : f.depth); }
    }, [
      h("span", { class: "it" }, ["frame ", h("b", { text: fs.frameSize + " B" })]), " ",
      h("span", { class: "it" }, ["CFA ", h("b", { text: hex(fs.cfa) })]), " ",
      h("span", { class: "it" }, [side.names.fp + " ", h("b", { text: hex(fs.base) })]),
      saves ? " " : "", saves ? h("span", { class: "saves", text: "saves " + saves }) : null
    ]);
  }
  function renderStacks() {
    var stage = byId("stage");
    var m = mig();
    if (!m) { stage.replaceChildren(h("p", { class: "empty", text: "This trace holds no migrations." })); return; }
    var grid = h("div", { class: "stacks", id: "stacks" });
    var sides = m.sides;
    var ends = [m.from, m.to];
    function colhead(i) {
      return h("div", { class: "colhead " + (i ? "dst" : "src"), style: "grid-column:" + (i ? "4/6" : "1/3") }, [
        h("span", { class: "role", text: sides[i].role }), h("span", { class: "side", text: sides[i].isa }), h("span", { class: "muted", text: "  kernel " + ends[i].kernel }),
        h("small", { text: sides[i].abi + " · sp " + hex(sides[i].sp) + " · " + sides[i].names.pc + " " + hex(sides[i].pc) })
      ]);
    }
    // grid items are placed in document order: left, middle, right of one grid row
    add(grid, [colhead(0), h("div", { class: "colhead mid", style: "grid-column:3/4" }, ["a line per live value:", h("br"), "source → destination"]), colhead(1)]);
    add(grid, [h("div", { class: "cols", style: "grid-column:2/3" }, [h("span", { text: "address" }), h("span", { text: "bytes (memory order)" }), h("span", { text: "what it is" })]),
      h("div", { class: "cols", style: "grid-column:4/5" }, [h("span", { text: "address" }), h("span", { text: "bytes (memory order)" }), h("span", { text: "what it is" })])]);
    var byFrame = [{}, {}];
    [0, 1].forEach(function (i) {
      sides[i].rows.forEach(function (r) { (byFrame[i][r.frame] = byFrame[i][r.frame] || []).push(r); });
    });
    function band(depth, heads, mid) {
      add(grid, [heads[0], mid, heads[1]]);
      [0, 1].forEach(function (i) {
        grid.appendChild(h("div", { class: "rows", "data-depth": depth, style: fc(depth) + ";grid-column:" + (i ? "4/5" : "2/3") },
          (byFrame[i][depth] || []).map(function (r) { return rowEl(m, i, r); })));
      });
    }
    if (byFrame[0][-1] || byFrame[1][-1]) {
      band(-1, [null, null], h("div", { class: "fh mid", style: "grid-column:1/-1;--fc:#d1d5db" }, ["outside any frame"]));
    }
    for (var d = m.frames.length - 1; d >= 0; d--) {
      var f = m.frames[d];
      var mid = h("div", { class: "fh mid", "data-depth": d, title: "#" + d + " " + f.function + ", site " + f.site + (f.kind ? " (" + f.kind + ")" : ""), style: fc(d) + ";grid-column:3/4", onclick: (function (dd) { return function () { goFrame(state.f === dd ? -1 : dd); }; })(d) }, [
        h("span", null, [h("span", { class: "depth", text: "#" + d }), h("span", { class: "fname", text: f.name })]),
        h("span", { text: "site " + f.site + (f.kind ? " · " + f.kind : "") })
      ]);
      band(d, [sideHead(m, 0, f), sideHead(m, 1, f)], mid);
    }
    add(grid, [
      h("div", { class: "regs-head", style: "grid-column:1/3" }, [h("b", { text: sides[0].isa + " registers" }), " that hold something"]),
      h("div", { class: "regs-head", style: "grid-column:3/4" }),
      h("div", { class: "regs-head", style: "grid-column:4/6" }, [h("b", { text: sides[1].isa + " registers" }), " that hold something"])
    ]);
    [0, 1].forEach(function (i) {
      grid.appendChild(h("div", { class: "rows regs", style: "--fc:#e5e7eb;grid-column:" + (i ? "4/5" : "2/3") },
        sides[i].registers.map(function (g) { return regEl(m, i, g); })));
    });
    var wires = s("svg", { id: "wires" });
    grid.appendChild(wires);
    stage.replaceChildren(grid);
  }

  /* ---------- lines ---------- */
  function endEl(m, sideIx, e) {
    if (e.kind === "stack") return byId("r" + sideIx + "-" + rowOf(m.sides[sideIx], e.addr));
    if (e.kind === "register") return byId("g" + sideIx + "-" + e.reg);
    return null;
  }
  var drawQueued = false;
  function scheduleDraw() {
    if (drawQueued) return;
    drawQueued = true;
    requestAnimationFrame(function () { drawQueued = false; draw(); });
  }
  function draw() {
    var grid = byId("stacks");
    var wires = byId("wires");
    var m = mig();
    if (!grid || !wires || !m) return;
    var box = grid.getBoundingClientRect();
    wires.setAttribute("width", String(Math.ceil(box.width)));
    wires.setAttribute("height", String(Math.ceil(box.height)));
    var defs = s("defs", {});
    var arrow = s("marker", { id: "fp-arrow", viewBox: "0 0 8 8", refX: 7, refY: 4, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    arrow.appendChild(s("path", { d: "M0,0 L8,4 L0,8 z", fill: "#6d28d9", opacity: 0.7 }));
    defs.appendChild(arrow);
    var kids = [defs];
    // the chain of saved frame pointers, in the outer margins
    [0, 1].forEach(function (i) {
      var side = m.sides[i];
      side.rows.forEach(function (r) {
        r.parts.forEach(function (p) {
          if (p.kind !== "fp" || p.target === undefined) return;
          var a = byId("r" + i + "-" + r.addr);
          var b = byId("r" + i + "-" + rowOf(side, p.target));
          if (!a || !b) return;
          var ra = a.getBoundingClientRect(), rb = b.getBoundingClientRect();
          var y1 = ra.top + ra.height / 2 - box.top, y2 = rb.top + rb.height / 2 - box.top;
          var x = (i ? ra.right : ra.left) - box.left, bend = i ? 24 : -24;
          kids.push(s("path", { class: "fpchain", d: "M" + x + "," + y1 + " C" + (x + bend) + "," + y1 + " " + (x + bend) + "," + y2 + " " + x + "," + y2, "marker-end": "url(#fp-arrow)" }));
        });
      });
    });
    m.values.forEach(function (v) {
      var a = endEl(m, 0, v.ends[0]), b = endEl(m, 1, v.ends[1]);
      if (!a || !b) return;
      var ra = a.getBoundingClientRect(), rb = b.getBoundingClientRect();
      var x1 = ra.right - box.left, y1 = ra.top + ra.height / 2 - box.top;
      var x2 = rb.left - box.left, y2 = rb.top + rb.height / 2 - box.top;
      var dx = Math.max(40, (x2 - x1) / 2);
      var chain = !!(v.ends[0].savedBy || v.ends[1].savedBy);
      var style = fc(v.depth);
      var path = s("path", { class: "wire" + (chain ? " chain" : "") + (differs(v) ? " bad" : ""), "data-depth": v.depth, "data-id": v.id, style: style,
        d: "M" + x1 + "," + y1 + " C" + (x1 + dx) + "," + y1 + " " + (x2 - dx) + "," + y2 + " " + x2 + "," + y2 });
      var t = s("title", {});
      t.textContent = frameLabel(m, v.depth) + " " + v.name + " = " + v.text + ": " + v.ends[0].text + " → " + v.ends[1].text;
      path.appendChild(t);
      kids.push(path,
        s("circle", { class: "end", cx: x1, cy: y1, r: 3, "data-depth": v.depth, "data-id": v.id, style: style }),
        s("circle", { class: "end", cx: x2, cy: y2, r: 3, "data-depth": v.depth, "data-id": v.id, style: style }));
    });
    wires.replaceChildren.apply(wires, kids);
    grid.setAttribute("data-wires", String(wires.querySelectorAll("path.wire").length));
    paintWires();
  }
  function paintWires() {
    var wires = byId("wires");
    if (!wires) return;
    Array.prototype.forEach.call(wires.querySelectorAll("[data-id]"), function (el) {
      var d = parseInt(el.getAttribute("data-depth"), 10), id = parseInt(el.getAttribute("data-id"), 10);
      el.classList.toggle("hot", id === state.v);
      el.classList.toggle("on", state.f >= 0 && d === state.f);
      el.classList.toggle("off", (state.f >= 0 && d !== state.f && id !== state.v) || (state.v >= 0 && id !== state.v && d !== state.f));
    });
  }

  /* ---------- selection ---------- */
  function select() {
    writeHash();
    var m = mig();
    var grid = byId("stacks");
    if (!m || !grid) return;
    grid.classList.toggle("focus", state.f >= 0 || state.v >= 0);
    var hit = {};
    var ids = state.v >= 0 ? [state.v] : state.f >= 0 ? m.frames[state.f].values : [];
    ids.forEach(function (id) {
      var v = m.values[id];
      [0, 1].forEach(function (i) { var el = endEl(m, i, v.ends[i]); if (el) hit[el.id] = true; });
    });
    Array.prototype.forEach.call(grid.querySelectorAll("[data-depth]"), function (el) {
      var d = parseInt(el.getAttribute("data-depth"), 10);
      el.classList.toggle("sel", state.f >= 0 && d === state.f);
    });
    Array.prototype.forEach.call(grid.querySelectorAll(".row"), function (el) {
      el.classList.toggle("hit", !!hit[el.id]);
      var vs = (el.getAttribute("data-v") || "").split(" ");
      el.classList.toggle("hot", state.v >= 0 && vs.indexOf(String(state.v)) >= 0);
    });
    renderDetails();
    paintWires();
  }

  /* ---------- the aside ---------- */
  function endText(m, sideIx, e) {
    if (e.kind === "stack" && e.savedBy) return e.text + ", saved by " + frameLabel(m, e.savedBy.depth) + "'s prologue at " + hex(e.addr);
    if (e.kind === "stack") return e.text + " = " + hex(e.addr);
    if (e.kind === "register") return e.text + ", in the register file";
    return e.text + ": nothing to move";
  }
  function differs(v) { return v.ends[0].matches === false || v.ends[1].matches === false; }
  function valueCard(m, v) {
    var chain = !!(v.ends[0].savedBy || v.ends[1].savedBy);
    return h("div", { class: "val" + (state.v === v.id ? " hot" : ""), style: fc(v.depth), onclick: function () { toggleValue(v.id); } }, [
      h("div", { class: "vhead" }, [h("span", { class: "vname", text: v.name }), h("span", { class: "vtype", text: v.type }),
        chain ? h("span", { class: "badge", text: "spill chain" }) : null,
        differs(v) ? h("span", { class: "badge bad", title: "the bytes at one of its places are not the value's bytes", text: "bytes differ" }) : null,
        h("span", { class: "vvalue", text: v.text })]),
      h("div", { class: "move" }, [h("span", { text: v.ends[0].text }), h("span", { class: "to", text: "→" }), h("span", { text: v.ends[1].text })]),
      h("div", { class: "where", text: m.sides[0].isa + ": " + endText(m, 0, v.ends[0]) }),
      h("div", { class: "where", text: m.sides[1].isa + ": " + endText(m, 1, v.ends[1]) }),
      h("div", { class: "where", text: "bytes " + v.hex })
    ]);
  }
  function legend() {
    var kinds = [
      ["ret", "return address", "where the caller resumes: its site's return address"],
      ["fp", "saved fp", "the caller's frame base; the arcs chain the frames"],
      ["save", "saved register", "a callee-saved register the prologue saved: the caller's value"],
      ["slot", "slot", "a live value spilled to the frame"],
      ["free", "padding", "padding, or a slot not live at this site"]
    ];
    return [h("h3", { text: "Legend" }), h("div", { class: "legend-kinds" }, kinds.map(function (k) {
      return [h("span", { class: "part k-" + k[0] }, [h("span", { class: "tag", text: k[1] })]), h("span", { class: "muted", text: k[2] })];
    }).concat([[h("span", null, [h("span", { class: "badge", text: "chain" })]), h("span", { class: "muted", text: "an outer frame's value kept in a callee-saved register, saved by an inner frame — dashed lines" })]]))];
  }
  function renderDetails() {
    var aside = byId("details");
    var m = mig();
    if (!m) { aside.replaceChildren(); return; }
    var n = m.frames.length;
    var nav = h("div", { class: "fnav" }, [
      h("button", { class: "btn", id: "outer-frame", title: "outer frame (↑)", disabled: state.f >= n - 1, onclick: function () { goFrame(state.f < 0 ? 0 : state.f + 1); } }, ["▲ outer"]),
      h("button", { class: "btn", id: "inner-frame", title: "inner frame (↓)", disabled: state.f === 0, onclick: function () { goFrame(state.f < 0 ? n - 1 : state.f - 1); } }, ["▼ inner"]),
      h("button", { class: "btn", id: "all-frames", title: "all frames (Esc)", disabled: state.f < 0, onclick: function () { goFrame(-1); } }, ["all frames"])
    ]);
    // the title line, and a button that folds the aside to it (shown when the
    // aside is a panel at the bottom of a narrower window: style.ts)
    function frame(title, sub, sections) {
      aside.classList.toggle("folded", state.folded);
      aside.replaceChildren();
      add(aside, [
        h("div", { class: "dhead" }, [title, h("button", { class: "fold", id: "fold-details", title: state.folded ? "show the panel" : "fold the panel to this line",
          onclick: function () { state.folded = !state.folded; renderDetails(); } }, [state.folded ? "▴ show" : "▾ hide"])]),
        h("div", { class: "sub" }, sub),
        h("div", { class: "dbody" }, sections.map(function (sec) { return h("div", { class: "dsec" }, sec); }))
      ]);
    }
    if (state.f < 0) {
      frame(h("h2", { text: "All frames" }), [h("div", { class: "muted", text: plural(n, "frame") + ", innermost #0 — pick one to follow its values" }), nav], [
        [h("ul", { class: "flist" }, m.frames.slice().reverse().map(function (f) {
          return h("li", { style: fc(f.depth), title: "#" + f.depth + " " + f.function + ", site " + f.site, onclick: function () { goFrame(f.depth); } }, [
            h("span", { class: "depth", text: "#" + f.depth }), h("span", { class: "fn", text: f.name }),
            h("span", { class: "muted", text: "site " + f.site }), h("span", { class: "n", text: plural(f.values.length, "value") })
          ]);
        }))],
        legend()
      ]);
      return;
    }
    var f = m.frames[state.f];
    var a = f.sides[0], b = f.sides[1], sa = m.sides[0], sb = m.sides[1];
    var caller = m.frames[state.f + 1];
    function tr(k, x, y) { return h("tr", null, [h("th", { text: k }), h("td", { text: x }), h("td", { text: y })]); }
    function saves(fs, side) { return fs.savedRegs.map(function (r) { return r.register + " [" + side.names.fp + (r.offset < 0 ? "" : "+") + r.offset + "]"; }).join(" ") || "none"; }
    frame(h("h2", { style: fc(f.depth) }, [h("span", { class: "depth", text: "#" + f.depth + " " }), f.name, h("span", { class: "muted", text: " · site " + f.site + (f.kind ? " (" + f.kind + ")" : "") })]),
      [h("div", { class: "full", text: f.function }), nav], [
      [
        h("h3", { text: "Frame" }),
        h("table", { class: "kv" }, [
          h("thead", null, [h("tr", null, [h("th"), h("th", { text: sa.isa }), h("th", { text: sb.isa })])]),
          h("tbody", null, [
            tr("frame size", a.frameSize + " B", b.frameSize + " B"),
            tr("CFA", hex(a.cfa), hex(b.cfa)),
            tr("frame base", sa.names.fp + " " + hex(a.base), sb.names.fp + " " + hex(b.base)),
            tr("sp", hex(a.sp), hex(b.sp)),
            tr("resumes at", hex(a.returnAddress), hex(b.returnAddress)),
            tr("saves", saves(a, sa), saves(b, sb))
          ])
        ]),
        h("div", { class: "muted", style: "font-size:12px;margin-top:4px", text: caller ? "called by " + frameLabel(m, caller.depth) + " at its site " + caller.site : "the outermost frame: the entry stub called it" })
      ],
      [
        h("h3", { text: plural(f.values.length, "live value") + " at site " + f.site }),
        f.values.length ? f.values.map(function (id) { return valueCard(m, m.values[id]); }) : h("div", { class: "muted", text: "none: only the frame record moves" })
      ],
      legend()
    ]);
  }

  /* ---------- all of it ---------- */
  function render() {
    writeHash();
    renderHeader();
    renderStacks();
    select();
    scheduleDraw();
  }
  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var n = mig() ? mig().frames.length : 0;
    if (e.key === "ArrowRight") goMigration(state.m + 1);
    else if (e.key === "ArrowLeft") goMigration(state.m - 1);
    else if (e.key === "ArrowUp" || e.key === "k") goFrame(state.f < 0 ? 0 : Math.min(n - 1, state.f + 1));
    else if (e.key === "ArrowDown" || e.key === "j") goFrame(state.f < 0 ? n - 1 : Math.max(0, state.f - 1));
    else if (e.key === "Escape" || e.key === "a") goFrame(-1);
    else return;
    e.preventDefault();
  });
  window.addEventListener("resize", scheduleDraw);
  window.addEventListener("hashchange", function () { readHash(); render(); });
  if (window.ResizeObserver) new ResizeObserver(scheduleDraw).observe(byId("stage"));
  readHash();
  render();
  document.documentElement.setAttribute("data-ready", "1");
})();
`;
