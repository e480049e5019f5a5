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
  // ---- one unit across inputs (texts, or pasted sequences separated by an empty line)
  function colour(v) {
    const a = Math.min(1, Math.abs(v)), c = v < 0 ? [180, 4, 38] : [59, 76, 192], m = (x) => Math.round(255 + (x - 255) * a);
    return "rgb(" + m(c[0]) + "," + m(c[1]) + "," + m(c[2]) + ")";
  }
  $("urows").addEventListener("click", async () => {
    const box = $("urowsbox"), text = $("uinputs").value;
    const inputs = isVectors ? text.split(/\n\s*\n/).filter((b) => b.trim()) : text.split("\n").filter((t) => t.trim());
    try {
      const r = await call("unit_rows", {inputs: inputs, unit: +$("uunit").value});
      $("uscale").textContent = "unit " + r.unit + " of " + r.units + (r.member ? " (" + r.member + " of the ensemble)" : "") +
        "; colour scale \u00b1" + r.scale.toFixed(3);
      box.innerHTML = "<table class='rows'>" + r.rows.map((row, k) => "<tr class='inputrow'><th>" + (k + 1) + "</th>" + row.tokens.map((t, i) =>
        "<td class='cell' title='" + Chart.esc(t) + ": " + row.values[i].toFixed(3) + "' style='background:" + colour(row.values[i] / r.scale) + "'>" + Chart.esc(isVectors ? "" : t) + "</td>").join("") + "</tr>").join("") + "</table>";
    } catch (e) { fail(box, e); }
  });
})();
