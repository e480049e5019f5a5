"use strict";
// The runs table: GET /api/runs every 2 s, sortable by any column, filtered by the text box.
(() => {
  const tbody = document.querySelector("#runs tbody"), filter = document.getElementById("filter");
  let rows = [], key = "name", dir = 1;
  const chosen = new Set();
  const num = (v, d) => v === null || v === undefined ? "" : (+v).toFixed(d);
  const size = (r) => r.layers && r.hidden ? r.layers + "\u00d7" + r.hidden : "";
  const chosenBy = (r) => r.metric ? r.metric.name + (r.metric.mode === "max" ? " \u2191" : " \u2193") : "";
  const value = (r, k) => k === "size" ? (r.layers || 0) * 1e6 + (r.hidden || 0) : k === "best" ? (r.metric || {}).best : k === "metric" ? chosenBy(r) : r[k];
  function render() {
    const f = filter.value.trim().toLowerCase();
    const shown = rows.filter((r) => !f || [r.name, r.task, r.cell, r.state, size(r)].join(" ").toLowerCase().includes(f));
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
  async function poll() {
    try { rows = (await Chart.fetchJSON("/api/runs")).runs; render(); }
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
