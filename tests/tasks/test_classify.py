"""The classify task through the task protocol: data formats, training lowers the loss, metrics agree with
an independent count, predict output is well formed, batches resume exactly, bad input is one line."""

import numpy as np
import pytest

from unroll.tasks.classify import ClassifyConfig, ClassifyTask
from unroll.train.optim import Adam, clip_grad_norm

from tests.tasks.helpers import Train, sections, sentiment_lines


def write_tsv(path, examples):
    path.write_text("".join(f"{label}\t{text}\n" for label, text in examples))
    return path


def make_task(tmp_path, **kw):
    data = write_tsv(tmp_path / "train.tsv", sentiment_lines(300))
    task = ClassifyTask(sections(ClassifyTask, data=str(data), hidden_size=16, **kw))
    task.prepare()
    return task


def train(task, steps=60):
    model = task.build_model(seed=0)
    opt, batches = Adam(model.params, lr=1e-2), task.batches(Train(16))
    losses = []
    for _ in range(steps):
        loss, grads, state = task.loss_and_grads(model, next(batches))
        assert state is None
        clip_grad_norm(grads, 5.0)
        opt.step(grads)
        losses.append(loss)
    return model, losses


def test_training_lowers_the_loss_and_metrics_count_right(tmp_path):
    task = make_task(tmp_path, bidirectional=True, readout="max")
    assert task.prepared["labels"] == ["neg", "pos"]
    model, losses = train(task)
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    m = task.metrics(model, "valid")
    assert m["accuracy"] > 0.9
    cm = np.array(m["confusion"])
    assert cm.sum() == 30 and m["accuracy"] == pytest.approx(np.trace(cm) / 30, abs=1e-15)
    assert m["precision_pos"] == pytest.approx(cm[1, 1] / cm[:, 1].sum(), abs=1e-15)
    assert "confusion (rows true" in task.describe(m)


def test_predict_lines_are_label_probability_and_all_probabilities(tmp_path):
    task = make_task(tmp_path)
    model = task.build_model(seed=0)
    out = list(task.predict(model, ["the film was great", "bad plot"], None))
    assert len(out) == 2
    for line in out:
        label, p, rest = line.split("\t")
        probs = dict(item.split(":") for item in rest.split())
        assert label in ("pos", "neg") and set(probs) == {"neg", "pos"}
        assert float(p) == max(map(float, probs.values()))
        assert abs(sum(map(float, probs.values())) - 1) < 2e-4
    with pytest.raises(ValueError, match="line 2: empty text"):
        list(task.predict(model, ["fine", "   "], None))
    with pytest.raises(ValueError, match="line 1: 200 tokens is far beyond the longest training sequence"):
        list(task.predict(model, ["good " * 200], None))


def test_one_file_per_class_latin1(tmp_path):
    ex = sentiment_lines(60, seed=1)
    (tmp_path / "rt.pos").write_bytes("".join(t + " café\n" for c, t in ex if c == "pos").encode("latin-1"))
    (tmp_path / "rt.neg").write_bytes("".join(t + "\n" for c, t in ex if c == "neg").encode("latin-1"))
    spec = f"{tmp_path / 'rt.pos'},{tmp_path / 'rt.neg'}"
    task = ClassifyTask(sections(ClassifyTask, data=spec, encoding="latin-1", hidden_size=8))
    prepared = task.prepare()
    assert prepared["labels"] == ["neg", "pos"] and "café" in prepared["vocab"]["tokens"]
    with pytest.raises(ValueError, match=r"rt.pos:1: byte 0xe9 is not utf-8"):
        ClassifyTask(sections(ClassifyTask, data=spec)).prepare()


def test_eval_file_with_an_unknown_label(tmp_path):
    task = make_task(tmp_path)
    other = write_tsv(tmp_path / "other.tsv", [("pos", "good film"), ("meh", "a film")])
    with pytest.raises(ValueError, match=r"other.tsv: example 2 has the label 'meh', not one of the run's labels neg, pos"):
        task.metrics(task.build_model(0), str(other))


def test_batches_resume_exactly(tmp_path):
    task = make_task(tmp_path)
    straight = task.batches(Train(16, seed=3))
    expected = [next(straight) for _ in range(25)]            # 17 batches per epoch: crosses one
    interrupted = task.batches(Train(16, seed=3))
    for _ in range(10):
        next(interrupted)
    resumed = task.batches(Train(16, seed=3))
    resumed.load_state_dict(*interrupted.state_dict())
    for want in expected[10:]:
        got = next(resumed)
        assert all(np.array_equal(a, b) for a, b in zip(got, want))
