"""The seq2seq task without the CLI: prepare, batches that resume exactly, a short training that learns
to reverse strings, eval metrics, predict with beam and an attention plot, and one-line errors."""

from types import SimpleNamespace

import numpy as np
import pytest

from unroll.data import pair_generators as gen
from unroll.data.pairs import write_pairs
from unroll.tasks import get_task
from unroll.tasks.seq2seq import PairDataConfig, PredictOptions, Seq2SeqConfig, cmd_data
from unroll.train.optim import Adam, clip_grad_norm

from tests.tasks.helpers import sections

TRAIN = SimpleNamespace(batch_size=16, seed=0)


def make_task(tmp_path, **model):
    pairs = gen.generate("reverse", 400, seed=0, min_len=2, max_len=5, alphabet="abcd")
    write_pairs(tmp_path / "pairs.tsv", pairs)
    task = get_task("seq2seq")(sections(get_task("seq2seq"), data=str(tmp_path / "pairs.tsv"), valid_fraction=0.1,
                                        **({"hidden_size": 24} | model)))
    task.prepare()
    return task


def test_prepare_records_vocabularies_and_lengths(tmp_path):
    task = make_task(tmp_path)
    assert task.prepared["src_vocab"]["tokens"] == ["<pad>", "<bos>", "<eos>", "a", "b", "c", "d"]
    assert task.prepared["max_source"] == 5 and task.prepared["train_pairs"] == 360


def test_batches_resume_exactly(tmp_path):
    task = make_task(tmp_path)
    straight = task.batches(TRAIN)
    expected = [next(straight) for _ in range(30)]           # 23 batches an epoch: crosses an epoch
    interrupted = task.batches(TRAIN)
    for _ in range(12):
        next(interrupted)
    arrays, scalars = interrupted.state_dict()
    resumed = task.batches(TRAIN)
    resumed.load_state_dict(arrays, scalars)
    for k in range(12, 30):
        got = next(resumed)
        for a, b in zip(got, expected[k]):
            np.testing.assert_array_equal(a, b)
    assert resumed.epoch == 1 and resumed.drawn == 30


def test_trains_then_evaluates_and_predicts(tmp_path):
    task = make_task(tmp_path, attention=True)
    model = task.build_model(seed=0)
    opt, batches = Adam(model.params, 1e-2), task.batches(TRAIN)
    first = task.metrics(model, "valid")
    for _ in range(300):
        loss, grads, _ = task.loss_and_grads(model, next(batches))
        clip_grad_norm(grads, 5.0)
        opt.step(grads)
    after = task.metrics(model, "valid")
    assert after["loss"] < 0.5 * first["loss"] and after["exact_match"] >= 0.8, after
    assert set(after) == {"loss", "exact_match", "char_error_rate", "bleu", "pairs"}
    assert after["pairs"] == 40
    out = list(task.predict(model, ["abcd", "dcb"], PredictOptions(beam=3, attention_plot=str(tmp_path / "a.png"))))
    assert out == ["dcba", "bcd"]
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("lines,message", [
    (["ab", ""], "input line 2: the source is empty"),
    (["abcd" * 13], "input line 1: the source has 52 tokens, more than the 50 accepted"),
])
def test_predict_errors_name_the_line(tmp_path, lines, message):
    task = make_task(tmp_path)
    with pytest.raises(ValueError, match=message) as err:
        list(task.predict(task.build_model(0), lines, None))
    assert "\n" not in str(err.value)


def test_eval_file_errors_name_the_line(tmp_path):
    task = make_task(tmp_path)
    (tmp_path / "bad.tsv").write_text("ab\tba\nabc cba\n")
    with pytest.raises(ValueError, match="bad.tsv:2: no tab"):
        task.metrics(task.build_model(0), str(tmp_path / "bad.tsv"))
    (tmp_path / "oov.tsv").write_text("ab\tbz\nab\tbz\n")                 # nothing it can score
    with pytest.raises(ValueError, match="oov.tsv: none of its 2 pairs can be evaluated \\(first: .*oov.tsv line 1: "
                                         "target character 'z'"):
        task.metrics(task.build_model(0), str(tmp_path / "oov.tsv"))


def test_predict_leaves_a_line_with_an_unseen_character_empty_and_says_so(tmp_path, capsys):
    task = make_task(tmp_path)
    out = list(task.predict(task.build_model(0), ["abcd", "abx", "dcb"], None))
    assert len(out) == 3 and out[1] == ""
    assert "unroll: warning: input line 2: character 'x' at position 2 is not in the vocabulary" in capsys.readouterr().err


def test_data_command_writes_disjoint_sets(tmp_path):
    args = SimpleNamespace(kind="addition", n=50, test=20, test_out=tmp_path / "t.tsv", seed=1, min_len=10,
                           max_len=60, max_digits=2, out=tmp_path / "p.tsv")
    assert cmd_data(args) == 0
    train = (tmp_path / "p.tsv").read_text().splitlines()
    test = (tmp_path / "t.tsv").read_text().splitlines()
    assert len(train) == 50 and len(test) == 20 and not {l.split("\t")[0] for l in train} & {l.split("\t")[0] for l in test}
    assert train == [f"{s}\t{t}" for s, t in gen.generate("addition", 70, 1, max_digits=2)[:50]]
