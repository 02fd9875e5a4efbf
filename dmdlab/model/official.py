"""Load state dicts saved by the official DMD code (github.com/mdswyz/DMD) into ``DMD``.

The official model is flat (``proj_l``, ``encoder_s_l``, ``trans_l_with_a`` ...); dmdlab's is
grouped by stage, and its twelve transformers are three stacks with a leading member axis.
``official_names(model)`` gives the official name of every dmdlab entry;
``load_official_state_dicts`` checks the official dicts against it strictly (unknown keys,
missing keys and shape mismatches are errors that name the key) and loads them.

The official transformers carry two buffers that hold no information and are skipped:
``*.version`` and ``*.embed_positions._float_tensor`` (used only for its dtype).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from torch import Tensor

from dmdlab.model.dmd import DMD
from dmdlab.model.stacks import LAYER_NAMES

__all__ = ["official_names", "load_official_state_dicts", "to_official_state_dicts"]

_IGNORED = re.compile(r"(^|\.)(version|embed_positions\._float_tensor)$")

# dmdlab prefix pattern → official prefix (first match wins); {m} is a modality.
_RULES: tuple[tuple[str, str], ...] = (
    (r"^text_encoder\.", "text_model."),
    (r"^temporal\.(?P<m>[lva])\.conv\.", "proj_{m}."),
    (r"^decoupling\.shared\.", "encoder_c."),
    (r"^decoupling\.private\.(?P<m>[lva])\.", "encoder_s_{m}."),
    (r"^decoupling\.decoders\.(?P<m>[lva])\.", "decoder_{m}."),
    (r"^decoupling\.align\.(?P<m>[lva])\.", "align_c_{m}."),
    (r"^decoupling\.private_proj\.(?P<m>[lva])\.", "proj_cosine_{m}."),
    (r"^homo\.heads\.(?P<m>[lva])\.proj1\.", "proj1_{m}_low."),
    (r"^homo\.heads\.(?P<m>[lva])\.proj2\.", "proj2_{m}_low."),
    (r"^homo\.heads\.(?P<m>[lva])\.out\.", "out_layer_{m}_low."),
    (r"^homo\.fusion_head\.proj1\.", "proj1_c."),
    (r"^homo\.fusion_head\.proj2\.", "proj2_c."),
    (r"^homo\.fusion_head\.out\.", "out_layer_c."),
    (r"^hetero\.heads\.(?P<m>[lva])\.proj1\.", "proj1_{m}_high."),
    (r"^hetero\.heads\.(?P<m>[lva])\.proj2\.", "proj2_{m}_high."),
    (r"^hetero\.heads\.(?P<m>[lva])\.out\.", "out_layer_{m}_high."),
    (r"^fusion\.gates\.(?P<m>[lva])\.", "weight_{m}."),
    (r"^fusion\.gate_c\.", "weight_c."),
    (r"^fusion\.head\.proj1\.", "proj1."),
    (r"^fusion\.head\.proj2\.", "proj2."),
    (r"^fusion\.head\.out\.", "out_layer."),
)
_COMPILED = tuple((re.compile(pattern), template) for pattern, template in _RULES)

# Transformer stacks: one dmdlab parameter (leading member axis) ↔ one official encoder per member,
# named from the member's name ("l"; "a->l" for L attending to A).
_STACKS = {
    "homo.self_attention": lambda m: f"self_attentions_c_{m}",
    "hetero.cross": lambda pair: "trans_{1}_with_{0}".format(*pair.split("->")),
    "hetero.memory": lambda m: f"trans_{m}_mem",
}
_STACK_ENTRY = re.compile(r"^(?P<stack>homo\.self_attention|hetero\.cross|hetero\.memory)\."
                          r"(?:layers\.(?P<layer>\d+)\.(?P<param>\w+)|norm_(?P<final>weight|bias))$")
# the reference stacks (``ArchConfig.reference``) hold one encoder per member under the official names
_REFERENCE_ENTRY = re.compile(r"^(?P<stack>homo\.self_attention|hetero\.cross|hetero\.memory)\."
                              r"encoders\.(?P<member>[^.]+)\.(?P<rest>.+)$")

Target = tuple[str, int | None]
"""A dmdlab state-dict entry and, for a transformer stack, the member index in it."""


def _official(model: DMD, name: str) -> list[tuple[str, int | None]]:
    """Official name(s) of a dmdlab state-dict entry, with the member index for stacked ones."""
    match = _STACK_ENTRY.match(name)
    if match:
        if match["final"]:
            suffix = f"layer_norm.{match['final']}"
        else:
            suffix = f"layers.{match['layer']}.{LAYER_NAMES[match['param']]}"
        official = _STACKS[match["stack"]]
        return [(f"{official(member)}.{suffix}", i)
                for i, member in enumerate(model.get_submodule(match["stack"]).names)]
    match = _REFERENCE_ENTRY.match(name)
    if match:
        return [(f"{_STACKS[match['stack']](match['member'])}.{match['rest']}", None)]
    for pattern, template in _COMPILED:
        match = pattern.match(name)
        if match:
            return [(template.format(**match.groupdict()) + name[match.end():], None)]
    raise KeyError(f"dmdlab entry {name!r} has no counterpart in the official DMD model.")


def official_names(model: DMD) -> dict[str, dict[str, Target]]:
    """{"dmd" | "gd_homo" | "gd_hetero": {official name: (dmdlab name, member index or None)}}.

    The twelve official transformers are three dmdlab stacks: official
    ``trans_l_with_a.layers.0.fc1.weight`` is member 0 of ``hetero.cross.layers.0.fc1_weight``.
    """
    if model.config.arch.unimodal is not None:
        raise ValueError("Official checkpoints hold the full DMD model; a unimodal variant has no counterpart. "
                         f"Got unimodal={model.config.arch.unimodal!r}.")
    names: dict[str, dict[str, Target]] = {"dmd": {}, "gd_homo": {}, "gd_hetero": {}}
    for name in model.state_dict():
        unit = name.split(".", 1)[0]
        if unit in ("gd_homo", "gd_hetero"):
            names[unit][name.split(".", 1)[1]] = (name, None)
        else:
            for official, index in _official(model, name):
                names["dmd"][official] = (name, index)
    return names


def _translate(part: str, state: Mapping[str, Tensor], names: dict[str, Target],
               new_state: dict[str, Tensor]) -> None:
    unknown = [k for k in state if k not in names and not _IGNORED.search(k)]
    if unknown:
        raise KeyError(f"Unknown key in the official {part} state dict (no dmdlab counterpart for this "
                       f"configuration): {unknown[0]!r}" + (f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""))
    missing = [k for k in names if k not in state]
    if missing:
        ours, index = names[missing[0]]
        raise KeyError(f"Missing key in the official {part} state dict: {missing[0]!r} (dmdlab {ours!r}"
                       + (f", member {index})" if index is not None else ")")
                       + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    for official, (ours, index) in names.items():
        value = state[official]
        expected = new_state[ours] if index is None else new_state[ours][index]
        if tuple(value.shape) != tuple(expected.shape):
            raise ValueError(f"Shape mismatch for official {part} key {official!r} (dmdlab {ours!r}): "
                             f"checkpoint {tuple(value.shape)}, model {tuple(expected.shape)}.")
        if index is None:
            new_state[ours] = value
        else:
            new_state[ours][index] = value                                                 # a clone of the model's


def load_official_state_dicts(model: DMD, dmd_state: Mapping[str, Tensor],
                              gd_homo_state: Mapping[str, Tensor] | None = None,
                              gd_hetero_state: Mapping[str, Tensor] | None = None) -> DMD:
    """Load the official DMD state dict (and, when given, its homo / hetero GD-units) into ``model``.

    Strict: every official entry must map to a dmdlab one of the same shape and vice versa;
    GD-units not given keep their current weights. Returns the model.
    """
    names = official_names(model)
    new_state = {name: value.detach().clone() for name, value in model.state_dict().items()}
    _translate("DMD", dmd_state, names["dmd"], new_state)
    for part, state in (("gd_homo", gd_homo_state), ("gd_hetero", gd_hetero_state)):
        if state is None:
            continue
        if not names[part]:
            raise ValueError(f"The model has no {part} unit (switched off in its GDConfig), but a {part} state "
                             "dict was given.")
        _translate(part, state, names[part], new_state)
    model.load_state_dict(new_state, strict=True)
    return model


def to_official_state_dicts(model: DMD) -> dict[str, dict[str, Tensor]]:
    """The inverse mapping: {"dmd", "gd_homo", "gd_hetero"} state dicts under official names
    (without the two information-free buffers)."""
    state = model.state_dict()
    return {part: {official: state[ours] if index is None else state[ours][index]
                   for official, (ours, index) in mapping.items()}
            for part, mapping in official_names(model).items()}
