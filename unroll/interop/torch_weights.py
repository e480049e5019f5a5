"""Weights between an unroll ``Stack`` and ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` state_dicts.

This is the one place that knows PyTorch's weight layout; import, export and parity tests all use it.
PyTorch's names, for layer k and suffix s = "" (forward) or "_reverse", with G·H rows (G = 1 rnn, 4 lstm,
3 gru) and D_k = D for k = 0, dirs·H deeper::

    weight_ih_l{k}{s}  (G·H, D_k) = W_xᵀ        weight_hh_l{k}{s}  (G·H, H) = W_hᵀ
    bias_ih_l{k}{s}    (G·H,)                    bias_hh_l{k}{s}    (G·H,)

rnn and lstm (gate blocks i, f, g, o on both sides): unroll has one bias, ``b = bias_ih + bias_hh``;
export writes ``b`` into bias_ih and zeros into bias_hh.

gru (blocks r, z, n): PyTorch writes ``h' = (1 - z') n + z' h``, unroll ``h' = (1 - z) h + z n``, so
``z = 1 - z' = σ(-a')`` (since σ(-a) = 1 - σ(a)) and the z block of the weights and biases is negated::

    W_x = [W_ir; -W_iz; W_in]ᵀ      W_h = [W_hr; -W_hz; W_hn]ᵀ
    b   = [b_ir + b_hr, -(b_iz + b_hz), b_in]      b_hn = b_hn (the n block of bias_hh)

Gradients: the import map is linear, θ_unroll = A θ_torch, so ∂L/∂θ_torch = Aᵀ ∂L/∂θ_unroll
(``grads_to_torch``): the gradient of a summed bias goes to both bias_ih and bias_hh, and the z blocks
are negated again. ``grads_from_torch`` reads PyTorch's gradients back into unroll's keys.

The states need no mapping: ``Stack`` keeps PyTorch's (L·dirs, N, H) layout, and (h, c) for lstm.
torch itself is imported only by ``torch_module`` and ``from_torch_module``, never at import time.
"""

from __future__ import annotations

import numpy as np

from unroll.nn import checks
from unroll.nn.stack import Stack

TORCH_CLASSES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
_MODES = {"RNN_TANH": ("rnn", "tanh"), "RNN_RELU": ("rnn", "relu"), "LSTM": ("lstm", "tanh"), "GRU": ("gru", "tanh")}


def torch_names(stack: Stack) -> dict[str, tuple]:
    """PyTorch's state_dict keys for ``stack`` and their shapes."""
    G = _gates(stack)
    H = stack.hidden_size
    return {f"{kind}_{side}_l{l}{s}": shape
            for l, s in _layers(stack)
            for kind, side, shape in (("weight", "ih", (G * H, stack.layer_input_size(l))),
                                      ("weight", "hh", (G * H, H)), ("bias", "ih", (G * H,)), ("bias", "hh", (G * H,)))}


def to_torch(params: dict, stack: Stack) -> dict[str, np.ndarray]:
    """unroll parameters -> a PyTorch state_dict of numpy arrays (wrap with torch.from_numpy to load)."""
    _torch_class(stack)
    dtype = checks.params_of("params", params, stack.param_shapes())
    sign, H, out = _z_sign(stack, dtype), stack.hidden_size, {}
    for (l, s), prefix in zip(_layers(stack), _prefixes(stack)):
        W_x, W_h, b = params[f"{prefix}.W_x"], params[f"{prefix}.W_h"], params[f"{prefix}.b"]
        zeros = np.zeros_like(b)
        out[f"weight_ih_l{l}{s}"] = np.ascontiguousarray((W_x * sign).T)
        out[f"weight_hh_l{l}{s}"] = np.ascontiguousarray((W_h * sign).T)
        out[f"bias_ih_l{l}{s}"] = b * sign
        out[f"bias_hh_l{l}{s}"] = zeros
        if stack.cell == "gru":
            out[f"bias_hh_l{l}{s}"] = np.concatenate([zeros[:2 * H], params[f"{prefix}.b_hn"]])
    return out


def from_torch(state_dict: dict, stack: Stack, dtype=None) -> dict[str, np.ndarray]:
    """A PyTorch state_dict (torch tensors or numpy arrays) -> unroll parameters for ``stack``.

    dtype: float32 | float64, or None to keep the weights' own dtype. A state_dict without biases
    (``bias=False``) imports as zero biases.
    """
    sd = _arrays("state_dict", state_dict, stack, dtype)
    sign, H, params = _z_sign(stack, _dtype_of(sd)), stack.hidden_size, {}
    for (l, s), prefix in zip(_layers(stack), _prefixes(stack)):
        b_ih, b_hh = sd[f"bias_ih_l{l}{s}"], sd[f"bias_hh_l{l}{s}"]
        params[f"{prefix}.W_x"] = np.ascontiguousarray(sd[f"weight_ih_l{l}{s}"].T * sign)
        params[f"{prefix}.W_h"] = np.ascontiguousarray(sd[f"weight_hh_l{l}{s}"].T * sign)
        if stack.cell == "gru":
            params[f"{prefix}.b"] = np.concatenate([b_ih[:2 * H] + b_hh[:2 * H], b_ih[2 * H:]]) * sign
            params[f"{prefix}.b_hn"] = b_hh[2 * H:].copy()
        else:
            params[f"{prefix}.b"] = b_ih + b_hh
    return params


def grads_to_torch(grads: dict, stack: Stack) -> dict[str, np.ndarray]:
    """Gradients w.r.t. unroll's parameters -> gradients w.r.t. PyTorch's (the adjoint of ``from_torch``)."""
    _torch_class(stack)
    dtype = checks.params_of("grads", grads, stack.param_shapes())
    sign, H, out = _z_sign(stack, dtype), stack.hidden_size, {}
    for (l, s), prefix in zip(_layers(stack), _prefixes(stack)):
        db = grads[f"{prefix}.b"] * sign
        out[f"weight_ih_l{l}{s}"] = np.ascontiguousarray((grads[f"{prefix}.W_x"] * sign).T)
        out[f"weight_hh_l{l}{s}"] = np.ascontiguousarray((grads[f"{prefix}.W_h"] * sign).T)
        out[f"bias_ih_l{l}{s}"] = db                           # b = bias_ih + ...: both sides get ∂L/∂b
        out[f"bias_hh_l{l}{s}"] = db.copy()
        if stack.cell == "gru":                                # ... except the n block of bias_hh, which is b_hn
            out[f"bias_hh_l{l}{s}"] = np.concatenate([db[:2 * H], grads[f"{prefix}.b_hn"]])
    return out


def grads_from_torch(torch_grads: dict, stack: Stack, dtype=None) -> dict[str, np.ndarray]:
    """PyTorch's gradients (keys as in its state_dict) -> gradients w.r.t. unroll's parameters."""
    g = _arrays("torch_grads", torch_grads, stack, dtype)
    sign, H, out = _z_sign(stack, _dtype_of(g)), stack.hidden_size, {}
    for (l, s), prefix in zip(_layers(stack), _prefixes(stack)):
        out[f"{prefix}.W_x"] = np.ascontiguousarray(g[f"weight_ih_l{l}{s}"].T * sign)
        out[f"{prefix}.W_h"] = np.ascontiguousarray(g[f"weight_hh_l{l}{s}"].T * sign)
        out[f"{prefix}.b"] = g[f"bias_ih_l{l}{s}"] * sign      # ∂L/∂b = ∂L/∂bias_ih (= ∂L/∂bias_hh where summed)
        if stack.cell == "gru":
            out[f"{prefix}.b_hn"] = g[f"bias_hh_l{l}{s}"][2 * H:].copy()
    return out


def torch_module(stack: Stack, params: dict | None = None):
    """A ``torch.nn.RNN | LSTM | GRU`` (time-major) configured like ``stack``, holding ``params`` if given."""
    import torch

    cls = getattr(torch.nn, _torch_class(stack))
    kwargs = dict(input_size=stack.input_size, hidden_size=stack.hidden_size, num_layers=stack.num_layers,
                  bidirectional=stack.bidirectional, dropout=stack.dropout, batch_first=False)
    if stack.cell == "rnn":
        kwargs["nonlinearity"] = stack.activation
    module = cls(**kwargs)
    if params is not None:
        dtype = checks.params_of("params", params, stack.param_shapes())
        module = module.to(torch.float64 if dtype == np.float64 else torch.float32)
        module.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch(params, stack).items()})
    return module


def from_torch_module(module, dtype=None) -> tuple[Stack, dict]:
    """A ``torch.nn.RNN | LSTM | GRU`` -> (an equivalent Stack, its parameters)."""
    mode = getattr(module, "mode", None)
    if mode not in _MODES:
        raise ValueError(f"module must be a torch.nn.RNN, LSTM or GRU, got {type(module).__name__}")
    if getattr(module, "proj_size", 0):
        raise ValueError(f"an LSTM with proj_size={module.proj_size} has no unroll equivalent")
    cell, activation = _MODES[mode]
    stack = Stack(cell, module.input_size, module.hidden_size, module.num_layers,
                  bidirectional=module.bidirectional, dropout=float(module.dropout), activation=activation)
    return stack, from_torch(module.state_dict(), stack, dtype)


# ----------------------------------------------------------------------------------------------------
# Helpers.

def _torch_class(stack: Stack) -> str:
    if stack.cell not in TORCH_CLASSES:
        raise ValueError(f"cell {stack.cell!r} has no torch.nn equivalent (only {', '.join(TORCH_CLASSES)})")
    return TORCH_CLASSES[stack.cell]


def _gates(stack: Stack) -> int:
    return {"RNN": 1, "LSTM": 4, "GRU": 3}[_torch_class(stack)]


def _layers(stack: Stack) -> list[tuple[int, str]]:
    """(layer, torch suffix) in layer, direction order."""
    return [(l, "_reverse" if d else "") for l in range(stack.num_layers) for d in range(stack.dirs)]


def _prefixes(stack: Stack) -> list[str]:
    return [stack.prefix(l, d) for l in range(stack.num_layers) for d in range(stack.dirs)]


def _z_sign(stack: Stack, dtype) -> np.ndarray:
    """(G·H,) +1 everywhere, -1 on the GRU's z block (z = 1 - z'), in ``dtype``."""
    G, H = _gates(stack), stack.hidden_size
    sign = np.ones(G * H, dtype)
    if stack.cell == "gru":
        sign[H:2 * H] = -1.0
    return sign


def _arrays(name: str, state_dict: dict, stack: Stack, dtype) -> dict[str, np.ndarray]:
    """Convert a state_dict to numpy, check its keys and shapes; missing biases (bias=False) become zeros."""
    if not isinstance(state_dict, dict):
        raise ValueError(f"{name} must be a dict of arrays or tensors, got {type(state_dict).__name__}")
    expected = torch_names(stack)
    unexpected = sorted(set(state_dict) - set(expected))
    if unexpected:
        raise ValueError(f"{name} has keys {', '.join(unexpected)} that {stack!r} does not have")
    arrays = {k: _to_numpy(v) for k, v in state_dict.items()}
    if dtype is None:
        dtype = next(iter(arrays.values())).dtype if arrays else np.float32
    if np.dtype(dtype) not in checks.FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
    biases = [k for k in expected if k.startswith("bias")]
    if not any(k in arrays for k in biases):
        arrays |= {k: np.zeros(expected[k], dtype) for k in biases}
    missing = [k for k in expected if k not in arrays]
    if missing:
        raise ValueError(f"{name} is missing {', '.join(missing)}")
    out = {}
    for k, shape in expected.items():
        if arrays[k].shape != shape:
            raise ValueError(f"{name}['{k}'] must have shape {shape}, got {arrays[k].shape}")
        out[k] = arrays[k].astype(dtype, copy=False)
    return out


def _dtype_of(arrays: dict) -> np.dtype:
    return next(iter(arrays.values())).dtype


def _to_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):                               # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    return np.asarray(value)
