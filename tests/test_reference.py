"""The reference model (``model/reference.py``, ``ArchConfig.reference``) against the fast one.

With the same weights (moved with ``stacks.convert_state_dict``, every LayerNorm γ and β
random so that a broken fold of the fast path shows) the two give the same predictions,
loss terms, attention maps and gradients for every preset and every variant, on aligned
data and on unaligned data with padding masks, in evaluation and in training without
dropout. With dropout they draw different random numbers: there each member's rates are
the configured ones and the outputs over many draws have the same distribution. And
``train --reference`` trains.
"""

from __future__ import annotations

import pytest
import torch

from dmdlab import runs
from dmdlab.cli import main
from dmdlab.data.spec import DataSpec
from dmdlab.model import (VARIANTS, ArchConfig, DMDConfig, build_model, get_variant, load_official_state_dicts,
                          to_official_state_dicts)
from dmdlab.model.reference import ReferenceStack
from dmdlab.model.stacks import build_stack, convert_state_dict
from dmdlab.model.transformer import TransformerStack

B = 4
ALIGNED = DataSpec(text_dim=12, audio_dim=5, vision_dim=7, text_len=8, audio_len=8, vision_len=8, aligned=True)
UNALIGNED = DataSpec(text_dim=12, audio_dim=5, vision_dim=7, text_len=8, audio_len=12, vision_len=10, aligned=False)
NO_DROPOUT = dict.fromkeys(("attn_dropout", "attn_dropout_v", "attn_dropout_a", "relu_dropout", "res_dropout",
                            "embed_dropout", "output_dropout", "text_dropout"), 0.0)


def config(variant: str, preset: str, spec: DataSpec, training: bool, reference: bool = False) -> DMDConfig:
    """A small model of the preset (width 8, 2 layers: memory stacks 3), with padding masks on unaligned data."""
    arch = dict(d=8, heads=2, nlevels=2, padding_masks=not spec.aligned, reference=reference)
    base = DMDConfig.preset(preset).replace(arch={**arch, **(NO_DROPOUT if training else {})})
    return get_variant(variant, base)


def randomise_norms(model: torch.nn.Module) -> None:
    """Every LayerNorm γ ≠ 1 and β ≠ 0 (initial ones would hide a broken fold)."""
    torch.manual_seed(3)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.copy_(1.0 + 0.5 * torch.randn_like(param) if name.endswith("weight") else torch.randn_like(param))


def pair(variant: str, preset: str, spec: DataSpec, training: bool):
    """A fast model and a reference model holding the same weights."""
    torch.manual_seed(0)
    fast = build_model(config(variant, preset, spec, training), spec)
    randomise_norms(fast)
    reference = build_model(config(variant, preset, spec, training, reference=True), spec)
    reference.load_state_dict(convert_state_dict(fast.state_dict(), reference))
    return fast.train(training), reference.train(training)


def batch(spec: DataSpec):
    g = torch.Generator().manual_seed(1)
    text = torch.randn(B, spec.text_len, spec.text_dim, generator=g)
    vision = torch.randn(B, spec.vision_len, spec.vision_dim, generator=g)
    audio = torch.randn(B, spec.audio_len, spec.audio_dim, generator=g)
    lengths = {} if spec.aligned else {"vision_lengths": torch.tensor([10, 4, 7, 10]),
                                        "audio_lengths": torch.tensor([12, 6, 9, 3])}
    return (text, vision, audio), lengths, torch.tensor([2.5, -1.0, 0.3, 1.8])


def test_the_switch_builds_either_stack():
    assert type(build_stack(ArchConfig(), {"l": 0.3}, 50, 4)) is TransformerStack
    reference = build_stack(ArchConfig(reference=True), {"l": 0.3}, 50, 4)
    assert type(reference) is ReferenceStack and len(reference.encoders["l"].layers) == 4
    with pytest.raises(ValueError, match="The 'reference' parameter of ArchConfig must be a bool. Got 'yes'"):
        ArchConfig(reference="yes")
    assert DMDConfig.from_dict(DMDConfig().to_dict()).arch.reference is False            # older configs: fast


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train-no-dropout"])
@pytest.mark.parametrize("spec", [ALIGNED, UNALIGNED], ids=["aligned", "unaligned-masked"])
@pytest.mark.parametrize("preset", ["mosi", "mosei"])
@pytest.mark.parametrize("variant", [name for name, v in VARIANTS.items() if v.model is None])   # the models with MulT stacks
def test_reference_and_fast_models_agree(variant, preset, spec, training):
    fast, reference = pair(variant, preset, spec, training)
    inputs, lengths, labels = batch(spec)
    torch.manual_seed(5)
    out_fast = fast(*inputs, **lengths, return_attention=not training)
    torch.manual_seed(5)
    out_ref = reference(*inputs, **lengths, return_attention=not training)
    torch.testing.assert_close(out_ref.prediction, out_fast.prediction, rtol=1e-4, atol=1e-5)
    if not training and out_fast.attention:
        assert out_ref.attention.keys() == out_fast.attention.keys()
        for name in out_fast.attention:
            torch.testing.assert_close(out_ref.attention[name], out_fast.attention[name], rtol=1e-4, atol=1e-5)
    loss_fast, loss_ref = fast.loss(out_fast, labels), reference.loss(out_ref, labels)
    for term, value in loss_fast.terms.items():
        torch.testing.assert_close(loss_ref.terms[term], value, rtol=1e-4, atol=1e-5, msg=term)
    loss_fast.total.backward()
    loss_ref.total.backward()
    grads = convert_state_dict({n: p.grad for n, p in fast.named_parameters() if p.grad is not None}, reference)
    expected = {n: p.grad for n, p in reference.named_parameters() if p.grad is not None}
    assert grads.keys() == expected.keys()
    assert any(".encoders." in name for name in expected)                           # the stacks are compared
    for name, grad in expected.items():
        torch.testing.assert_close(grad, grads[name], rtol=1e-3, atol=1e-5, msg=name)


def test_reference_encoders_carry_the_official_names():
    """An official checkpoint (here the fast model's weights under official names) loads into a
    reference model strictly, one official encoder per member, and gives the same prediction."""
    fast, _ = pair("dmd", "mosi", ALIGNED, training=False)
    official = to_official_state_dicts(fast)
    reference = build_model(config("dmd", "mosi", ALIGNED, False, reference=True), ALIGNED).eval()
    load_official_state_dicts(reference, official["dmd"], official["gd_homo"], official["gd_hetero"])
    assert "trans_l_with_v.layers.0.fc1.weight" in official["dmd"]
    torch.testing.assert_close(reference.get_parameter("hetero.cross.encoders.v->l.layers.0.fc1.weight"),
                               official["dmd"]["trans_l_with_v.layers.0.fc1.weight"])
    inputs, _, _ = batch(ALIGNED)
    with torch.no_grad():
        torch.testing.assert_close(reference(*inputs).prediction, fast(*inputs).prediction, rtol=1e-4, atol=1e-5)


def _stacks(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    return {name: module for name, module in model.named_modules()
            if isinstance(module, (TransformerStack, ReferenceStack))}


@pytest.mark.parametrize("preset", ["mosi", "mosei"])
@pytest.mark.parametrize("variant", ["dmd", "mult", "unimodal_v"])
def test_each_layer_has_the_configured_dropout(variant, preset):
    base = DMDConfig.preset(preset).replace(arch={"relu_dropout": 0.1, "res_dropout": 0.15})   # none is 0
    fast = build_model(get_variant(variant, base), ALIGNED)
    reference = build_model(get_variant(variant, base.replace(arch={"reference": True})), ALIGNED)
    fast_stacks, reference_stacks = _stacks(fast), _stacks(reference)
    assert fast_stacks.keys() == reference_stacks.keys() and fast_stacks
    arch = base.arch
    for path, stack in reference_stacks.items():
        assert stack.names == fast_stacks[path].names
        for name, rate in zip(stack.names, fast_stacks[path].attn_dropout):
            encoder = stack.encoders[name]
            assert encoder.embed_dropout == arch.embed_dropout
            for layer in encoder.layers:
                assert layer.self_attn.dropout == rate
                assert (layer.relu_dropout, layer.res_dropout) == (arch.relu_dropout, arch.res_dropout)
    source = {"a->l": "a", "v->l": "v", "l->v": "l", "a->v": "a", "l->a": "l", "v->a": "v"}   # keys' modality
    cross = reference_stacks.get("hetero.cross")
    if cross is not None:
        assert {name: cross.encoders[name].layers[0].self_attn.dropout for name in cross.names} == \
            {name: arch.attn_dropout_for(m) for name, m in source.items()}


def test_dropout_draws_have_the_same_distribution():
    """One clip repeated N times: each copy draws its own dropout masks (the fast path's
    keep-mask sampler at these sizes, torch's dropout in the reference). Per output element,
    the mean and the standard deviation over the copies agree within 5 standard errors."""
    n, e = 4096, 8
    rates = {"x": 0.3, "y": 0.1}                                   # run in the order y, x by the fast stack
    torch.manual_seed(0)
    fast = TransformerStack(rates, e, 2, 2, relu_dropout=0.2, res_dropout=0.1, embed_dropout=0.2, causal=True)
    randomise_norms(fast)
    reference = ReferenceStack(rates, e, 2, 2, relu_dropout=0.2, res_dropout=0.1, embed_dropout=0.2, causal=True)
    reference.load_state_dict(convert_state_dict(fast.state_dict(), reference))
    g = torch.Generator().manual_seed(1)
    queries = {name: torch.randn(1, 6, e, generator=g).expand(n, 6, e) for name in rates}
    keys = {name: torch.randn(1, 5, e, generator=g).expand(n, 5, e) for name in rates}
    with torch.no_grad():
        evaluation, _ = fast.eval()(queries, keys)
        drawn_fast, _ = fast.train()(queries, keys)
        drawn_ref, _ = reference.train()(queries, keys)
    for name in rates:
        a, b = drawn_fast[name], drawn_ref[name]                                    # (N, 6, E)
        assert not torch.allclose(a[0], evaluation[name][0])                        # dropout is on
        sd = b.std(0)
        torch.testing.assert_close(a.mean(0), b.mean(0), rtol=0, atol=float(5 * (2 / n) ** 0.5 * sd.max()))
        torch.testing.assert_close(a.std(0), sd, rtol=5 / n ** 0.5, atol=1e-3)


def test_train_with_reference_runs_and_learns(tiny_dataset_path, tmp_path, tiny_cli):
    out = tmp_path / "run"
    code = main(["train", "--data", str(tiny_dataset_path), "--out", str(out), "--reference", "--epochs", "4",
                 "--lr", "2e-3", "--batch-size", "16", "--grad-accumulation", "1", "--threads", "1", "--no-progress",
                 *tiny_cli])
    assert code == 0
    run = runs.load(out)
    assert run.finished and run.config["model"]["arch"]["reference"] is True
    loss = run.history["train/loss/total"].tolist()
    assert len(loss) == 4 and loss[-1] < loss[0], loss


@pytest.mark.parametrize("command", ["train", "reproduce", "workbench", "bench", "tune"])
def test_every_model_command_takes_reference(command):
    """--reference is the alias of --set arch.reference=true wherever a command builds models."""
    from dmdlab.cli import build_parser
    from dmdlab.cli.options import model_overrides

    parser = build_parser()
    words = {"train": [], "reproduce": ["main", "--data", "d.pkl"], "workbench": [], "bench": ["--data", "d.pkl"],
             "tune": ["--data", "d.pkl"]}[command]
    args = parser.parse_args([command, *words, "--reference", "--set", "arch.d=8"])
    assert model_overrides(args) == ["arch.d=8", "arch.reference=true"]
    assert "arch.reference=true" not in model_overrides(parser.parse_args([command, *words]))
