"""Data: reading corpora, the vocabulary (characters, words, pair sides), and time-major batches for
language models.

The public names, re-exported from ``text``, ``vocab`` and ``batching``.
"""

from unroll.data.batching import StreamBatcher, eval_batches
from unroll.data.text import BUNDLED, bundled_corpus_path, decode_text, load_bundled, read_text, split
from unroll.data.vocab import (UNK, CharVocab, PairVocab, Vocab, WordVocab, detokenize, tokenize, tokens_of,
                               vocab_from_json)

__all__ = [
    "BUNDLED", "UNK", "CharVocab", "PairVocab", "StreamBatcher", "Vocab", "WordVocab", "bundled_corpus_path",
    "decode_text", "detokenize", "eval_batches", "load_bundled", "read_text", "split", "tokenize", "tokens_of",
    "vocab_from_json",
]
