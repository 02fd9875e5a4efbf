"""Reusable blocks: the residual head and the MulT-style transformer encoder (DMD_SPEC §4).

Tensors are batch-first here, (B, T, E); the official code is time-first (T, B, E). The
sub-module names inside a transformer layer (``self_attn.in_proj_weight``, ``fc1``,
``layer_norms.0`` ...) are the official ones, so checkpoints map one to one.

When no attention weights are requested, attention runs through
``torch.nn.functional.scaled_dot_product_attention`` (fused kernels); the explicit path that
returns the weights computes the same function.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ResidualHead", "SinusoidalPositions", "MultiheadAttention", "TransformerLayer", "TransformerEncoder",
           "causal_mask", "dropout", "drop_mask"]

_FAST_DROPOUT_MIN = 1 << 14   # below this many elements F.dropout's own sampling is as fast


def drop_mask(shape: torch.Size, p: float, device: torch.device) -> tuple[Tensor, float]:
    """Bool drop-mask with P(drop) = p (p rounded to a multiple of 2⁻¹⁶) and the 1/P(keep) scale.

    Draws one 64-bit random word per four elements (torch's generator, so seeding applies)
    and compares each 16-bit slice with a threshold: about 4× fewer random draws than
    ``F.dropout``, whose per-element sampling dominates a CPU training step of this model.
    """
    n = math.prod(shape)
    drop = round(p * 65536)
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-2 ** 63, 2 ** 63 - 1)
    mask = words.view(torch.int16)[:n].view(shape) < drop - 32768
    return mask, 65536.0 / (65536 - drop)


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Inverted dropout; large CPU tensors use ``drop_mask`` (same distribution up to p's rounding)."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or x.numel() < _FAST_DROPOUT_MIN:
        return F.dropout(x, p, True)
    mask, scale = drop_mask(x.shape, p, x.device)
    return x.masked_fill(mask, 0.0).mul_(scale)


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
    """fairseq/MulT sinusoidal position embeddings, padding-aware (DMD_SPEC §4).

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


_ADDITIVE_CACHE: dict[tuple, Tensor] = {}


def _additive(mask: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """Bool attend-mask → additive 0 / -inf mask (2-D causal masks are cached)."""
    if mask is None:
        return None
    if mask.dim() == 2:
        key = (tuple(mask.shape), str(mask.device), dtype)  # 2-D masks are always the causal ones
        cached = _ADDITIVE_CACHE.get(key)
        if cached is None:
            cached = _ADDITIVE_CACHE[key] = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(
                ~mask, float("-inf"))
        return cached
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask, float("-inf"))


class MultiheadAttention(nn.Module):
    """Multi-head attention with one packed (3E, E) input projection (official layout)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.dim, self.heads, self.dropout = dim, heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.xavier_uniform_(self.out_proj.weight)
        nn.init.zeros_(self.out_proj.bias)

    def _split(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.dim // self.heads).transpose(1, 2)          # (B, H, T, E/H)

    def forward(self, q_in: Tensor, k_in: Tensor | None, v_in: Tensor | None, mask: Tensor | None,
                is_causal: bool, need_weights: bool) -> tuple[Tensor, Tensor | None]:
        """q_in (B, Tq, E); k_in, v_in (B, Tk, E) or None for self-attention on q_in.

        mask: bool, broadcastable to (B, H, Tq, Tk), True = attend; is_causal: square causal
        mask without an explicit one. Returns (B, Tq, E) and optionally (B, H, Tq, Tk) weights.
        Without weights and without attention dropout this is one fused SDPA call; otherwise
        the explicit softmax(q·kᵀ/√h)·v with dropout on the weights (the official placement).
        """
        w, b, e = self.in_proj_weight, self.in_proj_bias, self.dim
        if k_in is None:
            q, k, v = F.linear(q_in, w, b).chunk(3, dim=-1)
        else:
            q = F.linear(q_in, w[:e], b[:e])
            if v_in is k_in:
                k, v = F.linear(k_in, w[e:], b[e:]).chunk(2, dim=-1)
            else:
                k, v = F.linear(k_in, w[e:2 * e], b[e:2 * e]), F.linear(v_in, w[2 * e:], b[2 * e:])
        q, k, v = self._split(q), self._split(k), self._split(v)
        p = self.dropout if self.training else 0.0
        weights = None
        if not need_weights and p == 0.0:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal)
        else:
            bsz, heads, q_len, head_dim = q.shape
            k_len = k.shape[-2]
            if is_causal:
                mask = causal_mask(q_len, k_len, q.device)
            bias = _additive(mask, q.dtype)                                                # (·, Tq, Tk) 0 / -inf
            if bias is not None and bias.dim() == 4:                                       # (B, 1, Tq, Tk) padding
                bias = bias.expand(bsz, heads, q_len, k_len).reshape(bsz * heads, q_len, k_len)
            q3 = (q * head_dim ** -0.5).reshape(bsz * heads, q_len, head_dim)               # scaled queries
            k3 = k.reshape(bsz * heads, k_len, head_dim)
            scores = torch.bmm(q3, k3.transpose(1, 2))                                     # (B·H, Tq, Tk)
            if bias is not None:
                scores = scores.add_(bias)
            probs = torch.softmax(scores, dim=-1)
            weights = probs.view(bsz, heads, q_len, k_len) if need_weights else None
            v3 = v.reshape(bsz * heads, k_len, head_dim)
            if p > 0.0:
                if probs.device.type == "cpu" and probs.numel() >= _FAST_DROPOUT_MIN:
                    mask, scale = drop_mask(probs.shape, p, probs.device)
                    probs, v3 = probs.masked_fill(mask, 0.0), v3 * scale                  # scale folded into v
                else:
                    probs = F.dropout(probs, p, True)
            out = torch.bmm(probs, v3).view(bsz, heads, q_len, head_dim)                   # (B, H, Tq, E/H)
        out = out.transpose(1, 2).reshape(q_in.shape[0], q_in.shape[1], e)
        return self.out_proj(out), weights


class TransformerLayer(nn.Module):
    """Pre-LayerNorm layer: x + MHA(LN0(x), LN0(k), LN0(v)); then x + FC2(ReLU(FC1(LN1(x))))."""

    def __init__(self, dim: int, heads: int, attn_dropout: float, relu_dropout: float, res_dropout: float) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(dim, heads, attn_dropout)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)
        for fc in (self.fc1, self.fc2):
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)
        self.layer_norms = nn.ModuleList([nn.LayerNorm(dim), nn.LayerNorm(dim)])
        self.relu_dropout, self.res_dropout = relu_dropout, res_dropout

    def forward(self, x: Tensor, k: Tensor | None, v: Tensor | None, mask: Tensor | None, is_causal: bool,
                need_weights: bool = False, query_index: Tensor | None = None,
                ) -> tuple[Tensor, Tensor | None]:
        """x (B, Tq, E); k, v (B, Tk, E) or None (self-attention).

        query_index (B, 1) long: compute only that query row per sample (the last layer of an
        encoder whose output is read at one step): returns (B, 1, E).
        """
        ln0 = self.layer_norms[0]
        x_norm = ln0(x)
        if k is None:
            k_norm = v_norm = x_norm if query_index is not None else None
        else:
            k_norm = ln0(k)
            v_norm = k_norm if v is k else ln0(v)
        if query_index is not None:
            gather = query_index.unsqueeze(-1).expand(-1, -1, x.shape[-1])                 # (B, 1, E)
            x, x_norm = x.gather(1, gather), x_norm.gather(1, gather)                     # (B, 1, E)
        attn, weights = self.self_attn(x_norm, k_norm, v_norm, mask, is_causal, need_weights)
        x = x + dropout(attn, self.res_dropout, self.training)
        h = F.relu(self.fc1(self.layer_norms[1](x)))
        h = self.fc2(dropout(h, self.relu_dropout, self.training))
        return x + dropout(h, self.res_dropout, self.training), weights


class TransformerEncoder(nn.Module):
    """MulT transformer encoder (DMD_SPEC §4): self-attention, or cross-modal when given keys.

    Inputs are scaled by √E, get padding-aware sinusoidal positions and embedding dropout
    (keys and values get independent dropout masks, as in the official code); ``layers``
    pre-LN layers; a final LayerNorm.
    """

    def __init__(self, dim: int, heads: int, layers: int, attn_dropout: float, relu_dropout: float,
                 res_dropout: float, embed_dropout: float, causal: bool) -> None:
        super().__init__()
        self.dim, self.causal, self.embed_dropout = dim, causal, embed_dropout
        self.scale = math.sqrt(dim)
        self.embed_positions = SinusoidalPositions(dim)
        self.layers = nn.ModuleList(
            TransformerLayer(dim, heads, attn_dropout, relu_dropout, res_dropout) for _ in range(layers))
        self.layer_norm = nn.LayerNorm(dim)

    def _embed(self, x: Tensor) -> Tensor:
        return torch.addcmul(self.embed_positions(x), x, x.new_tensor(self.scale))       # √E·x + pos

    def forward(self, x: Tensor, kv: Tensor | None = None, *, key_valid: Tensor | None = None,
                read_at: Tensor | None | bool = None, need_weights: bool = False,
                ) -> tuple[Tensor, Tensor | None]:
        """x (B, Tq, E) queries; kv (B, Tk, E) keys = values (cross-modal) or None.

        key_valid: (B, Tk) bool of non-padded keys (padding masks on) or None.
        read_at: None returns every step (B, Tq, E); True returns the last step (B, E);
        a (B,) long tensor returns that step per sample (B, E) — the last layer then
        computes only that query row.
        Returns (output, attention weights (layers, B, H, Tq, Tk) if need_weights else None).
        """
        p = self.embed_dropout if self.training else 0.0
        q = dropout(self._embed(x), p, self.training)
        k = v = None
        if kv is not None:
            k_emb = self._embed(kv)
            k = dropout(k_emb, p, self.training)
            v = dropout(k_emb, p, self.training) if p > 0 else k
        q_len, k_len = x.shape[1], (kv if kv is not None else x).shape[1]
        is_causal = self.causal and key_valid is None and q_len == k_len and not need_weights
        mask = None
        if self.causal and not is_causal:
            mask = causal_mask(q_len, k_len, x.device)                                     # (Tq, Tk)
        if key_valid is not None:
            pad = key_valid[:, None, None, :]                                               # (B, 1, 1, Tk)
            mask = pad if mask is None else mask & pad                                      # (B, 1, Tq, Tk)
        index = None
        if read_at is not None and read_at is not False:
            if read_at is True:
                index = torch.full((x.shape[0], 1), q_len - 1, dtype=torch.long, device=x.device)
            else:
                index = read_at.view(-1, 1).long()
        weights = []
        last = len(self.layers) - 1
        for n, layer in enumerate(self.layers):
            if n == last and index is not None:
                last_mask = None
                if self.causal or key_valid is not None:
                    full = causal_mask(q_len, k_len, x.device) if self.causal else None
                    rows = full[index.view(-1)].unsqueeze(1) if full is not None else None    # (B, 1, Tk)
                    if key_valid is not None:
                        rows = key_valid.unsqueeze(1) if rows is None else rows & key_valid.unsqueeze(1)
                    last_mask = rows.unsqueeze(1)                                            # (B, 1, 1, Tk)
                q, w = layer(q, k, v, last_mask, False, need_weights, query_index=index)
            else:
                q, w = layer(q, k, v, mask, is_causal, need_weights)
            if need_weights:
                weights.append(w)
        out = self.layer_norm(q)
        if index is not None:
            out = out.squeeze(1)                                                            # (B, E)
        return out, (torch.stack(weights) if need_weights else None)
