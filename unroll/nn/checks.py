"""Argument checks shared by the engine's public functions.

Every public function of ``unroll.nn`` validates its arguments here, so that bad input fails at the
function the user called, with a one-line ``ValueError`` that names the argument and what was expected,
never with a NumPy broadcasting error from deep inside a time loop.
"""

from __future__ import annotations

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def float_array(name: str, value, shape: tuple, dtype=None) -> np.ndarray:
    """Check that ``value`` is a float32/float64 array of ``shape``.

    ``shape`` holds ints for fixed sizes and strings (``"T"``, ``"N"`` ...) for free ones; the error
    message prints the expected shape in those letters. If ``dtype`` is given the array must have it.
    """
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name} must be a numpy array of shape {_fmt(shape)}, got {type(value).__name__}")
    if value.dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got dtype {value.dtype}")
    if dtype is not None and value.dtype != dtype:
        raise ValueError(f"{name} has dtype {value.dtype} but the parameters are {np.dtype(dtype)}")
    if value.ndim != len(shape) or any(isinstance(s, int) and s != v for s, v in zip(shape, value.shape)):
        raise ValueError(f"{name} must have shape {_fmt(shape)}, got {value.shape}")
    return value


def params_of(name: str, params: dict, expected: dict[str, tuple]) -> np.dtype:
    """Check a cell's parameter dict against ``expected`` shapes; return the common dtype."""
    if not isinstance(params, dict):
        raise ValueError(f"{name} must be a dict of arrays, got {type(params).__name__}")
    missing = [k for k in expected if k not in params]
    if missing:
        raise ValueError(f"{name} is missing {', '.join(missing)} (expected keys {', '.join(expected)})")
    dtype = params[next(iter(expected))].dtype
    for key, shape in expected.items():
        float_array(f"{name}['{key}']", params[key], shape, dtype)
    return dtype


def sequence_inputs(x, params, param_shapes, hidden_key: str = "W_h") -> tuple[int, int, int, np.dtype]:
    """Validate a cell's params (against ``param_shapes(D, H)``) and its input x (T, N, D).

    H is the row count of ``params[hidden_key]`` (an (H, ·) matrix).
    returns T, N, H and the parameters' dtype; the cell checks its own state0 layout.
    """
    H = params[hidden_key].shape[0] if isinstance(params, dict) and hidden_key in params else "H"
    dtype = params_of("params", params, param_shapes("D", H))
    float_array("x", x, ("T", "N", params["W_x"].shape[0]), dtype)
    T, N, _ = x.shape
    return T, N, H, dtype


def mask_array(mask, T: int, N: int, dtype) -> np.ndarray | None:
    """Check a (T, N) mask of real steps and return it as a (T, N, 1) float array, or None.

    Each column must be a prefix of ones followed by zeros (a sequence's real steps come first), and
    every sequence must have at least one real step.
    """
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != (T, N):
        raise ValueError(f"mask must have shape (T, N) = ({T}, {N}), got {mask.shape}")
    if not np.all((mask == 0) | (mask == 1)):
        raise ValueError("mask must hold only 0 and 1 (or False and True)")
    as_bool = mask.astype(bool)
    if np.any(as_bool[1:] & ~as_bool[:-1]):
        bad = int(np.argmax(np.any(as_bool[1:] & ~as_bool[:-1], axis=0)))
        raise ValueError(f"mask column {bad} is not a prefix of ones: padding must come after the real steps")
    if not np.all(as_bool[0]):
        bad = int(np.argmin(as_bool[0]))
        raise ValueError(f"mask column {bad} has no real step: every sequence needs length >= 1")
    return as_bool.astype(dtype)[:, :, None]


def _fmt(shape: tuple) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
