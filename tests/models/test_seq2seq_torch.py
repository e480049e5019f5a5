"""Parity of a 1-layer LSTM encoder-decoder (C as the decoder's initial state, no attention) with the same
network built from torch.nn: teacher-forced loss and every gradient, float64, to 1e-10."""

import numpy as np
import pytest

import torch  # noqa: E402  (the test extra installs it: a missing torch must fail, not skip)
from torch.nn.utils.rnn import pack_padded_sequence  # noqa: E402

from unroll.interop import torch_weights as tw  # noqa: E402
from unroll.models.seq2seq import Seq2Seq  # noqa: E402

torch.set_num_threads(1)
V_SRC, V_TGT, H, E = 7, 6, 4, 3


class TorchSeq2Seq(torch.nn.Module):
    """Embedding -> LSTM (packed, so each source's own last state is C) -> LSTM from (h, c) -> Linear."""

    def __init__(self):
        super().__init__()
        self.src_embed, self.tgt_embed = torch.nn.Embedding(V_SRC, E), torch.nn.Embedding(V_TGT, E)
        self.encoder, self.decoder = torch.nn.LSTM(E, H), torch.nn.LSTM(E, H)
        self.out = torch.nn.Linear(H, V_TGT)

    def forward(self, src, lengths, tgt_in, tgt_out, tgt_mask):
        packed = pack_padded_sequence(self.src_embed(src), lengths, enforce_sorted=False)
        _, state = self.encoder(packed)
        s, _ = self.decoder(self.tgt_embed(tgt_in), state)
        nll = torch.nn.functional.cross_entropy(self.out(s).reshape(-1, V_TGT), tgt_out.reshape(-1), reduction="none")
        return (nll * tgt_mask.reshape(-1)).sum() / tgt_mask.sum()


def test_loss_and_every_gradient_match_torch():
    rng = np.random.default_rng(0)
    model = Seq2Seq(V_SRC, V_TGT, hidden_size=H, embedding_size=E, cell="lstm", conditioning="init",
                    seed=1, dtype=np.float64)
    model.params = {k: rng.uniform(-0.8, 0.8, v.shape) for k, v in model.params.items()}
    T, U, N = 5, 4, 3
    lengths = np.array([5, 2, 4])
    src_mask = (np.arange(T)[:, None] < lengths).astype(float)
    src = rng.integers(0, V_SRC, (T, N)) * src_mask.astype(int)
    tgt_out = rng.integers(0, V_TGT, (U, N))
    tgt_in = np.vstack([np.full((1, N), 1), tgt_out[:-1]])
    tgt_mask = (np.arange(U)[:, None] < np.array([4, 1, 3])).astype(float)
    loss, grads, _ = model.loss_and_grads((src, src_mask, tgt_in, tgt_out, tgt_mask))

    net = TorchSeq2Seq().double()
    p = model.params
    enc = {k[len("encoder."):]: v for k, v in p.items() if k.startswith("encoder.")}
    dec = {k[len("decoder."):]: v for k, v in p.items() if k.startswith("decoder.")}
    with torch.no_grad():
        net.src_embed.weight.copy_(torch.from_numpy(p["src_embed.W"]))
        net.tgt_embed.weight.copy_(torch.from_numpy(p["tgt_embed.W"]))
        for module, stack, params in ((net.encoder, model.encoder, enc), (net.decoder, model.decoder, dec)):
            for name, value in tw.to_torch(params, stack).items():
                getattr(module, name).copy_(torch.from_numpy(value))
        net.out.weight.copy_(torch.from_numpy(p["out.W"].T))
        net.out.bias.copy_(torch.from_numpy(p["out.b"]))
    t = lambda a: torch.from_numpy(np.asarray(a))  # noqa: E731
    ref = net(t(src), t(lengths), t(tgt_in), t(tgt_out), t(tgt_mask))
    ref.backward()
    assert abs(loss - ref.item()) <= 1e-10 * abs(ref.item())

    expected = {"src_embed.W": net.src_embed.weight.grad.numpy(), "tgt_embed.W": net.tgt_embed.weight.grad.numpy(),
                "out.W": net.out.weight.grad.numpy().T, "out.b": net.out.bias.grad.numpy()}
    for prefix, module, stack in (("encoder", net.encoder, model.encoder), ("decoder", net.decoder, model.decoder)):
        torch_grads = {n: q.grad.numpy() for n, q in module.named_parameters()}
        expected.update({f"{prefix}.{k}": v for k, v in tw.grads_from_torch(torch_grads, stack).items()})
    assert set(expected) == set(grads)
    for key, want in expected.items():
        err = np.abs(grads[key] - want).max() / max(np.abs(want).max(), 1e-3)
        assert err <= 1e-10, f"{key}: {err:.2e}"
