"""A deep ensemble of language models trained as one (``--task lm --members K``): K independent language
models that read the same batches, each carried through the token stream by its own truncated BPTT.

Member k is a whole LanguageModel (embedding, stack, output layer) with its own initial weights and its own
dropout masks. For a batch (x, y) of T steps and N streams, V tokens::

    z_k      = member_k(x; s_k)                     logits of member k, from its own carried state s_k  (T, N, V)
    CE_k     = mean_{t,n} -log softmax(z_k)[t, n, y_tn]      member k's cross-entropy
    L        = (1/K) Σ_k CE_k                        the training loss (the members meet nowhere else)
    ∂L/∂θ_k  = (1/K) ∂CE_k/∂θ_k                      member k's gradient, BPTT(k1, k2) through its own history
    p(y_t)   = (1/K) Σ_k softmax(z_k)[t]             the model's next-token distribution               (T, N, V)

``forward`` (inference only) returns log p, so everything downstream reads the mean of the members'
probabilities: validation nats/token (``evaluate``, the best checkpoint), ``unroll eval``, ``sample``,
``predict`` and serve's sampling; a temperature τ samples from softmax(log p / τ). The cell viewer, gate
saturation and ``visualize`` show member 0 (``shown``); ``export`` reads one model and refuses an ensemble
in one line; ``--init-from`` starts classifier member k from member k (tasks/pretrained.py). Seeds,
parameter names (``member{k}.embed.W`` ...) and the one generator for every member's dropout masks are
those of the classifiers' ensemble (models/ensemble.py).

The carried state is a list of the K members' carries ({"state", "history"} of ``TruncatedBPTT``), saved
in checkpoints like any other (train/state.py), so a resumed run continues every member's stream exactly.
"""

from __future__ import annotations

import numpy as np

from unroll import decode
from unroll.models.ensemble import Ensemble, head, member_seed
from unroll.models.language_model import summed_nll
from unroll.nn import ops


def build(make, members: int, seed: int):
    """``make(seed)`` -> one LanguageModel; K = 1: that model itself (its names and numbers unchanged), else
    the LMEnsemble of K of them (member 0 is the model of ``seed`` alone)."""
    if isinstance(members, bool) or not isinstance(members, (int, np.integer)) or members < 1:
        raise ValueError(f"--members must be a positive integer, got {members!r}")
    if members == 1:
        return make(seed)
    return LMEnsemble([make(member_seed(seed, k)) for k in range(members)])


def shown(model):
    """(the model a probe shows, a note): member 0 of an ensemble (its cells are one model's), else the model."""
    if isinstance(model, LMEnsemble):
        return model.member(0), f"member 0 of {len(model.members)}"
    return model, None


def member_note(model) -> dict:
    """{"member": "member 0 of K"} for what a probe shows of an ensemble (its member 0's cells), else {}."""
    note = shown(model)[1]
    return {"member": note} if note else {}


class LMEnsemble(Ensemble, decode.Continues):
    """K language models trained as one: the loss is the mean of theirs, the probabilities the mean of theirs
    (``generate`` and ``sample`` draw from that mean: decode.Continues over ``forward`` and ``stepper``)."""

    def _config(self):
        """Member 0's network (a ModelConfig: every member has the same one)."""
        return self.members[0].config

    def loss_and_grads(self, batch, carry, driver_of):
        """batch (x, y) (T, N) -> (mean of the members' losses, grads: member k's own / K, the K carries).

        carry: the list of the members' carries (None: every member starts from zeros);
        driver_of(member) -> that member's ``TruncatedBPTT`` (the task keeps one per member)."""
        K, loss, grads, carries = len(self.members), 0.0, {}, []
        carry = [None] * K if carry is None else list(carry)
        if len(carry) != K:
            raise ValueError(f"the carried state holds {len(carry)} members' streams, this ensemble has {K}")
        for k in range(K):
            driver = driver_of(self.member(k))
            driver.set_carry(carry[k])
            member_loss, member_grads = driver.step(*batch)
            loss += float(member_loss)
            grads.update({head(k) + name: g / K for name, g in member_grads.items()})
            carries.append(driver.carry())
        return loss / K, {name: grads[name] for name in self.params}, carries

    def forward(self, ids: np.ndarray, state=None, training: bool = False):
        """ids int (T, N) -> (log p (T, N, V): the log of the mean of the members' probabilities, the K final
        states, None). Inference only: training runs each member's own forward (``loss_and_grads``)."""
        if training:
            raise ValueError("an ensemble of language models trains member by member (LMEnsemble.loss_and_grads)")
        states = [None] * len(self.members) if state is None else state
        logps, finals = [], []
        for k, s in enumerate(states):
            logits, final, _ = self.member(k).forward(ids, s, training=False)
            logps.append(ops.log_softmax(logits))
            finals.append(final)
        return _log_mean_exp(logps), finals, None

    def evaluate(self, x: np.ndarray, y: np.ndarray, state=None, mask=None):
        """Summed negative log-likelihood of y under the mean probabilities, token count, the final states."""
        logp, state, _ = self.forward(x, state)
        return (*summed_nll(logp, self.members[0]._check_ids("y", y), mask), state)

    def stepper(self):
        """One decoding step for every member at once: token_ids (N,) -> (log p (N, V), the K states)."""
        steps = [decode.stepper(self.member(k)) for k in range(len(self.members))]

        def step(token_ids: np.ndarray, state):
            outs = [one(token_ids, s) for one, s in zip(steps, state)]
            return _log_mean_exp([ops.log_softmax(logits) for logits, _ in outs]), [s for _, s in outs]
        return step

    def zero_state(self, N: int):
        return [self.member(k).zero_state(N) for k in range(len(self.members))]



def _log_mean_exp(logps: list[np.ndarray]) -> np.ndarray:
    """log((1/K) Σ_k exp(logp_k)), computed stably: the log of the mean of K distributions."""
    top = np.max(logps, axis=0)
    return top + np.log(np.mean([np.exp(lp - top) for lp in logps], axis=0))
