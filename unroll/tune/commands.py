"""`unroll tune`: start a study (--out), continue one (--resume), or report on one (STUDY --report).

Every argument that is not tune's own is a fixed `unroll train` flag, given to every trial and checked
first by train's own parser (unroll.cli passes them on: ``passes_on``). Optuna is imported only when a
study runs or is reported (the optional extra ``unroll[tune]``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from unroll.command import Command

DEFAULT_BUDGET = 3600.0      # seconds, when --trials is not given either
KEPT = ("task", "search", "enqueue", "trial_time", "storage", "study_name", "pruner", "startup_trials", "sampler_seed")


def _arguments(p) -> None:
    from unroll.tasks import TASKS
    p.add_argument("--report", action="store_true", help="`unroll tune STUDY --report`: print STUDY's trials, its best "
                                                         "trial as an `unroll train` command line and the parameters' "
                                                         "importances; write STUDY/report.png")
    p.add_argument("--out", type=Path, metavar="STUDY", help="the new study's folder")
    p.add_argument("--resume", type=Path, metavar="STUDY", help="continue the study in STUDY (after Ctrl-C, kill, "
                                                               "or to run more trials)")
    p.add_argument("--task", choices=list(TASKS), help="the task every trial trains (default lm)")
    p.add_argument("--search", metavar="SPEC", help="what to search, comma-separated: NAME=LOW..HIGH, "
                   "NAME=LOW..HIGH:log or NAME=A|B|C, NAME an `unroll train` flag (e.g. 'hidden=64..512:log,"
                   "dropout=0..0.6,lr=3e-4..1e-2:log,cell=lstm|gru')")
    p.add_argument("--enqueue", action="append", default=[], metavar="SETTINGS",
                   help="try these values first, e.g. 'hidden=256,dropout=0,lr=2e-3,cell=lstm' (repeatable)")
    p.add_argument("--trial-time", type=float, metavar="SECONDS", help="each trial's --max-time")
    p.add_argument("--budget", type=float, metavar="SECONDS",
                   help=f"start no trial that would end after this many seconds (default {DEFAULT_BUDGET:.0f} when "
                        "--trials is not given)")
    p.add_argument("--trials", type=int, metavar="N", help="stop when N trials have finished (complete, pruned "
                                                           "or failed), counting a resumed study's earlier ones")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="run N trials at once, in N processes")
    p.add_argument("--storage", metavar="URL", help="an Optuna RDB storage shared by several machines (e.g. "
                                                    "postgresql://user@host/db; default STUDY/study.db)")
    p.add_argument("--study-name", help="the study's name in --storage (default: the study folder's name)")
    p.add_argument("--pruner", choices=("median", "none"), help="median: stop a trial whose validation is worse "
                                                                "than the median of earlier trials at the same "
                                                                "step (default median)")
    p.add_argument("--startup-trials", type=int, metavar="N", help="trials that finish before any is pruned "
                                                                   "(default 5)")
    p.add_argument("--sampler-seed", type=int, metavar="N", help="seed of Optuna's TPE sampler (default: random)")
    p.set_defaults(passes_on=True)


def _run(args) -> int:
    from unroll.tune import report, study
    extra = list(getattr(args, "extra", []))      # STUDY (with --report), else fixed `unroll train` flags
    if args.report:
        others = [k for k in (*KEPT, "budget", "trials", "out", "resume") if getattr(args, k) not in (None, [])]
        if len(extra) != 1 or extra[0].startswith("-") or others or args.jobs != 1:
            raise ValueError("--report reads one study: `unroll tune STUDY --report`, nothing else")
        print(report.render(Path(extra[0])))
        return 0
    if extra and not extra[0].startswith("-"):
        raise ValueError(f"{extra[0]}: a study folder alone is for --report (unroll tune {extra[0]} --report); "
                         f"--resume {extra[0]} continues it")
    _check_counts(args)
    study.optuna()
    if args.resume is not None:
        return _resume(args, extra)
    return _start(args, extra)


def _check_counts(args) -> None:
    for flag, value in (("--trials", args.trials), ("--jobs", args.jobs), ("--startup-trials", args.startup_trials)):
        if value is not None and value < (0 if flag == "--startup-trials" else 1):
            raise ValueError(f"{flag} must be a positive integer, got {value}")
    for flag, value in (("--budget", args.budget), ("--trial-time", args.trial_time)):
        if value is not None and not value > 0:
            raise ValueError(f"{flag} must be a positive number of seconds, got {value:g}")


def _start(args, fixed: list[str]) -> int:
    from unroll.tasks import DEFAULT_TASK, get_task
    from unroll.tune import spec, study
    if args.out is None:
        raise ValueError("--out STUDY names the new study's folder (--resume STUDY continues one, "
                         "`unroll tune STUDY --report` reports on one)")
    if (args.out / study.INFO).exists():
        raise ValueError(f"--out {args.out} already holds a study; continue it with unroll tune --resume {args.out}")
    if not args.search:
        raise ValueError("--search names what to search, e.g. --search 'hidden=64..512:log,lr=3e-4..1e-2:log'")
    if args.pruner == "none" and args.startup_trials is not None:
        raise ValueError("--startup-trials counts the trials before the pruner starts; with --pruner none leave it out")
    task = args.task or DEFAULT_TASK
    spec.check_fixed(task, fixed)
    timed = fixed + (["--max-time", f"{args.trial_time:g}"] if args.trial_time else [])
    if args.trial_time and any(a.split("=")[0] == "--max-time" for a in fixed):
        raise ValueError("--trial-time is each trial's --max-time; give one of them")
    params = spec.parse(args.search, task, timed)
    queued = [spec.values_of(text, params) for text in args.enqueue]
    settings, train = spec.train_settings(task, fixed)
    metric, mode = get_task(task)({"train": train, **settings}).monitor()
    folder = args.out.resolve()
    info = {"task": task, "fixed": fixed, "search": args.search, "trial_time": args.trial_time,
            "budget": args.budget, "trials": args.trials, "metric": metric, "mode": mode,
            "pruner": args.pruner or "median", "startup_trials": 5 if args.startup_trials is None else args.startup_trials,
            "sampler_seed": args.sampler_seed, "storage": args.storage, "study_name": args.study_name or folder.name,
            "cwd": str(Path.cwd())}
    folder.mkdir(parents=True, exist_ok=True)
    study.lock(folder)
    study.write_info(folder, info)
    opened = study.open_study(folder, info)
    for values in queued:
        opened.enqueue_trial(values)
    return _go(folder, info, params, args)


def _resume(args, extra: list[str]) -> int:
    from unroll.tune import study
    given = (["--" + k.replace("_", "-") for k in KEPT if getattr(args, k) not in (None, [])]
             + (["--out"] if args.out else []) + extra[:1])
    if given:
        raise ValueError(f"{given[0]}: a resumed study keeps the settings in {args.resume / study.INFO}; "
                         "only --budget, --trials and --jobs may be given with --resume")
    info = study.read_info(args.resume)
    folder = args.resume.resolve()
    study.lock(folder)
    again = study.recover(study.open_study(folder, info), info)
    if again:
        print(f"unroll: trial(s) {', '.join(map(str, again))} did not finish; their settings run again",
              file=sys.stderr)
    return _go(folder, info, search_of(info), args)


def search_of(info: dict) -> list:
    """The study's parameters, parsed (and checked) again from tune.json."""
    from unroll.tune import spec
    timed = info["fixed"] + (["--max-time", f"{info['trial_time']:g}"] if info.get("trial_time") else [])
    return spec.parse(info["search"], info["task"], timed)


def _go(folder: Path, info: dict, params: list, args) -> int:
    import os
    from unroll.tune import study
    trials = args.trials if args.trials is not None else info.get("trials")
    budget = args.budget or info.get("budget") or (None if trials else DEFAULT_BUDGET)
    os.chdir(info["cwd"])                              # the fixed flags' relative paths mean what they meant
    try:
        study.run(folder, info, params, args.jobs, time.time() + budget if budget else None, trials, say=say)
    except KeyboardInterrupt:
        print(f"unroll: tune interrupted; finished trials are kept: unroll tune --resume {folder} continues",
              file=sys.stderr)
        return 130
    opened = study.open_study(folder, info)
    print(f"study {folder}: {study.finished(opened)} trials finished; `unroll tune {folder} --report` "
          "lists them", file=sys.stderr)
    return 0


def say(study, trial) -> None:
    """One line on stderr per finished trial."""
    state = trial.state.name.lower()
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
    value = f" {trial.value:.6g}" if trial.value is not None else ""
    why = f": {trial.user_attrs['error']}" if "error" in trial.user_attrs else ""
    print(f"trial {trial.number} {state}{value} ({shown}){why}", file=sys.stderr, flush=True)


COMMANDS = (Command("tune", "search unroll train's settings with Optuna (unroll[tune]): trials are run folders",
                    _arguments, _run,
                    "Search `unroll train` settings with Optuna: each trial is an ordinary run folder under the "
                    "study folder, poor trials are pruned at their validations, the study lives in STUDY/study.db "
                    "and continues with --resume. Flags that are not tune's own are fixed `unroll train` flags "
                    "given to every trial. docs/tune.md has the details."),)
