"""Small reusable blocks: the residual head, sinusoidal positions, attention masks, dropout.

The transformer encoders built from them are in ``transformer.py``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ResidualHead", "SinusoidalPositions", "causal_mask", "causal_bias", "additive_mask", "length_mask", "dropout",
           "keep_mask", "keep_threshold", "check_stack_call"]

_FAST_DROPOUT_MIN = 1 << 14   # below this many elements F.dropout's own sampling is as fast


def keep_threshold(p: float | Tensor) -> tuple[int | Tensor, float | Tensor]:
    """The int16 threshold of ``keep_mask`` for P(drop) = p (rounded to a multiple of 2⁻¹⁶) and the
    1/P(keep) scale: a uniform 16-bit slice ≥ threshold keeps its element."""
    if isinstance(p, Tensor):
        drop = (p * 65536).round()
        return (drop - 32768).to(torch.int16), 65536.0 / (65536 - drop)
    drop = round(p * 65536)
    return drop - 32768, 65536.0 / (65536 - drop)


def keep_mask(shape: torch.Size, p: float | Tensor, device: torch.device, dtype: torch.dtype,
              ) -> tuple[Tensor, float | Tensor]:
    """Float 0/1 keep-mask with P(drop) = p (rounded to a multiple of 2⁻¹⁶) and the 1/P(keep) scale.

    p may be a tensor broadcastable to ``shape`` (one rate per group of rows). Draws one
    64-bit random word per four elements (torch's generator, so seeding applies) and compares
    each 16-bit slice with a threshold: 4× fewer random draws than ``F.dropout``, whose
    per-element sampling (and masked_fill) otherwise dominates a CPU training step here.
    """
    n = math.prod(shape)
    threshold, scale = keep_threshold(p)
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-2 ** 63, 2 ** 63 - 1)
    # compare straight into the float mask: one pass, where ``(a >= b).to(dtype)`` adds a bool tensor and a copy
    keep = torch.empty(shape, dtype=dtype, device=device)
    torch.ge(words.view(torch.int16)[:n].view(shape), threshold, out=keep)
    return keep, scale


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Inverted dropout; large CPU tensors use ``keep_mask`` (same distribution up to p's rounding)."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or x.numel() < _FAST_DROPOUT_MIN:
        return F.dropout(x, p, True)
    keep, scale = keep_mask(x.shape, p, x.device, x.dtype)
    return x * keep.mul_(scale)


class ResidualHead(nn.Module):
    """h' = h + proj2(dropout(relu(proj1(h)))); logit = out(h').

    Used for the homo heads (proj1 shrinks d·T' → d), the hetero heads (2d), the fusion head
    of the shared space (3d) and the final head (9d). ``forward`` returns
    ``(logit, relu(proj1(h)), h')``: the homo GD representation is relu(proj1(h)) (the
    official ReLU is in place), the hetero one is h'.
    """

    def __init__(self, in_dim: int, hidden: int, dropout: float, out_dim: int = 1) -> None:
        super().__init__()
        self.proj1 = nn.Linear(in_dim, hidden)
        self.proj2 = nn.Linear(hidden, in_dim)
        self.out = nn.Linear(in_dim, out_dim)
        self.dropout = dropout

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        r = F.relu(self.proj1(h))                                                  # (B, hidden)
        h_res = torch.add(h, self.proj2(dropout(r, self.dropout, self.training)))  # (B, in_dim)
        return self.out(h_res), r, h_res


class SinusoidalPositions(nn.Module):
    """fairseq/MulT sinusoidal position embeddings, padding-aware (as in MulT and the official code).

    Position of step t is t + 1 (sin half, then cos half, frequencies
    exp(-log(10000)·k/(E/2 - 1))); a step whose channel 0 is exactly 0 counts as padding and
    gets a zero embedding (the MulT convention; positions are not renumbered). The table is a
    non-persistent buffer grown on demand, so it follows the module's device.
    """

    def __init__(self, dim: int, init_len: int = 64) -> None:
        super().__init__()
        self.dim = dim
        self.register_buffer("table", self._build(init_len), persistent=False)

    def _build(self, length: int) -> Tensor:
        half = self.dim // 2
        scale = math.log(10000) / (half - 1) if half > 1 else 0.0
        freqs = torch.exp(torch.arange(half, dtype=torch.float) * -scale)                  # (E/2,)
        angles = torch.arange(1, length + 1, dtype=torch.float).unsqueeze(1) * freqs.unsqueeze(0)  # (T, E/2)
        table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)                  # (T, 2·(E/2))
        if self.dim % 2:
            table = F.pad(table, (0, 1))
        return table

    def forward(self, x: Tensor) -> Tensor:
        """Embeddings for x (B, T, E): (B, T, E), zero where x[..., 0] == 0."""
        length = x.shape[1]
        if self.table.shape[0] < length or self.table.device != x.device:
            self.table = self._build(max(length, self.table.shape[0])).to(x.device)
        table = self.table[:length].to(x.dtype)                                            # (T, E)
        return table * (x[..., :1] != 0).to(x.dtype)                                       # (B, T, E)


def check_stack_call(stack: nn.Module, queries: Mapping, keys: Mapping | None, read_at: Mapping | None,
                     need_weights: bool) -> None:
    """The arguments of a transformer stack's forward (fast or reference) name exactly its members."""
    kind = type(stack).__name__
    for given, what in ((queries, "queries"), (keys, "keys"), (read_at, "read_at")):
        if given is not None and set(given) != set(stack.names):
            raise ValueError(f"{kind} {what} must name its members {stack.names}. Got {tuple(given)}.")
    if need_weights and read_at is not None:
        raise ValueError(f"{kind} returns attention weights only for full sequences (read_at=None).")


def length_mask(lengths: Tensor, steps: int) -> Tensor:
    """(B, steps) bool, True at the first ``lengths[b]`` steps of each sample."""
    return torch.arange(steps, device=lengths.device) < lengths[:, None]


_CAUSAL_CACHE: dict[tuple, Tensor] = {}


def causal_mask(q_len: int, k_len: int, device: torch.device) -> Tensor:
    """Bool (T_q, T_k), True where attention is allowed: key j ≤ query i + |T_k - T_q|.

    The official future mask is -inf above the diagonal offset 1 + |T_k - T_q|.
    """
    key = (q_len, k_len, str(device))
    mask = _CAUSAL_CACHE.get(key)
    if mask is None:
        i = torch.arange(q_len, device=device).unsqueeze(1)
        j = torch.arange(k_len, device=device).unsqueeze(0)
        mask = _CAUSAL_CACHE[key] = (j - i) <= abs(k_len - q_len)
    return mask


_CAUSAL_BIAS_CACHE: dict[tuple, Tensor] = {}


def additive_mask(mask: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """Bool attend-mask → additive mask: 0 where True, -inf where False."""
    if mask is None:
        return None
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask, float("-inf"))


def causal_bias(q_len: int, k_len: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """``causal_mask`` as an additive (T_q, T_k) mask, cached."""
    key = (q_len, k_len, str(device), dtype)
    bias = _CAUSAL_BIAS_CACHE.get(key)
    if bias is None:
        bias = _CAUSAL_BIAS_CACHE[key] = additive_mask(causal_mask(q_len, k_len, device), dtype)
    return bias
