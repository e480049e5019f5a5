"""Training curves: what is drawn (axes, series, labels, scales) read back from matplotlib's objects, against a
hand-written metrics log; the PNG's pixels; damaged logs named by file and line."""

import json

import matplotlib
import numpy as np
import pytest

from unroll.analysis import plots

matplotlib.use("Agg")

RECORDS = [
    {"step": 1, "epoch": 0, "train_loss": 4.1, "grad_norm": 9.0, "lr": 0.002},
    {"step": 2, "epoch": 0, "train_loss": 3.7, "grad_norm": 6.0, "lr": 0.002},
    {"event": "nan_rollback", "step": 2, "lr_scale": 0.5},
    {"step": 3, "epoch": 0, "train_loss": 3.2, "grad_norm": 4.0, "lr": 0.001, "valid_loss": 3.5},
    {"step": 4, "epoch": 1, "train_loss": 2.9, "grad_norm": 3.0, "lr": 0.001},
    {"step": 5, "epoch": 1, "train_loss": 2.5, "grad_norm": 2.5, "lr": 0.001, "valid_loss": 2.8},
]


@pytest.fixture
def saved_figures(monkeypatch):
    """Every matplotlib Figure saved during the test, kept alive for inspection."""
    from matplotlib.figure import Figure
    figures, original = [], Figure.savefig

    def keep(self, *args, **kwargs):
        figures.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


def write_log(folder, records):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return folder


def series(ax):
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in ax.get_lines()}


def test_curves_draw_exactly_the_logged_losses_and_gradient_norms(tmp_path, saved_figures):
    run = write_log(tmp_path / "myrun", RECORDS)
    out = plots.plot_metrics(run)
    assert out == run / "curves.png"
    (fig,) = saved_figures
    ax_loss, ax_norm = fig.axes
    drawn = series(ax_loss)
    assert drawn["training"] == ([1, 2, 3, 4, 5], [4.1, 3.7, 3.2, 2.9, 2.5])   # the event line is not a point
    assert drawn["validation"] == ([3, 5], [3.5, 2.8])
    assert [t.get_text() for t in ax_loss.get_legend().get_texts()] == ["training", "validation"]
    assert ax_loss.get_xlabel() == "step" and ax_loss.get_ylabel() == "loss (nats/token)"
    assert ax_loss.get_title() == "myrun: loss"
    ((steps, norms),) = series(ax_norm).values()
    assert steps == [1, 2, 3, 4, 5] and norms == [9.0, 6.0, 4.0, 3.0, 2.5]
    assert ax_norm.get_yscale() == "log" and ax_norm.get_ylabel() == "gradient norm (before clipping)"


def test_the_png_has_the_figure_size_and_shows_the_curves(tmp_path):
    import matplotlib.image
    out = plots.plot_metrics(write_log(tmp_path / "run", RECORDS), tmp_path / "elsewhere.png")
    assert out == tmp_path / "elsewhere.png" and not (tmp_path / "run" / "curves.png").exists()
    pixels = matplotlib.image.imread(out)
    assert pixels.shape[:2] == (4 * 110, 11 * 110)                  # figsize (11, 4) inches at 110 dpi
    red = (pixels[..., 0] > 0.75) & (pixels[..., 1] < 0.3) & (pixels[..., 2] < 0.3)
    assert red[:, 11 * 110 // 2:].sum() > 50 and red[:, :11 * 110 // 2].sum() == 0   # tab:red norm, right panel


def test_validation_only_log_draws_one_series(tmp_path, saved_figures):
    plots.plot_metrics(write_log(tmp_path / "run", [{"step": 10, "valid_loss": 2.0}, {"step": 20, "valid_loss": 1.5}]))
    (fig,) = saved_figures
    assert series(fig.axes[0]) == {"validation": ([10, 20], [2.0, 1.5])}
    assert series(fig.axes[1]) == {}


def test_empty_and_damaged_logs_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match="has no metrics log"):
        plots.plot_metrics(tmp_path / "nothing")
    with pytest.raises(ValueError, match="has no logged losses yet"):
        plots.plot_metrics(write_log(tmp_path / "events", [{"event": "diverged", "step": 3}]))
    run = write_log(tmp_path / "bad", RECORDS[:2])
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 3, "train_lo\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl line 3 is not valid JSON"):
        plots.read_metrics(run)
    assert np.isfinite([r["train_loss"] for r in plots.read_metrics(write_log(tmp_path / "ok", RECORDS[:2]))]).all()
