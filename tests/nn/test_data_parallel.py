"""The strategy "data" (#34 lever 17, unroll/nn/kernels/data_parallel.py): a training step's batch split
across threads once, each part running the whole model.

Each part computes its rows with the same operations as the whole batch; the loss and the gradients are
the parts' means weighted by their token counts, a sum in another order, so every comparison is float64 at
1e-12 against the unsplit step ("off"), for every cell, with a mask, over truncated BPTT's carry (k2 = k1
and k2 > k1), and through the trainer; and the split step's gradients against centred differences.
"""

from __future__ import annotations

import numpy as np
import pytest

from unroll.models import LanguageModel
from unroll.nn.kernels import data_parallel, split
from unroll.train.bptt import TruncatedBPTT
from tests.nn.split_helpers import assert_trains_alike

V, H, T, N = 9, 5, 6, 10


@pytest.fixture(autouse=True)
def _small(monkeypatch):
    """Two parts of 5 rows are a split here (the real floor is MIN_ROWS_PER_PART = 8 rows a part)."""
    monkeypatch.setattr(split, "MIN_ROWS_PER_PART", 2)
    monkeypatch.setattr(split, "max_parts", lambda: 2)
    yield
    split.use(None)


@pytest.fixture
def parts_seen(monkeypatch):
    """The row ranges of every split step (data_parallel.run), recorded."""
    seen, real = [], data_parallel.run

    def spy(step, parts, *args, **kwargs):
        seen.append(list(parts))
        return real(step, parts, *args, **kwargs)
    monkeypatch.setattr(data_parallel, "run", spy)
    return seen


def _model(cell="lstm", dropout=0.0, **kwargs):
    return LanguageModel(vocab_size=V, hidden_size=H, num_layers=2, cell=cell, dtype=np.float64, dropout=dropout,
                         **kwargs)


def _batch(seed=2, steps=T):
    rng = np.random.default_rng(seed)
    return rng.integers(0, V, (steps, N)), rng.integers(0, V, (steps, N))


def _step(strategy, cell="lstm", state=None, mask=None, **kwargs):
    split.use(strategy)
    x, y = _batch()
    return _model(cell, **kwargs).loss_and_grads(x, y, state, mask)


def _assert_states_alike(got, expected):
    for g, e in zip(np.atleast_1d(got) if not isinstance(got, tuple) else got,
                    np.atleast_1d(expected) if not isinstance(expected, tuple) else expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_a_split_step_equals_the_whole_one(cell, parts_seen):
    rng = np.random.default_rng(5)
    state = _model(cell).zero_state(N)
    state = tuple(rng.standard_normal(s.shape) for s in state) if isinstance(state, tuple) else rng.standard_normal(state.shape)
    off = _step("off", cell, state)
    assert parts_seen == []
    data = _step("data", cell, state)
    assert parts_seen == [[(0, 5), (5, 10)]]
    assert_trains_alike(data, off)
    _assert_states_alike(data[2], off[2])


def test_a_masked_step_weights_each_part_by_its_real_tokens(parts_seen):
    """Part 0 keeps 11 tokens, part 1 all 30: the loss is the mean over the 41, not the mean of the means."""
    mask = np.zeros((T, N))
    mask[:, 5:] = 1.0
    mask[:2, 0] = mask[:3, 1] = mask[:6, 4] = 1.0
    assert_trains_alike(_step("data", mask=mask), _step("off", mask=mask))
    assert parts_seen == [[(0, 5), (5, 10)]]


def test_a_part_without_real_tokens_runs_the_step_whole(parts_seen, monkeypatch):
    """Part 0's mean loss would be 0 / 0: the step runs whole (its stack as under "own")."""
    mask = np.zeros((T, N))
    mask[:, 5:] = 1.0
    tasks, real = [], split.run
    monkeypatch.setattr(split, "run", lambda task, ranges: tasks.append(task.__qualname__) or real(task, ranges))
    assert_trains_alike(_step("data", mask=mask), _step("off", mask=mask))
    assert parts_seen == [[(0, 5), (5, 10)]] and not any("data_parallel" in t for t in tasks)


@pytest.mark.parametrize("k2", [T, T + 4])
def test_truncated_bptt_splits_its_carry_and_continues_alike(k2, parts_seen):
    """Three consecutive batches of a stream: each step's loss and gradients, and the carried state and
    history, equal the unsplit driver's."""
    results = {}
    for strategy in ("off", "data"):
        split.use(strategy)
        driver = TruncatedBPTT(_model(), T, k2)
        results[strategy] = [(*driver.step(*_batch(seed)), driver.carry()) for seed in (1, 2, 3)]
    assert parts_seen == [[(0, 5), (5, 10)]] * 3
    for (l_d, g_d, c_d), (l_o, g_o, c_o) in zip(results["data"], results["off"]):
        assert_trains_alike((l_d, g_d), (l_o, g_o))
        _assert_states_alike(c_d["state"], c_o["state"])
        assert (c_d["history"] is None) == (k2 == T)
        if c_d["history"] is not None:
            for h_d, h_o in zip(c_d["history"], c_o["history"]):
                np.testing.assert_array_equal(h_d, h_o)


def test_weight_drop_runs_whole_and_as_off(parts_seen):
    """Its one DropConnect mask per batch would be one per part: not split, the same mask drawn as "off"."""
    data = _step("data", weight_drop=0.2)
    assert parts_seen == []
    assert_trains_alike(data, _step("off", weight_drop=0.2))


@pytest.mark.parametrize("regulariser", [{"dropout": 0.3}, {"dropout": 0.3, "locked_dropout": True}])
def test_dropout_draws_each_parts_masks_from_a_generator_seeded_by_the_models(regulariser, parts_seen):
    """The parts cannot share the model's generator (they would draw in thread order): each part's masks come
    from a generator seeded from it on this thread. Reproducible to the bit; the model's generator advanced
    by the seeds alone; other masks than off's, so another loss, of the same size."""
    runs = []
    for _ in range(2):
        split.use("data")
        model, (x, y) = _model(**regulariser), _batch()
        expected_seeds = np.random.default_rng(0)                      # the model's seed (0) after init ...
        expected_seeds.bit_generator.state = model.rng.bit_generator.state
        runs.append(model.loss_and_grads(x, y))
        expected_seeds.integers(0, 2 ** 63, size=2)                    # ... advanced by two seeds, nothing else
        assert model.rng.bit_generator.state == expected_seeds.bit_generator.state
    assert parts_seen == [[(0, 5), (5, 10)]] * 2
    assert runs[0][0] == runs[1][0]
    for key in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][key], runs[1][1][key])
    off = _step("off", **regulariser)
    assert runs[0][0] != off[0] and abs(runs[0][0] - off[0]) < 0.2 * off[0]


def test_auto_never_splits_a_model_that_draws(parts_seen, monkeypatch):
    """auto's choice comes from a timing, which a fresh machine may measure otherwise: for a model with
    dropout it must not change the masks, so auto runs it whole even where "data" won the calibration."""
    monkeypatch.setattr(split, "calibrated", lambda cell, H, N, layers=False: "off" if layers else "data")
    monkeypatch.setattr(split, "MIN_HIDDEN", 1)
    assert _model(dropout=0.3).step_parts(N) is None
    assert _model().step_parts(N) == [(0, 5), (5, 10)]
    assert_trains_alike(_step(None, dropout=0.3), _step("off", dropout=0.3))
    assert parts_seen == []


def test_inside_a_part_every_strategy_reads_off():
    split.use("data")
    seen = []

    def task(i, a, b):
        seen.append((split.in_part(), split.stack_strategy("lstm", 128, 50), split.step_parts("lstm", 128, 50),
                     split.parts(50, 128, "lstm")))
    split.run(task, [(0, 25), (25, 50)])
    assert seen == [(True, "off", None, [(0, 50)])] * 2
    assert not split.in_part()
    assert split.stack_strategy("lstm", 128, 50) == "own"               # a stack outside a step: as own
    assert split.step_parts("lstm", 128, 50) == [(0, 25), (25, 50)]


def test_too_few_rows_or_one_thread_run_whole(monkeypatch):
    split.use("data")
    assert split.step_parts("lstm", 128, 3) is None                     # under two parts' rows
    monkeypatch.setattr(split, "max_parts", lambda: 1)
    assert split.step_parts("lstm", 128, 50) is None


def test_the_calibration_times_data_on_the_parts(monkeypatch):
    """measure's "data" pass runs the stack and output layer on each part's rows, on the threads."""
    calls = []
    real = split._pass
    monkeypatch.setattr(split, "WARM_S", 0.0)
    monkeypatch.setattr(split, "_pass", lambda layers, out, x, dy: calls.append((split.in_part(), x.shape))
                        or real(layers, out, x, dy))
    entry = split.measure("gru", 4, 10, rounds=1, budget_s=0.0)
    assert set(entry["seconds"]) == set(split.CANDIDATES)
    assert (True, (split.T, 5, 4)) in calls and (False, (split.T, 10, 4)) in calls
    assert all(shape == (split.T, 5, 4) for part, shape in calls if part)


def test_the_trainer_trains_alike_under_data_and_off(tmp_path, monkeypatch):
    """``unroll train`` (the language-model task: truncated BPTT, clipping, Adam) for a few float64 steps:
    the same losses and parameters under "data" as under "off"."""
    from unroll.cli import main
    corpus = tmp_path / "text.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 40)
    finals = {}
    for strategy in ("off", "data"):
        monkeypatch.setenv("UNROLL_SPLIT", strategy)
        out = tmp_path / strategy
        assert main(["train", "--data", str(corpus), "--out", str(out), "--hidden", "6", "--layers", "2",
                     "--dropout", "0", "--batch", "10", "--seq-len", "8", "--max-steps", "5", "--dtype", "float64",
                     "--quiet"]) == 0
        from unroll.runs.folder import RunFolder
        finals[strategy] = RunFolder(out).load()[1].params
    for key, value in finals["off"].items():
        np.testing.assert_allclose(finals["data"][key], value, rtol=1e-10, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_a_split_steps_gradients_against_centred_differences(cell, parts_seen):
    """The split step's own gradients (not only their agreement with "off"), with a mask whose parts hold
    different token counts and a random initial state: every parameter against centred differences."""
    from unroll.nn import gradcheck
    split.use("data")
    model, (x, y) = _model(cell), _batch(4)
    rng = np.random.default_rng(6)
    zero = model.zero_state(N)
    state = tuple(rng.standard_normal(s.shape) for s in zero) if isinstance(zero, tuple) else rng.standard_normal(zero.shape)
    mask = (rng.random((T, N)) < 0.7).astype(float)
    mask[0] = 1.0
    _, grads, _ = model.loss_and_grads(x, y, state, mask)
    assert len(parts_seen) == 1
    errors = gradcheck.check(lambda: model.loss_and_grads(x, y, state, mask)[0], model.params, grads, eps=1e-5)
    assert max(errors.values()) < 1e-7, errors
