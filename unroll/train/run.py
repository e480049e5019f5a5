"""Run folders: start a training run, resume one, load one for sampling and evaluation.

``config.json`` records the model and training settings, the vocabulary, and the SHA-256 of the corpus,
so that a resumed run reads the same token stream (and refuses a corpus that changed).
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import replace
from pathlib import Path


from unroll import __version__
from unroll.config import ModelConfig, TrainConfig, from_dict, to_dict
from unroll.data import text as text_data
from unroll.data.vocab import CharVocab, WordVocab
from unroll.models.language_model import LanguageModel
from unroll.train import checkpoint, lock
from unroll.train.trainer import Trainer

VOCABS = {"char": CharVocab, "word": WordVocab}


def read_corpus(path: str | None) -> tuple[str, str]:
    """(text, description) of --data, or of the bundled tiny Shakespeare when path is None."""
    if path is None:
        return text_data.load_bundled("tinyshakespeare"), "bundled:tinyshakespeare"
    return text_data.read_text(path), str(Path(path).resolve())


def build_vocab(config: TrainConfig, text: str):
    if config.level == "char":
        return CharVocab.from_text(text)
    return WordVocab.from_text(text, min_count=config.min_count, tokenizer=config.tokenizer)


def encode_splits(config: TrainConfig, vocab, text: str, valid_text: str | None):
    """Token ids of the training and validation streams (last valid_fraction, or --valid's file)."""
    if valid_text is not None:
        return vocab.encode(text), vocab.encode(valid_text)
    return text_data.split(vocab.encode(text), config.valid_fraction)


def start(out_dir: Path, model_config: dict, config: TrainConfig, valid_path: str | None = None,
          quiet: bool = False) -> Trainer:
    """Create a new run folder and its Trainer. model_config: ModelConfig fields except vocab_size."""
    out_dir = Path(out_dir)
    if (out_dir / "config.json").exists():
        raise ValueError(f"--out {out_dir} already holds a run; use --resume {out_dir} to continue it")
    text, source = read_corpus(config.data)
    valid_text = text_data.read_text(valid_path) if valid_path else None
    vocab_text = text if config.level == "word" or valid_text is None else text + valid_text
    vocab = build_vocab(config, vocab_text)
    train_ids, valid_ids = encode_splits(config, vocab, text, valid_text)
    model_cfg = ModelConfig(vocab_size=len(vocab), **model_config)
    out_dir.mkdir(parents=True, exist_ok=True)
    lock.acquire(out_dir)                                # one process per run folder (train/lock.py)
    checkpoint.write_json_atomic(out_dir / "config.json", {
        "unroll_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "model": to_dict(model_cfg), "train": to_dict(config),
        "data": {"source": source, "sha256": _sha256(text), "valid": str(Path(valid_path).resolve()) if valid_path else None,
                 "valid_sha256": _sha256(valid_text) if valid_text is not None else None,
                 "train_tokens": int(train_ids.size), "valid_tokens": int(valid_ids.size)},
        "vocab": {"level": config.level, **vocab.to_json()},
    })
    model = LanguageModel.from_config(model_cfg, seed=config.seed)
    return Trainer(out_dir, config, model, train_ids, valid_ids, quiet=quiet)


def resume(run_dir: Path, max_steps: int | None = None, max_time: float | None = None, quiet: bool = False) -> Trainer:
    """Rebuild a run's Trainer from its folder and latest checkpoint; optionally extend its budget."""
    info = read_config(run_dir)
    if info.get("imported"):
        raise ValueError(f"run folder {run_dir} was imported from {info['imported']}; it can be sampled and "
                         "evaluated, not resumed")
    config = from_dict(TrainConfig, info["train"])
    if max_steps is not None or max_time is not None:
        config = replace(config, max_steps=max_steps, max_time=max_time)
    text, _ = read_corpus(config.data)
    if _sha256(text) != info["data"]["sha256"]:
        raise ValueError(f"the corpus {info['data']['source']} changed since the run started (SHA-256 differs)")
    valid_text = text_data.read_text(info["data"]["valid"]) if info["data"].get("valid") else None
    vocab = load_vocab(info)
    train_ids, valid_ids = encode_splits(config, vocab, text, valid_text)
    model = LanguageModel.from_config(from_dict(ModelConfig, info["model"]), seed=config.seed)
    trainer = Trainer(Path(run_dir), config, model, train_ids, valid_ids, quiet=quiet)
    lock.acquire(run_dir)
    folder, _, skipped = checkpoint.find_good(run_dir, {k: v.shape for k, v in model.params.items()})
    for reason in skipped:
        print(f"unroll: warning: {reason}", file=sys.stderr)
    if folder is None:
        print(f"unroll: run folder {run_dir} has no checkpoint yet; starting from step 0", file=sys.stderr)
    else:
        if skipped:
            print(f"unroll: resuming from the older checkpoint {folder.name}", file=sys.stderr)
        try:
            trainer.load(folder)
        except (KeyError, TypeError, AttributeError, IndexError, OverflowError) as err:
            raise ValueError(f"checkpoint file {folder / 'state.json'} does not fit this run: "
                             f"{type(err).__name__} {err}") from None
    return trainer


def load(run_dir: Path):
    """(model with the latest checkpoint's weights, vocabulary, run info) for sampling and evaluation."""
    info = read_config(run_dir)
    model = LanguageModel.from_config(from_dict(ModelConfig, info["model"]))
    expected = {k: v.shape for k, v in model.params.items()}
    try:
        params, _, state = checkpoint.load(checkpoint.latest(run_dir), expected)
    except ValueError as err:
        raise ValueError(f"{err}{_older_good_hint(run_dir, expected)}") from None
    for key, value in params.items():
        model.params[key][...] = value
    info["step"] = state["counters"]["step"]
    return model, load_vocab(info), info


def _older_good_hint(run_dir: Path, expected: dict) -> str:
    """'; the older checkpoint ... is intact' when one loads cleanly, else ''."""
    try:
        folder, _, _ = checkpoint.find_good(run_dir, expected)
    except ValueError:
        return ""
    return f"; the older checkpoint {folder.name} is intact (unroll train --resume falls back to it)" if folder else ""


def read_config(run_dir: Path) -> dict:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run folder {run_dir} does not exist")
    info = checkpoint.read_json(run_dir / "config.json", "run configuration")
    for key in ("model", "train", "data", "vocab"):
        if key not in info:
            raise ValueError(f"run configuration {run_dir / 'config.json'} has no '{key}' section")
    _validate(info, run_dir / "config.json")
    return info


def _validate(info: dict, path: Path) -> None:
    """Parse every section once, so a damaged config.json is one ValueError naming it, never a traceback."""
    try:
        for key in ("model", "train", "data", "vocab"):
            if not isinstance(info[key], dict):
                raise ValueError(f"section '{key}' must be a JSON object, got {type(info[key]).__name__}")
        from_dict(ModelConfig, info["model"])
        if not isinstance(from_dict(TrainConfig, info["train"]).data, (str, type(None))):
            raise ValueError("train.data must be a path or null")
        for key in ("source", "sha256", "valid"):
            if not isinstance(info["data"][key], (str, type(None))):
                raise ValueError(f"data.{key} must be a string or null")
        load_vocab(info)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as err:
        kind = "" if isinstance(err, ValueError) else type(err).__name__ + " "
        raise ValueError(f"run configuration {path} is damaged: {kind}{err}".replace("\n", "\\n")) from None


def load_vocab(info: dict):
    vocab_info = dict(info["vocab"])
    level = vocab_info.pop("level", None)
    if level not in VOCABS:
        raise ValueError(f"run configuration names an unknown vocabulary level {level!r}")
    return VOCABS[level].from_json(vocab_info)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_out_dir(cell: str) -> Path:
    return Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{cell}"
