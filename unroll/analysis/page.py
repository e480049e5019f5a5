"""One self-contained HTML page that shows a unit's activation under every character (inline CSS and JS).

Each character's background is the chosen unit's value after reading it, on a diverging scale (red -1,
white 0, blue +1: the seed's colours). Hovering a character shows the model's five most probable next
characters. A picker lists every unit of every layer (h, and tanh(c) for an LSTM), sorted by |r| with the
selected feature; choosing one re-colours the text in place. Characters outside the vocabulary are shown with a dashed red frame and no
colour. With ``find_rows`` the page also holds the table of the best units per feature.

Data layout inside the page (one JSON block): per state kind, the activations as uint8 (``quantise``:
value = q·2/255 - 1) in unit-major order (L, H, T), base64-encoded; top-5 ids (T·5) and probabilities in
units of 1e-4; the Pearson r of each unit with each feature (3 decimals). No network access is needed.
"""

from __future__ import annotations

import base64
import html
import json

import numpy as np

from unroll.analysis.activations import quantise

STATE_NAMES = {"h": "h_t (hidden state)", "c": "tanh(c_t) (LSTM cell)"}


def page_data(acts, vocab, found: dict, unit: tuple[str, int, int], title: str, find_rows=None) -> dict:
    """The JSON the page's script reads: ``acts`` an Activations, ``found`` from ``features.find``,
    ``unit`` = (kind, layer, unit) shown first, ``find_rows`` from ``features.best_units`` or None."""
    L, T, H = acts.shape
    kinds = acts.kinds()
    r = np.asarray(found["r"])
    index = {label: u for u, label in enumerate(found["units"])}
    corr = {kind: [[round(float(r[f, index[(kind, l, k)]]), 3) for l in range(L) for k in range(H)]
                   for f in range(len(found["features"]))] for kind in kinds}
    position = np.cumsum(acts.known) - 1
    return {
        "title": title, "L": L, "H": H, "T": T, "cell": acts.cell_kind,
        "text": acts.text, "known": "".join("1" if k else "0" for k in acts.known),
        "step": [int(p) if k else -1 for p, k in zip(position, acts.known)],
        "vocab": list(vocab.tokens),
        "top_ids": acts.top_ids.astype(int).ravel().tolist(),
        "top_p": np.rint(acts.top_probs * 1e4).astype(int).ravel().tolist(),
        "k": int(acts.top_ids.shape[1]),
        "states": {kind: {"name": STATE_NAMES[kind],
                          "q": base64.b64encode(np.ascontiguousarray(quantise(v).transpose(0, 2, 1)).tobytes()).decode()}
                   for kind, v in kinds.items()},
        "features": found["features"], "r": corr,
        "unit": {"kind": unit[0], "layer": unit[1], "unit": unit[2]},
        "find": find_rows or [],
    }


def render(data: dict) -> str:
    """The complete HTML document for ``page_data``'s dict."""
    blob = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return TEMPLATE.replace("__TITLE__", html.escape(data["title"])).replace("__DATA__", blob)


def write_page(path, acts, vocab, found: dict, unit, title: str, find_rows=None):
    html_text = render(page_data(acts, vocab, found, unit, title, find_rows))
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(html_text)
    return path


TEMPLATE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.2em;color:#222}
#controls{display:flex;gap:1em;flex-wrap:wrap;align-items:center;margin-bottom:.6em}
#text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:14px;line-height:1.55;white-space:pre-wrap;
 border:1px solid #ccc;padding:.6em;max-width:100em}
#text span.ch{cursor:default}
#text span.oov{outline:1px dashed #c00;color:#c00}
#text span.nl{color:#999}
#tip{position:fixed;display:none;background:#fff;border:1px solid #888;padding:.3em .6em;font:12px ui-monospace,monospace;
 box-shadow:2px 2px 6px rgba(0,0,0,.2);pointer-events:none;z-index:9}
#tip table{border-collapse:collapse}#tip td{padding:0 .4em}
#scale{display:inline-block;width:160px;height:12px;background:linear-gradient(90deg,#b40426,#fff,#3b4cc0);vertical-align:middle}
table.find{border-collapse:collapse;margin:.6em 0;font-size:13px}table.find td,table.find th{border:1px solid #ddd;padding:1px 6px}
table.find tr.row:hover{background:#eef;cursor:pointer}
</style></head><body>
<h2>__TITLE__</h2>
<div id="controls">
 <label>state <select id="kind"></select></label>
 <label>sort units by |r| with <select id="feature"></select></label>
 <label>unit <select id="unit"></select></label>
 <span id="info"></span>
 <span>-1 <span id="scale"></span> +1</span>
</div>
<div id="findbox"></div>
<div id="text"></div>
<div id="tip"></div>
<script type="application/json" id="data">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const Q = {};
for (const k in D.states) {
  const bin = atob(D.states[k].q), a = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) a[i] = bin.charCodeAt(i);
  Q[k] = a;
}
const kindSel = document.getElementById("kind"), featSel = document.getElementById("feature"),
      unitSel = document.getElementById("unit"), info = document.getElementById("info"),
      box = document.getElementById("text"), tip = document.getElementById("tip");
let current = {kind: D.unit.kind, index: D.unit.layer * D.H + D.unit.unit};

function show(ch) { return ch === "\n" ? "\\n" : ch === " " ? "\u2423" : ch === "\t" ? "\\t" : ch; }
function colour(v) {               // v in [-1, 1] -> red - white - blue, the seed's colours
  const a = Math.min(1, Math.abs(v)), lo = [180, 4, 38], hi = [59, 76, 192], c = v < 0 ? lo : hi;
  const m = (x) => Math.round(255 + (x - 255) * a);
  return "rgb(" + m(c[0]) + "," + m(c[1]) + "," + m(c[2]) + ")";
}
function value(kind, index, step) { return Q[kind][index * D.T + step] * 2 / 255 - 1; }

function buildText() {
  const frag = document.createDocumentFragment();
  for (let i = 0; i < D.text.length; i++) {
    const ch = D.text[i], s = document.createElement("span");
    s.dataset.i = i;
    if (D.known[i] === "1") s.className = "ch"; else { s.className = "oov"; s.title = "not in the model's vocabulary"; }
    if (ch === "\n") { s.textContent = "\u21b5"; s.classList.add("nl"); frag.appendChild(s); frag.appendChild(document.createTextNode("\n")); }
    else { s.textContent = ch; frag.appendChild(s); }
  }
  box.appendChild(frag);
}
function recolour() {
  const spans = box.querySelectorAll("span.ch");
  for (const s of spans) {
    const v = value(current.kind, current.index, D.step[+s.dataset.i]);
    s.style.backgroundColor = colour(v);
    s.dataset.v = v.toFixed(3);
  }
  const l = Math.floor(current.index / D.H), u = current.index % D.H, f = featSel.selectedIndex;
  info.textContent = "layer " + l + ", unit " + u + " (" + D.states[current.kind].name + "), r with " +
    D.features[f] + " = " + D.r[current.kind][f][current.index].toFixed(3);
}
function fillUnits() {
  const f = featSel.selectedIndex, r = D.r[current.kind][f], order = [...r.keys()];
  order.sort((a, b) => Math.abs(r[b]) - Math.abs(r[a]) || a - b);
  unitSel.innerHTML = "";
  for (const u of order) {
    const o = document.createElement("option");
    o.value = u;
    o.textContent = "L" + Math.floor(u / D.H) + " unit " + (u % D.H) + "  r=" + (r[u] >= 0 ? "+" : "") + r[u].toFixed(3);
    unitSel.appendChild(o);
  }
  unitSel.value = String(current.index);
}
function select(kind, index) { current = {kind: kind, index: index}; kindSel.value = kind; fillUnits(); recolour(); }
function findTable() {
  if (!D.find.length) return;
  let h = "<table class='find'><tr><th>feature</th><th>state</th><th>layer</th><th>unit</th><th>r</th></tr>";
  for (const row of D.find)
    h += "<tr class='row' data-kind='" + row.kind + "' data-index='" + (row.layer * D.H + row.unit) + "'><td>" + row.feature +
      "</td><td>" + (row.kind === "c" ? "tanh(c)" : "h") + "</td><td>" + row.layer + "</td><td>" + row.unit + "</td><td>" + row.r.toFixed(3) + "</td></tr>";
  const fb = document.getElementById("findbox");
  fb.innerHTML = h + "</table>";
  fb.addEventListener("click", (e) => { const tr = e.target.closest("tr.row"); if (tr) select(tr.dataset.kind, +tr.dataset.index); });
}

for (const k in D.states) { const o = document.createElement("option"); o.value = k; o.textContent = D.states[k].name; kindSel.appendChild(o); }
D.features.forEach((f) => { const o = document.createElement("option"); o.textContent = f; featSel.appendChild(o); });
kindSel.addEventListener("change", () => select(kindSel.value, current.index));
featSel.addEventListener("change", () => { fillUnits(); recolour(); });
unitSel.addEventListener("change", () => select(current.kind, +unitSel.value));
box.addEventListener("mouseover", (e) => {
  const s = e.target.closest("span"); if (!s || !box.contains(s)) return;
  const i = +s.dataset.i, t = D.step[i];
  let h = "<div>after <b>" + show(D.text[i]).replace(/&/g, "&amp;").replace(/</g, "&lt;") + "</b>";
  if (t < 0) h += ": not in the vocabulary (the model skips it)</div>";
  else {
    h += " = " + s.dataset.v + "; next:</div><table>";
    for (let j = 0; j < D.k; j++) {
      const c = show(D.vocab[D.top_ids[t * D.k + j]]).replace(/&/g, "&amp;").replace(/</g, "&lt;");
      h += "<tr class='pred'><td class='c'>" + c + "</td><td class='p'>" + (D.top_p[t * D.k + j] / 1e4).toFixed(4) + "</td></tr>";
    }
    h += "</table>";
  }
  tip.innerHTML = h; tip.style.display = "block";
  tip.style.left = (e.clientX + 12) + "px"; tip.style.top = (e.clientY + 14) + "px";
});
box.addEventListener("mouseleave", () => { tip.style.display = "none"; });
{ // start with the feature the first unit tracks best
  const rs = D.r[current.kind].map((r) => Math.abs(r[current.index]));
  featSel.selectedIndex = rs.indexOf(Math.max(...rs));
}
buildText(); findTable(); select(current.kind, current.index);
</script></body></html>
"""
