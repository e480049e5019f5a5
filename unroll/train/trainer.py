"""The training loop: batches, truncated BPTT, clipping, optimizer, validation, checkpoints, metrics.

One step: take the next (k1, N) batch of every stream, run BPTT(k1, k2) from the carried state, clip the
gradients (global norm, then optionally by value), set the learning rate of this step from the schedule,
update the parameters. Every ``eval_every`` steps, and when training ends, the validation stream is read
once (no dropout) and a checkpoint is written. Everything a step depends on (parameters, optimizer
moments, carried state, data position, RNG, learning-rate scale) is in the checkpoint, so an interrupted
and resumed run ends with exactly the parameters of an uninterrupted one.

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

from unroll.data.batching import StreamBatcher, eval_batches
from unroll.models.language_model import LanguageModel
from unroll.train import checkpoint, lock
from unroll.train.bptt import TruncatedBPTT
from unroll.train.optim import LRSchedule, clip_grad_norm, clip_grad_value, make_optimizer
from unroll.train.progress import Progress

MAX_NAN_RETRIES = 3
LOG_EVERY = 50


class TrainingDiverged(RuntimeError):
    """The loss became NaN or Inf more than MAX_NAN_RETRIES times."""


class Trainer:
    """Owns one run folder: the model, the optimizer, the data streams and the counters.

    run_dir: the run folder; config: TrainConfig; model: LanguageModel; train_ids, valid_ids: int arrays
    """

    def __init__(self, run_dir: Path, config, model: LanguageModel, train_ids: np.ndarray, valid_ids: np.ndarray,
                 quiet: bool = False):
        self.run_dir, self.config, self.model = Path(run_dir), config, model
        self.valid_ids = valid_ids
        self.batcher = StreamBatcher(train_ids, config.batch_size, config.seq_len)
        self.bptt = TruncatedBPTT(model, config.seq_len, config.bptt)
        self.optimizer = make_optimizer(config.optimizer, model.params, config.lr)
        self.schedule = LRSchedule(config.lr, "exponential" if config.lr_decay < 1 else "constant", config.lr_decay,
                                   config.lr_decay_every, config.lr_decay_start)
        self.counters = {"step": 0, "tokens": 0, "elapsed": 0.0, "lr_scale": 1.0, "nan_retries": 0}
        self.progress = Progress(quiet=quiet)
        self.stop_requested = False

    # ------------------------------------------------------------------------------------------------

    def train(self) -> dict:
        """Train until max_steps or max_time; return the last metrics record."""
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
        window = {"loss": 0.0, "norm": 0.0, "steps": 0, "start": time.perf_counter(), "tokens": 0}
        start, elapsed0 = time.perf_counter(), c["elapsed"]
        record = {}
        while not self._done(elapsed0 + time.perf_counter() - start):
            loss, norm = self._train_step()
            if not (math.isfinite(loss) and math.isfinite(norm)):
                self._roll_back(loss, norm)
                window.update(loss=0.0, norm=0.0, steps=0, tokens=0, start=time.perf_counter())
                continue
            window["loss"] += loss
            window["norm"] += norm
            window["steps"] += 1
            window["tokens"] += cfg.seq_len * cfg.batch_size
            c["elapsed"] = elapsed0 + time.perf_counter() - start
            evaluate = c["step"] % cfg.eval_every == 0 or self._done(c["elapsed"])
            if c["step"] % LOG_EVERY == 0 or evaluate:
                record = self._metrics(window, evaluate)
                self._log(record)
                window.update(loss=0.0, norm=0.0, steps=0, tokens=0, start=time.perf_counter())
            self.progress.update(c["step"], cfg.max_steps, c["elapsed"], cfg.max_time, record)
        if window["steps"] or not record.get("valid_loss"):
            record = self._metrics(window, evaluate=True)
            self._log(record)
        self.progress.close()
        return record

    def _train_step(self) -> tuple[float, float]:
        """One optimizer step; returns (loss, gradient norm before clipping)."""
        c, cfg = self.counters, self.config
        x, y = next(self.batcher)
        if self.batcher.reset_state:                       # a new epoch: the streams start again
            self.bptt.reset()
        loss, grads = self.bptt.step(x, y)
        norm = clip_grad_norm(grads, cfg.clip if cfg.clip > 0 else math.inf)
        if not (math.isfinite(loss) and math.isfinite(norm)):
            return loss, norm
        if cfg.clip_value > 0:
            clip_grad_value(grads, cfg.clip_value)
        self.optimizer.lr = self.schedule.lr_at(c["step"]) * c["lr_scale"]
        self.optimizer.step(grads)
        c["step"] += 1
        c["tokens"] += x.size
        return loss, norm

    def _done(self, elapsed: float) -> bool:
        cfg = self.config
        return (self.stop_requested
                or (cfg.max_steps is not None and self.counters["step"] >= cfg.max_steps)
                or (cfg.max_time is not None and elapsed >= cfg.max_time))

    def _metrics(self, window: dict, evaluate: bool) -> dict:
        c = self.counters
        seconds = max(time.perf_counter() - window["start"], 1e-9)
        record = {"step": c["step"], "epoch": self.batcher.epoch,
                  "train_loss": window["loss"] / window["steps"] if window["steps"] else None,
                  "grad_norm": window["norm"] / window["steps"] if window["steps"] else None,
                  "lr": self.schedule.lr_at(c["step"]) * c["lr_scale"],
                  "tokens_per_s": window["tokens"] / seconds, "elapsed": round(c["elapsed"], 3)}
        if evaluate:
            record["valid_loss"] = self.validate()
            self.save()
        return record

    # ------------------------------------------------------------------------------------------------

    def validate(self) -> float:
        """Mean negative log-likelihood (nats/token) over the whole validation stream, no dropout."""
        return evaluate_stream(self.model, self.valid_ids, self.config.batch_size, self.config.seq_len)

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
        self.stop_requested = True
        self.progress.say("stopping after this step; a checkpoint will be written (resume with --resume)")

    # ------------------------------------------------------------------------------------------------
    # Checkpoints.

    def save(self) -> Path:
        arrays = {f"optimizer.{k}": v for k, v in self.optimizer.state_dict()[0].items()}
        arrays.update(self.bptt.state_arrays())
        state = {"counters": self.counters, "optimizer": self.optimizer.state_dict()[1],
                 "batcher": self.batcher.state_dict(), "rng": self.model.rng.bit_generator.state}
        return checkpoint.save(self.run_dir, self.counters["step"], self.model.params, arrays, state)

    def load(self, folder: Path) -> None:
        expected = {k: v.shape for k, v in self.model.params.items()}
        params, arrays, state = checkpoint.load(folder, expected)
        for key, value in params.items():
            self.model.params[key][...] = value          # in place: the optimizer holds these arrays
        opt_arrays = {k[len("optimizer."):]: v for k, v in arrays.items() if k.startswith("optimizer.")}
        self.optimizer.load_state_dict(opt_arrays, state["optimizer"])
        self.bptt.load_state_arrays(arrays, is_tuple=self.model.config.cell == "lstm")
        self.batcher.load_state_dict(state["batcher"])
        self.model.rng.bit_generator.state = state["rng"]
        self.counters.update(state["counters"])
        self._truncate_log(self.counters["step"])

    def _log(self, record: dict) -> None:
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def _truncate_log(self, step: int) -> None:
        """Drop log lines written after ``step`` (an interrupted run logged steps it did not checkpoint)."""
        path = self.run_dir / "metrics.jsonl"
        if path.exists():                                 # a line cut short by kill -9 is dropped too
            lines = path.read_bytes().decode("utf-8", "replace").splitlines()
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


def evaluate_stream(model, ids: np.ndarray, batch_size: int, seq_len: int) -> float:
    """Mean nats/token of ``model`` over every token of ``ids`` exactly once, state carried across batches."""
    total, count, state = 0.0, 0.0, None
    for x, y, mask in eval_batches(ids, batch_size, seq_len):
        nll, n, state = model.evaluate(x, y, state, mask)
        total += nll
        count += n
    return total / count
