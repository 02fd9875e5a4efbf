"""Gated fusion and output (the official code's gated fusion).

g_m = sigmoid(W_m h_m) (2d each, m ∈ L, V, A) and g_c = sigmoid(W_c c_fusion) (3d) are
concatenated (9d; 6d without the homogeneous branch) and a residual head gives the
prediction. As in the official code the sigmoid output *replaces* the feature (it is not a
multiplicative gate on it).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dmdlab.modalities import MODALITIES
from dmdlab.model.layers import ResidualHead

__all__ = ["GatedFusion"]


class GatedFusion(nn.Module):
    def __init__(self, dim: int, with_shared: bool, dropout: float) -> None:
        super().__init__()
        self.gates = nn.ModuleDict({m: nn.Linear(2 * dim, 2 * dim) for m in MODALITIES})
        self.gate_c = nn.Linear(3 * dim, 3 * dim) if with_shared else None
        width = 6 * dim + (3 * dim if with_shared else 0)
        self.head = ResidualHead(width, width, dropout)

    def forward(self, hetero: dict[str, Tensor], fusion: Tensor | None) -> Tensor:
        """hetero h_m (B, 2d) per modality, fusion c_fusion (B, 3d) or None → prediction (B, 1)."""
        parts = [torch.sigmoid(self.gates[m](hetero[m])) for m in MODALITIES]
        if self.gate_c is not None:
            parts.append(torch.sigmoid(self.gate_c(fusion)))
        prediction, _, _ = self.head(torch.cat(parts, dim=1))                              # (B, 1)
        return prediction
