"use strict";
// tag: the model's tag over each token of a line.
(() => {
  const P = Chart.page(), api = "/api/run/" + encodeURI(P.name) + "/";
  const $ = (id) => document.getElementById(id);
  async function run() {
    const box = $("tags");
    try {
      const r = await Chart.fetchJSON(api + "tag", {text: $("text").value});
      box.innerHTML = r.tokens.map((t, k) => "<span class='tok' title='p = " + r.probs[k].toFixed(3) + "'>" + Chart.esc(t) +
        "<small>" + Chart.esc(r.tags[k]) + "</small></span>").join("");
    } catch (e) { box.innerHTML = "<p class='error'>" + Chart.esc(e.message) + "</p>"; }
  }
  $("tag").addEventListener("click", run);
  $("text").addEventListener("keydown", (e) => { if (e.key === "Enter") run(); });
})();
