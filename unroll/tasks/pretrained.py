"""``--init-from RUN``: start a classifier's or tagger's embedding and recurrent stack (a seq2seq model's
encoder) from a language-model run folder (Dai & Le 2015, "Semi-supervised sequence learning"; ULMFiT).

The vocabulary rule: the new run's vocabulary is the language model's token list in its own order, with
``<unk>`` put first when the LM has none (a character LM), followed by every token of the new training
data that the LM lacks (seen at least ``--min-count`` times), most frequent first. Embedding rows of the
LM's tokens are copied; the rows of the new tokens keep what the new model's own initialisation drew
(N(0, 1), torch.nn.Embedding's), so they start exactly as an untrained row would.

What is copied: the embedding rows and, for every layer l, the left-to-right direction
``layer{l}.{cell}.*`` of the stack. Not copied: a bidirectional stack's reverse direction (the LM reads
left to right; it keeps its own initialisation) and the output layer (the LM predicts tokens). The LM's
best checkpoint is read (its latest when it kept none), by the runs floor (``Task.init_from``). Refused, in one line: a run that is not a
language model, another vocabulary level or tokenizer, another cell, hidden size, number of layers or
embedding width, and a bidirectional stack of more than one layer (its upper layers read 2·H inputs).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unroll.data.vocab import UNK
from unroll.models.language_model import LanguageModel
from unroll.models.lm_ensemble import LMEnsemble


@dataclass
class Pretrained:
    """What a language-model run offers: its settings, tokens and parameters."""

    path: str
    step: int
    level: str
    tokenizer: str | None
    cell: str
    hidden_size: int
    num_layers: int
    embedding_size: int
    tokens: list
    params: dict


def read(loaded) -> Pretrained:
    """The language model of a loaded run folder (``unroll.runs.load(RUN, "best")``: task, model, info,
    folder; the runs floor loads it, see ``Task.init_from``), or a one-line error."""
    task, model, info = loaded
    where = loaded.folder.path if hasattr(loaded, "folder") else "?"
    if isinstance(model, LMEnsemble):
        raise ValueError(f"--init-from {where}: an ensemble of {len(model.members)} language models (--members "
                         f"{len(model.members)}); fine-tuning starts from one: train it with --members 1")
    if not isinstance(model, LanguageModel):
        raise ValueError(f"--init-from {where}: a language-model run folder is needed, this one holds "
                         f"--task {info['task']}")
    m, vocab = task.settings["network"], task.vocab
    return Pretrained(str(where), info["step"], task.settings["corpus"].level, getattr(vocab, "tokenizer", None),
                      m.cell, m.hidden_size, m.num_layers, m.embedding_size or m.hidden_size, list(vocab.tokens),
                      model.params)


def check_fits(lm: Pretrained, level: str, tokenizer: str | None, cell: str, hidden_size: int, num_layers: int,
               embedding_size: int | None, bidirectional: bool) -> None:
    """A one-line ValueError naming the first setting that differs from the language model's."""
    where = f"--init-from {lm.path}"
    if level != lm.level:
        raise ValueError(f"{where}: the language model reads {lm.level}s, this run --level {level}")
    if level == "word" and tokenizer is not None and tokenizer != lm.tokenizer:
        raise ValueError(f"{where}: the language model's tokenizer is {lm.tokenizer}, this run's --tokenizer {tokenizer}")
    for flag, mine, theirs in (("--cell", cell, lm.cell), ("--hidden", hidden_size, lm.hidden_size),
                               ("--layers", num_layers, lm.num_layers),
                               ("--embedding", embedding_size or hidden_size, lm.embedding_size)):
        if mine != theirs:
            raise ValueError(f"{where}: the language model has {flag} {theirs}, this run {flag} {mine}; "
                             f"give {flag} {theirs}")
    if bidirectional and num_layers > 1:
        raise ValueError(f"{where}: a bidirectional stack's layers above the first read 2·H inputs, the "
                         f"language model's H; use --layers 1 or a unidirectional stack")


def extend_vocab(lm: Pretrained, token_lists, min_count: int = 1) -> list:
    """The LM's tokens (``<unk>`` first), then the training data's tokens the LM lacks, by frequency."""
    tokens = list(lm.tokens) if lm.tokens and lm.tokens[0] == UNK else [UNK, *(t for t in lm.tokens if t != UNK)]
    known = set(tokens)
    counts = Counter(t for ts in token_lists for t in ts if t not in known)
    return tokens + sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))


def prepare_vocab(loaded, token_lists, level, tokenizer, cell, hidden_size, num_layers, embedding_size,
                  bidirectional, min_count=1):
    """A new run's (WordVocab, {"init_from": {run, step}}) from a language model, after checking the shapes."""
    from unroll.data.vocab import WordVocab
    lm = read(loaded)
    check_fits(lm, level, tokenizer, cell, hidden_size, num_layers, embedding_size, bidirectional)
    vocab = WordVocab(extend_vocab(lm, token_lists, min_count), lm.tokenizer or tokenizer or "punct")
    return vocab, {"init_from": {"run": lm.path, "step": lm.step, "lm_tokens": len(lm.tokens)}}


def copy_into(params: dict, lm: Pretrained, tokens: list, embed_key: str = "embed.W", prefix: str = "") -> list:
    """Copy the LM's embedding rows (by token) and forward stack layers into ``params``; returns the keys set.

    params: the new model's freshly initialised parameters, changed in place; tokens: its vocabulary
    (``extend_vocab``); prefix: where its stack's keys start ("" or "encoder.")
    """
    lm_row = {t: i for i, t in enumerate(lm.tokens)}
    rows = [(i, lm_row[t]) for i, t in enumerate(tokens) if t in lm_row]
    mine, theirs = np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64)
    params[embed_key][mine] = lm.params["embed.W"][theirs].astype(params[embed_key].dtype)
    copied = [embed_key]
    for l in range(lm.num_layers):
        head = f"layer{l}.{lm.cell}."
        for key, value in lm.params.items():
            if key.startswith(head):
                target = prefix + key
                if params[target].shape != value.shape:
                    raise ValueError(f"--init-from {lm.path}: {key} has shape {value.shape}, this run's "
                                     f"{target} {params[target].shape}")
                params[target][...] = value
                copied.append(target)
    return copied
