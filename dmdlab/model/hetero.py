"""HeteroGD branch: cross-modal attention in the heterogeneous (private) space (paper §3.3,
official code), the MulT "CA unit".

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
from dmdlab.model.layers import ResidualHead
from dmdlab.model.outputs import HeteroOutput
from dmdlab.model.stacks import build_stack

__all__ = ["HeteroBranch", "CROSS_SOURCES", "CROSS_PAIRS"]

CROSS_SOURCES: dict[str, tuple[str, str]] = {"l": ("a", "v"), "v": ("l", "a"), "a": ("l", "v")}
"""The two sources of each target, in the official concatenation order (h_l = [l←a ; l←v])."""

CROSS_PAIRS: dict[str, tuple[str, str]] = {f"{s}->{t}": (s, t) for t in MODALITIES for s in CROSS_SOURCES[t]}
"""The six cross-modal transformers by name ("a->l": L attends to A) → (source, target)."""


class HeteroBranch(nn.Module):
    """Six cross-modal transformers (``CROSS_PAIRS``), three memory transformers (one per
    modality), three heads."""

    def __init__(self, arch: ArchConfig) -> None:
        super().__init__()
        d = arch.d
        self.cross_attention = arch.cross_attention
        self.cross = build_stack(
            arch, {name: arch.attn_dropout_for(s) for name, (s, _) in CROSS_PAIRS.items()}, d, arch.nlevels)
        self.memory = build_stack(arch, dict.fromkeys(MODALITIES, arch.attn_dropout), 2 * d, arch.mem_layers)
        self.heads = (nn.ModuleDict({m: ResidualHead(2 * d, 2 * d, arch.output_dropout) for m in MODALITIES})
                      if arch.hetero_heads else None)

    def forward(self, private: dict[str, Tensor], key_valid: dict[str, Tensor | None], read_at: dict[str, Tensor],
                need_weights: bool = False) -> tuple[HeteroOutput, dict[str, Tensor] | None]:
        """private X^prt_m (B, T'_m, d) per modality, read_at (B,) the step each memory
        transformer is read at → HeteroOutput and the attention maps ("a->l" → (layers, B,
        heads, T'_l, T'_a)) when need_weights."""
        queries = {name: private[t] for name, (_, t) in CROSS_PAIRS.items()}              # X^prt_target (B, T'_t, d)
        if self.cross_attention:
            crossed, attention = self.cross(queries, {name: private[s] for name, (s, _) in CROSS_PAIRS.items()},
                                            key_valid={name: key_valid[s] for name, (s, _) in CROSS_PAIRS.items()},
                                            need_weights=need_weights)
        else:  # w/o CA: each transformer attends to its own target's sequence
            crossed, _ = self.cross(queries, key_valid={name: key_valid[t] for name, (_, t) in CROSS_PAIRS.items()})
            attention = {} if need_weights else None
        memory_in = {t: torch.cat([crossed[f"{s}->{t}"] for s in CROSS_SOURCES[t]], dim=-1)
                     for t in MODALITIES}                                                  # (B, T', 2d)
        features, _ = self.memory(memory_in, key_valid=key_valid, read_at=read_at)        # h_m (B, 2d)
        if self.heads is None:
            return HeteroOutput(features=features), attention
        logits, reprs = {}, {}
        for m in MODALITIES:
            logits[m], _, reprs[m] = self.heads[m](features[m])                            # (B, 1), (B, 2d)
        return HeteroOutput(features=features, logits=logits, reprs=reprs), attention
