"""`unroll train --task classify --members K` through the CLI and the run folder: the default is three
members, --members 1 one classifier (unprefixed names; the default's member 0 starts from its weights); a
run folder written before the flag (config.json without the key) loads as one classifier and resumes
exactly; an ensemble's checkpoints name each member's parameters member{k}.* and save, load and resume exactly; validation, eval and predict
read the mean of the members' probabilities; --init-from starts every member (an LM ensemble of K starts K
members one to one, other counts refused); serve's unit rows show
member 0 and say so; a bad K, or --members with a task that has no members, is one line naming it."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from unroll.cli import main
from unroll.models.classifier import SequenceClassifier
from unroll.runs import run
from unroll.tasks.probes import Limits
from unroll.tasks.probes.classify import classify as classify_call
from unroll.tasks.probes.classify import unit_rows

from tests import saved
from tests.saved import final, same, start
from tests.tasks.helpers import write_sentiment_tsv

FORMAT3 = Path(__file__).resolve().parents[1] / "fixtures" / "format3-classify"
SMALL = ["train", "--task", "classify", "--data", "s.tsv", "--hidden", "4", "--embedding", "3", "--batch", "8",
         "--lr", "0.01", "--schedule", "constant", "--eval-every", "2", "--quiet"]
TEXT = "the film was great"


@pytest.fixture()
def data(tmp_path, monkeypatch):
    write_sentiment_tsv(tmp_path / "s.tsv")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_default_is_three_members_and_members_1_is_one_classifier(data):
    assert main([*SMALL, "--max-steps", "2", "--out", "three"]) == 0
    assert main([*SMALL, "--max-steps", "2", "--members", "1", "--out", "one"]) == 0
    three, one = start(data / "three"), start(data / "one")
    assert {"embed.W", "out.W", "out.b"} <= set(one) and not any(k.startswith("member") for k in one)
    assert sorted(three) == sorted(f"member{k}.{n}" for k in range(3) for n in one)
    assert all(np.array_equal(three[f"member0.{n}"], one[n]) for n in one)      # member 0: the seed's own model


def test_a_run_folder_without_the_key_loads_as_one_classifier_and_resumes_exactly(data, monkeypatch):
    assert main([*SMALL, "--members", "1", "--max-steps", "4", "--out", "whole"]) == 0
    assert main([*SMALL, "--members", "1", "--max-steps", "2", "--out", "old"]) == 0
    config = json.loads((data / "old" / "config.json").read_text())
    assert config["classify"].pop("members") == 1                 # as a run written before --members
    (data / "old" / "config.json").write_text(json.dumps(config, indent=1))
    task, model, _ = run.load(data / "old")
    assert task.cfg.members == 1 and type(model) is SequenceClassifier and "embed.W" in model.params
    assert main(["train", "--resume", "old", "--max-steps", "4", "--quiet"]) == 0
    assert same(final(data / "whole"), final(data / "old"))
    fixture = Path(shutil.copytree(FORMAT3, data / "format3"))      # a run folder of an older format
    monkeypatch.chdir(fixture)
    assert "members" not in json.loads((fixture / "config.json").read_text())["classify"]
    assert type(run.load(fixture).model) is SequenceClassifier


def test_an_ensemble_saves_loads_and_resumes_exactly(data):
    assert main([*SMALL, "--members", "2", "--max-steps", "4", "--out", "whole"]) == 0
    assert main([*SMALL, "--members", "2", "--max-steps", "2", "--out", "cut"]) == 0
    assert main(["train", "--resume", "cut", "--max-steps", "4", "--quiet"]) == 0
    whole = final(data / "whole")
    assert same(whole, final(data / "cut"))                     # the weights, and every dropout mask on the way
    task, model, info = run.load(data / "whole")
    names = list(model.members[0].params)
    assert sorted(whole) == sorted(f"member{k}.{n}" for k in range(2) for n in names)
    assert all(np.array_equal(model.params[k], whole[k]) for k in whole) and info["step"] == 4
    assert not np.array_equal(whole["member0.embed.W"], whole["member1.embed.W"])
    logged = [r["valid_loss"] for r in saved.log(data / "whole") if r.get("step") == 4 and "valid_loss" in r]
    assert task.metrics(model, "valid")["loss"] == pytest.approx(logged[-1], rel=0, abs=1e-12)


def test_eval_predict_and_serve_read_the_members_mean(data, capsys):
    assert main([*SMALL, "--members", "3", "--max-steps", "2", "--out", "e"]) == 0
    task, model, _ = run.load(data / "e")
    ids = task.encode(TEXT)[:, None]
    mean = np.mean([model.member(k).predict_proba(ids) for k in range(3)], axis=0)[0]
    assert list(task.predict(model, [TEXT], None)) == [task._line(mean)]
    assert main(["eval", "e"]) == 0
    assert f"loss {task.metrics(model, 'valid')['loss']:.4f}" in capsys.readouterr().out
    limits = Limits()
    assert np.allclose(classify_call(task, model, {"text": TEXT}, limits)["probs"], mean, rtol=0, atol=2e-6)
    rows = unit_rows(task, model, {"inputs": [TEXT], "unit": 1}, limits)
    _, cache = model.member(0).forward(ids, None, training=False)
    assert rows["member"] == "member 0 of 3"
    assert rows["rows"][0]["values"] == np.round(cache.hs[:, 0, 1].astype(float), 6).tolist()
    assert main([*SMALL, "--members", "1", "--max-steps", "2", "--out", "p"]) == 0
    assert "member" not in unit_rows(*run.load(data / "p")[:2], {"inputs": [TEXT]}, limits)


def test_init_from_starts_every_member(data):
    lm_ensemble(data, 1)
    assert main([*SMALL, "--members", "2", "--init-from", "lm", "--max-steps", "1", "--out", "c"]) == 0
    first = assert_members_start_from(data, lambda lm_params, k: lm_params)
    assert not np.array_equal(first["member0.out.W"], first["member1.out.W"])


@pytest.mark.parametrize("argv, message", [
    ([*SMALL, "--members", "0"], "unroll: error: --members must be a positive integer, got 0\n"),
    (["train", "--task", "tag", "--data", "t.conll", "--members", "2"], "unrecognized arguments: --members 2"),
    (["train", "--task", "generate", "--members", "2"], "unrecognized arguments: --members 2"),
])
def test_a_bad_members_is_one_line_naming_it(data, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def lm_ensemble(data, members: int) -> None:
    """A word-level GRU language model (--members K; 1: one model) shaped like SMALL's classifier, in lm/."""
    text = "".join(f"the {w} film was {w} and the story is good\n" for w in ("good", "bad", "fine", "dull") * 20)
    (data / "text.txt").write_text(text)
    assert main(["train", "--data", "text.txt", "--level", "word", "--cell", "gru", "--hidden", "4", "--layers", "1",
                 "--embedding", "3", "--seq-len", "8", "--batch", "4", "--max-steps", "2", "--eval-every", "2",
                 "--members", str(members), "--quiet", "--out", "lm"]) == 0


def assert_members_start_from(data, source) -> dict:
    """Run c's two members start with the embedding rows (by token) and GRU stack of ``source(lm_params, k)``,
    the language model in lm/ that starts member k; returns c's starting weights."""
    first = start(data / "c")
    task, _ = run.read_task(data / "c")
    lm_task, lm_model, _ = run.load(data / "lm", "best")
    lm_tokens, tokens = list(lm_task.vocab.tokens), task.prepared["vocab"]["tokens"]
    rows = [(i, lm_tokens.index(t)) for i, t in enumerate(tokens) if t in lm_tokens]
    assert len(rows) > 5
    for k in range(2):
        theirs = source(lm_model.params, k)
        stack = [key for key in theirs if key.startswith("layer0.gru.")]
        assert len(stack) == 4
        for i, j in rows:
            assert np.array_equal(first[f"member{k}.embed.W"][i], theirs["embed.W"][j])
        assert all(np.array_equal(first[f"member{k}.{key}"], theirs[key]) for key in stack)
    return first


def test_an_lm_ensemble_starts_each_member_from_its_own_language_model(data):
    lm_ensemble(data, 2)
    assert main([*SMALL, "--members", "2", "--init-from", "lm", "--max-steps", "1", "--out", "c"]) == 0
    first = assert_members_start_from(data, lambda lm_params, k: {
        key[len(f"member{k}."):]: v for key, v in lm_params.items() if key.startswith(f"member{k}.")})
    assert not np.array_equal(first["member0.layer0.gru.W_h"], first["member1.layer0.gru.W_h"])


@pytest.mark.parametrize("flags, mine", [(["--members", "3"], "an ensemble of 3"), (["--members", "1"], "one model")])
def test_an_lm_ensemble_of_another_count_is_refused_in_one_line(data, capsys, flags, mine):
    lm_ensemble(data, 2)
    capsys.readouterr()
    assert main([*SMALL, *flags, "--init-from", "lm", "--max-steps", "1", "--out", "c"]) == 2
    err = capsys.readouterr().err
    assert (f"an ensemble of 2 language models (--members 2) starts the members of an ensemble of 2 one to one, "
            f"this run is {mine}: give --members 2") in err and err.count("\n") == 1
    assert not (data / "c").exists()
