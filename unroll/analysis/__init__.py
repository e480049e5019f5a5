"""Looking inside trained recurrences.

- ``gradients``: gradient flow through time (‖∂L_T/∂h_k‖, Jacobian products ∂h_t/∂h_k and the seeds' bound
  (β_W β_h)^{t-k}, per-parameter norms around clipping, gate saturation).
- ``plots``: training curves of a run folder.
- ``activations``, ``features``, ``page``, ``gates``, ``visualize``: inside a trained character model
  (Karpathy, Johnson, Fei-Fei 2015): per-unit activations and top-5 predictions over a text, Pearson r with
  text features, the self-contained HTML page, gate saturation; ``commands`` is their CLI glue
  (``unroll visualize``, ``unroll inspect --gates``, ``unroll data python-source``).

Submodules are imported on use (``from unroll.analysis import gradients``), so importing the package
pulls in neither matplotlib nor the cells.
"""
