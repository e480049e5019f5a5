"use strict";
// tag: the model's tag over each token of a line.
(() => {
  const {P, api, $, call, fail, vectors} = Chart.pageKit();
  const isVectors = vectors();
  async function run() {
    const box = $("tags");
    try {
      const r = await call("tag", isVectors ? {rows: $("rows").value} : {text: $("text").value});
      box.innerHTML = r.tokens.map((t, k) => "<span class='tok' title='p = " + r.probs[k].toFixed(3) + "'>" + Chart.esc(t) +
        "<small>" + Chart.esc(r.tags[k]) + "</small></span>").join("");
    } catch (e) { fail(box, e); }
  }
  $("tag").addEventListener("click", run);
  $("text").addEventListener("keydown", (e) => { if (e.key === "Enter") run(); });
})();
