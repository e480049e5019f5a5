"use strict";
// One run's loss curves, re-read every 3 s while the page is open.
(() => {
  const P = Chart.page();
  async function refresh() {
    let records = [];
    try { records = (await Chart.fetchJSON("/api/run/" + encodeURI(P.name) + "/metrics")).records; } catch (e) { return; }
    const pick = (f) => records.filter((r) => r[f] !== null && r[f] !== undefined).map((r) => [r.step, r[f]]);
    Chart.draw(document.getElementById("loss"), [
      {label: "training", colour: Chart.COLOURS[0], points: pick("train_loss"), cls: "train", dash: "4 3"},
      {label: "validation", colour: Chart.COLOURS[1], points: pick("valid_loss"), cls: "valid", dots: true}], {xlabel: "step", ylabel: "loss"});
  }
  refresh(); setInterval(refresh, 3000);
})();
