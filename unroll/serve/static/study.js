"use strict";
// A tuning study's page, from GET /api/study/NAME (unroll/tune/report.py's data), re-read every 5 s:
// the best trial's settings and its `unroll train` command line, the metric against each searched setting
// (one scatter a setting: a log axis for a :log range, one column per choice; complete trials as dots,
// pruned ones as crosses at their last validation, the best ringed), the trials table (each trial's run
// page linked) and every trial's value in order with the best so far.
(() => {
  const P = Chart.page(), $ = (id) => document.getElementById(id), esc = Chart.esc;
  const fmt = (v) => v === null || v === undefined ? "" : typeof v === "number" ? +v.toPrecision(5) + "" : String(v);
  const link = (t) => t.run ? "<a href='/run/" + esc(encodeURI(t.run)) + "'>" + esc(t.run) + "</a>" : "";
  const COLOUR = {complete: Chart.COLOURS[0], pruned: Chart.COLOURS[1]};
  let drawn = "";
  function summary(d) {
    const counts = Object.entries(d.counts).map(([s, n]) => n + " " + s).join(", ") || "no trials yet";
    $("summary").textContent = "task " + d.task + "; " + d.metric + " (" + (d.mode === "max" ? "higher" : "lower") +
      " is better); " + d.trials.length + " trials: " + counts + "; searched: " + d.search;
  }
  function best(d) {
    const b = d.best;
    if (!b) { $("best").innerHTML = "<p class='muted'>no complete trial yet</p>"; return; }
    $("best").innerHTML = "<p>trial " + b.number + ": " + esc(d.metric) + " <b id='bestvalue'>" + fmt(b.value) + "</b> " + link(b) + "</p>" +
      "<table id='bestsettings' class='grid'>" + d.params.map((p) => "<tr data-key='" + esc(p.name) + "'><td>" + esc(p.name) +
        "</td><td>" + esc(fmt(b.params[p.name])) + "</td></tr>").join("") + "</table>" +
      (b.command ? "<pre id='command' class='box'>" + esc(b.command) + "</pre>" : "");
  }
  function trials(d) {
    const head = ["trial", "state", ...d.params.map((p) => p.name), d.metric, "steps", "seconds", "run", ""];
    $("trials").innerHTML = "<tr>" + head.map((h) => "<th>" + esc(h) + "</th>").join("") + "</tr>" + d.trials.map((t) =>
      "<tr class='trial" + (d.best && t.number === d.best.number ? " chosen" : "") + "' data-number='" + t.number + "'><td>" + t.number +
      "</td><td class='state-" + t.state + "'>" + t.state + "</td>" + d.params.map((p) => "<td>" + esc(fmt(t.params[p.name])) + "</td>").join("") +
      "<td>" + fmt(t.value) + "</td><td>" + fmt(t.step) + "</td><td>" + fmt(t.elapsed) + "</td><td>" + link(t) + "</td><td class='muted'>" +
      esc((t.retry_of !== null ? "again of " + t.retry_of + " " : "") + (t.error || "")) + "</td></tr>").join("");
  }
  function scatters(d) {
    const box = $("scatters");
    box.innerHTML = "";
    const done = d.trials.filter((t) => (t.state === "complete" || t.state === "pruned") && t.value !== null);
    for (const p of d.params) {
      const svg = Chart.el("svg", {class: "chart scatter", width: 370, height: 230, "data-param": p.name}, box);
      Scatter.draw(svg, done.map((t) => ({x: t.params[p.name], y: t.value, cls: t.state, colour: COLOUR[t.state],
        best: d.best && t.number === d.best.number, title: "trial " + t.number + " (" + t.state + "): " + p.name + " " + fmt(t.params[p.name]) + ", " + d.metric + " " + fmt(t.value)})),
      {xlabel: p.name, ylabel: d.metric, logx: p.log, categories: p.kind === "choice" ? p.choices : null, lo: p.low, hi: p.high});
    }
  }
  function history(d) {
    const pick = (s) => d.trials.filter((t) => t.state === s && t.value !== null).map((t) => [t.number, t.value]);
    const better = d.mode === "max" ? Math.max : Math.min, bests = [];        // a step at each new best
    for (const [n, v] of pick("complete")) {
      const last = bests.length ? bests[bests.length - 1][1] : v;
      bests.push([n, last], [n, better(last, v)]);
    }
    Chart.draw($("history"), [                        // width "0": dots alone, no line between trials
      {label: "complete", colour: COLOUR.complete, points: pick("complete"), cls: "complete", dots: true, width: "0"},
      {label: "pruned", colour: COLOUR.pruned, points: pick("pruned"), cls: "pruned", dots: true, width: "0"},
      {label: "best so far", colour: "#444", points: bests, cls: "bestsofar", dash: "4 3"}], {xlabel: "trial", ylabel: d.metric});
  }
  async function refresh() {
    let d;
    try { d = await Chart.fetchJSON("/api/study/" + encodeURI(P.name)); } catch (e) {
      $("summary").innerHTML = "<span class='error'>" + esc(e.message) + "</span>"; return;
    }
    const key = JSON.stringify(d);
    if (key === drawn) return;
    drawn = key;
    summary(d); best(d); scatters(d); trials(d); history(d);
    document.body.dataset.loaded = String(d.trials.length);
  }
  refresh(); setInterval(refresh, 5000);
})();
