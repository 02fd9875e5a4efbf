"""Vectorised losses and the GD-unit against straightforward loops written here."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dmdlab.modalities import EDGES, MODALITIES
from dmdlab.model import losses
from dmdlab.model.graph_distill import GDUnit
from dmdlab.model.losses import margin_loss, orthogonality_loss


def margin_loop(features, labels, margin=0.15, mode="label_gap"):
    """The margin loss anchor by anchor, pair by pair (DMD_SPEC §5)."""
    n = len(labels)
    cos = lambda a, b: (a @ b) / (torch.sqrt((a * a).sum() + 1e-8) * torch.sqrt((b * b).sum() + 1e-8))
    anchors = []
    for i in range(n):
        pos = [j for j in range(n) if j != i and labels[j] == labels[i]]
        neg = [k for k in range(n) if labels[k] != labels[i]]
        if not pos or not neg:
            continue
        hinges = []
        for j in pos:
            for k in neg:
                m = margin * abs(labels[i] - labels[k]) if mode == "label_gap" else margin
                hinges.append(torch.clamp(m - cos(features[i], features[j]) + cos(features[i], features[k]), min=0))
        anchors.append(torch.stack(hinges).mean())
    return torch.stack(anchors).mean() if anchors else torch.tensor(0.0)


@pytest.mark.parametrize("chunk_elements", [1 << 22, 300, 700])  # one chunk; 2 anchors, 4 anchors per chunk
@pytest.mark.parametrize("mode", ["label_gap", "constant"])
def test_margin_loss_equals_the_loop(mode, chunk_elements, monkeypatch):
    monkeypatch.setattr(losses, "_MARGIN_CHUNK_ELEMENTS", chunk_elements)
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0.4, 0.4, 0.4, -1.2, -1.2, -1.2, 2.0, 2.0, 2.0, 0.4, 0.4, 0.4])
    features = torch.randn(12, 6, generator=g, requires_grad=True)
    fast = margin_loss(features, labels, 0.15, mode)
    slow = margin_loop(features, labels.tolist(), 0.15, mode)
    torch.testing.assert_close(fast, slow)
    (g_fast,) = torch.autograd.grad(fast, features)
    (g_slow,) = torch.autograd.grad(margin_loop(features, labels.tolist(), 0.15, mode), features)
    torch.testing.assert_close(g_fast, g_slow)


def test_margin_loss_without_positives_or_negatives_is_zero():
    features = torch.randn(3, 4, requires_grad=True)
    assert margin_loss(features, torch.tensor([1.0, 2.0, 3.0])) == 0  # no positives
    assert margin_loss(features, torch.tensor([1.0, 1.0, 1.0])) == 0  # no negatives
    margin_loss(features, torch.tensor([1.0, 2.0, 3.0])).backward()


def test_orthogonality_axes():
    g = torch.Generator().manual_seed(1)
    s, c = torch.randn(5, 4, 7, generator=g), torch.randn(5, 4, 7, generator=g)  # (B, d, T')
    batch = torch.stack([torch.stack([F.cosine_similarity(s[:, k, t], c[:, k, t], dim=0).clamp(min=0)
                                      for t in range(7)]) for k in range(4)]).mean()
    feature = torch.stack([torch.stack([F.cosine_similarity(s[b, :, t], c[b, :, t], dim=0).clamp(min=0)
                                        for t in range(7)]) for b in range(5)]).mean()
    torch.testing.assert_close(orthogonality_loss(s, c, "batch"), batch)
    torch.testing.assert_close(orthogonality_loss(s, c, "feature"), feature)


def test_masked_decoupling_losses_count_valid_steps_only():
    """With a step mask, loops over the valid (sample, step) pairs written here."""
    g = torch.Generator().manual_seed(2)
    s, c = torch.randn(5, 4, 7, generator=g), torch.randn(5, 4, 7, generator=g)  # (B, d, T')
    lengths = torch.tensor([7, 3, 5, 1, 7])
    steps = torch.arange(7) < lengths[:, None]                                       # (B, T')
    squared = [(s[b, :, t] - c[b, :, t]).square() for b in range(5) for t in range(lengths[b])]
    torch.testing.assert_close(losses.masked_mse(s, c, steps), torch.cat(squared).mean())
    batch = torch.stack([F.cosine_similarity(s[steps[:, t], k, t], c[steps[:, t], k, t], dim=0).clamp(min=0)
                         for k in range(4) for t in range(7)]).mean()                # every step has a valid sample
    feature = torch.stack([F.cosine_similarity(s[b, :, t], c[b, :, t], dim=0).clamp(min=0)
                           for b in range(5) for t in range(lengths[b])]).mean()
    torch.testing.assert_close(orthogonality_loss(s, c, "batch", steps), batch)
    torch.testing.assert_close(orthogonality_loss(s, c, "feature", steps), feature)
    everything = torch.ones(5, 7, dtype=torch.bool)
    torch.testing.assert_close(losses.masked_mse(s, c, everything), F.mse_loss(s, c))
    torch.testing.assert_close(orthogonality_loss(s, c, "batch", everything), orthogonality_loss(s, c, "batch"))


def gd_loop(unit: GDUnit, logits, reprs, metric):
    """The GD-unit edge by edge (DMD_SPEC §3): raw W_edge([z_t; z_s]), joint softmax, losses."""
    z = [torch.cat([unit.W_logit(logits[i]), unit.W_repr(reprs[i])], 1) for i in range(3)]
    raw = torch.cat([unit.W_edge(torch.cat([z[MODALITIES.index(t)], z[MODALITIES.index(s)]], 1))
                     for s, t in EDGES], 1)
    edges = torch.softmax(raw * unit.alpha, 1)
    logit_loss = repr_loss = 0
    for e, (s, t) in enumerate(EDGES):
        i, j = MODALITIES.index(s), MODALITIES.index(t)
        w = edges[:, e] + unit.prior[e]
        logit_loss = logit_loss + ((logits[j] - logits[i].detach()).abs().sum(1) * w).mean()
        if metric == "l1":
            repr_loss = repr_loss + 10 * ((reprs[j] - reprs[i].detach()).abs().sum(1) * w).mean()
        else:
            ell = F.cosine_embedding_loss(reprs[j], reprs[i].detach(), -torch.ones(len(w)))
            repr_loss = repr_loss + 10 * (ell * w).mean()
    reg = 10 * ((edges.mean(0) - unit.prior) ** 2).sum()
    return edges, raw, (logit_loss, repr_loss, reg)


@pytest.mark.parametrize("metric", ["l1", "cosine"])
def test_gd_unit_equals_the_edge_loop(metric):
    torch.manual_seed(0)
    unit = GDUnit(6, 4, (0, 0, 1, 0, 1, 0), repr_metric=metric)
    logits, reprs = torch.randn(3, 5, 1), torch.randn(3, 5, 6)
    edges, raw = unit(logits, reprs)
    edges_ref, raw_ref, losses_ref = gd_loop(unit, logits, reprs, metric)
    torch.testing.assert_close(raw, raw_ref)
    torch.testing.assert_close(edges, edges_ref)
    for ours, ref in zip(unit.losses(logits, reprs, edges), losses_ref):
        torch.testing.assert_close(ours, ref)
    prior = torch.softmax(torch.tensor([0, 0, 1, 0, 1, 0.0]) / 0.25, 0)
    torch.testing.assert_close(unit.prior, prior)


def test_gd_unit_switches():
    torch.manual_seed(0)
    logits, reprs = torch.randn(3, 5, 1), torch.randn(3, 5, 6)
    per_target = GDUnit(6, 4, (0,) * 6, edge_norm="per_target")
    edges, raw = per_target(logits, reprs)
    torch.testing.assert_close(edges.view(5, 3, 2), torch.softmax(0.125 * raw.view(5, 3, 2), -1))
    per_sample = GDUnit(6, 4, (0,) * 6, repr_weighting="per_sample")
    per_sample.load_state_dict(per_target.state_dict())
    edges = per_sample(logits, reprs)[0]
    expected = sum(10 * (F.relu(F.cosine_similarity(reprs[MODALITIES.index(t)], reprs[MODALITIES.index(s)], 1,
                                                    eps=1e-12)) * (edges[:, e] + per_sample.prior[e])).mean()
                   for e, (s, t) in enumerate(EDGES))
    torch.testing.assert_close(per_sample.losses(logits, reprs, edges)[1], expected)


def test_w_edge_bias_cancels_in_the_softmax():
    torch.manual_seed(0)
    unit = GDUnit(6, 4, (0, 0, 1, 0, 1, 1))
    logits, reprs = torch.randn(3, 5, 1), torch.randn(3, 5, 6)
    edges, _ = unit(logits, reprs)
    with torch.no_grad():
        unit.W_edge.bias += 3.0
    torch.testing.assert_close(unit(logits, reprs)[0], edges)
