"""A language model as a torch state_dict: export to safetensors, import into a run folder.

The torch network is ``torch.nn.Embedding`` + ``torch.nn.RNN | LSTM | GRU`` (time-major) +
``torch.nn.Linear``, held in a module with the attributes ``embed``, ``rnn`` and ``out``, so the
state_dict's keys are (docs/interop.md rebuilds it in a few lines)::

    embed.weight          (V, E)      = unroll's embed.W
    rnn.weight_ih_l{k}    (G·H, D_k)  ... every key of torch_weights.torch_names, prefixed "rnn."
    out.weight            (V, H)      = out.Wᵀ
    out.bias              (V,)        = out.b

The recurrent weights go through ``torch_weights.to_torch`` / ``from_torch`` (gate order, the GRU's z sign,
the summed biases). Files are safetensors only (never pickle); the architecture travels in the file's
metadata under the key ``unroll`` (a JSON ModelConfig), so ``import_model`` needs nothing but the file
and a vocabulary. A state_dict written by torch without that metadata is read from its shapes: V and E from
embed.weight, H from weight_hh_l0, the cell from G = rows / H (1 rnn, 3 gru, 4 lstm), the layers from the
keys; an RNN's nonlinearity cannot be seen in its weights, so it comes from ``activation``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_bytes, save_file

from unroll.config import BPTTConfig, CorpusConfig, ModelConfig, TrainConfig, to_dict
from unroll.data.vocab import CharVocab, WordVocab, vocab_from_json
from unroll.interop import torch_weights
from unroll.models.language_model import LanguageModel

CELL_OF_GATES = {1: "rnn", 4: "lstm", 3: "gru"}


def to_state_dict(model: LanguageModel) -> dict[str, np.ndarray]:
    """unroll LanguageModel -> the torch state_dict above, as numpy arrays in the model's dtype."""
    p = model.params
    recurrent = torch_weights.to_torch(model._stack_params(), model.stack)
    return {"embed.weight": p["embed.W"].copy(), **{f"rnn.{k}": v for k, v in recurrent.items()},
            "out.weight": np.ascontiguousarray(p["out.W"].T), "out.bias": p["out.b"].copy()}


def from_state_dict(state_dict: dict, activation: str = "tanh", dropout: float = 0.0) -> LanguageModel:
    """A torch state_dict of the shape above (numpy arrays or tensors) -> a float32 LanguageModel."""
    sd = {k: np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v) for k, v in state_dict.items()}
    config = infer_config(sd, activation, dropout)
    model = LanguageModel.from_config(config)
    rnn = {k[len("rnn."):]: v for k, v in sd.items() if k.startswith("rnn.")}
    model.params.update(torch_weights.from_torch(rnn, model.stack, np.float32))
    V, H = config.vocab_size, config.hidden_size
    model.params["embed.W"] = _shaped(sd, "embed.weight", (V, model.stack.input_size)).astype(np.float32)
    model.params["out.W"] = np.ascontiguousarray(_shaped(sd, "out.weight", (V, H)).T, dtype=np.float32)
    model.params["out.b"] = _shaped(sd, "out.bias", (V,)).astype(np.float32)
    return model


def infer_config(sd: dict, activation: str = "tanh", dropout: float = 0.0) -> ModelConfig:
    """The ModelConfig of a state_dict, read from its keys and shapes."""
    unexpected = sorted(k for k in sd if k not in ("embed.weight", "out.weight", "out.bias") and not k.startswith("rnn."))
    if unexpected:
        raise ValueError(f"state_dict has keys {', '.join(unexpected[:5])} outside embed.*, rnn.*, out.* "
                         "(see docs/interop.md for the expected module)")
    for key in ("embed.weight", "rnn.weight_hh_l0", "rnn.weight_ih_l0"):
        if key not in sd:
            raise ValueError(f"state_dict is missing {key}")
    embed, w_hh = sd["embed.weight"], sd["rnn.weight_hh_l0"]
    if embed.ndim != 2 or w_hh.ndim != 2 or w_hh.shape[1] == 0:
        raise ValueError(f"state_dict: embed.weight {embed.shape} and rnn.weight_hh_l0 {w_hh.shape} must be matrices")
    H = w_hh.shape[1]
    gates, rest = divmod(w_hh.shape[0], H)
    if rest or gates not in CELL_OF_GATES:
        raise ValueError(f"state_dict: rnn.weight_hh_l0 has shape {w_hh.shape}; its rows must be 1, 3 or 4 times H = {H}")
    if any(k.endswith("_reverse") for k in sd):
        raise ValueError("state_dict holds a bidirectional RNN; a language model reads left to right only")
    layers = 1 + max(int(m.group(1)) for k in sd if (m := re.fullmatch(r"rnn\.weight_ih_l(\d+)", k)))
    return ModelConfig(vocab_size=embed.shape[0], hidden_size=H, num_layers=layers, cell=CELL_OF_GATES[gates],
                       embedding_size=embed.shape[1], dropout=dropout, activation=activation)


def save_torch(model: LanguageModel, path: Path) -> Path:
    """Write ``to_state_dict(model)`` to ``path`` as float32 safetensors, the ModelConfig in its metadata."""
    path = Path(path)
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in to_state_dict(model).items()}
    save_file(arrays, str(path), metadata={"unroll": json.dumps(to_dict(model.config)), "format": "pt"})
    return path


def read_torch(path: Path, activation: str | None = None) -> LanguageModel:
    """A safetensors state_dict file (from ``save_torch`` or from torch) -> LanguageModel."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model file {path} does not exist")
    data = path.read_bytes()
    try:
        sd = load_bytes(data)
    except (SafetensorError, ValueError, TypeError) as err:
        raise ValueError(f"model file {path} is not a safetensors file ({_first_line(err)}); from torch write it "
                         "with safetensors.torch.save_file(model.state_dict(), path)") from None
    meta = _metadata(path, data)
    if activation is None:
        activation = meta.get("activation", "tanh")
    try:
        return from_state_dict(sd, activation, float(meta.get("dropout", 0.0)))
    except ValueError as err:
        raise ValueError(f"model file {path}: {err}") from None


def read_vocab(path: Path):
    """A vocabulary file: unroll's vocabulary JSON ({"kind": "char"|"word", "tokens": [...]}) or a JSON list
    of tokens (character level when every token is one character, else word level with "<unk>" first)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"vocabulary file {path} does not exist")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"vocabulary file {path} is not UTF-8 JSON: {_first_line(err)}") from None
    try:
        if isinstance(data, list):
            if all(isinstance(t, str) and len(t) == 1 for t in data):
                return CharVocab(data)
            return WordVocab(data)
        return vocab_from_json(data)
    except (ValueError, TypeError) as err:
        raise ValueError(f"vocabulary file {path}: {_first_line(err)}") from None


def import_model(model_path: Path, vocab_path: Path, out_dir: Path, activation: str | None = None) -> Path:
    """Make a language-model run folder (config.json + one checkpoint) that ``unroll sample`` and
    ``unroll eval --data`` load."""
    from unroll.runs.folder import RunFolder                  # runs imports tasks and models; keep interop light
    from unroll.tasks.lm import LanguageModelTask
    from unroll.train.state import Counters, ParamsState

    model, vocab, folder = read_torch(model_path, activation), read_vocab(vocab_path), RunFolder(out_dir)
    if len(vocab) != model.config.vocab_size:
        raise ValueError(f"vocabulary file {vocab_path} has {len(vocab)} tokens, the model's embedding "
                         f"{model.config.vocab_size} rows")
    if folder.exists():
        raise ValueError(f"--out {out_dir} already holds a run")
    source = str(Path(model_path).resolve())
    corpus = CorpusConfig(level=vocab.kind, **({"tokenizer": vocab.tokenizer} if vocab.kind == "word" else {}))
    folder.create({
        "task": LanguageModelTask.name, "train": to_dict(TrainConfig()), "corpus": to_dict(corpus), "bptt": to_dict(BPTTConfig()),
        "network": to_dict(model.config), "imported": source,
        "data": {"source": None, "sha256": None, "valid": None, "valid_sha256": None},
        "vocab": {"level": vocab.kind, **vocab.to_json()},
    })
    counters = Counters(step=0, tokens=0, elapsed=0.0, lr_scale=1.0, nan_retries=0)
    folder.save(0, {"model": ParamsState(model.params), "counters": counters})
    folder.release()
    return Path(out_dir)


# ----------------------------------------------------------------------------------------------------

def _shaped(sd: dict, key: str, shape: tuple) -> np.ndarray:
    if key not in sd:
        raise ValueError(f"state_dict is missing {key}")
    if tuple(sd[key].shape) != tuple(shape):
        raise ValueError(f"state_dict['{key}'] must have shape {tuple(shape)}, got {tuple(sd[key].shape)}")
    return sd[key]


def _metadata(path: Path, data: bytes) -> dict:
    """The ModelConfig fields in the file's metadata, or {} for a file written by torch."""
    try:
        n = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8:8 + n]).get("__metadata__") or {}
        config = json.loads(meta["unroll"]) if "unroll" in meta else {}
    except (ValueError, AttributeError, TypeError):
        raise ValueError(f"model file {path} has damaged unroll metadata") from None
    return config if isinstance(config, dict) else {}


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
