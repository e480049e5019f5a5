"use strict";
// longterm: the validation loss against the memoryless baseline (result.json), and the gradient's reach of the
// loaded checkpoint, ‖∂L_T/∂h_k‖ against the distance T − k (the call "reach"), drawn on log axes.
(() => {
  const {P, $, call, fail} = Chart.pageKit();
  async function curve() {
    let r;
    try { r = (await Chart.fetchJSON("/api/run/" + encodeURI(P.name) + "/result")).result; } catch (e) { return; }
    const base = r.baseline_mse !== undefined ? r.baseline_mse : r.baseline_loss, hist = (r.history || []).map((p) => [p.step, p.valid_loss]);
    const span = hist.length ? [hist[0][0], hist[hist.length - 1][0]] : [0, 1];
    Chart.draw($("ltcurve"), [{label: "validation loss", colour: Chart.COLOURS[1], points: hist, dots: true, cls: "valid"},
      {label: "memoryless baseline", colour: "#888", dash: "5 3", points: span.map((x) => [x, base]), cls: "baseline"}],
      {xlabel: "step", ylabel: "loss", logy: true, title: r.task + " problem, T = " + r.T + ": validation loss against the baseline"});
  }
  async function reach() {
    try {
      const r = await call("reach", {sequences: +$("ltn").value}), at = (v) => r.distance.map((d, i) => [d, v[i]]).filter((p) => p[1] > 0);
      const series = [{label: "\u2016\u2202L_T/\u2202h_k\u2016", colour: Chart.COLOURS[0], points: at(r.h), cls: "reach", dots: true},
        {label: "\u2016\u2202s_T/\u2202s_k\u2016\u2082", colour: Chart.COLOURS[2], points: at(r.jacobian), cls: "jacobian"}];
      if (r.c) series.push({label: "\u2016\u2202L_T/\u2202c_k\u2016", colour: Chart.COLOURS[1], points: at(r.c), cls: "reach-c", dash: "4 3"});
      if (r.seeds_bound) series.push({label: "the notes' bound", colour: "#888", points: at(r.seeds_bound), cls: "bound", dash: "2 3"});
      Chart.draw($("reach"), series, {xlabel: "distance T \u2212 k", ylabel: "norm", logy: true,
        title: r.cell + ", T = " + r.T + ": how far back the gradient reaches"});
    } catch (e) { fail($("reach").parentNode, e); }
  }
  $("ltreach").addEventListener("click", reach);
  curve(); reach();
})();
