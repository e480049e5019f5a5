"""Reading series from CSV (wide and long layouts, dates, missing values) and the one-line refusals,
calendar features, frequencies, window scaling, windows and backtest origins."""

import numpy as np
import pytest

from unroll.data import series as S
from unroll.data import windows as W


def write(tmp_path, text, name="d.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def refusal(path, **kw):
    with pytest.raises(ValueError) as err:
        S.read_series(path, **kw)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_wide_layout_reads_every_value_column_as_a_series(tmp_path):
    path = write(tmp_path, '"Month","a","b"\n"1949-01",1,10\n"1949-02",2,20\n"1949-03",3.5,30\n')
    a, b = S.read_series(path)
    assert (a.name, b.name) == ("a", "b")
    assert a.values.tolist() == [1, 2, 3.5] and b.values.tolist() == [10, 20, 30]
    assert a.dates.dtype == np.dtype("datetime64[M]") and S.frequency(a.dates) == "monthly"
    assert [str(d) for d in S.future_dates(a.dates, 2)] == ["1949-04", "1949-05"]
    only_b, = S.read_series(path, value_columns="b")
    assert only_b.name == "b"


def test_long_layout_groups_rows_by_series_id(tmp_path):
    path = write(tmp_path, "day,store,sales\n2020-01-01,x,1\n2020-01-01,y,5\n2020-01-02,x,2\n2020-01-02,y,6\n"
                           "2020-01-03,x,3\n")
    x, y = S.read_series(path, id_column="store")
    assert (x.name, x.values.tolist(), y.name, y.values.tolist()) == ("x", [1, 2, 3], "y", [5, 6])
    assert S.frequency(x.dates) == "daily"
    assert [str(d) for d in S.future_dates(x.dates, 1)] == ["2020-01-04"]


def test_first_of_month_dates_are_months_and_integer_indices_have_no_calendar(tmp_path):
    months, = S.read_series(write(tmp_path, "d,v\n2000-01-01,1\n2000-02-01,2\n2000-03-01,3\n"))
    assert S.frequency(months.dates) == "monthly"
    index, = S.read_series(write(tmp_path, "t,v\n1,1\n2,2\n3,3\n", "i.csv"))
    assert S.frequency(index.dates) == "index" and S.future_dates(index.dates, 2).tolist() == [4, 5]
    assert S.calendar_kinds("auto", "index") == ()
    with pytest.raises(ValueError, match="needs dates"):
        S.calendar_kinds("month", "index")


def test_a_non_numeric_cell_names_file_line_and_column(tmp_path):
    path = write(tmp_path, "Month,a,b\n1949-01,1,2\n1949-02,x7,3\n")
    assert refusal(path) == f"{path} line 3 column 2 (a): 'x7' is not a number"


def test_missing_values_are_refused_unless_a_fill_is_named(tmp_path):
    path = write(tmp_path, "Month,a\n1949-01,\n1949-02,2\n1949-03,NaN\n1949-04,4\n")
    message = refusal(path)
    assert message.startswith(f"{path} line 2 column 2 (a): missing value") and "--missing ffill" in message
    ffill, = S.read_series(path, missing="ffill")
    assert ffill.values.tolist() == [2, 2, 2, 4] and ffill.observed.tolist() == [0, 1, 0, 1]
    zero, = S.read_series(path, missing="zero")
    assert zero.values.tolist() == [0, 2, 0, 4]


def test_timestamps_out_of_order_or_duplicated_are_refused(tmp_path):
    path = write(tmp_path, "Month,a\n1949-01,1\n1949-03,2\n1949-02,3\n")
    assert refusal(path).startswith(f"{path} line 4 column 1 (Month): 1949-02 comes before the timestamp 1949-03 "
                                    "of line 3")
    path = write(tmp_path, "Month,a\n1949-01,1\n1949-01,2\n", "dup.csv")
    assert "line 3 column 1 (Month): 1949-01 repeats the timestamp 1949-01 of line 2" in refusal(path)
    path = write(tmp_path, "Month,a\nJanuary,1\n", "bad.csv")
    assert "line 2 column 1 (Month): 'January' is not a date" in refusal(path)


def test_ragged_rows_unknown_columns_and_an_empty_file_are_refused(tmp_path):
    assert "line 3: 1 cells, the header has 2" in refusal(write(tmp_path, "Month,a\n1949-01,1\n1949-02\n"))
    assert "no column 'zz'" in refusal(write(tmp_path, "Month,a\n1949-01,1\n", "c.csv"), value_columns="zz")
    assert "a header line and at least one row" in refusal(write(tmp_path, "Month,a\n", "e.csv"))


def test_a_series_shorter_than_context_plus_horizon_is_refused(tmp_path):
    s = S.Series("short", np.arange(10), np.ones(10), np.ones(10))
    with pytest.raises(ValueError) as err:
        W.check_lengths("d.csv", [s], 6, 3, 3)
    assert str(err.value).startswith("d.csv: series 'short' has 10 points, fewer than --context 6 + --horizon 3 "
                                     "+ the held-out --valid-length 3 = 12")


def test_calendar_features_are_phases_on_the_circle():
    dates = np.array(["2021-01", "2021-04", "2021-12"], "datetime64[M]")
    f = S.calendar_features(dates, ("month",))
    assert np.allclose(f[:, 0], np.sin(2 * np.pi * np.array([0, 3, 11]) / 12))
    assert np.allclose(f[:, 1], np.cos(2 * np.pi * np.array([0, 3, 11]) / 12))
    days = np.array(["2024-01-01", "2024-01-07"], "datetime64[D]")            # a Monday and a Sunday
    dow = S.calendar_features(days, ("dow",))
    assert np.allclose(dow[:, 0], np.sin(2 * np.pi * np.array([0, 6]) / 7))


def test_window_scaling_and_the_seasonal_scale():
    y, obs = np.array([2.0, -4.0, 6.0, 100.0]), np.array([1.0, 1.0, 1.0, 0.0])
    assert S.window_scale(y, obs, "meanabs") == (0.0, 4.0)
    loc, scale = S.window_scale(y, obs, "standard")
    assert loc == pytest.approx(4 / 3) and scale == pytest.approx(np.std([2.0, -4.0, 6.0]))
    assert S.window_scale(np.zeros(3), np.ones(3), "meanabs") == (0.0, 1.0)
    assert S.seasonal_scale(np.array([1.0, 2, 4, 8]), 2) == 4.5               # (|4-1| + |8-2|) / 2


def test_windows_lie_in_the_training_part_and_origins_in_the_tail():
    s = S.Series("a", np.arange(20), np.arange(20.0) + 1, np.ones(20))
    picks = W.training_picks([s], 4, 3, 5)
    assert picks[0] == (0, 0) and picks[-1] == (0, 8)                          # 8 + 4 + 3 = 15 = 20 - 5
    assert W.backtest_picks([s], 4, 3, 5, 1) == [(0, 11), (0, 12), (0, 13)]   # origins 15, 16, 17
    z, cal, obs, loc, scale, ex = W.window_batch([s], [np.zeros((20, 0))], [(0, 11)], 4, 3, "meanabs")
    assert ex.shape == (7, 1, 0)                                               # no covariates
    assert scale[0, 0] == np.mean([12, 13, 14, 15]) and np.allclose(z[:, 0] * scale[0, 0], np.arange(12.0, 19))
    assert W.seasonal_naive(np.arange(10.0), 6, 3, 2).tolist() == [4, 5, 4]
