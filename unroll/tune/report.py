"""`unroll tune STUDY --report`: the trials table, the best trial as an `unroll train` command line, the
parameters' importances (Optuna's default evaluator, PED-ANOVA) and STUDY/report.png (each trial's value
with the best so far; each trial's validations by step, pruned ones dashed). The same study as plain data,
read without writing, is ``folder.data``."""

from __future__ import annotations

from pathlib import Path

from unroll.tune.folder import command_line

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

