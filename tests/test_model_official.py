"""The official checkpoint loader: strict name and shape checks (no ../shared needed)."""

from __future__ import annotations

import pytest
import torch

from dmdlab.data.spec import DataSpec
from dmdlab.model import DMD, DMDConfig, load_official_state_dicts, official_names, to_official_state_dicts

SPEC = DataSpec(text_dim=12, audio_dim=5, vision_dim=7, text_len=8, audio_len=8, vision_len=8, aligned=True)


def tiny(**gd) -> DMD:
    config = DMDConfig.preset("mosi").replace(arch=dict(d=8, heads=2, nlevels=2), gd=gd)
    return DMD(config, SPEC)


def test_names_follow_the_official_model():
    names = official_names(tiny())
    dmd = names["dmd"]
    assert dmd["proj_l.weight"] == ("temporal.l.conv.weight", None)
    assert dmd["encoder_c.weight"] == ("decoupling.shared.weight", None)
    assert dmd["encoder_s_v.weight"] == ("decoupling.private.v.weight", None)
    assert dmd["proj_cosine_a.bias"] == ("decoupling.private_proj.a.bias", None)
    assert dmd["align_c_l.weight"] == ("decoupling.align.l.weight", None)
    # the twelve transformers are three stacks; the index is the member
    assert dmd["self_attentions_c_v.layers.1.self_attn.in_proj_weight"] == ("homo.self_attention.layers.1.in_proj_weight", 1)
    assert dmd["self_attentions_c_a.layer_norm.bias"] == ("homo.self_attention.norm_bias", 2)
    assert dmd["trans_l_with_a.layers.0.fc1.weight"] == ("hetero.cross.layers.0.fc1_weight", 0)
    assert dmd["trans_l_with_v.layers.0.self_attn.out_proj.bias"] == ("hetero.cross.layers.0.out_proj_bias", 1)
    assert dmd["trans_a_with_v.layers.1.fc2.bias"] == ("hetero.cross.layers.1.fc2_bias", 5)
    assert dmd["trans_v_mem.layers.2.layer_norms.1.bias"] == ("hetero.memory.layers.2.norm1_bias", 1)
    assert dmd["proj1_l_low.weight"] == ("homo.heads.l.proj1.weight", None)
    assert dmd["out_layer_a_high.bias"] == ("hetero.heads.a.out.bias", None)
    assert dmd["weight_c.weight"] == ("fusion.gate_c.weight", None)
    assert dmd["out_layer.weight"] == ("fusion.head.out.weight", None)
    assert len(dmd) == 450 - 24  # the official tiny DMD state dict: 450 entries, 24 of them information-free buffers
    assert set(names["gd_homo"]) == {"W_logit.weight", "W_logit.bias", "W_repr.weight", "W_repr.bias",
                                     "W_edge.weight", "W_edge.bias"}


def test_round_trip_and_ignored_buffers():
    torch.manual_seed(0)
    source, target = tiny(), tiny()
    official = to_official_state_dicts(source)
    official["dmd"]["trans_l_mem.version"] = torch.tensor([2.0])  # information-free official buffers
    official["dmd"]["trans_l_mem.embed_positions._float_tensor"] = torch.zeros(1)
    load_official_state_dicts(target, official["dmd"], official["gd_homo"], official["gd_hetero"])
    for (name, a), b in zip(source.state_dict().items(), target.state_dict().values()):
        assert a.equal(b), name


def test_strict_errors_name_the_key():
    model = tiny()
    official = to_official_state_dicts(model)
    extra = dict(official["dmd"], **{"projector_l.weight": torch.zeros(1)})
    with pytest.raises(KeyError, match="Unknown key .*'projector_l.weight'"):
        load_official_state_dicts(model, extra)
    missing = dict(official["dmd"])
    del missing["encoder_c.weight"]
    with pytest.raises(KeyError, match="Missing key .*'encoder_c.weight' .*decoupling.shared.weight"):
        load_official_state_dicts(model, missing)
    wrong = dict(official["dmd"], **{"proj_v.weight": torch.zeros(8, 7, 3)})
    with pytest.raises(ValueError, match=r"Shape mismatch for official DMD key 'proj_v.weight'.*\(8, 7, 3\)"):
        load_official_state_dicts(model, wrong)
    missing_member = dict(official["dmd"])
    del missing_member["trans_v_with_a.layers.1.fc1.bias"]
    with pytest.raises(KeyError, match="'trans_v_with_a.layers.1.fc1.bias' .*hetero.cross.layers.1.fc1_bias', member 3"):
        load_official_state_dicts(model, missing_member)
    gd = dict(official["gd_homo"])
    del gd["W_edge.bias"]
    with pytest.raises(KeyError, match="Missing key in the official gd_homo state dict: 'W_edge.bias'"):
        load_official_state_dicts(model, official["dmd"], gd)
    with pytest.raises(ValueError, match="no gd_homo unit"):
        load_official_state_dicts(tiny(homo=False), official["dmd"], official["gd_homo"])
