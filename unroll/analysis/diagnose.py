"""``unroll diagnose``: how far back gradients reach, for small RNN, LSTM and GRU models on the adding
problem, before and after training (or for the long-term run folders given with ``--run``).

Writes gradient_flow.png (‖∂L_T/∂h_k‖ against the distance T - k), jacobian_norms.png (‖∂s_T/∂s_k‖₂ with
the seeds' bound for tanh cells) and diagnose.json with every plotted number. It also draws the seeds'
warnings (``analysis/vanishing.py``): activations.png (the derivatives of tanh, sigmoid, relu and the
gradient reach each gives on the same weights) and gaussian_scale.png (a wrong Gaussian scale vanishes or
explodes), and records the measured shortest path through time of each cell variant
(``analysis/paths.py``: a deeper transition lengthens it, skip connections shorten it).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from unroll.analysis import gradients as G
from unroll.command import Command


def gradient_flow(model, x: np.ndarray, y: np.ndarray, clip: float | None, examples: int = 4) -> dict:
    """Every diagnostic of one TaskModel on one batch, in float64 (float32 underflows vanished gradients)."""
    m = model.astype(np.float64)
    x = x.astype(np.float64)
    y = y.astype(np.float64) if m.readout == "last" else y
    cp = m.cell_params()
    reach = G.loss_reach(m.module, cp, x, m.last_step_state_grad(x, y), **m.options)
    jac = G.jacobian_norms(m.module, cp, x, examples=examples, **m.options)
    loss, grads, _ = m.forward_loss(x, y)
    out = {"loss": loss, "distance": reach["distance"].tolist(), "reach_h": reach["h"].tolist(),
           "reach_ratio": float(reach["h"][-1] / reach["h"][0]) if reach["h"][0] > 0 else None,
           "jacobian_norm_geomean": jac["geometric_mean"].tolist(), "jacobian_norm_mean": jac["mean"].tolist(),
           "W_h_block_spectral_norms": G.block_spectral_norms(cp["W_h"]),
           "clipping": G.clipping_report(grads, clip or None)}
    if "c" in reach:
        out["reach_c"] = reach["c"].tolist()
    if m.cell in ("rnn", "leaky"):
        out["seeds_bound"] = G.seeds_bound(cp, reach["distance"]).tolist()
    if m.cell in ("lstm", "gru"):
        out["gate_saturation"] = G.gate_saturation(m.module, cp, x)
    return out


def diagnose(out: Path, runs=None, T: int = 50, steps: int = 1000, hidden: int = 32, seed: int = 0, log=None) -> dict:
    """Train small RNN, LSTM and GRU models on the adding problem (or load ``runs``), measure the gradient
    flow of each before and after training, write gradient_flow.png, jacobian_norms.png and diagnose.json."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    out = Path(out)
    entries = list(_entries(runs, T, steps, hidden, seed, log))   # a bad --run fails before out is created
    out.mkdir(parents=True, exist_ok=True)
    report = {"models": {}, "figures": {"gradient_flow.png": {}, "jacobian_norms.png": {}}}
    for label, task, initial, trained, result in entries:
        x, y = task.make_batch(64, np.random.default_rng(seed + 1_000_003))
        clip = task.settings["train"].clip
        stages = {"initial": gradient_flow(initial, x, y, clip), "trained": gradient_flow(trained, x, y, clip)}
        config = {name: asdict(task.settings[name]) for name in ("problem", "network", "train")}
        report["models"][label] = {"config": config, "result": result, "stages": stages}
        dist = stages["trained"]["distance"]
        report["figures"]["gradient_flow.png"][label] = {"distance": dist} | {
            s: stages[s]["reach_h"] for s in stages} | {
            f"{s} (cell state c)": stages[s]["reach_c"] for s in stages if "reach_c" in stages[s]}
        report["figures"]["jacobian_norms.png"][label] = {"distance": dist} | {
            s: stages[s]["jacobian_norm_geomean"] for s in stages} | (
            {"seeds_bound_trained": stages["trained"]["seeds_bound"]} if "seeds_bound" in stages["trained"] else {})
    _plot(report["figures"], out)
    from unroll.analysis import paths, vanishing
    report["seeds"] = vanishing.draw(out, seed=seed) | {"shortest_path_length": {
        "k": [1, 2, 4, 8], **paths.path_table((1, 2, 4, 8))}}
    report["figures"] |= {"activations.png": {}, "gaussian_scale.png": {}}
    (out / "diagnose.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


def _entries(runs, T, steps, hidden, seed, log):
    """(label, task, initial model, trained model, result) per model: loaded run folders, or three trained."""
    from unroll.config import TrainConfig
    from unroll.tasks.longterm import LongTermNetwork, LongTermTask, ProblemConfig, cell_label
    from unroll.runs import run
    if runs:
        for r in runs:
            loaded = run.load(r)
            task, trained, _ = loaded
            if not isinstance(task, LongTermTask):
                raise ValueError(f"diagnose reads long-term run folders (unroll experiment), {r} is a {task.name} run")
            result = loaded.folder.read_result()
            initial = task.build_model(task.settings["train"].seed)
            yield f"{cell_label(task.settings['network'])} ({Path(r).name})", task, initial, trained, result
        return
    for cell in ("rnn", "lstm", "gru"):
        settings = {"problem": ProblemConfig("adding", T, target=0.0, valid_size=200, test_size=500),
                    "network": LongTermNetwork(cell=cell, hidden_size=hidden)}
        train = TrainConfig(**{**LongTermTask.train_defaults, "max_steps": steps, "eval_every": max(steps // 3, 1),
                               "seed": seed})
        log(f"diagnose: training {cell} on adding T={T} for {steps} steps")
        result, trained = run.experiment("longterm", settings, train)
        task = LongTermTask({"train": train, **settings})
        initial = task.build_model(seed)
        yield cell, task, initial, trained, {k: v for k, v in result.items() if k != "history"}


def _plot(figures: dict, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = {"gradient_flow.png": ("‖∂L_T/∂h_k‖", "gradient of the last step's loss w.r.t. h_k"),
              "jacobian_norms.png": ("‖∂s_T/∂s_k‖₂", "Jacobian product norm (geometric mean of 4 sequences)")}
    for name, panels in figures.items():
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
        for ax, (label, series) in zip(axes[0], panels.items()):
            for key, values in series.items():
                if key == "distance":
                    continue
                v = np.asarray(values, dtype=float)
                v = np.where(v > 0, v, np.nan)
                style = dict(ls=":", color="gray") if key.startswith("seeds_bound") else (
                    dict(ls="--") if "(cell state c)" in key else {})
                ax.plot(series["distance"], v, label=key.replace("_", " "), **style)
            ax.set(yscale="log", xlabel="distance in time T - k", title=label)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        axes[0][0].set_ylabel(titles[name][0])
        fig.suptitle(titles[name][1], fontsize=10)
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)


def _arguments(p) -> None:
    p.add_argument("--out", type=Path, default=Path("diagnose"), help="output folder (default %(default)s)")
    p.add_argument("--run", type=Path, action="append", default=None, help="an experiment run folder (repeatable)")
    p.add_argument("--T", type=int, default=50, help="sequence length: the longest distance in time (default 50)")
    p.add_argument("--steps", type=int, default=1000, help="training updates per model (default %(default)s)")
    p.add_argument("--hidden", type=int, default=32, help="units of each model (default 32)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the models (default 0)")


def cmd_diagnose(args) -> int:
    report = diagnose(args.out, runs=args.run, T=args.T, steps=args.steps, hidden=args.hidden, seed=args.seed)
    for name in report["figures"]:
        print(Path(args.out) / name)
    return 0


COMMANDS = (Command("diagnose", "plot gradient norm against distance in time for RNN, LSTM, GRU", _arguments,
                    cmd_diagnose, "Train small RNN, LSTM and GRU models on the adding problem (or load experiment "
                    "run folders) and plot how far back gradients reach."),)
