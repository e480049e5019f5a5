"""The torch side of a training benchmark: a plain torch script, run as a file in a process of its own.

``unroll bench`` starts this file (``python .../torch_side.py SPEC``), never imports it in the measuring
process, so the torch process loads no unroll and no numba, exactly as a torch user's script runs: the
thread count is set once, in the environment before anything loads (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``, by the parent) and by ``torch.set_num_threads`` after the import. SPEC is a JSON
object: cell, hidden, layers, lr, clip, threads, batches (an .npz of int arrays x, y of shape (K, T, N),
written by the parent from unroll's data pipeline), warmup_s and measure_s. Prints one JSON line: the
tokens/s over the timed steps, the steps, the torch version, its thread count and whether unroll or numba
were loaded::

    embedding (V, H) -> nn.RNN/GRU/LSTM(H, H, layers) -> nn.Linear(H, V), softmax cross-entropy,
    Adam(lr), clip_grad_norm_(clip), the state carried between batches and detached (truncated BPTT)
"""

import json
import sys
import time

import numpy as np


class TorchTrainer:
    """One char-rnn training step in torch.nn."""

    def __init__(self, cell: str, H: int, V: int, layers: int, lr: float, clip: float, seed: int = 0):
        import torch
        torch.manual_seed(seed)
        rnn = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell]
        self.torch, self.V, self.clip = torch, V, clip
        self.embed, self.rnn, self.out = torch.nn.Embedding(V, H), rnn(H, H, layers), torch.nn.Linear(H, V)
        self.params = [*self.embed.parameters(), *self.rnn.parameters(), *self.out.parameters()]
        self.adam, self.state = torch.optim.Adam(self.params, lr=lr), None

    def step(self, x, y) -> float:
        torch = self.torch
        x, y = torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y.astype(np.int64))   # ids are int32
        if self.state is not None:   # truncated BPTT: carry the state, cut the graph
            self.state = tuple(s.detach() for s in self.state) if isinstance(self.state, tuple) else self.state.detach()
        hs, self.state = self.rnn(self.embed(x), self.state)
        loss = torch.nn.functional.cross_entropy(self.out(hs).reshape(-1, self.V), y.reshape(-1))
        self.adam.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        self.adam.step()
        return loss.item()


def timed(step, batches, warmup_s: float, measure_s: float) -> dict:
    """Steps over ``batches`` (cycled) for ``warmup_s`` seconds (at least 2 steps), then for at least
    ``measure_s`` seconds (at least 2 steps); returns the timed steps and seconds."""
    k, t0 = 0, time.perf_counter()
    while k < 2 or time.perf_counter() - t0 < warmup_s:
        step(*batches[k % len(batches)])
        k += 1
    done, t0 = 0, time.perf_counter()
    while done < 2 or time.perf_counter() - t0 < measure_s:
        step(*batches[(k + done) % len(batches)])
        done += 1
    return {"steps": done, "seconds": time.perf_counter() - t0}


def main(spec: dict) -> dict:
    import torch
    torch.set_num_threads(spec["threads"])
    data = np.load(spec["batches"], allow_pickle=False)
    batches = list(zip(data["x"], data["y"]))
    trainer = TorchTrainer(spec["cell"], spec["hidden"], int(data["V"]), spec["layers"], spec["lr"], spec["clip"])
    result = timed(trainer.step, batches, spec["warmup_s"], spec["measure_s"])
    T, N = batches[0][0].shape
    result.update(tokens_per_s=result["steps"] * T * N / result["seconds"], torch=torch.__version__,
                  threads=torch.get_num_threads(), foreign=sorted(m for m in ("unroll", "numba") if m in sys.modules))
    return result


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))), flush=True)
