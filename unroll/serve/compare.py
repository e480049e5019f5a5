"""What ``GET /api/compare`` answers: the settings of several runs side by side (flattened to
``section.field``, with the ones that differ named), each metric's best, last, lowest and highest value,
the metric each run's best checkpoint is chosen by, and the runs grouped by one setting.

Settings are what the user chose: the ``train`` section and the task's own sections (``Task.sections``;
``network`` among them), never what ``prepare()`` stored (vocabularies, label sets, scalers). A metric's
*best* is its lowest value for a loss or an error (``LOWER``), its highest for a score (``HIGHER``), and
None for a figure that is neither (interval coverage is best near its nominal level, not at an end).
"""

from __future__ import annotations

import json
import re

from unroll.tasks import TASKS, get_task

LOWER = re.compile(r"loss|mse|mae|mase|rmse|error|ppl|perplexity|bpc|mape|wape|crps|smape")
HIGHER = re.compile(r"accuracy|f1|exact|bleu|match|precision|recall|auc|chrf")
MAX_RUNS = 1000


def settings_of(config: dict) -> dict:
    """{"task": name, "section.field": value} of a config.json (upgraded); a list is kept as one value."""
    task = config.get("task")
    sections = ("train", *(get_task(task).sections if task in TASKS else ()))
    out = {"task": task}
    for name in sections:
        section = config.get(name)
        if isinstance(section, dict):
            _flatten(section, name, out)
    return out


def _flatten(section: dict, prefix: str, out: dict) -> None:
    for key, value in section.items():
        if isinstance(value, dict):
            _flatten(value, f"{prefix}.{key}", out)
        else:
            out[f"{prefix}.{key}"] = value


def mode_of(name: str) -> str | None:
    """"min", "max" or None (see the module doc) for a metric name (valid_accuracy, train_loss ...)."""
    return "min" if LOWER.search(name) else "max" if HIGHER.search(name) else None


def metric_summary(steps: list[dict]) -> dict:
    """{metric: {"best", "last", "min", "max", "mode", "step"}} of train_loss and every valid_* in the step
    records; "step" is the step of the best value (of the last one when the metric has no best)."""
    out = {}
    names = sorted({k for r in steps for k in r if k == "train_loss" or k.startswith("valid_")})
    for name in names:
        pairs = [(r["step"], r[name]) for r in steps if _number(r.get(name))]
        if not pairs:
            continue
        values = [v for _, v in pairs]
        mode = mode_of(name)
        best = None if mode is None else (min if mode == "min" else max)(pairs, key=lambda p: p[1])
        out[name] = {"best": best[1] if best else None, "last": values[-1], "min": min(values),
                     "max": max(values), "mode": mode, "step": best[0] if best else pairs[-1][0]}
    return out


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def differing(settings: list[dict]) -> list[str]:
    """The keys whose value is not the same in every run (a key some runs lack differs too)."""
    keys = sorted({k for s in settings for k in s})
    return [k for k in keys if len({_key(s.get(k, _ABSENT)) for s in settings}) > 1]


_ABSENT = object()


def _key(value):
    return "\x00absent" if value is _ABSENT else json.dumps(value, sort_keys=True)


def groups(rows: list[dict], setting: str) -> list[dict]:
    """[{"value", "runs": [names]}] of the runs grouped by ``setting``, in order of first appearance;
    a ValueError naming the setting when no run has it."""
    if not any(setting in r["settings"] for r in rows):
        known = sorted({k for r in rows for k in r["settings"]})
        raise ValueError(f"'group': no setting {setting!r} in these runs; they have {', '.join(known)}")
    out: dict[str, dict] = {}
    for r in rows:
        value = r["settings"].get(setting)
        out.setdefault(_key(value), {"value": value, "runs": []})["runs"].append(r["name"])
    return list(out.values())
