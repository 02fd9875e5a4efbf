"""HomoGD branch: the homogeneous (shared) space (paper §3.2).

Per modality a residual head on the time-major flattened X^com_m gives the HomoGD logit and
representation; a self-attention transformer per modality over X^com_m, read at its last
step and concatenated over L, V, A, is c_fusion, whose residual head gives logit_c.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dmdlab.modalities import MODALITIES
from dmdlab.model.config import ArchConfig
from dmdlab.model.layers import ResidualHead
from dmdlab.model.outputs import HomoOutput
from dmdlab.model.stacks import build_stack

__all__ = ["HomoBranch"]


class HomoBranch(nn.Module):
    """Homo heads (d·T'_m → d → d·T'_m, → 1) and the self-attention fusion of the shared space."""

    def __init__(self, arch: ArchConfig, lengths: dict[str, int]) -> None:
        super().__init__()
        d = arch.d
        self.heads = nn.ModuleDict({m: ResidualHead(d * t, d, arch.output_dropout) for m, t in lengths.items()})
        # one self-attention transformer per modality
        self.self_attention = build_stack(arch, {m: arch.attn_dropout_for(m) for m in MODALITIES}, d, arch.nlevels)
        self.fusion_head = ResidualHead(3 * d, 3 * d, arch.output_dropout)

    def forward(self, shared: dict[str, Tensor], key_valid: dict[str, Tensor | None],
                read_at: dict[str, Tensor]) -> HomoOutput:
        """shared X^com_m (B, T'_m, d) per modality, read_at (B,) the step each transformer is read at."""
        logits, reprs = {}, {}
        for m in MODALITIES:
            x = shared[m]
            logits[m], reprs[m], _ = self.heads[m](x.reshape(x.shape[0], -1))          # (B, 1), (B, d)
        last, _ = self.self_attention(shared, key_valid=key_valid, read_at=read_at)        # 3 × (B, d)
        fusion = torch.cat([last[m] for m in MODALITIES], dim=1)                           # (B, 3d) c_fusion
        fusion_logit, _, _ = self.fusion_head(fusion)                                      # (B, 1) logit_c
        return HomoOutput(logits=logits, reprs=reprs, fusion=fusion, fusion_logit=fusion_logit)
