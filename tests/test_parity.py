"""Parity with the official DMD code (../shared/official, DMD_SPEC §8).

The reference files hold state dicts of the official model (seeded random initialisation),
a zero-padded batch, and every output, edge and loss term the official code computed from
them (eval mode). Loaded through ``load_official_state_dicts``, dmdlab must reproduce all of
them within float32 tolerance (the README there: rtol 1e-4, atol 1e-5 tiny / 3e-5 MOSI).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dmdlab.data.spec import DataSpec
from dmdlab.modalities import MODALITIES
from dmdlab.model import DMD, DMDConfig, load_official_state_dicts

OFFICIAL = Path(__file__).resolve().parents[1].parent / "shared" / "official"
ATOL = {"tiny": 1e-5, "mosi_aligned": 3e-5}

pytestmark = pytest.mark.shared


def _reference(case: str) -> dict:
    path = OFFICIAL / f"reference_{case}.pt"
    if not path.exists():
        pytest.skip(f"official reference data not found at {path} (../shared/official is absent)")
    return torch.load(path, weights_only=True)


def _model(ref: dict, arch: dict | None = None, **loss_switches) -> DMD:
    meta = ref["meta"]
    cfg, seq_len = meta["config"], meta["seq_len"]
    d, heads = cfg["dst_feature_dim_nheads"]
    config = DMDConfig.preset("mosi").replace(
        arch=dict(d=d, heads=heads, nlevels=cfg["nlevels"], kernel_l=cfg["conv1d_kernel_size_l"],
                  kernel_v=cfg["conv1d_kernel_size_v"], kernel_a=cfg["conv1d_kernel_size_a"],
                  causal_mask=cfg["attn_mask"], **(arch or {})),
        gd=dict(homo_hidden=cfg["gd_size_low"], hetero_hidden=cfg["gd_size_high"]),
        loss=loss_switches)
    text_dim, audio_dim, vision_dim = cfg["feature_dims"]
    spec = DataSpec(text_dim=text_dim, audio_dim=audio_dim, vision_dim=vision_dim, text_len=seq_len,
                    audio_len=seq_len, vision_len=seq_len, aligned=True)
    torch.manual_seed(12345)  # any seed: every weight is overwritten by the loader
    model = DMD(config, spec)
    state = ref["state_dict"]
    load_official_state_dicts(model, state["dmd"], state["gd_homo"], state["gd_hetero"])
    return model.eval()


def _run(model: DMD, ref: dict):
    inputs = ref["inputs"]
    with torch.no_grad():
        output = model(inputs["text"], inputs["vision"], inputs["audio"])
        losses = model.loss(output, inputs["labels"], detailed=True)
    return output, losses


def _ours(output, losses, config) -> dict[str, torch.Tensor]:
    """dmdlab's values under the official names."""
    dec, homo, hetero, edges = output.decoupled, output.homo, output.hetero, output.edges
    ours: dict[str, torch.Tensor] = {}
    for m in MODALITIES:
        ours |= {
            f"outputs/logits_{m}_homo": homo.logits[m], f"outputs/repr_{m}_homo": homo.reprs[m],
            f"outputs/origin_{m}": dec.shallow[m],
            f"outputs/s_{m}": dec.private[m].permute(2, 0, 1), f"outputs/c_{m}": dec.shared[m].permute(2, 0, 1),
            f"outputs/proj_s_{m}": dec.private_proj[m], f"outputs/s_{m}_r": dec.private_recon[m],
            f"outputs/recon_{m}": dec.reconstruction[m], f"outputs/c_{m}_sim": dec.aligned[m],
            f"outputs/logits_{m}_hetero": hetero.logits[m], f"outputs/repr_{m}_hetero": hetero.reprs[m],
            f"outputs/last_h_{m}": hetero.features[m],
        }
    ours["outputs/logits_c"] = homo.fusion_logit
    ours["outputs/output_logit"] = output.prediction
    for space in ("homo", "hetero"):
        unit_logits = homo.logits if space == "homo" else hetero.logits
        unit_reprs = homo.reprs if space == "homo" else hetero.reprs
        ours[f"gd/logits_{space}"] = torch.stack([unit_logits[m] for m in MODALITIES])
        ours[f"gd/reprs_{space}"] = torch.stack([unit_reprs[m] for m in MODALITIES])
        ours[f"gd/edges_{space}"] = edges.get(space).t()
        ours[f"gd/edges_origin_{space}"] = getattr(edges, f"raw_{space}").sum(0).unsqueeze(1)
    terms = losses.terms
    ours |= {f"losses/{k}": v for k, v in terms.items()}
    ours["losses/gd_homo"] = config.loss.w_homo_gd * (terms["logit_homo"] + terms["reg_homo"])
    ours["losses/gd_hetero"] = config.loss.w_hetero_gd * (
        terms["logit_hetero"] + terms["repr_hetero"] + terms["reg_hetero"])
    ours["losses/combined"] = losses.total
    ours["extras/margin_feats"] = torch.stack([dec.aligned[m] for m in MODALITIES], 1).reshape(-1, dec.aligned["l"].shape[1])
    return ours


def _flatten(ref: dict) -> dict[str, torch.Tensor]:
    return {f"{group}/{name}": value for group in ("outputs", "gd", "losses", "extras")
            for name, value in ref[group].items()}


def _check(case: str) -> None:
    ref = _reference(case)
    model = _model(ref)
    output, losses = _run(model, ref)
    ours = _ours(output, losses, model.config)
    expected = _flatten(ref)
    # Every reference entry is accounted for: compared here, or below (feature-axis ort, margin ids).
    special = {f"extras/ort_featureaxis_{m}" for m in MODALITIES} | {"extras/margin_ids"}
    assert set(expected) - special <= set(ours), sorted(set(expected) - special - set(ours))
    for name in sorted(set(expected) - special):
        torch.testing.assert_close(ours[name], expected[name], rtol=1e-4, atol=ATOL[case], msg=lambda m: f"{name}: {m}")
    torch.testing.assert_close(
        ref["inputs"]["labels"].repeat_interleave(3).view(-1, 1), expected["extras/margin_ids"])

    # The orthogonality loss with the cosine over the feature axis (switch) matches the extras.
    feature_model = _model(ref, ort_axis="feature")
    _, feature_losses = _run(feature_model, ref)
    for m in MODALITIES:
        torch.testing.assert_close(feature_losses.terms[f"ort_{m}"], ref["extras"][f"ort_featureaxis_{m}"],
                                   rtol=1e-4, atol=ATOL[case])
    # The official defaults: repr_homo is computed but not in the total.
    assert model.config.loss.homo_repr_loss is False


def test_parity_tiny():
    _check("tiny")


def test_parity_mosi_aligned():
    _check("mosi_aligned")


def test_attention_maps_do_not_change_outputs():
    """The explicit attention path (return_attention=True) computes the same model as SDPA."""
    ref = _reference("tiny")
    model = _model(ref)
    inputs = ref["inputs"]
    with torch.no_grad():
        fused = model(inputs["text"], inputs["vision"], inputs["audio"])
        explicit = model(inputs["text"], inputs["vision"], inputs["audio"], return_attention=True)
    torch.testing.assert_close(explicit.prediction, fused.prediction, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(explicit.hetero.features["v"], ref["outputs"]["last_h_v"], rtol=1e-4, atol=1e-5)
    seq = ref["meta"]["seq_len"] - 4
    assert set(explicit.attention) == {"a->l", "v->l", "l->v", "a->v", "l->a", "v->a"}
    weights = explicit.attention["a->l"]
    assert weights.shape == (2, 4, 2, seq, seq)  # (layers, B, heads, T_q, T_k)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 2, seq))
    assert torch.all(weights.triu(1) == 0)  # causal mask (equal lengths: strict upper triangle)


def test_gradients_match_official_report():
    """In train mode (dropout off) the combined loss gives no gradient to exactly the
    parameters the official report lists (proj_cosine_*), and W_edge.bias only ~0."""
    ref = _reference("tiny")
    no_dropout = {name: 0.0 for name in ("attn_dropout", "attn_dropout_v", "attn_dropout_a", "relu_dropout",
                                         "res_dropout", "embed_dropout", "output_dropout", "text_dropout")}
    model = _model(ref, arch=no_dropout)
    model.train()
    inputs = ref["inputs"]
    output = model(inputs["text"], inputs["vision"], inputs["audio"])
    losses = model.loss(output, inputs["labels"])
    torch.testing.assert_close(losses.total.detach(), ref["losses"]["combined"], rtol=1e-4, atol=1e-5)
    losses.total.backward()
    no_grad = sorted(n for n, p in model.named_parameters() if p.grad is None)
    assert no_grad == sorted(f"decoupling.private_proj.{m}.{w}" for m in MODALITIES for w in ("weight", "bias"))
    for unit in ("gd_homo", "gd_hetero"):
        assert getattr(model, unit).W_edge.bias.grad.abs().item() < 1e-6
