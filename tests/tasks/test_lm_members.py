"""`unroll train --task lm --members K` through the CLI and the run folder: the default is one model
(unprefixed names, member 0 of an ensemble starts from its weights); a run folder written before the flag
(config.json without the "ensemble" section, and the format-2 fixture) loads as one model and resumes
exactly; an ensemble's checkpoints name each member's parameters member{k}.*, carry each member's stream,
and save, load and resume exactly; validation, eval and sample read the mean of the members' probabilities;
serve's cells, gates and unit rows show member 0 and say so; export refuses an ensemble in one line, and
--init-from refuses it for a model of another count; a bad K is one line."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from unroll.analysis import activations
from unroll.cli import main
from unroll.models import LanguageModel
from unroll.models.lm_ensemble import LMEnsemble
from unroll.runs import run
from unroll.tasks.probes import Limits
from unroll.tasks.probes.lm import cells, gates
from unroll.tasks.probes.lm_inputs import unit_rows

from tests import saved
from tests.saved import final, same, start

FORMAT2 = Path(__file__).resolve().parents[1] / "fixtures" / "format2-lm"
SMALL = ["train", "--data", "text.txt", "--hidden", "6", "--layers", "1", "--seq-len", "8", "--batch", "4",
         "--dropout", "0.2", "--schedule", "constant", "--eval-every", "2", "--quiet"]
TEXT = "the quick brown fox jumps over the lazy dog; the dog sleeps.\n" * 30


@pytest.fixture()
def data(tmp_path, monkeypatch):
    (tmp_path / "text.txt").write_text(TEXT)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_default_is_one_model_and_member_0_is_the_seeds_own(data):
    assert main([*SMALL, "--max-steps", "2", "--out", "one"]) == 0
    assert main([*SMALL, "--max-steps", "2", "--members", "2", "--out", "two"]) == 0
    one, two = start(data / "one"), start(data / "two")
    assert {"embed.W", "out.W", "out.b"} <= set(one) and not any(k.startswith("member") for k in one)
    assert sorted(two) == sorted(f"member{k}.{n}" for k in range(2) for n in one)
    assert all(np.array_equal(two[f"member0.{n}"], one[n]) for n in one)
    assert json.loads((data / "one" / "config.json").read_text())["ensemble"] == {"members": 1}


def test_a_run_folder_without_the_section_loads_as_one_model_and_resumes_exactly(data, monkeypatch):
    assert main([*SMALL, "--max-steps", "4", "--out", "whole"]) == 0
    assert main([*SMALL, "--max-steps", "2", "--out", "old"]) == 0
    config = json.loads((data / "old" / "config.json").read_text())
    assert config.pop("ensemble") == {"members": 1}                # as a run written before --members
    (data / "old" / "config.json").write_text(json.dumps(config, indent=1))
    task, model, _ = run.load(data / "old")
    assert task.settings["ensemble"].members == 1 and type(model) is LanguageModel
    assert main(["train", "--resume", "old", "--max-steps", "4", "--quiet"]) == 0
    assert same(final(data / "whole"), final(data / "old"))
    fixture = Path(shutil.copytree(FORMAT2, data / "format2"))
    monkeypatch.chdir(fixture)
    assert type(run.load(fixture).model) is LanguageModel


def test_an_ensemble_saves_loads_and_resumes_exactly(data):
    assert main([*SMALL, "--members", "3", "--max-steps", "6", "--out", "whole"]) == 0
    assert main([*SMALL, "--members", "3", "--max-steps", "3", "--out", "cut"]) == 0
    assert main(["train", "--resume", "cut", "--max-steps", "6", "--quiet"]) == 0
    whole = final(data / "whole")
    assert same(whole, final(data / "cut"))        # the weights, every member's stream and dropout masks on the way
    task, model, info = run.load(data / "whole")
    assert isinstance(model, LMEnsemble) and len(model.members) == 3 and info["step"] == 6
    assert all(np.array_equal(model.params[k], whole[k]) for k in whole)
    logged = [r["valid_loss"] for r in saved.log(data / "whole") if r.get("step") == 6 and "valid_loss" in r]
    assert task.metrics(model, "valid")["loss"] == pytest.approx(logged[-1], rel=0, abs=1e-12)
    singles = [task.metrics(model.member(k), "valid")["loss"] for k in range(3)]
    assert logged[-1] < np.mean(singles)             # the mean of the probabilities beats their mean loss (Jensen)


def test_eval_sample_and_serve_read_the_ensemble(data, capsys):
    assert main([*SMALL, "--members", "2", "--max-steps", "4", "--out", "e"]) == 0
    task, model, _ = run.load(data / "e")
    assert main(["eval", "e"]) == 0
    assert f"{task.metrics(model, 'valid')['loss']:.4f} nats/char" in capsys.readouterr().out
    assert main(["sample", "e", "--prime", "the ", "--length", "20", "--greedy"]) == 0
    ids = model.sample(task.vocab.encode("the "), 20, greedy=True)
    assert capsys.readouterr().out == "the " + task.vocab.decode(ids) + "\n"
    acts = activations.collect(model, task.vocab, "the dog")
    ref = activations.collect(model.member(0), task.vocab, "the dog")
    assert np.array_equal(acts.hidden, ref.hidden)
    limits = Limits()
    assert cells(task, model, {"text": "the dog"}, limits)["member"] == "member 0 of 2"
    assert gates(task, model, {"text": "the dog"}, limits)["member"] == "member 0 of 2"
    rows = unit_rows(task, model, {"texts": ["the dog"], "unit": 1}, limits)
    assert rows["member"] == "member 0 of 2" and rows["rows"][0]["values"][1] == round(float(ref.hidden[0, 1, 1]), 6)
    capsys.readouterr()
    assert main(["visualize", "e", "--out", "v.html"]) == 0
    assert "e is an ensemble (--members): showing its member 0 of 2\n" in capsys.readouterr().err
    assert main([*SMALL, "--max-steps", "2", "--out", "one"]) == 0
    one_task, one, _ = run.load(data / "one")
    assert "member" not in cells(one_task, one, {"text": "the dog"}, limits)


def test_export_refuses_an_ensemble_and_init_from_refuses_other_counts_in_one_line(data, capsys):
    """An LM ensemble of K starts only a classifier of K members (tests/tasks/test_classify_members.py):
    the classifier's default three members and a tagger (one model) are refused before any folder exists."""
    assert main([*SMALL, "--members", "2", "--max-steps", "2", "--out", "e"]) == 0
    capsys.readouterr()
    assert main(["export", "e", "--to", "onnx", "m.onnx"]) == 2
    err = capsys.readouterr().err
    assert "holds an ensemble of 2 (--members 2)" in err and err.count("\n") == 1 and not (data / "m.onnx").exists()
    (data / "s.tsv").write_text("".join(f"{c}\tthe dog {w}\n" for c, w in (("pos", "sleeps"), ("neg", "jumps")) * 20))
    assert main(["train", "--task", "classify", "--data", "s.tsv", "--level", "char", "--hidden", "6",
                 "--embedding", "6", "--layers", "1", "--init-from", "e", "--max-steps", "1", "--out", "c"]) == 2
    err = capsys.readouterr().err
    assert "an ensemble of 2 language models (--members 2)" in err
    assert "this run is an ensemble of 3: give --members 2" in err
    assert err.count("\n") == 1 and not (data / "c").exists()
    assert main(["data", "segment", "text.txt", "--out", "seg.conll"]) == 0
    capsys.readouterr()
    assert main(["train", "--task", "tag", "--data", "seg.conll", "--level", "char", "--cell", "gru",
                 "--hidden", "6", "--embedding", "6", "--init-from", "e", "--max-steps", "1", "--quiet",
                 "--out", "t"]) == 2
    err = capsys.readouterr().err
    assert "this run is one model: a tagger is one model, or start from a language model of --members 1" in err
    assert err.count("\n") == 1 and not (data / "t").exists()


def test_a_bad_members_is_one_line_naming_it(data, capsys):
    assert main([*SMALL, "--members", "0"]) == 2
    err = capsys.readouterr().err
    assert "unroll: error: --members must be a positive integer, got 0\n" in err and err.count("\n") == 1
