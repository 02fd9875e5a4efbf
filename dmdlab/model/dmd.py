"""The DMD model assembled (Li et al., CVPR 2023, §3, as the official code computes it).

    text, vision, audio
      → temporal convs C_m                        X̃_m            (base.SentimentModel, decoupling.TemporalConv)
      → feature decoupling E_com, E^prt_m, D_m     X^com_m, X^prt_m (decoupling.FeatureDecoupling)
      → HomoGD branch on X^com_m                  homo logits/reprs, c_fusion, logit_c (homo)
      → HeteroGD branch on X^prt_m                cross-modal + memory transformers → h_m (hetero)
      → gated fusion                               prediction      (fusion)
      → GD-units on both spaces                    edges           (graph_distill)

``DMD.loss`` is ``losses.total_loss``: the task, reconstruction, cycle, orthogonality, margin
and GD losses with the official weights. Structural switches (``ArchConfig.decoupling``,
``homo_branch``, ``cross_attention``, ``hetero_heads``; ``GDConfig.homo`` / ``hetero``) give the
ablations of ``dmdlab.model.variants``; the unimodal baselines are ``unimodal.UnimodalModel``.
"""

from __future__ import annotations

from torch import Tensor

from dmdlab.data.spec import DataSpec
from dmdlab.modalities import MODALITIES
from dmdlab.model.base import Padding, SentimentModel
from dmdlab.model.config import DMDConfig
from dmdlab.model.decoupling import FeatureDecoupling
from dmdlab.model.fusion import GatedFusion
from dmdlab.model.graph_distill import GDUnit
from dmdlab.model.hetero import HeteroBranch
from dmdlab.model.homo import HomoBranch
from dmdlab.model.outputs import DecoupledOutput, DMDOutput, EdgesOutput, gd_nodes

__all__ = ["DMD"]


def _conv_layout(features: dict[str, Tensor]) -> dict[str, Tensor]:
    """(B, T', d) → (B, d, T') views."""
    return {m: x.transpose(1, 2) for m, x in features.items()}


class DMD(SentimentModel):
    """Decoupled Multimodal Distilling: ``DMD(config, spec)``; holds both GD-units.

    Widths d_m and lengths T_m come from ``spec`` (``base.SentimentModel``); inputs must have
    the spec's lengths.
    """

    def __init__(self, config: DMDConfig, spec: DataSpec, *, text_encoder_config: dict | None = None) -> None:
        """``text_encoder_config``: the saved transformers config of the text encoder (a checkpoint's),
        which then starts from fresh weights instead of reading ``arch.text_encoder``."""
        if config.arch.unimodal is not None:
            raise ValueError(f"DMD reads all three modalities; variant {config.variant!r} reads one "
                             f"(arch.unimodal={config.arch.unimodal!r}): build it with "
                             "dmdlab.model.build_model(config, spec), which gives a UnimodalModel.")
        super().__init__(config, spec, MODALITIES, text_encoder_config=text_encoder_config)
        arch, gd = config.arch, config.gd
        d = arch.d
        self.decoupling = self.homo = self.gd_homo = self.gd_hetero = None
        if arch.decoupling:
            self.decoupling = FeatureDecoupling(d, self.lengths)
        if arch.homo_branch:
            self.homo = HomoBranch(arch, self.lengths)
        self.hetero = HeteroBranch(arch)
        self.fusion = GatedFusion(d, arch.homo_branch, arch.output_dropout)
        gd_kwargs = dict(temperature=gd.prior_temperature, alpha=gd.alpha, edge_norm=gd.edge_norm,
                         repr_weighting=gd.repr_weighting, reg_weight=gd.reg_weight, logit_weight=gd.logit_weight,
                         repr_weight=gd.repr_weight)
        if gd.homo:
            self.gd_homo = GDUnit(d, gd.homo_hidden, gd.prior_homo, repr_metric=gd.homo_repr_metric, **gd_kwargs)
        if gd.hetero:
            self.gd_hetero = GDUnit(2 * d, gd.hetero_hidden, gd.prior_hetero, repr_metric=gd.hetero_repr_metric,
                                    **gd_kwargs)

    def gd_units(self) -> dict[str, GDUnit]:
        """The GD-units that are on: {'homo': HomoGD, 'hetero': HeteroGD}."""
        return {space: unit for space, unit in (("homo", self.gd_homo), ("hetero", self.gd_hetero))
                if unit is not None}

    def head(self, shallow: dict[str, Tensor], padding: Padding, *, return_attention: bool = False) -> DMDOutput:
        """X̃_m (B, T'_m, d) → decoupling, both branches, fusion, edges."""
        if self.decoupling is not None:
            parts = {m: self.decoupling(m, shallow[m]) for m in MODALITIES}
            shared = {m: parts[m]["shared"] for m in MODALITIES}                         # X^com_m (B, T', d)
            private = {m: parts[m]["private"] for m in MODALITIES}                       # X^prt_m (B, T', d)
            decoupled = DecoupledOutput(
                shallow=_conv_layout(shallow), shared=_conv_layout(shared), private=_conv_layout(private),
                reconstruction=_conv_layout({m: parts[m]["reconstruction"] for m in MODALITIES}),
                private_recon=_conv_layout({m: parts[m]["private_recon"] for m in MODALITIES}),
                aligned={m: parts[m]["aligned"] for m in MODALITIES},
                private_proj={m: parts[m]["private_proj"] for m in MODALITIES})
        else:  # w/o FD: both spaces see the shallow features
            shared = private = shallow
            decoupled = DecoupledOutput(shallow=_conv_layout(shallow))

        homo = self.homo(shared, padding.key_valid, padding.read_at) if self.homo is not None else None
        hetero, attention = self.hetero(private, padding.key_valid, padding.read_at, need_weights=return_attention)
        prediction = self.fusion(hetero.features, homo.fusion if homo is not None else None)   # (B, 1)

        edges = None
        units = self.gd_units()
        if units:
            edges = EdgesOutput()
            branches = {"homo": homo, "hetero": hetero}
            for space, unit in units.items():
                edge, raw = unit(*gd_nodes(branches[space]))                               # (B, 6) each
                setattr(edges, space, edge)
                setattr(edges, f"raw_{space}", raw)
        return DMDOutput(prediction=prediction, decoupled=decoupled, homo=homo, hetero=hetero, edges=edges,
                         attention=attention, lengths=padding.lengths)
