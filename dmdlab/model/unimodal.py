"""The one-modality baseline (the paper's unimodal comparison, Figure 3): ``unimodal_l`` / ``_v`` / ``_a``.

X̃_m from the modality's temporal conv (``base.SentimentModel``), a self-attention MulT
transformer (nlevels layers, width d, the same masks as DMD's), read at the last (valid)
step, and a residual head (d → d → d plus skip, → 1). The other inputs are ignored (may be
None); the only loss is the task L1 of the prediction.
"""

from __future__ import annotations

from torch import Tensor

from dmdlab.data.spec import DataSpec
from dmdlab.model.base import Padding, SentimentModel
from dmdlab.model.config import DMDConfig
from dmdlab.model.layers import ResidualHead
from dmdlab.model.outputs import DecoupledOutput, DMDOutput
from dmdlab.model.stacks import build_stack

__all__ = ["UnimodalModel"]


class UnimodalModel(SentimentModel):
    """``UnimodalModel(config, spec)`` for a config with ``arch.unimodal`` set (``get_variant("unimodal_l")``)."""

    def __init__(self, config: DMDConfig, spec: DataSpec, *, text_encoder_config: dict | None = None) -> None:
        m = config.arch.unimodal
        if m is None:
            raise ValueError(f"UnimodalModel needs a one-modality config (arch.unimodal 'l', 'v' or 'a'; variant "
                             f"unimodal_l/_v/_a). Got variant {config.variant!r} with arch.unimodal=None: "
                             "build it with dmdlab.model.build_model(config, spec).")
        super().__init__(config, spec, (m,), text_encoder_config=text_encoder_config)
        arch = config.arch
        # state-dict names as in earlier dmdlab versions, so their unimodal checkpoints load
        self.unimodal_encoder = build_stack(arch, {m: arch.attn_dropout_for(m)}, arch.d, arch.nlevels)
        self.unimodal_head = ResidualHead(arch.d, arch.d, arch.output_dropout)

    def head(self, shallow: dict[str, Tensor], padding: Padding, *, return_attention: bool = False) -> DMDOutput:
        """X̃_m (B, T'_m, d) → the prediction (B, 1); ``return_attention`` gives no maps (no
        cross-modal attention here)."""
        h, _ = self.unimodal_encoder(shallow, key_valid=padding.key_valid, read_at=padding.read_at)   # (B, d)
        prediction, _, _ = self.unimodal_head(h[self.config.arch.unimodal])                            # (B, 1)
        return DMDOutput(prediction=prediction,
                         decoupled=DecoupledOutput(shallow={m: x.transpose(1, 2) for m, x in shallow.items()}),
                         lengths=padding.lengths)
