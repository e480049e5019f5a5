"""Interoperability: PyTorch weight import and export (``torch_weights``); torch is never imported here."""

from unroll.interop.torch_weights import (
    from_torch, from_torch_module, grads_from_torch, grads_to_torch, to_torch, torch_module, torch_names,
)

__all__ = ["from_torch", "from_torch_module", "grads_from_torch", "grads_to_torch", "to_torch", "torch_module",
           "torch_names"]
