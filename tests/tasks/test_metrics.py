"""Metrics against hand-worked cases and against scikit-learn-free closed forms."""

import numpy as np
import pytest

from unroll.tasks import metrics as M


def test_confusion_matrix_and_per_class_by_hand():
    gold = [0, 0, 0, 1, 1, 2]
    pred = [0, 1, 0, 1, 2, 2]
    assert M.confusion_matrix(pred, gold, 3).tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    scores = M.per_class(pred, gold, ["a", "b", "c"])
    assert scores["a"] == {"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3}
    assert scores["b"]["precision"] == 0.5 and scores["b"]["recall"] == 0.5
    assert scores["c"]["precision"] == 0.5 and scores["c"]["recall"] == 1.0
    assert M.accuracy(pred, gold) == 4 / 6
    assert M.macro_f1(pred, gold, ["a", "b", "c"]) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3, abs=1e-15)


def test_bio_spans_follow_conlleval():
    tags = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-PER", "O"]
    assert M.bio_spans(tags) == {(0, 2, "PER"), (3, 5, "LOC"), (5, 6, "LOC"), (6, 7, "PER")}
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "O", "O", "B-LOC"]]                 # one span right of two predicted, two gold
    assert M.span_f1(pred, gold) == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert M.token_accuracy(pred, gold) == 0.75


def test_boundary_and_word_f1_by_hand():
    gold = [list("BIBIIB")]          # words [0,2) [2,5) [5,6)
    pred = [list("BIIBIB")]          # words [0,3) [3,5) [5,6)
    assert M.boundary_f1(pred, gold) == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert M.word_f1(pred, gold) == {"precision": 1 / 3, "recall": 1 / 3, "f1": pytest.approx(1 / 3, abs=1e-15)}
    assert M.boundary_f1([list("BII")], [list("BII")])["f1"] == 0.0    # nothing to find, nothing found
