"""Named model variants: the paper's ablations and comparisons as ``DMDConfig`` transforms.

``get_variant(name, base)`` applies a registered transform to a base config (usually a
preset) and records the name in ``config.variant``. What each removes, and what takes its
place (docs/model.md has the same table):

- ``dmd``: the full model (official).
- ``wo_fd``: no feature decoupling. No shared/private encoders, decoders or alignment
  projections; the homo branch and the cross-modal branch both read the shallow features X̃_m.
  The decoupling losses (reconstruction, cycle, orthogonality, margin) are gone.
- ``wo_homogd``: the HomoGD unit and its three losses are off; the homo branch (heads,
  self-attention fusion, logit_c and their task terms) stays.
- ``wo_heterogd``: the HeteroGD unit and its losses are off; cross-modal attention and the
  hetero heads stay.
- ``wo_ca``: no cross-modal attention in HeteroGD. Each of the six cross-modal transformers
  attends to its own target's private sequence (self-attention over X^prt_m) instead of the
  other modality; parameters, shapes and everything downstream are unchanged.
- ``mult``: MulT alone. Cross-modal + memory transformers on the shallow features, then the
  gated fusion (without the shared part) and the output head; no decoupling, no homo branch,
  no per-modality heads, no GD-unit; task loss on the final prediction only.
- ``mult_gd``: MulT with a GD-unit: ``mult`` plus the per-modality hetero heads (their task
  terms) and the HeteroGD unit with its losses, on the MulT cross-modal features.
- ``uniform_prior``: the full model with a uniform edge prior (every prior logit 0, so the
  prior is 1/6 per edge in both units): the regulariser pulls the batch-mean edges towards
  1/6 instead of towards language as the teacher. Shows how much of "language teaches" is
  learned rather than put in by the prior.
- ``no_edge_reg``: the full model without the edge-to-prior regulariser (its weight 0): the
  edges are free, the prior still weights the distillation losses (w = edge + prior).
- ``unimodal_l`` / ``_v`` / ``_a``: one modality only: its temporal conv, a self-attention
  transformer (nlevels layers, width d, same masks), read at the last step, and a residual
  head (d → d → d plus skip, → 1). The other inputs are ignored (may be None); task loss only.
  A model of its own (``unimodal.UnimodalModel``).
- ``ef_lstm``, ``lf_lstm``, ``tfn``, ``lmf``, ``mfm``: the comparison table's baselines, each a
  model of its own (``baselines.BASELINES`` says which rows are re-run and how).

``build_model(config, spec)`` builds the model of any variant's config.
"""

from __future__ import annotations

from typing import Callable

from dmdlab.data.spec import DataSpec
from dmdlab.model import baselines
from dmdlab.model.base import SentimentModel
from dmdlab.model.config import DMDConfig
from dmdlab.model.dmd import DMD
from dmdlab.model.unimodal import UnimodalModel

__all__ = ["VARIANTS", "VARIANT_LABELS", "get_variant", "build_model"]

_NO_GD = {"homo": False, "hetero": False}


def _dmd(c: DMDConfig) -> DMDConfig:
    return c


def _wo_fd(c: DMDConfig) -> DMDConfig:
    return c.replace(arch={"decoupling": False})


def _wo_homogd(c: DMDConfig) -> DMDConfig:
    return c.replace(gd={"homo": False})


def _wo_heterogd(c: DMDConfig) -> DMDConfig:
    return c.replace(gd={"hetero": False})


def _wo_ca(c: DMDConfig) -> DMDConfig:
    return c.replace(arch={"cross_attention": False})


def _uniform_prior(c: DMDConfig) -> DMDConfig:
    return c.replace(gd={"prior_homo": (0.0,) * 6, "prior_hetero": (0.0,) * 6})


def _no_edge_reg(c: DMDConfig) -> DMDConfig:
    return c.replace(gd={"reg_weight": 0.0})


def _mult(c: DMDConfig) -> DMDConfig:
    return c.replace(arch={"decoupling": False, "homo_branch": False, "hetero_heads": False}, gd=_NO_GD,
                     loss={"auxiliary_task": False})


def _mult_gd(c: DMDConfig) -> DMDConfig:
    return c.replace(arch={"decoupling": False, "homo_branch": False}, gd={"homo": False, "hetero": True})


def _unimodal(m: str) -> Callable[[DMDConfig], DMDConfig]:
    def transform(c: DMDConfig) -> DMDConfig:
        return c.replace(arch={"unimodal": m, "decoupling": False, "homo_branch": False, "hetero_heads": False},
                         gd=_NO_GD, loss={"auxiliary_task": False})
    transform.__name__ = f"_unimodal_{m}"
    return transform


VARIANTS: dict[str, Callable[[DMDConfig], DMDConfig]] = {
    "dmd": _dmd,
    "wo_fd": _wo_fd,
    "wo_homogd": _wo_homogd,
    "wo_heterogd": _wo_heterogd,
    "wo_ca": _wo_ca,
    "uniform_prior": _uniform_prior,
    "no_edge_reg": _no_edge_reg,
    "mult": _mult,
    "mult_gd": _mult_gd,
    "unimodal_l": _unimodal("l"),
    "unimodal_v": _unimodal("v"),
    "unimodal_a": _unimodal("a"),
    **{name: baselines.as_baseline for name in baselines.BASELINE_MODELS},   # the comparison table's baselines
}
"""Variant name → function of a base ``DMDConfig``."""

VARIANT_LABELS: dict[str, str] = {
    "dmd": "DMD", "wo_fd": "w/o FD", "wo_homogd": "w/o HomoGD", "wo_heterogd": "w/o HeteroGD",
    "wo_ca": "w/o CA", "mult": "MulT", "mult_gd": "MulT + GD",
    "unimodal_l": "unimodal L", "unimodal_v": "unimodal V", "unimodal_a": "unimodal A",
    **{row.variant: row.label for row in baselines.BASELINES if row.variant in baselines.BASELINE_MODELS},
}
"""Variant name → the label printed in tables and figures (the paper's wording)."""


def get_variant(name: str, base: DMDConfig | None = None) -> DMDConfig:
    """The config of variant ``name`` built on ``base`` (default: the MOSI preset)."""
    if name not in VARIANTS:
        raise ValueError(f"The 'name' parameter of get_variant must be one of {tuple(VARIANTS)}. Got {name!r}.")
    base = base if base is not None else DMDConfig.preset("mosi")
    return VARIANTS[name](base).replace(variant=name)


def build_model(config: DMDConfig, spec: DataSpec, *, text_encoder_config: dict | None = None) -> SentimentModel:
    """The model of ``config`` for data ``spec``: a ``UnimodalModel`` for the one-modality variants
    (``arch.unimodal`` set), else ``DMD``. ``text_encoder_config``: a checkpoint's saved text
    encoder config (the encoder then starts from fresh weights, to be loaded)."""
    if config.variant in baselines.BASELINE_MODELS:   # the comparison table's baselines (model/baselines.py)
        return baselines.BASELINE_MODELS[config.variant](config, spec, text_encoder_config=text_encoder_config)
    model_class = UnimodalModel if config.arch.unimodal is not None else DMD
    return model_class(config, spec, text_encoder_config=text_encoder_config)
