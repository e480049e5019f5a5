"use strict";
// forecast: per series, its recent history (steps before the end, x < 0) and the forecast after it (x > 0).
(() => {
  const {P, api, $, call, fail} = Chart.pageKit();
  async function run() {
    const box = $("panels");
    try {
      const r = await call("forecast", {});
      box.innerHTML = "";
      for (const s of r.series) {
        const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
        svg.setAttribute("class", "chart"); svg.setAttribute("width", 760); svg.setAttribute("height", 220);
        box.appendChild(svg);
        const n = s.history.values.length, f = s.forecast;
        const line = (k) => f.map((row, i) => [i + 1, row[k]]), band = (lo, hi) => f.map((row, i) => [i + 1, row[lo], row[hi]]);
        Chart.draw(svg, [
          {label: "history", colour: "#000", points: s.history.values.map((v, i) => [i - n + 1, v]), cls: "history"},
          {label: "95% interval", colour: Chart.COLOURS[5], points: [], band: band("lo95", "hi95"), cls: "i95"},
          {label: "80% interval", colour: Chart.COLOURS[0], points: [], band: band("lo80", "hi80"), cls: "i80"},
          {label: "forecast (mean)", colour: Chart.COLOURS[0], points: line("mean"), dots: true, cls: "forecast"},
          {label: "seasonal naive", colour: "#888", dash: "5 3", points: (s.baseline || []).map((v, i) => [i + 1, v]), cls: "baseline"}],
          {title: s.name + " (last date " + (s.history.dates[n - 1] || "") + ")", xlabel: "steps from the end of the data", ylabel: "value"});
      }
    } catch (e) { fail(box, e); }
  }
  // ---- backtest: the forecast from any origin of a series, beside what happened and the seasonal naive one
  let asked = 0;
  async function backtest(origin) {
    const svg = $("backtest"), mine = ++asked;
    try {
      const r = await call("backtest", {series: +($("bseries").value || 0), origin: origin});
      if (mine !== asked) return;                                  // a later slider position is on its way
      const o = $("origin"); o.min = r.first; o.max = r.last; o.value = r.origin;
      const n = r.history.values.length, f = r.forecast;
      $("originv").textContent = "origin " + r.origin + " (" + f[0].date + ")";
      Chart.draw(svg, [
        {label: "history", colour: "#000", points: r.history.values.map((v, i) => [i - n + 1, v]), cls: "history"},
        {label: "actual", colour: "#000", dash: "2 2", points: r.actual.map((v, i) => [i + 1, v]), cls: "actual", dots: true},
        {label: "95% interval", colour: Chart.COLOURS[5], points: [], band: f.map((p, i) => [i + 1, p.lo95, p.hi95])},
        {label: "80% interval", colour: Chart.COLOURS[0], points: [], band: f.map((p, i) => [i + 1, p.lo80, p.hi80])},
        {label: "forecast (mean)", colour: Chart.COLOURS[0], points: f.map((p, i) => [i + 1, p.mean]), cls: "forecast", dots: true},
        {label: "seasonal naive", colour: "#888", dash: "5 3", points: (r.baseline || []).map((v, i) => [i + 1, v]), cls: "baseline"}],
        {title: r.name + ": backtest from " + f[0].date, xlabel: "steps from the origin", ylabel: "value"});
      svg.dataset.origin = r.origin;
    } catch (e) { Chart.draw(svg, [], {title: e.message}); }
  }
  $("forecast").addEventListener("click", run);
  $("origin").addEventListener("input", () => backtest(+$("origin").value));
  $("bseries").addEventListener("change", () => backtest(null));
  run().then(async () => {
    const r = await call("forecast", {history: 1});
    $("bseries").innerHTML = r.series.map((s, k) => "<option value='" + k + "'>" + Chart.esc(s.name) + "</option>").join("");
    backtest(null);
  });
})();
