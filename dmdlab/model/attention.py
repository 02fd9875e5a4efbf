"""Scaled dot-product attention of the transformer stacks: ``attend`` on (N, H, T, hd) tensors.

softmax(q·kᵀ/√hd + bias)·v, with attention dropout on the weights (the official placement),
computed one of four ways; all four give the same numbers (see below):

- **fused**: one ``F.scaled_dot_product_attention`` call. In evaluation without weights, and
  in training on long sequences without attention dropout (its CPU kernel keeps nothing of
  the size of the scores for the backward).
- **explicit** (training on short sequences, or attention weights asked for): the score
  tensor written out, softmax, dropout with ``keep_mask``, product with v. Fastest for the
  aligned data (T ≈ 50, head width 5–10), where every tensor is small.
- **kernel** (training on long sequences with attention dropout, on the CPU, when numba is
  installed; e.g. unaligned data: 375–500 audio and vision frames): ``attention_kernel``, a
  compiled forward and backward that keeps each query row's softmax and dropout in cache.
- **chunked** (the same cases without numba, or with ``DMDLAB_ATTENTION=torch``): ``_ChunkedAttention``, an autograd function that
  runs the explicit computation one block of about ``CHUNK_SCORES`` scores at a time and
  saves only q, k, v, the output and the random generator's state; its backward recomputes
  each block's softmax and draws its dropout mask again. Memory: a few blocks, instead of
  three (N, H, Tq, Tk) tensors per layer kept for the backward.

``DMDLAB_ATTENTION`` (read at import, or set ``attention.ATTENTION``) chooses: ``auto`` (the
kernel where it was measured faster: the chunked way's cases, docs/performance.md), ``kernel``
(every CPU float32 training call without weights), ``torch`` (never). ``calls`` counts the
calls per way (``bench`` prints it).

*The same numbers*: in evaluation and with dropout rate 0 the four ways compute each score
row with the same operations, so they agree to float rounding (tests/test_model_attention.py).
With dropout, the chunked way draws its keep-masks from the same generator in the same order
as the explicit one (``KeepStream``), and the kernel compares the same random words with the same
threshold, so a seeded training step gives the same numbers too (to float rounding).
On the CPU the fused kernel is never given a dropout rate: its own dropout draws a different
random stream (same distribution), which would make seeded runs differ from the explicit
way. On other devices long sequences in training do use it (same distribution, other draws).
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from types import ModuleType

import torch
import torch.nn.functional as F
from torch import Tensor

from dmdlab.model.layers import causal_bias, causal_mask, keep_mask, keep_threshold

__all__ = ["attend", "KeepStream", "LONG_SCORES", "CHUNK_SCORES", "ATTENTION", "calls"]

_log = logging.getLogger(__name__)

_CHOICES = ("auto", "kernel", "torch")
ATTENTION = os.environ.get("DMDLAB_ATTENTION", "auto")
"""Where the numba kernel runs: 'auto' (where measured faster), 'kernel' (all CPU float32 training), 'torch' (nowhere)."""
if ATTENTION not in _CHOICES:
    raise ValueError(f"The DMDLAB_ATTENTION environment variable must be one of {list(_CHOICES)}. Got {ATTENTION!r}.")

calls: Counter = Counter()
"""Calls per way ('fused', 'explicit', 'kernel', 'chunked') since import."""

LONG_SCORES = 1 << 16
"""Score elements per sample (H·Tq·Tk) from which training takes the fused or chunked way
(aligned MOSI: 10·46·46 ≈ 21 k stays explicit; unaligned MOSI: 170 k to 2.5 M)."""

CHUNK_SCORES = 1 << 18
"""Score elements per chunk (1 MiB of float32, about a core's cache): at least one head of
one sample. Measured fastest of 2¹⁶–2²³ on unaligned MOSI sizes (docs/unaligned.md)."""


class KeepStream:
    """``keep_mask``'s random stream cut into consecutive pieces.

    ``keep_mask(shape, p)`` draws one 64-bit word per four elements and compares its 16-bit
    slices with a threshold. The pieces of a stream, taken in order, are the consecutive
    slices of that one mask: the few slices of the last word a piece does not use start the
    next piece. ``generator`` None draws from torch's default generator (seeding applies).
    """

    def __init__(self, p: float, device: torch.device, generator: torch.Generator | None = None) -> None:
        self.threshold, self.scale = keep_threshold(p)
        self.device, self.generator = device, generator
        self.left = torch.empty(0, dtype=torch.int16, device=device)

    def next(self, shape: torch.Size, dtype: torch.dtype) -> Tensor:
        """The float 0/1 keep-mask of the next ``shape`` elements."""
        n = math.prod(shape)
        words = torch.empty((max(n - self.left.numel(), 0) + 3) // 4, dtype=torch.int64, device=self.device)
        words.random_(-2 ** 63, 2 ** 63 - 1, generator=self.generator)
        halves = torch.cat([self.left, words.view(torch.int16)]) if self.left.numel() else words.view(torch.int16)
        self.left = halves[n:]
        keep = torch.empty(shape, dtype=dtype, device=self.device)
        torch.ge(halves[:n].view(shape), self.threshold, out=keep)
        return keep


def _chunks(q: Tensor, k: Tensor) -> list[tuple[slice, slice]]:
    """(samples, heads) index pairs cutting (N, H, Tq, Tk) into consecutive blocks of about
    ``CHUNK_SCORES`` elements: several whole samples, or some heads of one sample."""
    n, h, t_q, _ = q.shape
    per_head = t_q * k.shape[2]
    heads = max(1, CHUNK_SCORES // per_head)
    if heads >= h:
        step = heads // h
        return [(slice(start, min(start + step, n)), slice(None)) for start in range(0, n, step)]
    return [(slice(i, i + 1), slice(start, min(start + heads, h))) for i in range(n) for start in range(0, h, heads)]


def _rows(t: Tensor | None, index: tuple[slice, slice], n: int, h: int) -> Tensor | None:
    """The block ``index`` of a mask or bias broadcastable to (N, H, Tq, Tk)."""
    if t is None or t.dim() < 4:
        return t
    samples, heads = index
    return t[samples if t.shape[0] == n else slice(None), heads if t.shape[1] == h else slice(None)]


def _probs(q: Tensor, k: Tensor, bias: Tensor | None) -> Tensor:
    """softmax(q·kᵀ/√hd + bias) over the keys."""
    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)                    # (n, H, Tq, Tk)
    if bias is not None:
        scores = scores.add_(bias)
    return torch.softmax(scores, dim=-1)


class _ChunkedAttention(torch.autograd.Function):
    """The explicit computation one block (``_chunks``) at a time; the backward recomputes each block."""

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None, p: float) -> Tensor:
        state = torch.get_rng_state() if p > 0 else None
        stream = KeepStream(p, q.device) if p > 0 else None
        n, h = q.shape[:2]
        out = q.new_empty(q.shape)
        for index in _chunks(q, k):
            probs = _probs(q[index], k[index], _rows(bias, index, n, h))
            v_c = v[index]
            if stream is not None:
                probs, v_c = probs * stream.next(probs.shape, probs.dtype), v_c * stream.scale
            out[index] = probs @ v_c
        ctx.save_for_backward(q, k, v, out, bias)
        ctx.p, ctx.state = p, state
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        q, k, v, out, bias = ctx.saved_tensors
        p, stream = ctx.p, None
        if p > 0:                                   # the forward's keep-masks, drawn again in the same order
            generator = torch.Generator(device=q.device)
            generator.set_state(ctx.state)
            stream = KeepStream(p, q.device, generator)
        n, h = q.shape[:2]
        grad_q, grad_k, grad_v = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        scale = q.shape[-1] ** -0.5
        for index in _chunks(q, k):
            q_c, k_c, v_c, d_out = q[index], k[index], v[index], grad_out[index]
            probs = _probs(q_c, k_c, _rows(bias, index, n, h))
            if stream is None:
                grad_v[index] = probs.transpose(-2, -1) @ d_out
                d_probs = d_out @ v_c.transpose(-2, -1)                             # (n, H, Tq, Tk)
            else:                       # out = (P ⊙ keep)·(v·scale): the scale goes on the small factors
                keep = stream.next(probs.shape, probs.dtype)
                grad_v[index] = (probs * keep).transpose(-2, -1) @ (d_out * stream.scale)
                d_probs = (d_out * stream.scale @ v_c.transpose(-2, -1)).mul_(keep)
            # softmax backward; Σ_j dP_ij·P_ij = dout_i·out_i (the flash-attention identity)
            d_scores = d_probs.sub_((d_out * out[index]).sum(-1, keepdim=True)).mul_(probs)
            grad_q[index] = (d_scores @ k_c).mul_(scale)
            grad_k[index] = d_scores.transpose(-2, -1) @ (q_c * scale)
        return grad_q, grad_k, grad_v, None, None


_KERNEL: list[ModuleType | None] = []


def _kernel() -> ModuleType | None:
    """``attention_kernel``, imported (and its numba code loaded) once; None without numba (logged once)."""
    if not _KERNEL:
        try:
            from dmdlab.model import attention_kernel
        except ImportError as error:             # numba missing or broken: the torch ways serve every call
            attention_kernel = None
            level = logging.WARNING if ATTENTION == "kernel" else logging.INFO
            _log.log(level, "attention kernel unavailable (%s); using the torch ways", error)
        _KERNEL.append(attention_kernel)
    return _KERNEL[0]


def _use_kernel(q: Tensor, long: bool, dropout_p: float) -> bool:
    """Whether a training call without weights takes the kernel (``ATTENTION``)."""
    if ATTENTION == "torch" or q.device.type != "cpu" or q.dtype != torch.float32:
        return False
    if ATTENTION == "auto" and not (long and dropout_p > 0):
        return False
    return _kernel() is not None


def _explicit(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None, dropout_p: float, need_weights: bool,
              ) -> tuple[Tensor, Tensor | None]:
    probs = _probs(q, k, bias)
    weights = probs if need_weights else None
    if dropout_p > 0:
        keep, scale = keep_mask(probs.shape, dropout_p, probs.device, probs.dtype)
        probs, v = probs * keep, v * scale                                          # 1/P(keep) folded into v
    return probs @ v, weights


def attend(q: Tensor, k: Tensor, v: Tensor, *, mask: Tensor | None = None, bias: Tensor | None = None,
           is_causal: bool = False, dropout_p: float = 0.0, training: bool = False, need_weights: bool = False,
           ) -> tuple[Tensor, Tensor | None]:
    """softmax(q·kᵀ/√hd + mask)·v: q (N, H, Tq, hd), k, v (N, H, Tk, hd) → (N, H, Tq, hd) and,
    with ``need_weights``, the attention weights (N, H, Tq, Tk) before dropout.

    mask: bool, True = attend; bias: the same as 0 / -inf (the explicit and chunked ways read
    ``bias``, the fused one ``mask``: give both when both may run); both broadcastable to
    (N, H, Tq, Tk). is_causal: key j ≤ query i + |Tk − Tq| (``layers.causal_mask``) without
    either. dropout_p: dropout rate on the weights, in training only.
    """
    dropout_p = dropout_p if training else 0.0
    if is_causal and q.shape[2] != k.shape[2]:          # SDPA's own causal mask is not offset by Tk − Tq
        mask, is_causal = causal_mask(q.shape[2], k.shape[2], q.device), False
        bias = causal_bias(q.shape[2], k.shape[2], q.device, q.dtype)
    if not need_weights and not training:
        calls["fused"] += 1
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal), None
    if is_causal:
        bias = causal_bias(q.shape[2], k.shape[2], q.device, q.dtype)
    long = q.shape[1] * q.shape[2] * k.shape[2] >= LONG_SCORES
    if not need_weights and _use_kernel(q, long, dropout_p):
        calls["kernel"] += 1
        return _kernel().KernelAttention.apply(q, k, v, bias, dropout_p), None
    if need_weights or not long:
        calls["explicit"] += 1
        return _explicit(q, k, v, bias, dropout_p, need_weights)
    if dropout_p == 0.0 or q.device.type != "cpu":
        calls["fused"] += 1
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal), None
    calls["chunked"] += 1
    return _ChunkedAttention.apply(q, k, v, bias, dropout_p), None
