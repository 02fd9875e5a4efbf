"""Contract tests: every preset and every registered variant builds, runs forward and backward
at tiny sizes (on $DMDLAB_TEST_DEVICE, default cpu), returns documented shapes and finite values, and every parameter that
should learn gets a gradient."""

from __future__ import annotations

import pytest
import torch

from dmdlab.data.spec import DataSpec
from dmdlab.modalities import EDGE_LABELS, MODALITIES
from dmdlab.model import DMD, VARIANTS, DMDConfig, DMDOutput, LossBreakdown, UnimodalModel, build_model, get_variant
from dmdlab.model.baselines import BASELINE_MODELS

B, D = 4, 8
ALIGNED = DataSpec(text_dim=12, audio_dim=5, vision_dim=7, text_len=8, audio_len=8, vision_len=8, aligned=True)
UNALIGNED = DataSpec(text_dim=12, audio_dim=5, vision_dim=7, text_len=8, audio_len=12, vision_len=10, aligned=False)

# Parameters that get no gradient by design (DMD_SPEC §2, official README "Unused parameters"):
#   decoupling.private_proj.*  the official proj_cosine_* layers: their output feeds no loss;
#   gd_*.W_edge.bias           shifts all six edge logits of a sample equally: the joint softmax
#                              cancels it (per-target softmax: each target's pair), gradient ≈ 0.
NO_GRADIENT = ("decoupling.private_proj.",)
DMD_FAMILY = [name for name in VARIANTS if name not in BASELINE_MODELS]   # the baselines: tests/test_baselines.py
ZERO_GRADIENT = ("W_edge.bias",)


def tiny(name: str = "dmd", preset: str = "mosi", **arch) -> DMDConfig:
    base = DMDConfig.preset(preset).replace(arch=dict(d=D, heads=2, nlevels=1, kernel_l=3, kernel_v=3, kernel_a=3, **arch))
    return get_variant(name, base)


def inputs(spec: DataSpec, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    text = torch.randn(B, spec.text_len, spec.text_dim, generator=g)
    vision = torch.randn(B, spec.vision_len, spec.vision_dim, generator=g)
    audio = torch.randn(B, spec.audio_len, spec.audio_dim, generator=g)
    labels = torch.tensor([2.5, 3.0, 2.5, 2.8])  # far above the initial predictions: L1 signs agree
    return text, vision, audio, labels


def check_shapes(model: DMD, out: DMDOutput, spec: DataSpec) -> None:
    config = model.config
    t = {m: spec.lengths[m] - model.kernels[m] + 1 for m in model.kernels}
    assert out.prediction.shape == (B, 1)
    for m, x in out.decoupled.shallow.items():
        assert x.shape == (B, D, t[m])
    if config.arch.unimodal:
        assert set(out.decoupled.shallow) == {config.arch.unimodal}
        assert out.homo is None and out.hetero is None and out.edges is None
        return
    dec = out.decoupled
    if config.arch.decoupling:
        for field in ("shared", "private", "reconstruction", "private_recon"):
            assert all(getattr(dec, field)[m].shape == (B, D, t[m]) for m in MODALITIES), field
        assert all(dec.aligned[m].shape == (B, D) for m in MODALITIES)
    else:
        assert dec.shared is dec.private is dec.reconstruction is dec.aligned is None
    if config.arch.homo_branch:
        assert all(out.homo.logits[m].shape == (B, 1) and out.homo.reprs[m].shape == (B, D) for m in MODALITIES)
        assert out.homo.fusion.shape == (B, 3 * D) and out.homo.fusion_logit.shape == (B, 1)
        assert all((out.homo.reprs[m] >= 0).all() for m in MODALITIES)  # relu(r), the official in-place ReLU
    else:
        assert out.homo is None
    assert all(out.hetero.features[m].shape == (B, 2 * D) for m in MODALITIES)
    if config.arch.hetero_heads:
        assert all(out.hetero.logits[m].shape == (B, 1) and out.hetero.reprs[m].shape == (B, 2 * D)
                   for m in MODALITIES)
    else:
        assert out.hetero.logits is None and out.hetero.reprs is None
    for space, on in (("homo", config.gd.homo), ("hetero", config.gd.hetero)):
        edges = getattr(out.edges, space) if out.edges is not None else None
        if not on:
            assert edges is None
            continue
        assert edges.shape == (B, 6)
        norm = edges.sum(1) if config.gd.edge_norm == "joint" else edges.view(B, 3, 2).sum(-1)
        torch.testing.assert_close(norm, torch.ones_like(norm))
        matrix = out.edges.matrix(space)
        assert matrix.shape == (B, 3, 3) and torch.all(matrix.diagonal(dim1=1, dim2=2) == 0)
        assert matrix[:, 1, 0].equal(edges[:, 0]) and matrix[:, 1, 2].equal(edges[:, 5])  # V→L, V→A
        frame = out.edges.to_frame(space)
        assert list(frame.columns) == list(EDGE_LABELS) and len(frame) == B


def expected_terms(config: DMDConfig) -> set[str]:
    terms = {"task"}
    if config.arch.decoupling and not config.arch.unimodal:
        terms |= {"recon", "cycle", "ort", "margin"}
    for space in ("homo", "hetero"):
        if getattr(config.gd, space):
            terms |= {f"logit_{space}", f"repr_{space}", f"reg_{space}"}
    return terms


def check_gradients(model: DMD) -> None:
    for name, p in model.named_parameters():
        if name.startswith(NO_GRADIENT):
            assert p.grad is None, f"{name} should get no gradient"
        elif name.endswith(ZERO_GRADIENT):
            assert p.grad is not None and p.grad.abs().max() < 1e-5, name
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{name} got no gradient"
            assert torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("preset", ["mosi", "mosei"])
@pytest.mark.parametrize("name", DMD_FAMILY)
def test_variant_forward_backward(name, preset, device):
    torch.manual_seed(0)
    config = tiny(name, preset)
    model = build_model(config, ALIGNED).to(device).train()
    text, vision, audio, labels = (x.to(device) for x in inputs(ALIGNED))
    out = model(text, vision, audio)
    check_shapes(model, out, ALIGNED)
    losses = model.loss(out, labels)
    assert isinstance(losses, LossBreakdown) and losses.total.dim() == 0
    assert set(losses.terms) == expected_terms(config)
    assert all(torch.isfinite(v) for v in losses.terms.values()) and torch.isfinite(losses.total)
    losses.total.backward()
    check_gradients(model)


def test_unimodal_ignores_the_other_inputs():
    torch.manual_seed(0)
    model = build_model(tiny("unimodal_v"), ALIGNED).eval()
    assert isinstance(model, UnimodalModel)
    text, vision, audio, _ = inputs(ALIGNED)
    assert set(dict(model.named_children())) >= {"temporal", "unimodal_encoder", "unimodal_head"}
    assert list(model.temporal) == ["v"]
    with torch.no_grad():
        torch.testing.assert_close(model(None, vision, None).prediction, model(text, vision, audio).prediction)


def test_build_model_picks_the_model_class():
    assert type(build_model(tiny("wo_fd"), ALIGNED)) is DMD
    assert type(build_model(tiny("unimodal_a"), ALIGNED)) is UnimodalModel
    with pytest.raises(ValueError, match=r"variant 'unimodal_l' reads one .*build_model\(config, spec\)"):
        DMD(tiny("unimodal_l"), ALIGNED)
    with pytest.raises(ValueError, match=r"UnimodalModel needs a one-modality config .* variant 'dmd'"):
        UnimodalModel(tiny("dmd"), ALIGNED)


def test_unaligned_with_padding_masks():
    """Different lengths per modality; with padding masks the padded tail changes nothing."""
    torch.manual_seed(0)
    model = DMD(tiny(padding_masks=True), UNALIGNED).eval()
    text, vision, audio, labels = inputs(UNALIGNED)
    lengths = {"vision_lengths": torch.tensor([10, 7, 5, 10]), "audio_lengths": torch.tensor([12, 9, 4, 12]),
               "text_lengths": torch.tensor([8, 6, 8, 5])}
    out = model(text, vision, audio, **lengths, return_attention=True)
    check_shapes(model, out, UNALIGNED)
    assert out.lengths["a"].tolist() == [10, 7, 2, 10] and out.lengths["v"].tolist() == [8, 5, 3, 8]
    assert out.attention["a->l"].shape == (1, B, 2, 6, 10)
    assert torch.all(out.attention["a->l"][:, 2, :, :, 2:] == 0)  # padded keys of sample 2 get no weight
    # Garbage in the padded tails does not change the prediction.
    noisy = [x.clone() for x in (text, vision, audio)]
    noisy[0][1, 6:] += 5.0
    noisy[1][2, 5:] -= 3.0
    noisy[2][1, 9:] *= 7.0
    out2 = model(*noisy, **lengths)
    torch.testing.assert_close(out2.prediction, out.prediction)
    # ... nor any head read from flattened steps, the edges, or any loss term
    for m in ("l", "v", "a"):
        torch.testing.assert_close(out2.homo.logits[m], out.homo.logits[m])
    torch.testing.assert_close(out2.edges.homo, out.edges.homo)
    terms, terms2 = (model.loss(o, labels, detailed=True).terms for o in (out, out2))
    for name in terms:
        torch.testing.assert_close(terms2[name], terms[name], msg=name)
    model.train()
    model.loss(model(text, vision, audio, **lengths), labels).total.backward()


def test_padding_masks_off_reads_padding_like_the_official_code():
    torch.manual_seed(0)
    model = DMD(tiny(), UNALIGNED).eval()
    text, vision, audio, _ = inputs(UNALIGNED)
    lengths = {"vision_lengths": torch.tensor([10, 7, 5, 10])}
    out = model(text, vision, audio, **lengths)
    assert out.lengths is None
    noisy = vision.clone()
    noisy[2, 5:] += 1.0
    assert not torch.allclose(model(text, noisy, audio, **lengths).prediction[2], out.prediction[2])


def test_causal_mask_switch():
    torch.manual_seed(0)
    text, vision, audio, _ = inputs(ALIGNED)
    for causal in (True, False):
        model = DMD(tiny(causal_mask=causal), ALIGNED).eval()
        with torch.no_grad():
            attn = model(text, vision, audio, return_attention=True).attention["l->v"]
        assert bool(torch.all(attn.triu(1) == 0)) == causal


def test_seeded_training_step_is_deterministic():
    def run():
        torch.manual_seed(123)
        model = DMD(tiny(), ALIGNED).train()
        text, vision, audio, labels = inputs(ALIGNED)
        out = model(text, vision, audio)
        model.loss(out, labels).total.backward()
        return out.prediction.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    (pred_a, grads_a), (pred_b, grads_b) = run(), run()
    assert pred_a.equal(pred_b) and all(a.equal(b) for a, b in zip(grads_a, grads_b))


def test_attention_request_is_only_cross_modal_and_optional():
    torch.manual_seed(0)
    model = DMD(tiny(), ALIGNED).eval()
    text, vision, audio, _ = inputs(ALIGNED)
    assert model(text, vision, audio).attention is None
    maps = model(text, vision, audio, return_attention=True).attention
    assert set(maps) == {f"{s}->{t}" for t in MODALITIES for s in MODALITIES if s != t}
    assert all(w.shape == (1, B, 2, 6, 6) for w in maps.values())


UTTERANCE = DataSpec(text_dim=12, audio_dim=5, vision_dim=7, text_len=1, audio_len=1, vision_len=1, aligned=True)
WORDS_AND_VECTORS = DataSpec(text_dim=12, audio_dim=5, vision_dim=7, text_len=8, audio_len=1, vision_len=1,
                             aligned=False)


@pytest.mark.parametrize("spec", [UTTERANCE, WORDS_AND_VECTORS], ids=["all T=1", "text T=8, audio and vision T=1"])
@pytest.mark.parametrize("name", DMD_FAMILY)
def test_utterance_level_modalities_in_every_variant(name, spec, device):
    """One step per modality (utterance-level features): the kernel (3 here, 5 officially) shrinks to
    T = 1, every variant runs forward and backward, and cross-modal attention over one key is a weight of 1."""
    torch.manual_seed(0)
    config = tiny(name)
    model = build_model(config, spec).to(device).train()
    shortened = [m for m in MODALITIES if m in model.kernels and spec.lengths[m] == 1]
    assert all(model.kernels[m] == 1 for m in shortened) and len(model.notes) == len(shortened)
    assert all("kernel 1" in note and "linear map" in note for note in model.notes)
    if spec.text_len > 1 and "l" in model.kernels:
        assert model.kernels["l"] == 3                                       # T >= k: unchanged
    text, vision, audio, labels = (x.to(device) for x in inputs(spec))
    out = model(text, vision, audio, return_attention=True)
    check_shapes(model, out, spec)
    losses = model.loss(out, labels)
    assert set(losses.terms) == expected_terms(config) and torch.isfinite(losses.total)
    losses.total.backward()
    check_gradients(model)
    for direction, weights in (out.attention or {}).items():
        if weights.shape[-1] == 1:                                           # one key: softmax gives exactly 1
            assert torch.equal(weights, torch.ones_like(weights)), direction


def test_kernel_is_official_when_the_sequence_is_long_enough():
    model = build_model(tiny("dmd"), ALIGNED)
    assert model.kernels == {"l": 3, "v": 3, "a": 3} and model.notes == []
    assert {m: conv.conv.kernel_size[0] for m, conv in model.temporal.items()} == model.kernels


# --------------------------------------------------------------------------- the registry


def test_registry_names_every_list_of_variants():
    """Tables, the workbench's sets, the claim groups and the demo are read from the registry:
    each is non-empty, in registry order, and every world a variant names is a world of the built-in data."""
    from dmdlab.data.synth import WORLDS
    from dmdlab.model.variants import CLAIM_GROUPS, TABLES, label, variant_names

    order = list(VARIANTS)
    for selection in ([{"table": t} for t in TABLES] + [{"claims": g} for g in CLAIM_GROUPS]
                      + [{"workbench": True}, {"demo": True}]):
        names = variant_names(**selection)
        assert names and [order.index(n) for n in names] == sorted(order.index(n) for n in names), selection
    assert {w for v in VARIANTS.values() for w in v.worlds} <= set(WORLDS)
    assert variant_names(table="ablation") == ("dmd", "wo_fd", "wo_homogd", "wo_heterogd", "wo_ca", "mult", "mult_gd")
    assert variant_names(role="ablation") == ("wo_fd", "wo_homogd", "wo_heterogd", "wo_ca")
    assert variant_names(claims="edges") == ("dmd", "uniform_prior", "no_edge_reg")
    assert variant_names(world="vision_strongest") == ("dmd", "uniform_prior")
    assert variant_names(table="ablation", role="baseline") == ("mult", "mult_gd")
    assert label("wo_fd") == "w/o FD" and label("not_registered") == "not_registered"
    assert len({v.label for v in VARIANTS.values()}) == len(VARIANTS)       # a label names one variant


@pytest.mark.parametrize("field, value", [("role", "ablatoin"), ("tables", ("main", "mian")), ("claims", ("edge",))])
def test_registry_entry_refuses_unknown_names(field, value):
    from dmdlab.model.variants import Variant

    with pytest.raises(ValueError, match=f"'{field}' parameter of Variant 'x'.*Got"):
        Variant("x", "X", lambda c: c, **{"role": "model", field: value})


def test_a_registered_model_class_is_built(monkeypatch):
    """A variant that is a model of its own (a published baseline) is one entry: build_model builds its class."""
    from dmdlab.model import variants
    from dmdlab.model.variants import Variant

    class Baseline(UnimodalModel):
        pass

    entry = Variant("baseline_x", "Baseline X", variants.VARIANTS["unimodal_l"].transform, "baseline",
                    tables=("main",), paper="MulT", model=Baseline)
    monkeypatch.setitem(variants.VARIANTS, entry.name, entry)
    config = tiny("baseline_x")
    assert config.variant == "baseline_x" and "baseline_x" in variants.variant_names(table="main")
    assert type(build_model(config, ALIGNED)) is Baseline
    assert type(build_model(tiny("unimodal_l"), ALIGNED)) is UnimodalModel
