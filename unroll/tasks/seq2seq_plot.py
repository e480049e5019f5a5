"""seq2seq's `unroll predict RUN --attention-plot out.png`: the first line's attention weights as a heat map."""

from __future__ import annotations


def plot_attention(alpha, src_tokens, out_tokens, path) -> None:
    """Heat map of attention weights alpha (U, T): output tokens down, source tokens across."""
    if alpha is None:
        raise ValueError("--attention-plot needs a run trained with --attention")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    U, T = alpha.shape
    fig, ax = plt.subplots(figsize=(max(3, 0.3 * T + 1.5), max(2.5, 0.3 * U + 1.2)))
    im = ax.imshow(alpha, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(T), src_tokens[:T], rotation=90 if max(map(len, src_tokens)) > 2 else 0)
    ax.set_yticks(range(U), out_tokens[:U])
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    fig.colorbar(im, ax=ax, fraction=0.05)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
