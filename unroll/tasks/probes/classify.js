"use strict";
// classify: the class probabilities of the text, and after each prefix of it (how the decision evolves).
(() => {
  const {P, api, $, call, fail, vectors} = Chart.pageKit();
  const isVectors = vectors();
  async function run() {
    const box = $("probs");
    try {
      const r = await call("classify", isVectors ? {rows: $("rows").value} : {text: $("text").value});
      box.innerHTML = "<table class='grid'>" + r.labels.map((l, c) => "<tr class='prob'><td>" + Chart.esc(l) + "</td><td>" + r.probs[c].toFixed(4) +
        "</td><td><span style='display:inline-block;background:" + Chart.COLOURS[c % 10] + ";height:10px;width:" + Math.round(200 * r.probs[c]) + "px'></span></td></tr>").join("") + "</table>";
      Chart.draw($("evolve"), r.labels.map((l, c) => ({label: l, colour: Chart.COLOURS[c % 10], cls: "class",
        points: r.steps.map((p, t) => [t + 1, p[c]])})), {xlabel: "tokens read (" + r.tokens.length + ")", ylabel: "p(class)"});
    } catch (e) { fail(box, e); }
  }
  $("classify").addEventListener("click", run);
  $("text").addEventListener("keydown", (e) => { if (e.key === "Enter") run(); });
})();
