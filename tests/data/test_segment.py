"""Word segmentation data and the unigram Viterbi anchor, on hand-worked strings."""

import math

from unroll.data.segment import UnigramSegmenter, segmentation_examples


def test_examples_strip_spaces_and_tag_word_starts():
    ex = segmentation_examples("To be, or\n\n   \nnot")
    assert ex == [(list("Tobe,or"), list("BIBIIBI")), (list("not"), list("BII"))]


def test_viterbi_picks_the_most_probable_split():
    seg = UnigramSegmenter("the cat sat on the mat the theca")
    assert seg.segment("thecatsat") == ["the", "cat", "sat"]          # P(the)P(cat) > P(theca)P(t)...
    assert seg.tag("thecat") == list("BIIBII")
    # log P of a known word, and Norvig's unknown-word probability 10 / (N · 10^k), N = 8 tokens
    assert math.isclose(seg.log_prob("the"), math.log(3 / 8))
    assert math.isclose(seg.log_prob("zz"), math.log(10 / (8 * 100)))


def test_viterbi_equals_brute_force_on_short_strings():
    seg = UnigramSegmenter("a ab b ba abba bab a a b ab")
    for s in ["abab", "babba", "aabb", "bbbab"]:
        best = max((segs for segs in _all_splits(s)), key=lambda ws: sum(seg.log_prob(w) for w in ws))
        assert seg.segment(s) == best


def _all_splits(s):
    if not s:
        yield []
        return
    for i in range(1, len(s) + 1):
        for rest in _all_splits(s[i:]):
            yield [s[:i]] + rest
