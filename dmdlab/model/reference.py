"""The MulT transformer encoder written plainly: the layer the paper describes, without speed work.

DMD (Li et al., CVPR 2023, §3) builds all twelve of its transformers (three self-attention,
six cross-modal, three memory) from the encoder of MulT (Tsai et al., ACL 2019), as the
official code (github.com/mdswyz/DMD) does. One encoder, x (B, Tq, E) attending to k, v (B, Tk, E):

    x ← dropout_embed(√E·x + positions(x))        (k and v likewise, each with its own mask)
    for each layer:
        x ← x + dropout_res(MHA(LN0(x), LN0(k), LN0(v)))      dropout_attn on the attention weights
        x ← x + dropout_res(FC2(dropout_relu(ReLU(FC1(LN1(x))))))
    x ← LN(x)

A self-attention encoder attends to its own x (k = v = x). The attention may be masked: the
future mask (key j visible from query i when j ≤ i + |Tk − Tq|, ``layers.causal_mask``) and
padded keys. Parameter names are the official encoder's (``layers.0.self_attn.in_proj_weight``,
``layers.0.layer_norms.1.bias``, ``layer_norm.weight``), so a ``ReferenceEncoder``'s state dict
is an official ``TransformerEncoder``'s.

``ReferenceStack`` holds one encoder per named member ("l", or "a->l" for L attending to A)
and has the interface of the fast ``transformer.TransformerStack``: dicts in and out by
member name, ``from_arch``, ``key_valid``, ``read_at``, ``need_weights``. ``ArchConfig.reference``
chooses between the two (``stacks.build_stack``; ``--reference`` on the command line).
``transformer.py`` is the same computation made fast; ``stacks.convert_state_dict`` moves
weights between them, and tests/test_reference.py checks that they give the same outputs and
gradients.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dmdlab.model.config import ArchConfig
from dmdlab.model.layers import SinusoidalPositions, causal_mask, check_stack_call

__all__ = ["ReferenceLayer", "ReferenceEncoder", "ReferenceStack"]


class ReferenceLayer(nn.Module):
    """One pre-LayerNorm MulT layer: attention, then a feed-forward block, each around a residual."""

    def __init__(self, dim: int, heads: int, attn_dropout: float, relu_dropout: float, res_dropout: float) -> None:
        super().__init__()
        # dropout=attn_dropout: nn.MultiheadAttention drops out the attention weights, the official placement
        self.self_attn = nn.MultiheadAttention(dim, heads, dropout=attn_dropout, batch_first=True)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)
        self.layer_norms = nn.ModuleList([nn.LayerNorm(dim), nn.LayerNorm(dim)])
        self.relu_dropout, self.res_dropout = relu_dropout, res_dropout
        for linear in (self.self_attn.out_proj, self.fc1, self.fc2):   # official: Xavier-uniform weights, zero biases
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)

    def forward(self, x: Tensor, k: Tensor | None, v: Tensor | None, future: Tensor | None,
                padded: Tensor | None, need_weights: bool) -> tuple[Tensor, Tensor | None]:
        """x (B, Tq, E); k, v (B, Tk, E), or None to attend to x itself. future (Tq, Tk) and
        padded (B, Tk): True where a key is hidden, or None. Returns x (B, Tq, E) and, when
        asked, the attention weights (B, H, Tq, Tk)."""
        norm = self.layer_norms[0]                              # the query's LayerNorm normalises keys and values too
        query = norm(x)
        key = query if k is None else norm(k)
        value = query if v is None else norm(v)
        attended, weights = self.self_attn(query, key, value, attn_mask=future, key_padding_mask=padded,
                                           need_weights=need_weights, average_attn_weights=False)
        x = x + F.dropout(attended, self.res_dropout, self.training)                              # (B, Tq, E)
        hidden = F.dropout(F.relu(self.fc1(self.layer_norms[1](x))), self.relu_dropout, self.training)  # (B, Tq, 4E)
        x = x + F.dropout(self.fc2(hidden), self.res_dropout, self.training)                      # (B, Tq, E)
        return x, weights


class ReferenceEncoder(nn.Module):
    """One MulT ``TransformerEncoder``: scaled inputs plus positions, ``layers`` layers, a final LayerNorm."""

    def __init__(self, dim: int, heads: int, layers: int, *, attn_dropout: float, relu_dropout: float,
                 res_dropout: float, embed_dropout: float, causal: bool) -> None:
        super().__init__()
        self.scale = math.sqrt(dim)
        self.embed_dropout, self.causal = embed_dropout, causal
        self.embed_positions = SinusoidalPositions(dim)
        self.layers = nn.ModuleList(ReferenceLayer(dim, heads, attn_dropout, relu_dropout, res_dropout)
                                    for _ in range(layers))
        self.layer_norm = nn.LayerNorm(dim)

    def embed(self, x: Tensor) -> Tensor:
        """√E·x plus the sinusoidal positions (none on padding steps), then embedding dropout."""
        return F.dropout(self.scale * x + self.embed_positions(x), self.embed_dropout, self.training)

    def forward(self, x: Tensor, kv: Tensor | None = None, key_valid: Tensor | None = None,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """x (B, Tq, E) attends to kv (B, Tk, E), or to itself when kv is None; key_valid
        (B, Tk) bool, False at padded keys (None: all valid). Returns (B, Tq, E) and, when
        asked, the weights of every layer (layers, B, H, Tq, Tk)."""
        t_k = x.shape[1] if kv is None else kv.shape[1]
        future = ~causal_mask(x.shape[1], t_k, x.device) if self.causal else None          # (Tq, Tk) True: hidden
        padded = None if key_valid is None else ~key_valid                                  # (B, Tk) True: hidden
        x = self.embed(x)
        k = v = None
        if kv is not None:
            k, v = self.embed(kv), self.embed(kv)                        # keys and values: independent dropout masks
        weights = []
        for layer in self.layers:
            x, w = layer(x, k, v, future, padded, need_weights)
            weights.append(w)
        return self.layer_norm(x), (torch.stack(weights) if need_weights else None)


class ReferenceStack(nn.Module):
    """Named ``ReferenceEncoder``s with ``TransformerStack``'s interface, one encoder per member.

    ``ReferenceStack({"a->l": 0.3, "v->l": 0.0}, dim, heads, layers, ...)``: one member per
    name, with its attention dropout rate; ``encoders[name]`` is that member's encoder.
    """

    def __init__(self, attn_dropout: Mapping[str, float], dim: int, heads: int, layers: int, *,
                 relu_dropout: float, res_dropout: float, embed_dropout: float, causal: bool) -> None:
        super().__init__()
        self.names = tuple(attn_dropout)
        self.encoders = nn.ModuleDict({
            name: ReferenceEncoder(dim, heads, layers, attn_dropout=float(rate), relu_dropout=relu_dropout,
                                   res_dropout=res_dropout, embed_dropout=embed_dropout, causal=causal)
            for name, rate in attn_dropout.items()})

    @classmethod
    def from_arch(cls, arch: ArchConfig, attn_dropout: Mapping[str, float], dim: int, layers: int,
                  ) -> "ReferenceStack":
        """Members ``attn_dropout`` (name → rate) with the architecture's heads, dropouts and causal mask."""
        return cls(attn_dropout, dim, arch.heads, layers, relu_dropout=arch.relu_dropout,
                   res_dropout=arch.res_dropout, embed_dropout=arch.embed_dropout, causal=arch.causal_mask)

    def forward(self, queries: Mapping[str, Tensor], keys: Mapping[str, Tensor] | None = None, *,
                key_valid: Mapping[str, Tensor | None] | None = None, read_at: Mapping[str, Tensor] | None = None,
                need_weights: bool = False) -> tuple[dict[str, Tensor], dict[str, Tensor] | None]:
        """Every member by name: queries[name] (B, Tq, E); keys[name] (B, Tk, E) for a
        cross-modal member, or ``keys=None`` for self-attention. key_valid[name]: (B, Tk) bool
        (None or absent: all valid). read_at: {name: (B,)} returns that step per sample (B, E)
        instead of every step (B, Tq, E). With need_weights also the attention weights by
        name (layers, B, H, Tq, Tk)."""
        check_stack_call(self, queries, keys, read_at, need_weights)
        key_valid = key_valid or {}
        outs, weights = {}, {}
        for name, encoder in self.encoders.items():
            out, weights[name] = encoder(queries[name], None if keys is None else keys[name], key_valid.get(name),
                                         need_weights)
            if read_at is not None:
                out = out[torch.arange(out.shape[0], device=out.device), read_at[name].long()]      # (B, E)
            outs[name] = out
        return outs, (weights if need_weights else None)
