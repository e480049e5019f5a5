"""Long-term-dependency experiments: train a cell on the adding or copying-memory problem, and diagnose the
gradient flow of small RNN, LSTM and GRU models.

``unroll experiment adding|copy --cell rnn|irnn|leaky|skip|lstm|gru --T N --seed S [--json]`` trains one cell
plus a linear readout with Adam and global-norm clipping, stops early once the validation loss is below
``--target``, and reports the loss on a fresh test set beside the memoryless baseline (adding: MSE of always
answering 1, 1/6; copying: 10 ln 8 / (T + 20)). ``unroll diagnose [--out DIR] [--run DIR ...]`` writes PNGs
of the gradient norm against distance in time, side by side, and a JSON of every plotted number.

The cells: ``rnn`` tanh; ``irnn`` ReLU with W_h = I, b = 0, W_x ~ N(0, 0.001²) (Le et al. 2015); ``leaky``
tanh leaky units with α learned, initialised in (0.02, 0.2); ``skip`` tanh with a skip connection from h_{t-d};
``lstm`` with forget bias 1; ``gru``. Randomness: one seed, split into independent streams for the
initialisation, the training batches, the validation set and the test set.

A run folder (``--out DIR``) holds config.json, metrics.jsonl (read by ``unroll plot``), model.safetensors
and result.json. ``python -m unroll.experiments adding ...`` / ``... diagnose ...`` work without the main CLI.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from unroll.analysis import gradients as G
from unroll.data import tasks
from unroll.nn import gru, init, leaky, lstm, ops, rnn, skip

CELLS = ("rnn", "irnn", "leaky", "skip", "lstm", "gru")
TASKS = ("adding", "copy")
MODULES = {"rnn": rnn, "irnn": rnn, "leaky": leaky, "skip": skip, "lstm": lstm, "gru": gru}
ADDING_SOLVED_MSE = 0.01
COPY_BEATS_FRACTION = 0.95            # copy "beats the baseline": test loss below 95% of 10 ln 8 / (T + 20)


@dataclass(frozen=True)
class ExperimentConfig:
    task: str = "adding"              # "adding" | "copy"
    cell: str = "lstm"
    T: int = 100                      # adding: sequence length; copy: the gap (sequences are T + 20 long)
    seed: int = 0
    hidden: int = 64
    batch: int = 32
    steps: int = 5000                 # at most this many updates
    lr: float = 1e-2
    clip: float = 1.0                 # global gradient-norm clip; 0 turns clipping off
    eval_every: int = 100
    target: float | None = None       # stop once the validation loss is below; None: see stop_below
    valid_size: int = 500
    test_size: int = 2000
    max_time: float = 900.0           # seconds of training at most
    skip_d: int = 10
    alpha_low: float = 0.02
    alpha_high: float = 0.2

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        for name in ("T", "hidden", "batch", "steps", "eval_every", "valid_size", "test_size", "skip_d"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.task == "adding" and self.T < 2:
            raise ValueError(f"the adding problem needs T >= 2, got {self.T}")
        if not (self.lr > 0 and self.clip >= 0 and self.max_time > 0):
            raise ValueError("lr and max_time must be > 0 and clip >= 0")

    @property
    def stop_below(self) -> float:
        """The early-stopping threshold: --target, else half the adding criterion (0.005) or 5% of the copy baseline."""
        if self.target is not None:
            return self.target
        return ADDING_SOLVED_MSE / 2 if self.task == "adding" else 0.05 * baseline(self)


class TaskModel:
    """One recurrent cell and a linear readout: of h_T for adding (1 output), of every h_t for copy (10).

    params: {"cell.<name>": ..., "out.W": (H, K), "out.b": (K,)}
    """

    def __init__(self, cfg: ExperimentConfig, rng: np.random.Generator, dtype=np.float32):
        self.cfg, self.module = cfg, MODULES[cfg.cell]
        D = 2 if cfg.task == "adding" else tasks.N_CATEGORIES
        K = 1 if cfg.task == "adding" else tasks.N_CATEGORIES
        H = cfg.hidden
        if cfg.cell == "leaky":
            cell = leaky.init(D, H, rng, dtype, learn_alpha=True, alpha_range=(cfg.alpha_low, cfg.alpha_high))
        else:
            cell = self.module.init(D, H, rng, dtype)
        if cfg.cell == "irnn":                                 # Le et al. 2015: W_h = I, b = 0, small W_x
            cell = init.gaussian(init.identity(cell), rng, std=0.001, keys=("W_x",))
        self.options = {"rnn": {"activation": "tanh"}, "irnn": {"activation": "relu"},
                        "skip": {"d": cfg.skip_d}}.get(cfg.cell, {})
        bound = 1.0 / math.sqrt(H)
        self.params = {f"cell.{k}": v for k, v in cell.items()}
        self.params["out.W"] = rng.uniform(-bound, bound, (H, K)).astype(dtype)
        self.params["out.b"] = np.zeros(K, dtype)

    def cell_params(self) -> dict:
        return {k[5:]: v for k, v in self.params.items() if k.startswith("cell.")}

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, need_grads: bool = True):
        """Adding: MSE of the readout of h_T; copy: mean cross-entropy over all T + 20 steps and N sequences.

        returns loss, grads (keys of params; None without need_grads), dh: (T, N, H) gradient w.r.t. hs
        """
        hs, _, cache = self.module.forward(x, self.cell_params(), None, None, **self.options)
        W, b = self.params["out.W"], self.params["out.b"]
        if self.cfg.task == "adding":
            pred = hs[-1] @ W + b                              # ŷ = h_T W + b, (N, 1)
            diff = pred - y
            loss = float(np.mean(diff ** 2))
            dpred = (2.0 / diff.size) * diff
            dhs = np.zeros_like(hs)
            dhs[-1] = dpred @ W.T
            dW, db = hs[-1].T @ dpred, dpred.sum(axis=0)
        else:
            logits = ops.linear_forward(hs, W, b)              # (T+20, N, 10)
            loss, dlogits = ops.softmax_cross_entropy(logits, y)
            dhs, dW, db = ops.linear_backward(dlogits, hs, W)
        if not need_grads:
            return loss, None, dhs
        _, _, g = self.module.backward(dhs.astype(hs.dtype), cache)
        grads = {f"cell.{k}": v for k, v in g.items()} | {"out.W": dW.astype(W.dtype), "out.b": db.astype(b.dtype)}
        return loss, grads, dhs

    def last_step_state_grad(self, x: np.ndarray, y: np.ndarray):
        """∂L_T/∂s_T in the cell's state layout, L_T the loss of the last step (adding: the only one)."""
        if self.cfg.task == "adding":
            dh = self.loss_and_grads(x, y, need_grads=False)[2][-1]
        else:
            hs, _, _ = self.module.forward(x, self.cell_params(), None, None, **self.options)
            logits = hs[-1:] @ self.params["out.W"] + self.params["out.b"]
            _, dlogits = ops.softmax_cross_entropy(logits, y[-1:])
            dh = dlogits[0] @ self.params["out.W"].T
        if self.cfg.cell == "lstm":
            return dh, np.zeros_like(dh)
        if self.cfg.cell == "skip":
            return np.concatenate([np.zeros((self.cfg.skip_d - 1,) + dh.shape, dh.dtype), dh[None]])
        return dh

    def evaluate(self, x: np.ndarray, y: np.ndarray, chunk: int = 500) -> dict:
        """Loss on a fixed set, in chunks; for copy also the accuracy on the 10 copied symbols."""
        total, correct, n = 0.0, 0, x.shape[1]
        W, b = self.params["out.W"], self.params["out.b"]
        for s in range(0, n, chunk):
            xs = x[:, s:s + chunk]
            hs, _, _ = self.module.forward(xs, self.cell_params(), None, None, **self.options)
            if self.cfg.task == "adding":
                loss = float(np.mean((hs[-1] @ W + b - y[s:s + chunk]) ** 2))
            else:
                logits = ops.linear_forward(hs, W, b)
                loss, _ = ops.softmax_cross_entropy(logits, y[:, s:s + chunk])
                correct += int(np.sum(np.argmax(logits[-tasks.N_COPY:], axis=-1) == y[-tasks.N_COPY:, s:s + chunk]))
            total += loss * xs.shape[1]
        out = {"loss": total / n}
        if self.cfg.task == "copy":
            out["accuracy"] = correct / (n * tasks.N_COPY)
        return out


def make_batch(cfg: ExperimentConfig, N: int, rng: np.random.Generator):
    if cfg.task == "adding":
        return tasks.adding_problem(cfg.T, N, rng)
    return tasks.copying_problem(cfg.T, N, rng)


def baseline(cfg: ExperimentConfig) -> float:
    return tasks.adding_baseline_mse() if cfg.task == "adding" else tasks.copying_baseline_loss(cfg.T)


def run_experiment(cfg: ExperimentConfig, out: Path | None = None, log=None) -> tuple[dict, TaskModel]:
    """Train, evaluate on a fresh test set, and return (the result dict, the trained model)."""
    from unroll.train.optim import Adam, clip_grad_norm

    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    s_init, s_train, s_valid, s_test = np.random.SeedSequence(cfg.seed).spawn(4)
    model = TaskModel(cfg, np.random.default_rng(s_init))
    train_rng = np.random.default_rng(s_train)
    valid = make_batch(cfg, cfg.valid_size, np.random.default_rng(s_valid))
    opt = Adam(model.params, lr=cfg.lr)
    metrics = _open_run(out, cfg)
    start, step, diverged, best, history = time.perf_counter(), 0, False, math.inf, []
    max_norm_seen, max_loss_seen = 0.0, 0.0
    for step in range(1, cfg.steps + 1):
        x, y = make_batch(cfg, cfg.batch, train_rng)
        loss, grads, _ = model.loss_and_grads(x, y)
        norm = clip_grad_norm(grads, cfg.clip) if cfg.clip > 0 else G.clipping_report(grads, None)["total_before"]
        if not (math.isfinite(loss) and math.isfinite(norm)):
            diverged = True
            log(f"step {step}: loss {loss} gradient norm {norm}: diverged, stopping")
            break
        max_norm_seen, max_loss_seen = max(max_norm_seen, norm), max(max_loss_seen, loss)
        opt.step(grads)
        record = {"step": step, "train_loss": loss, "grad_norm": norm}
        if step % cfg.eval_every == 0 or step == cfg.steps:
            v = model.evaluate(*valid)
            record["valid_loss"] = v["loss"]
            best = min(best, v["loss"])
            history.append({"step": step, "valid_loss": v["loss"], "seconds": round(time.perf_counter() - start, 2)})
            log(f"step {step:5d}  train {loss:.4f}  valid {v['loss']:.4f}  |g| {norm:.3g}  "
                f"{time.perf_counter() - start:.0f}s")
            if not math.isfinite(v["loss"]):
                diverged = True
                break
        if metrics:
            metrics.write(json.dumps(record) + "\n")
        if record.get("valid_loss", math.inf) < cfg.stop_below or time.perf_counter() - start > cfg.max_time:
            break
    seconds = time.perf_counter() - start
    test = model.evaluate(*make_batch(cfg, cfg.test_size, np.random.default_rng(s_test)))
    result = {"task": cfg.task, "cell": cfg.cell, "T": cfg.T, "seed": cfg.seed, "steps": step,
              "seconds": round(seconds, 1), "diverged": diverged or not math.isfinite(test["loss"]),
              "clip": cfg.clip, "lr": cfg.lr, "best_valid_loss": best, "max_grad_norm": max_norm_seen, "max_train_loss": max_loss_seen,
              "history": history}
    if cfg.task == "adding":
        result |= {"test_mse": test["loss"], "baseline_mse": baseline(cfg), "solved": bool(test["loss"] < ADDING_SOLVED_MSE)}
    else:
        result |= {"test_loss": test["loss"], "baseline_loss": baseline(cfg), "test_accuracy": test["accuracy"],
                   "beats_baseline": bool(test["loss"] < COPY_BEATS_FRACTION * baseline(cfg))}
    if cfg.cell == "leaky":
        alpha = leaky.alpha_of(model.cell_params())
        result["alpha"] = {"min": float(alpha.min()), "mean": float(alpha.mean()), "max": float(alpha.max())}
    if metrics:
        metrics.close()
        _save_run(out, model, result)
    return result, model


# ----------------------------------------------------------------------------------------------------
# Diagnose: gradient flow of initial and trained models.

def initial_model(cfg: ExperimentConfig) -> TaskModel:
    """The model ``run_experiment(cfg)`` starts from (same seed stream), before any update."""
    return TaskModel(cfg, np.random.default_rng(np.random.SeedSequence(cfg.seed).spawn(4)[0]))


def gradient_flow(model: TaskModel, x: np.ndarray, y: np.ndarray, examples: int = 4) -> dict:
    """Every diagnostic of one model on one batch, in float64 (float32 underflows the vanished gradients)."""
    m = TaskModel.__new__(TaskModel)
    m.cfg, m.module, m.options = model.cfg, model.module, model.options
    m.params = {k: v.astype(np.float64) for k, v in model.params.items()}
    x = x.astype(np.float64)
    y = y.astype(np.float64) if model.cfg.task == "adding" else y
    cp = m.cell_params()
    reach = G.loss_reach(m.module, cp, x, m.last_step_state_grad(x, y), **m.options)
    jac = G.jacobian_norms(m.module, cp, x, examples=examples, **m.options)
    loss, grads, _ = m.loss_and_grads(x, y)
    out = {"loss": loss, "distance": reach["distance"].tolist(), "reach_h": reach["h"].tolist(),
           "reach_ratio": float(reach["h"][-1] / reach["h"][0]) if reach["h"][0] > 0 else None,
           "jacobian_norm_geomean": jac["geometric_mean"].tolist(), "jacobian_norm_mean": jac["mean"].tolist(),
           "W_h_block_spectral_norms": G.block_spectral_norms(cp["W_h"]),
           "clipping": G.clipping_report(grads, model.cfg.clip or None)}
    if "c" in reach:
        out["reach_c"] = reach["c"].tolist()
    if model.cfg.cell in ("rnn", "irnn", "leaky"):
        out["seeds_bound"] = G.seeds_bound(cp, reach["distance"]).tolist()
    if model.cfg.cell in ("lstm", "gru"):
        out["gate_saturation"] = G.gate_saturation(m.module, cp, x)
    return out


def diagnose(out: Path, runs=None, T: int = 50, steps: int = 1000, hidden: int = 32, seed: int = 0, log=None) -> dict:
    """Train small RNN, LSTM and GRU models on the adding problem (or load ``runs``), measure the gradient
    flow of each before and after training, write gradient_flow.png, jacobian_norms.png and diagnose.json."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    entries = []                                               # (label, initial model, trained model, result)
    if runs:
        for r in runs:
            trained = load_run(r)
            result = json.loads((Path(r) / "result.json").read_text()) if (Path(r) / "result.json").is_file() else {}
            entries.append((f"{trained.cfg.cell} ({Path(r).name})", initial_model(trained.cfg), trained, result))
    else:
        for cell in ("rnn", "lstm", "gru"):
            cfg = ExperimentConfig(task="adding", cell=cell, T=T, seed=seed, hidden=hidden, steps=steps,
                                   eval_every=max(steps // 3, 1), valid_size=200, test_size=500, target=0.0)
            log(f"diagnose: training {cell} on adding T={T} for {steps} steps")
            result, trained = run_experiment(cfg, log=log)
            entries.append((cell, initial_model(cfg), trained, {k: v for k, v in result.items() if k != "history"}))
    report = {"models": {}, "figures": {"gradient_flow.png": {}, "jacobian_norms.png": {}}}
    for label, initial, trained, result in entries:
        x, y = make_batch(trained.cfg, 64, np.random.default_rng(seed + 1_000_003))
        stages = {"initial": gradient_flow(initial, x, y), "trained": gradient_flow(trained, x, y)}
        report["models"][label] = {"config": asdict(trained.cfg), "result": result, "stages": stages}
        dist = stages["trained"]["distance"]
        report["figures"]["gradient_flow.png"][label] = {"distance": dist} | {
            s: stages[s]["reach_h"] for s in stages} | {
            f"{s} (cell state c)": stages[s]["reach_c"] for s in stages if "reach_c" in stages[s]}
        report["figures"]["jacobian_norms.png"][label] = {"distance": dist} | {
            s: stages[s]["jacobian_norm_geomean"] for s in stages} | (
            {"seeds_bound_trained": stages["trained"]["seeds_bound"]} if "seeds_bound" in stages["trained"] else {})
    _plot(report["figures"], out)
    (out / "diagnose.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


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


# ----------------------------------------------------------------------------------------------------
# Run folders.

def _open_run(out, cfg):
    if out is None:
        return None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps({"experiment": asdict(cfg)}, indent=1) + "\n", encoding="utf-8")
    return open(out / "metrics.jsonl", "w", encoding="utf-8")


def _save_run(out, model: TaskModel, result: dict) -> None:
    from safetensors.numpy import save_file
    out = Path(out)
    save_file({k: np.ascontiguousarray(v) for k, v in model.params.items()}, str(out / "model.safetensors.tmp"))
    os.replace(out / "model.safetensors.tmp", out / "model.safetensors")
    (out / "result.json.tmp").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    os.replace(out / "result.json.tmp", out / "result.json")


def load_run(run_dir: Path) -> TaskModel:
    """The trained model of an experiment run folder (config.json + model.safetensors)."""
    from safetensors.numpy import load_file
    run_dir = Path(run_dir)
    cfg_path, weights = run_dir / "config.json", run_dir / "model.safetensors"
    if not cfg_path.is_file() or not weights.is_file():
        raise ValueError(f"{run_dir} is not an experiment run folder (needs config.json and model.safetensors)")
    raw = json.loads(cfg_path.read_text(encoding="utf-8"))
    if "experiment" not in raw:
        raise ValueError(f"{cfg_path} was not written by `unroll experiment`")
    known = {f.name for f in fields(ExperimentConfig)}
    cfg = ExperimentConfig(**{k: v for k, v in raw["experiment"].items() if k in known})
    model = TaskModel(cfg, np.random.default_rng(0))
    loaded = load_file(str(weights))
    for k, v in model.params.items():
        if k not in loaded or loaded[k].shape != v.shape:
            got = loaded[k].shape if k in loaded else "nothing"
            raise ValueError(f"{weights}: parameter {k} should have shape {v.shape}, found {got}")
        model.params[k] = loaded[k]
    return model


# ----------------------------------------------------------------------------------------------------
# Command line.

def add_experiment_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``experiment adding|copy`` on an argparse subparsers object; its ``func`` runs it."""
    p = subparsers.add_parser("experiment", help="train a cell on the adding or copying-memory problem",
                              description="Train a cell on a long-term-dependency task and compare the test "
                                          "loss with the memoryless baseline.")
    d = ExperimentConfig()
    p.add_argument("task", choices=TASKS)
    p.add_argument("--cell", choices=CELLS, default=d.cell)
    p.add_argument("--T", type=int, default=d.T, help="sequence length (copy: the gap) (default %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--hidden", type=int, default=d.hidden)
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--steps", type=int, default=d.steps, help="most updates (default %(default)s)")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--clip", type=float, default=d.clip, help="gradient-norm clip, 0 = off (default %(default)s)")
    p.add_argument("--eval-every", type=int, default=d.eval_every)
    p.add_argument("--target", type=float, default=None,
                   help="stop once the validation loss is below (default: 0.005 adding, 5%% of the baseline copy)")
    p.add_argument("--max-time", type=float, default=d.max_time, help="seconds of training at most")
    p.add_argument("--skip-d", type=int, default=d.skip_d, help="delay d of the skip cell")
    p.add_argument("--alpha-range", type=float, nargs=2, default=(d.alpha_low, d.alpha_high), metavar=("LOW", "HIGH"),
                   help="initial leak α of the leaky cell, sampled uniformly (default 0.02 0.2)")
    p.add_argument("--out", type=Path, default=None, help="write a run folder here")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a sentence")
    p.set_defaults(func=cmd_experiment)
    return p


def cmd_experiment(args) -> int:
    cfg = ExperimentConfig(task=args.task, cell=args.cell, T=args.T, seed=args.seed, hidden=args.hidden,
                           batch=args.batch, steps=args.steps, lr=args.lr, clip=args.clip, eval_every=args.eval_every,
                           target=args.target, max_time=args.max_time, skip_d=args.skip_d,
                           alpha_low=args.alpha_range[0], alpha_high=args.alpha_range[1])
    result, _ = run_experiment(cfg, args.out)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "history"}))
    elif cfg.task == "adding":
        print(f"{cfg.cell} on adding T={cfg.T}: test MSE {result['test_mse']:.4g} (baseline {result['baseline_mse']:.4g}, "
              f"solved below {ADDING_SOLVED_MSE}: {'yes' if result['solved'] else 'no'}) after {result['steps']} steps, "
              f"{result['seconds']:.0f}s" + (", DIVERGED" if result["diverged"] else ""))
    else:
        print(f"{cfg.cell} on copy T={cfg.T}: test loss {result['test_loss']:.4g} (baseline {result['baseline_loss']:.4g}), "
              f"copied-symbol accuracy {result['test_accuracy']:.3f} (chance 0.125) after {result['steps']} steps, "
              f"{result['seconds']:.0f}s" + (", DIVERGED" if result["diverged"] else ""))
    return 0


def add_diagnose_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``diagnose`` on an argparse subparsers object; its ``func`` runs it."""
    p = subparsers.add_parser("diagnose", help="plot gradient norm against distance in time for RNN, LSTM, GRU",
                              description="Train small RNN, LSTM and GRU models on the adding problem (or load "
                                          "experiment run folders) and plot how far back gradients reach.")
    p.add_argument("--out", type=Path, default=Path("diagnose"), help="output folder (default %(default)s)")
    p.add_argument("--run", type=Path, action="append", default=None, help="an experiment run folder (repeatable)")
    p.add_argument("--T", type=int, default=50)
    p.add_argument("--steps", type=int, default=1000, help="training updates per model (default %(default)s)")
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_diagnose)
    return p


def cmd_diagnose(args) -> int:
    report = diagnose(args.out, runs=args.run, T=args.T, steps=args.steps, hidden=args.hidden, seed=args.seed)
    for name in report["figures"]:
        print(Path(args.out) / name)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m unroll.experiments adding|copy ...`` or ``python -m unroll.experiments diagnose ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m unroll.experiments")
    sub = parser.add_subparsers(metavar="command")
    add_experiment_parser(sub)
    add_diagnose_parser(sub)
    if argv and argv[0] in TASKS:
        argv = ["experiment"] + argv
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except ValueError as err:
        print(f"unroll: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
