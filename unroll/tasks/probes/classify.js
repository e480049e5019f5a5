"use strict";
// classify: the class probabilities of the text, and after each prefix of it (how the decision evolves).
(() => {
  const P = Chart.page(), api = "/api/run/" + encodeURI(P.name) + "/";
  const $ = (id) => document.getElementById(id);
  async function run() {
    const box = $("probs");
    try {
      const r = await Chart.fetchJSON(api + "classify", {text: $("text").value});
      box.innerHTML = "<table class='grid'>" + r.labels.map((l, c) => "<tr class='prob'><td>" + Chart.esc(l) + "</td><td>" + r.probs[c].toFixed(4) +
        "</td><td><span style='display:inline-block;background:" + Chart.COLOURS[c % 10] + ";height:10px;width:" + Math.round(200 * r.probs[c]) + "px'></span></td></tr>").join("") + "</table>";
      Chart.draw($("evolve"), r.labels.map((l, c) => ({label: l, colour: Chart.COLOURS[c % 10], cls: "class",
        points: r.steps.map((p, t) => [t + 1, p[c]])})), {xlabel: "tokens read (" + r.tokens.length + ")", ylabel: "p(class)"});
    } catch (e) { box.innerHTML = "<p class='error'>" + Chart.esc(e.message) + "</p>"; }
  }
  $("classify").addEventListener("click", run);
  $("text").addEventListener("keydown", (e) => { if (e.key === "Enter") run(); });
})();
