"""Word segmentation data and its non-neural anchor.

``segmentation_examples(text)``: each line of the text with its white space removed becomes one sequence of
characters, each tagged ``B`` if a word (a run of non-space characters) starts there, else ``I``::

    "To be, or"  ->  T o b e , o r
                     B I B I I B I

Lines with no word are skipped. The words are exactly the white-space separated tokens, so punctuation
stays attached ("be,").

``UnigramSegmenter``: the classic anchor (Norvig's "segment"): count the words of the training text; the
segmentation of a character string is the one that maximises Π P(w) over its words, found by Viterbi over
positions: best[i] = max_{i - maxlen <= j < i} best[j] + log P(s[j:i]). A known word has P(w) = c(w) / Nw;
an unknown string of length k gets Norvig's P = 10 / (Nw · 10^k), so long unknown strings are split.
"""

from __future__ import annotations

import math
from collections import Counter


def segmentation_examples(text: str) -> list[tuple[list[str], list[str]]]:
    """[(characters, tags)] one per line that holds a word; tags are "B" / "I"."""
    examples = []
    for line in text.split("\n"):
        chars, tags = [], []
        for word in line.split():
            chars.extend(word)
            tags.extend(["B"] + ["I"] * (len(word) - 1))
        if chars:
            examples.append((chars, tags))
    return examples


def tags_of_words(words) -> list[str]:
    return [t for w in words for t in ["B"] + ["I"] * (len(w) - 1)]


class UnigramSegmenter:
    """Viterbi segmentation under unigram word frequencies counted on ``text``'s white-space tokens."""

    def __init__(self, text: str, max_word_length: int | None = None):
        self.counts = Counter(text.split())
        if not self.counts:
            raise ValueError("the training text holds no word to count")
        self.total = sum(self.counts.values())
        self.max_len = max_word_length or max(len(w) for w in self.counts)
        self._log_total = math.log(self.total)

    def log_prob(self, word: str) -> float:
        c = self.counts.get(word)
        if c:
            return math.log(c) - self._log_total
        return math.log(10.0) - self._log_total - len(word) * math.log(10.0)

    def segment(self, chars) -> list[str]:
        """The most probable words of a string (or list of characters) without spaces."""
        s = "".join(chars)
        best, back = [0.0] + [-math.inf] * len(s), [0] * (len(s) + 1)
        for i in range(1, len(s) + 1):
            for j in range(max(0, i - self.max_len), i):
                score = best[j] + self.log_prob(s[j:i])
                if score > best[i]:
                    best[i], back[i] = score, j
        words, i = [], len(s)
        while i > 0:
            words.append(s[back[i]:i])
            i = back[i]
        return words[::-1]

    def tag(self, chars) -> list[str]:
        """B/I tags of the best segmentation."""
        return tags_of_words(self.segment(chars))
