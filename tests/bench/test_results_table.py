"""README's results table (issue 33): every figure in it is in the JSON its row names, the table is what
benchmarks/results_table.py writes from benchmarks/results/, and a row appears only when its JSON exists."""

import json
import re
from pathlib import Path

import pytest

from tests.tasks.helpers import load_benchmark

ROOT = Path(__file__).resolve().parents[2]
rt = load_benchmark("results_table")

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_figure_in_the_readme_table_is_in_its_json():
    assert rt.unsupported_figures(README) == []


def test_the_readme_table_is_what_the_json_gives():
    assert rt.replace_block(README, rt.table()) == README


def test_a_figure_not_in_the_json_is_named():
    block = README.split(rt.BEGIN, 1)[1].split(rt.END, 1)[0]
    assert "| 1.437 (7,694 steps, 2×256 GRU) |" in block
    tampered = README.replace("| 1.437 (7,694 steps, 2×256 GRU) |", "| 1.438 (7,694 steps, 2×256 GRU) |")
    assert rt.unsupported_figures(tampered) == ["2026-12-07-intel-xeon-wave13-shakespeare-600s.jsonl: 1.438"]
    compile_json = re.search(r"\((benchmarks/results/[^)]*-compile\.json)\)", README).group(1)   # the row's link
    lost = README.replace(f"({compile_json})", "(benchmarks/results/gone.json)")
    assert rt.unsupported_figures(lost) == ["[JSON](benchmarks/results/gone.json): no such JSON"]


@pytest.mark.parametrize("shown, percent, ok", [("75.1", "%", True), ("75.2", "%", False), ("0.75", "", True),
                                                ("1,583", "", True), ("1,584", "", False), ("3", "", False)])
def test_figures_match_at_their_printed_precision(shown, percent, ok):
    assert rt.supported(shown, bool(percent), [0.75081, 1582.8, 7.0]) is ok


SENTIMENT = {"date": "2026-12-07 09:00 UTC", "machine": {"cpu": "Intel(R) Xeon(R) Processor", "cores": 2},
             "command": "python benchmarks/sentiment.py rt --json benchmarks/results/2026-12-07-intel-xeon-sentiment.json",
             "mean_test_acc": {"nbsvm": 0.787, "scratch": 0.7512, "pretrained": 0.7733}, "folds": list(range(10))}


def test_rows_appear_only_when_their_json_exists(tmp_path):
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    assert rt.table(results, tmp_path).splitlines() == ["| " + " | ".join(rt.HEADER) + " |", "|---|---|---|---|---|---|---|"]
    (results / "2026-12-07-intel-xeon-sentiment.json").write_text(json.dumps(SENTIMENT))
    row = rt.table(results, tmp_path).splitlines()[2:]
    assert row == ["| Sentence polarity (rt-polarity), 10-fold mean test accuracy | scratch 75.1%, pretrained 77.3% "
                   "| NBSVM: 78.7% | 2026-12-07 | Intel Xeon, 2 cores | `" + SENTIMENT["command"] + "` "
                   "| [JSON](benchmarks/results/2026-12-07-intel-xeon-sentiment.json) |"]
    readme = rt.replace_block(f"# x\n{rt.BEGIN}\nold\n{rt.END}\ntail\n", rt.table(results, tmp_path))
    assert readme.endswith(f"{rt.END}\ntail\n") and rt.unsupported_figures(readme, tmp_path) == []


def test_the_sentiment_row_names_its_budget_and_flags(tmp_path):
    (tmp_path / "2026-12-07-intel-xeon-sentiment.json").write_text(json.dumps(
        SENTIMENT | {"settings": {"time": 300.0, "flags": "--members 1"}}))
    assert rt.table(tmp_path, tmp_path).splitlines()[2].startswith(
        "| Sentence polarity (rt-polarity), 10-fold mean test accuracy, 300 s per fold "
        "| flags --members 1 75.1%, pretrained 77.3% | NBSVM: 78.7% |")


def test_a_file_without_date_or_machine_takes_them_from_its_name(tmp_path):
    results = tmp_path / "r"
    results.mkdir()
    (results / "2026-11-30-amd-epyc-compile.json").write_text(json.dumps(
        {"cold": [{"wall_s": 9.04}, {"wall_s": 8.96}], "warm": [{"wall_s": 0.71}]}))
    assert rt.table(results, tmp_path).splitlines()[2] == (
        "| First run: compiling the LSTM, GRU and RNN kernels (wall clock) | cold 9.0 s, warm 0.7 s |  "
        "| 2026-11-30 | Amd Epyc | `python benchmarks/compile_cost.py --json r/2026-11-30-amd-epyc-compile.json` "
        "| [JSON](r/2026-11-30-amd-epyc-compile.json) |")


def test_the_markers_must_be_there_once():
    with pytest.raises(SystemExit, match="README.md: needs one"):
        rt.replace_block("no markers here", "| a |")
