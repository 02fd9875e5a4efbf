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

The registry: :data:`VARIANTS` maps each name to a :class:`Variant`, which holds everything
dmdlab knows about it: its transform, its label, its role (the paper's ablation, a unimodal
model, an edge-prior control, ...), the tables ``reproduce`` trains it in, the workbench's
standard set and counterfactual worlds, the claim groups that read it, the demo and its row in
``dmdlab.paper``. Every list of variants (tables, workbench, claims, demo, notebooks, ``--help``)
is read from here, so adding a variant is one entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dmdlab.data.spec import DataSpec
from dmdlab.model import baselines
from dmdlab.model.base import SentimentModel
from dmdlab.model.config import DMDConfig
from dmdlab.model.dmd import DMD
from dmdlab.model.unimodal import UnimodalModel

__all__ = ["Variant", "VARIANTS", "TABLES", "CLAIM_GROUPS", "ROLES", "variant_names", "label", "get_variant",
           "build_model"]

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


# --------------------------------------------------------------------------- the registry

ROLES: dict[str, str] = {
    "model": "the full model",
    "ablation": "one of the paper's four ablations (its ablation table)",
    "baseline": "a published model DMD is compared with (the paper's comparison table)",
    "unimodal": "one modality alone (DMD must beat the best of them)",
    "control": "an edge-prior control for the graph-distillation claims",
}
"""What a variant is for: ``Variant.role``."""

TABLES: dict[str, str] = {
    "main": "the comparison table's rows trained here",
    "ablation": "the paper's ablation table",
    "unimodal": "DMD against each modality alone",
    "text": "what a text-only file trains",
    "real": "the real CMU-MOSI table",
    "demo": "the demo's table",
    "comparison": "the paper's comparison table: its baselines that run here (model/baselines.py), and DMD",
}
"""The named tables of ``python -m dmdlab reproduce`` (the rows: ``Variant.tables``), in --help's order."""

CLAIM_GROUPS: dict[str, str] = {
    "beats": "DMD beats its ablations and the best unimodal model (notebook 04)",
    "edges": "the learned edges against the prior and the untrained model (notebook 05)",
    "homo": "the homogeneous (shared) space, against w/o FD (notebook 06)",
    "hetero": "the heterogeneous (private) spaces, against w/o FD (notebook 06)",
    "attention": "cross-modal attention weights the sentiment words' visual bursts (notebook 07)",
}
"""The groups of ``dmdlab.claims`` (a claim's key starts with its group): the runs each reads are
the variants naming it in ``Variant.claims``."""


@dataclass(frozen=True)
class Variant:
    """One registered variant: how its config derives from a preset, how tables name it, and where it is used."""

    name: str                                          # the registered name ("wo_fd"), recorded in config.variant
    label: str                                         # printed in tables and figures (the paper's wording)
    transform: Callable[[DMDConfig], DMDConfig]        # the config change from a preset
    role: str                                          # a key of ROLES
    tables: tuple[str, ...] = ()                       # the named TABLES it is a row of
    claims: tuple[str, ...] = ()                       # the CLAIM_GROUPS that read its runs
    workbench: str | None = None                       # why the workbench's standard set trains it; None: not in it
    worlds: tuple[str, ...] = ()                       # the counterfactual worlds (dmdlab.data.synth.WORLDS) it trains in
    demo: bool = False                                 # trained first by ``python -m dmdlab demo``
    paper: str | None = None                           # its model name in dmdlab.paper's published rows
    model: type[SentimentModel] | None = None          # a model class of its own; None: DMD, or UnimodalModel
                                                       # when the config sets arch.unimodal

    def __post_init__(self) -> None:
        for field, values, known in (("role", (self.role,), ROLES), ("tables", self.tables, TABLES),
                                     ("claims", self.claims, CLAIM_GROUPS)):
            unknown = [value for value in values if value not in known]
            if unknown:
                raise ValueError(f"The {field!r} parameter of Variant {self.name!r} must name entries of "
                                 f"{tuple(known)}. Got {unknown}.")


_WORLDS_ALL = ("standard", "vision_strongest", "style_none", "style_strong")

VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("dmd", "DMD", _dmd, "model", tables=("main", "ablation", "unimodal", "real", "demo", "comparison"),
            claims=tuple(CLAIM_GROUPS), workbench="DMD itself", worlds=_WORLDS_ALL, demo=True, paper="DMD"),
    Variant("wo_fd", "w/o FD", _wo_fd, "ablation", tables=("ablation", "real", "demo"),
            claims=("beats", "homo", "hetero"),
            workbench="the control without decoupling (w/o FD) for the decoupling claims",
            worlds=("standard", "style_none", "style_strong"), demo=True),
    Variant("wo_homogd", "w/o HomoGD", _wo_homogd, "ablation", tables=("ablation", "real", "demo"),
            claims=("beats",), workbench="the paper's ablation w/o HomoGD"),
    Variant("wo_heterogd", "w/o HeteroGD", _wo_heterogd, "ablation", tables=("ablation", "real", "demo"),
            claims=("beats",), workbench="the paper's ablation w/o HeteroGD"),
    Variant("wo_ca", "w/o CA", _wo_ca, "ablation", tables=("ablation", "demo"), claims=("beats",),
            workbench="the paper's ablation w/o CA"),
    Variant("mult", "MulT", _mult, "baseline", tables=("main", "ablation", "real", "comparison"), paper="MulT"),
    Variant("mult_gd", "MulT + GD", _mult_gd, "baseline", tables=("ablation",)),
    Variant("unimodal_l", "unimodal L", _unimodal("l"), "unimodal", tables=("unimodal", "text", "real", "demo"),
            claims=("beats",), workbench="the language-only model (DMD must beat the best unimodal one)",
            demo=True),
    Variant("unimodal_v", "unimodal V", _unimodal("v"), "unimodal", tables=("unimodal", "real", "demo"),
            claims=("beats",), workbench="the vision-only model"),
    Variant("unimodal_a", "unimodal A", _unimodal("a"), "unimodal", tables=("unimodal", "real", "demo"),
            claims=("beats",), workbench="the audio-only model"),
    Variant("uniform_prior", "DMD, uniform prior", _uniform_prior, "control", claims=("edges",),
            workbench="the uniform-prior control for the edge claims", worlds=("standard", "vision_strongest")),
    Variant("no_edge_reg", "DMD, no edge regulariser", _no_edge_reg, "control", claims=("edges",),
            workbench="the no-regulariser control for the edge claims"),
    *(Variant(row.variant, row.label, baselines.as_baseline, "baseline", tables=("comparison",), paper=row.label,
              model=baselines.BASELINE_MODELS[row.variant])       # the comparison table's other rows (one table there)
      for row in baselines.BASELINES if row.variant in baselines.BASELINE_MODELS),
)}
"""Variant name → :class:`Variant`, in the order tables print their rows."""


def variant_names(*, role: str | None = None, table: str | None = None, claims: str | None = None,
                  workbench: bool | None = None, world: str | None = None, demo: bool | None = None
                  ) -> tuple[str, ...]:
    """The registered names, in registry order, of the variants matching every condition given:
    ``variant_names(table="ablation")`` are the ablation table's rows, ``variant_names(workbench=True)``
    the workbench's standard set, ``variant_names(claims="edges")`` the runs the edge claims read."""
    def matches(v: Variant) -> bool:
        return ((role is None or v.role == role) and (table is None or table in v.tables)
                and (claims is None or claims in v.claims) and (world is None or world in v.worlds)
                and (workbench is None or (v.workbench is not None) == workbench)
                and (demo is None or v.demo == demo))
    return tuple(name for name, v in VARIANTS.items() if matches(v))


def label(name: str) -> str:
    """The printed label of variant ``name`` ("w/o FD"); an unregistered name as is."""
    return VARIANTS[name].label if name in VARIANTS else name


def get_variant(name: str, base: DMDConfig | None = None) -> DMDConfig:
    """The config of variant ``name`` built on ``base`` (default: the MOSI preset)."""
    if name not in VARIANTS:
        raise ValueError(f"The 'name' parameter of get_variant must be one of {tuple(VARIANTS)}. Got {name!r}.")
    base = base if base is not None else DMDConfig.preset("mosi")
    return VARIANTS[name].transform(base).replace(variant=name)


def build_model(config: DMDConfig, spec: DataSpec, *, text_encoder_config: dict | None = None) -> SentimentModel:
    """The model of ``config`` for data ``spec``: the variant's own model class when it registers one,
    else a ``UnimodalModel`` for the one-modality variants (``arch.unimodal`` set), else ``DMD``.
    ``text_encoder_config``: a checkpoint's saved text encoder config (the encoder then starts from
    fresh weights, to be loaded)."""
    registered = VARIANTS.get(config.variant)
    model_class = (registered.model if registered is not None and registered.model is not None
                   else UnimodalModel if config.arch.unimodal is not None else DMD)
    return model_class(config, spec, text_encoder_config=text_encoder_config)
