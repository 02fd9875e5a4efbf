"""Model configuration: presets, validation messages, dict round trip."""

from __future__ import annotations

import dataclasses
import json

import pytest

from dmdlab.model import VARIANTS, ArchConfig, DMDConfig, GDConfig, LossConfig, get_variant


def test_presets_hold_the_official_hyper_parameters():
    mosi, mosei = DMDConfig.preset("mosi"), DMDConfig.preset("mosei")
    assert (mosi.arch.d, mosi.arch.heads, mosi.arch.nlevels) == (50, 10, 4)
    assert mosi.arch.kernels == {"l": 5, "v": 5, "a": 5}
    assert (mosi.arch.attn_dropout, mosi.arch.attn_dropout_a, mosi.arch.attn_dropout_v) == (0.3, 0.2, 0.0)
    assert (mosi.arch.embed_dropout, mosi.arch.output_dropout, mosi.arch.text_dropout) == (0.2, 0.5, 0.5)
    assert (mosei.arch.d, mosei.arch.heads) == (30, 6)
    assert mosei.arch.kernels == {"l": 5, "v": 3, "a": 1}  # official config (the supplementary says 5, 3, 3)
    assert (mosei.arch.attn_dropout, mosei.arch.embed_dropout, mosei.arch.text_dropout) == (0.4, 0.0, 0.3)
    for config in (mosi, mosei):
        assert config.arch.causal_mask and not config.arch.padding_masks and config.arch.mem_layers == 4
        assert (config.gd.homo_hidden, config.gd.hetero_hidden, config.gd.alpha) == (64, 32, 0.125)
        assert (config.gd.reg_weight, config.gd.logit_weight, config.gd.repr_weight) == (10.0, 1.0, 10.0)
        assert (config.loss.w_homo_gd, config.loss.w_decoupling, config.loss.w_align) == (0.05, 0.1, 0.1)
        assert config.loss.ort_axis == "batch" and not config.loss.homo_repr_loss


@pytest.mark.parametrize("make, message", [
    (lambda: ArchConfig(heads=7), "The 'heads' parameter of ArchConfig must divide d=50. Got 7."),
    (lambda: ArchConfig(d=0), "The 'd' parameter of ArchConfig must be a positive int. Got 0."),
    (lambda: ArchConfig(attn_dropout=1.0), "The 'attn_dropout' parameter of ArchConfig must be a float in [0, 1). Got 1.0."),
    (lambda: ArchConfig(unimodal="x"), "The 'unimodal' parameter of ArchConfig must be one of ('l', 'v', 'a'). Got 'x'."),
    (lambda: LossConfig(ort_axis="time"), "The 'ort_axis' parameter of LossConfig must be one of ('batch', 'feature'). Got 'time'."),
    (lambda: LossConfig(margin=-1), "The 'margin' parameter of LossConfig must be a non-negative number. Got -1."),
    (lambda: GDConfig(edge_norm="rows"), "The 'edge_norm' parameter of GDConfig must be one of ('joint', 'per_target'). Got 'rows'."),
    (lambda: GDConfig(prior_homo=(1.0, 2.0)), "The 'prior_homo' parameter of GDConfig must be a tuple of 6 finite numbers"),
    (lambda: GDConfig(homo_hidden=0), "The 'homo_hidden' parameter of GDConfig must be a positive int. Got 0."),
    (lambda: DMDConfig.preset("iemocap"), "The 'name' parameter of DMDConfig.preset must be one of ('mosi', 'mosei')"),
    (lambda: DMDConfig().replace(arch={"homo_branch": False}), "The 'gd.homo' parameter of DMDConfig must be False"),
    (lambda: get_variant("wo_everything"), "The 'name' parameter of get_variant must be one of"),
])
def test_invalid_values_are_named_in_the_error(make, message):
    with pytest.raises(ValueError) as error:
        make()
    assert str(error.value).startswith(message)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_dict_round_trip_is_json(name):
    config = get_variant(name, DMDConfig.preset("mosei"))
    values = json.loads(json.dumps(config.to_dict()))
    assert DMDConfig.from_dict(values) == config
    assert config.variant == name


def test_configs_are_frozen_and_replace_per_part():
    config = DMDConfig.preset("mosi")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.arch.d = 8  # type: ignore[misc]
    small = config.replace(arch={"d": 8, "heads": 2}, gd={"edge_norm": "per_target"}, loss={"margin": 0.1})
    assert (small.arch.d, small.gd.edge_norm, small.loss.margin) == (8, "per_target", 0.1)
    assert small.arch.nlevels == config.arch.nlevels and config.arch.d == 50
    with pytest.raises(TypeError):
        DMDConfig.from_dict({"arch": {"width": 3}})


def test_a_config_saved_before_a_field_existed_is_still_the_same_run():
    """Runs saved before ``arch.reference`` existed are still the same run (reused, resumed)."""
    from dmdlab.runs import compare_run

    config = DMDConfig.preset("mosi")
    saved = config.to_dict()
    del saved["arch"]["reference"]

    def same(model_saved):
        return compare_run("run", {"model": model_saved}, model=config.to_dict()).same

    assert same(saved) and same(json.loads(json.dumps(config.to_dict())))
    assert not compare_run("run", {"model": saved}, model=config.replace(arch={"reference": True}).to_dict()).same
    assert not same({})
    assert not same({**saved, "arch": {**saved["arch"], "nope": 1}})      # a field this version lacks
    assert not same({**saved, "arch": {**saved["arch"], "d": 7}})         # another width
