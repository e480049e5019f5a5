"""unroll.data.vectors and vector_formats: the long CSV, .ts and .npz readers give the same sequences; every kind of bad input
is one line naming the file, line and column; missing values are refused or filled exactly as documented."""

import numpy as np
import pytest

from unroll.data import vectors as V
from unroll.data.vector_formats import read_vectors
from tests.data.vector_helpers import make_sequences, write_csv, write_npz, write_ts


@pytest.fixture()
def seqs():
    return make_sequences(10, seed=3)


def test_three_formats_read_the_same_sequences(tmp_path, seqs):
    xs, labels, tags = seqs
    write_csv(tmp_path / "a.csv", xs, labels)
    write_ts(tmp_path / "a.ts", xs, labels)
    write_npz(tmp_path / "a.npz", xs, labels)
    sets = [read_vectors(tmp_path / f"a.{s}") for s in ("csv", "ts", "npz")]
    for data in sets:
        assert data.labels == labels
        assert all(np.array_equal(a, b) for a, b in zip(data.xs, xs))       # repr() round-trips floats exactly
    assert sets[0].ids == [f"s{i}" for i in range(10)] and sets[0].features == ["f0", "f1", "f2"]
    write_csv(tmp_path / "t.csv", xs, tags, per_step=True)
    write_npz(tmp_path / "t.npz", xs, tags, per_step=True)
    for name in ("t.csv", "t.npz"):
        data = read_vectors(tmp_path / name, per_step=True)
        assert data.labels == tags and all(np.array_equal(a, b) for a, b in zip(data.xs, xs))


def test_csv_columns_by_flag_and_interleaved_ids(tmp_path):
    (tmp_path / "a.csv").write_text("who,when,speed,kind,noise\nb,1,2.5,run,9\na,1,1.0,walk,9\nb,2,3.5,run,9\n"
                                    "a,5,1.5,walk,9\n")
    data = read_vectors(tmp_path / "a.csv", V.Columns("who", "when", "kind", "speed"))
    assert data.ids == ["b", "a"] and data.labels == ["run", "walk"] and data.features == ["speed"]
    assert [x[:, 0].tolist() for x in data.xs] == [[2.5, 3.5], [1.0, 1.5]]


def test_ts_header_checks_and_variable_lengths(tmp_path):
    (tmp_path / "a.ts").write_text("@problemName x\n@timeStamps false\n@dimensions 2\n@classLabel true a b\n@data\n"
                                   "1,2,3:4,5,6:a\n7,8:9,10:b\n")
    data = read_vectors(tmp_path / "a.ts")
    assert [x.tolist() for x in data.xs] == [[[1, 4], [2, 5], [3, 6]], [[7, 9], [8, 10]]]
    assert data.labels == ["a", "b"]


def test_missing_values_refused_then_filled(tmp_path):
    (tmp_path / "m.csv").write_text("id,f,g,label\na,,1,x\na,2,NaN,x\na,,3,x\nb,4,5,y\n")
    with pytest.raises(ValueError, match=r"m.csv:2: column 'f' \(column 2\): missing value .* --missing ffill"):
        read_vectors(tmp_path / "m.csv")
    ffill = read_vectors(tmp_path / "m.csv", missing="ffill").xs[0]
    assert ffill.tolist() == [[2, 1], [2, 1], [2, 3]]                    # the start takes the first value
    zero = read_vectors(tmp_path / "m.csv", missing="zero").xs[0]
    assert zero.tolist() == [[0, 1], [2, 0], [0, 3]]
    (tmp_path / "m.ts").write_text("@dimensions 1\n@classLabel true a\n@data\n1,?,3:a\n")
    with pytest.raises(ValueError, match=r"m.ts:4: dimension 1, value 2: missing value"):
        read_vectors(tmp_path / "m.ts")
    np.savez(tmp_path / "m.npz", x_0=np.array([[1.0], [np.nan]]), labels=np.array(["a"]))
    with pytest.raises(ValueError, match=r"m.npz: x_0 row 1, column 0: missing value"):
        read_vectors(tmp_path / "m.npz")


BAD_CSV = [
    ("id,f,label\na,1,x\na,abc,x\n", r"b.csv:3: column 'f' \(column 2\): 'abc' is not a number \(if 'f' holds classes"),
    ("id,f,label\na,1,x\na,2\n", r"b.csv:3: 2 fields, the header has 3"),
    ("id,t,f,label\na,1,1,x\na,1,2,x\n", r"b.csv:3: column 't' \(column 2\): sequence 'a' time 1 repeats the time on line 2"),
    ("id,t,f,label\na,2,1,x\na,1,2,x\n", r"b.csv:3: column 't' \(column 2\): sequence 'a' time 1 goes back from the time"),
    ("id,f,label\na,1,x\na,2,y\n", r"b.csv:3: column 'label' \(column 3\): sequence 'a' has the label 'y' here but 'x'"),
    ("id,f,label\na,inf,x\n", r"b.csv:2: column 'f' \(column 2\): 'inf' is not a finite number"),
    ("key,f,label\na,1,x\n", r"b.csv: no sequence id column .* --id-col"),
    ("id,f,kind\na,1,x\n", r"b.csv: no label column .* --label-col"),
    ("id,label\na,x\n", r"b.csv: no feature columns"),
    ("id,t,f,label\na,yesterday,1,x\n", r"b.csv:2: column 't' \(column 2\): time 'yesterday' is neither a number"),
]


@pytest.mark.parametrize("text,message", BAD_CSV)
def test_bad_csv_is_one_line(tmp_path, text, message):
    (tmp_path / "b.csv").write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        read_vectors(tmp_path / "b.csv")
    assert "\n" not in str(err.value)


BAD_TS = [
    ("@dimensions 2\n@classLabel true a\n@data\n1,2:3,4:a\n1,2:a\n", r"b.ts:5: 1 dimensions, the file has 2"),
    ("@dimensions 2\n@classLabel true a\n@data\n1,2:3:a\n", r"b.ts:4: dimension 2 has 1 values, dimension 1 has 2"),
    ("@classLabel true a b\n@data\n1,2:c\n", r"b.ts:3: class label 'c' is not one of @classLabel a b"),
    ("@classLabel true a\n@data\n1,x:a\n", r"b.ts:3: dimension 1, value 2: 'x' is not a number"),
    ("@timeStamps true\n@classLabel true a\n@data\n(0,1):a\n", r"b.ts: @timeStamps true is not supported"),
    ("1,2,3:a\n", r"b.ts:1: expected an @-header line or @data"),
]


@pytest.mark.parametrize("text,message", BAD_TS)
def test_bad_ts_is_one_line(tmp_path, text, message):
    (tmp_path / "b.ts").write_text(text)
    with pytest.raises(ValueError, match=message):
        read_vectors(tmp_path / "b.ts")


def test_bad_npz_is_one_line_and_never_unpickles(tmp_path):
    np.savez(tmp_path / "o.npz", x_0=np.array([[1.0]]), labels=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"o.npz: .*allow_pickle.* \(save plain numeric and string arrays"):
        read_vectors(tmp_path / "o.npz")
    np.savez(tmp_path / "r.npz", x_0=np.ones((3, 2)), x_1=np.ones((2, 3)), labels=np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"r.npz: array x_1 has shape \(2, 3\); every sequence needs shape \(T_n >= 1, D = 2\)"):
        read_vectors(tmp_path / "r.npz")
    np.savez(tmp_path / "v.npz", values=np.ones((5, 2)), lengths=np.array([2, 2]), labels=np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"v.npz: 'values' has shape \(5, 2\); expected \(sum of lengths = 4, D\)"):
        read_vectors(tmp_path / "v.npz")
    np.savez(tmp_path / "l.npz", x_0=np.ones((3, 2)), labels=np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"l.npz: 'labels' holds 2 values for 1 sequences"):
        read_vectors(tmp_path / "l.npz")


def test_measurements_are_not_classes():
    V.check_classes(["1", "2", "3"], "f")                   # integer class names are classes
    V.check_classes(["walk", "0.5"], "f")                   # some text: names
    with pytest.raises(ValueError, match=r"f: the labels are numbers such as 0.731 \(3 distinct values\): classify"):
        V.check_classes(["0.731", "1", "2.5"], "f")
    with pytest.raises(ValueError, match=r"f: the tags are numbers such as 0.5"):
        V.check_classes([["1", "0.5"]], "f", "tag")


def test_scaler_and_padding():
    xs = [np.array([[1.0, 5.0], [3.0, 5.0]]), np.array([[2.0, 5.0]])]
    scaler = V.fit_scaler(xs)
    assert scaler == {"mean": [2.0, 5.0], "std": [np.sqrt(2 / 3), 1.0]}  # a constant feature keeps std 1
    x, mask = V.pad_vectors(V.apply_scaler(xs, scaler, np.float64), np.float64)
    assert x.shape == (2, 2, 2) and mask.tolist() == [[1, 1], [1, 0]]
    assert np.allclose(x[:, 0, 0], [-np.sqrt(1.5), np.sqrt(1.5)]) and x[1, 1].tolist() == [0, 0]


def test_numeric_text_is_noticed():
    assert V.looks_numeric(["0.1 0.2 0.3", "1.5\t2.5", "3,4,5"])
    assert not V.looks_numeric(["the film was good", "0.1 0.2"])
    assert not V.looks_numeric(["1", "2", "3"])             # one integer a line: could be words
