"""A fused CPU attention kernel for small heads (numba): forward and backward, softmax and dropout in cache.

softmax(q·kᵀ/√hd + bias) with dropout on the weights, times v, for q (N, H, Tq, hd), k, v
(N, H, Tk, hd) in float32, one (sample, head) pair per parallel task and one query row at a
time: the row's Tk scores live in a scratch vector of a few KB, so no float tensor of the size
of (N, H, Tq, Tk) is written to memory, in the forward or the backward; with dropout, the
forward's keep decisions are kept for the backward, one byte per score (the explicit way keeps
probabilities and mask, 8 bytes; the random words cost 1.5 ns per score to draw, about as much
as the whole kernel's forward, so they are not drawn twice). With 5-wide heads the
explicit way's score, softmax, mask and product passes each run at memory speed; here they
run on the cache. The backward recomputes each row's probabilities from the saved
log-sum-exp (flash-attention style) and uses the identity Σ_j dP_ij·P_ij = dout_i·out_i.

Dropout consumes the explicit way's random stream: ``keep_mask``'s 64-bit words, drawn by
torch's generator in the same order, viewed as int16 slices and compared with the same
threshold inside the kernel, so a seeded training step gives the same numbers as the
explicit way (to float rounding). k and v are passed transposed, (N, H, hd, Tk), so that the
loops over keys are contiguous and vectorise; ``_exp`` is an exponential written as
arithmetic (LLVM has no vector ``expf`` without Intel's SVML), accurate to about 2 ulp.

Compiled once per machine and cached on disk (``cache_dir()/numba``, or ``$NUMBA_CACHE_DIR``
when set; numba falls back to its own locations when that folder is not writable).
"""

from __future__ import annotations

import math
import os

import numba
import numpy as np
import torch
from numba import njit, prange
from torch import Tensor

from dmdlab.model.layers import keep_threshold
from dmdlab.modes import cache_dir

__all__ = ["KernelAttention", "forward", "backward"]

# reassociation lets the row reductions vectorise; no 'nnan'/'ninf': masked keys are -inf
_FAST = {"reassoc", "contract", "nsz", "arcp"}
_FLAGS = dict(parallel=True, fastmath=_FAST, cache=False, nogil=True)

_LOG2E = np.float32(1.4426950408889634)
_LN2_HI, _LN2_LO = np.float32(0.693359375), np.float32(-2.12194440e-4)
_EXP_MIN, _EXP_MAX = np.float32(-87.33654), np.float32(88.37626)


@njit(fastmath=_FAST, inline="always")
def _exp(x, bits, out):
    """out[j] = exp(x[j]) for the first ``len(x)`` entries (0 below e⁻⁸⁷·³, masked keys); ``bits``
    int32 scratch. Cephes' expf: x = n·ln 2 + r, exp(r) by a degree-6 polynomial, 2ⁿ built in the
    exponent bits."""
    scale = bits.view(np.float32)
    for j in range(x.shape[0]):
        v = x[j]
        c = min(max(v, _EXP_MIN), _EXP_MAX)
        n = np.floor(c * _LOG2E + np.float32(0.5))
        r = c - n * _LN2_HI - n * _LN2_LO
        p = np.float32(1.9875691500e-4)
        p = p * r + np.float32(1.3981999507e-3)
        p = p * r + np.float32(8.3334519073e-3)
        p = p * r + np.float32(4.1665795894e-2)
        p = p * r + np.float32(1.6666665459e-1)
        p = p * r + np.float32(5.0000001201e-1)
        p = p * r * r + r + np.float32(1.0)
        bits[j] = (np.int32(n) + np.int32(127)) << np.int32(23)
        out[j] = p if v > _EXP_MIN else np.float32(0.0)
    for j in range(x.shape[0]):
        out[j] = out[j] * scale[j]


@njit(fastmath=_FAST, inline="always")
def _scores(q, kt, bias, has_bias, b, h, i, s):
    """s = q[b, h, i]·k[b, h]ᵀ + bias[b, h, i] over the keys (q pre-scaled by 1/√hd, kt (N, H, hd, Tk))."""
    tk = kt.shape[3]
    q0 = q[b, h, i, 0]
    for j in range(tk):
        s[j] = q0 * kt[b, h, 0, j]
    for c in range(1, kt.shape[2]):
        qc = q[b, h, i, c]
        for j in range(tk):
            s[j] += qc * kt[b, h, c, j]
    if has_bias:
        bb = b if bias.shape[0] > 1 else 0
        bh = h if bias.shape[1] > 1 else 0
        bi = i if bias.shape[2] > 1 else 0
        for j in range(tk):
            s[j] += bias[bb, bh, bi, j]


@njit(fastmath=_FAST, inline="always")
def _max(s, lanes):
    """max(s), 16 lanes at a time (a plain running maximum does not vectorise)."""
    n = s.shape[0]
    lanes[:] = -np.inf
    j = 0
    while j + 16 <= n:
        for lane in range(16):
            x = s[j + lane]
            lanes[lane] = x if x > lanes[lane] else lanes[lane]
        j += 16
    m = -np.inf
    for lane in range(16):
        m = lanes[lane] if lanes[lane] > m else m
    for r in range(j, n):
        m = s[r] if s[r] > m else m
    return np.float32(m)


@njit(**_FLAGS)
def forward(q, kt, vt, bias, has_bias, halves, threshold, keep_scale, out, lse, kept):
    """out (N, H, Tq, hd) and the rows' log-sum-exp lse (N, H, Tq), for q/√hd (N, H, Tq, hd) and kᵀ, vᵀ
    (N, H, hd, Tk); bias (1|N, 1|H, 1|Tq, Tk), read when ``has_bias``; halves: the int16 slices of the
    keep words, N·H·Tq·Tk of them in (N, H, Tq, Tk) order, or empty without dropout; kept (the same
    size, uint8) receives the keep decisions for the backward."""
    n, heads, tq, hd = q.shape
    tk = kt.shape[3]
    dropout = halves.shape[0] > 0
    for task in prange(n * heads):
        b, h = task // heads, task % heads
        s = np.empty(tk, np.float32)
        bits = np.empty(tk, np.int32)
        lanes = np.empty(16, np.float32)
        for i in range(tq):
            _scores(q, kt, bias, has_bias, b, h, i, s)
            m = _max(s, lanes)
            for j in range(tk):
                s[j] -= m
            _exp(s, bits, s)
            total = np.float32(0.0)
            for j in range(tk):
                total += s[j]
            lse[b, h, i] = m + np.log(total)
            inv = np.float32(1.0) / total
            if dropout:
                base = ((b * heads + h) * tq + i) * tk
                inv *= keep_scale
                for j in range(tk):
                    keep = halves[base + j] >= threshold
                    kept[base + j] = keep
                    s[j] = s[j] * inv if keep else np.float32(0.0)
            else:
                for j in range(tk):
                    s[j] *= inv
            for c in range(hd):
                acc = np.float32(0.0)
                for j in range(tk):
                    acc += s[j] * vt[b, h, c, j]
                out[b, h, i, c] = acc


@njit(**_FLAGS)
def backward(q, kt, vt, bias, has_bias, kept, keep_scale, out, lse, grad_out, grad_q, grad_kt, grad_vt):
    """Gradients of ``forward``'s out for q/√hd (N, H, Tq, hd), kᵀ and vᵀ (N, H, hd, Tk), written in place
    (grad_q is the gradient of q itself); kept: the forward's keep decisions, empty without dropout."""
    n, heads, tq, hd = q.shape
    tk = kt.shape[3]
    scale = np.float32(1.0) / np.sqrt(np.float32(hd))
    dropout = kept.shape[0] > 0
    for task in prange(n * heads):
        b, h = task // heads, task % heads
        p = np.empty(tk, np.float32)
        d = np.empty(tk, np.float32)
        p_kept = np.empty(tk, np.float32)
        bits = np.empty(tk, np.int32)
        grad_kt[b, h] = np.float32(0.0)
        grad_vt[b, h] = np.float32(0.0)
        for i in range(tq):
            _scores(q, kt, bias, has_bias, b, h, i, p)
            m = lse[b, h, i]
            for j in range(tk):
                p[j] -= m
            _exp(p, bits, p)                                          # P_ij
            dot = np.float32(0.0)                                     # dout_i·out_i = Σ_j dP_ij·P_ij
            for c in range(hd):
                dot += grad_out[b, h, i, c] * out[b, h, i, c]
            g0 = grad_out[b, h, i, 0]
            for j in range(tk):                                       # dout_i·v_j
                d[j] = g0 * vt[b, h, 0, j]
            for c in range(1, hd):
                g = grad_out[b, h, i, c]
                for j in range(tk):
                    d[j] += g * vt[b, h, c, j]
            if dropout:                                               # P̃_ij = P_ij·keep_ij/P(keep)
                base = ((b * heads + h) * tq + i) * tk
                for j in range(tk):
                    keep = keep_scale if kept[base + j] else np.float32(0.0)
                    d[j] *= keep
                    p_kept[j] = p[j] * keep
            else:
                p_kept[:] = p
            for c in range(hd):                                       # dv_j += P̃_ij·dout_i
                g = grad_out[b, h, i, c]
                for j in range(tk):
                    grad_vt[b, h, c, j] += p_kept[j] * g
            for j in range(tk):                                       # dS_ij = P_ij·(dP_ij − dout_i·out_i)
                d[j] = p[j] * (d[j] - dot)
            for c in range(hd):
                acc = np.float32(0.0)
                qc = q[b, h, i, c]
                for j in range(tk):
                    acc += d[j] * kt[b, h, c, j]
                    grad_kt[b, h, c, j] += d[j] * qc
                grad_q[b, h, i, c] = acc * scale


def _numpy(t: Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


def _bias(bias: Tensor | None) -> tuple[np.ndarray, bool]:
    """A bias broadcastable to (N, H, Tq, Tk) as the kernel's 4-d float32 array (size-1 axes kept)."""
    if bias is None:
        return np.zeros((1, 1, 1, 1), np.float32), False
    return _numpy(bias.float().reshape((1,) * (4 - bias.dim()) + tuple(bias.shape))), True


def _draw(shape: torch.Size) -> Tensor:
    """``keep_mask``'s random words for ``shape``, as int16 slices (the same draws, same order)."""
    n = math.prod(shape)
    words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-2 ** 63, 2 ** 63 - 1)
    return words.view(torch.int16)[:n]


def _threads() -> None:
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))


class KernelAttention(torch.autograd.Function):
    """``forward`` and ``backward`` as an autograd function: q (N, H, Tq, hd), k, v (N, H, Tk, hd)
    float32 on the CPU, bias broadcastable to (N, H, Tq, Tk) or None, dropout rate p."""

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None, p: float) -> Tensor:
        scores = q.shape[:3] + k.shape[2:3]                                          # (N, H, Tq, Tk)
        threshold, keep_scale = keep_threshold(p) if p > 0 else (0, 1.0)
        halves = _draw(scores) if p > 0 else torch.empty(0, dtype=torch.int16)
        kept = torch.empty(halves.numel(), dtype=torch.uint8)      # 1 byte per score for the backward
        q_s = (q.detach() * q.shape[3] ** -0.5).contiguous()                         # as the explicit way: (q/√hd)·kᵀ
        kt, vt = k.detach().transpose(2, 3).contiguous(), v.detach().transpose(2, 3).contiguous()
        out = q.new_empty(q.shape)
        lse = q.new_empty(q.shape[:3])
        bias_np, has_bias = _bias(bias)
        _threads()
        forward(q_s.numpy(), kt.numpy(), vt.numpy(), bias_np, has_bias, halves.numpy(), threshold,
                np.float32(keep_scale), out.numpy(), lse.numpy(), kept.numpy())
        ctx.save_for_backward(q_s, kt, vt, out, lse, bias, kept)
        ctx.keep_scale = keep_scale
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        q_s, kt, vt, out, lse, bias, kept = ctx.saved_tensors
        grad_q, grad_kt, grad_vt = torch.empty_like(q_s), torch.empty_like(kt), torch.empty_like(vt)
        bias_np, has_bias = _bias(bias)
        _threads()
        backward(q_s.numpy(), kt.numpy(), vt.numpy(), bias_np, has_bias, kept.numpy(), np.float32(ctx.keep_scale),
                 out.numpy(), lse.numpy(), _numpy(grad_out), grad_q.numpy(), grad_kt.numpy(), grad_vt.numpy())
        return grad_q, grad_kt.transpose(2, 3), grad_vt.transpose(2, 3), None, None


def _enable_cache() -> None:
    """Compiled code cached on disk: in ``$NUMBA_CACHE_DIR`` when set, else under dmdlab's cache folder
    (numba's own locations when neither can be written: a read-only install still runs)."""
    previous = numba.config.CACHE_DIR
    if not os.environ.get("NUMBA_CACHE_DIR"):
        numba.config.CACHE_DIR = str(cache_dir() / "numba")
    try:
        for dispatcher in (forward, backward):
            dispatcher.enable_caching()
    finally:
        numba.config.CACHE_DIR = previous


_enable_cache()
