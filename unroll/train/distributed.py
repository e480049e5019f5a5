"""Data-parallel training over MPI: P processes train one model, with the parameters one process would get.

Every rank builds the same global batch of N sequences (reading data is cheap next to the recurrence) and
keeps its own contiguous N/P of them (``Task.shard``). Each rank computes the mean loss and gradients over
its own real tokens n_r; one allreduce over a single flat buffer [n_r·g_r, n_r·L_r, n_r] sums them, and
dividing by n = Σ n_r gives exactly the per-token mean of one process over all N sequences::

    L = Σ_r n_r L_r / n          g = Σ_r n_r g_r / n

Clipping then sees the global norm, and every rank applies the identical optimizer step, so the parameters
stay equal on every rank without ever being sent. Only the summation order differs from one process, so a
P-rank run matches a 1-process run to rounding (float64: about 1e-15 relative per step).

The carried recurrent state (truncated BPTT) belongs to each rank's own sequences: a checkpoint holds all
of them (gathered to rank 0, which alone writes files), so ``--resume`` needs the same P. Dropout draws its
masks per rank, so with dropout > 0 a P-rank run is a different (equally valid) random draw than one process.

``world()`` is the process's communicator: ``Solo`` (nothing to do) unless the process was started by
mpiexec with more than one rank, in which case mpi4py (the optional extra ``unroll[mpi]``) is imported.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys

import numpy as np

SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")
_WORLD = None


class Solo:
    """One process: every collective is the identity."""

    rank, size = 0, 1

    def reduce_step(self, loss: float, grads: dict, weight: float) -> tuple[float, dict]:
        return loss, grads

    def sum(self, *values: float) -> tuple[float, ...]:
        return values

    def gather_states(self, arrays: dict, scalars: dict) -> list[tuple[dict, dict]]:
        return [(arrays, scalars)]

    def agree(self, elapsed: float, stop: bool) -> tuple[float, bool]:
        return elapsed, stop

    def barrier(self) -> None:
        pass

    def broadcast_text(self, text: str) -> str:
        return text

    def abort(self, message: str) -> None:
        raise SystemExit(message)


class MPIWorld(Solo):
    """P ranks of MPI.COMM_WORLD: one allreduce per step over one flat buffer."""

    def __init__(self, comm):
        self.comm, self.rank, self.size = comm, comm.Get_rank(), comm.Get_size()
        self._buffer = None

    def reduce_step(self, loss: float, grads: dict, weight: float) -> tuple[float, dict]:
        """(global per-token mean loss, global mean gradients) from this rank's means over ``weight`` tokens.

        grads: {name: array}; replaced in place by the global gradients (one Allreduce over a flat buffer).
        """
        from mpi4py import MPI
        keys = sorted(grads)
        sizes = [grads[k].size for k in keys]
        total = sum(sizes) + 2
        dtype = np.result_type(*(grads[k].dtype for k in keys), np.float64)
        if self._buffer is None or self._buffer.size != total or self._buffer.dtype != dtype:
            self._buffer = np.empty(total, dtype)
        buf, at = self._buffer, 0
        for key, size in zip(keys, sizes):
            np.multiply(grads[key].reshape(-1), weight, out=buf[at:at + size])
            at += size
        buf[at], buf[at + 1] = loss * weight, weight
        self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        tokens, at = buf[-1], 0
        for key, size in zip(keys, sizes):
            grads[key][...] = (buf[at:at + size] / tokens).reshape(grads[key].shape)
            at += size
        return float(buf[-2] / tokens), grads

    def sum(self, *values: float) -> tuple[float, ...]:
        from mpi4py import MPI
        buf = np.array(values, dtype=np.float64)
        self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        return tuple(float(v) for v in buf)

    def agree(self, elapsed: float, stop: bool) -> tuple[float, bool]:
        """(the largest elapsed time, whether any rank was asked to stop): every rank ends at the same step."""
        from mpi4py import MPI
        buf = np.array([elapsed, float(stop)])
        self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.MAX)
        return float(buf[0]), bool(buf[1])

    def gather_states(self, arrays: dict, scalars: dict) -> list[tuple[dict, dict]]:
        """Rank 0 receives every rank's (arrays, scalars); other ranks get []. JSON + raw buffers, no pickle."""
        header = json.dumps({"scalars": scalars,
                             "arrays": {k: [v.dtype.str, list(v.shape)] for k, v in arrays.items()}}).encode()
        if self.rank != 0:
            self.comm.Send(np.frombuffer(np.int64(len(header)).tobytes(), np.uint8), dest=0, tag=1)
            self.comm.Send(np.frombuffer(header, np.uint8), dest=0, tag=2)
            for key in sorted(arrays):
                self.comm.Send(np.ascontiguousarray(arrays[key]), dest=0, tag=3)
            return []
        states = [(arrays, scalars)]
        for source in range(1, self.size):
            length = np.empty(8, np.uint8)
            self.comm.Recv(length, source=source, tag=1)
            raw = np.empty(int(length.view(np.int64)[0]), np.uint8)
            self.comm.Recv(raw, source=source, tag=2)
            info = json.loads(raw.tobytes())
            received = {}
            for key in sorted(info["arrays"]):
                dtype, shape = info["arrays"][key]
                received[key] = np.empty(shape, np.dtype(dtype))
                self.comm.Recv(received[key], source=source, tag=3)
            states.append((received, info["scalars"]))
        return states

    def barrier(self) -> None:
        self.comm.Barrier()

    def broadcast_text(self, text: str) -> str:
        """Rank 0's ``text`` on every rank (JSON-free: UTF-8 bytes with their length first)."""
        data = np.frombuffer(text.encode("utf-8"), np.uint8) if self.rank == 0 else None
        length = np.array([data.size if data is not None else 0], np.int64)
        self.comm.Bcast(length, root=0)
        if data is None:
            data = np.empty(int(length[0]), np.uint8)
        self.comm.Bcast(data, root=0)
        return data.tobytes().decode("utf-8")

    def abort(self, message: str) -> None:
        """Say why on stderr and end every rank now (a dead rank must not leave the others hanging)."""
        print(f"unroll (rank {self.rank} of {self.size}): {message}", file=sys.stderr, flush=True)
        self.comm.Abort(1)


def launched_size() -> int:
    """The number of ranks mpiexec started, read from its environment (1 outside mpiexec)."""
    for name in SIZE_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 1


def world() -> Solo:
    """This process's communicator (created once)."""
    global _WORLD
    if _WORLD is None:
        _WORLD = _connect() if launched_size() > 1 else Solo()
    return _WORLD


def _connect() -> MPIWorld:
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise ValueError("this process was started by mpiexec, but mpi4py is missing: "
                         "pip install 'unroll[mpi]'") from err
    _limit_blas_threads(MPI.COMM_WORLD.Get_size())
    return MPIWorld(MPI.COMM_WORLD)


def _limit_blas_threads(size: int) -> None:
    """BLAS threads per rank default to cores / P (unless the user set them)."""
    if any(os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")):
        return
    from threadpoolctl import threadpool_limits
    threadpool_limits(max(1, (os.cpu_count() or 1) // size), user_api="blas")


def launch_command(workers: int, argv: list[str]) -> tuple[list[str], dict]:
    """(mpiexec command line, environment) that run ``unroll <argv>`` on ``workers`` ranks of this machine."""
    mpiexec = shutil.which("mpiexec") or shutil.which("mpiexec", path=os.path.dirname(sys.executable))
    if mpiexec is None:
        raise ValueError("--workers needs mpiexec: pip install 'unroll[mpi]' (Open MPI) or install an MPI")
    env = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, threads)
    if hasattr(os, "geteuid") and os.geteuid() == 0:            # Open MPI refuses root unless told
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    command = [mpiexec, "-n", str(workers)]
    if workers > (os.cpu_count() or 1):
        command.append("--oversubscribe")
    return command + [sys.executable, "-m", "unroll", *argv], env


ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
RULE = re.compile(rb"^-{20,}\r?$")        # the dashed lines around mpiexec's multi-line notices
NOISE = re.compile(rb"^\[[^\]]*\] PMIX ERROR: ")   # Open MPI's PMIx, when ranks leave early


def run_launcher(command: list[str], env: dict) -> int:
    """Run mpiexec and pass its output on: stdout without the ANSI colour codes it appends, stderr
    without its framed notices (the 8-line 'one or more processes exited with non-zero status', printed
    after the ranks' own one-line error). Rank 0's progress line stays live when stderr is a terminal."""
    import subprocess
    import threading
    if sys.stderr.isatty():
        env = {**env, "UNROLL_LIVE_PROGRESS": "1"}
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = threading.Thread(target=_forward, args=(child.stdout, sys.stdout, False), daemon=True)
    out.start()
    _forward(child.stderr, sys.stderr, True)
    out.join()
    return child.wait()


def _forward(source, target, drop_notices: bool) -> None:
    """Copy ``source`` (bytes) to ``target`` as it comes, line by line ('\\r' redraws included)."""
    framed, pending = False, b""
    while True:
        chunk = os.read(source.fileno(), 65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = re.split(rb"(?<=[\n\r])", pending)
        for line in lines:
            if drop_notices and RULE.match(line.rstrip(b"\n")):
                framed = not framed
                continue
            if not framed and not (drop_notices and NOISE.search(line)):
                _write(target, ANSI.sub(b"", line))
    if pending and not framed:
        _write(target, ANSI.sub(b"", pending))


def _write(target, data: bytes) -> None:
    target.buffer.write(data) if hasattr(target, "buffer") else target.write(data.decode("utf-8", "replace"))
    target.flush()


class RankCarries:
    """The carried state of this rank, in the one state protocol; a checkpoint holds every rank's.

    With P > 1, ``state_dict`` is a collective (every rank calls it; rank 0 gets all P states, named
    ``rank<r>.<name>``) and ``load_state_dict`` takes this rank's own part, refusing another P.
    """

    def __init__(self, carry, world: Solo):
        self.carry, self.world = carry, world

    def state_dict(self) -> tuple[dict, dict]:
        arrays, scalars = self.carry.state_dict()
        if self.world.size == 1:
            return arrays, scalars
        states = self.world.gather_states(arrays, scalars)
        merged = {f"rank{r}.{k}": v for r, (a, _) in enumerate(states) for k, v in a.items()}
        return merged, {"world_size": self.world.size, "ranks": [s for _, s in states]}

    def load_state_dict(self, arrays: dict, scalars: dict) -> None:
        saved = int(scalars.get("world_size", 1))
        if saved != self.world.size:
            raise ValueError(f"this checkpoint holds the carried state of {saved} process(es); resume it with the "
                             f"same number (--workers {saved}, or mpiexec -n {saved}), not {self.world.size}")
        if saved == 1:
            return self.carry.load_state_dict(arrays, scalars)
        prefix = f"rank{self.world.rank}."
        self.carry.load_state_dict({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)},
                                   scalars["ranks"][self.world.rank])


class Snapshot:
    """A state already taken (``state_dict`` returns it): lets rank 0 write what a collective gathered."""

    def __init__(self, arrays: dict, scalars: dict):
        self.arrays, self.scalars = arrays, scalars

    def state_dict(self) -> tuple[dict, dict]:
        return self.arrays, self.scalars
