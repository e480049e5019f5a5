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

An ensemble of K language models (``--task lm --members K``, one vocabulary) starts a classifier of K
members one to one: member k of the classifier from member k of the language models (``members``), so the
members start as different as they were pretrained. One language model starts every member; other
counts are refused, and so is an ensemble for a model that is not an ensemble of the same K.
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


def members(loaded) -> list[Pretrained]:
    """The language models of a loaded run folder (``unroll.runs.load(RUN, "best")``: task, model, info,
    folder; the runs floor loads it, see ``Task.init_from``): [the model], or its K members (an LM ensemble),
    each with its own parameters under its own names (``embed.W``, ``layer0.gru.W_x`` ...); else one line."""
    task, model, info = loaded
    where = loaded.folder.path if hasattr(loaded, "folder") else "?"
    if not isinstance(model, (LanguageModel, LMEnsemble)):
        raise ValueError(f"--init-from {where}: a language-model run folder is needed, this one holds "
                         f"--task {info['task']}")
    m, vocab = task.settings["network"], task.vocab
    models = [model.member(k) for k in range(len(model.members))] if isinstance(model, LMEnsemble) else [model]
    return [Pretrained(str(where), info["step"], task.settings["corpus"].level, getattr(vocab, "tokenizer", None),
                       m.cell, m.hidden_size, m.num_layers, m.embedding_size or m.hidden_size, list(vocab.tokens),
                       dict(one.params)) for one in models]


def one_per_head(loaded, heads: list[str], advice: str = "give --members {K}") -> list[Pretrained]:
    """The language model that starts each of a model's ``heads`` (ensemble.heads): one LM starts them all,
    K LMs start K members one to one; another count is a one-line error ending in ``advice``."""
    lms = members(loaded)
    if len(lms) == 1:
        return lms * len(heads)
    if len(lms) != len(heads) or heads == [""]:
        mine = "one model" if heads == [""] else f"an ensemble of {len(heads)}"
        raise ValueError(f"--init-from {lms[0].path}: an ensemble of {len(lms)} language models (--members "
                         f"{len(lms)}) starts the members of an ensemble of {len(lms)} one to one, this run is "
                         f"{mine}: {advice.format(K=len(lms))}, or start from a language model of --members 1")
    return lms


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
    lm = members(loaded)[0]                     # the members share one vocabulary and shape
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
