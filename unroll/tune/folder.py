"""A study folder's files: their names (tune.json, study.db, trials/NNNN), tune.json (``read_info``,
``write_info``), Optuna itself (``optuna``), the study opened read-only (``reading``) and the study as
plain data read without writing (``data``: the trials and the best trial of `unroll tune STUDY --report`,
for unroll serve's study page). The folder's layout is in unroll/tune/study.py's docstring.

This module sits a floor below the rest of unroll/tune (unroll/tools/imports.py): it never reaches `unroll
train`'s parser (unroll.cli), so unroll serve reads a study through it and through nothing else.
"""

from __future__ import annotations

import contextlib
import shlex
from pathlib import Path

INFO, DB = "tune.json", "study.db"
FORMAT = 1
TRIALS = "trials"


def optuna():
    """The optuna module, or the one-line error that says how to install it."""
    try:
        import optuna as module
    except ImportError:
        raise ValueError("unroll tune needs Optuna: pip install 'unroll[tune]' (or pip install optuna)") from None
    module.logging.set_verbosity(module.logging.WARNING)
    return module


def write_info(study_dir: Path, info: dict) -> None:
    from unroll.runs.checkpoint import write_json_atomic
    study_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(study_dir / INFO, {"format": FORMAT, **info})


def read_info(study_dir: Path) -> dict:
    from unroll.runs.checkpoint import read_json
    path = Path(study_dir) / INFO
    if not path.is_file():
        raise ValueError(f"{study_dir} is not a study folder (it has no {INFO}; start one with unroll tune --out)")
    info = read_json(path, "study")
    if info.get("format") != FORMAT:
        raise ValueError(f"study {path} has format {info.get('format')}; this unroll reads format {FORMAT}")
    return info


def trial_folder(study_dir: Path, number: int) -> Path:
    """Trial ``number``'s run folder, STUDY/trials/NNNN."""
    return Path(study_dir) / TRIALS / f"{number:04d}"


def command_line(trial) -> str:
    """The trial as the `unroll train` command that trains the same settings again."""
    return "unroll train " + shlex.join([*trial.user_attrs["argv"], "--out", f"runs/tune-trial-{trial.number}"])


@contextlib.contextmanager
def reading(study_dir: Path, info: dict):
    """``with reading(STUDY, info) as study``: the study as it stands, only to read (unroll serve): its own
    study.db opened read-only by SQLite itself (a ``file:`` URI with ``mode=ro``; no table created, nothing
    migrated, so nothing can be written), closed at the end. A ValueError in one line for a study kept in
    --storage, one with no study.db yet, or an unreadable one."""
    from urllib.parse import quote
    opt = optuna()
    if info.get("storage"):
        raise ValueError(f"study {Path(study_dir).name} keeps its trials in its --storage; only a study's own "
                         f"{DB} is read here (unroll tune STUDY --report reads the storage)")
    path = (Path(study_dir) / DB).resolve()
    if not path.is_file():
        raise ValueError(f"study {Path(study_dir).name} has no {DB} yet")
    url = f"sqlite:///file:{quote(str(path))}?mode=ro&uri=true"
    from sqlalchemy.exc import SQLAlchemyError
    store = None
    try:
        store = opt.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 5}},
                                        skip_table_creation=True)
        study = opt.load_study(study_name=info["study_name"], storage=store, sampler=opt.samplers.RandomSampler())
    except (SQLAlchemyError, opt.exceptions.OptunaError, KeyError, RuntimeError) as err:
        if store is not None:                    # KeyError: no study of that name; RuntimeError: an old schema
            store.engine.dispose()
        raise ValueError(f"study {Path(study_dir).name}: {DB} cannot be read ({_first_line(err)})") from None
    try:
        yield study
    except SQLAlchemyError as err:               # locked past the timeout, a damaged file ...
        raise ValueError(f"study {Path(study_dir).name}: {DB} cannot be read ({_first_line(err)})") from None
    finally:
        store.engine.dispose()


def _first_line(err: Exception) -> str:
    """The first line of the innermost cause (sqlite3's "file is not a database", not Optuna's wrapper)."""
    while err.__cause__ is not None:
        err = err.__cause__
    text = str(err).strip()
    return type(err).__name__ + (f": {text.splitlines()[0][:200]}" if text else "")


def data(study_dir: Path) -> dict:
    """The study as plain data, read without writing (``reading``; unroll serve's study page)::

        {"task", "metric": "valid_<metric>", "mode": "min" | "max", "fixed", "search", "trial_time",
         "params": [{"name", "kind": "float" | "int" | "choice", "log", "low", "high", "choices"}],
         "counts": {state: n}, "trials": [trial], "best": trial with "command", or None}
        trial: {"number", "state", "value", "params", "step", "elapsed", "retry_of", "error"}

    A pruned trial's value is its last reported validation (Optuna's); a failed one's is None."""
    info = read_info(study_dir)
    with reading(study_dir, info) as study:
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
