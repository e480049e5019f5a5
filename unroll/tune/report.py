"""`unroll tune STUDY --report`: the trials table, the best trial as an `unroll train` command line, the
parameters' importances (Optuna's default evaluator, PED-ANOVA) and STUDY/report.png (each trial's value
with the best so far; each trial's validations by step, pruned ones dashed). ``data(STUDY)``: the same
study as plain data, read without writing (unroll serve's study page)."""

from __future__ import annotations

import shlex
from pathlib import Path

PLOT = "report.png"


def render(study_dir: Path) -> str:
    """The report's text; writes the plot too."""
    from unroll.tune import study as studies
    info = studies.read_info(study_dir)
    opt = studies.optuna()
    study = studies.open_study(study_dir, info)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == opt.trial.TrialState.COMPLETE]
    key = f"valid_{info['metric']}"
    lines = [f"study {study_dir}: --task {info['task']}, {key} ({'higher' if info['mode'] == 'max' else 'lower'} "
             f"is better), {len(trials)} trials: " + ", ".join(
                 f"{sum(t.state == s for t in trials)} {s.name.lower()}" for s in opt.trial.TrialState
                 if any(t.state == s for t in trials)), ""]
    lines += table(trials, key)
    if complete:
        best = study.best_trial
        lines += ["", f"best: trial {best.number}, {key} {best.value:.6g} ({best.user_attrs.get('run', '')})",
                  "  " + command_line(best)]
        if Path.cwd() != Path(info["cwd"]):
            lines.append(f"  (in {info['cwd']}, where the study started: its paths are relative to it)")
    lines += ["", importances(study, opt, len(complete))]
    lines.append(f"plot: {plot(study_dir, trials, study, opt, key)}")
    return "\n".join(lines)


def command_line(trial) -> str:
    """The trial as the `unroll train` command that trains the same settings again."""
    return "unroll train " + shlex.join([*trial.user_attrs["argv"], "--out", f"runs/tune-trial-{trial.number}"])


def table(trials, key: str) -> list[str]:
    names = sorted({k for t in trials for k in t.params})
    head = ["trial", "state", key, "steps", "seconds", *names]
    rows = [head]
    for t in trials:
        value = "" if t.value is None else f"{t.value:.6g}"
        row = [str(t.number), t.state.name.lower(), value, str(t.user_attrs.get("step", "")),
               str(t.user_attrs.get("elapsed", "")), *(_shown(t.params.get(n, "")) for n in names)]
        note = (f"again of {t.user_attrs['retry_of']}" if "retry_of" in t.user_attrs else "") + \
               (f"  {t.user_attrs['error'][:80]}" if "error" in t.user_attrs else "")
        rows.append(row + ([note] if note else []))
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(len(head))]
    return ["  ".join(c.ljust(widths[i]) if i < len(widths) else c for i, c in enumerate(r)).rstrip() for r in rows]


def _shown(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def importances(study, opt, complete: int) -> str:
    if complete < 2:
        return "importances: need at least 2 complete trials"
    try:
        found = opt.importance.get_param_importances(study)
    except (ValueError, RuntimeError) as err:
        return f"importances: {err}"
    return "importances: " + ", ".join(f"{k} {v:.2f}" for k, v in found.items())


def plot(study_dir: Path, trials, study, opt, key: str) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    states = opt.trial.TrialState
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    done = [t for t in trials if t.value is not None]
    for state, marker in ((states.COMPLETE, "o"), (states.PRUNED, "x")):
        picked = [t for t in done if t.state == state]
        left.scatter([t.number for t in picked], [t.value for t in picked], marker=marker, label=state.name.lower())
    complete = sorted((t for t in done if t.state == states.COMPLETE), key=lambda t: t.number)
    if complete:
        better = max if study.direction == opt.study.StudyDirection.MAXIMIZE else min
        best = [better(t.value for t in complete[:k + 1]) for k in range(len(complete))]
        left.step([t.number for t in complete], best, where="post", label="best so far")
    left.set(xlabel="trial", ylabel=key, title="trials")
    left.legend()
    for t in trials:
        steps = sorted(t.intermediate_values.items())
        if steps:
            right.plot(*zip(*steps), linestyle="--" if t.state == states.PRUNED else "-", alpha=0.8)
    right.set(xlabel="step", ylabel=key, title="validations (pruned dashed)")
    fig.tight_layout()
    out = Path(study_dir) / PLOT
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def data(study_dir: Path) -> dict:
    """The study as plain data, read without writing (``study.reading``; unroll serve's study page)::

        {"task", "metric": "valid_<metric>", "mode": "min" | "max", "fixed", "search", "trial_time",
         "params": [{"name", "kind": "float" | "int" | "choice", "log", "low", "high", "choices"}],
         "counts": {state: n}, "trials": [trial], "best": trial with "command", or None}
        trial: {"number", "state", "value", "params", "step", "elapsed", "retry_of", "error"}

    A pruned trial's value is its last reported validation (Optuna's); a failed one's is None."""
    from unroll.tune import study as studies
    info = studies.read_info(study_dir)
    with studies.reading(study_dir, info) as study:
        trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    best = (max if info["mode"] == "max" else min)(complete, key=lambda t: t.value) if complete else None
    states = [t.state.name.lower() for t in trials]
    return {"task": info["task"], "metric": f"valid_{info['metric']}", "mode": info["mode"],
            "fixed": info["fixed"], "search": info["search"], "trial_time": info.get("trial_time"),
            "params": _params(trials), "counts": {s: states.count(s) for s in dict.fromkeys(states)},
            "trials": [_trial(t) for t in trials],
            "best": None if best is None else
            {**_trial(best), "command": command_line(best) if "argv" in best.user_attrs else None}}


def _trial(t) -> dict:
    return {"number": t.number, "state": t.state.name.lower(), "value": t.value, "params": dict(t.params),
            "step": t.user_attrs.get("step"), "elapsed": t.user_attrs.get("elapsed"),
            "retry_of": t.user_attrs.get("retry_of"), "error": t.user_attrs.get("error")}


def _params(trials) -> list[dict]:
    """Each searched parameter as its trials' distributions say (the first trial that sampled it), sorted."""
    from unroll.tune.study import optuna
    kinds = optuna().distributions
    found = {}
    for t in trials:
        for name, d in t.distributions.items():
            found.setdefault(name, d)
    out = []
    for name, d in sorted(found.items()):
        choice = isinstance(d, kinds.CategoricalDistribution)
        out.append({"name": name, "kind": "choice" if choice else "int" if isinstance(d, kinds.IntDistribution)
                    else "float", "log": bool(getattr(d, "log", False)), "low": getattr(d, "low", None),
                    "high": getattr(d, "high", None), "choices": list(d.choices) if choice else None})
    return out
