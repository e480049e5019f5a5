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
          {label: "forecast (mean)", colour: Chart.COLOURS[0], points: line("mean"), dots: true, cls: "forecast"}],
          {title: s.name + " (last date " + (s.history.dates[n - 1] || "") + ")", xlabel: "steps from the end of the data", ylabel: "value"});
      }
    } catch (e) { fail(box, e); }
  }
  $("forecast").addEventListener("click", run);
  run();
})();
