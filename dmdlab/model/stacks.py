"""The one switch between the two transformer stacks, and the map between their weights.

``build_stack(arch, ...)`` is where every model builds its transformers: the plain
``reference.ReferenceStack`` (one MulT encoder per member, standard dropout) when
``arch.reference`` is set, else the fast ``transformer.TransformerStack`` (members stacked,
LayerNorm affines folded, its own dropout sampler). The two compute the same function.

Their weights are the same numbers under other names: member g of the fast parameter
``layers.0.fc1_weight`` (G, 4E, E) is ``encoders.<name g>.layers.0.fc1.weight`` of the
reference, the official encoder's name (``LAYER_NAMES``). ``convert_state_dict`` renames a
model's state dict from one kind to the other.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from dmdlab.model.config import ArchConfig
from dmdlab.model.reference import ReferenceStack
from dmdlab.model.transformer import TransformerStack

__all__ = ["build_stack", "convert_state_dict", "LAYER_NAMES"]

LAYER_NAMES: dict[str, str] = {
    "in_proj_weight": "self_attn.in_proj_weight", "in_proj_bias": "self_attn.in_proj_bias",
    "out_proj_weight": "self_attn.out_proj.weight", "out_proj_bias": "self_attn.out_proj.bias",
    "fc1_weight": "fc1.weight", "fc1_bias": "fc1.bias", "fc2_weight": "fc2.weight", "fc2_bias": "fc2.bias",
    "norm0_weight": "layer_norms.0.weight", "norm0_bias": "layer_norms.0.bias",
    "norm1_weight": "layer_norms.1.weight", "norm1_bias": "layer_norms.1.bias",
}
"""A fast layer's parameter → the same parameter of a reference (and an official) layer."""

FINAL_NAMES: dict[str, str] = {"norm_weight": "layer_norm.weight", "norm_bias": "layer_norm.bias"}
"""The fast stack's final LayerNorm → the reference (and official) encoder's."""


def build_stack(arch: ArchConfig, attn_dropout: Mapping[str, float], dim: int, layers: int,
                ) -> TransformerStack | ReferenceStack:
    """The transformers named in ``attn_dropout`` (name → attention dropout rate): the
    reference stack when ``arch.reference``, else the fast one (same interface, same numbers)."""
    stack = ReferenceStack if arch.reference else TransformerStack
    return stack.from_arch(arch, attn_dropout, dim, layers)


def _entries(stack: TransformerStack | ReferenceStack, prefix: str) -> list[tuple[str, list[str]]]:
    """(fast entry, [the reference entry of each member]) for every weight of ``stack``."""
    first = stack.names[0]
    layers = len(stack.layers) if isinstance(stack, TransformerStack) else len(stack.encoders[first].layers)
    names = [(f"layers.{n}.{fast}", f"layers.{n}.{plain}") for n in range(layers) for fast, plain in LAYER_NAMES.items()]
    names += list(FINAL_NAMES.items())
    return [(prefix + fast, [f"{prefix}encoders.{member}.{plain}" for member in stack.names]) for fast, plain in names]


def convert_state_dict(state: Mapping[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
    """``state``, saved from a model with the other kind of stacks, renamed for ``model``:
    ``model.load_state_dict(convert_state_dict(other.state_dict(), model))``. Entries
    already in ``model``'s form, and every entry outside the stacks, are kept as they are."""
    converted = dict(state)
    for prefix, module in model.named_modules():
        if not isinstance(module, (TransformerStack, ReferenceStack)):
            continue
        for fast, members in _entries(module, f"{prefix}." if prefix else ""):
            if isinstance(module, ReferenceStack) and fast in state:                  # fast → reference
                for g, key in enumerate(members):
                    converted[key] = state[fast][g]
                del converted[fast]
            elif isinstance(module, TransformerStack) and members[0] in state:         # reference → fast
                converted[fast] = torch.stack([state[key] for key in members])
                for key in members:
                    del converted[key]
    return converted
