"use strict";
// A small SVG line chart: Chart.draw(svg, series, {xlabel, ylabel, logy, title}).
// series: [{label, colour, points: [[x, y], ...], cls, dash, band: [[x, lo, hi], ...]}]; one
// <path class="curve CLS"> per series, and a shaded <path class="band"> under it where it has a band.
// Chart.smooth(points, weight): exponential smoothing; Chart.pageKit(): what every task page script shares;
// Chart.ticks, logTicks, fmt: the axes' ticks and numbers (static/scatter.js draws its axes with them too).
const Chart = (() => {
  const NS = "http://www.w3.org/2000/svg";
  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function ticks(lo, hi, n) {
    if (!(hi > lo)) return [lo];
    const step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n))), m = (hi - lo) / n / step;
    const s = step * (m > 5 ? 10 : m > 2 ? 5 : m > 1 ? 2 : 1), out = [];
    for (let t = Math.ceil(lo / s) * s; t <= hi + 1e-12 * Math.abs(hi); t += s) out.push(+t.toPrecision(12));
    return out;
  }
  function logTicks(lo, hi) {                                   // log10 range -> log10 of 1, 2, 5 x 10^k inside it
    const out = [];
    for (let k = Math.floor(lo); k <= Math.ceil(hi); k++)
      for (const m of [1, 2, 5]) { const t = k + Math.log10(m); if (t >= lo && t <= hi) out.push(t); }
    return out.length >= 2 ? out : ticks(lo, hi, 4);
  }
  function fmt(v) { return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(1) : +v.toPrecision(4) + ""; }
  function draw(svg, series, opts) {
    opts = opts || {};
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const W = +svg.getAttribute("width"), H = +svg.getAttribute("height"), L = 60, R = 150, T = 20, B = 34;
    const tf = opts.logy ? (y) => Math.log10(y) : (y) => y;
    const ok = (x, y) => isFinite(x) && isFinite(y) && (!opts.logy || y > 0);
    const pts = series.map((s) => s.points.filter((p) => ok(p[0], p[1])));
    const bands = series.map((s) => (s.band || []).filter((b) => ok(b[0], b[1]) && ok(b[0], b[2])));
    const all = pts.flat().concat(bands.flat().flatMap((b) => [[b[0], b[1]], [b[0], b[2]]]));
    if (opts.title) el("text", {x: L, y: 13}, svg).textContent = opts.title;
    if (!all.length) { el("text", {x: L + 10, y: H / 2, class: "empty"}, svg).textContent = "no data yet"; return; }
    let x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]));
    let y0 = Math.min(...all.map((p) => tf(p[1]))), y1 = Math.max(...all.map((p) => tf(p[1])));
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) { const half = opts.logy ? 0.1 : (Math.abs(y0) * 0.1 || 0.5); y0 -= half; y1 += half; }   // a constant: around it
    const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
    const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R), sy = (y) => T + (y1 - tf(y)) / (y1 - y0) * (H - T - B);
    const axes = el("g", {class: "axes"}, svg);
    el("rect", {x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#ccc"}, axes);
    for (const t of ticks(x0, x1, 6)) {
      el("line", {x1: sx(t), x2: sx(t), y1: H - B, y2: H - B + 4, stroke: "#888"}, axes);
      el("text", {x: sx(t), y: H - B + 15, "text-anchor": "middle"}, axes).textContent = fmt(t);
    }
    const yt = opts.logy ? logTicks(y0, y1) : ticks(y0, y1, 5);
    for (const t of yt) {
      const y = T + (y1 - t) / (y1 - y0) * (H - T - B);
      el("line", {x1: L - 4, x2: W - R, y1: y, y2: y, stroke: "#eee"}, axes);
      el("text", {x: L - 6, y: y + 4, "text-anchor": "end"}, axes).textContent = opts.logy ? fmt(+Math.pow(10, t).toPrecision(2)) : fmt(t);
    }
    if (opts.xlabel) el("text", {x: (L + W - R) / 2, y: H - 3, "text-anchor": "middle"}, axes).textContent = opts.xlabel;
    if (opts.ylabel) el("text", {x: 12, y: (T + H - B) / 2, transform: `rotate(-90 12 ${(T + H - B) / 2})`, "text-anchor": "middle"}, axes).textContent = opts.ylabel;
    series.forEach((s, i) => {
      if (bands[i].length) {
        const b = bands[i], up = b.map((p) => sx(p[0]).toFixed(1) + "," + sy(p[2]).toFixed(1)), down = b.map((p) => sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1)).reverse();
        el("path", {d: "M" + up.concat(down).join("L") + "Z", fill: s.colour, "fill-opacity": 0.15, stroke: "none", class: "band"}, svg).dataset.label = s.label;
      }
      if (!pts[i].length && !bands[i].length) return;
      if (pts[i].length) {
        const d = pts[i].map((p, j) => (j ? "L" : "M") + sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1)).join("");
        const path = el("path", {d: d, fill: "none", stroke: s.colour, "stroke-width": s.width || 1.5, class: "curve " + (s.cls || "")}, svg);
        if (s.dash) path.setAttribute("stroke-dasharray", s.dash);
        path.dataset.label = s.label;
        if (s.dots || pts[i].length === 1)                        // sparse series (validation): a mark per point
          for (const p of pts[i]) el("circle", {cx: sx(p[0]), cy: sy(p[1]), r: 2.5, fill: s.colour, class: "dot"}, svg);
      }
      const ly = T + 12 + 14 * i;
      el("line", {x1: W - R + 8, x2: W - R + 28, y1: ly - 4, y2: ly - 4, stroke: s.colour, "stroke-width": 2, "stroke-dasharray": s.dash || ""}, svg);
      el("text", {x: W - R + 32, y: ly}, svg).textContent = s.label.length > 22 ? s.label.slice(0, 21) + "\u2026" : s.label;
    });
  }
  const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];
  async function fetchJSON(url, body) {
    const r = await fetch(url, body === undefined ? {} : {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    const data = await r.json().catch(() => ({error: "the server sent no JSON (status " + r.status + ")"}));
    if (!r.ok) throw new Error(data.error || ("status " + r.status));
    return data;
  }
  function esc(s) { return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;"); }
  function smooth(points, weight) {             // TensorBoard's debiased exponential moving average, weight in [0, 1)
    if (!(weight > 0)) return points;
    let last = 0, n = 0;
    return points.map((p) => { if (!isFinite(p[1])) return p; last = last * weight + (1 - weight) * p[1]; n++; return [p[0], last / (1 - Math.pow(weight, n))]; });
  }
  const page = () => JSON.parse(document.getElementById("page").textContent);
  function pageKit() {                          // a task page's script: its parameters, its API root, calls, errors
    const P = page(), api = "/api/run/" + encodeURI(P.name) + "/", $ = (id) => document.getElementById(id);
    return {P, api, $, call: (name, body) => fetchJSON(api + name, body),
            fail: (box, e) => { box.innerHTML = "<p class='error'>" + esc(e.message) + "</p>"; },
            vectors: () => {                  // a vector run: the pasted / uploaded sequence box instead of the text box
              if (P.input !== "vectors") return false;
              if ($("text")) $("text").hidden = true;
              $("vecbox").hidden = false;
              $("rowsfile").addEventListener("change", (e) => { const f = e.target.files[0]; if (f) f.text().then((t) => { $("rows").value = t; }); });
              return true;
            },
            curvesOnly: (why) => { $("task").innerHTML = "<p class='muted' id='curves-only'>" + esc(why) + "</p>"; },
            svg: (parent, w, h) => { const s = el("svg", {class: "chart", width: w, height: h}); parent.appendChild(s); return s; }};
  }
  return {draw, el, ticks, logTicks, fmt, COLOURS, fetchJSON, esc, smooth, page, pageKit};
})();
