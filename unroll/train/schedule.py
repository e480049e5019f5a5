"""Learning-rate schedules: pure functions of the step (and, for a decay over a time budget, of the training
time used), so a resumed run gets the same rates."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from unroll.train.optim import _in_range


SCHEDULES = ("constant", "exponential", "multistep", "cosine", "linear")
DECAYS = ("cosine", "linear")          # from lr down to min_lr over the run: its steps, or its time budget


@dataclass(frozen=True)
class LRSchedule:
    """lr_at(step, elapsed) for step = 0, 1, ... (the number of updates made before this one) after ``elapsed``
    seconds of training.

    constant     lr
    exponential  lr · decay_rate^n, n = max(0, step - decay_start) // decay_every: the rate drops at steps
                 decay_start + k·decay_every, k = 1, 2, ...  char-rnn (decay 0.97 at the end of every epoch
                 from epoch ``decay_after`` = 10 on) is decay_every = B, decay_start = (decay_after - 1)·B
                 with B batches per epoch.
    multistep    lr · decay_rate^(number of milestones <= step)          (torch MultiStepLR)
    cosine       min_lr + (lr - min_lr) (1 + cos(π p)) / 2
    linear       min_lr + (lr - min_lr) (1 - p)
                 p, the run's progress: min(step, total_steps) / total_steps; with total_steps 0 and a
                 time budget max_time (``--max-time`` without ``--max-steps``), min(elapsed, max_time) /
                 max_time, the fraction of the budget used, so the decay ends at the deadline however
                 fast the steps are (a resumed run continues from the elapsed time in its counters).
    warmup_steps > 0 multiplies the first steps by (step + 1) / warmup_steps, for every kind.

    Its fields are TrainConfig's of the same names (``of(config)``), so every schedule is a set of flags.
    """

    lr: float
    schedule: str = "constant"
    decay_rate: float = 0.97
    decay_every: int = 1
    decay_start: int = 0
    milestones: tuple[int, ...] = ()
    total_steps: int = 0
    min_lr: float = 0.0
    warmup_steps: int = 0
    max_time: float | None = None

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule kind must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        _in_range("decay_rate", self.decay_rate, 0, 1, low_open=True)
        if self.decay_every < 1 or self.decay_start < 0 or self.warmup_steps < 0:
            raise ValueError("decay_every must be >= 1, decay_start and warmup_steps >= 0")
        if list(self.milestones) != sorted(set(self.milestones)):
            raise ValueError(f"milestones must be strictly increasing, got {self.milestones}")
        object.__setattr__(self, "milestones", tuple(self.milestones))
        if self.schedule in DECAYS and self.total_steps < 1 and not (self.max_time or 0) > 0:
            raise ValueError(f"a {self.schedule} schedule needs total_steps >= 1 or a max_time budget, got "
                             f"total_steps {self.total_steps}")
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"min_lr must lie in [0, lr] = [0, {self.lr}], got {self.min_lr}")

    @classmethod
    def of(cls, config) -> "LRSchedule":
        """The schedule that a TrainConfig (or anything with these fields) names, field for field."""
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls)})

    def progress(self, step: int, elapsed: float = 0.0) -> float:
        """The share of the run done, in [0, 1]: by steps (total_steps), else by time (max_time)."""
        if self.total_steps >= 1:
            return min(step, self.total_steps) / self.total_steps
        return min(max(elapsed, 0.0), self.max_time) / self.max_time

    def lr_at(self, step: int, elapsed: float = 0.0) -> float:
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        if self.schedule == "constant":
            lr = self.lr
        elif self.schedule == "exponential":
            n = max(0, step - self.decay_start) // self.decay_every
            lr = self.lr * self.decay_rate ** n
        elif self.schedule == "multistep":
            lr = self.lr * self.decay_rate ** sum(1 for m in self.milestones if m <= step)
        elif self.schedule == "cosine":
            frac = self.progress(step, elapsed)
            lr = self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * frac))
        else:
            lr = self.min_lr + (self.lr - self.min_lr) * (1.0 - self.progress(step, elapsed))
        if step < self.warmup_steps:
            lr *= (step + 1) / self.warmup_steps
        return lr
