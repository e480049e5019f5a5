"use strict";
// Language model: streamed sampling; the cell viewer on typed text (the visualize page's data, from
// POST cells: colour by any unit, top-5 next characters on hover); the units found; gate saturation.
(() => {
  const {P, api, $, call, fail} = Chart.pageKit();
  // ---- sampling, streamed
  let controller = null;
  $("sample").addEventListener("click", async () => {
    if (controller) controller.abort();
    controller = new AbortController();
    const out = $("sampled"), topk = $("topk").value;
    out.textContent = ""; out.classList.remove("error");
    const body = {prime: $("prime").value, temperature: +$("temperature").value, length: +$("length").value,
                  top_k: topk ? +topk : null};
    try {
      const r = await fetch(api + "sample", {method: "POST", body: JSON.stringify(body), signal: controller.signal,
                                              headers: {"Content-Type": "application/json"}});
      if (!r.ok) { out.textContent = (await r.json()).error; out.classList.add("error"); return; }
      const reader = r.body.getReader(), dec = new TextDecoder();
      for (;;) { const {done, value} = await reader.read(); if (done) break; out.textContent += dec.decode(value, {stream: true}); }
      out.dataset.done = "1";
    } catch (e) { if (e.name !== "AbortError") { out.textContent = e.message; out.classList.add("error"); } }
  });
  // ---- cell viewer
  let D = null, Q = {}, current = null, timer = null, seq = 0;
  const box = $("celltextview"), tip = $("tip"), kindSel = $("kind"), featSel = $("feature"), unitSel = $("unit");
  const show = (ch) => ch === "\n" ? "\\n" : ch === " " ? "\u2423" : ch === "\t" ? "\\t" : ch;
  function colour(v) {
    const a = Math.min(1, Math.abs(v)), c = v < 0 ? [180, 4, 38] : [59, 76, 192], m = (x) => Math.round(255 + (x - 255) * a);
    return "rgb(" + m(c[0]) + "," + m(c[1]) + "," + m(c[2]) + ")";
  }
  const value = (kind, index, step) => Q[kind][index * D.T + step] * 2 / 255 - 1;
  function buildText() {
    box.innerHTML = "";
    const frag = document.createDocumentFragment();
    for (let i = 0; i < D.text.length; i++) {
      const ch = D.text[i], s = document.createElement("span");
      s.dataset.i = i;
      s.className = D.known[i] === "1" ? "ch" : "oov";
      if (ch === "\n") { s.textContent = "\u21b5"; s.classList.add("nl"); frag.appendChild(s); frag.appendChild(document.createTextNode("\n")); }
      else { s.textContent = ch; frag.appendChild(s); }
    }
    box.appendChild(frag);
  }
  function recolour() {
    for (const s of box.querySelectorAll("span.ch")) {
      const v = value(current.kind, current.index, D.step[+s.dataset.i]);
      s.style.backgroundColor = colour(v); s.dataset.v = v.toFixed(3);
    }
    const f = featSel.selectedIndex;
    $("info").textContent = "layer " + Math.floor(current.index / D.H) + ", unit " + (current.index % D.H) + ", r with " +
      D.features[f] + " = " + D.r[current.kind][f][current.index].toFixed(3) + (D.member ? " (" + D.member + " of the ensemble)" : "");
  }
  function fillUnits() {
    const r = D.r[current.kind][featSel.selectedIndex], order = [...r.keys()];
    order.sort((a, b) => Math.abs(r[b]) - Math.abs(r[a]) || a - b);
    unitSel.innerHTML = order.map((u) => "<option value='" + u + "'>L" + Math.floor(u / D.H) + " unit " + (u % D.H) + "  r=" + r[u].toFixed(3) + "</option>").join("");
    unitSel.value = String(current.index);
  }
  function select(kind, index) { current = {kind, index}; kindSel.value = kind; fillUnits(); recolour(); }
  function findTable() {
    let h = "<table class='find'><tr><th>feature</th><th>state</th><th>layer</th><th>unit</th><th>r</th></tr>";
    for (const row of D.find) h += "<tr class='row' data-kind='" + row.kind + "' data-index='" + (row.layer * D.H + row.unit) + "'><td>" +
      row.feature + "</td><td>" + (row.kind === "c" ? "tanh(c)" : "h") + "</td><td>" + row.layer + "</td><td>" + row.unit + "</td><td>" + row.r.toFixed(3) + "</td></tr>";
    $("findbox").innerHTML = h + "</table>" + (D.constant.length ? "<p class='muted'>constant over this text: " + D.constant.join(", ") + "</p>" : "");
  }
  function receive(data) {
    const keep = current && D && data.states[current.kind] && current.index < data.L * data.H ? current : null;
    D = data; Q = {};
    for (const k in D.states) { const bin = atob(D.states[k].q), a = new Uint8Array(bin.length); for (let i = 0; i < bin.length; i++) a[i] = bin.charCodeAt(i); Q[k] = a; }
    kindSel.innerHTML = Object.keys(D.states).map((k) => "<option value='" + k + "'>" + D.states[k].name + "</option>").join("");
    const f = featSel.selectedIndex;
    featSel.innerHTML = D.features.map((x) => "<option>" + x + "</option>").join("");
    featSel.selectedIndex = Math.max(0, Math.min(f, D.features.length - 1));
    buildText(); findTable();
    select(keep ? keep.kind : D.unit.kind, keep ? keep.index : D.unit.layer * D.H + D.unit.unit);
  }
  async function analyse() {
    const text = $("celltext").value, mine = ++seq;
    if (!text) return;
    try {
      const data = await call("cells", {text: text});
      if (mine === seq) { receive(data); box.dataset.version = mine; }
      const sat = await call("gates", {text: text});
      if (mine === seq) gates(sat);
    } catch (e) { if (mine === seq) { $("info").textContent = e.message; $("info").classList.add("error"); } }
  }
  $("celltext").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(analyse, 250); });
  kindSel.addEventListener("change", () => select(kindSel.value, current.index));
  featSel.addEventListener("change", () => { fillUnits(); recolour(); });
  unitSel.addEventListener("change", () => select(current.kind, +unitSel.value));
  $("findbox").addEventListener("click", (e) => { const tr = e.target.closest("tr.row"); if (tr) select(tr.dataset.kind, +tr.dataset.index); });
  box.addEventListener("mouseover", (e) => {
    const s = e.target.closest("span"); if (!s || !D || !box.contains(s)) return;
    const i = +s.dataset.i, t = D.step[i];
    let h = "<div>after <b>" + Chart.esc(show(D.text[i])) + "</b>";
    if (t < 0) h += ": not in the vocabulary</div>";
    else {
      h += " = " + s.dataset.v + "; next:</div><table>";
      for (let j = 0; j < D.k; j++) h += "<tr class='pred'><td class='c'>" + Chart.esc(show(D.vocab[D.top_ids[t * D.k + j]])) + "</td><td class='p'>" + (D.top_p[t * D.k + j] / 1e4).toFixed(4) + "</td></tr>";
      h += "</table>";
    }
    tip.innerHTML = h; tip.style.display = "block"; tip.style.left = (e.clientX + 12) + "px"; tip.style.top = (e.clientY + 14) + "px";
  });
  box.addEventListener("mouseleave", () => { tip.style.display = "none"; });
  // ---- gate saturation: the paper's scatter, one panel per layer
  const GC = {i: "#1f77b4", f: "#2ca02c", o: "#d62728", r: "#9467bd", z: "#ff7f0e"};
  function gates(sat) {
    const svg = $("gates"); while (svg.firstChild) svg.removeChild(svg.firstChild);
    const n = sat.layers.length, size = 200, gap = 50;
    svg.setAttribute("width", Math.max(760, n * (size + gap) + 120));
    sat.layers.forEach((layer, l) => {
      const x0 = 40 + l * (size + gap), y0 = 25, g = Chart.el("g", {class: "panel"}, svg);
      Chart.el("rect", {x: x0, y: y0, width: size, height: size, fill: "none", stroke: "#ccc"}, g);
      Chart.el("line", {x1: x0, y1: y0, x2: x0 + size, y2: y0 + size, stroke: "#eee"}, g);
      Chart.el("text", {x: x0, y: 15}, g).textContent = "layer " + l + ": left- vs right-saturated";
      for (const name in layer) layer[name].left.forEach((a, k) => Chart.el("circle", {cx: x0 + a * size, cy: y0 + (1 - layer[name].right[k]) * size,
        r: 2.5, fill: GC[name] || "#444", "fill-opacity": 0.6, class: "gate gate-" + name}, g));
    });
    const names = Object.keys(sat.layers[0]);
    names.forEach((name, j) => { Chart.el("circle", {cx: 50 + n * (size + gap), cy: 40 + 16 * j, r: 4, fill: GC[name]}, svg);
      Chart.el("text", {x: 58 + n * (size + gap), y: 44 + 16 * j}, svg).textContent = name + " gate"; });
  }
  // ---- one unit across inputs: a row per input, one colour scale; find units between two groups
  const lines = (id) => $(id).value.split("\n").filter((t) => t.length);
  async function showRows() {
    const box = $("rowsbox");
    try {
      const r = await call("rows", {texts: lines("groupa"), unit: +$("runit").value, state: $("rstate").value || null});
      $("rscale").textContent = "layer " + Math.floor(r.unit / r.hidden) + ", unit " + (r.unit % r.hidden) + "; colour scale \u00b1" + r.scale.toFixed(3) + (r.member ? " (" + r.member + " of the ensemble)" : "");
      box.innerHTML = "<table class='rows'>" + r.rows.map((row, k) => "<tr class='inputrow'><th>" + (k + 1) + "</th>" + [...row.text].map((ch, i) => {
        const v = row.values[i];
        return v === null ? "<td class='cell oov'>" + Chart.esc(ch) + "</td>" : "<td class='cell' title='" + v.toFixed(3) + "' style='background:" + colour(v / r.scale) + "'>" + Chart.esc(ch) + "</td>";
      }).join("") + "</tr>").join("") + "</table>";
    } catch (e) { fail(box, e); }
  }
  async function findUnits() {
    const box = $("foundbox");
    try {
      const r = await call("find_units", {a: lines("groupa"), b: lines("groupb"), state: $("rstate").value || null});
      box.innerHTML = "<table class='find'><tr><th>layer</th><th>unit</th><th>score</th><th>mean A</th><th>mean B</th></tr>" + r.units.map((u) =>
        "<tr class='row found' data-unit='" + u.unit + "'><td>" + u.layer + "</td><td>" + u.index + "</td><td>" + u.score.toFixed(3) + "</td><td>" + u.mean_a.toFixed(3) + "</td><td>" + u.mean_b.toFixed(3) + "</td></tr>").join("") + "</table>";
    } catch (e) { fail(box, e); }
  }
  $("showrows").addEventListener("click", showRows);
  $("findunits").addEventListener("click", findUnits);
  $("foundbox").addEventListener("click", (e) => { const tr = e.target.closest("tr.found"); if (tr) { $("runit").value = tr.dataset.unit; showRows(); } });
})();
