"use strict";
// Compare: tick runs on the left; their training (dashed) and validation (solid) loss against step or
// wall-clock time, and the gradient norm and learning rate below. Selected runs are re-read every 3 s.
(() => {
  const P = Chart.page(), picker = document.getElementById("picker");
  const selected = new Set(P.selected), data = {};
  const xKey = () => document.querySelector("input[name=x]:checked").value;
  function colourOf(name) { return Chart.COLOURS[[...selected].indexOf(name) % Chart.COLOURS.length]; }
  function series(field, cls, dash) {
    return [...selected].filter((n) => data[n]).map((n) => ({label: n + (cls ? " " + cls : ""), colour: colourOf(n), cls: cls, dash: dash,
      points: data[n].filter((r) => r[field] !== null && r[field] !== undefined && r[xKey()] !== undefined).map((r) => [r[xKey()], r[field]])}));
  }
  function redraw() {
    const x = xKey() === "step" ? "step" : "wall-clock time (s)", logy = document.getElementById("logy").checked;
    Chart.draw(document.getElementById("loss"), [...series("train_loss", "train", "4 3"), ...series("valid_loss", "valid").map((s) => ({...s, dots: true}))],
      {xlabel: x, ylabel: "loss (nats/token)", logy: logy, title: "training (dashed) and validation (solid) loss"});
    Chart.draw(document.getElementById("grad"), series("grad_norm", "grad"), {xlabel: x, ylabel: "grad norm", logy: true, title: "gradient norm (before clipping)"});
    Chart.draw(document.getElementById("lr"), series("lr", "lr"), {xlabel: x, ylabel: "lr", title: "learning rate"});
  }
  async function load(name) {
    try { data[name] = (await Chart.fetchJSON("/api/run/" + encodeURI(name) + "/metrics")).records; }
    catch (e) { data[name] = []; }
  }
  async function refresh() { await Promise.all([...selected].map(load)); redraw(); }
  async function list() {
    const runs = (await Chart.fetchJSON("/api/runs")).runs;
    picker.innerHTML = runs.map((r) => "<label><input type='checkbox' value='" + Chart.esc(r.name) + "'" + (selected.has(r.name) ? " checked" : "") +
      "> " + Chart.esc(r.name) + " <span class='muted'>" + Chart.esc(r.task) + " " + Chart.esc(r.cell || "") + " " + r.state + "</span></label>").join("");
  }
  picker.addEventListener("change", async (e) => {
    if (e.target.checked) selected.add(e.target.value); else selected.delete(e.target.value);
    history.replaceState(null, "", "/compare?runs=" + [...selected].map(encodeURIComponent).join(","));
    await refresh();
  });
  document.querySelectorAll("input[name=x], #logy").forEach((i) => i.addEventListener("change", redraw));
  list().then(refresh);
  setInterval(refresh, 3000);
})();
