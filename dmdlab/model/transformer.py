"""MulT-style transformer encoders (as in MulT and the official code), run as a *stack*: G encoders of the same
width and depth whose parameters share a leading member axis.

DMD has twelve transformers in three families of equal shape: the three self-attention
encoders of the shared space, the six cross-modal ones, the three memory ones. Each family is
one ``TransformerStack`` whose members are named ("l", or "a->l" for L attending to A);
callers pass and get back dicts keyed by those names and never see the stacking. When the
members' sequences have equal lengths (aligned data) every layer runs once for all members
(batched matrix products), otherwise member by member on slices of the same parameters.
Both give the same numbers; the batched form only saves per-operation overhead, which
dominates this model of many small operations.

Each member is exactly one official ``TransformerEncoder`` (``official.py`` maps the names):
inputs scaled by √E plus padding-aware sinusoidal positions, embedding dropout (keys and
values get independent masks, as officially), pre-LayerNorm layers
x + MHA(LN0(x), LN0(k), LN0(v)), x + FC2(dropout(ReLU(FC1(LN1(x))))), a final LayerNorm;
one packed (3E, E) input projection per layer. Tensors are batch-first, (B, T, E).
``reference.py`` writes that layer out plainly (read it first; ``ArchConfig.reference`` trains with
it), and tests/test_model_transformer.py and tests/test_reference.py check the stack against it.

Speed work, all inside this file and ``attention.py``: members batched; LN0's and LN1's
affines folded into the next projection (``_fold_affine``); the last layer of a stack read
at one step computes only that query row; members ordered by attention dropout rate so that
rate-0 members draw no keep-masks; the attention itself (``attention.attend``) fused in
evaluation and chunked for long sequences in training (unaligned data).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dmdlab.model.attention import attend
from dmdlab.model.config import ArchConfig
from dmdlab.model.layers import (SinusoidalPositions, additive_mask, causal_bias, causal_mask,
                                 check_stack_call, dropout)

__all__ = ["TransformerStack", "StackedLayer", "AttentionMask", "attention"]


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


def attention(q: Tensor, k: Tensor, v: Tensor, g: int, b: int, t_q: int, t_k: int, heads: int, mask: Tensor | None,
              bias: Tensor | None, is_causal: bool, attn_p: float, need_weights: bool, training: bool,
              ) -> tuple[Tensor, Tensor | None]:
    """Attention for G members sharing one dropout rate: q (G, B·Tq, E), k, v (G, B·Tk, E)
    projected → (G, B·Tq, E) and optionally the weights (G·B, H, Tq, Tk).

    ``mask`` (bool, True = attend), ``bias`` (the same as 0 / -inf) and ``is_causal`` are the
    forms of one ``AttentionMask``. The heads are split here; softmax(q·kᵀ/√h + bias)·v with
    dropout on the weights (the official placement) is ``dmdlab.model.attention.attend``,
    which picks the fused, explicit or chunked way for the sizes at hand.
    """
    e = q.shape[-1]
    hd = e // heads

    def split(t: Tensor, length: int) -> Tensor:
        return t.reshape(g, b, length, heads, hd).transpose(2, 3).reshape(g * b, heads, length, hd)  # (G·B, H, T, hd)

    out, weights = attend(split(q, t_q), split(k, t_k), split(v, t_k), mask=mask, bias=bias, is_causal=is_causal,
                          dropout_p=attn_p, training=training, need_weights=need_weights)
    return out.transpose(1, 2).reshape(g, b * t_q, e), weights                            # (G, B·Tq, E)


@dataclass(frozen=True)
class AttentionMask:
    """Which keys each query may see, in the forms the kernel takes: ``allowed`` (bool, True =
    attend, broadcastable to (G·B, H, Tq, Tk)) for SDPA, ``bias`` (0 / -inf) for the explicit
    path, and ``is_causal`` when SDPA's own future mask stands for both."""

    allowed: Tensor | None = None
    bias: Tensor | None = None
    is_causal: bool = False
    valid: Tensor | None = None         # (G·B, 1, 1, Tk) per-sample key validity, kept for ``rows``
    causal: bool = False                # the future mask applies

    @classmethod
    def build(cls, t_q: int, t_k: int, *, causal: bool, valid: Tensor | None, need_weights: bool, training: bool,
              device: torch.device, dtype: torch.dtype) -> "AttentionMask":
        """The future mask (official offset 1 + |Tk − Tq|) and/or key validity, valid (G·B, 1, 1, Tk).
        The bias is built only for the explicit path (training, or weights asked for)."""
        is_causal = causal and valid is None and t_q == t_k and not need_weights
        allowed = None
        if causal and not is_causal:
            allowed = causal_mask(t_q, t_k, device)                                         # (Tq, Tk)
        if valid is not None:
            allowed = valid if allowed is None else allowed & valid                          # (G·B, 1, Tq, Tk)
        bias = None
        if need_weights or training:
            bias = causal_bias(t_q, t_k, device, dtype) if valid is None and allowed is not None else \
                additive_mask(allowed, dtype)
        return cls(allowed, bias, is_causal, valid, causal)

    def rows(self, index: Tensor, t_q: int, t_k: int, dtype: torch.dtype) -> "AttentionMask":
        """The mask of one query row per sample, index (G, B): (G·B, 1, 1, Tk)."""
        allowed = None
        if self.causal:
            allowed = causal_mask(t_q, t_k, index.device)[index.view(-1)].view(index.numel(), 1, 1, t_k)
        if self.valid is not None:
            allowed = self.valid if allowed is None else allowed & self.valid
        return AttentionMask(allowed, additive_mask(allowed, dtype), False, self.valid, self.causal)

    def split(self, sizes: list[int], b: int) -> list["AttentionMask"]:
        """The mask cut into runs of ``sizes`` members (per-sample parts split, shared ones as they are)."""
        def cut(t: Tensor | None) -> list:
            if t is None or t.dim() < 4 or t.shape[0] == 1:
                return [t] * len(sizes)
            return list(t.split([size * b for size in sizes]))

        return [AttentionMask(allowed, bias, self.is_causal)
                for allowed, bias in zip(cut(self.allowed), cut(self.bias))]


@dataclass(frozen=True)
class LayerCall:
    """What one call of a ``StackedLayer`` runs: which members, at which dropout, read where."""

    rows: slice | Tensor                 # the members' parameter rows, in the order of the inputs' rows
    attn_p: tuple[float, ...]            # attention dropout per row (all 0 outside training)
    need_weights: bool = False           # also return the attention weights
    read_at: Tensor | None = None        # (G, B): compute only that query row per sample


class StackedLayer(nn.Module):
    """One pre-LN transformer layer for G members: parameters with a leading member axis."""

    def __init__(self, members: int, dim: int, heads: int, relu_dropout: float = 0.0, res_dropout: float = 0.0) -> None:
        super().__init__()
        self.dim, self.heads = dim, heads
        self.relu_dropout, self.res_dropout = relu_dropout, res_dropout
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

    def forward(self, x: Tensor, k: Tensor | None, v: Tensor | None, mask: AttentionMask, call: LayerCall,
                ) -> tuple[Tensor, Tensor | None]:
        """x (G, B, Tq, E); k, v (G, B, Tk, E) or None (self-attention). With ``call.read_at``
        returns (G, B, 1, E), else (G, B, Tq, E); and the weights (G·B, H, Tq, Tk) when asked."""
        g, b, _, e = x.shape
        p = {name: param[call.rows] for name, param in self._parameters.items()}
        # LN0's affine is folded into the input projection, LN1's into FC1 (``_fold_affine``)
        w_in, b_in = _fold_affine(p["in_proj_weight"], p["in_proj_bias"], p["norm0_weight"], p["norm0_bias"])
        x_norm = _normalize(x)
        k_norm = v_norm = None
        if k is not None:                                                                  # cross-modal
            k_norm = _normalize(k)
            v_norm = k_norm if v is k else _normalize(v)
        elif call.read_at is not None:                                                     # self, one query row
            k_norm = v_norm = x_norm
        if call.read_at is not None:
            rows = call.read_at.view(g, b, 1, 1).expand(g, b, 1, e)
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
        attn, weights = self._attend(q, key, val, b, t_q, t_k, mask, call)
        res_p, training = self.res_dropout, self.training
        x = x + dropout(_linear(attn, p["out_proj_weight"], p["out_proj_bias"]).view(x.shape), res_p, training)
        w_fc1, b_fc1 = _fold_affine(p["fc1_weight"], p["fc1_bias"], p["norm1_weight"], p["norm1_bias"])
        h = _linear(_normalize(x.reshape(g, -1, e)), w_fc1, b_fc1).relu_()   # in place: the product is not needed again
        h = _linear(dropout(h, self.relu_dropout, training), p["fc2_weight"], p["fc2_bias"])
        return x + dropout(h.view(x.shape), res_p, training), weights

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, b: int, t_q: int, t_k: int, mask: AttentionMask,
                call: LayerCall) -> tuple[Tensor, Tensor | None]:
        """q (G, B·Tq, E), k, v (G, B·Tk, E) → (G, B·Tq, E) and optionally weights (G·B, H, Tq, Tk).

        Each run of consecutive members with the same attention dropout rate goes through the
        kernel on its own: members with rate 0 (the V-keyed ones) then draw no keep-masks, the
        others get a scalar rate. ``TransformerStack`` orders its members by rate, so every
        rate is one run, cut with ``split`` (its backward is one ``cat``; slicing or indexing
        would zero-fill a full-size gradient per run). Eval mode is always one run.
        """
        runs = [(rate, len(list(members))) for rate, members in itertools.groupby(call.attn_p)]  # (rate, members)
        if len(runs) == 1:
            parts = [(q, k, v, mask)]
        else:
            sizes = [size for _, size in runs]
            parts = list(zip(q.split(sizes), k.split(sizes), v.split(sizes), mask.split(sizes, b)))
        results = [attention(q_i, k_i, v_i, size, b, t_q, t_k, self.heads, m.allowed, m.bias, m.is_causal, rate,
                             call.need_weights, self.training)
                   for (rate, size), (q_i, k_i, v_i, m) in zip(runs, parts)]
        if len(results) == 1:
            return results[0]
        return torch.cat([out for out, _ in results]), (torch.cat([w for _, w in results]) if call.need_weights
                                                        else None)


def _stacked(tensors: list[Tensor]) -> Tensor:
    """The members' tensors along a new leading axis (a view for one member)."""
    return torch.stack(tensors) if len(tensors) > 1 else tensors[0][None]


class TransformerStack(nn.Module):
    """Named MulT transformer encoders of equal width and depth (self-attention or cross-modal).

    ``TransformerStack({"a->l": 0.3, "v->l": 0.0}, dim, heads, layers, ...)``: one member per
    name, with its attention dropout rate; parameters are stacked in the order of the names.
    """

    def __init__(self, attn_dropout: Mapping[str, float], dim: int, heads: int, layers: int, *,
                 relu_dropout: float, res_dropout: float, embed_dropout: float, causal: bool) -> None:
        super().__init__()
        self.names = tuple(attn_dropout)
        self.dim, self.causal, self.embed_dropout = dim, causal, embed_dropout
        self.attn_dropout = tuple(float(attn_dropout[name]) for name in self.names)
        # members run jointly in this order: equal attention dropout rates adjacent (``StackedLayer._attend``)
        self.order = tuple(sorted(range(len(self.names)), key=lambda m: self.attn_dropout[m]))
        self.scale = math.sqrt(dim)
        self.embed_positions = SinusoidalPositions(dim)
        self.layers = nn.ModuleList(StackedLayer(len(self.names), dim, heads, relu_dropout, res_dropout)
                                    for _ in range(layers))
        self.norm_weight = nn.Parameter(torch.ones(len(self.names), dim))
        self.norm_bias = nn.Parameter(torch.zeros(len(self.names), dim))

    @classmethod
    def from_arch(cls, arch: ArchConfig, attn_dropout: Mapping[str, float], dim: int, layers: int,
                  ) -> "TransformerStack":
        """Members ``attn_dropout`` (name → rate) with the architecture's heads, dropouts and causal mask."""
        return cls(attn_dropout, dim, arch.heads, layers, relu_dropout=arch.relu_dropout,
                   res_dropout=arch.res_dropout, embed_dropout=arch.embed_dropout, causal=arch.causal_mask)

    def _embed(self, x: Tensor) -> Tensor:
        """√E·x + positions, x (G, B, T, E)."""
        return torch.addcmul(self.embed_positions(x.flatten(0, 1)).view(x.shape), x, x.new_tensor(self.scale))

    def forward(self, queries: Mapping[str, Tensor], keys: Mapping[str, Tensor] | None = None, *,
                key_valid: Mapping[str, Tensor | None] | None = None, read_at: Mapping[str, Tensor] | None = None,
                need_weights: bool = False) -> tuple[dict[str, Tensor], dict[str, Tensor] | None]:
        """Every member by name: queries[name] (B, Tq, E); keys[name] (B, Tk, E), the keys and
        values of a cross-modal member, or ``keys=None`` for self-attention.

        key_valid[name]: (B, Tk) bool of non-padded keys (None or absent: all). read_at: None
        returns every step (B, Tq, E); {name: (B,) long} that step per sample (B, E), and the
        last layer computes only that query row. Returns the outputs by name and, with
        need_weights, the attention weights by name (layers, B, H, Tq, Tk).
        """
        check_stack_call(self, queries, keys, read_at, need_weights)
        key_valid = key_valid or {}
        inputs = [(queries[n], None if keys is None else keys[n]) for n in self.names]
        same_shapes = len({(x.shape, None if kv is None else kv.shape) for x, kv in inputs}) == 1
        groups = [list(self.order)] if same_shapes else [[g] for g in range(len(self.names))]
        outs: dict[str, Tensor] = {}
        weights: dict[str, Tensor] | None = {} if need_weights else None
        for group in groups:
            names = [self.names[g] for g in group]
            out, w = self._run(_stacked([queries[n] for n in names]),
                               None if keys is None else _stacked([keys[n] for n in names]), group,
                               [key_valid.get(n) for n in names],
                               None if read_at is None else _stacked([read_at[n].long() for n in names]), need_weights)
            for i, (name, member_out) in enumerate(zip(names, out.unbind(0))):  # backward: one stack, not G zero-fills
                outs[name] = member_out
                if need_weights:
                    weights[name] = w[:, i]
        return {n: outs[n] for n in self.names}, (None if weights is None else {n: weights[n] for n in self.names})

    def _run(self, x: Tensor, kv: Tensor | None, group: list[int], key_valid: list[Tensor | None],
             index: Tensor | None, need_weights: bool) -> tuple[Tensor, Tensor | None]:
        """x (G, B, Tq, E), kv (G, B, Tk, E) or None: row i of x belongs to member ``group[i]``;
        index (G, B) the step to read per sample, or None."""
        g, b, t_q, _ = x.shape
        t_k = t_q if kv is None else kv.shape[2]
        p = self.embed_dropout if self.training else 0.0
        q = dropout(self._embed(x), p, self.training)
        k = v = None
        if kv is not None:
            k_emb = self._embed(kv)
            k = dropout(k_emb, p, self.training)
            v = dropout(k_emb, p, self.training) if p > 0 else k
        members = slice(group[0], group[-1] + 1) if group == list(range(group[0], group[-1] + 1)) else \
            torch.tensor(group, device=x.device)                                            # parameter rows
        valid = None
        if any(kvalid is not None for kvalid in key_valid):
            valid = torch.stack([kvalid if kvalid is not None else torch.ones(b, t_k, dtype=torch.bool, device=x.device)
                                 for kvalid in key_valid]).view(g * b, 1, 1, t_k)          # (G·B, 1, 1, Tk)
        mask = AttentionMask.build(t_q, t_k, causal=self.causal, valid=valid, need_weights=need_weights,
                                   training=self.training, device=x.device, dtype=x.dtype)
        rates = tuple(self.attn_dropout[m] for m in group) if self.training else (0.0,) * g
        call = LayerCall(members, rates, need_weights)
        weights = []
        last = len(self.layers) - 1
        for n, layer in enumerate(self.layers):
            if n == last and index is not None:
                q, w = layer(q, k, v, mask.rows(index, t_q, t_k, x.dtype), dataclasses.replace(call, read_at=index))
            else:
                q, w = layer(q, k, v, mask, call)
            if need_weights:
                weights.append(w.view(g, b, *w.shape[1:]))
        e = q.shape[-1]
        out = _layer_norm(q.reshape(g, -1, e), self.norm_weight[members], self.norm_bias[members]).view(q.shape)
        if index is not None:
            out = out.squeeze(2)                                                            # (G, B, E)
        return out, (torch.stack(weights) if need_weights else None)                        # (L, G, B, H, Tq, Tk)
