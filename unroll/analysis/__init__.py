"""Looking inside trained recurrences.

- ``gradients``: gradient flow through time (‖∂L_T/∂h_k‖, Jacobian products ∂h_t/∂h_k and the seeds' bound
  (β_W β_h)^{t-k}, per-parameter norms around clipping, gate saturation).
- ``plots``: training curves of a run folder.

Submodules are imported on use (``from unroll.analysis import gradients``), so importing the package
pulls in neither matplotlib nor the cells.
"""
