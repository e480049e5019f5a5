"use strict";
// One run's curves (loss; the metric its best checkpoint is chosen by; learning rate) and its metrics'
// best and last values, re-read every 3 s while the page is open.
(() => {
  const P = Chart.page(), $ = (id) => document.getElementById(id);
  const fmt = (v) => v === null || v === undefined ? "" : +(+v).toPrecision(5) + "";
  async function refresh() {
    let records = [], info = null;
    try {
      records = (await Chart.fetchJSON("/api/run/" + encodeURI(P.name) + "/metrics")).records;
      info = (await Chart.fetchJSON("/api/compare?runs=" + encodeURIComponent(P.name))).runs[0];
    } catch (e) { return; }
    const pick = (f) => records.filter((r) => r[f] !== null && r[f] !== undefined).map((r) => [r.step, r[f]]);
    Chart.draw($("loss"), [
      {label: "training", colour: Chart.COLOURS[0], points: pick("train_loss"), cls: "train", dash: "4 3"},
      {label: "validation", colour: Chart.COLOURS[1], points: pick("valid_loss"), cls: "valid", dots: true}], {xlabel: "step", ylabel: "loss"});
    const sel = info.selection, key = "valid_" + sel.name;
    Chart.draw($("metric"), [{label: sel.name, colour: Chart.COLOURS[2], points: pick(key), cls: "selection", dots: true}],
      {xlabel: "step", ylabel: sel.name, title: "validation " + sel.name + " (the best checkpoint is its " + (sel.mode === "max" ? "highest" : "lowest") + ")"});
    Chart.draw($("lr"), [{label: "lr", colour: Chart.COLOURS[3], points: pick("lr"), cls: "lr"}], {xlabel: "step", ylabel: "lr", title: "learning rate"});
    $("summary").innerHTML = "<tr><th>metric</th><th>best</th><th>last</th><th>lowest</th><th>highest</th></tr>" +
      Object.entries(info.metrics).map(([k, m]) => "<tr class='metric" + (k === key ? " chosen" : "") + "' data-key='" + Chart.esc(k) + "'><td>" + Chart.esc(k) + "</td><td>" +
        fmt(m.best) + "</td><td>" + fmt(m.last) + "</td><td>" + fmt(m.min) + "</td><td>" + fmt(m.max) + "</td></tr>").join("");
    $("summary").dataset.loaded = "1";
    try { result((await Chart.fetchJSON("/api/run/" + encodeURI(P.name) + "/result")).result); } catch (e) { /* none yet */ }
  }
  function result(r) {                                  // result.json: its numbers (a task's own figures are on its page)
    const box = $("result"), scalars = Object.entries(r).filter(([, v]) => v === null || typeof v !== "object");
    if (!scalars.length || box.dataset.done) return;
    box.dataset.done = "1";
    let h = "<h3>result</h3><table id='resulttable' class='grid'>" + scalars.map(([k, v]) => "<tr><td>" + Chart.esc(k) + "</td><td>" + Chart.esc(typeof v === "number" ? fmt(v) : String(v)) + "</td></tr>").join("") + "</table>";
    box.innerHTML = h;
  }
  refresh(); setInterval(refresh, 3000);
})();
