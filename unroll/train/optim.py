"""Optimizers, in increasing complexity (learning-rate schedules: train/schedule.py; clipping: train/clip.py).

Every optimizer updates a flat ``params`` dict ``{name: array}`` in place from a ``grads`` dict with the same
keys and shapes. For parameters p, gradient g, step t = 1, 2, ... (``lr`` = η):

    SGD       p ← p - η g
    Momentum  v ← μ v + g;   p ← p - η v                (torch.optim.SGD(momentum=μ), dampening 0)
              nesterov:      p ← p - η (g + μ v)
    Adagrad   m ← m + g²;    p ← p - η g / sqrt(m + ε)   (min-char-rnn, ε = 1e-8 *inside* the root;
                                                          torch.optim.Adagrad uses sqrt(m) + ε, ε = 1e-10)
    RMSprop   s ← α s + (1 - α) g²;   p ← p - η g / (sqrt(s) + ε)     (torch semantics, α = 0.99, ε = 1e-8;
              char-rnn uses α = 0.95). ``centered``: s - ḡ², ḡ ← α ḡ + (1 - α) g.
              ``momentum`` μ > 0: b ← μ b + g / (sqrt(s) + ε);  p ← p - η b.
    Adam      m ← β1 m + (1 - β1) g;  v ← β2 v + (1 - β2) g²;
              p ← p - (η / (1 - β1^t)) m / (sqrt(v) / sqrt(1 - β2^t) + ε)   (torch's order, ε = 1e-8)

Weight decay λ (``weight_decay``, default 0: off), decoupled as in AdamW (Loshchilov & Hutter), on every
parameter given (biases and embeddings too, as torch decays every parameter it is given), with the step's
scheduled rate η (times a parameter's lr_scales factor, as a torch parameter group's own lr):

    SGD       p ← p - η (g + λ p)        torch.optim.SGD(weight_decay=λ): L2 and decoupled decay are one step here
    Adam      p ← p (1 - η λ), then the Adam step above    torch.optim.AdamW(weight_decay=λ)

The other rules refuse it (torch couples it to their moments as L2, which is not decoupled decay). It is a
setting of the run (config.json), not state: the checkpoints' scalars are those of an optimizer without it.

State buffers start at zero and keep the parameters' dtype (float32 stays float32). Updates run through
in-place ufuncs into one scratch buffer per dtype, so a step allocates nothing; Adam's sequence runs as one
compiled pass per parameter on the fused path (unroll/nn/kernels/optim.py, same operations in the same order). Checkpoints:
``state_dict()`` returns ``(arrays, scalars)``: arrays keyed ``"<optimizer>.<buffer>.<param name>"``
(``"adam.m.layer0.lstm.W_h"``) for safetensors, and JSON-able scalars (name, lr, step count, settings).
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from unroll.nn import kernels
from unroll.train.clip import clip_grad_norm, clip_grad_value  # noqa: F401  (their home: train/clip.py)


class Optimizer:
    """Common base: parameter/gradient checks, per-parameter buffers, scratch space, state dicts."""

    name = "optimizer"
    buffers: tuple[str, ...] = ()       # names of the per-parameter state arrays
    settings: tuple[str, ...] = ()      # names of the scalar hyper-parameters saved in checkpoints

    def __init__(self, params: dict, lr: float):
        if not isinstance(params, dict) or not params:
            raise ValueError("params must be a non-empty dict of float arrays")
        for key, p in params.items():
            if not isinstance(p, np.ndarray) or p.dtype not in (np.float32, np.float64):
                raise ValueError(f"params[{key!r}] must be a float32 or float64 array, got {_describe(p)}")
        self.params = params
        self.lr = lr
        self.steps = 0
        self.state = {b: {k: np.zeros_like(p) for k, p in params.items()} for b in self._buffer_names(vars(self))}
        size = {p.dtype: 0 for p in params.values()}
        for p in params.values():
            size[p.dtype] = max(size[p.dtype], p.size)
        self._scratch = {dtype: np.empty(n, dtype) for dtype, n in size.items()}

    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        if not isinstance(value, (int, float, np.floating)) or not value >= 0 or not math.isfinite(value):
            raise ValueError(f"lr must be a finite number >= 0, got {value!r}")
        self._lr = float(value)

    def step(self, grads: dict, lr_scales: dict | None = None) -> None:
        """Update every parameter in place from ``grads`` (same keys and shapes as ``params``).

        lr_scales: {key: s >= 0} or None; parameter ``key`` steps with learning rate s·lr (torch's parameter
        groups; every rule here moves p by an amount proportional to lr, so p ← p + s·Δp). s = 0 freezes it:
        neither the parameter nor its buffers change (the step count, shared by all, still advances).
        """
        if grads.keys() != self.params.keys():
            missing, extra = self.params.keys() - grads.keys(), grads.keys() - self.params.keys()
            raise ValueError(f"grads must have the keys of params: missing {sorted(missing)}, "
                             f"unexpected {sorted(extra)}")
        self.steps += 1
        for key, p in self.params.items():
            g = grads[key]
            if g.shape != p.shape:
                raise ValueError(f"grads[{key!r}] has shape {g.shape} but params[{key!r}] has {p.shape}")
            scale = 1.0 if lr_scales is None else lr_scales.get(key, 1.0)
            if scale == 0.0:
                continue
            t = self._scratch[p.dtype][: p.size].reshape(p.shape)
            if scale == 1.0:
                self._update(key, p, g, t)
                continue
            before = p.copy()
            self._update(key, p, g, t)
            p -= before                                   # Δp of the full learning rate ...
            p *= scale
            p += before                                   # ... scaled: p ← p_before + s·Δp

    def _update(self, key: str, p: np.ndarray, g: np.ndarray, t: np.ndarray) -> None:
        """Update ``p`` in place; ``t`` is scratch space of p's shape and dtype."""
        raise NotImplementedError

    def _buffer_names(self, settings: dict) -> tuple[str, ...]:
        """The state buffers that these settings need."""
        return self.buffers

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """(arrays {"<name>.<buffer>.<param>": array}, scalars {name, lr, steps, settings...})."""
        arrays = {f"{self.name}.{b}.{k}": v for b, bufs in self.state.items() for k, v in bufs.items()}
        scalars = {"name": self.name, "lr": self.lr, "steps": self.steps}
        scalars.update({s: getattr(self, s) for s in self.settings})
        return arrays, scalars

    def load_state_dict(self, arrays: dict, scalars: dict) -> None:
        """Restore buffers (copies of ``arrays``), step count, lr and settings; check everything first."""
        if scalars.get("name") != self.name:
            raise ValueError(f"optimizer state is for {scalars.get('name')!r}, not {self.name!r}")
        known = {"name", "lr", "steps", *self.settings}
        if scalars.keys() != known:
            raise ValueError(f"{self.name} scalars must have the keys {sorted(known)}, got {sorted(scalars)}")
        names = self._buffer_names(scalars)
        expected = {f"{self.name}.{b}.{k}": p for b in names for k, p in self.params.items()}
        if arrays.keys() != expected.keys():
            missing, extra = sorted(expected.keys() - arrays.keys()), sorted(arrays.keys() - expected.keys())
            raise ValueError(f"{self.name} state arrays do not match the parameters: missing {missing}, "
                             f"unexpected {extra}")
        for key, p in expected.items():
            a = np.asarray(arrays[key])
            if a.shape != p.shape or a.dtype != p.dtype:
                raise ValueError(f"optimizer array {key} has shape {a.shape} dtype {a.dtype}, "
                                 f"expected {p.shape} {p.dtype} like its parameter")
        self.state = {b: {k: np.array(arrays[f"{self.name}.{b}.{k}"]) for k in self.params} for b in names}
        for s in self.settings:
            setattr(self, s, scalars[s])
        self.lr, self.steps = scalars["lr"], int(scalars["steps"])


class SGD(Optimizer):
    """p ← p - lr g; with weight_decay λ > 0, p ← p - lr (g + λ p) (torch.optim.SGD's order)."""

    name = "sgd"

    def __init__(self, params: dict, lr: float, weight_decay: float = 0.0):
        super().__init__(params, lr)
        self.weight_decay = _in_range("weight_decay", weight_decay, 0, math.inf)

    def _update(self, key, p, g, t):
        if self.weight_decay:
            np.multiply(p, self.weight_decay, out=t)
            t += g
            t *= self.lr
        else:
            np.multiply(g, self.lr, out=t)
        p -= t


class Momentum(Optimizer):
    """Classical momentum as torch.optim.SGD(momentum=μ): v ← μ v + g; p ← p - lr v (or g + μ v, nesterov)."""

    name = "momentum"
    buffers = ("v",)
    settings = ("momentum", "nesterov")

    def __init__(self, params: dict, lr: float, momentum: float = 0.9, nesterov: bool = False):
        super().__init__(params, lr)
        self.momentum, self.nesterov = _in_range("momentum", momentum, 0, 1), bool(nesterov)

    def _update(self, key, p, g, t):
        v = self.state["v"][key]
        v *= self.momentum
        v += g
        if self.nesterov:
            np.multiply(v, self.momentum, out=t)
            t += g
        else:
            np.copyto(t, v)
        t *= self.lr
        p -= t


class Adagrad(Optimizer):
    """min-char-rnn's Adagrad: mem ← mem + g²; p ← p - lr g / sqrt(mem + eps)."""

    name = "adagrad"
    buffers = ("mem",)
    settings = ("eps",)

    def __init__(self, params: dict, lr: float, eps: float = 1e-8):
        super().__init__(params, lr)
        self.eps = _in_range("eps", eps, 0, math.inf)

    def _update(self, key, p, g, t):
        mem = self.state["mem"][key]
        np.multiply(g, g, out=t)
        mem += t
        np.add(mem, self.eps, out=t)
        np.sqrt(t, out=t)
        np.divide(g, t, out=t)
        t *= self.lr
        p -= t


class RMSprop(Optimizer):
    """torch.optim.RMSprop: s ← α s + (1-α) g²; p ← p - lr g / (sqrt(s) + eps); optional centered, momentum."""

    name = "rmsprop"
    settings = ("alpha", "eps", "momentum", "centered")

    def __init__(self, params: dict, lr: float, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, centered: bool = False):
        self.alpha, self.eps = _in_range("alpha", alpha, 0, 1), _in_range("eps", eps, 0, math.inf)
        self.momentum, self.centered = _in_range("momentum", momentum, 0, 1), bool(centered)
        super().__init__(params, lr)

    def _buffer_names(self, settings):
        centered, momentum = settings["centered"], settings["momentum"]
        return ("square_avg",) + (("grad_avg",) if centered else ()) + (("buf",) if momentum else ())

    def _update(self, key, p, g, t):
        s = self.state["square_avg"][key]
        s *= self.alpha
        np.multiply(g, g, out=t)
        t *= 1.0 - self.alpha
        s += t
        if self.centered:
            ga = self.state["grad_avg"][key]
            ga *= self.alpha
            np.multiply(g, 1.0 - self.alpha, out=t)
            ga += t
            np.multiply(ga, ga, out=t)
            np.subtract(s, t, out=t)                    # s - ḡ²
            np.sqrt(t, out=t)
        else:
            np.sqrt(s, out=t)
        t += self.eps
        np.divide(g, t, out=t)                          # g / (sqrt(s) + eps)
        if self.momentum:
            b = self.state["buf"][key]
            b *= self.momentum
            b += t
            np.multiply(b, self.lr, out=t)
        else:
            t *= self.lr
        p -= t


class Adam(Optimizer):
    """torch.optim.Adam (bias-corrected, eps outside the root), torch.optim.AdamW with weight_decay λ > 0:
    see the module docstring."""

    name = "adam"
    buffers = ("m", "v")
    settings = ("beta1", "beta2", "eps")

    def __init__(self, params: dict, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, lr)
        self.beta1, self.beta2 = _in_range("beta1", beta1, 0, 1), _in_range("beta2", beta2, 0, 1)
        self.eps = _in_range("eps", eps, 0, math.inf)
        self.weight_decay = _in_range("weight_decay", weight_decay, 0, math.inf)

    def step(self, grads: dict, lr_scales: dict | None = None) -> None:
        t = self.steps + 1
        self._step_size = self.lr / (1.0 - self.beta1 ** t)
        self._root_bc2 = math.sqrt(1.0 - self.beta2 ** t)
        self._decay = 1.0 - self.lr * self.weight_decay         # AdamW's p ← p (1 - η λ); 1 exactly when λ = 0
        super().step(grads, lr_scales)

    def _update(self, key, p, g, t):
        m, v = self.state["m"][key], self.state["v"][key]
        if kernels.fused(2) and p.flags.c_contiguous and g.flags.c_contiguous:   # the same sequence, one pass
            c = p.dtype.type                          # scalars in p's dtype, as NumPy's in-place ufuncs use them
            kernels.load("optim").adam(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), c(self.beta1),
                                       c(1.0 - self.beta1), c(self.beta2), c(1.0 - self.beta2), c(self._root_bc2),
                                       c(self.eps), c(self._step_size), c(self._decay))
            return
        if self.weight_decay:
            p *= self._decay
        m *= self.beta1
        np.multiply(g, 1.0 - self.beta1, out=t)
        m += t
        v *= self.beta2
        np.multiply(g, g, out=t)
        t *= 1.0 - self.beta2
        v += t
        np.sqrt(v, out=t)
        t /= self._root_bc2
        t += self.eps                                   # denom = sqrt(v) / sqrt(1 - β2^t) + eps
        np.divide(m, t, out=t)
        t *= self._step_size
        p -= t


OPTIMIZERS = {cls.name: cls for cls in (SGD, Momentum, Adagrad, RMSprop, Adam)}


def options_of(name: str) -> tuple[str, ...]:
    """The keyword options of optimizer ``name`` (``options_of("sgd")`` -> ("weight_decay",))."""
    parameters = inspect.signature(OPTIMIZERS[name].__init__).parameters
    return tuple(p for p in parameters if p not in ("self", "params", "lr"))


DECAYING = tuple(n for n in OPTIMIZERS if "weight_decay" in options_of(n))   # those --weight-decay acts with


def make_optimizer(name: str, params: dict, lr: float, **kw) -> Optimizer:
    """Build an optimizer by name ("sgd", "momentum", "adagrad", "rmsprop", "adam") with its options."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    cls, options = OPTIMIZERS[name], options_of(name)
    unknown = sorted(set(kw) - set(options))
    if unknown:
        raise ValueError(f"{name} has no option {', '.join(unknown)} (options: {', '.join(options) or 'none'})")
    return cls(params, lr, **kw)


# ----------------------------------------------------------------------------------------------------

def _in_range(name: str, value, low: float, high: float, low_open: bool = False) -> float:
    """``value`` as a float in [low, high) (or (low, high] when low_open), else a ValueError."""
    ok = (low < value <= high) if low_open else (low <= value < high)
    if not isinstance(value, (int, float, np.floating)) or isinstance(value, bool) or not ok:
        interval = f"({low}, {high}]" if low_open else f"[{low}, {high})"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
    return float(value)


def _describe(x) -> str:
    return f"dtype {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
