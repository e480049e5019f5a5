"""The timed cases of ``linear_parts.py`` (#34, lever 12): each product of the step as the step makes it and
its alternatives, on the very arrays the step used; split from it to keep each file short. Loads numpy:
import it after ``_threads.set_threads``.
"""

from __future__ import annotations

import numpy as np


def _cross_entropy_transposed(lT, targets):
    """ops.softmax_cross_entropy (in place, no mask) on logits laid out (V, M): returns the gradient (V, M)."""
    lT -= lT.max(axis=0)
    np.exp(lT, out=lT)
    lT /= lT.sum(axis=0)
    cols = np.arange(lT.shape[1])
    _ = -np.log(np.maximum(lT[targets, cols], np.finfo(lT.dtype).tiny)).mean()
    lT[targets, cols] -= 1.0
    lT *= lT.dtype.type(1.0 / lT.shape[1])
    return lT


def layout(a) -> str:
    if not isinstance(a, np.ndarray):
        return type(a).__name__
    order = "C" if a.flags.c_contiguous else "F" if a.flags.f_contiguous else "strided"
    return f"{a.dtype}{list(a.shape)} {order}{' view' if a.base is not None else ''} strides {list(a.strides)}"


def padded(a, multiple: int):
    """a (M, K) with zero columns appended up to a multiple of ``multiple``; None if K is one already."""
    return None if a.shape[1] % multiple == 0 else np.pad(a, ((0, 0), (0, -a.shape[1] % multiple)))


class Cases:
    """The timed cases: part -> [(name, fn, flops, comparable(result) or None)]; the first is the step's way."""

    def __init__(self, linear, pad: int):
        self.parts, self.linear, self.layouts, self.pad = {}, linear, {}, pad

    def add(self, part, name, fn, flops, view=lambda r: r):
        self.parts.setdefault(part, []).append((name, fn, flops, view))

    def forward(self, label, x, W, b):
        from unroll.nn import ops
        x2, K = x.reshape(-1, x.shape[-1]), W.shape[1]
        M, D = x2.shape
        fl = 2.0 * M * D * K
        y, yT, WTc = np.empty((M, K), x.dtype), np.empty((K, M), x.dtype), np.ascontiguousarray(W.T)
        self.layouts[f"{label} forward"] = {"x": layout(x), "W": layout(W), "b": layout(b)}
        part = f"{label}: y = x W + b  ({M}x{D} @ {D}x{K})"
        self.add(part, "as the step: ops.linear_forward", lambda: ops.linear_forward(x, W, b), fl,
                 lambda r: r.reshape(M, K))
        self.add(part, "product only, out=", lambda: np.matmul(x2, W, out=y), fl, None)
        self.add(part, "bias pass alone, y += b", lambda: np.add(y, b, out=y), 0.0, None)
        self.add(part, "product + bias, out=", lambda: np.add(np.matmul(x2, W, out=y), b, out=y), fl)
        self.add(part, "product, W as contiguous Wᵀ (trans flag)", lambda: np.matmul(x2, WTc.T, out=y), fl, None)
        self.add(part, "transposed: yᵀ = Wᵀ x2ᵀ (no bias)", lambda: np.matmul(WTc, x2.T, out=yT), fl, None)
        Wp = padded(W, self.pad)
        if Wp is not None:
            yp = np.empty((M, Wp.shape[1]), x.dtype)
            self.add(part, f"product, W padded to {Wp.shape[1]} columns", lambda: np.matmul(x2, Wp, out=yp),
                     2.0 * M * D * Wp.shape[1], None)
        if self.linear is not None and x2.flags.c_contiguous and W.flags.c_contiguous:
            self.add(part, "bias folded, affine (beta = 1; lever 12, not kept)",
                     lambda: (self.linear[0](x2, W, b, y), y)[1], fl)

    def backward(self, label, dy, x, W, need_dx=True):
        from unroll.nn import ops
        dy2, x2 = dy.reshape(-1, dy.shape[-1]), x.reshape(-1, x.shape[-1])
        M, K = dy2.shape
        D = x2.shape[1]
        fl = 2.0 * M * D * K
        self.layouts[f"{label} backward"] = {"dy": layout(dy), "x": layout(x), "W": layout(W)}
        self.add(f"{label}: as the step", "ops.linear_backward (dW, db, dx)",
                 lambda: ops.linear_backward(dy, x, W, need_dx), fl * (2 if need_dx else 1), None)
        part = f"{label}: dW = xᵀ δy  ({D}x{M} @ {M}x{K})"
        dW, dWT = np.empty((D, K), dy.dtype), np.empty((K, D), dy.dtype)
        self.add(part, "as the step: x2.T @ dy2", lambda: x2.T @ dy2, fl)
        self.add(part, "out=", lambda: np.matmul(x2.T, dy2, out=dW), fl)
        self.add(part, "transposed: dWᵀ = δyᵀ x2", lambda: np.matmul(dy2.T, x2, out=dWT), fl, lambda r: r.T)
        dyp = padded(dy2, self.pad)
        if dyp is not None:
            self.add(part, f"δy padded to {dyp.shape[1]} columns", lambda: x2.T @ dyp, 2.0 * M * D * dyp.shape[1],
                     lambda r: r[:, :K])
        part = f"{label}: db = Σ rows δy  ({M}x{K})"
        db, ones = np.empty(K, dy.dtype), np.ones(M, dy.dtype)
        self.add(part, "as the step: dy2.sum(axis=0)", lambda: dy2.sum(axis=0), 0.0)
        self.add(part, "1ᵀ δy (gemv), out=", lambda: np.matmul(ones, dy2, out=db), 0.0)
        if self.linear is not None and dy2.flags.c_contiguous:
            self.add(part, "column_sums (compiled)", lambda: (self.linear[1](dy2, db), db)[1], 0.0)
        if not need_dx:
            return
        part = f"{label}: dx = δy Wᵀ  ({M}x{K} @ {K}x{D})"
        dx, dxT, WTc = np.empty((M, D), dy.dtype), np.empty((D, M), dy.dtype), np.ascontiguousarray(W.T)
        dyTc = np.ascontiguousarray(dy2.T)
        self.add(part, "as the step: dy2 @ W.T", lambda: dy2 @ W.T, fl)
        self.add(part, "out=", lambda: np.matmul(dy2, W.T, out=dx), fl)
        self.add(part, "Wᵀ contiguous", lambda: np.matmul(dy2, WTc, out=dx), fl)
        self.add(part, "transposed: dxᵀ = W δyᵀ (δyᵀ contiguous)", lambda: np.matmul(W, dyTc, out=dxT), fl,
                 lambda r: r.T)
        Wp = padded(W, self.pad)
        if dyp is not None and Wp is not None:
            self.add(part, f"inner dimension padded to {Wp.shape[1]}", lambda: np.matmul(dyp, Wp.T, out=dx),
                     2.0 * M * D * Wp.shape[1])

    def weight(self, label, da, x, h_prev):
        G, H = da.shape[-1], h_prev.shape[-1]
        da2, hp2 = da.reshape(-1, G), h_prev.reshape(-1, H)
        M = da2.shape[0]
        fl = 2.0 * M * H * G
        self.layouts[f"{label} weight"] = {"da": layout(da), "h_prev": layout(h_prev)}
        part = f"{label}: dW_h = h_prevᵀ δa  ({H}x{M} @ {M}x{G})"
        out, outT = np.empty((H, G), da.dtype), np.empty((G, H), da.dtype)
        self.add(part, "as the step: hp2.T @ da2", lambda: hp2.T @ da2, fl)
        self.add(part, "out=", lambda: np.matmul(hp2.T, da2, out=out), fl)
        self.add(part, "transposed: dW_hᵀ = δaᵀ h_prev", lambda: np.matmul(da2.T, hp2, out=outT), fl, lambda r: r.T)
        if isinstance(x, np.ndarray):
            x2 = x.reshape(-1, x.shape[-1])
            D = x2.shape[1]
            both = np.empty((M, D + H), da.dtype)
            out2 = np.empty((D + H, G), da.dtype)

            def stacked():
                both[:, :D], both[:, D:] = x2, hp2
                return np.matmul(both.T, da2, out=out2)[D:]
            self.add(part, "dW_x and dW_h as one: [x | h_prev]ᵀ δa (the copy counted; x2ᵀ δa: see dW above)",
                     stacked, fl + 2.0 * M * D * G)

    def loss(self, logits, targets, mask):
        from unroll.nn import ops
        buf = np.empty_like(logits)
        part = f"loss: softmax cross-entropy in place  ({'x'.join(map(str, logits.shape))})"
        self.add(part, "copy of the logits (~0.015 ms) + ops.softmax_cross_entropy",
                 lambda: ops.softmax_cross_entropy((np.copyto(buf, logits), buf)[1], targets, mask, inplace=True)[1],
                 0.0)
        if mask is None:
            T, N, V = logits.shape
            lT, bufT, flat = np.ascontiguousarray(logits.reshape(-1, V).T), np.empty((V, T * N), logits.dtype), \
                np.asarray(targets).reshape(-1)
            self.add(part, "transposed layout (V, T·N), softmax over axis 0 (copy included)",
                     lambda: _cross_entropy_transposed((np.copyto(bufT, lT), bufT)[1], flat).T.reshape(T, N, V), 0.0)
