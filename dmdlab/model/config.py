"""Configuration of the DMD model: architecture, losses and GD-units, as frozen dataclasses.

Paper settings are presets (``DMDConfig.preset("mosi")``, the official configuration);
ablations are ``dataclasses.replace`` of a preset, registered by name in
``dmdlab.model.variants``. Widths and sequence lengths are *not* here: they come from the
data's ``DataSpec`` when the model is built (``DMD(config, spec)``).

Every field is validated at construction; errors name the field, the constraint and the
value, e.g. ``The 'heads' parameter of ArchConfig must divide d=50. Got 7.``
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from dmdlab.modalities import MODALITIES

__all__ = ["ArchConfig", "LossConfig", "GDConfig", "DMDConfig"]

_PRIOR_HOMO = (0.0, 0.0, 1.0, 0.0, 1.0, 0.0)    # favours L→V, L→A (official run.py)
_PRIOR_HETERO = (0.0, 0.0, 1.0, 0.0, 1.0, 1.0)  # also V→A


def _fail(cls: str, name: str, constraint: str, value: Any) -> None:
    raise ValueError(f"The {name!r} parameter of {cls} must {constraint}. Got {value!r}.")


def _check_positive_int(cls: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail(cls, name, "be a positive int", value)


def _check_probability(cls: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        _fail(cls, name, "be a float in [0, 1)", value)


def _check_non_negative(cls: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        _fail(cls, name, "be a non-negative number", value)


def _check_choice(cls: str, name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        _fail(cls, name, f"be one of {choices}", value)


def _check_bool(cls: str, name: str, value: Any) -> None:
    if not isinstance(value, bool):
        _fail(cls, name, "be a bool", value)


@dataclass(frozen=True)
class ArchConfig:
    """Architecture (paper §3; MulT-style encoders as in the official code). Defaults are the official MOSI values."""

    d: int = 50                           # model width d ("hidden dimension of a CA unit"): 50 MOSI, 30 MOSEI
    heads: int = 10                       # attention heads of every transformer; must divide d
    nlevels: int = 4                      # layers of each self-/cross-modal transformer (memory ones: max(nlevels, 3))
    kernel_l: int = 5                     # temporal conv kernel k_L (no padding: T' = T - k + 1)
    kernel_v: int = 5                     # temporal conv kernel k_V (MOSEI official 3)
    kernel_a: int = 5                     # temporal conv kernel k_A (MOSEI official 1)
    attn_dropout: float = 0.3             # attention-weight dropout of L-keyed, self-attention-L and memory transformers
    attn_dropout_v: float = 0.0           # attention-weight dropout of V-keyed and self-attention-V transformers
    attn_dropout_a: float = 0.2           # attention-weight dropout of A-keyed and self-attention-A transformers
    relu_dropout: float = 0.0             # dropout after the ReLU of each transformer feed-forward block
    res_dropout: float = 0.0              # dropout on each transformer sub-layer output before the residual add
    embed_dropout: float = 0.2            # dropout on transformer inputs after scaling and position embedding
    output_dropout: float = 0.5           # dropout inside every residual head
    text_dropout: float = 0.5             # dropout on the text features before the temporal conv
    causal_mask: bool = True              # official attn_mask=true: future mask (offset 1 + |Tk - Tq|) in every layer
    padding_masks: bool = False           # mask padded keys and read the last valid step (from lengths); official: off
    text_encoder: str | None = None       # BERT-family model (local path or cached name) fed `text_bert`; None: features
    finetune_text: bool = True            # train the text encoder with the rest (official); False freezes it
    decoupling: bool = True               # feature decoupling (shared/private encoders, decoders); off: w/o FD
    homo_branch: bool = True              # homogeneous branch (homo heads, self-attention fusion, logit_c, c gate)
    hetero_heads: bool = True             # per-modality residual heads on h_m (hetero logits/reprs); off in pure MulT
    cross_attention: bool = True          # cross-modal attention in HeteroGD; off (w/o CA): each attends to itself
    unimodal: str | None = None           # 'l' | 'v' | 'a': a one-modality model (conv + self-attention + head)
    reference: bool = False               # plain MulT transformers (model/reference.py); off: the fast stacks, same maths

    def __post_init__(self) -> None:
        c = "ArchConfig"
        for name in ("d", "heads", "nlevels", "kernel_l", "kernel_v", "kernel_a"):
            _check_positive_int(c, name, getattr(self, name))
        if self.d % self.heads:
            _fail(c, "heads", f"divide d={self.d}", self.heads)
        for name in ("attn_dropout", "attn_dropout_v", "attn_dropout_a", "relu_dropout", "res_dropout",
                     "embed_dropout", "output_dropout", "text_dropout"):
            _check_probability(c, name, getattr(self, name))
        for name in ("causal_mask", "padding_masks", "finetune_text", "decoupling", "homo_branch",
                     "hetero_heads", "cross_attention", "reference"):
            _check_bool(c, name, getattr(self, name))
        if self.text_encoder is not None and (not isinstance(self.text_encoder, str) or not self.text_encoder):
            _fail(c, "text_encoder", "be None or a non-empty path", self.text_encoder)
        if self.unimodal is not None:
            _check_choice(c, "unimodal", self.unimodal, MODALITIES)

    @property
    def kernels(self) -> dict[str, int]:
        """Temporal conv kernel per modality, keyed 'l', 'v', 'a'."""
        return {"l": self.kernel_l, "v": self.kernel_v, "a": self.kernel_a}

    @property
    def text_input(self) -> str:
        """The text input this model reads: 'bert' (``text_bert`` token ids) with a text encoder, else 'features'."""
        return "bert" if self.text_encoder else "features"

    @property
    def mem_layers(self) -> int:
        """Layers of the memory transformers (official get_network: max(nlevels, 3))."""
        return max(self.nlevels, 3)

    def attn_dropout_for(self, modality: str) -> float:
        """Attention dropout of a transformer whose keys come from `modality` (MulT convention)."""
        return {"l": self.attn_dropout, "v": self.attn_dropout_v, "a": self.attn_dropout_a}[modality]


@dataclass(frozen=True)
class LossConfig:
    """Loss terms and weights (paper §3, official code's weights). Defaults are the official ones.

    total = task + w_homo_gd·(logit_homo + reg_homo [+ repr_homo]) + w_hetero_gd·(logit_hetero
    + repr_hetero + reg_hetero) + w_decoupling·(cycle + recon + w_align·(margin + ort)).
    """

    auxiliary_task: bool = True           # task L1 on all 8 predictions (final, 3 homo, 3 hetero, logit_c); off: final only
    w_homo_gd: float = 0.05               # weight of the HomoGD losses
    w_hetero_gd: float = 0.05             # weight of the HeteroGD losses
    w_decoupling: float = 0.1             # weight of cycle + reconstruction (+ the aligned terms)
    w_align: float = 0.1                  # weight of margin + orthogonality inside the decoupling term
    homo_repr_loss: bool = False          # add repr_homo to the HomoGD loss (the official code leaves it out)
    ort_axis: str = "batch"               # cosine axis of the orthogonality loss: 'batch' (official legacy) | 'feature'
    margin_mode: str = "label_gap"        # 'label_gap': margin · |y_anchor - y_negative| (official) | 'constant'
    margin: float = 0.15                  # margin value (official 0.15 × label gap; the supplementary's α = 0.1)

    def __post_init__(self) -> None:
        c = "LossConfig"
        _check_bool(c, "auxiliary_task", self.auxiliary_task)
        _check_bool(c, "homo_repr_loss", self.homo_repr_loss)
        for name in ("w_homo_gd", "w_hetero_gd", "w_decoupling", "w_align", "margin"):
            _check_non_negative(c, name, getattr(self, name))
        _check_choice(c, "ort_axis", self.ort_axis, ("batch", "feature"))
        _check_choice(c, "margin_mode", self.margin_mode, ("label_gap", "constant"))


@dataclass(frozen=True)
class GDConfig:
    """The two graph-distillation units (paper §3). Defaults are the official run.py values."""

    homo: bool = True                     # HomoGD unit and its losses (off: w/o HomoGD)
    hetero: bool = True                   # HeteroGD unit and its losses (off: w/o HeteroGD)
    homo_hidden: int = 64                 # node-embedding size g of the homo unit (supplementary says 32)
    hetero_hidden: int = 32               # node-embedding size g of the hetero unit
    alpha: float = 0.125                  # edge logits are multiplied by α before the softmax
    edge_norm: str = "joint"              # softmax over all six edges ('joint', official) | over each target's sources
    prior_homo: tuple[float, ...] = _PRIOR_HOMO      # prior logits p per edge (EDGES order), homo unit
    prior_hetero: tuple[float, ...] = _PRIOR_HETERO  # prior logits p per edge (EDGES order), hetero unit
    prior_temperature: float = 0.25       # prior = softmax(p / temperature)
    homo_repr_metric: str = "l1"          # HomoGD repr distance: 'l1' per sample (official code) | 'cosine' (spec text)
    hetero_repr_metric: str = "cosine"    # HeteroGD repr distance: 'cosine' (official) | 'l1'
    repr_weighting: str = "batch_mean"    # cosine repr loss weights: batch mean of w (official) | 'per_sample'
    reg_weight: float = 10.0              # weight of the edge-to-prior regulariser
    logit_weight: float = 1.0             # w_losses[0]: weight of the logit distillation loss
    repr_weight: float = 10.0             # w_losses[1]: weight of the representation distillation loss

    def __post_init__(self) -> None:
        c = "GDConfig"
        _check_bool(c, "homo", self.homo)
        _check_bool(c, "hetero", self.hetero)
        _check_positive_int(c, "homo_hidden", self.homo_hidden)
        _check_positive_int(c, "hetero_hidden", self.hetero_hidden)
        for name in ("alpha", "reg_weight", "logit_weight", "repr_weight"):
            _check_non_negative(c, name, getattr(self, name))
        if not self.prior_temperature > 0:
            _fail(c, "prior_temperature", "be > 0", self.prior_temperature)
        _check_choice(c, "edge_norm", self.edge_norm, ("joint", "per_target"))
        _check_choice(c, "repr_weighting", self.repr_weighting, ("batch_mean", "per_sample"))
        _check_choice(c, "homo_repr_metric", self.homo_repr_metric, ("l1", "cosine"))
        _check_choice(c, "hetero_repr_metric", self.hetero_repr_metric, ("l1", "cosine"))
        for name in ("prior_homo", "prior_hetero"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or len(value) != 6 or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
                _fail(c, name, "be a tuple of 6 finite numbers (one per edge, EDGES order)", value)


_PRESETS: dict[str, dict[str, Any]] = {
    # the official config.json → dmd → mosi / mosei
    "mosi": dict(d=50, heads=10, nlevels=4, kernel_l=5, kernel_v=5, kernel_a=5,
                 attn_dropout=0.3, attn_dropout_a=0.2, attn_dropout_v=0.0, relu_dropout=0.0,
                 embed_dropout=0.2, res_dropout=0.0, output_dropout=0.5, text_dropout=0.5),
    "mosei": dict(d=30, heads=6, nlevels=4, kernel_l=5, kernel_v=3, kernel_a=1,
                  attn_dropout=0.4, attn_dropout_a=0.0, attn_dropout_v=0.0, relu_dropout=0.0,
                  embed_dropout=0.0, res_dropout=0.0, output_dropout=0.5, text_dropout=0.3),
}


@dataclass(frozen=True)
class DMDConfig:
    """The whole model: architecture, losses, GD-units, and the variant name it came from."""

    arch: ArchConfig = field(default_factory=ArchConfig)   # architecture and structural switches
    loss: LossConfig = field(default_factory=LossConfig)   # loss terms and weights
    gd: GDConfig = field(default_factory=GDConfig)         # the two GD-units
    variant: str = "dmd"                                   # registered variant name (dmdlab.model.variants)

    def __post_init__(self) -> None:
        for name, cls in (("arch", ArchConfig), ("loss", LossConfig), ("gd", GDConfig)):
            if not isinstance(getattr(self, name), cls):
                _fail("DMDConfig", name, f"be a {cls.__name__}", getattr(self, name))
        if not isinstance(self.variant, str) or not self.variant:
            _fail("DMDConfig", "variant", "be a non-empty str", self.variant)
        if self.gd.homo and not self.arch.homo_branch:
            _fail("DMDConfig", "gd.homo", "be False when arch.homo_branch is False (no homo logits to distil)",
                  self.gd.homo)
        if self.gd.hetero and not self.arch.hetero_heads:
            _fail("DMDConfig", "gd.hetero", "be False when arch.hetero_heads is False (no hetero logits to distil)",
                  self.gd.hetero)
        if self.arch.unimodal is not None and (self.gd.homo or self.gd.hetero):
            _fail("DMDConfig", "gd", "switch both units off for a unimodal model", (self.gd.homo, self.gd.hetero))

    @classmethod
    def preset(cls, name: str) -> "DMDConfig":
        """Official hyper-parameters for 'mosi' or 'mosei' (the official configuration).

        The official code uses the same settings for aligned and unaligned data (it ignores
        padding), so a preset does not depend on the alignment; switch ``padding_masks`` on
        explicitly to mask padding.
        """
        if name not in _PRESETS:
            raise ValueError(f"The 'name' parameter of DMDConfig.preset must be one of {tuple(_PRESETS)}. Got {name!r}.")
        return cls(arch=ArchConfig(**_PRESETS[name]))

    def replace(self, *, arch: dict | None = None, loss: dict | None = None, gd: dict | None = None,
                **top: Any) -> "DMDConfig":
        """A copy with fields changed per part: ``cfg.replace(arch={"d": 8}, gd={"homo": False})``."""
        return dataclasses.replace(
            self,
            arch=dataclasses.replace(self.arch, **(arch or {})),
            loss=dataclasses.replace(self.loss, **(loss or {})),
            gd=dataclasses.replace(self.gd, **(gd or {})),
            **top,
        )

    def to_dict(self) -> dict:
        """Plain, JSON-able dict (tuples become lists)."""
        return {
            "arch": dataclasses.asdict(self.arch),
            "loss": dataclasses.asdict(self.loss),
            "gd": {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self.gd).items()},
            "variant": self.variant,
        }

    @classmethod
    def from_dict(cls, values: dict) -> "DMDConfig":
        """Inverse of ``to_dict``; unknown keys raise a TypeError naming them."""
        gd = {k: tuple(v) if k in ("prior_homo", "prior_hetero") else v for k, v in values.get("gd", {}).items()}
        return cls(arch=ArchConfig(**values.get("arch", {})), loss=LossConfig(**values.get("loss", {})),
                   gd=GDConfig(**gd), variant=values.get("variant", "dmd"))


# --------------------------------------------------------------------------- --set overrides


def _coerce(text: str, current):
    """``text`` parsed to the type of the field's ``current`` value."""
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return None
    if isinstance(current, bool):
        if lowered not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            raise ValueError(f"expected true or false, got {text!r}")
        return lowered in ("true", "1", "yes", "on")
    if isinstance(current, int):
        return int(text)
    if isinstance(current, float):
        return float(text)
    if isinstance(current, tuple):
        return tuple(float(item) for item in text.split(","))
    return text


def apply_overrides(config, assignments):
    """``config`` (a nested frozen dataclass) with dotted ``key=value`` assignments applied.

    ``apply_overrides(DMDConfig(), ["arch.d=8", "arch.heads=2"])``; values take the type of
    the field they replace (``none`` for None, commas for tuples). All assignments are
    applied together, so fields validated against each other (d and heads) can change at once.
    """
    changes: dict = {}
    for assignment in assignments or ():
        if "=" not in assignment:
            raise ValueError(f"--set expects KEY=VALUE (e.g. arch.d=8). Got {assignment!r}.")
        key, value = assignment.split("=", 1)
        node, path = changes, key.strip().split(".")
        for name in path[:-1]:
            node = node.setdefault(name, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {key}: {name!r} is set both as a value and as a group.")
        node[path[-1]] = value
    return _replace_nested(config, changes, prefix="") if changes else config


def _replace_nested(node, changes: dict, prefix: str):
    names = {field.name for field in dataclasses.fields(node)}
    updates = {}
    for name, value in changes.items():
        key = f"{prefix}{name}"
        if name not in names:
            raise ValueError(f"--set {key}: {type(node).__name__} has no field {name!r} "
                             f"(fields: {', '.join(sorted(names))}).")
        current = getattr(node, name)
        if isinstance(value, dict):
            if not dataclasses.is_dataclass(current):
                raise ValueError(f"--set {key}: {name!r} is not a group of fields.")
            updates[name] = _replace_nested(current, value, prefix=f"{key}.")
        else:
            try:
                updates[name] = _coerce(value, current)
            except ValueError as error:
                raise ValueError(f"--set {key}: {error}") from None
    return dataclasses.replace(node, **updates)
