"""seq2seq --reverse-source (Sutskever et al. 2014): the encoder reads every training, validation and
predicted source backwards, and nothing else changes."""

import json

import numpy as np
import pytest

from unroll.cli import main
from unroll.config import TrainConfig
from unroll.models.seq2seq import NETWORK
from unroll.tasks.seq2seq import PairDataConfig, Seq2SeqConfig, Seq2SeqTask


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
