"""The import graph, read from the source by unroll.tools.imports: floors kept, no cycle (lazy imports
included), the version in one place that the package metadata reads."""

import re
import subprocess
import sys
from pathlib import Path

from unroll.tools import imports as I

ROOT = Path(__file__).resolve().parents[1]


def test_no_import_runs_up_a_floor_and_there_is_no_cycle():
    assert I.breaches() == []


def test_train_knows_no_task_no_run_folder_no_analysis_and_not_the_package_root():
    edges = I.graph()
    train = {m: targets for m, targets in edges.items() if m.startswith("unroll.train")}
    assert len(train) >= 9                                    # every module of train/ was read
    forbidden = [(m, t) for m, targets in train.items() for t in targets
                 if t == "unroll" or t.split(".")[1] in ("tasks", "analysis", "runs", "cli", "interop")]
    assert forbidden == []


def test_the_checker_sees_lazy_imports_floors_and_cycles():
    known = {"unroll.train.a": Path("a"), "unroll.tasks.b": Path("b")}
    edges = {"unroll.train.a": {"unroll.tasks.b"}, "unroll.tasks.b": {"unroll.train.a"}}
    assert I.breaches(edges) == [
        "unroll.train.a (train) imports unroll.tasks.b (tasks), a higher floor",
        "import cycle: unroll.tasks.b -> unroll.train.a"]
    lazy = "def f():\n    from unroll.tasks import b\n"
    path = ROOT / "tests" / "_lazy_probe.py"
    try:
        path.write_text(lazy, encoding="utf-8")
        assert I.imports_of("unroll.train.a", path, known) == {"unroll.tasks.b"}
    finally:
        path.unlink()
    assert I.floor_of("unroll") == len(I.FLOORS) - 1 and I.floor_of("unroll.nn.lstm") == 1


def test_the_version_lives_in_one_place_that_the_metadata_reads():
    import unroll
    from unroll._version import __version__
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in pyproject and re.search(r'^version = "', pyproject, re.M) is None
    assert 'version = { attr = "unroll._version.__version__" }' in pyproject
    assert unroll.__version__ == __version__ == "0.2.0"
    stamped = [p for p in (ROOT / "unroll").rglob("*.py") if re.search(r'__version__ = "', p.read_text("utf-8"))]
    assert stamped == [ROOT / "unroll" / "_version.py"]


def test_the_tool_prints_the_graph_and_follows_a_flag():
    out = subprocess.run([sys.executable, "-m", "unroll.tools.imports", "unroll.train"], capture_output=True,
                         text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT)})
    assert out.returncode == 0 and out.stderr.strip() == "floors kept, no cycle"
    assert "[train] unroll.train.trainer: unroll.train.distributed, unroll.train.ema, unroll.train.finetune" \
        in out.stdout
    flag = subprocess.run([sys.executable, "-m", "unroll.tools.imports", "--flag", "lr-decay"], capture_output=True,
                          text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT)})
    assert flag.returncode == 0
    assert "--lr-decay: section 'train', unroll.config.TrainConfig.decay_rate (--task lm)" in flag.stdout
    assert "  read in unroll.train.schedule: line" in flag.stdout
