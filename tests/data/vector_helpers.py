"""Generated vector-sequence data sets, written in the three formats unroll reads (long CSV, .ts, .npz).

Class "lo" sequences oscillate slowly, class "hi" fast, with noise; lengths 6..12; three features. Each
row's tag is "up" where feature 0 rises from the previous step, else "down" (the first row: "down").
"""

import numpy as np


def make_sequences(n: int = 120, seed: int = 0, D: int = 3):
    rng = np.random.default_rng(seed)
    xs, labels, tags = [], [], []
    for i in range(n):
        T = int(rng.integers(6, 13))
        label = ("lo", "hi")[i % 2]
        freq = 0.4 if label == "lo" else 1.6
        t = np.arange(T)[:, None]
        phase = rng.uniform(0, 2 * np.pi, D)
        x = 3.0 * np.sin(freq * t + phase) + 10.0 + 0.1 * rng.standard_normal((T, D))
        xs.append(x)
        labels.append(label)
        tags.append(["down"] + ["up" if x[k, 0] > x[k - 1, 0] else "down" for k in range(1, T)])
    return xs, labels, tags


def write_csv(path, xs, labels, per_step=False, time=True):
    D = xs[0].shape[1]
    lines = ["id," + ("time," if time else "") + ",".join(f"f{d}" for d in range(D)) + ",label"]
    for i, (x, y) in enumerate(zip(xs, labels)):
        for k, row in enumerate(x):
            label = y[k] if per_step else y
            lines.append(f"s{i}," + (f"{k}," if time else "") + ",".join(repr(float(v)) for v in row) + f",{label}")
    path.write_text("\n".join(lines) + "\n")


def write_ts(path, xs, labels):
    classes = sorted(set(labels))
    head = ["#generated", "@problemName Toy", "@timeStamps false", "@missing false", "@univariate false",
            f"@dimensions {xs[0].shape[1]}", "@equalLength false", f"@classLabel true {' '.join(classes)}", "@data"]
    body = [":".join(",".join(repr(float(v)) for v in x[:, d]) for d in range(x.shape[1])) + f":{y}"
            for x, y in zip(xs, labels)]
    path.write_text("\n".join(head + body) + "\n")


def write_npz(path, xs, labels, per_step=False):
    if per_step:
        np.savez(path, values=np.concatenate(xs), lengths=np.array([len(x) for x in xs]),
                 labels=np.array([t for row in labels for t in row]))
    else:
        np.savez(path, **{f"x_{i}": x for i, x in enumerate(xs)}, labels=np.array(labels))
