"""An exponential moving average of the weights (Polyak averaging): ``unroll train --ema DECAY``.

As TF's ``tf.train.ExponentialMovingAverage(decay, num_updates=step)``, timm's ModelEma and
``torch.optim.swa_utils.AveragedModel`` with an EMA ``avg_fn``: after optimizer step t = 1, 2, ... (the
trainer's step counter after the update), for every parameter θ with average θ̄ (θ̄₀ = θ₀, the initial
weights)::

    d_t = min(d, (1 + t) / (10 + t))          the warm-up of TF's num_updates: early averages forget fast
    θ̄_t = d_t θ̄_{t-1} + (1 - d_t) θ_t         computed as θ̄ ← θ̄ + (1 - d_t)(θ - θ̄), in θ's dtype

so θ̄_k = (Π_{i=1..k} d_i) θ₀ + Σ_{j=1..k} (1 - d_j) (Π_{i=j+1..k} d_i) θ_j. With d = 0.999 the warm-up
keeps d_t below d until t = 8,990: before that the average spans roughly the last (10 + t) / 9 steps
(its time constant 1 / (1 - d_t)), so an early best checkpoint is not dragged back to the initial weights.

The raw weights θ keep training (the optimizer holds them); the average is what the run is: validation,
the best checkpoint's choice, the checkpoints' ``model`` part (model.safetensors, which eval, predict,
serve and ``--init-from`` load) and the final record. A checkpoint of an averaged run keeps the raw
weights in its ``raw`` part (train.safetensors, ``raw.<name>``), so a resumed run continues exactly; a
run without ``--ema`` (d = 0) has no ``raw`` part and is laid out as before.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext

import numpy as np

from unroll.train.state import ParamsState


def decay_at(decay: float, step: int) -> float:
    """d_t = min(d, (1 + t) / (10 + t)) for the update after optimizer step ``step`` (t >= 1)."""
    return min(decay, (1.0 + step) / (10.0 + step))


class WeightAverage:
    """θ̄ of a ``params`` dict (updated in place by the optimizer); ``update(step)`` after every step."""

    def __init__(self, params: dict[str, np.ndarray], decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"--ema must lie in (0, 1) for an average (0: off, no average), got {decay!r}")
        self.params, self.decay = params, float(decay)
        self.average = {k: p.copy() for k, p in params.items()}
        self._held = {k: np.empty_like(p) for k, p in params.items()}   # θ while θ̄ stands in params; scratch
        self.applied = False

    def update(self, step: int) -> None:
        """θ̄ ← θ̄ + (1 - d_t)(θ - θ̄) for every parameter (not while θ̄ stands in params)."""
        if self.applied:
            raise RuntimeError("the weight average cannot update while it stands in the parameters")
        rate = 1.0 - decay_at(self.decay, step)
        for key, p in self.params.items():
            t, a = self._held[key], self.average[key]                     # (nothing is held aside now)
            np.subtract(p, a, out=t)
            t *= p.dtype.type(rate)
            a += t

    def apply(self) -> None:
        """Put θ̄ into the parameters (in place: the optimizer's arrays), keeping θ aside."""
        if not self.applied:
            for key, p in self.params.items():
                np.copyto(self._held[key], p)
                np.copyto(p, self.average[key])
            self.applied = True

    def restore(self) -> None:
        """Put the raw weights θ back into the parameters (after ``apply``; else nothing)."""
        if self.applied:
            for key, p in self.params.items():
                np.copyto(p, self._held[key])
            self.applied = False

    @contextmanager
    def applied_weights(self):
        """θ̄ in the parameters inside the block (validation), θ after it."""
        self.apply()
        try:
            yield
        finally:
            self.restore()

    def parts(self) -> dict:
        """The checkpoint's weight parts: ``model`` the average (what a loaded run uses), ``raw`` θ."""
        return {"model": ParamsState(self.average), "raw": _Raw(self)}


class _Raw(ParamsState):
    """θ for a checkpoint, wherever it stands (in params, or aside while the average is applied)."""

    def __init__(self, average: WeightAverage):
        super().__init__(average.params)
        self.owner = average

    def state_dict(self) -> tuple[dict, dict]:
        return dict(self.owner._held if self.owner.applied else self.params), {}

    def load_state_dict(self, arrays: dict, scalars: dict) -> None:
        missing = sorted(set(self.params) - set(arrays))
        if missing:
            raise KeyError(f"the raw weights lack {', '.join(missing)}")    # checkpoint.load names the file
        self.owner.restore()
        super().load_state_dict(arrays, scalars)


class NoAverage:
    """--ema 0 (off): the parameters are the run's weights; every hook does nothing."""

    def __init__(self, params: dict[str, np.ndarray]):
        self.params = self.average = params

    def update(self, step: int) -> None:
        pass

    def apply(self) -> None:
        pass

    def restore(self) -> None:
        pass

    def applied_weights(self):
        return nullcontext()

    def parts(self) -> dict:
        return {}


def weight_average(params: dict[str, np.ndarray], decay: float) -> WeightAverage | NoAverage:
    """The average of ``--ema DECAY`` (NoAverage for 0: off)."""
    return WeightAverage(params, decay) if decay else NoAverage(params)
