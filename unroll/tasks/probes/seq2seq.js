"use strict";
// seq2seq: translate a line (greedy, or beam search with width > 1); the attention weights as a heat map,
// output tokens down, source tokens across (a run trained without --attention has none).
(() => {
  const {P, api, $, call, fail, curvesOnly} = Chart.pageKit();
  if (P.input === "vectors") {
    curvesOnly("This seq2seq run reads vector sequences: this page shows its curves only; `unroll predict RUN FILE` translates a file of them.");
    return;
  }
  const shade = (a) => { const v = Math.round(255 * (1 - a)); return "rgb(" + v + "," + v + ",255)"; };
  async function translate() {
    const out = $("output"), heat = $("heat");
    out.classList.remove("error");
    try {
      const r = await call("translate", {line: $("line").value, beam: +$("beam").value});
      out.textContent = r.output + "    (log p = " + r.log_prob.toFixed(3) + (r.finished ? "" : ", no <eos> before the length limit") + ")";
      if (!r.attention) { heat.innerHTML = "<p class='muted'>this model has no attention (trained without --attention)</p>"; return; }
      let h = "<table class='heat'><tr><th></th>" + r.source_tokens.map((t) => "<th>" + Chart.esc(t) + "</th>").join("") + "</tr>";
      r.attention.forEach((row, u) => {
        h += "<tr><th>" + Chart.esc(r.output_tokens[u] || "") + "</th>" + row.map((a) => "<td class='cell' title='" + a.toFixed(3) +
          "' style='background:" + shade(a) + "'></td>").join("") + "</tr>";
      });
      heat.innerHTML = h + "</table>";
    } catch (e) { out.textContent = e.message; out.classList.add("error"); heat.innerHTML = ""; }
  }
  $("translate").addEventListener("click", translate);
  $("line").addEventListener("keydown", (e) => { if (e.key === "Enter") translate(); });
})();
