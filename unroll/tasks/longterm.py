"""The long-term-dependency task: the adding problem and the copying-memory problem (unroll.data.synthetic).

A cell plus a linear readout (unroll.models.readout) is trained with Adam and global-norm clipping on
batches generated on the fly; training stops early once the validation loss is below ``--target``, and
the result compares the loss on a fresh test set with the memoryless baseline (adding: always answering
1 scores MSE 1/6; copying: 10 ln 8 / (T + 20)). Randomness: one seed, split into independent streams for
the initialisation, the training batches, the validation set and the test set.

``unroll experiment adding|copy --cell C --T N [--json]`` (registered here) is ``unroll train --task
longterm --problem adding|copy`` that prints the result in a sentence; both write the same run folder
(config.json, metrics.jsonl, checkpoints, result.json) and resume with ``unroll train --resume``.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unroll.command import Command
from unroll.config import TrainConfig, add_arguments, from_args, option
from unroll.data import synthetic as problems
from unroll.models.readout import TaskModel
from unroll.nn import leaky
from unroll.nn.network import CELL_OPTIONS, network_section
from unroll.tasks.base import GeneratedBatches, Task

PROBLEMS = ("adding", "copy")
ADDING_SOLVED_MSE = 0.01
COPY_BEATS_FRACTION = 0.95            # copy "beats the baseline": test loss below 95% of 10 ln 8 / (T + 20)


@dataclass(frozen=True)
class ProblemConfig:
    problem: str = option("adding", help="the adding problem or the copying-memory problem", choices=PROBLEMS)
    T: int = option(100, "--T", "sequence length (copy: the gap)")
    target: float | None = option(None, help="stop once the validation loss is below (default: 0.005 adding, "
                                             "5%% of the baseline copy)")
    valid_size: int = option(500, help="validation sequences")
    test_size: int = option(2000, help="test sequences")

    def __post_init__(self):
        if self.problem not in PROBLEMS:
            raise ValueError(f"task must be one of {', '.join(PROBLEMS)}, got {self.problem!r}")
        for name in ("T", "valid_size", "test_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.problem == "adding" and self.T < 2:
            raise ValueError(f"the adding problem needs T >= 2, got {self.T}")

    @property
    def baseline(self) -> float:
        return problems.adding_baseline_mse() if self.problem == "adding" else problems.copying_baseline_loss(self.T)

    @property
    def stop_below(self) -> float:
        """--target, else half the adding criterion (0.005) or 5% of the copy baseline."""
        if self.target is not None:
            return self.target
        return ADDING_SOLVED_MSE / 2 if self.problem == "adding" else 0.05 * self.baseline


LongTermNetwork = network_section("LongTermNetwork", hidden_size=64)
"""The cell of the experiments: the network section (one layer of 64 units; lstm with forget bias 1 by default)."""

STACK_ONLY = {"num_layers": "--layers", "bidirectional": "--bidirectional", "dropout": "--dropout",
              "locked_dropout": "--locked-dropout", "weight_drop": "--weight-drop",
              "recurrent_dropout": "--recurrent-dropout", "zoneout": "--zoneout", "embedding_size": "--embedding"}


def check_one_cell(network) -> None:
    """Refuse, in one line naming the flag, a stack setting the one-cell readout model would not read."""
    default = LongTermNetwork()
    for name, flag in STACK_ONLY.items():
        if getattr(network, name) != getattr(default, name):
            raise ValueError(f"{flag}: the long-term experiments train one cell and a linear readout "
                             "(models/readout.py), whose gradient figures read that cell's own state; leave it out")


class LongTermTask(Task):
    name = "longterm"
    help = "adding and copying-memory problems (long-term dependencies)"
    sections = {"problem": ProblemConfig, "network": LongTermNetwork}
    train_defaults = {"lr": 1e-2, "clip": 1.0, "max_steps": 5000, "max_time": 900.0, "eval_every": 100,
                      "log_every": 1}
    splits = ("valid", "test")
    page = "unroll.tasks.probes.longterm"   # the loss against the baseline and the gradient's reach

    def __init__(self, settings: dict, prepared: dict | None = None):
        super().__init__(settings, prepared)
        check_one_cell(self.settings["network"])
        self._sets = {}

    @property
    def problem(self) -> ProblemConfig:
        return self.settings["problem"]

    def seeds(self, seed: int):
        """(init, train, valid, test) seed streams of one seed."""
        return np.random.SeedSequence(seed).spawn(4)

    def make_batch(self, N: int, rng: np.random.Generator):
        dtype = self.settings["train"].dtype or np.float32            # the inputs in the run's precision
        if self.problem.problem == "adding":
            return problems.adding_problem(self.problem.T, N, rng, dtype)
        return problems.copying_problem(self.problem.T, N, rng, dtype)

    def prepare(self) -> dict:
        self.prepared = {}
        return self.prepared

    def batches(self, train: TrainConfig) -> GeneratedBatches:
        return GeneratedBatches(self.make_batch, train.batch_size, np.random.default_rng(self.seeds(train.seed)[1]))

    def build_model(self, seed: int, dtype=np.float32) -> TaskModel:
        adding = self.problem.problem == "adding"
        D = 2 if adding else problems.N_CATEGORIES
        K = 1 if adding else problems.N_CATEGORIES
        return TaskModel(self.settings["network"], D, K, "last" if adding else "every",
                         np.random.default_rng(self.seeds(seed)[0]), dtype)

    def metrics(self, model, split: str) -> dict:
        if split not in self.splits:
            raise ValueError(f"the long-term task evaluates on {' or '.join(self.splits)}, not {split!r}")
        if split not in self._sets:
            size = self.problem.valid_size if split == "valid" else self.problem.test_size
            rng = np.random.default_rng(self.seeds(self.settings["train"].seed)[2 if split == "valid" else 3])
            self._sets[split] = self.make_batch(size, rng)
        return model.evaluate(*self._sets[split], last=problems.N_COPY)

    def done(self, metrics: dict) -> bool:
        return metrics["loss"] < self.problem.stop_below

    def summary(self, model, log: list[dict]) -> dict:
        """The experiment's result: test loss beside the baseline, and the run's history."""
        p, m, train = self.problem, self.settings["network"], self.settings["train"]
        steps = [r for r in log if "event" not in r]
        valid = [r for r in steps if "valid_loss" in r]
        test = self.metrics(model, "test")
        diverged = any(r.get("event") == "diverged" for r in log) or not math.isfinite(test["loss"])
        result = {"task": p.problem, "cell": cell_label(m), "T": p.T, "seed": train.seed,
                  "steps": steps[-1]["step"] if steps else 0, "seconds": round(steps[-1]["elapsed"], 1) if steps else 0,
                  "diverged": diverged, "clip": train.clip, "lr": train.lr,
                  "best_valid_loss": min((r["valid_loss"] for r in valid), default=math.inf),
                  "max_grad_norm": max((r["grad_norm"] for r in steps if r["grad_norm"] is not None), default=0.0),
                  "max_train_loss": max((r["train_loss"] for r in steps if r["train_loss"] is not None), default=0.0),
                  "history": [{"step": r["step"], "valid_loss": r["valid_loss"], "seconds": r["elapsed"]} for r in valid]}
        if p.problem == "adding":
            result |= {"test_mse": test["loss"], "baseline_mse": p.baseline, "solved": bool(test["loss"] < ADDING_SOLVED_MSE)}
        else:
            result |= {"test_loss": test["loss"], "baseline_loss": p.baseline, "test_accuracy": test["accuracy"],
                       "beats_baseline": bool(test["loss"] < COPY_BEATS_FRACTION * p.baseline)}
        if m.cell == "leaky":
            alpha = leaky.alpha_of(model.cell_params(), model.options.get("alpha"))
            result["alpha"] = {"min": float(alpha.min()), "mean": float(alpha.mean()), "max": float(alpha.max())}
        return result



def _experiment_arguments(p) -> None:
    p.add_argument("problem", choices=PROBLEMS, help="the adding problem or the copying-memory problem")
    add_arguments(p.add_argument_group("problem"), ProblemConfig, "problem", exclude=("problem",))
    add_arguments(p.add_argument_group("cell"), LongTermNetwork, "network")
    add_arguments(p.add_argument_group("training"), TrainConfig, "train", LongTermTask.train_defaults)
    p.add_argument("--steps", type=int, dest="train.max_steps", default=argparse.SUPPRESS,
                   help="the same as --max-steps")
    p.add_argument("--out", type=Path, default=None, help="write the run folder here (default: a temporary one)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a sentence")


def cmd_experiment(args, runs) -> int:
    problem = from_args(ProblemConfig, args, "problem", {"problem": args.problem})
    settings = {"problem": problem, "network": from_args(LongTermNetwork, args, "network")}
    train = from_args(TrainConfig, args, "train", LongTermTask.train_defaults)
    result, _ = runs.experiment("longterm", settings, train, args.out, quiet=args.json)
    print(json.dumps({k: v for k, v in result.items() if k != "history"}) if args.json else sentence(result))
    return 0


def cell_label(network) -> str:
    """The cell as results and figures name it: "lstm", "rnn (relu, init identity:0.001)" (the IRNN), "skip (skip-every 10)"."""
    parts = [network.activation] if network.activation != "tanh" else []
    for name in CELL_OPTIONS:
        value = getattr(network, name)
        if name != "activation" and network.given(name):
            parts.append(f"{name.replace('_', '-')} {' '.join(map(str, value)) if isinstance(value, tuple) else value}")
    if network.init != "default":
        parts.append(f"init {network.init}")
    return network.cell + (f" ({', '.join(parts)})" if parts else "")


def sentence(result: dict) -> str:
    tail = f" after {result['steps']} steps, {result['seconds']:.0f}s" + (", DIVERGED" if result["diverged"] else "")
    if result["task"] == "adding":
        return (f"{result['cell']} on adding T={result['T']}: test MSE {result['test_mse']:.4g} (baseline "
                f"{result['baseline_mse']:.4g}, solved below {ADDING_SOLVED_MSE}: "
                f"{'yes' if result['solved'] else 'no'})" + tail)
    return (f"{result['cell']} on copy T={result['T']}: test loss {result['test_loss']:.4g} (baseline "
            f"{result['baseline_loss']:.4g}), copied-symbol accuracy {result['test_accuracy']:.3f} (chance 0.125)" + tail)


LongTermTask.commands = (Command("experiment", "train a cell on the adding or copying-memory problem",
                                 _experiment_arguments, cmd_experiment,
                                 "Train a cell on a long-term-dependency task and compare the test loss with the "
                                 "memoryless baseline.", needs="runs"),)
TASK = LongTermTask
