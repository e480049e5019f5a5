"use strict";
// Compare: tick runs on the left. Their training (dashed) and validation (solid) loss, a chosen metric,
// the gradient norm and the learning rate against step, wall-clock time or tokens (tokens/s integrated
// over time), smoothed (exponential, the slider), log y; grouped by a setting (one colour a value: the
// mean and a min-max band); the metrics' best / last values and the settings that differ (or all).
// Every choice is kept in the address. Selected runs are re-read every 3 s.
(() => {
  const P = Chart.page(), picker = document.getElementById("picker"), $ = (id) => document.getElementById(id);
  const selected = new Set(P.selected), data = {};
  let info = {runs: [], differ: []};
  if (["step", "elapsed", "tokens"].includes(P.x)) document.querySelector("input[name=x][value=" + P.x + "]").checked = true;
  $("logy").checked = P.logy === "1"; $("allsettings").checked = P.all === "1";
  $("smooth").value = P.smooth || 0; $("smoothv").textContent = $("smooth").value;
  let wantGroup = P.group, wantMetric = P.metric, metricChosen = !!P.metric;
  const xKey = () => document.querySelector("input[name=x]:checked").value;
  const XLABEL = {step: "step", elapsed: "wall-clock time (s)", tokens: "tokens (tokens/s integrated over time)"};
  const fmt = (v) => v === null || v === undefined ? "" : typeof v === "number" ? +v.toPrecision(5) + "" : typeof v === "object" ? JSON.stringify(v) : String(v);
  function withTokens(records) {                       // x = tokens: the integral of tokens/s over elapsed time
    let tokens = 0, t = 0;
    return records.map((r) => { if (isFinite(r.tokens_per_s) && isFinite(r.elapsed)) tokens += r.tokens_per_s * (r.elapsed - t); t = isFinite(r.elapsed) ? r.elapsed : t; return {...r, tokens: Math.round(tokens)}; });
  }
  function points(name, field) {
    const x = xKey();
    return Chart.smooth((data[name] || []).filter((r) => r[field] !== null && r[field] !== undefined && r[x] !== undefined).map((r) => [r[x], r[field]]),
                        field.startsWith("valid_") ? 0 : +$("smooth").value);
  }
  const names = () => [...selected].filter((n) => data[n]);
  function groupsOf() {                                // [{label, runs}] by the chosen setting, or one per run
    const key = $("group").value, out = new Map();
    if (!key) return names().map((n) => ({label: n, runs: [n]}));
    const settings = Object.fromEntries(info.runs.map((r) => [r.name, r.settings]));
    for (const n of names()) { const v = fmt((settings[n] || {})[key]); if (!out.has(v)) out.set(v, []); out.get(v).push(n); }
    return [...out].map(([v, runs]) => ({label: v + " (" + runs.length + (runs.length > 1 ? " runs)" : " run)"), runs: runs}));
  }
  function interp(pts, x) {
    if (!pts.length || x < pts[0][0] || x > pts[pts.length - 1][0]) return null;
    let j = pts.findIndex((p) => p[0] >= x);
    if (pts[j][0] === x) return pts[j][1];
    const a = pts[j - 1], b = pts[j];
    return a[1] + (b[1] - a[1]) * (x - a[0]) / (b[0] - a[0]);
  }
  function aggregate(lists) {                          // mean and min-max over the runs covering each x
    const xs = [...new Set(lists.flat().map((p) => p[0]))].sort((a, b) => a - b), mean = [], band = [];
    for (const x of xs) {
      const v = lists.map((l) => interp(l, x)).filter((y) => y !== null);
      if (!v.length) continue;
      mean.push([x, v.reduce((a, b) => a + b, 0) / v.length]); band.push([x, Math.min(...v), Math.max(...v)]);
    }
    return {mean, band};
  }
  function series(field, cls, dash, dots) {
    return groupsOf().map((g, i) => {
      const lists = g.runs.map((n) => points(n, field)), colour = Chart.COLOURS[i % Chart.COLOURS.length];
      const s = {label: g.label + (cls ? " " + cls : ""), colour: colour, cls: cls + ($("group").value ? " group" : ""), dash: dash, dots: dots};
      if (g.runs.length === 1) return {...s, points: lists[0]};
      const a = aggregate(lists);
      return {...s, points: a.mean, band: a.band};
    });
  }
  function redraw() {
    const x = XLABEL[xKey()], logy = $("logy").checked, metric = $("metric").value;
    Chart.draw($("loss"), [...series("train_loss", "train", "4 3"), ...series("valid_loss", "valid", undefined, true)],
      {xlabel: x, ylabel: "loss", logy: logy, title: "training (dashed) and validation (solid) loss"});
    Chart.draw($("mchart"), metric ? series(metric, "metric", undefined, true) : [], {xlabel: x, ylabel: metric, logy: logy, title: metric || "no validation metric"});
    Chart.draw($("grad"), series("grad_norm", "grad"), {xlabel: x, ylabel: "grad norm", logy: true, title: "gradient norm (before clipping)"});
    Chart.draw($("lr"), series("lr", "lr"), {xlabel: x, ylabel: "lr", logy: logy, title: "learning rate"});
  }
  function tables() {
    const runs = info.runs.filter((r) => selected.has(r.name)), head = "<tr><th></th>" + runs.map((r) => "<th>" + Chart.esc(r.name) + "</th>").join("") + "</tr>";
    const keys = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))].sort();
    $("metrics").innerHTML = head + keys.map((k) => "<tr class='metric' data-key='" + Chart.esc(k) + "'><td>" + Chart.esc(k) + "</td>" + runs.map((r) => {
      const m = r.metrics[k], chosen = "valid_" + r.selection.name === k;
      return "<td" + (chosen ? " class='chosen'" : "") + ">" + (m ? (m.best === null ? "" : fmt(m.best)) + " / " + fmt(m.last) : "") + "</td>"; }).join("") + "</tr>").join("");
    const differ = new Set(info.differ), all = $("allsettings").checked;
    const settings = [...new Set(runs.flatMap((r) => Object.keys(r.settings)))].sort().filter((k) => all || differ.has(k));
    $("settings").innerHTML = head + settings.map((k) => "<tr class='setting" + (differ.has(k) ? " differs" : "") + "' data-key='" + Chart.esc(k) + "'><td>" + Chart.esc(k) + "</td>" +
      runs.map((r) => "<td>" + Chart.esc(fmt(r.settings[k])) + "</td>").join("") + "</tr>").join("");
    fill($("group"), [""].concat(info.differ.filter((k) => k !== "task")), (k) => k || "(no grouping)", wantGroup);
    fill($("metric"), keys.filter((k) => k.startsWith("valid_")), (k) => k, wantMetric || (runs[0] ? "valid_" + runs[0].selection.name : ""));
  }
  function fill(select, values, label, want) {
    const now = select.value || want || "";
    select.innerHTML = values.map((v) => "<option value='" + Chart.esc(v) + "'>" + Chart.esc(label(v)) + "</option>").join("");
    if (values.includes(now)) select.value = now;
  }
  function address() {
    const q = ["runs=" + [...selected].map(encodeURIComponent).join(",")];
    if (xKey() !== "step") q.push("x=" + xKey());
    if ($("logy").checked) q.push("logy=1");
    if (+$("smooth").value) q.push("smooth=" + $("smooth").value);
    if ($("group").value) q.push("group=" + encodeURIComponent($("group").value));
    if (metricChosen && $("metric").value) q.push("metric=" + encodeURIComponent($("metric").value));
    if ($("allsettings").checked) q.push("all=1");
    history.replaceState(null, "", "/compare?" + q.join("&"));
  }
  async function load(name) {
    try { data[name] = withTokens((await Chart.fetchJSON("/api/run/" + encodeURI(name) + "/metrics")).records); }
    catch (e) { data[name] = []; }
  }
  async function refresh() {
    const chosen = [...selected];
    await Promise.all(chosen.map(load));
    if (chosen.length) { try { info = await Chart.fetchJSON("/api/compare?runs=" + chosen.map(encodeURIComponent).join(",")); } catch (e) { info = {runs: [], differ: []}; } }
    else info = {runs: [], differ: []};
    tables(); wantGroup = wantMetric = null; redraw(); document.body.dataset.loaded = chosen.join(",");
  }
  async function list() {
    const runs = (await Chart.fetchJSON("/api/runs")).runs;
    picker.innerHTML = runs.map((r) => "<label><input type='checkbox' value='" + Chart.esc(r.name) + "'" + (selected.has(r.name) ? " checked" : "") +
      "> " + Chart.esc(r.name) + " <span class='muted'>" + Chart.esc(r.task) + " " + Chart.esc(r.cell || "") + " " + r.state + "</span></label>").join("");
  }
  picker.addEventListener("change", async (e) => {
    if (e.target.checked) selected.add(e.target.value); else selected.delete(e.target.value);
    address(); await refresh();
  });
  $("metric").addEventListener("change", () => { metricChosen = true; });
  document.querySelectorAll("input[name=x], #logy, #group, #metric").forEach((i) => i.addEventListener("change", () => { address(); redraw(); }));
  $("smooth").addEventListener("input", () => { $("smoothv").textContent = $("smooth").value; address(); redraw(); });
  $("allsettings").addEventListener("change", () => { address(); tables(); });
  list().then(refresh);
  setInterval(refresh, 3000);
})();
