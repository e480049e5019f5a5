"use strict";
// Parallel coordinates: Parallel.draw(svg, axes, items, onFilter). axes: [{key, label}]; items: [{name,
// values: {key: value}}]; one vertical axis per key (numbers on a linear scale, a log one when they are all
// positive and span over 20x; anything else as categories), one polyline per item. Dragging along an axis
// brushes a range of it; a double click clears it. onFilter(Set of the names inside every brush).
const Parallel = (() => {
  const el = Chart.el, T = 42, B = 30, L = 70, R = 70;
  function scaleOf(values) {
    const v = values.filter((x) => x !== null && x !== undefined);
    if (v.length && v.every((x) => typeof x === "number")) {
      const log = v.every((x) => x > 0) && Math.max(...v) / Math.min(...v) > 20, f = log ? Math.log10 : (x) => x;
      let lo = Math.min(...v.map(f)), hi = Math.max(...v.map(f));
      if (hi === lo) { lo -= 0.5; hi += 0.5; }
      return {pos: (x) => typeof x === "number" ? (f(x) - lo) / (hi - lo) : null, ticks: [lo, hi].map((t) => log ? Math.pow(10, t) : t), kind: log ? "log" : "linear"};
    }
    const cats = [...new Set(v.map((x) => JSON.stringify(x)))].sort();
    return {pos: (x) => x === null || x === undefined ? null : cats.length < 2 ? 0.5 : cats.indexOf(JSON.stringify(x)) / (cats.length - 1), cats: cats, kind: "category"};
  }
  function draw(svg, axes, items, onFilter) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const W = +svg.getAttribute("width"), H = +svg.getAttribute("height"), brushes = {};
    if (!axes.length || !items.length) { el("text", {x: 10, y: H / 2, class: "hint"}, svg).textContent = "no settings differ between these runs"; return; }
    const gap = axes.length > 1 ? (W - L - R) / (axes.length - 1) : 0, x = (i) => L + i * gap, y = (p) => T + (1 - p) * (H - T - B);
    const scales = axes.map((a) => scaleOf(items.map((it) => it.values[a.key])));
    const lines = items.map((it) => {
      const pts = axes.map((a, i) => { const p = scales[i].pos(it.values[a.key]); return p === null ? null : [x(i), y(p)]; });
      const d = pts.map((p, i) => p ? ((i && pts[i - 1] ? "L" : "M") + p[0].toFixed(1) + "," + p[1].toFixed(1)) : "").join("");
      const path = el("path", {d: d, class: "line"}, svg);
      path.dataset.name = it.name;
      return path;
    });
    function apply() {
      const keep = new Set();
      items.forEach((it, n) => {
        const ok = axes.every((a, i) => { const b = brushes[a.key]; if (!b) return true; const p = scales[i].pos(it.values[a.key]); return p !== null && p >= b[0] && p <= b[1]; });
        lines[n].classList.toggle("out", !ok);
        if (ok) keep.add(it.name);
      });
      onFilter(keep, Object.keys(brushes).length > 0);
    }
    axes.forEach((a, i) => {
      const g = el("g", {class: "axis"}, svg), s = scales[i];
      g.dataset.key = a.key;
      el("line", {x1: x(i), x2: x(i), y1: T, y2: H - B, stroke: "#555"}, g);
      el("text", {x: x(i), y: i % 2 ? T - 8 : T - 22, "text-anchor": "middle"}, g).textContent = a.label.length > 24 ? "\u2026" + a.label.slice(-23) : a.label;
      const labels = s.kind === "category" ? s.cats.map((c, k) => [s.cats.length < 2 ? 0.5 : k / (s.cats.length - 1), JSON.parse(c)]) : s.ticks.map((t, k) => [k, t]);
      for (const [p, v] of labels) el("text", {x: x(i) + 5, y: y(p) + 4, class: "tick"}, g).textContent = typeof v === "number" ? +v.toPrecision(4) + "" : String(v);
      const box = el("rect", {x: x(i) - 7, width: 14, y: 0, height: 0, class: "brush"}, g);
      const hit = el("rect", {x: x(i) - 12, y: T - 4, width: 24, height: H - T - B + 8, fill: "transparent", class: "hit", style: "cursor:crosshair"}, g);
      let start = null;
      const at = (e) => { const r = svg.getBoundingClientRect(); return Math.max(0, Math.min(1, 1 - (e.clientY - r.top - T) / (H - T - B))); };
      hit.addEventListener("mousedown", (e) => { start = at(e); e.preventDefault(); });
      svg.addEventListener("mousemove", (e) => {
        if (start === null) return;
        const now = at(e), lo = Math.min(start, now), hi = Math.max(start, now);
        box.setAttribute("y", y(hi)); box.setAttribute("height", y(lo) - y(hi));
        brushes[a.key] = [lo, hi]; apply();
      });
      window.addEventListener("mouseup", () => { if (start !== null && brushes[a.key] && brushes[a.key][1] - brushes[a.key][0] < 0.005) { delete brushes[a.key]; box.setAttribute("height", 0); apply(); } start = null; });
      hit.addEventListener("dblclick", () => { delete brushes[a.key]; box.setAttribute("height", 0); apply(); });
    });
  }
  return {draw};
})();
