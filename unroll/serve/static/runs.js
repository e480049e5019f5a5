"use strict";
// The runs table: GET /api/runs every 2 s, sortable by any column, filtered by the text box and by the
// brushes of the parallel-coordinates view below it (the settings that differ, and each run's best value
// of the metric its task chooses its best checkpoint by; from /api/compare, redrawn when runs come or go);
// above it, the tuning studies under RUNS_DIR (/api/studies), each linked to its page.
(() => {
  const tbody = document.querySelector("#runs tbody"), filter = document.getElementById("filter");
  let rows = [], key = "name", dir = 1, brushed = null, drawnFor = "";
  const chosen = new Set();
  const num = (v, d) => v === null || v === undefined ? "" : (+v).toFixed(d);
  const size = (r) => r.layers && r.hidden ? r.layers + "\u00d7" + r.hidden : "";
  const chosenBy = (r) => r.metric ? r.metric.name + (r.metric.mode === "max" ? " \u2191" : " \u2193") : "";
  const value = (r, k) => k === "size" ? (r.layers || 0) * 1e6 + (r.hidden || 0) : k === "best" ? (r.metric || {}).best : k === "metric" ? chosenBy(r) : r[k];
  function render() {
    const f = filter.value.trim().toLowerCase();
    const shown = rows.filter((r) => (!f || [r.name, r.task, r.cell, r.state, size(r)].join(" ").toLowerCase().includes(f)) && (!brushed || brushed.has(r.name)));
    shown.sort((a, b) => {
      const x = value(a, key), y = value(b, key);
      if (x === y) return a.name < b.name ? -1 : 1;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * dir;
    });
    tbody.innerHTML = shown.map((r) => "<tr data-name='" + Chart.esc(r.name) + "'><td><input type='checkbox'" + (chosen.has(r.name) ? " checked" : "") +
      "></td><td><a href='/run/" + Chart.esc(encodeURI(r.name)) + "'>" + Chart.esc(r.name) + "</a></td><td>" + Chart.esc(r.task) + "</td><td>" +
      Chart.esc(r.cell || "") + "</td><td>" + size(r) + "</td><td>" + r.step + (r.max_steps ? " / " + r.max_steps : "") + "</td><td>" +
      num((r.metric || {}).best, 4) + "</td><td>" + Chart.esc(chosenBy(r)) + "</td><td>" + num(r.tokens_per_s, 0) + "</td><td>" + num(r.elapsed, 1) + "</td><td class='state-" + r.state + "'>" + r.state + "</td></tr>").join("");
    document.getElementById("count").textContent = shown.length + " of " + rows.length + " runs";
  }
  async function parallel() {
    const names = rows.map((r) => r.name).join(",");
    if (names === drawnFor) return;
    drawnFor = names;
    const info = await Chart.fetchJSON("/api/compare");
    const cover = (k) => info.runs.filter((r) => k in r.settings).length, rank = (k) => k.startsWith("network.") ? 0 : k.startsWith("train.") ? 1 : 2;
    const keys = info.differ.filter((k) => !/\.(data|valid|init_from|encoding|total_steps)$/.test(k))     // axes: the settings most runs share first
      .sort((a, b) => cover(b) - cover(a) || rank(a) - rank(b) || (a < b ? -1 : 1)).slice(0, 9);
    const axes = keys.map((k) => ({key: k, label: k})).concat([{key: "\u0000best", label: "best (the task's metric)"}]);
    const items = info.runs.map((r) => ({name: r.name, values: {...r.settings, "\u0000best": r.selection.best}}));
    brushed = null;
    Parallel.draw(document.getElementById("pc"), axes, items, (keep, any) => { brushed = any ? keep : null; render(); });
  }
  function studies(list) {                      // the tuning studies under RUNS_DIR, above the runs (none: hidden)
    const box = document.getElementById("studybox"), counts = (c) => Object.entries(c).map(([s, n]) => n + " " + s).join(", ");
    box.hidden = !list.length;
    document.getElementById("studies").innerHTML = "<tr><th>study</th><th>task</th><th>metric</th><th>trials</th><th>best</th><th>searched</th><th>state</th></tr>" +
      list.map((s) => "<tr class='study' data-name='" + Chart.esc(s.name) + "'><td><a href='/study/" + Chart.esc(encodeURI(s.name)) + "'>" + Chart.esc(s.name) + "</a></td>" +
        (s.error ? "<td colspan='5' class='error'>" + Chart.esc(s.error) + "</td>" : "<td>" + Chart.esc(s.task) + "</td><td>" + Chart.esc(s.metric + (s.mode === "max" ? " \u2191" : " \u2193")) +
          "</td><td>" + Chart.esc(counts(s.counts)) + "</td><td>" + (s.best === null ? "" : num(s.best, 4) + " (trial " + s.best_trial + ")") + "</td><td>" + Chart.esc(s.params.join(", ")) + "</td>") +
        "<td>" + (s.running ? "running" : "") + "</td></tr>").join("");
  }
  async function poll() {
    try { studies((await Chart.fetchJSON("/api/studies")).studies); } catch (e) { /* the runs below say why */ }
    try { rows = (await Chart.fetchJSON("/api/runs")).runs; render(); await parallel(); }
    catch (e) { document.getElementById("count").textContent = "cannot reach the server: " + e.message; }
  }
  document.querySelectorAll("#runs th[data-key]").forEach((th) => th.addEventListener("click", () => {
    dir = key === th.dataset.key ? -dir : 1; key = th.dataset.key;
    document.querySelectorAll("#runs th").forEach((h) => h.classList.remove("asc", "desc"));
    th.classList.add(dir > 0 ? "asc" : "desc"); render();
  }));
  tbody.addEventListener("change", (e) => {
    const name = e.target.closest("tr").dataset.name;
    if (e.target.checked) chosen.add(name); else chosen.delete(name);
  });
  filter.addEventListener("input", render);
  document.getElementById("compare").addEventListener("click", () => {
    location.href = "/compare?runs=" + [...chosen].map(encodeURIComponent).join(",");
  });
  poll(); setInterval(poll, 2000);
})();
