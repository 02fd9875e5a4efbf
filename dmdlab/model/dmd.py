"""The DMD model assembled (Li et al., CVPR 2023, §3; DMD_SPEC §2-§5). Work in progress."""

from __future__ import annotations

from torch import Tensor, nn

from dmdlab.data.spec import DataSpec
from dmdlab.model.config import DMDConfig
from dmdlab.model.outputs import DMDOutput, LossBreakdown


class DMD(nn.Module):
    """Decoupled Multimodal Distilling: ``DMD(config, spec)``; holds both GD-units."""

    def __init__(self, config: DMDConfig, spec: DataSpec) -> None:
        super().__init__()
        self.config = config
        self.spec = spec

    def forward(self, text: Tensor, vision: Tensor, audio: Tensor, *, text_lengths: Tensor | None = None,
                vision_lengths: Tensor | None = None, audio_lengths: Tensor | None = None,
                return_attention: bool = False) -> DMDOutput:
        raise NotImplementedError

    def loss(self, output: DMDOutput, labels: Tensor) -> LossBreakdown:
        raise NotImplementedError
