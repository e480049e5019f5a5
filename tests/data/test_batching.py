"""Stream batches: shapes, the exact layout, continuity across batches, epochs, resume; eval coverage."""

import json

import numpy as np
import pytest

from unroll.data.batching import StreamBatcher, eval_batches


def test_shapes_and_layout():
    ids = np.arange(103, dtype=np.int32)
    b = StreamBatcher(ids, batch_size=4, seq_len=5)            # L = 25 per stream, (25 - 1) // 5 = 4 batches
    assert b.batches_per_epoch == 4
    x, y = next(b)
    assert x.shape == y.shape == (5, 4) and x.dtype == np.int32 and x.flags.c_contiguous
    np.testing.assert_array_equal(x[:, 1], [25, 26, 27, 28, 29])   # stream 1 starts at 1·L
    np.testing.assert_array_equal(y, x + 1)                         # targets are the next ids
    x3, _ = b.batch_at(3)
    np.testing.assert_array_equal(x3[:, 3], [90, 91, 92, 93, 94])


def test_consecutive_batches_continue_every_stream():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 50, size=5000)
    b = StreamBatcher(ids, batch_size=7, seq_len=9)
    L = 5000 // 7
    batches = [next(b) for _ in range(b.batches_per_epoch)]
    for (x0, y0), (x1, _) in zip(batches, batches[1:]):
        np.testing.assert_array_equal(x1[0], y0[-1])               # row 0 of batch k+1 follows batch k
    stitched = np.concatenate([x for x, _ in batches])              # (epoch steps, N)
    for n in range(7):
        np.testing.assert_array_equal(stitched[:, n], ids[n * L: n * L + len(stitched)])


def test_epochs_wrap_and_reset_state():
    b = StreamBatcher(np.arange(40), batch_size=2, seq_len=3)     # L = 20, 19 // 3 = 6 batches
    assert (b.epoch, b.position, b.reset_state) == (0, 0, True)
    first, _ = next(b)
    assert b.reset_state and (b.epoch, b.position) == (0, 1)
    flags = []
    for _ in range(5):
        next(b)
        flags.append(b.reset_state)
    assert flags == [False] * 5 and (b.epoch, b.position) == (1, 0)
    again, _ = next(b)
    assert b.reset_state and (b.epoch, b.position) == (1, 1)
    np.testing.assert_array_equal(again, first)                     # a new epoch starts over


def test_resume_from_state_dict_gives_the_same_batches():
    ids = np.random.default_rng(1).integers(0, 30, size=2000)
    straight = StreamBatcher(ids, 8, 10)
    expected = [next(straight) for _ in range(60)]
    interrupted = StreamBatcher(ids, 8, 10)
    for _ in range(37):
        next(interrupted)
    arrays, state = interrupted.state_dict()
    assert arrays == {}
    state = json.loads(json.dumps(state))
    assert state == {"epoch": 1, "position": 13, "batch_size": 8, "seq_len": 10, "num_tokens": 2000}
    resumed = StreamBatcher(ids, 8, 10)
    resumed.load_state_dict({}, state)
    for k in range(37, 60):
        x, y = next(resumed)
        np.testing.assert_array_equal(x, expected[k][0])
        np.testing.assert_array_equal(y, expected[k][1])
    with pytest.raises(ValueError, match=r"saved for batch 8 × seq-len 10 over 2000 tokens, but this batcher has "
                                         r"batch 4 × seq-len 10 over 2000 tokens"):
        StreamBatcher(ids, 4, 10).load_state_dict({}, state)
    with pytest.raises(ValueError, match=r"position in \[0, 24\)"):
        resumed.load_state_dict({}, {**state, "position": 24})
    with pytest.raises(ValueError, match="lacks the integer field.s. epoch"):
        resumed.load_state_dict({}, {k: v for k, v in state.items() if k != "epoch"})


def test_too_short_corpus():
    StreamBatcher(np.arange(4 * 11), 4, 10)                         # exactly N·(T+1): one batch
    with pytest.raises(ValueError, match=r"corpus of 43 tokens is too short for batch 4 × seq-len 10 "
                                         r"\(needs at least N·\(T\+1\) = 44 tokens\)"):
        StreamBatcher(np.arange(43), 4, 10)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        StreamBatcher(np.arange(100), 0, 10)
    with pytest.raises(ValueError, match="ids must be a 1-D integer array"):
        StreamBatcher(np.zeros((10, 10), dtype=int), 2, 2)


@pytest.mark.parametrize("K, N, T", [(101, 4, 5), (100, 4, 5), (41, 4, 5), (21, 4, 5), (1000, 7, 13),
                                     (5, 4, 3), (37, 1, 50)])
def test_eval_batches_cover_every_target_exactly_once(K, N, T):
    ids = np.random.default_rng(K).integers(0, 1000, size=K)
    seen_pairs = []
    for x, y, mask in eval_batches(ids, N, T):
        assert x.shape == y.shape == mask.shape == (T, N) and mask.dtype == bool
        assert np.all(mask[1:] <= mask[:-1])                        # a prefix of real steps per column
        assert np.all(x[~mask] == 0) and np.all(y[~mask] == 0)
        seen_pairs += list(zip(x[mask].tolist(), y[mask].tolist()))
    assert sorted(seen_pairs) == sorted(zip(ids[:-1].tolist(), ids[1:].tolist()))


def test_eval_batches_streams_are_contiguous_and_continue():
    ids = np.arange(24)                                             # 23 pairs over 3 streams: 8, 8, 7
    batches = list(eval_batches(ids, 3, 5))
    assert len(batches) == 2
    x = np.concatenate([b[0] for b in batches])
    m = np.concatenate([b[2] for b in batches])
    np.testing.assert_array_equal(x[:8, 0], np.arange(0, 8))
    np.testing.assert_array_equal(x[:8, 1], np.arange(8, 16))
    np.testing.assert_array_equal(x[:7, 2], np.arange(16, 23))
    assert m.sum(axis=0).tolist() == [8, 8, 7]
    np.testing.assert_array_equal(batches[1][0][0], batches[0][1][-1])   # row 0 continues each stream
    with pytest.raises(ValueError, match=r"validation corpus of 3 tokens is too short for batch 3 "
                                         r"\(needs at least N \+ 1 = 4 tokens\)"):
        list(eval_batches(np.arange(3), 3, 5))
