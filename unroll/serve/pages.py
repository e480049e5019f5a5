"""The HTML of each page, rendered on the server; each page's behaviour is one script under static/.

Pages carry their parameters in a ``<script type="application/json" id="page">`` block (escaped) and load
``/static/app.css``, ``/static/chart.js`` (a small SVG line chart) and their own script; nothing comes from
another host.
"""

from __future__ import annotations

import html
import json

NAV = ('<nav><a href="/">runs</a> <a href="/compare">compare</a> <span class="muted">unroll serve: '
       'read-only over the run folders</span></nav>')


def layout(title: str, body: str, scripts: tuple[str, ...], params: dict) -> str:
    blob = json.dumps(params).replace("</", "<\\/")
    tags = "".join(f'<script src="/static/{s}.js"></script>' for s in scripts)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<link rel="stylesheet" href="/static/app.css"></head><body>{NAV}<h2>{html.escape(title)}</h2>{body}'
            f'<script type="application/json" id="page">{blob}</script>{tags}</body></html>')


def runs_page() -> str:
    body = ('<div class="controls"><label>filter <input id="filter" placeholder="task, cell, name ..."></label>'
            ' <button id="compare">compare selected</button> <span id="count" class="muted"></span></div>'
            '<table id="runs" class="grid"><thead><tr><th></th>'
            + "".join(f'<th data-key="{k}">{label}</th>' for k, label in COLUMNS)
            + '</tr></thead><tbody></tbody></table>')
    return layout("runs", body, ("chart", "runs"), {})


COLUMNS = (("name", "run"), ("task", "task"), ("cell", "cell"), ("size", "size"), ("step", "steps"),
           ("best_valid", "best validation"), ("tokens_per_s", "tokens/s"), ("elapsed", "time (s)"),
           ("state", "state"))


def compare_page(selected: str) -> str:
    body = ('<div class="split"><div id="picker" class="picker"></div><div>'
            '<div class="controls">x axis: <label><input type="radio" name="x" value="step" checked> step</label>'
            ' <label><input type="radio" name="x" value="elapsed"> wall-clock time (s)</label>'
            ' <label><input type="checkbox" id="logy"> log loss</label></div>'
            '<svg id="loss" class="chart" width="760" height="300"></svg>'
            '<svg id="grad" class="chart" width="760" height="170"></svg>'
            '<svg id="lr" class="chart" width="760" height="150"></svg></div></div>')
    return layout("compare", body, ("chart", "compare"),
                  {"selected": [s for s in selected.split(",") if s]})


def run_page(name: str, task: str, probes: dict) -> str:
    probe = probes.get(task)
    section = SECTIONS.get(probe.script, "") if probe else (
        f'<p class="muted">No probe for task {html.escape(task)}: this page shows its curves only.</p>')
    body = (f'<p class="muted">task {html.escape(task)}; the newest complete checkpoint is used, re-read when '
            'training writes a newer one</p><div id="task">' + section + '</div>'
            '<h3>curves</h3><svg id="loss" class="chart" width="760" height="260"></svg>')
    scripts = ("chart", "run") + ((probe.script,) if probe else ())
    return layout(name, body, scripts, {"name": name, "task": task})


SECTIONS = {
    "lm": (
        '<h3>sample</h3><div class="controls"><label>prime <input id="prime" size="30"></label>'
        ' <label>temperature <input id="temperature" type="number" value="0.8" step="0.1" min="0.05" max="10"></label>'
        ' <label>top-k <input id="topk" type="number" min="1" placeholder="all"></label>'
        ' <label>length <input id="length" type="number" value="300" min="0" max="2000"></label>'
        ' <button id="sample">sample</button></div><pre id="sampled" class="box"></pre>'
        '<h3>cells</h3><textarea id="celltext" rows="5" cols="100" placeholder="type or paste text"></textarea>'
        '<div class="controls"><label>state <select id="kind"></select></label>'
        ' <label>sort units by |r| with <select id="feature"></select></label>'
        ' <label>unit <select id="unit"></select></label> <span id="info"></span>'
        ' <span>-1 <span id="scale"></span> +1</span></div>'
        '<div id="celltextview" class="box mono"></div><div id="tip"></div>'
        '<h3>interpretable units</h3><div id="findbox"></div>'
        '<h3>gate saturation</h3><svg id="gates" class="chart" width="760" height="260"></svg>'),
    "seq2seq": (
        '<h3>translate</h3><div class="controls"><input id="line" size="50"> <label>beam '
        '<input id="beam" type="number" value="1" min="1" max="16"></label> <button id="translate">translate'
        '</button></div><pre id="output" class="box"></pre><h3>attention</h3><div id="heat"></div>'),
    "classify": (
        '<h3>classify</h3><div class="controls"><input id="text" size="60"> <button id="classify">classify'
        '</button></div><div id="probs"></div><h3>along the input</h3>'
        '<svg id="evolve" class="chart" width="760" height="260"></svg>'),
    "tag": (
        '<h3>tag</h3><div class="controls"><input id="text" size="60"> <button id="tag">tag</button></div>'
        '<div id="tags" class="tags"></div>'),
}
