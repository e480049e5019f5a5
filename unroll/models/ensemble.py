"""A deep ensemble trained as one model (``--task classify --members K``): K independent classifiers that
read the same batches, the way PyTorch's "model ensembling" tutorial trains them (torch.func's
stack_module_state + vmap), here as a loop over the members.

Member k is a whole model of its own (a SequenceClassifier: embedding, stack, readout, output layer) with
its own initial weights and its own dropout masks. For a batch (x, labels), N sequences, C classes::

    z_k  = member_k(x)                              logits of member k                         (N, C)
    CE_k = mean_n -log softmax(z_k)[n, label_n]     member k's cross-entropy
    L    = (1/K) Σ_k CE_k                           the training loss
    ∂L/∂θ_k = (1/K) ∂CE_k/∂θ_k                      member k's gradient; the members meet nowhere else
    p    = (1/K) Σ_k softmax(z_k)                   the model's class probabilities               (N, C)

(the trainer's global-norm clip sees every member's gradient at once, as torch's clip_grad_norm_ over the
stacked parameters would). Everything downstream reads p: validation accuracy and loss, the best checkpoint,
``unroll eval``, ``predict`` and ``serve``.

Seeds: member 0 is exactly the model of ``--seed S`` alone; member k >= 1 draws its initial weights from
``SeedSequence(S, spawn_key=(k,))``, numpy's independent child stream k of S. The dropout masks of every
member come from member 0's generator, member 0 first, then 1 ...: each member its own masks, and one
generator for the checkpoint to store (``Model.rng``), so a resumed run continues every member's masks exactly.

Parameters: ``member{k}.<name>`` for each parameter of member k (``member0.embed.W``, ``member2.out.b`` ...),
the same arrays the member reads (``member(k)``). ``build`` with K = 1 returns the plain model: its names
and its numbers are those of a run without ``--members``.
"""

from __future__ import annotations

import numpy as np


def member_seed(seed: int, k: int):
    """The seed member k draws its weights from: ``seed`` itself for member 0, else child stream k of it."""
    return seed if k == 0 else np.random.SeedSequence(seed, spawn_key=(k,))


def build(make, members: int, seed: int):
    """``make(seed)`` -> one model; K = 1: that model itself, else the Ensemble of K of them."""
    if isinstance(members, bool) or not isinstance(members, (int, np.integer)) or members < 1:
        raise ValueError(f"--members must be a positive integer, got {members!r}")
    if members == 1:
        return make(seed)
    return Ensemble([make(member_seed(seed, k)) for k in range(members)])


def heads(model) -> list[str]:
    """The name prefix of each member's parameters: [""] for a plain model, ["member0.", ...] for an ensemble."""
    return [head(k) for k in range(len(model.members))] if isinstance(model, Ensemble) else [""]


def head(k: int) -> str:
    return f"member{k}."


class Ensemble:
    """K models (each with ``params``, ``rng``, ``dtype``, ``config``, ``loss_and_grads``, ``predict_proba``)
    trained as one: the loss is the mean of theirs, the probabilities the mean of theirs."""

    def __init__(self, members: list):
        if len(members) < 2:
            raise ValueError(f"an ensemble needs two members or more, got {len(members)} (--members 1 is the "
                             "plain model)")
        self.members = list(members)
        self.params = {head(k) + name: p for k, m in enumerate(self.members) for name, p in m.params.items()}
        self.rng = self.members[0].rng                    # every member's dropout masks (checkpointed)
        for m in self.members[1:]:
            m.rng = self.rng
        self.dtype = self.members[0].dtype
        self.config = self._config()

    def _config(self):
        """The ensemble's ``config``: member 0's dict with "members": K (a classifier's)."""
        return {**self.members[0].config, "members": len(self.members)}

    def member(self, k: int):
        """Member k, reading the ensemble's current parameter arrays under its own names."""
        m, prefix = self.members[k], head(k)
        m.params = {name[len(prefix):]: p for name, p in self.params.items() if name.startswith(prefix)}
        return m

    def loss_and_grads(self, batch, state=None):
        """batch -> (mean of the members' losses, grads: member k's own gradient / K, None)."""
        K, loss, grads = len(self.members), 0.0, {}
        for k in range(K):
            member_loss, member_grads, _ = self.member(k).loss_and_grads(batch)
            loss += float(member_loss)
            grads.update({head(k) + name: g / K for name, g in member_grads.items()})
        return loss / K, {name: grads[name] for name in self.params}, None

    def predict_proba(self, *inputs, **options) -> np.ndarray:
        """The mean of the members' class probabilities (N, C), no dropout."""
        probs = self.member(0).predict_proba(*inputs, **options)
        for k in range(1, len(self.members)):
            probs = probs + self.member(k).predict_proba(*inputs, **options)
        return probs / len(self.members)
