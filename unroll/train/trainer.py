"""The training loop of every task: batches, clipping, optimizer, validation, checkpoints, metrics.

It knows no task. One step: take the next batch from the task's batches (dropping the carried state when
they say new sequences start), ``task.loss_and_grads(model, batch, state)``, clip the gradients (global
norm, then optionally by value), set the learning rate of this step from the schedule, update the
parameters. Every ``eval_every`` steps, and when training ends, ``task.metrics(model, "valid")`` is logged
(``valid_loss``, ``valid_<name>``) and a checkpoint is written; ``task.done(metrics)`` may end training
early, and so may a metrics sink (``sinks``: each gets every logged record; a tuner's pruner returns a
reason to stop). Everything a step depends on (parameters, optimizer moments, carried state, batch
position, RNG, learning-rate scale) is in the checkpoint, each part saved by name through the one state
protocol (``unroll.train.state``), so an interrupted and resumed run ends with exactly the parameters of an
uninterrupted one.

A loss or gradient norm that becomes NaN or Inf rolls the run back to the last checkpoint and halves the
learning rate; the fourth time, training stops with ``TrainingDiverged``.

Best checkpoint and early stopping (Keras' ModelCheckpoint(save_best_only) and EarlyStopping): at every
scheduled validation (step a multiple of ``eval_every``) the task's own metric (``Task.monitor()``, e.g.
("accuracy", "max")) is compared with the best so far; a better value writes the parameters to the
run folder's ``best/`` checkpoint (the metrics line says ``"new_best": true``) and a worse or equal one
counts towards ``patience``: after ``patience`` validations without improvement training stops (the line
says ``"early_stop"``). Only scheduled validations count (not the extra one when a budget runs out), and
the best value, its step and the count are counters, so a stopped and resumed run keeps exactly the best
checkpoint and stops exactly where an uninterrupted one would.

``--ema DECAY`` (train/ema.py): after every optimizer step an exponential moving average of the weights
is updated; validation, the best checkpoint and every checkpoint's ``model`` part use the average, the
raw weights (which keep training) go to the checkpoint's ``raw`` part, and when ``train`` returns the
model holds the average.
"""

from __future__ import annotations

import math
import signal
import time

import numpy as np

from unroll.train import distributed, finetune
from unroll.train.ema import weight_average
from unroll.train.optim import clip_grad_norm, clip_grad_value, make_optimizer
from unroll.train.schedule import LRSchedule
from unroll.train.progress import Progress
from unroll.train.tensorboard import TensorBoardSink
from unroll.train.state import CarriedState, Counters, ParamsState, RNGState

MAX_NAN_RETRIES = 3


class TrainingDiverged(RuntimeError):
    """The loss became NaN or Inf more than MAX_NAN_RETRIES times."""


class Trainer:
    """Trains one task's model in one run folder: the optimizer, the batches and the counters.

    folder: where checkpoints and metrics go; the trainer calls only ``folder.save(step, parts)``,
    ``folder.log(record)``, ``folder.restore(parts)`` (NaN rollback), ``folder.save_best(step, parts)``,
    ``folder.has_checkpoint()`` and
    ``folder.held()`` (the lock while training), so any object with those serves (unroll.runs.RunFolder);
    task: a Task (unroll.tasks.base); model: what task.build_model returned; config: TrainConfig
    """

    def __init__(self, folder, task, model, config, quiet: bool = False):
        self.folder, self.task, self.model, self.config = folder, task, model, config
        self.run_dir = folder.path
        self.batches = task.batches(config)
        self.optimizer = make_optimizer(config.optimizer, model.params, config.lr, **config.optimizer_options())
        self.ema = weight_average(model.params, config.ema)   # --ema (NoAverage when off)
        self.schedule = LRSchedule.of(config)
        self.carry = CarriedState()
        self.world = distributed.world()                  # Solo, or P ranks under mpiexec
        self.counters = Counters(step=0, tokens=0, elapsed=0.0, lr_scale=1.0, nan_retries=0,
                                 max_grad_norm=0.0, max_train_loss=0.0, best=None, best_step=None, bad_evals=0)
        self.monitor = task.monitor()                     # (metric name, "min" | "max")
        self.progress = Progress(quiet=quiet or self.world.rank != 0)
        self.stop_requested = False
        self.log_every = log_interval(config)
        self.sinks = [TensorBoardSink(self.run_dir)] if config.tensorboard else []   # more metrics destinations
        self.groups = finetune.depth_groups(model.params)   # --lr-layer-decay, --unfreeze-every (train/finetune.py)
        self.log_seconds = log_seconds(config)
        self.stop_signal = None

    def components(self) -> dict:
        """Everything a checkpoint holds, by name (each has state_dict / load_state_dict)."""
        parts = {"model": ParamsState(self.model.params), "optimizer": self.optimizer, "batches": self.batches,
                 "carry": distributed.RankCarries(self.carry, self.world), "counters": self.counters}
        parts.update(self.ema.parts())                    # --ema: "model" the average, "raw" the weights that train
        if getattr(self.model, "rng", None) is not None:
            parts["rng"] = RNGState(self.model.rng)
        return parts

    # ------------------------------------------------------------------------------------------------

    def train(self) -> dict:
        """Train until max_steps, max_time or the task's criterion; return the last metrics record."""
        with self.folder.held():                          # one process per run folder
            self.ema.restore()                            # --ema: train the raw weights (after a train() that returned)
            if not self.folder.has_checkpoint():
                self.save()                               # step 0: a rollback target from the start
            previous = {s: signal.signal(s, self._request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
            self.progress.listen()                        # the compile notice, while this run trains
            try:
                return self._loop()
            finally:
                self.progress.listen(False)
                for s, handler in previous.items():
                    signal.signal(s, handler)
                for sink in self.sinks:
                    getattr(sink, "close", lambda: None)()
                self.ema.apply()                          # --ema: the model a run made is its average

    def _loop(self) -> dict:
        c, cfg = self.counters, self.config
        window = _Window()
        start, elapsed0 = time.perf_counter(), c["elapsed"]
        record, self.task_done, evaluated = {}, False, False
        first_step = c["step"]
        while not self._done(c["elapsed"] if self.world.size > 1 else elapsed0 + time.perf_counter() - start):
            loss, norm, tokens = self._train_step()
            if not (math.isfinite(loss) and math.isfinite(norm)):
                self._roll_back(loss, norm)
                window = _Window()
                continue
            window.add(loss, norm, tokens)
            if c["step"] == first_step + 1:                 # this process's first step compiled or loaded the
                window.restart_clock()                    # kernels: tokens/s counts the steps after it
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
        scales = finetune.lr_scales(self.groups, cfg.lr_layer_decay, cfg.unfreeze_every, c["step"], cfg.eval_every)
        for key in (k for k, s in (scales or {}).items() if s == 0.0):
            grads[key] = np.zeros_like(grads[key])          # frozen: out of the clipping norm too
        norm = clip_grad_norm(grads, cfg.clip if cfg.clip > 0 else math.inf)
        if not (math.isfinite(loss) and math.isfinite(norm)):
            return loss, norm, 0
        if cfg.clip_value > 0:
            clip_grad_value(grads, cfg.clip_value)
        self.optimizer.lr = self.schedule.lr_at(c["step"], c["elapsed"]) * c["lr_scale"]
        self.optimizer.step(grads, scales)
        tokens = self.task.count(batch)
        c["step"] += 1
        c["tokens"] += tokens
        self.ema.update(c["step"])                        # --ema (train/ema.py); nothing without it
        return loss, norm, tokens

    def _done(self, elapsed: float) -> bool:
        cfg = self.config
        return (self.stop_requested or self.task_done or self.patience_used_up()
                or (cfg.max_steps is not None and self.counters["step"] >= cfg.max_steps)
                or (cfg.max_time is not None and elapsed >= cfg.max_time))

    def _metrics(self, window: "_Window", evaluate: bool) -> dict:
        c = self.counters
        record = {"step": c["step"], "epoch": self.batches.epoch,
                  "train_loss": window.loss / window.steps if window.steps else None,
                  "grad_norm": window.norm / window.steps if window.steps else None,
                  "lr": self.schedule.lr_at(c["step"], c["elapsed"]) * c["lr_scale"],
                  "tokens_per_s": window.rate(),
                  "elapsed": round(c["elapsed"], 3)}
        if evaluate:
            metrics = self.validate()
            record.update({f"valid_{k}": v for k, v in metrics.items() if isinstance(v, (int, float))})
            self.task_done = self.task_done or self.task.done(metrics)
            if c["step"] % self.config.eval_every == 0:
                self._track_best(metrics, record)
            self.save()
        return record

    def _track_best(self, metrics: dict, record: dict) -> None:
        """Keep the parameters of the best scheduled validation in best/; count validations without progress."""
        c, (name, mode) = self.counters, self.monitor
        value = metrics.get(name)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return
        if c["best"] is None or (value > c["best"] if mode == "max" else value < c["best"]):
            c["best"], c["best_step"], c["bad_evals"] = float(value), c["step"], 0
            self.save_best()
            record["new_best"] = True
            return
        c["bad_evals"] += 1
        if self.patience_used_up():
            record["early_stop"] = (f"valid_{name} has not improved for {c['bad_evals']} validations "
                                    f"(best {c['best']:.6g} at step {c['best_step']})")

    def patience_used_up(self) -> bool:
        patience = self.config.patience
        return patience is not None and self.counters["bad_evals"] >= patience

    # ------------------------------------------------------------------------------------------------

    def validate(self) -> dict:
        """The task's metrics on its validation split (no dropout), of the average with --ema: {"loss": ...}."""
        with self.ema.applied_weights():
            return self.task.metrics(self.model, "valid")

    def _roll_back(self, loss: float, norm: float) -> None:
        c = self.counters
        retries, scale = c["nan_retries"] + 1, c["lr_scale"] * 0.5
        if retries > MAX_NAN_RETRIES:
            self._log({"step": c["step"], "event": "diverged", "loss": repr(loss), "grad_norm": repr(norm)})
            raise TrainingDiverged(f"the loss became NaN or Inf {retries} times (last at step {c['step']}) even after "
                                   f"halving the learning rate {MAX_NAN_RETRIES} times; try a smaller --lr or --clip")
        folder = self.folder.restore(self.components())
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

    def save(self):
        """Write a checkpoint and return its folder (with P ranks every rank takes part; rank 0 alone writes,
        the others get None)."""
        parts = self.components()
        parts["carry"] = distributed.Snapshot(*parts["carry"].state_dict())    # a collective when P > 1
        return self.folder.save(self.counters["step"], parts)

    def save_best(self) -> None:
        """Write the parameters (and counters) to the run folder's best checkpoint (RunFolder.save_best)."""
        self.folder.save_best(self.counters["step"], {"model": ParamsState(self.ema.average),
                                                      "counters": self.counters})

    def _log(self, record: dict) -> None:
        """Append the record to metrics.jsonl and hand it to every sink; a sink that returns a reason (a
        tuner's pruner, unroll/tune/objective.py) ends training after this step, the reason logged as a
        ``{"event": "stop"}`` line."""
        self.folder.log(record)
        if self.world.rank == 0:
            for sink in self.sinks:                       # e.g. TensorBoard (train/tensorboard.py)
                reason = sink(record)
                if reason and not self.stop_requested:
                    self.stop_requested = True
                    self.folder.log({"step": record.get("step", self.counters["step"]), "event": "stop",
                                     "message": str(reason)})


class _Window:
    """Sums over the steps since the last metrics line."""

    def __init__(self):
        self.loss, self.norm, self.steps, self.tokens, self.start = 0.0, 0.0, 0, 0, time.perf_counter()
        self.opened, self.timed = self.start, 0     # when the window opened; tokens since the clock started

    def age(self) -> float:
        return time.perf_counter() - self.start

    def add(self, loss: float, norm: float, tokens: int) -> None:
        self.loss += loss
        self.norm += norm
        self.steps += 1
        self.tokens += tokens
        self.timed += tokens

    def restart_clock(self) -> None:
        """Leave the steps so far out of tokens/s (the start-up: kernels compiled or loaded from the cache)."""
        self.start, self.timed = time.perf_counter(), 0

    def rate(self) -> float:
        """Tokens/s since the clock started; the whole window when only the start-up step is in it."""
        now = time.perf_counter()
        if self.timed:
            return self.timed / max(now - self.start, 1e-9)
        return self.tokens / max(now - self.opened, 1e-9)


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
