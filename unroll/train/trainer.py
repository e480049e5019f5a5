"""The training loop of every task: batches, clipping, optimizer, validation, checkpoints, metrics.

It knows no task. One step: take the next batch from the task's batches (dropping the carried state when
they say new sequences start), ``task.loss_and_grads(model, batch, state)``, clip the gradients (global
norm, then optionally by value), set the learning rate of this step from the schedule, update the
parameters. Every ``eval_every`` steps, and when training ends, ``task.metrics(model, "valid")`` is logged
(``valid_loss``, ``valid_<name>``) and a checkpoint is written; ``task.done(metrics)`` may end training
early. Everything a step depends on (parameters, optimizer moments, carried state, batch position, RNG,
learning-rate scale) is in the checkpoint, each part saved by name through the one state protocol
(``unroll.train.state``), so an interrupted and resumed run ends with exactly the parameters of an
uninterrupted one.

A loss or gradient norm that becomes NaN or Inf rolls the run back to the last checkpoint and halves the
learning rate; the fourth time, training stops with ``TrainingDiverged``.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from pathlib import Path

import numpy as np

from unroll.train import checkpoint, distributed, lock
from unroll.train.optim import clip_grad_norm, clip_grad_value, make_optimizer
from unroll.train.schedule import LRSchedule
from unroll.train.progress import Progress
from unroll.train.state import CarriedState, Counters, ParamsState, RNGState

MAX_NAN_RETRIES = 3


class TrainingDiverged(RuntimeError):
    """The loss became NaN or Inf more than MAX_NAN_RETRIES times."""


class Trainer:
    """Owns one run folder: the task, its model, the optimizer, the batches and the counters.

    run_dir: the run folder; task: a Task (unroll.tasks.base); model: what task.build_model returned;
    config: TrainConfig
    """

    def __init__(self, run_dir: Path, task, model, config, quiet: bool = False):
        self.run_dir, self.task, self.model, self.config = Path(run_dir), task, model, config
        self.batches = task.batches(config)
        self.optimizer = make_optimizer(config.optimizer, model.params, config.lr)
        self.schedule = LRSchedule(config.lr, "exponential" if config.lr_decay < 1 else "constant", config.lr_decay,
                                   config.lr_decay_every, config.lr_decay_start)
        self.carry = CarriedState()
        self.world = distributed.world()                  # Solo, or P ranks under mpiexec
        self.counters = Counters(step=0, tokens=0, elapsed=0.0, lr_scale=1.0, nan_retries=0,
                                 max_grad_norm=0.0, max_train_loss=0.0)
        self.progress = Progress(quiet=quiet or self.world.rank != 0)
        self.stop_requested = False
        self.log_every = log_interval(config)
        self.log_seconds = log_seconds(config)
        self.stop_signal = None

    def components(self) -> dict:
        """Everything a checkpoint holds, by name (each has state_dict / load_state_dict)."""
        parts = {"model": ParamsState(self.model.params), "optimizer": self.optimizer, "batches": self.batches,
                 "carry": distributed.RankCarries(self.carry, self.world), "counters": self.counters}
        if getattr(self.model, "rng", None) is not None:
            parts["rng"] = RNGState(self.model.rng)
        return parts

    # ------------------------------------------------------------------------------------------------

    def train(self) -> dict:
        """Train until max_steps, max_time or the task's criterion; return the last metrics record."""
        lock.acquire(self.run_dir)                        # one process per run folder (train/lock.py)
        if not (self.run_dir / "latest").exists():
            self.save()                                   # step 0: a rollback target from the start
        previous = {s: signal.signal(s, self._request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            record = self._loop()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            lock.release(self.run_dir)
        return record

    def _loop(self) -> dict:
        c, cfg = self.counters, self.config
        window = _Window()
        start, elapsed0 = time.perf_counter(), c["elapsed"]
        record, self.task_done, evaluated = {}, False, False
        while not self._done(c["elapsed"] if self.world.size > 1 else elapsed0 + time.perf_counter() - start):
            loss, norm, tokens = self._train_step()
            if not (math.isfinite(loss) and math.isfinite(norm)):
                self._roll_back(loss, norm)
                window = _Window()
                continue
            window.add(loss, norm, tokens)
            c["max_grad_norm"], c["max_train_loss"] = max(c["max_grad_norm"], norm), max(c["max_train_loss"], loss)
            c["elapsed"] = elapsed0 + time.perf_counter() - start
            if self.world.size > 1:                       # every rank stops at the same step
                c["elapsed"], self.stop_requested = self.world.agree(c["elapsed"], self.stop_requested)
            evaluate = c["step"] % cfg.eval_every == 0 or self._done(c["elapsed"])
            if c["step"] % self.log_every == 0 or evaluate or window.age() >= self.log_seconds:
                record = self._metrics(window, evaluate)
                self._log(record)
                window = _Window()
            evaluated = evaluate
            self.progress.update(c["step"], cfg.max_steps, c["elapsed"], cfg.max_time, record)
        if window.steps or not evaluated:
            record = self._metrics(window, evaluate=True)
            self._log(record)
        self.progress.close()
        return record

    def _train_step(self) -> tuple[float, float, int]:
        """One optimizer step; returns (loss, gradient norm before clipping, tokens in the batch)."""
        c, cfg = self.counters, self.config
        batch = next(self.batches)
        if self.batches.reset_state:                       # new sequences start: forget the carried state
            self.carry.value = None
        mine = self.task.shard(batch, self.world.rank, self.world.size) if self.world.size > 1 else batch
        weight = self.task.weight(mine)
        if weight > 0 or self.world.size == 1:
            loss, grads, self.carry.value = self.task.loss_and_grads(self.model, mine, self.carry.value)
        else:                                              # a short batch left this rank no sequence
            loss, grads = 0.0, {k: np.zeros_like(v) for k, v in self.model.params.items()}
        loss, grads = self.world.reduce_step(loss, grads, weight)   # P > 1: means over every rank's tokens
        norm = clip_grad_norm(grads, cfg.clip if cfg.clip > 0 else math.inf)
        if not (math.isfinite(loss) and math.isfinite(norm)):
            return loss, norm, 0
        if cfg.clip_value > 0:
            clip_grad_value(grads, cfg.clip_value)
        self.optimizer.lr = self.schedule.lr_at(c["step"]) * c["lr_scale"]
        self.optimizer.step(grads)
        tokens = self.task.count(batch)
        c["step"] += 1
        c["tokens"] += tokens
        return loss, norm, tokens

    def _done(self, elapsed: float) -> bool:
        cfg = self.config
        return (self.stop_requested or self.task_done
                or (cfg.max_steps is not None and self.counters["step"] >= cfg.max_steps)
                or (cfg.max_time is not None and elapsed >= cfg.max_time))

    def _metrics(self, window: "_Window", evaluate: bool) -> dict:
        c = self.counters
        record = {"step": c["step"], "epoch": self.batches.epoch,
                  "train_loss": window.loss / window.steps if window.steps else None,
                  "grad_norm": window.norm / window.steps if window.steps else None,
                  "lr": self.schedule.lr_at(c["step"]) * c["lr_scale"],
                  "tokens_per_s": window.tokens / max(time.perf_counter() - window.start, 1e-9),
                  "elapsed": round(c["elapsed"], 3)}
        if evaluate:
            metrics = self.validate()
            record.update({f"valid_{k}": v for k, v in metrics.items() if isinstance(v, (int, float))})
            self.task_done = self.task_done or self.task.done(metrics)
            self.save()
        return record

    # ------------------------------------------------------------------------------------------------

    def validate(self) -> dict:
        """The task's metrics on its validation split (no dropout): at least {"loss": ...}."""
        return self.task.metrics(self.model, "valid")

    def _roll_back(self, loss: float, norm: float) -> None:
        c = self.counters
        retries, scale = c["nan_retries"] + 1, c["lr_scale"] * 0.5
        if retries > MAX_NAN_RETRIES:
            self._log({"step": c["step"], "event": "diverged", "loss": repr(loss), "grad_norm": repr(norm)})
            raise TrainingDiverged(f"the loss became NaN or Inf {retries} times (last at step {c['step']}) even after "
                                   f"halving the learning rate {MAX_NAN_RETRIES} times; try a smaller --lr or --clip")
        folder = checkpoint.latest(self.run_dir)
        self.load(folder)
        c["nan_retries"], c["lr_scale"] = retries, scale
        message = (f"loss {loss!r} / gradient norm {norm!r}: rolled back to {folder.name} and halved the "
                   f"learning rate (scale {scale:g}, retry {retries} of {MAX_NAN_RETRIES})")
        self._log({"step": c["step"], "event": "nan_rollback", "message": message})
        self.progress.say(message)

    def _request_stop(self, signum, frame) -> None:
        self.stop_requested, self.stop_signal = True, signum
        self.progress.say("stopping after this step; a checkpoint will be written (resume with --resume)")

    # ------------------------------------------------------------------------------------------------
    # Checkpoints.

    def save(self) -> Path | None:
        """Write a checkpoint and return its folder (with P ranks every rank takes part; rank 0 alone writes,
        the others get None)."""
        parts = self.components()
        parts["carry"] = distributed.Snapshot(*parts["carry"].state_dict())    # a collective when P > 1
        folder = checkpoint.save(self.run_dir, self.counters["step"], parts) if self.world.rank == 0 else None
        self.world.barrier()
        return folder

    def load(self, folder: Path) -> None:
        checkpoint.load(folder, self.components())
        if self.world.rank == 0:
            self._truncate_log(self.counters["step"])

    def _log(self, record: dict) -> None:
        if self.world.rank != 0:
            return
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def _truncate_log(self, step: int) -> None:
        """Drop log lines written after ``step`` (an interrupted run logged steps it did not checkpoint)."""
        path = self.run_dir / "metrics.jsonl"
        if path.exists():                                 # a line cut short by kill -9 is dropped too
            lines = [line for line in path.read_bytes().decode("utf-8", "replace").split("\n") if line]
            kept = [line for line in lines if _logged_step(line) <= step]
            tmp = path.with_name(path.name + ".tmp")      # atomic: a kill here keeps the old log
            tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
            os.replace(tmp, path)


def _logged_step(line: str) -> float:
    """The step of a metrics line, or infinity for a line that does not parse (cut short by a crash)."""
    try:
        return float(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return math.inf


class _Window:
    """Sums over the steps since the last metrics line."""

    def __init__(self):
        self.loss, self.norm, self.steps, self.tokens, self.start = 0.0, 0.0, 0, 0, time.perf_counter()

    def age(self) -> float:
        return time.perf_counter() - self.start

    def add(self, loss: float, norm: float, tokens: int) -> None:
        self.loss += loss
        self.norm += norm
        self.steps += 1
        self.tokens += tokens


PLOT_POINTS = 100       # a run of known length logs at least this many training lines (every step if shorter)


def log_seconds(config) -> float:
    """Seconds between metrics lines under --max-time: a run of known duration also gets about PLOT_POINTS
    lines (at most one every half second, at least one every 10 s), however fast its steps are."""
    if config.max_time is None:
        return math.inf
    return min(10.0, max(0.5, config.max_time / PLOT_POINTS))


def log_interval(config) -> int:
    """Steps between metrics lines: log_every, shortened so a run of max_steps has >= PLOT_POINTS lines."""
    if config.max_steps:
        return max(1, min(config.log_every, config.max_steps // PLOT_POINTS))
    return config.log_every
