"""Fine-tuning a pretrained network (ULMFiT, Howard & Ruder 2018): discriminative learning rates and
gradual unfreezing, as a learning-rate scale per parameter for ``Optimizer.step(grads, lr_scales)``.

Parameters fall into depth groups by name: the embeddings (``embed.*``, ``src_embed.*``, ``tgt_embed.*``,
also after an ensemble member's ``member{k}.``) are group 0, recurrent layer l (any key holding
``layer{l}.``, e.g. ``layer1.gru.W_h`` or ``encoder.layer0.lstm.b``) is group l + 1, and everything else
(output layer, readout, bridge, attention) is the top group G = L + 1 for L recurrent layers. With
``--lr-layer-decay F`` group g steps with

    lr_g = lr · F^(G - g)          the output layer lr, the top recurrent layer lr·F, ..., the embedding lr·F^G

and with ``--unfreeze-every N`` only the top k = 1 + ⌊step / (N · eval_every)⌋ groups train (the output
layer alone first, then one group more below every N validations; the others get scale 0: frozen, their
parameters and optimizer buffers untouched, their gradients left out of the clipping norm). Both are pure
functions of the step, so a resumed run scales exactly as an uninterrupted one.
"""

from __future__ import annotations

import re

EMBEDDINGS = ("embed.", "src_embed.", "tgt_embed.")
_LAYER = re.compile(r"(?:^|\.)layer(\d+)\.")
_MEMBER = re.compile(r"^member\d+\.")       # an ensemble member's prefix (models/ensemble.py): member0.embed.W


def depth_groups(keys) -> dict[str, int]:
    """{key: group}: 0 for embeddings, l + 1 for recurrent layer l, the top group for the rest."""
    keys = list(keys)
    layers = [int(m.group(1)) for k in keys if (m := _LAYER.search(k))]
    top = (max(layers) + 2) if layers else 1
    groups = {}
    for k in keys:
        m = _LAYER.search(k)
        groups[k] = 0 if _MEMBER.sub("", k).startswith(EMBEDDINGS) else (int(m.group(1)) + 1 if m else top)
    return groups


def lr_scales(groups: dict[str, int], decay: float = 1.0, unfreeze_every: int | None = None, step: int = 0,
              eval_every: int = 1) -> dict[str, float] | None:
    """{key: scale} for this step (None when every scale is 1: the plain update)."""
    if decay == 1.0 and unfreeze_every is None:
        return None
    top = max(groups.values())
    trainable = top + 1 if unfreeze_every is None else 1 + step // (unfreeze_every * eval_every)
    return {k: (decay ** (top - g) if top - g < trainable else 0.0) for k, g in groups.items()}
