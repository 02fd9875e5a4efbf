"""Shallow temporal features and multimodal feature decoupling (paper §3.1).

Internally the features are time-major (B, T', d), the layout the transformers consume;
``DecoupledOutput`` exposes them in the conv layout (B, d, T') as transposed views.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["TemporalConv", "FeatureDecoupling"]


class TemporalConv(nn.Module):
    """C_m: Conv1d d_m → d, kernel k_m, no padding, no bias: (B, T, d_m) → X̃_m (B, T − k + 1, d)."""

    def __init__(self, in_dim: int, dim: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_dim, dim, kernel_size=kernel, padding=0, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x.transpose(1, 2)).transpose(1, 2)                                # (B, T', d)


class FeatureDecoupling(nn.Module):
    """Shared encoder E_com (one weight for all modalities), private encoders E^prt_m, decoders D_m.

    Also the alignment projections (channel-major flatten of X^com_m → d, margin loss) and the
    official ``proj_cosine_m`` layers (time-major flatten of X^prt_m → d), whose output feeds no
    loss: they are kept only so official checkpoints load, and never receive a gradient.

    E^prt_m and E_com are kernel-1 convolutions, i.e. linear maps over channels; for each
    modality they run as one product with the stacked weight [E^prt_m ; E_com], whose output
    is also exactly the decoder's input [X^prt_m ; X^com_m].
    """

    def __init__(self, dim: int, flat_lengths: dict[str, int]) -> None:
        super().__init__()
        self.dim = dim
        self.shared = nn.Conv1d(dim, dim, kernel_size=1, bias=False)
        self.private = nn.ModuleDict({m: nn.Conv1d(dim, dim, kernel_size=1, bias=False) for m in flat_lengths})
        self.decoders = nn.ModuleDict({m: nn.Conv1d(2 * dim, dim, kernel_size=1, bias=False) for m in flat_lengths})
        self.align = nn.ModuleDict({m: nn.Linear(dim * t, dim) for m, t in flat_lengths.items()})
        self.private_proj = nn.ModuleDict({m: nn.Linear(dim * t, dim) for m, t in flat_lengths.items()})

    def forward(self, m: str, shallow: Tensor) -> dict[str, Tensor]:
        """shallow X̃_m (B, T', d) → private, shared, reconstruction, private_recon (B, T', d) each,
        aligned and private_proj (B, d)."""
        d = self.dim
        w_private = self.private[m].weight.squeeze(-1)                                     # (d, d)
        both = F.linear(shallow, torch.cat([w_private, self.shared.weight.squeeze(-1)]))  # (B, T', 2d) = [prt ; com]
        private, shared = both[..., :d], both[..., d:]                                     # (B, T', d) each
        recon = F.linear(both, self.decoders[m].weight.squeeze(-1))                         # (B, T', d) X̂_m
        private_recon = F.linear(recon, w_private)                                         # (B, T', d) E^prt_m(X̂_m)
        b = shallow.shape[0]
        aligned = self.align[m](shared.transpose(1, 2).reshape(b, -1))                     # (B, d), channel-major
        private_proj = self.private_proj[m](private.reshape(b, -1))                        # (B, d), time-major
        return {"private": private, "shared": shared, "reconstruction": recon, "private_recon": private_recon,
                "aligned": aligned, "private_proj": private_proj}
