"""Training curves of a run folder as a PNG (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

from unroll.runs.folder import RunFolder


def read_metrics(run_dir: Path) -> list[dict]:
    """The records of RUN_DIR/metrics.jsonl (RunFolder.metrics), naming the file and line of a damaged record."""
    return RunFolder(run_dir).metrics()


def plot_metrics(run_dir: Path, out: Path | None = None) -> Path:
    """Write training and validation loss (and the gradient norm) against step; return the PNG path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [r for r in read_metrics(run_dir) if "event" not in r]
    train = [(r["step"], r["train_loss"]) for r in records if r.get("train_loss") is not None]
    valid = [(r["step"], r["valid_loss"]) for r in records if r.get("valid_loss") is not None]
    norms = [(r["step"], r["grad_norm"]) for r in records if r.get("grad_norm") is not None]
    if not train and not valid:
        raise ValueError(f"run folder {run_dir} has no logged losses yet")
    fig, (ax_loss, ax_norm) = plt.subplots(1, 2, figsize=(11, 4))
    if train:
        ax_loss.plot(*zip(*train), label="training", lw=1)
    if valid:
        ax_loss.plot(*zip(*valid), "o-", label="validation", lw=1.5, ms=3)
    ax_loss.set(xlabel="step", ylabel="loss (nats/token)", title=f"{Path(run_dir).name}: loss")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend()
    if norms:
        ax_norm.plot(*zip(*norms), lw=1, color="tab:red")
    ax_norm.set(xlabel="step", ylabel="gradient norm (before clipping)", title="gradient norm", yscale="log")
    ax_norm.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(out) if out else Path(run_dir) / "curves.png"
    if not out.suffix:                                   # matplotlib would add .png itself: say the real name
        out = out.with_name(out.name + ".png")
    fig.savefig(out, dpi=110, format="png")
    plt.close(fig)
    return out
