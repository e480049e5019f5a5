"""Gate saturation per unit (Karpathy, Johnson, Fei-Fei 2015, Figure 3).

For every layer l, sigmoid gate g (LSTM i, f, o; GRU r, z) and unit k, over the T characters of a text::

    left[l][g][k]  = #{t : g^(l)_{t,k} < low} / T        left-saturated  (gate shut),  low = 0.1
    right[l][g][k] = #{t : g^(l)_{t,k} > high} / T       right-saturated (gate open), high = 0.9

``saturation`` returns them as a JSON-ready dict; ``scatter`` draws the paper's picture: one panel per layer,
one point per gate unit at (left, right), a colour per gate. Points near the top edge are gates that are
almost always open (e.g. forget gates that remember), near the right edge almost always shut, and points
on the line left + right = 1 switch between the two extremes.
"""

from __future__ import annotations

import numpy as np

GATE_COLOURS = {"i": "tab:blue", "f": "tab:green", "o": "tab:red", "r": "tab:purple", "z": "tab:orange"}
GATE_NAMES = {"i": "input", "f": "forget", "o": "output", "r": "reset", "z": "update"}


def saturation(acts, low: float = 0.1, high: float = 0.9) -> dict:
    """{"cell", "low", "high", "steps", "layers": [{gate: {"left": [H], "right": [H], ...}}]} of an Activations."""
    if not acts.gates or not acts.gates[0]:
        raise ValueError(f"gate saturation needs an LSTM or GRU, this model's cell is {acts.cell_kind!r}")
    if not 0.0 < low < high < 1.0:
        raise ValueError(f"need 0 < low < high < 1, got low={low}, high={high}")
    layers = []
    for layer in acts.gates:
        entry = {}
        for name, values in layer.items():                     # values (T, H)
            left, right = (values < low).mean(0), (values > high).mean(0)
            entry[name] = {"left": left.round(6).tolist(), "right": right.round(6).tolist(),
                           "mean_left": float(left.mean()), "mean_right": float(right.mean())}
        layers.append(entry)
    return {"cell": acts.cell_kind, "low": low, "high": high, "steps": int(acts.ids.size), "layers": layers}


def scatter(sat: dict, title: str | None = None):
    """The paper's Figure 3 as a matplotlib Figure (one axes per layer, one PathCollection per gate)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = len(sat["layers"])
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.8), squeeze=False)
    for l, (ax, layer) in enumerate(zip(axes[0], sat["layers"])):
        ax.plot([0, 1], [1, 0], color="0.8", lw=1, zorder=0)
        for name, values in layer.items():
            ax.scatter(values["left"], values["right"], s=12, alpha=0.6, color=GATE_COLOURS.get(name),
                       label=f"{GATE_NAMES.get(name, name)} gate")
        ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), title=f"layer {l}",
               xlabel=f"fraction of time < {sat['low']} (left-saturated)")
        if l == 0:
            ax.set_ylabel(f"fraction of time > {sat['high']} (right-saturated)")
            ax.legend(loc="upper right", fontsize=7)
    fig.suptitle(title or f"{sat['cell'].upper()} gate saturation over {sat['steps']} characters")
    fig.tight_layout()
    return fig


def save_scatter(sat: dict, path, title: str | None = None):
    import matplotlib.pyplot as plt
    fig = scatter(sat, title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
