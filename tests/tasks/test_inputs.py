"""The input kind is a part, not a subclass (issue 28 item 2): classify, tag and seq2seq are each one class
whose ``inputs`` (tasks/inputs.py) is TokenInputs or VectorInputs, and what the vector side used to do in
a copy of its own now follows the token side: a class only in the held-out part is in the label set, an
eval file with an unknown target token is scored with the pair skipped, and `predict --max-source-len`
bounds vector sources as it bounds text ones."""

import json

import pytest

from unroll.cli import main
from unroll.config import TrainConfig
from unroll.tasks import get_task
from unroll.tasks.base import Task
from unroll.tasks.classify import ClassifyConfig, ClassifyTask
from unroll.tasks.inputs import TokenInputs, VectorInputs
from unroll.tasks.seq2seq_data import PairSources

from tests.data.vector_helpers import make_sequences, write_csv


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    xs, labels, _ = make_sequences(40, seed=1)
    write_csv(tmp_path / "c.csv", xs, labels)
    (tmp_path / "c.tsv").write_text("".join(f"{y}\tword {y}\n" for y in labels))
    (tmp_path / "p.tsv").write_text("".join(f"ab{'c' * (i % 3)}\tx{'y' * (i % 2)}\n" for i in range(30)))
    return tmp_path


@pytest.mark.parametrize("name", ["classify", "tag", "seq2seq"])
def test_each_task_is_one_class_with_one_build_model_metrics_and_predict(name):
    cls = get_task(name)
    assert cls.__mro__[1] is Task                    # no wrapping subclass
    for method in ("prepare", "batches", "build_model", "metrics", "predict", "predict_file"):
        assert getattr(cls, method).__qualname__ == f"{cls.__name__}.{method}"


def test_the_part_follows_the_data(folder):
    def task(data, **more):
        return ClassifyTask({"train": TrainConfig(), "classify": ClassifyConfig(data=data, **more),
                             "network": ClassifyTask.sections["network"]()})
    assert type(task("c.tsv").inputs) is TokenInputs and type(task("c.csv").inputs) is VectorInputs
    t = task("c.csv")
    t.prepare()
    assert t.prepared["input"] == "vectors" and t.prepared["labels"] == ["hi", "lo"]
    again = ClassifyTask(t.settings, t.prepared)    # a stored run: the kind comes from config.json
    assert type(again.inputs) is VectorInputs
    s2s = get_task("seq2seq")({"train": TrainConfig(), "pairs": get_task("seq2seq").sections["pairs"](data="p.tsv"),
                               "seq2seq": get_task("seq2seq").sections["seq2seq"](),
                               "network": get_task("seq2seq").sections["network"]()})
    assert type(s2s.inputs) is PairSources


def test_a_class_only_in_the_held_out_part_is_in_a_vector_runs_label_set(folder):
    xs, labels, _ = make_sequences(40, seed=1)
    from unroll.tasks.labelled import split_indices
    _, valid = split_indices(40, 0.1)
    labels = ["odd" if i == valid[0] else y for i, y in enumerate(labels)]     # one sequence, held out
    write_csv(folder / "odd.csv", xs, labels)
    assert main(["train", "--task", "classify", "--data", "odd.csv", "--hidden", "4", "--max-steps", "2",
                 "--eval-every", "2", "--out", "r", "--quiet"]) == 0
    assert json.loads((folder / "r" / "config.json").read_text())["labels"] == ["hi", "lo", "odd"]


def vector_seq2seq(folder, capsys):
    assert main(["train", "--task", "seq2seq", "--data", "c.csv", "--hidden", "4", "--max-steps", "2",
                 "--eval-every", "2", "--out", "s", "--quiet"]) == 0
    capsys.readouterr()


def test_a_vector_eval_file_with_an_unknown_target_token_skips_that_pair(folder, capsys):
    vector_seq2seq(folder, capsys)
    xs, labels, _ = make_sequences(6, seed=2)
    write_csv(folder / "e.csv", xs, ["lo", "hi", "lo", "zz", "hi", "lo"])
    assert main(["eval", "s", "--data", "e.csv", "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["pairs"] == 5
    assert "e.csv: 1 of 6 pairs skipped" in out.err and "e.csv: sequence s3: target" in out.err


def test_predict_max_source_len_bounds_vector_sources(folder, capsys):
    vector_seq2seq(folder, capsys)
    assert main(["predict", "s", "c.csv"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 40
    longest = max(len(x) for x in make_sequences(40, seed=1)[0])
    assert main(["predict", "s", "c.csv", "--max-source-len", str(longest - 1)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"more than --max-source-len {longest - 1}" in err
