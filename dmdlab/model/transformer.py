"""MulT-style transformer encoders (as in MulT and the official code), run as a *stack*: G encoders of the same
width and depth whose parameters share a leading member axis.

DMD has twelve transformers in three families of equal shape: the three self-attention
encoders of the shared space, the six cross-modal ones, the three memory ones. Each family is
one ``TransformerStack``; when its members' sequences have equal lengths (aligned data)
every layer runs once for all members (batched matrix products), otherwise member by member
on slices of the same parameters. Both give the same numbers; the batched form only saves
per-operation overhead, which dominates this model of many small operations.

Each member is exactly one official ``TransformerEncoder`` (``official.py`` maps the names):
inputs scaled by √E plus padding-aware sinusoidal positions, embedding dropout (keys and
values get independent masks, as officially), pre-LayerNorm layers
x + MHA(LN0(x), LN0(k), LN0(v)), x + FC2(dropout(ReLU(FC1(LN1(x))))), a final LayerNorm;
one packed (3E, E) input projection per layer. Tensors are batch-first, (B, T, E).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dmdlab.model.attention import attend
from dmdlab.model.layers import SinusoidalPositions, additive_mask, causal_bias, causal_mask, dropout

__all__ = ["TransformerStack", "StackedLayer"]


def _linear(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Per-member linear map: x (G, N, in), weight (G, out, in), bias (G, out) → (G, N, out)."""
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


def _normalize(x: Tensor) -> Tensor:
    """LayerNorm without its affine part, over the last axis (eps 1e-5)."""
    return F.layer_norm(x, x.shape[-1:])


def _layer_norm(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Per-member LayerNorm (eps 1e-5): x (G, N, E), weight and bias (G, E)."""
    return torch.addcmul(bias.unsqueeze(1), _normalize(x), weight.unsqueeze(1))


def _fold_affine(weight: Tensor, bias: Tensor, gain: Tensor, shift: Tensor) -> tuple[Tensor, Tensor]:
    """A linear map applied after a per-member LayerNorm affine, as one linear map of the
    normalised input: W·(γ⊙x̂ + β) + b = (W·diag γ)·x̂ + (W·β + b). weight (G, out, E), bias
    (G, out), gain and shift (G, E). Done on the parameters (a few thousand numbers), it
    saves a pass over the activations, and its backward, in every layer."""
    return weight * gain.unsqueeze(1), torch.baddbmm(bias.unsqueeze(1), shift.unsqueeze(1),
                                                     weight.transpose(1, 2)).squeeze(1)


class StackedLayer(nn.Module):
    """One pre-LN transformer layer for G members: parameters with a leading member axis."""

    def __init__(self, members: int, dim: int, heads: int) -> None:
        super().__init__()
        self.dim, self.heads = dim, heads
        shapes = {"in_proj_weight": (3 * dim, dim), "in_proj_bias": (3 * dim,), "out_proj_weight": (dim, dim),
                  "out_proj_bias": (dim,), "fc1_weight": (4 * dim, dim), "fc1_bias": (4 * dim,),
                  "fc2_weight": (dim, 4 * dim), "fc2_bias": (dim,), "norm0_weight": (dim,), "norm0_bias": (dim,),
                  "norm1_weight": (dim,), "norm1_bias": (dim,)}
        for name, shape in shapes.items():
            self.register_parameter(name, nn.Parameter(torch.zeros(members, *shape)))
        with torch.no_grad():
            for g in range(members):  # Xavier-uniform weights and zero biases per member, unit LayerNorms
                for name in ("in_proj_weight", "out_proj_weight", "fc1_weight", "fc2_weight"):
                    nn.init.xavier_uniform_(getattr(self, name)[g])
            self.norm0_weight.fill_(1.0)
            self.norm1_weight.fill_(1.0)

    def forward(self, x: Tensor, k: Tensor | None, v: Tensor | None, members: slice | Tensor, *, mask: Tensor | None,
                bias: Tensor | None, is_causal: bool, attn_p: tuple[float, ...], relu_p: float, res_p: float,
                need_weights: bool, query_index: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """x (G, B, Tq, E); k, v (G, B, Tk, E) or None (self-attention); ``members`` (a slice or
        an index tensor) selects the members' parameters, in the order of x's rows. mask: bool,
        True = attend, and bias: the same as 0 / -inf, both broadcastable to (G·B, H, Tq, Tk).
        query_index (G, B): compute only that query row per sample (returns (G, B, 1, E))."""
        g, b, _, e = x.shape
        p = {name: param[members] for name, param in self._parameters.items()}
        # LN0's affine is folded into the input projection, LN1's into FC1 (``_fold_affine``)
        w_in, b_in = _fold_affine(p["in_proj_weight"], p["in_proj_bias"], p["norm0_weight"], p["norm0_bias"])
        x_norm = _normalize(x)
        k_norm = v_norm = None
        if k is not None:                                                                  # cross-modal
            k_norm = _normalize(k)
            v_norm = k_norm if v is k else _normalize(v)
        elif query_index is not None:                                                      # self, one query row
            k_norm = v_norm = x_norm
        if query_index is not None:
            rows = query_index.view(g, b, 1, 1).expand(g, b, 1, e)
            x, x_norm = x.gather(2, rows), x_norm.gather(2, rows)                          # (G, B, 1, E)
        t_q = x.shape[2]
        if k_norm is None:                                                                 # self-attention
            q, key, val = _linear(x_norm.reshape(g, -1, e), w_in, b_in).chunk(3, dim=-1)
            t_k = t_q
        else:
            t_k = k_norm.shape[2]
            q = _linear(x_norm.reshape(g, -1, e), w_in[:, :e], b_in[:, :e])
            if v_norm is k_norm:
                key, val = _linear(k_norm.reshape(g, -1, e), w_in[:, e:], b_in[:, e:]).chunk(2, dim=-1)
            else:
                key = _linear(k_norm.reshape(g, -1, e), w_in[:, e:2 * e], b_in[:, e:2 * e])
                val = _linear(v_norm.reshape(g, -1, e), w_in[:, 2 * e:], b_in[:, 2 * e:])
        attn, weights = self._attend(q, key, val, g, b, t_q, t_k, mask, bias, is_causal, attn_p, need_weights)
        x = x + dropout(_linear(attn, p["out_proj_weight"], p["out_proj_bias"]).view(x.shape), res_p, self.training)
        w_fc1, b_fc1 = _fold_affine(p["fc1_weight"], p["fc1_bias"], p["norm1_weight"], p["norm1_bias"])
        h = _linear(_normalize(x.reshape(g, -1, e)), w_fc1, b_fc1).relu_()   # in place: the product is not needed again
        h = _linear(dropout(h, relu_p, self.training), p["fc2_weight"], p["fc2_bias"])
        return x + dropout(h.view(x.shape), res_p, self.training), weights

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, g: int, b: int, t_q: int, t_k: int, mask: Tensor | None,
                bias: Tensor | None, is_causal: bool, attn_p: tuple[float, ...], need_weights: bool,
                ) -> tuple[Tensor, Tensor | None]:
        """q (G, B·Tq, E), k, v (G, B·Tk, E), attn_p one rate per member → (G, B·Tq, E) and
        optionally weights (G·B, H, Tq, Tk).

        In training, each run of consecutive members with the same attention dropout rate goes
        through ``_attend_group`` on its own: members with rate 0 (the V-keyed ones) then draw no
        keep-masks, the others get a scalar rate. ``TransformerStack`` orders its members by rate,
        so every rate is one run, cut with ``split`` (its backward is one ``cat``; slicing or
        indexing would zero-fill a full-size gradient per run). Eval mode is always one run.
        """
        rates = attn_p if self.training else (0.0,) * g
        runs = [(rate, len(list(members))) for rate, members in itertools.groupby(rates)]  # (rate, members)
        if len(runs) == 1:
            return self._attend_group(q, k, v, g, b, t_q, t_k, mask, bias, is_causal, rates[0], need_weights)
        sizes = [size for _, size in runs]

        def per_run(t: Tensor | None) -> list:
            """A (G·B, ...) mask or bias cut into the runs' rows; shared ones as they are."""
            if t is None or t.dim() < 4 or t.shape[0] == 1:
                return [t] * len(runs)
            return list(t.split([size * b for size in sizes]))

        outs, weights = [], []
        for (rate, size), q_i, k_i, v_i, mask_i, bias_i in zip(runs, q.split(sizes), k.split(sizes), v.split(sizes),
                                                             per_run(mask), per_run(bias)):
            out, w = self._attend_group(q_i, k_i, v_i, size, b, t_q, t_k, mask_i, bias_i, is_causal, rate,
                                        need_weights)
            outs.append(out)                                                                # (G_i, B·Tq, E)
            weights.append(w)
        return torch.cat(outs), (torch.cat(weights) if need_weights else None)

    def _attend_group(self, q: Tensor, k: Tensor, v: Tensor, g: int, b: int, t_q: int, t_k: int,
                      mask: Tensor | None, bias: Tensor | None, is_causal: bool, attn_p: float, need_weights: bool,
                      ) -> tuple[Tensor, Tensor | None]:
        """``_attend`` for members sharing one attention dropout rate (0 outside training).

        The computation itself is ``attention.attend`` (fused, explicit or chunked).
        """
        h, e = self.heads, self.dim
        hd = e // h

        def split(t: Tensor, length: int) -> Tensor:
            return t.reshape(g, b, length, h, hd).transpose(2, 3).reshape(g * b, h, length, hd)  # (G·B, H, T, hd)

        out, weights = attend(split(q, t_q), split(k, t_k), split(v, t_k), mask=mask, bias=bias, is_causal=is_causal,
                              dropout_p=attn_p, training=self.training, need_weights=need_weights)
        return out.transpose(1, 2).reshape(g, b * t_q, e), weights


class TransformerStack(nn.Module):
    """G MulT transformer encoders of equal width and depth (self-attention or cross-modal)."""

    def __init__(self, members: int, dim: int, heads: int, layers: int, attn_dropout: Sequence[float],
                 relu_dropout: float, res_dropout: float, embed_dropout: float, causal: bool) -> None:
        super().__init__()
        if len(attn_dropout) != members:
            raise ValueError(f"TransformerStack needs one attention dropout per member ({members}). "
                             f"Got {len(attn_dropout)}.")
        self.members, self.dim, self.causal = members, dim, causal
        self.attn_dropout = tuple(float(p) for p in attn_dropout)
        # members run jointly in this order: equal attention dropout rates adjacent (``_attend``)
        self.order = tuple(sorted(range(members), key=lambda m: self.attn_dropout[m]))
        self.relu_dropout, self.res_dropout, self.embed_dropout = relu_dropout, res_dropout, embed_dropout
        self.scale = math.sqrt(dim)
        self.embed_positions = SinusoidalPositions(dim)
        self.layers = nn.ModuleList(StackedLayer(members, dim, heads) for _ in range(layers))
        self.norm_weight = nn.Parameter(torch.ones(members, dim))
        self.norm_bias = nn.Parameter(torch.zeros(members, dim))

    def _embed(self, x: Tensor) -> Tensor:
        """√E·x + positions, x (G, B, T, E)."""
        return torch.addcmul(self.embed_positions(x.flatten(0, 1)).view(x.shape), x, x.new_tensor(self.scale))

    def forward(self, xs: Sequence[Tensor], kvs: Sequence[Tensor] | None = None, *,
                key_valid: Sequence[Tensor | None] | None = None, read_at: Sequence[Tensor | bool] | None = None,
                need_weights: bool = False) -> tuple[list[Tensor], list[Tensor] | None]:
        """One input per member: xs[g] (B, Tq_g, E) queries; kvs[g] (B, Tk_g, E) keys = values
        (cross-modal) or None (self-attention).

        key_valid[g]: (B, Tk_g) bool of non-padded keys, or None. read_at[g]: None / omitted
        returns every step (B, Tq, E); True the last step (B, E); a (B,) long tensor that step
        per sample (B, E) — the last layer then computes only that query row.
        Returns the outputs per member and, with need_weights, each member's attention weights
        (layers, B, H, Tq, Tk).
        """
        n = self.members
        if need_weights and read_at is not None and any(r is not None for r in read_at):
            raise ValueError("TransformerStack returns attention weights only for full sequences (read_at=None).")
        kvs = list(kvs) if kvs is not None else [None] * n
        key_valid = list(key_valid) if key_valid is not None else [None] * n
        read_at = list(read_at) if read_at is not None else [None] * n
        shapes = {(x.shape, None if kv is None else kv.shape) for x, kv in zip(xs, kvs)}
        same_reads = len({r is None for r in read_at}) == 1
        if len(shapes) == 1 and same_reads:
            groups = [list(self.order)]
        else:
            groups = [[g] for g in range(n)]
        outs: list[Tensor] = [None] * n  # type: ignore[list-item]
        weights: list[Tensor] | None = [None] * n if need_weights else None  # type: ignore[list-item]
        for group in groups:
            out, w = self._run(torch.stack([xs[g] for g in group]) if len(group) > 1 else xs[group[0]][None],
                               None if kvs[group[0]] is None else (
                                   torch.stack([kvs[g] for g in group]) if len(group) > 1 else kvs[group[0]][None]),
                               group, [key_valid[g] for g in group], [read_at[g] for g in group], need_weights)
            for i, (g, member_out) in enumerate(zip(group, out.unbind(0))):  # backward: one stack, not G zero-fills
                outs[g] = member_out
                if need_weights:
                    weights[g] = w[:, i]
        return outs, weights

    def _run(self, x: Tensor, kv: Tensor | None, group: list[int], key_valid: list[Tensor | None],
             read_at: list[Tensor | bool | None], need_weights: bool) -> tuple[Tensor, Tensor | None]:
        """x (G, B, Tq, E), kv (G, B, Tk, E) or None: row i of x belongs to member ``group[i]``."""
        g, b, t_q, _ = x.shape
        t_k = t_q if kv is None else kv.shape[2]
        p = self.embed_dropout if self.training else 0.0
        q = dropout(self._embed(x), p, self.training)
        k = v = None
        if kv is not None:
            k_emb = self._embed(kv)
            k = dropout(k_emb, p, self.training)
            v = dropout(k_emb, p, self.training) if p > 0 else k
        attn_p = tuple(self.attn_dropout[m] for m in group)                                # one rate per member
        members = slice(group[0], group[-1] + 1) if group == list(range(group[0], group[-1] + 1)) else \
            torch.tensor(group, device=x.device)                                            # parameter rows
        valid = None
        if any(kvalid is not None for kvalid in key_valid):
            valid = torch.stack([kvalid if kvalid is not None else torch.ones(b, t_k, dtype=torch.bool, device=x.device)
                                 for kvalid in key_valid]).view(g * b, 1, 1, t_k)          # (G·B, 1, 1, Tk)
        is_causal = self.causal and valid is None and t_q == t_k and not need_weights
        mask = None
        if self.causal and not is_causal:
            mask = causal_mask(t_q, t_k, x.device)                                         # (Tq, Tk)
        if valid is not None:
            mask = valid if mask is None else mask & valid                                 # (G·B, 1, Tq, Tk)
        bias = None
        if need_weights or self.training:  # the explicit attention path adds masks as 0 / -inf
            bias = causal_bias(t_q, t_k, x.device, x.dtype) if valid is None and mask is not None else \
                additive_mask(mask, x.dtype)
        index = None
        if read_at[0] is not None:
            index = torch.stack([torch.full((b,), t_q - 1, dtype=torch.long, device=x.device) if r is True
                                 else r.long() for r in read_at])                           # (G, B)
        weights = []
        last = len(self.layers) - 1
        opts = dict(attn_p=attn_p, relu_p=self.relu_dropout, res_p=self.res_dropout, need_weights=need_weights)
        for n, layer in enumerate(self.layers):
            if n == last and index is not None:
                rows = None
                if self.causal:
                    rows = causal_mask(t_q, t_k, x.device)[index.view(-1)].view(g * b, 1, 1, t_k)
                if valid is not None:
                    rows = valid if rows is None else rows & valid
                q, w = layer(q, k, v, members, mask=rows, bias=additive_mask(rows, x.dtype), is_causal=False,
                             query_index=index, **opts)
            else:
                q, w = layer(q, k, v, members, mask=mask, bias=bias, is_causal=is_causal, **opts)
            if need_weights:
                weights.append(w.view(g, b, *w.shape[1:]))
        e = q.shape[-1]
        out = _layer_norm(q.reshape(g, -1, e), self.norm_weight[members], self.norm_bias[members]).view(q.shape)
        if index is not None:
            out = out.squeeze(2)                                                            # (G, B, E)
        return out, (torch.stack(weights) if need_weights else None)                        # (L, G, B, H, Tq, Tk)
