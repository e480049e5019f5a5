"""A language model as an ONNX graph built from the standard ``RNN`` / ``LSTM`` / ``GRU`` operators.

Inputs and outputs (T and N are free dimensions, so a caller can feed any chunk and carry the state)::

    tokens  int64 (T, N)          ->  logits  float32 (T, N, V)
    h0      float32 (L, N, H)     ->  hn      float32 (L, N, H)
    c0      float32 (L, N, H)     ->  cn      float32 (L, N, H)        (lstm only)

The graph: ``Gather`` (embedding) -> per layer ``Slice`` of the state, the recurrent operator, ``Squeeze``
of its num_directions axis -> ``MatMul`` + ``Add`` (readout); the layers' final states are concatenated.

Weights go through ``torch_weights.to_torch`` (PyTorch's layout, where the GRU's update gate z' = 1 - z of
unroll's ``h = (1 - z) h_prev + z n``), then the gate blocks are reordered for ONNX:

    LSTM  torch i, f, g, o  ->  ONNX i, o, f, c         GRU  torch r, z', n  ->  ONNX z, r, h

ONNX's GRU writes ``H = (1 - z) ⊙ h + z ⊙ H_prev``, i.e. its z is PyTorch's z', and
``linear_before_reset = 1`` applies the reset gate after the recurrent product plus R_bh, as unroll and
PyTorch do. ``B`` is [Wb, Rb] = [bias_ih, bias_hh], each reordered like the weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unroll.interop import torch_weights
from unroll.models.language_model import LanguageModel

OPSET = 17
ONNX_OPS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
GATE_ORDER = {"rnn": [0], "lstm": [0, 3, 1, 2], "gru": [1, 0, 2]}     # torch's blocks in ONNX's order


def to_onnx(model: LanguageModel):
    """unroll LanguageModel -> onnx.ModelProto (float32), checked by onnx.checker."""
    onnx, helper, TensorProto = _onnx()
    cfg, stack = model.config, model.stack
    L, H, V, cell = cfg.num_layers, cfg.hidden_size, cfg.vocab_size, cfg.cell
    sd = torch_weights.to_torch(model._stack_params(), stack)
    inits = [_tensor("embed_W", model.params["embed.W"]), _tensor("out_W", model.params["out.W"]),
             _tensor("out_b", model.params["out.b"]), _tensor("axis1", np.array([1], np.int64))]
    nodes = [helper.make_node("Gather", ["embed_W", "tokens"], ["x0"], axis=0)]
    states = ["h"] + (["c"] if cell == "lstm" else [])
    finals = {s: [] for s in states}
    for l in range(L):
        W, R, B = _layer_weights(sd, l, cell, H)
        inits += [_tensor(f"W{l}", W), _tensor(f"R{l}", R), _tensor(f"B{l}", B),
                  _tensor(f"start{l}", np.array([l], np.int64)), _tensor(f"end{l}", np.array([l + 1], np.int64))]
        for s in states:
            nodes.append(helper.make_node("Slice", [f"{s}0", f"start{l}", f"end{l}"], [f"{s}0_l{l}"]))
        attrs = {"hidden_size": H}
        if cell == "gru":
            attrs["linear_before_reset"] = 1
        if cell == "rnn":
            attrs["activations"] = [{"tanh": "Tanh", "relu": "Relu"}[cfg.activation]]
        inputs = [f"x{l}", f"W{l}", f"R{l}", f"B{l}", ""] + [f"{s}0_l{l}" for s in states]
        outputs = [f"y{l}"] + [f"{s}n_l{l}" for s in states]
        nodes.append(helper.make_node(ONNX_OPS[cell], inputs, outputs, **attrs))
        nodes.append(helper.make_node("Squeeze", [f"y{l}", "axis1"], [f"x{l + 1}"]))   # (T, 1, N, H) -> (T, N, H)
        for s in states:
            finals[s].append(f"{s}n_l{l}")
    for s in states:
        nodes.append(helper.make_node("Concat", finals[s], [f"{s}n"], axis=0))
    nodes += [helper.make_node("MatMul", [f"x{L}", "out_W"], ["scores"]),
              helper.make_node("Add", ["scores", "out_b"], ["logits"])]
    state_shape = [L, "N", H]
    graph = helper.make_graph(
        nodes, f"unroll_{cell}_language_model",
        [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["T", "N"])]
        + [helper.make_tensor_value_info(f"{s}0", TensorProto.FLOAT, state_shape) for s in states],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["T", "N", V])]
        + [helper.make_tensor_value_info(f"{s}n", TensorProto.FLOAT, state_shape) for s in states],
        inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="unroll")
    proto.ir_version = min(proto.ir_version, 8)              # IR 8 suffices for opset 17; older runtimes load it
    onnx.checker.check_model(proto, full_check=True)
    return proto


def save_onnx(model: LanguageModel, path: Path) -> Path:
    """Write ``to_onnx(model)`` to ``path``."""
    onnx, _, _ = _onnx()
    onnx.save(to_onnx(model), str(path))
    return Path(path)


def _layer_weights(sd: dict, l: int, cell: str, H: int):
    """ONNX's W (1, G·H, D_l), R (1, G·H, H), B (1, 2·G·H) of layer l from PyTorch's state_dict."""
    order = GATE_ORDER[cell]

    def blocks(a):
        return np.concatenate([a[g * H:(g + 1) * H] for g in order])[None]

    W, R = blocks(sd[f"weight_ih_l{l}"]), blocks(sd[f"weight_hh_l{l}"])
    B = np.concatenate([blocks(sd[f"bias_ih_l{l}"]), blocks(sd[f"bias_hh_l{l}"])], axis=1)
    return W, R, B


def _tensor(name: str, value: np.ndarray):
    from onnx import numpy_helper
    value = np.asarray(value)
    return numpy_helper.from_array(value.astype(np.float32) if value.dtype.kind == "f" else value, name)


def _onnx():
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError:
        raise ValueError("ONNX export needs the onnx package: pip install 'unroll[onnx]'") from None
    return onnx, helper, TensorProto
