"""benchmarks/sentiment.py --combine: a ten-fold figure measured in several runs becomes one file of the same
shape (the rows of every part, the means over all of them, each part's command), and parts that do not
belong together are refused in one line naming the file."""

import json

import pytest

from tests.tasks.helpers import load_benchmark

bench = load_benchmark("sentiment")
SETTINGS = {"models": ["nbsvm", "scratch"], "time": 300.0, "flags": "", "out": "/tmp/a", "json": "a.json"}


def part(tmp_path, name, folds, scratch, nbsvm, cpu="Intel Xeon", **settings):
    rows = [{"fold": k, "nbsvm": {"test_acc": n}, "scratch": {"test_acc": s}}
            for k, s, n in zip(folds, scratch, nbsvm)]
    data = {"date": f"2026-12-07 {name} UTC", "machine": {"cpu": cpu, "cores": 2},
            "command": f"python benchmarks/sentiment.py DATA --folds {' '.join(map(str, folds))}",
            "mean_test_acc": {}, "folds": folds, "seconds": 300.0 * len(folds),
            "settings": SETTINGS | {"out": f"/tmp/{name}", "json": f"{name}.json"} | settings, "rows": rows}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_the_parts_join_into_one_ten_fold_result(tmp_path):
    a = part(tmp_path, "10:00", [3, 4], [0.78, 0.77], [0.79, 0.78])
    b = part(tmp_path, "11:00", [0, 1, 2], [0.70, 0.80, 0.75], [0.80, 0.81, 0.79])
    out = tmp_path / "all.json"
    summary = bench.main(["--combine", str(a), str(b), "--json", str(out)])
    assert json.loads(out.read_text(encoding="utf-8")) == summary
    assert summary["folds"] == [0, 1, 2, 3, 4]
    assert summary["mean_test_acc"] == {"nbsvm": 0.794, "scratch": 0.76}     # (70+80+75+78+77)/5, (80+81+79+79+78)/5
    assert summary["date"] == "2026-12-07 11:00 UTC" and summary["seconds"] == 1500.0
    assert [p["file"] for p in summary["parts"]] == ["10:00.json", "11:00.json"]
    assert summary["parts"][1]["command"].endswith("--folds 0 1 2")
    assert "out" not in summary["settings"] and summary["settings"]["time"] == 300.0
    assert summary["command"].startswith("python benchmarks/sentiment.py --combine ")


@pytest.mark.parametrize("other, message", [
    ({"folds": [1], "flags": "--members 1"}, "was run with other settings than"),
    ({"folds": [1], "time": 600.0}, "(time)"),
    ({"folds": [1], "cpu": "AMD EPYC"}, "ran on AMD EPYC"),
    ({"folds": [0, 2]}, "repeats fold(s) [0]"),
])
def test_parts_that_do_not_belong_together_are_refused(tmp_path, other, message):
    a = part(tmp_path, "a", [0], [0.7], [0.8])
    folds = other.pop("folds")
    b = part(tmp_path, "b", folds, [0.7] * len(folds), [0.8] * len(folds), **other)
    with pytest.raises(SystemExit) as refused:
        bench.main(["--combine", str(a), str(b), "--json", str(tmp_path / "x.json")])
    assert str(refused.value).startswith(f"--combine: {b} ") and message in str(refused.value)
    assert not (tmp_path / "x.json").exists()


def test_combine_needs_somewhere_to_write(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--combine", str(part(tmp_path, "a", [0], [0.7], [0.8]))])
    assert "--combine needs --json" in capsys.readouterr().err


def test_combine_refuses_the_flags_of_a_run(tmp_path, capsys):
    a = part(tmp_path, "a", [0], [0.7], [0.8])
    with pytest.raises(SystemExit):
        bench.main(["--combine", str(a), "--json", str(tmp_path / "x.json"), "--time", "300"])
    assert "--combine takes only the files and --json, not --time" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
