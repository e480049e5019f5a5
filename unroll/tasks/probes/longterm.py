"""The long-term task's page: the validation loss against the memoryless baseline (result.json's history)
and how far back the loaded checkpoint's gradient reaches, the figure `unroll diagnose` draws:

    reach: ‖∂L_T/∂h_k‖ against the distance T - k (and ‖∂L_T/∂c_k‖ for an LSTM), and the geometric mean of
           ‖∂s_T/∂s_k‖₂ over a few sequences, on ``sequences`` fixed sequences of the run's own problem
           (analysis/diagnose.py's gradient_flow, float64)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unroll.command import Page
from unroll.tasks.probes import Refused, field_of

MAX_SEQUENCES = 64
PROBE_SEED = 1_000_003                  # the sequences diagnose draws its figures on (seed 0 + 1_000_003)


def reach(task, model, body: dict, limits) -> dict:
    """{"distance", "h", "c" (LSTM) or None, "jacobian", "seeds_bound" or None, "T", "cell"}."""
    from unroll.analysis.diagnose import gradient_flow
    n = field_of(body, "sequences", int, default=16)
    if not 1 <= n <= MAX_SEQUENCES:
        raise Refused(413 if n > 0 else 422, f"'sequences' must lie in 1..{MAX_SEQUENCES}, got {n}")
    x, y = task.make_batch(n, np.random.default_rng(PROBE_SEED))
    flow = gradient_flow(model, x, y, clip=None, examples=min(n, 4))
    return {"distance": flow["distance"], "h": flow["reach_h"], "c": flow.get("reach_c"),
            "jacobian": flow["jacobian_norm_geomean"], "seeds_bound": flow.get("seeds_bound"),
            "T": task.problem.T, "cell": task.settings["network"].cell}


SECTION = (
    '<h3>long-term dependency</h3><svg id="ltcurve" class="chart" width="760" height="240"></svg>'
    '<div class="controls"><label>sequences <input id="ltn" type="number" value="16" min="1" max="64"></label> '
    '<button id="ltreach">gradient reach</button> <span class="muted">‖∂L_T/∂h_k‖ of this checkpoint against the '
    'distance T − k, on fixed sequences of the run\'s problem</span></div>'
    '<svg id="reach" class="chart" width="760" height="240"></svg>')

PAGE = Page(SECTION, Path(__file__).with_suffix(".js"), calls={"reach": reach})
