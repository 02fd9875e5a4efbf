"""HeteroGD branch: cross-modal attention in the heterogeneous (private) space (paper §3.3,
DMD_SPEC §2.4), the MulT "CA unit".

For each target m and each other modality n, a cross-modal transformer in which X^prt_m
queries X^prt_n; the two outputs (2d) go through a self-attention memory transformer
(max(nlevels, 3) layers) read at its last step: h_m (B, 2d). A residual head on h_m gives the
HeteroGD logit and representation.

Without cross-modal attention (the w/o CA ablation) each of the six transformers attends to
its own target's sequence instead (self-attention over X^prt_m): same parameters, same
shapes, only the keys and values change.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dmdlab.modalities import MODALITIES
from dmdlab.model.config import ArchConfig
from dmdlab.model.homo import make_encoder
from dmdlab.model.layers import ResidualHead
from dmdlab.model.outputs import HeteroOutput

__all__ = ["HeteroBranch", "CROSS_SOURCES"]

CROSS_SOURCES: dict[str, tuple[str, str]] = {"l": ("a", "v"), "v": ("l", "a"), "a": ("l", "v")}
"""The two sources of each target, in the official concatenation order (h_l = [l←a ; l←v])."""


class HeteroBranch(nn.Module):
    """Six cross-modal transformers ``cross["a_to_l"]`` ..., three memory transformers, three heads."""

    def __init__(self, arch: ArchConfig) -> None:
        super().__init__()
        d = arch.d
        self.cross_attention = arch.cross_attention
        self.cross = nn.ModuleDict({
            f"{s}_to_{t}": make_encoder(arch, d, arch.nlevels, arch.attn_dropout_for(s))
            for t in MODALITIES for s in CROSS_SOURCES[t]})
        self.memory = nn.ModuleDict({m: make_encoder(arch, 2 * d, arch.mem_layers, arch.attn_dropout)
                                     for m in MODALITIES})
        self.heads = (nn.ModuleDict({m: ResidualHead(2 * d, 2 * d, arch.output_dropout) for m in MODALITIES})
                      if arch.hetero_heads else None)

    def forward(self, private: dict[str, Tensor], key_valid: dict[str, Tensor | None],
                read_at: dict[str, Tensor | bool], need_weights: bool = False,
                ) -> tuple[HeteroOutput, dict[str, Tensor] | None]:
        """private X^prt_m (B, T'_m, d) per modality → HeteroOutput and the attention maps
        ("a->l" → (layers, B, heads, T'_l, T'_a)) when need_weights."""
        features, attention = {}, ({} if need_weights else None)
        for t in MODALITIES:
            crossed = []
            for s in CROSS_SOURCES[t]:
                encoder = self.cross[f"{s}_to_{t}"]
                if self.cross_attention:
                    out, weights = encoder(private[t], private[s], key_valid=key_valid[s], need_weights=need_weights)
                    if need_weights:
                        attention[f"{s}->{t}"] = weights
                else:
                    out, _ = encoder(private[t], key_valid=key_valid[t])
                crossed.append(out)                                                        # (B, T'_t, d)
            features[t], _ = self.memory[t](torch.cat(crossed, dim=-1), key_valid=key_valid[t],
                                            read_at=read_at[t])                            # (B, 2d) h_t
        if self.heads is None:
            return HeteroOutput(features=features), attention
        logits, reprs = {}, {}
        for m in MODALITIES:
            logits[m], _, reprs[m] = self.heads[m](features[m])                            # (B, 1), (B, 2d)
        return HeteroOutput(features=features, logits=logits, reprs=reprs), attention
