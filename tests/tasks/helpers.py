"""Small generated data sets for the task tests (tests never read shared data), and the benchmark scripts
the tests run (benchmarks/ holds scripts, not a package)."""

import importlib.util
from pathlib import Path

import numpy as np

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

POS = ["good", "great", "fine", "lovely", "superb"]
NEG = ["bad", "awful", "dull", "poor", "boring"]
FILLER = ["the", "film", "was", "a", "plot", "and", "it", "is", "very", "story"]


def sentiment_lines(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """(label, text): a sentence of filler words with one or two words of its class somewhere in it."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        label = "pos" if rng.random() < 0.5 else "neg"
        words = list(rng.choice(FILLER, rng.integers(2, 9)))
        for _ in range(rng.integers(1, 3)):
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(POS if label == "pos" else NEG)))
        out.append((label, " ".join(words)))
    return out


def write_sentiment_tsv(path, n: int = 80) -> None:
    """``sentiment_lines(n)`` as a label<TAB>text file, the classifier's --data."""
    path.write_text("".join(f"{label}\t{text}\n" for label, text in sentiment_lines(n)))


class Train:
    """The two TrainConfig fields a task's batches read."""

    def __init__(self, batch_size=16, seed=0):
        self.batch_size, self.seed = batch_size, seed


def sections(task_cls, **values) -> dict:
    """{section: dataclass} of ``task_cls`` from flat settings: each lands in the section that declares it
    (``hidden_size`` in ``network``, ``data`` in the task's own), the rest keep their defaults."""
    from dataclasses import fields
    out, used = {}, set()
    for name, cls in task_cls.sections.items():
        own = {f.name for f in fields(cls)} & set(values)
        out[name], used = cls(**{k: values[k] for k in own}), used | own
    assert used == set(values), f"no section of {task_cls.__name__} declares {sorted(set(values) - used)}"
    return out


def load_benchmark(name: str):
    """benchmarks/<name>.py as a module (its ``main`` and helpers), loaded from its file."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
