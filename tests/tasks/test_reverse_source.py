"""seq2seq --reverse-source (Sutskever et al. 2014): the encoder reads every training, validation and
predicted source backwards, and nothing else changes."""

import json

import numpy as np
import pytest

from unroll.cli import main
from unroll.config import TrainConfig
from unroll.models.seq2seq import NETWORK
from unroll.tasks.seq2seq import PairDataConfig, Seq2SeqConfig, Seq2SeqTask
from tests.tasks.test_reverse_source_predict import logged   # a run's log without its timings


def task_for(path, reverse):
    task = Seq2SeqTask({"train": TrainConfig(batch_size=8, max_steps=1), "pairs": PairDataConfig(data=str(path)),
                        "seq2seq": Seq2SeqConfig(reverse_source=reverse), "network": NETWORK(hidden_size=4)})
    task.prepare()
    return task


@pytest.fixture()
def pairs(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("".join(f"{a}+{b}\t{a + b}\n" for a, b in zip(range(1, 120, 3), range(7, 300, 7))))
    return path


def test_batches_and_sources_are_reversed(pairs):
    plain, rev = task_for(pairs, False), task_for(pairs, True)
    a, b = next(plain.batches(plain.settings["train"])), next(rev.batches(rev.settings["train"]))
    lengths = a.src_mask.sum(axis=0).astype(int)
    assert np.array_equal(lengths, b.src_mask.sum(axis=0).astype(int))
    for n, L in enumerate(lengths):
        assert np.array_equal(b.src[:L, n], a.src[:L, n][::-1])
    assert np.array_equal(a.tgt_in, b.tgt_in) and np.array_equal(a.tgt_out, b.tgt_out)
    assert np.array_equal(rev.encode_source("12+34", "x"), plain.encode_source("12+34", "x")[::-1])


def test_cli_eval_equals_the_logged_validation(pairs, tmp_path, capsys):
    assert main(["train", "--task", "seq2seq", "--data", str(pairs), "--hidden", "8", "--batch", "8",
                 "--reverse-source", "--max-steps", "6", "--eval-every", "3", "--quiet", "--out", str(tmp_path / "r")]) == 0
    logged = [json.loads(l) for l in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in logged if "valid_loss" in r][-1]
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "r"), "--checkpoint", "last", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["loss"] == pytest.approx(last["valid_loss"], rel=1e-12)
    assert json.loads((tmp_path / "r" / "config.json").read_text())["seq2seq"]["reverse_source"] is True


def test_the_default_reads_sources_backwards(pairs, tmp_path, capsys):
    """#30: with no flag the run reverses its sources (the config says so) and logs exactly what
    --reverse-source logs; --no-reverse-source turns it off."""
    common = ["train", "--task", "seq2seq", "--data", str(pairs), "--hidden", "8", "--batch", "8",
              "--max-steps", "4", "--eval-every", "2", "--quiet"]
    for name, flags in (("default", []), ("flag", ["--reverse-source"]), ("off", ["--no-reverse-source"])):
        assert main([*common, *flags, "--out", str(tmp_path / name)]) == 0
    config = {n: json.loads((tmp_path / n / "config.json").read_text())["seq2seq"] for n in ("default", "off")}
    assert config["default"]["reverse_source"] is True and config["off"]["reverse_source"] is False
    assert logged(tmp_path / "default") == logged(tmp_path / "flag") != logged(tmp_path / "off")


def test_a_run_written_before_the_flag_reads_forwards(pairs, tmp_path, capsys):
    """A config.json without reverse_source (runs made before 2026-12-02) ran forwards: it reads as
    forwards, so eval of its last checkpoint equals its logged validation loss to the last digit."""
    run = tmp_path / "old"
    assert main(["train", "--task", "seq2seq", "--data", str(pairs), "--hidden", "8", "--batch", "8",
                 "--no-reverse-source", "--max-steps", "4", "--eval-every", "2", "--quiet", "--out", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    del config["seq2seq"]["reverse_source"]
    (run / "config.json").write_text(json.dumps(config))
    last = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if "valid_loss" in l][-1]
    capsys.readouterr()
    assert main(["eval", str(run), "--checkpoint", "last", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["loss"] == last["valid_loss"]
