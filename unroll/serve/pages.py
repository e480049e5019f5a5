"""The HTML of each page, rendered on the server; each page's behaviour is one script under static/.

Pages carry their parameters in a ``<script type="application/json" id="page">`` block (escaped) and load
``/static/app.css``, ``/static/chart.js`` (a small SVG line chart) and their own script; a run page also
its task's section and script (the task's ``Page``, unroll/tasks/probes/); nothing comes from another host.
"""

from __future__ import annotations

import html
import json

NAV = ('<nav><a href="/">runs</a> <a href="/compare">compare</a> <span class="muted">unroll serve: '
       'read-only over the run folders</span></nav>')


def layout(title: str, body: str, scripts: tuple[str, ...], params: dict, more: tuple[str, ...] = ()) -> str:
    blob = json.dumps(params).replace("</", "<\\/")
    tags = "".join(f'<script src="{s}.js"></script>' for s in (*(f"/static/{s}" for s in scripts), *more))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<link rel="stylesheet" href="/static/app.css"></head><body>{NAV}<h2>{html.escape(title)}</h2>{body}'
            f'<script type="application/json" id="page">{blob}</script>{tags}</body></html>')


def runs_page() -> str:
    body = ('<div id="studybox" hidden><h3>tuning studies <span class="muted">unroll tune --out STUDY; their '
            'trials are the runs STUDY/trials/NNNN below</span></h3><table id="studies" class="grid"></table></div>'
            '<div class="controls"><label>filter <input id="filter" placeholder="task, cell, name ..."></label>'
            ' <button id="compare">compare selected</button> <span id="count" class="muted"></span></div>'
            '<table id="runs" class="grid"><thead><tr><th></th>'
            + "".join(f'<th data-key="{k}">{label}</th>' for k, label in COLUMNS)
            + '</tr></thead><tbody></tbody></table>'
            '<h3>settings against the best metric <span class="muted">drag along an axis to keep the runs in a '
            'range (the table follows); double-click it to clear</span></h3>'
            '<svg id="pc" class="pc chart" width="1150" height="280"></svg>')
    return layout("runs", body, ("chart", "parallel", "runs"), {})


COLUMNS = (("name", "run"), ("task", "task"), ("cell", "cell"), ("size", "size"), ("step", "steps"),
           ("best", "best"), ("metric", "chosen by"), ("tokens_per_s", "tokens/s"), ("elapsed", "time (s)"),
           ("state", "state"))


def compare_page(query: dict) -> str:
    """The compare page; its state (runs, x, logy, smooth, group, all) comes from the address and is kept there."""
    body = ('<div class="split"><div id="picker" class="picker"></div><div>'
            '<div class="controls">x axis: <label><input type="radio" name="x" value="step" checked> step</label>'
            ' <label><input type="radio" name="x" value="elapsed"> wall-clock time (s)</label>'
            ' <label><input type="radio" name="x" value="tokens"> tokens</label>'
            ' <label><input type="checkbox" id="logy"> log y</label>'
            ' <label>smoothing <input type="range" id="smooth" min="0" max="0.99" step="0.01" value="0"></label>'
            ' <span id="smoothv" class="muted">0</span>'
            ' <label>group by <select id="group"><option value="">(no grouping)</option></select></label></div>'
            '<svg id="loss" class="chart" width="760" height="300"></svg>'
            '<div class="controls"><label>metric <select id="metric"></select></label></div>'
            '<svg id="mchart" class="chart" width="760" height="220"></svg>'
            '<svg id="grad" class="chart" width="760" height="170"></svg>'
            '<svg id="lr" class="chart" width="760" height="150"></svg>'
            '<h3>metrics <span class="muted">best / last (the metric that chooses the best checkpoint in bold)'
            '</span></h3><table id="metrics" class="grid"></table>'
            '<h3>settings <label class="muted"><input type="checkbox" id="allsettings"> show all (else only '
            'those that differ)</label></h3><table id="settings" class="grid"></table></div></div>')
    q = {k: str(query.get(k, "")) for k in ("runs", "x", "logy", "smooth", "group", "all", "metric")}
    return layout("compare", body, ("chart", "compare"),
                  {"selected": [s for s in q.pop("runs").split(",") if s], **q})


def run_page(name: str, task: str | None, page, input_kind: str = "tokens") -> str:
    """One run's page: its curves, and its task's section (``page``: the task's Page, or None) with the
    task's script, served as /page/TASK.js; ``input_kind`` ("tokens" | "vectors") tells the script which
    input box to show."""
    shown = html.escape(str(task))
    section = page.section if page else (f'<p class="muted">No probe for task {shown}: this page shows its curves, its metrics and its '
                                             'result (below).</p>')
    body = (f'<p class="muted">task {shown}; the newest complete checkpoint is used, re-read when '
            'training writes a newer one</p><div id="task">' + section + '</div>'
            '<h3>curves</h3><svg id="loss" class="chart" width="760" height="260"></svg>'
            '<svg id="metric" class="chart" width="760" height="200"></svg>'
            '<svg id="lr" class="chart" width="760" height="150"></svg>'
            '<h3>metrics <span class="muted">best / last; the best checkpoint is chosen by the one in bold</span>'
            '</h3><table id="summary" class="grid"></table><div id="result"></div>')
    tags = (f"/page/{task}",) if page else ()
    return layout(name, body, ("chart", "run"), {"name": name, "task": task, "input": input_kind}, tags)


def study_page(name: str) -> str:
    """A tuning study's page (static/study.js fills it from /api/study/NAME)."""
    body = ('<p id="summary" class="muted"></p><h3>best trial</h3><div id="best"></div>'
            '<h3>the metric against each setting <span class="muted">dots: complete trials; crosses: pruned ones, '
            'at their last validation; the best trial ringed; a log axis for a :log range</span></h3>'
            '<div id="scatters" class="scatters"></div>'
            '<h3>trials</h3><table id="trials" class="grid"></table>'
            '<h3>each trial\'s value <span class="muted">in the order they ran, with the best so far</span></h3>'
            '<svg id="history" class="chart" width="760" height="220"></svg>')
    return layout(f"study {name}", body, ("chart", "scatter", "study"), {"name": name})
