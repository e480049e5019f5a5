"""Initialisers for recurrent weights, usable on any params dict (a cell's or a model's flat one).

Each function returns a **new** dict (the arrays it does not touch are shared, the ones it sets are new),
drawing from an explicit ``np.random.Generator``. ``keys`` names the parameters to set; a key matches a
parameter called exactly that or ending in ``"." + key``, so ``keys=("W_h",)`` reaches ``"W_h"`` in a
cell's dict and ``"layer0.lstm.W_h"``, ``"layer1.lstm.W_h"`` in a model's.

Gated cells keep their gates side by side in one matrix: LSTM ``W_h (H, 4H)`` (blocks i, f, g, o), GRU
``W_h (H, 3H)`` (r, z, n). A matrix whose column count is a multiple k of its hidden size is treated as k
blocks of H columns, and every block is initialised on its own (an orthogonal LSTM W_h is four orthogonal
H×H matrices, as PyTorch users get from ``orthogonal_`` on each gate's slice). The hidden size H is read from
the sibling ``W_h`` (same prefix); a matrix with no such sibling is one block.

- ``gaussian``:   N(0, std²) entries (Le et al. 2015 draw IRNN input weights with std 0.001).
- ``xavier``:     Glorot & Bengio 2010, uniform(±gain·sqrt(6 / (fan_in + fan_out))) per block, with
                  fan_out the block width: on a one-block matrix, the bound ``torch.nn.init.xavier_uniform_`` uses.
- ``orthogonal``: Saxe et al. 2014, QR of a Gaussian matrix with the signs of R's diagonal folded into Q,
                  times ``gain``; every singular value is ``gain``, so ‖W_hᵏ‖₂ = gainᵏ exactly.
- ``identity``:   the IRNN of Le, Jaitly & Hinton 2015: ``W_h = scale·I``, ``b = 0``, used with ReLU units.
                  With the input weights small, h_t ≈ h_{t-1} at the start, and ∂h_t/∂h_k = I on active units.
- ``lstm_forget_bias``: sets the forget-gate block (the second, order i, f, g, o) of LSTM biases, so
                  f_t ≈ sigmoid(value) and the cell state is kept by default (Gers et al. 2000,
                  Jozefowicz et al. 2015).
"""

from __future__ import annotations

import numpy as np


def draw_uniform(shapes: dict[str, tuple], hidden_size: int, rng: np.random.Generator, dtype=np.float32,
                 scales: dict[str, float] | None = None) -> dict:
    """Every cell's default: each parameter ~ uniform(-1/sqrt(H), 1/sqrt(H)) like PyTorch's, drawn in the
    order of ``shapes`` (a cell's ``param_shapes(D, H)``), times ``scales[name]`` where given.

    Returns {name: array of shapes[name]} in ``dtype``.
    """
    bound = 1.0 / np.sqrt(hidden_size)
    scales = scales or {}
    return {name: (scales.get(name, 1.0) * rng.uniform(-bound, bound, size=shape)).astype(dtype)
            for name, shape in shapes.items()}


def matching(params: dict, keys) -> list[str]:
    """Names in ``params`` equal to one of ``keys`` or ending in "." + one of them."""
    keys = (keys,) if isinstance(keys, str) else tuple(keys)
    return [name for name in params if any(name == k or name.endswith("." + k) for k in keys)]


def gaussian(params: dict, rng: np.random.Generator, std: float = 0.001, keys=("W_x", "W_h")) -> dict:
    """Entries of the matched parameters ~ N(0, std²)."""
    out = dict(params)
    for name in _require(params, keys):
        out[name] = (std * rng.standard_normal(params[name].shape)).astype(params[name].dtype)
    return out


def xavier(params: dict, rng: np.random.Generator, gain: float = 1.0, keys=("W_x", "W_h")) -> dict:
    """Glorot-uniform per gate block: U(±gain·sqrt(6 / (fan_in + fan_out))), fan_out the block width."""
    out = dict(params)
    for name in _require(params, keys):
        W = params[name]
        _matrix(name, W)
        width = _block_width(params, name)
        bound = gain * np.sqrt(6.0 / (W.shape[0] + width))
        out[name] = rng.uniform(-bound, bound, size=W.shape).astype(W.dtype)
    return out


def orthogonal(params: dict, rng: np.random.Generator, gain: float = 1.0, keys=("W_h",)) -> dict:
    """Each gate block an orthogonal matrix times gain (semi-orthogonal when it is not square)."""
    out = dict(params)
    for name in _require(params, keys):
        W = params[name]
        _matrix(name, W)
        width = _block_width(params, name)
        blocks = [gain * orthogonal_matrix(W.shape[0], width, rng) for _ in range(W.shape[1] // width)]
        out[name] = np.concatenate(blocks, axis=1).astype(W.dtype)
    return out


def identity(params: dict, scale: float = 1.0, keys=("W_h",), bias_keys=("b",)) -> dict:
    """IRNN: every square block of the matched matrices = scale·I; the biases beside them set to 0."""
    out = dict(params)
    for name in _require(params, keys):
        W = params[name]
        _matrix(name, W)
        width = _block_width(params, name)
        if W.shape[0] != width:
            raise ValueError(f"identity needs square blocks, but {name} is {W.shape} with blocks of {width} columns")
        out[name] = np.tile(scale * np.eye(width, dtype=W.dtype), (1, W.shape[1] // width))
        prefix = name[: -len("W_h")] if name.endswith("W_h") else None
        for b in bias_keys:
            if prefix is not None and prefix + b in params:
                out[prefix + b] = np.zeros_like(params[prefix + b])
    return out


def lstm_forget_bias(params: dict, value: float = 1.0, keys=("b",)) -> dict:
    """Set the forget block [H:2H] of every matched LSTM bias (4H,) to ``value``, the rest unchanged."""
    out = dict(params)
    for name in _require(params, keys):
        b = params[name]
        if b.ndim != 1 or b.shape[0] % 4:
            raise ValueError(f"{name} must be an LSTM bias of shape (4H,), got {b.shape}")
        H = b.shape[0] // 4
        new = b.copy()
        new[H:2 * H] = value
        out[name] = new
    return out


# Names usable from the CLI (--init NAME[:VALUE]) and LanguageModel(init=...): what each sets.
INIT_NAMES = ("default", "gaussian", "xavier", "orthogonal", "identity", "uniform")
RECURRENT_MATRICES = ("W_x", "W_h", "W_skip", "W_s") + tuple(f"W_{j}" for j in range(1, 10)) \
    + tuple(f"V_{j}" for j in range(1, 10))


def by_name(params: dict, spec: str, rng: np.random.Generator, forget_bias: float | None = None) -> dict:
    """Initialise a cell's or a model's params by name: ``spec`` is NAME or NAME:VALUE.

    - ``default``:     the cells' own (PyTorch's uniform(±1/sqrt(H)), LSTM forget bias 1): nothing changes
    - ``gaussian[:S]``: every recurrent-layer matrix ~ N(0, S²), S = 1/sqrt(H) by default (σ_max(W_h) ≈ 2 then,
                        the edge between vanishing and exploding; seed 003 warns that a wrong scale explodes
                        or vanishes, which ``unroll diagnose`` draws)
    - ``xavier``:      Glorot-uniform per gate block on every recurrent-layer matrix
    - ``orthogonal``:  W_h orthogonal per gate block (every singular value 1); the rest unchanged
    - ``identity[:S]``: IRNN: W_h = I, b = 0 (Le et al. 2015, with relu units); with S also every W_x ~ N(0, S²)
                        (their adding-problem setting is ``identity:0.001`` with ``--activation relu``)
    - ``uniform:S``:   every parameter the cells hold ~ uniform(-S, S), biases included (Zaremba et al. 2014
                       use S = 0.1 or 0.05; a model's --init-scale does this to every parameter)

    forget_bias: set every LSTM bias's forget block to this value afterwards (the cells' default is 1).
    Recurrent-layer matrices are the keys ending in W_x, W_h, W_skip, W_s, W_j, V_j; a model's ``embed.W``,
    ``out.W`` and ``out.b`` are never touched. returns a new dict.
    """
    name, value = parse_spec(spec)
    matrices = [k for k in matching(params, RECURRENT_MATRICES) if params[k].ndim == 2]
    if not matrices:
        raise ValueError(f"init {spec!r}: no recurrent weight matrix among the params ({', '.join(params)})")
    out = dict(params)
    if name == "gaussian":
        for k in matrices:
            std = value if value is not None else 1.0 / np.sqrt(_hidden_size(params, k))
            out[k] = (std * rng.standard_normal(params[k].shape)).astype(params[k].dtype)
    elif name == "xavier":
        out = xavier(params, rng, keys=tuple(matrices))
    elif name == "orthogonal":
        out = orthogonal(params, rng, keys=("W_h",))
    elif name == "identity":
        out = identity(params, keys=("W_h",))
        if value is not None:
            out = gaussian(out, rng, std=value, keys=("W_x",))
    elif name == "uniform":
        cell_keys = [k for k in params if k not in ("embed.W", "out.W", "out.b")]
        for k in cell_keys:
            out[k] = rng.uniform(-value, value, size=params[k].shape).astype(params[k].dtype)
    if forget_bias is not None:
        lstm_biases = _lstm_biases(params)
        if not lstm_biases:
            raise ValueError("forget_bias applies to LSTM cells only: these params hold no LSTM bias")
        out = lstm_forget_bias(out, forget_bias, keys=tuple(lstm_biases))
    return out


def parse_spec(spec: str) -> tuple[str, float | None]:
    """'uniform:0.1' -> ('uniform', 0.1); checks the name and the value."""
    name, _, raw = str(spec).partition(":")
    if name not in INIT_NAMES:
        raise ValueError(f"init must be one of {', '.join(INIT_NAMES)} (gaussian:S, identity:S and uniform:S take a "
                         f"scale), "
                         f"got {spec!r}")
    if not raw:
        if name == "uniform":
            raise ValueError("init uniform needs its scale: uniform:S, e.g. uniform:0.1")
        return name, None
    if name not in ("gaussian", "identity", "uniform"):
        raise ValueError(f"init {name} takes no value, got {spec!r}")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"init {name}:S needs a number S > 0, got {raw!r}") from None
    if not value > 0 or not np.isfinite(value):
        raise ValueError(f"init {name}:S needs a number S > 0, got {raw!r}")
    return name, value


def _hidden_size(params: dict, name: str) -> int:
    """H of the layer that holds ``name``: the row count of its sibling W_h, W_skip or W_s."""
    prefix = name[: name.rfind(".") + 1]
    for sibling in ("W_h", "W_skip", "W_s"):
        if prefix + sibling in params:
            return params[prefix + sibling].shape[0]
    return params[name].shape[0]


def _lstm_biases(params: dict) -> tuple[str, ...]:
    """The LSTM biases (4H,): "b" of an LSTM cell's own dict, or "layer{l}.lstm[_reverse].b" in a flat one."""
    W_h = params.get("W_h")
    own = W_h is not None and W_h.ndim == 2 and W_h.shape[1] == 4 * W_h.shape[0] and "b" in params
    return ("b",) if own else tuple(k for k in params if k.endswith((".lstm.b", ".lstm_reverse.b")))


def orthogonal_matrix(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """A (rows, cols) float64 matrix with orthonormal columns (rows >= cols) or rows (rows < cols)."""
    A = rng.standard_normal((max(rows, cols), min(rows, cols)))
    Q, R = np.linalg.qr(A)
    Q *= np.sign(np.diag(R))                                   # unique Q, Haar-distributed
    return Q if rows >= cols else Q.T


def _block_width(params: dict, name: str) -> int:
    """Width H of one gate block: the row count of the sibling W_h when it divides the column count."""
    prefix = name[: name.rfind(".") + 1]
    sibling = params.get(prefix + "W_h")
    cols = params[name].shape[1]
    if sibling is not None and sibling.ndim == 2 and cols % sibling.shape[0] == 0:
        return sibling.shape[0]
    return cols


def _matrix(name: str, W: np.ndarray):
    if W.ndim != 2:
        raise ValueError(f"{name} must be a matrix, got shape {W.shape}")


def _require(params: dict, keys) -> list[str]:
    names = matching(params, keys)
    if not names:
        raise ValueError(f"no parameter matches {keys!r}; the params have {', '.join(params)}")
    return names


__all__ = ["by_name", "INIT_NAMES", "draw_uniform", "gaussian", "xavier", "orthogonal", "identity", "lstm_forget_bias", "orthogonal_matrix", "matching"]
