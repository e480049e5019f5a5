"use strict";
// A small SVG scatter plot on chart.js's axes: Scatter.draw(svg, points, {xlabel, ylabel, title, logx,
// categories, lo, hi}). points: [{x, y, cls, title, colour}]; one mark per point with class "point CLS": a
// circle, or a cross for cls "pruned"; "best" adds a ring. x is numeric (log10 scale with logx; the axis
// spans lo..hi when given, the searched range) or, with categories, one column per category (marks
// spread a little sideways so equal values stay visible).
const Scatter = (() => {
  function draw(svg, points, opts) {
    opts = opts || {};
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const el = Chart.el, W = +svg.getAttribute("width"), H = +svg.getAttribute("height"), L = 58, R = 12, T = 22, B = 36;
    const cats = opts.categories;
    const tx = cats ? (x) => cats.findIndex((c) => c === x) : opts.logx ? (x) => Math.log10(x) : (x) => +x;
    const pts = points.filter((p) => typeof p.y === "number" && isFinite(p.y) && isFinite(tx(p.x)) && (!cats || tx(p.x) >= 0));
    if (opts.title) el("text", {x: L, y: 14}, svg).textContent = opts.title;
    if (!pts.length) { el("text", {x: L + 10, y: H / 2, class: "empty"}, svg).textContent = "no finished trial yet"; return; }
    let x0, x1;
    if (cats) { x0 = -0.5; x1 = cats.length - 0.5; } else {
      const xs = pts.map((p) => tx(p.x)).concat([opts.lo, opts.hi].filter((v) => v !== null && v !== undefined).map(tx).filter(isFinite));
      x0 = Math.min(...xs); x1 = Math.max(...xs);
      if (x1 === x0) { x0 -= 0.5; x1 += 0.5; }
      const pad = (x1 - x0) * 0.05; x0 -= pad; x1 += pad;
    }
    let y0 = Math.min(...pts.map((p) => p.y)), y1 = Math.max(...pts.map((p) => p.y));
    if (y1 === y0) { const half = Math.abs(y0) * 0.1 || 0.5; y0 -= half; y1 += half; }
    const pad = (y1 - y0) * 0.08; y0 -= pad; y1 += pad;
    const sx = (v) => L + (v - x0) / (x1 - x0) * (W - L - R), sy = (y) => T + (y1 - y) / (y1 - y0) * (H - T - B);
    const axes = el("g", {class: "axes"}, svg);
    el("rect", {x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#ccc"}, axes);
    const xt = cats ? cats.map((c, i) => [i, String(c)]) : (opts.logx ? Chart.logTicks(x0, x1) : Chart.ticks(x0, x1, 4))
      .map((t) => [t, Chart.fmt(opts.logx ? +Math.pow(10, t).toPrecision(2) : t)]);
    for (const [t, label] of xt) {
      el("line", {x1: sx(t), x2: sx(t), y1: H - B, y2: H - B + 4, stroke: "#888"}, axes);
      el("text", {x: sx(t), y: H - B + 15, "text-anchor": "middle"}, axes).textContent = label;
    }
    for (const t of Chart.ticks(y0, y1, 4)) {
      el("line", {x1: L - 4, x2: W - R, y1: sy(t), y2: sy(t), stroke: "#eee"}, axes);
      el("text", {x: L - 6, y: sy(t) + 4, "text-anchor": "end"}, axes).textContent = Chart.fmt(t);
    }
    if (opts.xlabel) el("text", {x: (L + W - R) / 2, y: H - 3, "text-anchor": "middle"}, axes).textContent = opts.xlabel + (opts.logx ? " (log)" : "");
    if (opts.ylabel) el("text", {x: 12, y: (T + H - B) / 2, transform: `rotate(-90 12 ${(T + H - B) / 2})`, "text-anchor": "middle"}, axes).textContent = opts.ylabel;
    pts.forEach((p, i) => {
      const x = sx(tx(p.x)) + (cats ? ((i * 7) % 9 - 4) * 2 : 0), y = sy(p.y), colour = p.colour || Chart.COLOURS[0];
      const mark = p.cls === "pruned"
        ? el("path", {d: `M${x - 4},${y - 4}L${x + 4},${y + 4}M${x - 4},${y + 4}L${x + 4},${y - 4}`, stroke: colour, "stroke-width": 1.6, fill: "none"}, svg)
        : el("circle", {cx: x, cy: y, r: 4, fill: colour, "fill-opacity": 0.8}, svg);
      mark.setAttribute("class", "point " + (p.cls || ""));
      if (p.title) el("title", {}, mark).textContent = p.title;
      if (p.best) el("circle", {cx: x, cy: y, r: 8, fill: "none", stroke: "#000", "stroke-width": 1.2, class: "ring"}, svg);
    });
  }
  return {draw};
})();
