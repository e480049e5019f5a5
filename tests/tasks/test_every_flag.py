"""Every flag that shapes the network or the data, for every task and input kind, either acts or is refused:
two training steps with the flag changed from its default give other parameters (or another first batch)
than the defaults do, or the settings are refused in one line that names the flag. A flag accepted and
ignored fails here (issue 28). Tiny sizes, float64, two SGD steps; the task's own prepare, build_model,
batches and loss_and_grads, as `unroll train` calls them."""

import numpy as np
import pytest

from unroll.cli import build_parser
from unroll.config import TrainConfig, from_args
from unroll.tasks import get_task

from tests.data.vector_helpers import make_sequences, write_csv
from tests.tasks.helpers import sentiment_lines

SMALL = ["--hidden", "3", "--batch", "4", "--seed", "0"]


def write_data(folder):
    (folder / "s.tsv").write_text("".join(f"{y}\t{t}, it{i}!\n" for i, (y, t) in enumerate(sentiment_lines(24))))
    words = ["ab", "ba", "abc", "ca", "bca", "cab"]       # and a word seen once in each sequence (--min-count)
    conll = "".join("".join(f"{w}\t{'B' if k == 0 else 'I'}\n" for k, w in enumerate([*words[i % 6: i % 6 + 3],
                                                                                       f"w{i}"])) + "\n"
                    for i in range(20))
    (folder / "t.conll").write_text(conll)
    (folder / "p.tsv").write_text("".join(f"{w}{i % 3}\t{w[::-1]}\n" for i, w in enumerate(words * 5)))
    (folder / "lm.txt").write_text("the quick brown fox jumps over the lazy dog\n" * 8)
    rng, months = np.random.default_rng(0), np.arange(np.datetime64("2000-01"), np.datetime64("2000-01") + 40)
    rows = ["month,store,sales,price,size"] + [f"{m},{s},{lv + np.sin(t) + rng.standard_normal():.4f},{np.cos(t):.3f},{lv}"
                                               for t, m in enumerate(months) for s, lv in (("a", 20.0), ("b", 50.0))]
    (folder / "f.csv").write_text("\n".join(rows) + "\n")
    xs, labels, tags = make_sequences(24, seed=1)
    write_csv(folder / "c.csv", xs, labels)
    write_csv(folder / "v.csv", xs, tags, per_step=True)


RUNS = {      # task and input kind -> the flags of a small run on the data above
    "lm": ["--task", "lm", "--data", "lm.txt", "--seq-len", "5", "--layers", "1"],
    "classify-tokens": ["--task", "classify", "--data", "s.tsv", "--embedding", "4"],
    "classify-vectors": ["--task", "classify", "--data", "c.csv"],
    "tag-tokens": ["--task", "tag", "--data", "t.conll", "--embedding", "4"],
    "tag-vectors": ["--task", "tag", "--data", "v.csv"],
    "seq2seq-tokens": ["--task", "seq2seq", "--data", "p.tsv"],
    "seq2seq-vectors": ["--task", "seq2seq", "--data", "c.csv"],
    "generate": ["--task", "generate", "--data", "s.tsv"],
    "forecast": ["--task", "forecast", "--data", "f.csv", "--id-column", "store", "--value-columns", "sales",
                 "--context", "6", "--horizon", "3", "--valid-length", "6"],
    "longterm-adding": ["--task", "longterm", "--problem", "adding", "--T", "6"],
    "longterm-copy": ["--task", "longterm", "--problem", "copy", "--T", "4"],
}
NETWORK = [["--cell", "gru"], ["--cell", "lstm"], ["--hidden", "4"], ["--layers", "2"], ["--bidirectional"],
           ["--no-bidirectional"], ["--embedding", "5"], ["--dropout", "0.3"], ["--locked-dropout"],
           ["--layers", "2", "--dropout", "0.3", "--locked-dropout"], ["--weight-drop", "0.3"], ["--recurrent-dropout", "0.3"],
           ["--zoneout", "0.2"], ["--cell", "gru", "--zoneout", "0.2"],
           ["--activation", "relu"], ["--cell", "rnn", "--activation", "relu"], ["--init", "orthogonal"],
           ["--init-scale", "0.05"], ["--embedding-init-scale", "0.25"], ["--forget-bias", "2"], ["--alpha", "0.5"], ["--cell", "leaky", "--alpha", "0.5"],
           ["--alpha-range", "0.5", "0.9"], ["--cell", "leaky", "--alpha-range", "0.5", "0.9"],
           ["--cell", "rnn", "--activation", "relu", "--init", "identity:0.001"],
           ["--skip-every", "3"], ["--cell", "skip", "--skip-every", "3"], ["--cell", "skip", "--skip-only"],
           ["--depth", "3"], ["--cell", "deep_transition", "--depth", "3"],
           ["--cell", "deep_transition", "--shortcut"], ["--cell", "deep_output", "--depth", "2"]]
DATA = {
    "lm": [["--level", "word"], ["--min-count", "2"], ["--tokenizer", "space"], ["--valid-fraction", "0.3"],
           ["--members", "2"]],
    "classify-tokens": [["--level", "char"], ["--min-count", "2"], ["--tokenizer", "space"], ["--level", "char",
                        "--tokenizer", "space"], ["--readout", "mean"], ["--embedding-dropout", "0.1"],
                        ["--valid-fraction", "0.3"], ["--input-layer", "mlp"], ["--missing", "zero"], ["--members", "2"],
                        ["--adversarial", "0.5"]],
    "classify-vectors": [["--tokenizer", "space"], ["--min-count", "2"], ["--encoding", "latin-1"],
                         ["--input-layer", "mlp"], ["--no-standardize"], ["--readout", "mean"], ["--members", "2"],
                         ["--adversarial", "0.5"]],
    "tag-tokens": [["--min-count", "2"], ["--input-layer", "mlp"]],     # --level: how predict splits a line
    "tag-vectors": [["--min-count", "2"], ["--input-layer", "mlp"], ["--no-standardize"]],
    "seq2seq-tokens": [["--no-reverse-source"], ["--level", "word"], ["--attention"], ["--conditioning", "init"],
                       ["--input-layer", "mlp"]],
    "seq2seq-vectors": [["--no-reverse-source"], ["--encoding", "latin-1"], ["--attention"], ["--input-layer", "mlp"]],
    "generate": [["--level", "char"], ["--mode", "h0"], ["--min-count", "2"], ["--tokenizer", "space"]],
    "forecast": [["--decoder", "autoregressive"], ["--ar-loss", "horizon"], ["--samples", "20"],
                 ["--scaling", "standard"], ["--calendar", "none"], ["--likelihood", "student-t"],
                 ["--intervals", "conformal"], ["--intervals", "conformal", "--calibration-length", "4"],
                 ["--calibration-length", "4"], ["--series-embedding", "2"], ["--valid-length", "0"],
                 ["--past-covariates", "price"], ["--future-covariates", "price"], ["--static-columns", "size"]],
    "longterm-adding": [["--T", "8"], ["--problem", "copy"]],
    "longterm-copy": [["--T", "6"]],
}
CASES = [(run, flag) for run in RUNS for flag in NETWORK + DATA[run]]
PARSERS = {}


def settings(run: str, extra: list[str]) -> dict | None:
    """The run's settings sections from its command line (a ValueError when the flags are refused; None when
    the task offers no such flag, e.g. --no-bidirectional where reading one way is the default)."""
    name = RUNS[run][1]
    try:
        args = PARSERS.setdefault(name, build_parser(name)).parse_args(["train", *RUNS[run], *SMALL, *extra])
    except SystemExit:
        return None
    task_cls = get_task(name)
    return {"train": from_args(TrainConfig, args, "train", task_cls.train_defaults),
            **{s: from_args(c, args, s) for s, c in task_cls.sections.items()}}


def steps(folder, run: str, extra: list[str]):
    """(parameters after two SGD steps, the first batch) of a run with these flags; ValueError when refused."""
    task = get_task(RUNS[run][1])(settings(run, extra))
    train = task.settings["train"]
    task.prepare()
    model, batches = task.build_model(0), task.batches(train)
    first, state = next(batches), None
    batch = first
    for _ in range(2):
        _, grads, state = task.loss_and_grads(model, batch, state)
        for k in model.params:
            model.params[k] -= 0.1 * grads[k]
        batch = next(batches)
    return model.params, first


def same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.array_equal(a, b)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("flags")
    write_data(path)
    return path


BASELINES = {}


@pytest.mark.parametrize("run, flag", CASES, ids=[f"{r}:{' '.join(f)}" for r, f in CASES])
def test_a_flag_acts_or_is_refused_naming_it(folder, run, flag, monkeypatch):
    monkeypatch.chdir(folder)
    if run not in BASELINES:
        BASELINES[run] = steps(folder, run, [])
    try:
        given = settings(run, flag)
        if given is None or given == settings(run, []):
            return                                       # not offered, or this task's default: nothing changed
        params, first = steps(folder, run, flag)
    except ValueError as err:
        message = str(err)
        named = [f for f in flag if f.startswith("--")]
        assert "\n" not in message and any(f in message for f in named), message
        return
    base_params, base_first = BASELINES[run]
    assert not (same(params, base_params) and same(first, base_first)), f"{' '.join(flag)} was accepted and ignored"
