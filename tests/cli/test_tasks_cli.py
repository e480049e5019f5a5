"""`unroll train --task classify|tag|generate`, `unroll eval`, `unroll predict` and `unroll data segment`
end to end in temporary folders: the validation loss falls, eval equals the logged validation figure,
predict output is well formed, and a run interrupted and resumed ends bit-identical to an uninterrupted one."""

import json

import numpy as np
import pytest

from unroll.cli import main
from unroll.data.columns import read_conll
from unroll.runs import run

from tests.tasks.helpers import sentiment_lines


@pytest.fixture()
def data(tmp_path):
    (tmp_path / "s.tsv").write_text("".join(f"{c}\t{t}\n" for c, t in sentiment_lines(240)))
    text = "".join(f"the {w} film was {w} and the story is good\n" for w in ("good", "bad", "fine", "dull") * 30)
    (tmp_path / "text.txt").write_text(text)
    return tmp_path


TASKS = {
    "classify": ["--data", "s.tsv", "--hidden", "12", "--bidirectional", "--readout", "max", "--lr", "0.01",
                 "--total-steps", "30"],      # classify's default cosine decay, one length for the whole and split runs
    "tag": ["--data", "seg.conll", "--level", "char", "--hidden", "12", "--lr", "0.01",
            "--total-steps", "30"],           # tag's default cosine decay too (docs/tune.md "Tag defaults")
    "generate": ["--data", "s.tsv", "--hidden", "12", "--mode", "both", "--lr", "0.01"],
}
INPUTS = {"classify": "the film was great\nbad plot\n", "tag": "thefilmwasgood\nastory\n", "generate": "pos\nneg\n"}


def valid_by_step(run_dir) -> dict:
    log = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["valid_loss"] for r in log if "valid_loss" in r}


@pytest.mark.parametrize("task", ["classify", "tag", "generate"])
def test_train_eval_predict_resume(data, task, capsys, monkeypatch):
    monkeypatch.chdir(data)
    if task == "tag":
        assert main(["data", "segment", "text.txt", "--out", "seg.conll"]) == 0
        assert read_conll("seg.conll")[0] == (list("thegoodfilmwasgoodandthestoryisgood"),
                                              list("BIIBIIIBIIIBIIBIIIBIIBIIBIIIIBIBIII"))
    common = ["train", "--task", task, *TASKS[task], "--batch", "8", "--eval-every", "10", "--quiet"]
    assert main([*common, "--max-steps", "30", "--out", "whole"]) == 0
    valid = valid_by_step(data / "whole")
    assert list(valid) == [10, 20, 30] and valid[30] < valid[20] < valid[10]
    capsys.readouterr()
    assert main(["eval", "whole", "--json", "--checkpoint", "last"]) == 0
    assert json.loads(capsys.readouterr().out)["loss"] == pytest.approx(valid[30], rel=1e-12)

    (data / "in.txt").write_text(INPUTS[task])
    assert main(["predict", "whole", "in.txt"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    if task == "classify":
        assert all(line.split("\t")[0] in ("neg", "pos") and 0.5 <= float(line.split("\t")[1]) <= 1 for line in out)
    elif task == "tag":
        assert [len(line.split()) for line in out] == [14, 6]
        assert all(set(line.split()) <= {"B", "I"} for line in out)
    else:
        assert all(isinstance(line, str) for line in out)

    assert main([*common, "--max-steps", "15", "--out", "split"]) == 0
    assert main(["train", "--resume", "split", "--max-steps", "30", "--quiet"]) == 0
    whole, split = run.load(data / "whole")[1], run.load(data / "split")[1]
    for key in whole.params:
        assert np.array_equal(whole.params[key], split.params[key]), key
    resumed = valid_by_step(data / "split")                 # the first leg also validates at its last step
    assert {step: resumed[step] for step in valid} == valid


def test_bad_data_is_a_one_line_error(data, capsys, monkeypatch):
    monkeypatch.chdir(data)
    (data / "bad.tsv").write_text("pos\tgood film\nneg bad film\n")
    assert main(["train", "--task", "classify", "--data", "bad.tsv", "--max-steps", "1", "--out", "r", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("bad.tsv:2: no tab between label and text (expected label<TAB>text): 'neg bad film'")


def test_data_segment_writes_a_validation_part(data, monkeypatch, capsys):
    monkeypatch.chdir(data)
    (data / "t.txt").write_text("ab cd\nef g\nhi j k\nlm\n")              # 21 characters: cut at 18
    assert main(["data", "segment", "t.txt", "--out", "seg.conll", "--valid-fraction", "0.1"]) == 0
    assert read_conll("seg.conll") == [(list("abcd"), list("BIBI")), (list("efg"), list("BIB")),
                                       (list("hijk"), list("BIBB"))]
    assert read_conll("seg.conll.valid") == [(list("lm"), list("BI"))]


@pytest.mark.parametrize("task", ["classify", "tag", "generate"])
def test_resume_refuses_data_that_changed_since_the_run_started(data, task, capsys, monkeypatch):
    monkeypatch.chdir(data)
    if task == "tag":
        assert main(["data", "segment", "text.txt", "--out", "seg.conll"]) == 0
    common = ["train", "--task", task, *TASKS[task], "--batch", "8", "--eval-every", "2", "--quiet"]
    assert main([*common, "--max-steps", "2", "--out", "r"]) == 0
    name = "seg.conll" if task == "tag" else "s.tsv"
    with open(name, "a", encoding="utf-8") as f:
        f.write("a\tB\n\n" if task == "tag" else "pos\tgood good\n")
    capsys.readouterr()
    assert main(["train", "--resume", "r", "--max-steps", "4", "--quiet"]) == 2
    assert capsys.readouterr().err == (f"unroll: error: --data {data / name} changed since the run started (SHA-256 "
                                       "differs); train on it in a new run folder\n")
    assert run.load(data / "r")[2]["step"] == 2
