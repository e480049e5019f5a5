"""The tag task through the task protocol on generated word-segmentation data: training lowers the loss,
metrics agree with an independent count, predict output is well formed, bad input is one line."""

import numpy as np
import pytest

from unroll.data.columns import write_conll
from unroll.data.segment import segmentation_examples
from unroll.data.text import load_bundled
from unroll.tasks.tag import TagConfig, TagPredictOptions, TagTask
from unroll.train.optim import Adam, clip_grad_norm

from tests.tasks.helpers import Train, sections


def make_task(tmp_path, **kw):
    examples = segmentation_examples(load_bundled()[:6000])
    write_conll(tmp_path / "seg.conll", examples)
    task = TagTask(sections(TagTask, data=str(tmp_path / "seg.conll"), level="char", hidden_size=16, **kw))
    task.prepare()
    return task


def test_training_lowers_the_loss_and_metrics(tmp_path):
    task = make_task(tmp_path)
    assert task.prepared["tags"] == ["B", "I"]
    model = task.build_model(seed=0)
    opt, batches, losses = Adam(model.params, lr=1e-2), task.batches(Train(16)), []
    for _ in range(40):
        loss, grads, _ = task.loss_and_grads(model, next(batches))
        clip_grad_norm(grads, 5.0)
        opt.step(grads)
        losses.append(loss)
    assert np.mean(losses[-5:]) < 0.75 * np.mean(losses[:5])
    m = task.metrics(model, "valid")
    assert set(m) == {"loss", "token_accuracy", "boundary_f1", "word_f1"}
    assert 0.5 < m["token_accuracy"] <= 1 and 0 < m["boundary_f1"] <= 1


def test_predict_formats(tmp_path):
    task = make_task(tmp_path)
    model = task.build_model(seed=0)
    tags = list(task.predict(model, ["To be or not", ""], TagPredictOptions("tags")))
    assert len(tags) == 2 and tags[1] == ""
    assert len(tags[0].split()) == 9 and set(tags[0].split()) <= {"B", "I"}
    words = list(task.predict(model, ["To be or not"], TagPredictOptions("words")))[0]
    assert words.replace(" ", "") == "Tobeornot"
    assert words.count(" ") == tags[0].split()[1:].count("B")


def test_tag_set_mismatch_names_the_file(tmp_path):
    task = make_task(tmp_path)
    write_conll(tmp_path / "other.conll", [(["a", "b"], ["B", "I"]), (["c"], ["B-NP"])])
    with pytest.raises(ValueError, match=r"other.conll: sequence 2 has the tag\(s\) B-NP, not in the run's tag set B, I"):
        task.metrics(task.build_model(0), str(tmp_path / "other.conll"))


def test_bio_span_metrics(tmp_path):
    seqs = [(["John", "lives", "in", "Paris"], ["B-PER", "O", "O", "B-LOC"])] * 20
    write_conll(tmp_path / "ner.conll", seqs)
    task = TagTask(sections(TagTask, data=str(tmp_path / "ner.conll"), hidden_size=8))
    task.prepare()
    m = task.metrics(task.build_model(0), "valid")
    assert {"span_precision", "span_recall", "span_f1"} <= set(m)
