"""Run folders, for every task: start a training run, resume one, load one for eval, predict and sampling.

``config.json`` (format 2) records::

    {"format": 2, "unroll_version": ..., "created": ..., "task": "lm",
     "train": {TrainConfig}, "<section>": {the task's settings, one dict per section}, ...,
     "<key>": ... what the task's prepare() returned (the language model: "data", "vocab")}

Run folders of unroll 0.1 (language models, no "format" key) are read by ``_upgrade_v1``; a format this
version does not know gets a one-line error naming the version that wrote it.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from unroll import __version__
from unroll.config import TrainConfig, from_dict, to_dict
from unroll.tasks import get_task
from unroll.train import checkpoint
from unroll.train.trainer import Trainer

FORMAT = 2
META = ("format", "unroll_version", "created", "task", "train")


def start(out_dir: Path, task_name: str, settings: dict, train: TrainConfig, quiet: bool = False) -> Trainer:
    """Create a new run folder and its Trainer. settings: {section: dataclass} of the task's sections."""
    out_dir = Path(out_dir)
    if (out_dir / "config.json").exists():
        raise ValueError(f"--out {out_dir} already holds a run; use --resume {out_dir} to continue it")
    task = get_task(task_name)({"train": train, **settings})
    prepared = task.prepare()
    clash = sorted(set(prepared) & (set(META) | set(task.sections)))
    if clash:
        raise ValueError(f"task {task_name}: prepare() returned the reserved key(s) {', '.join(clash)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint.write_json_atomic(out_dir / "config.json", {
        "format": FORMAT, "unroll_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "task": task_name, "train": to_dict(train),
        **{name: to_dict(task.settings[name]) for name in task.sections}, **prepared})
    model = task.build_model(train.seed)
    return Trainer(out_dir, task, model, train, quiet=quiet)


def resume(run_dir: Path, max_steps: int | None = None, max_time: float | None = None, quiet: bool = False) -> Trainer:
    """Rebuild a run's Trainer from its folder and latest checkpoint; optionally extend its budget."""
    task, _ = read_task(run_dir)
    train = task.settings["train"]
    if max_steps is not None or max_time is not None:
        train = replace(train, max_steps=max_steps, max_time=max_time)
        task.settings["train"] = train
    model = task.build_model(train.seed)
    trainer = Trainer(Path(run_dir), task, model, train, quiet=quiet)
    trainer.load(checkpoint.latest(run_dir))
    return trainer


def load(run_dir: Path):
    """(task, model with the latest checkpoint's weights, run info with "step") for eval, predict, sample."""
    task, info = read_task(run_dir)
    model = task.build_model(task.settings["train"].seed)
    folder = checkpoint.latest(run_dir)
    named = checkpoint.read(folder, {k: v.shape for k, v in model.params.items()})
    for key, value in named["model"][0].items():
        model.params[key][...] = value
    info["step"] = named["counters"][1]["step"]
    return task, model, info


def summarise(trainer) -> dict:
    """The task's summary of a finished run (``Task.summary``), written to result.json when not empty."""
    from unroll.analysis.plots import read_metrics
    summary = trainer.task.summary(trainer.model, read_metrics(trainer.run_dir))
    if summary:
        checkpoint.write_json_atomic(trainer.run_dir / "result.json", summary)
    return summary


def read_task(run_dir: Path):
    """(the run's Task, built from its settings and prepared data, the config.json dict)."""
    info = read_config(run_dir)
    task_cls = get_task(info["task"])
    settings = {"train": from_dict(TrainConfig, info["train"])}
    settings.update({name: from_dict(cls, info[name]) for name, cls in task_cls.sections.items()})
    prepared = {k: v for k, v in info.items() if k not in META and k not in task_cls.sections}
    return task_cls(settings, prepared), info


def read_config(run_dir: Path) -> dict:
    """config.json of a run folder, upgraded to the current format."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run folder {run_dir} does not exist")
    path = run_dir / "config.json"
    info = checkpoint.read_json(path, "run configuration")
    if "format" not in info:
        return _upgrade_v1(info, path)
    if info["format"] != FORMAT:
        raise ValueError(f"run configuration {path} was written by unroll {info.get('unroll_version', '?')} "
                         f"(format {info['format']}); this is unroll {__version__}, which reads format {FORMAT}")
    for key in ("task", "train"):
        if key not in info:
            raise ValueError(f"run configuration {path} has no '{key}' section")
    return info


def _upgrade_v1(info: dict, path: Path) -> dict:
    """unroll 0.1's language-model config.json: model, train (with the corpus and BPTT settings), data, vocab."""
    if "experiment" in info:
        raise ValueError(f"{path.parent} was written by `unroll experiment` of unroll 0.1 (weights only, no "
                         f"checkpoints); unroll {__version__} cannot read it: run the experiment again with --out")
    for key in ("model", "train", "data", "vocab"):
        if key not in info:
            raise ValueError(f"run configuration {path} has no '{key}' section "
                             f"(written by unroll {info.get('unroll_version', '?')})")
    train = dict(info["train"])
    corpus = {k: train.pop(k) for k in ("data", "level", "min_count", "tokenizer", "valid_fraction") if k in train}
    corpus["valid"] = info["data"].get("valid")
    bptt = {k: train.pop(k) for k in ("seq_len", "bptt") if k in train}
    return {"format": FORMAT, "unroll_version": info.get("unroll_version", "0.1.0"), "created": info.get("created"),
            "task": "lm", "train": train, "corpus": corpus, "bptt": bptt, "model": info["model"],
            "data": info["data"], "vocab": info["vocab"]}


def default_out_dir(label: str) -> Path:
    return Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{label}"
