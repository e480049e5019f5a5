"use strict";
// generate: texts from a condition (a label of the run, or a row of numbers), sampled or by beam search.
(() => {
  const {$, call, fail} = Chart.pageKit();
  call("conditions", {}).then((c) => {
    $("labels").innerHTML = c.labels.map((l) => "<option value='" + Chart.esc(l) + "'>").join("");
    $("gcond").textContent = c.cond === "label" ? "one of: " + c.labels.join(", ") : c.cond_size + " numbers, separated by spaces or commas";
    if (c.labels.length) $("condition").value = c.labels[0];
  });
  async function run() {
    const box = $("generated");
    try {
      const r = await call("generate", {condition: $("condition").value, temperature: +$("gtemp").value, beam: +$("gbeam").value, n: +$("gn").value});
      box.innerHTML = r.texts.map((t) => "<pre class='box sample'>" + Chart.esc(t) + "</pre>").join("");
    } catch (e) { fail(box, e); }
  }
  $("generate").addEventListener("click", run);
  $("condition").addEventListener("keydown", (e) => { if (e.key === "Enter") run(); });
})();
