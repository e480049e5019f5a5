"""Pairs: the TSV reader's one-line errors, vocabularies, batches, the generators' contents and
reproducibility, and the metrics on hand-worked cases."""

import datetime

import numpy as np
import pytest

from unroll.data import pair_generators as gen
from unroll.data.pairs import PairVocab, batches, encode_pairs, make_batch, parse_pairs, read_pairs, write_pairs
from unroll.tasks import sequence_metrics as metrics


def test_tsv_reads_pairs_and_ignores_extra_columns(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("Go.\tVa !\tCC-BY 2.0 (France)\nHi.\tSalut !\t#2877272\r\n\n", encoding="utf-8")
    assert read_pairs(path) == [("Go.", "Va !"), ("Hi.", "Salut !")]


@pytest.mark.parametrize("text,message", [
    ("a\tb\nno tab here\n", "pairs.tsv:2: no tab between source and target"),
    ("a\tb\n\nc\td\n", "pairs.tsv:2: a blank line, but a source<TAB>target file holds one record a line; "
                         "blank lines between blocks are the layout of CoNLL token<TAB>tag files"),
    ("a\tb\n\tx\n", "pairs.tsv:2: empty source"),
    ("a\tb\nc\td\ne\t  \n", "pairs.tsv:3: empty target"),
    ("a\tb\tby X\nc\td\n", "pairs.tsv:2: 2 columns, but line 1 has 3 \\(a tab inside a source\\?\\)"),
])
def test_tsv_errors_name_the_line(text, message):
    with pytest.raises(ValueError, match=message) as err:
        parse_pairs(text, "pairs.tsv")
    assert "\n" not in str(err.value) and str(err.value).startswith("pairs.tsv")


def test_write_then_read_round_trip(tmp_path):
    pairs = gen.generate("reverse", 50, seed=3, min_len=2, max_len=6)
    write_pairs(tmp_path / "r.tsv", pairs)
    assert read_pairs(tmp_path / "r.tsv") == pairs


def test_vocab_and_batch_layout():
    src_v, tgt_v = PairVocab.build(["12+3", "4+5"]), PairVocab.build(["15", "9"])
    assert src_v.tokens == ("<pad>", "<bos>", "<eos>", "+", "1", "2", "3", "4", "5")
    ids = encode_pairs([("12+3", "15"), ("4+5", "9")], src_v, tgt_v)
    b = make_batch(ids)
    assert b.src.T.tolist() == [[4, 5, 3, 6], [7, 3, 8, 0]]
    assert b.src_mask.T.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert b.tgt_in.T.tolist() == [[1, 3, 4], [1, 5, 0]] and b.tgt_out.T.tolist() == [[3, 4, 2], [5, 2, 0]]
    assert b.tgt_mask.T.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert tgt_v.decode([3, 4, 2]) == "15"
    with pytest.raises(ValueError, match="pairs:2: character '7' at position 0 is not in the vocabulary of 9 tokens"):
        encode_pairs([("1+2", "3"), ("7+1", "8")], src_v, src_v)
    seen = sorted(n for batch in batches(ids * 5, 3, np.random.default_rng(0)) for n in batch.src_mask.sum(0))
    assert seen == sorted([4.0, 3.0] * 5)


def test_generators_are_reproducible_distinct_and_correct():
    for kind in gen.KINDS:
        a, b = gen.generate(kind, 300, seed=5), gen.generate(kind, 300, seed=5)
        assert a == b and len({s for s, _ in a}) == 300 and a != gen.generate(kind, 300, seed=6)
    for s, t in gen.generate("addition", 500, seed=0):
        x, y = s.split("+")
        assert int(x) + int(y) == int(t) and max(len(x), len(y)) <= 3
    for s, t in gen.generate("reverse", 100, seed=0, min_len=10, max_len=60):
        assert t == s[::-1] and 10 <= len(s) <= 60


def test_dates_examples_and_no_ambiguity():
    """The issue's three examples appear among the formats, and no source string maps to two dates."""
    from babel.dates import format_date
    day = datetime.date(1999, 3, 3)
    written = {format_date(day, f, locale=loc) for loc, f in gen.DATE_FORMATS}
    assert {"3 mars 1999", "Wednesday, March 3, 1999", "3/3/99"} <= written
    targets = {}
    for d in (datetime.date(1950, 1, 1) + datetime.timedelta(days=int(k)) for k in range(0, gen.DAYS, 7)):
        for loc, f in gen.DATE_FORMATS:
            assert targets.setdefault(format_date(d, f, locale=loc), d) == d
    for s, t in gen.generate("dates", 200, seed=1):
        assert datetime.date.fromisoformat(t) >= datetime.date(1950, 1, 1)


def test_numbers_examples():
    pairs = dict(gen.generate("numbers", 3000, seed=0))
    assert pairs["ninety-seven"] == "quatre-vingt-dix-sept"
    assert pairs.get("seventy-one", "soixante et onze") == "soixante et onze"


def test_metrics_hand_worked():
    assert metrics.exact_match(["abc", "x"], ["abc", "y"]) == 0.5
    assert metrics.levenshtein("kitten", "sitting") == 3 and metrics.levenshtein("", "ab") == 2
    assert metrics.char_error_rate(["kitten", "ab"], ["sitting", "ab"]) == pytest.approx(3 / 9)
    assert metrics.corpus_bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(100.0)
    assert metrics.corpus_bleu(["a b c d"], ["e f g h"]) == pytest.approx(0.0)


def test_pair_batches_are_the_bucket_batcher_and_resume_exactly():
    from unroll.data.buckets import BucketBatches
    from unroll.data.pairs import PairBatches
    pairs = [([1] * (1 + i % 7), [2] * (1 + i % 3)) for i in range(45)]
    straight = PairBatches(pairs, 4, np.random.default_rng(9))
    assert isinstance(straight, BucketBatches) and straight.pool == 20 and straight.batches_per_epoch == 12
    expected = [next(straight) for _ in range(30)]                  # crosses two epoch ends
    assert straight.drawn == 30 and straight.epoch == 2
    interrupted = PairBatches(pairs, 4, np.random.default_rng(9))
    for _ in range(17):
        next(interrupted)
    resumed = PairBatches(pairs, 4, np.random.default_rng(9))
    resumed.load_state_dict(*interrupted.state_dict())
    assert resumed.drawn == 17
    for want in expected[17:]:
        got = next(resumed)
        assert all(np.array_equal(a, b) for a, b in zip(got, want))
    seen = sorted(int(n) for batch in expected[:12] for n in batch.src_mask.sum(0))
    assert seen == sorted(len(s) for s, _ in pairs)               # one epoch: every pair once
    with pytest.raises(ValueError, match="batch state was saved for 3 training pairs, this run has 45"):
        resumed.load_state_dict({"groups": np.arange(3), "group_sizes": np.array([3])}, {"epoch": 0, "pairs": 3})
