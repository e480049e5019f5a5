"""The one state protocol of everything a checkpoint holds.

Every component of a checkpoint (the model's parameters, the optimizer, the batches, the carried
recurrent state, the RNG, the counters) exposes::

    state_dict() -> (arrays, scalars)       arrays: {name: np.ndarray} (safetensors); scalars: JSON-able dict
    load_state_dict(arrays, scalars)        restore exactly; a one-line ValueError when it does not fit

and ``checkpoint.save`` / ``checkpoint.load`` store them by component name. The optimizer and the batches
implement it themselves; this module adapts the rest: a parameter dict, a ``np.random.Generator``, the
trainer's counters, and a carried state of any nesting (``save_tree`` / ``load_tree``: None, arrays,
tuples, lists and str-keyed dicts, e.g. an LSTM's (h, c) or truncated BPTT's state and history).
"""

from __future__ import annotations

import numpy as np


class ParamsState:
    """A model's ``params`` dict: restored in place (the optimizer holds these very arrays)."""

    def __init__(self, params: dict[str, np.ndarray]):
        self.params = params

    def state_dict(self) -> tuple[dict, dict]:
        return dict(self.params), {}

    def load_state_dict(self, arrays: dict, scalars: dict) -> None:
        for key, value in arrays.items():
            self.params[key][...] = value


class RNGState:
    """A ``np.random.Generator``'s bit-generator state (scalars only)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def state_dict(self) -> tuple[dict, dict]:
        return {}, dict(self.rng.bit_generator.state)

    def load_state_dict(self, arrays: dict, scalars: dict) -> None:
        self.rng.bit_generator.state = scalars


class Counters(dict):
    """The trainer's counters (step, tokens, elapsed, learning-rate scale, NaN retries, ...)."""

    def state_dict(self) -> tuple[dict, dict]:
        return {}, dict(self)

    def load_state_dict(self, arrays: dict, scalars: dict) -> None:
        self.update(scalars)


class CarriedState:
    """The recurrent state one training step hands to the next (None for stateless tasks)."""

    def __init__(self, value=None):
        self.value = value

    def state_dict(self) -> tuple[dict, dict]:
        arrays, spec = save_tree(self.value)
        return arrays, {"tree": spec}

    def load_state_dict(self, arrays: dict, scalars: dict) -> None:
        self.value = load_tree(arrays, scalars.get("tree"))


def save_tree(tree, prefix: str = "") -> tuple[dict[str, np.ndarray], object]:
    """(arrays named by their path, a JSON spec of the nesting) of None / array / tuple / list / dict."""
    if tree is None:
        return {}, None
    if isinstance(tree, np.ndarray):
        return {prefix or "value": tree}, "array"
    if isinstance(tree, (tuple, list)):
        arrays, specs = {}, []
        for i, item in enumerate(tree):
            a, s = save_tree(item, f"{prefix}.{i}" if prefix else str(i))
            arrays.update(a)
            specs.append(s)
        return arrays, {"tuple" if isinstance(tree, tuple) else "list": specs}
    if isinstance(tree, dict):
        arrays, specs = {}, {}
        for key, item in tree.items():
            a, s = save_tree(item, f"{prefix}.{key}" if prefix else str(key))
            arrays.update(a)
            specs[key] = s
        return arrays, {"dict": specs}
    raise ValueError(f"a carried state holds None, arrays, tuples, lists and dicts, not {type(tree).__name__}")


def load_tree(arrays: dict[str, np.ndarray], spec, prefix: str = ""):
    """Inverse of ``save_tree``."""
    if spec is None:
        return None
    if spec == "array":
        name = prefix or "value"
        if name not in arrays:
            raise ValueError(f"the checkpoint's carried state lacks the array {name}")
        return arrays[name]
    (kind, items), = spec.items()
    if kind in ("tuple", "list"):
        values = [load_tree(arrays, s, f"{prefix}.{i}" if prefix else str(i)) for i, s in enumerate(items)]
        return tuple(values) if kind == "tuple" else values
    return {k: load_tree(arrays, s, f"{prefix}.{k}" if prefix else str(k)) for k, s in items.items()}
