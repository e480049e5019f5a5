"""Probabilistic forecasting: an encoder Stack over the context, then a direct or an autoregressive decoder.

A window holds C context and h horizon values of one series, already scaled (z = (y - loc) / scale, the
task's per-window scaling), calendar features c_t (F per step) and the 0/1 observed mask w_t (0 where a
missing value was filled), and covariates: P past ones p_t (observed up to the origin only: never read
at t >= C) and Q future ones f_t (known over the horizon too). Both decoders end in the Gaussian head of
``unroll.nn.likelihood`` (or, ``likelihood="student-t"``, the Student-t head of models/forecast_likelihood.py,
whose a is a pair (a_σ, a_ν): read 2h below as (1+J)h and (2,) as (1+J,), J = 2)::

    direct (multi-horizon, one shot from the last state):
      x_t = [z_t ; c_t ; p_t ; f_t]                  t = 0 .. C-1                    (C, N, 1+F+P+Q)
      y   = Stack(x)                                 h_C = y_{C-1}                   (N, H)
      o   = h_C W_out + b_out                        (N, 2h): μ_{C+k} = o[k], a_{C+k} = o[h+k]
      μ_{C+k} += f_{C+k} W_f[:, 0],  a_{C+k} += f_{C+k} W_f[:, 1]      (Q > 0: the decoder reads step k's f)
      L   = NLL(μ, a; z_{C..C+h-1}, w_{C..C+h-1})

    autoregressive (the seeds' output-fed-back many-to-many, with hidden-to-hidden recurrence too):
      x_t = [z_{t-1} ; c_t ; p_{t-1}·[t-1 < C] ; f_t]  t = 1 .. C+h-1              (C+h-1, N, 1+F+P+Q)
      y   = Stack(x)                                 (C+h-1, N, H)
      o_t = y_t W_out + b_out                        (2,): μ_t = o_t[0], a_t = o_t[1]   predicts z_t
      L   = NLL(μ_t, a_t; z_t, w_t · in_loss_t)      teacher forcing: the true z_{t-1} is the input;
                                                     in_loss_t = 1 on every step ("all", DeepAR) or on
                                                     the horizon only ("horizon")
      free running (forecast): the Stack reads the context, then each step's input is a draw
      ẑ_{t-1} ~ N(μ_{t-1}, σ²_{t-1}) of the previous step: S sample paths give the intervals.

Backward: the head's gradient (∂L/∂μ, ∂L/∂a from the likelihood) goes through the linear output (o = y W
+ b); for the direct decoder it enters the Stack at its last step only, for the autoregressive one at every
step; then the Stack backpropagates through time. The inputs are data, so no gradient leaves x.

A panel's series s may also have a learned embedding e_s = E[s] (M values, ``embedding``), appended to
x_t at every step; its gradient is the Stack's input gradient summed over the steps of s's windows:
∂L/∂E[s] = Σ_{n: s_n = s} Σ_t ∂L/∂x_{t,n}[-M:].

Parameters: the stack's ``layer{l}.{cell}.*``, ``out.W (H, 2h | 2)``, ``out.b (2h | 2,)``, for the direct
decoder with Q > 0 ``future.W (Q, 2)`` (∂L/∂W_f[:, 0] = Σ_{k,n} ∂L/∂μ_{C+k,n} f_{C+k,n}), and with M > 0
``embed.E (S, M)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from unroll.models import common
from unroll.models import forecast_likelihood as FL
from unroll.nn import likelihood as lk
from unroll.nn import ops
from unroll.nn import network as N
from unroll.nn.stack import Stack

NETWORK = N.network_section("ForecasterNetwork", hidden_size=32)     # `--task forecast`'s network defaults
_D = N.defaults(NETWORK)

DECODERS = ("direct", "autoregressive")
AR_LOSS = ("all", "horizon")


class ForecastBatch(NamedTuple):
    z: np.ndarray            # (C+h, N) scaled values (filled where missing)
    cal: np.ndarray          # (C+h, N, F) calendar features (F may be 0)
    observed: np.ndarray     # (C+h, N) 1 where the value was observed
    loc: np.ndarray          # (1, N) the window's scaling: y = loc + scale · z
    scale: np.ndarray        # (1, N)
    exog: np.ndarray | None = None   # (C+h, N, P+Q) standardised covariates: P past, then Q future (None: none)
    series: np.ndarray | None = None  # (N,) int: each window's series (its row of the embedding table E)


class Forecaster:
    """Stack encoder + direct or autoregressive Gaussian decoder; see the module docstring.

    context C, horizon h, features F (calendar), past P and future Q covariates, likelihood ("gaussian" |
    "student-t": models/forecast_likelihood.py, J = 1 | 2 raw outputs besides μ per target), hidden_size H, num_layers, cell ("rnn" | "lstm" | "gru"),
    decoder ("direct" | "autoregressive"), dropout (between layers), ar_loss ("all" | "horizon"), seed,
    dtype (float64 by default: these networks are small)
    """

    def __init__(self, context: int, horizon: int, features: int = 0, past: int = 0, future: int = 0,
                 series: int = 0, embedding: int = 0, hidden_size: int = _D["hidden_size"],
                 num_layers: int = _D["num_layers"], cell: str = _D["cell"], decoder: str = "direct",
                 dropout: float = _D["dropout"], ar_loss: str = "all", likelihood: str = "gaussian", seed: int = 0,
                 dtype=np.float64, **variant):
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
        if likelihood not in FL.HEADS:
            raise ValueError(f"likelihood must be one of {', '.join(FL.HEADS)}, got {likelihood!r}")
        if ar_loss not in AR_LOSS:
            raise ValueError(f"ar_loss must be one of {', '.join(AR_LOSS)}, got {ar_loss!r}")
        if context < 2 or horizon < 1:
            raise ValueError(f"need context >= 2 and horizon >= 1, got {context} and {horizon}")
        net = N.of_keywords(NETWORK, dict(hidden_size=hidden_size, num_layers=num_layers, cell=cell, dropout=dropout),
                            variant, "Forecaster")
        if net.bidirectional:
            raise ValueError("--bidirectional: a forecaster reads the past left to right (a backward direction "
                             "would read the horizon it must forecast)")
        N.check_read(net, embedding=False, padded=False)
        self.network = net
        self.C, self.h, self.F, self.decoder, self.ar_loss = int(context), int(horizon), int(features), decoder, ar_loss
        self.P, self.Q, self.likelihood, self.J = int(past), int(future), likelihood, FL.RAW[likelihood]
        self.S, self.M = (int(series), int(embedding)) if embedding else (0, 0)
        self.dtype = common.check_dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.stack = Stack.from_config(net, 1 + self.F + self.P + self.Q + self.M)
        self.stack_keys = tuple(self.stack.param_shapes())
        self.params = self.stack.init(self.rng, self.dtype)
        K = (1 + self.J) * self.h if decoder == "direct" else 1 + self.J
        self.params["out.W"], self.params["out.b"] = common.linear_init(self.rng, hidden_size, K, self.dtype)
        self.params = N.initialise(net, self.params, self.rng, self.dtype)
        if decoder == "direct" and self.Q:
            self.params["future.W"] = (0.1 * self.rng.standard_normal((self.Q, 2))).astype(self.dtype)
        if self.M:
            self.params["embed.E"] = (0.1 * self.rng.standard_normal((self.S, self.M))).astype(self.dtype)

    @classmethod
    def from_config(cls, network, context: int, horizon: int, **rest) -> "Forecaster":
        """The forecaster of a network section (``--task forecast``'s ``network``); rest: features, decoder ..."""
        return cls(context, horizon, **N.stack_fields(network), **rest)

    # ------------------------------------------------------------------------------------------------

    def inputs(self, batch: ForecastBatch) -> np.ndarray:
        """The Stack's input: direct [z_t ; c_t ; p_t ; f_t] for t < C; autoregressive [z_{t-1} ; c_t ;
        p_{t-1} (0 after the origin) ; f_t] for t >= 1."""
        z, cal = np.asarray(batch.z, self.dtype), np.asarray(batch.cal, self.dtype)
        ex = self._exog(batch)
        if z.shape[0] != self.C + self.h or cal.shape != (*z.shape, self.F):
            raise ValueError(f"a window must hold C + h = {self.C + self.h} steps and {self.F} features, "
                             f"got z {z.shape} and features {cal.shape}")
        past, fut = ex[..., :self.P], ex[..., self.P:]
        T = self.C if self.decoder == "direct" else self.C + self.h - 1
        emb = np.broadcast_to(self._embedded(batch), (T, z.shape[1], self.M))            # e_s at every step
        if self.decoder == "direct":
            return np.concatenate([z[:self.C, :, None], cal[:self.C], past[:self.C], fut[:self.C], emb], axis=2)
        seen = past[:-1].copy()
        seen[self.C:] = 0.0                                       # p_{t-1} for t-1 >= C lies after the origin
        return np.concatenate([z[:-1, :, None], cal[1:], seen, fut[1:], emb], axis=2)

    def _embedded(self, batch: ForecastBatch) -> np.ndarray:
        """(N, M): each window's row of the series embedding E (M = 0: none)."""
        if not self.M:
            return np.zeros((np.shape(batch.z)[1], 0), self.dtype)
        ids = np.asarray(batch.series)
        if batch.series is None or ids.min() < 0 or ids.max() >= self.S:
            raise ValueError(f"a window of a series-embedding forecaster needs its series index in 0..{self.S - 1}")
        return self.params["embed.E"][ids]

    def _exog(self, batch: ForecastBatch) -> np.ndarray:
        T, N = np.shape(batch.z)
        ex = np.zeros((T, N, 0), self.dtype) if batch.exog is None else np.asarray(batch.exog, self.dtype)
        if ex.shape != (T, N, self.P + self.Q):
            raise ValueError(f"a window must hold {self.P} past and {self.Q} future covariates, got {ex.shape[2:]}")
        return ex

    def forward(self, batch: ForecastBatch, training: bool = True):
        """-> μ, a, the targets' (z, w), and the cache; direct: (h, N), autoregressive: (C+h-1, N)."""
        x = self.inputs(batch)
        ys, _, stack_cache = self.stack.forward(x, self._stack_params(), rng=self.rng, training=training)
        stack_cache = (stack_cache, batch.series)
        z, w = np.asarray(batch.z, self.dtype), np.asarray(batch.observed, self.dtype)
        if self.decoder == "direct":
            o = ops.linear_forward(ys[-1], self.params["out.W"], self.params["out.b"])      # (N, (1+J)h)
            mu = o[:, :self.h].T
            a = o[:, self.h:].reshape(len(o), self.J, self.h).transpose(1, 2, 0)           # (J, h, N)
            f = None
            if self.Q:
                f = self._exog(batch)[self.C:, :, self.P:]                                  # (h, N, Q)
                mu = mu + f @ self.params["future.W"][:, 0]
                a = np.concatenate([(a[0] + f @ self.params["future.W"][:, 1])[None], a[1:]])
            return mu, self._raw(a), (z[self.C:], w[self.C:]), (ys, stack_cache, f)
        o = ops.linear_forward(ys, self.params["out.W"], self.params["out.b"])              # (T', N, 2)
        return o[..., 0], self._raw(np.moveaxis(o[..., 1:], -1, 0)), (z[1:], w[1:]), (ys, stack_cache, None)

    def _raw(self, a: np.ndarray) -> np.ndarray:
        """The head's raw outputs besides μ: (…) for the Gaussian, (2, …) for the Student-t."""
        return a[0] if self.J == 1 else a

    def backward(self, dmu: np.ndarray, da: np.ndarray, cache) -> dict:
        ys, (stack_cache, ids), f = cache
        W = self.params["out.W"]
        da = da.reshape((self.J, *dmu.shape))
        if self.decoder == "direct":
            do = np.concatenate([dmu.T, da.transpose(2, 0, 1).reshape(dmu.shape[1], -1)], axis=1)   # o = [μ ; a]
            dy_last, dW, db = ops.linear_backward(do, ys[-1], W)                             # o = h_C W + b
            dys = np.zeros_like(ys)
            dys[-1] = dy_last                                                                # h_C = y_{C-1}
        else:
            do = np.concatenate([dmu[..., None], np.moveaxis(da, 0, -1)], axis=2)           # o_t = [μ_t, a_t]
            dys, dW, db = ops.linear_backward(do, ys, W)                                     # o_t = y_t W + b
        dx, _, grads = self.stack.backward(dys, stack_cache)                                 # y = Stack(x)
        if self.M:                                                                           # x_t ⊃ E[s]
            grads["embed.E"] = np.zeros_like(self.params["embed.E"])
            np.add.at(grads["embed.E"], np.asarray(ids), dx[..., -self.M:].sum(axis=0))
        grads["out.W"], grads["out.b"] = dW, db
        if f is not None:                                                                    # μ += f W_f[:, 0]
            grads["future.W"] = np.stack([np.einsum("knq,kn->q", f, dmu), np.einsum("knq,kn->q", f, da[0])], axis=1)
        return {k: grads[k] for k in self.params}

    def loss_weights(self, w: np.ndarray, horizon_only: bool) -> np.ndarray:
        """The observed mask of the targets, restricted to the horizon when asked (autoregressive)."""
        if self.decoder == "direct" or not horizon_only:
            return w
        keep = np.zeros_like(w)
        keep[self.C - 1:] = 1.0                                  # targets z_1.. : z_C is row C-1
        return w * keep

    def loss_and_grads(self, batch: ForecastBatch, state=None):
        """Teacher-forced NLL and gradients; stateless (state is always None)."""
        mu, a, (z, w), cache = self.forward(batch, training=True)
        loss, dmu, da = FL.nll(self.likelihood, mu, a, z, self.loss_weights(w, self.ar_loss == "horizon"))
        return loss, self.backward(dmu, da, cache), None

    def horizon_nll(self, batch: ForecastBatch) -> tuple[float, float]:
        """(summed NLL over the observed horizon points, their count), no dropout."""
        mu, a, (z, w), _ = self.forward(batch, training=False)
        w = self.loss_weights(w, True)
        if w.sum() == 0:
            return 0.0, 0.0
        loss, _, _ = FL.nll(self.likelihood, mu, a, z, w)
        return loss * float(w.sum()), float(w.sum())

    # ------------------------------------------------------------------------------------------------
    # Forecasting (no dropout): the distribution of z over the horizon.

    def forecast(self, batch: ForecastBatch, samples: int = 200, rng: np.random.Generator | None = None) -> dict:
        """{"mean": (h, N), p: (h, N) for each p in likelihood.Z} in the scaled units z.

        direct: analytic Normal quantiles; autoregressive: ``samples`` free-running paths drawn with ``rng``.
        """
        if self.decoder == "direct":
            mu, a, _, _ = self.forward(batch, training=False)
            return {"mean": mu, **{p: FL.quantile(self.likelihood, mu, a, p) for p in lk.Z}}
        paths = self.sample_paths(batch, samples, rng or np.random.default_rng(0))           # (S, h, N)
        return {"mean": paths.mean(axis=0), **{p: lk.sample_quantile(paths, p) for p in lk.Z}}

    def sample_paths(self, batch: ForecastBatch, samples: int, rng: np.random.Generator) -> np.ndarray:
        """S free-running paths (S, h, N): the Stack reads the context, then each draw is the next input."""
        x = self.inputs(batch)                                                   # (C+h-1, N, 1+F)
        N, params = x.shape[1], self._stack_params()
        x = np.tile(x, (1, samples, 1))                                          # path s of series n: s·N + n
        _, state, _ = self.stack.forward(x[:self.C - 1], params, training=False)   # reads z_0 .. z_{C-2}
        prev = x[self.C - 1, :, 0]                                               # z_{C-1}, observed
        out = np.empty((self.h, samples * N), self.dtype)
        for k in range(self.h):
            t = self.C - 1 + k                                                   # input row of step C + k
            step_in = np.concatenate([prev[:, None], x[t, :, 1:]], axis=1)
            y, state = self.stack.step(step_in, params, state)
            o = y @ self.params["out.W"] + self.params["out.b"]
            prev = out[k] = FL.draw(self.likelihood, o[:, 0], self._raw(o[:, 1:].T), rng)
        return out.reshape(self.h, samples, N).transpose(1, 0, 2)

    def _stack_params(self) -> dict:
        return {k: self.params[k] for k in self.stack_keys}
