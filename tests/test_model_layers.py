"""Building blocks: the transformer stack (batched vs member by member), positions, dropout."""

from __future__ import annotations

import torch

from dmdlab.model.layers import SinusoidalPositions, dropout, keep_mask
from dmdlab.model.transformer import TransformerStack


def test_stack_batched_equals_member_by_member():
    torch.manual_seed(0)
    stack = TransformerStack({"l": 0.0, "v": 0.1, "a": 0.2}, 8, 2, 2, relu_dropout=0.0, res_dropout=0.0,
                             embed_dropout=0.0, causal=True).eval()
    xs = {m: torch.randn(4, 6, 8) for m in "lva"}
    kvs = {m: torch.randn(4, 9, 8) for m in "lva"}
    valid = {"v": torch.arange(9) < torch.tensor([9, 5, 3, 9])[:, None]}
    batched, weights = stack(xs, kvs, key_valid=valid, need_weights=True)
    for g, m in enumerate("lva"):
        alone, w = stack._run(xs[m][None], kvs[m][None], [g], [valid.get(m)], None, True)
        torch.testing.assert_close(batched[m], alone[0])
        torch.testing.assert_close(weights[m], w[:, 0])
    last_step = torch.full((4,), 5)
    last, _ = stack(xs, read_at={"l": last_step, "v": torch.tensor([5, 2, 0, 3]), "a": last_step})
    full, _ = stack(xs)
    torch.testing.assert_close(last["l"], full["l"][:, -1])
    # with a per-sample read-out step the rest of the sequence is not masked (padding masks off)
    assert last["v"].shape == (4, 8)


def test_stack_training_applies_each_members_attention_dropout():
    """Members run in dropout-rate order, in runs of equal rate: a member with rate 0 must give
    its eval-mode output in training (no other dropout here), the others must not."""
    torch.manual_seed(0)
    stack = TransformerStack({"0": 0.5, "1": 0.0, "2": 0.5, "3": 0.0}, 8, 2, 2, relu_dropout=0.0, res_dropout=0.0,
                             embed_dropout=0.0, causal=False)
    assert stack.order == (1, 3, 0, 2)
    xs = {g: torch.randn(3, 5, 8, requires_grad=True) for g in "0123"}
    kvs = {g: torch.randn(3, 7, 8) for g in "0123"}
    trained, _ = stack(xs, kvs)
    evaluated, _ = stack.eval()(xs, kvs)
    for g in "13":
        torch.testing.assert_close(trained[g], evaluated[g])
    for g in "02":
        assert not torch.allclose(trained[g], evaluated[g])
    sum(out.sum() for out in trained.values()).backward()
    assert all(x.grad is not None and x.grad.abs().sum() > 0 for x in xs.values())


def test_positions_skip_zero_steps():
    positions = SinusoidalPositions(6)
    x = torch.ones(2, 4, 6)
    x[1, 2:, 0] = 0.0
    emb = positions(x)
    assert torch.all(emb[1, 2:] == 0) and emb[0, :2].equal(emb[1, :2]) and torch.all(emb[0, 2:] != 0)
    torch.testing.assert_close(emb[0, 0, :3], torch.sin(torch.tensor([1.0, 1e-2, 1e-4])))  # position 1, E/2 = 3
    torch.testing.assert_close(emb[0, 1, 3:], torch.cos(torch.tensor([2.0, 2e-2, 2e-4])))


def test_dropout_rate_and_scale():
    torch.manual_seed(0)
    keep, scale = keep_mask(torch.Size([200_000]), 0.3, torch.device("cpu"), torch.float32)
    assert abs(1 - keep.mean().item() - 0.3) < 0.005 and abs(scale - 1 / 0.7) < 1e-4
    x = torch.ones(100_000)
    y = dropout(x, 0.2, True)
    values = torch.unique(y)
    assert abs(y.mean().item() - 1.0) < 0.02 and len(values) == 2 and values[0] == 0
    assert abs(values[1].item() - 1.25) < 1e-5  # p is rounded to a multiple of 2^-16
    assert dropout(x, 0.2, False) is x
    torch.manual_seed(1)
    a = dropout(x, 0.5, True)
    torch.manual_seed(1)
    assert a.equal(dropout(x, 0.5, True))


def test_stack_groups_members_by_attention_dropout():
    """In training, members with attention dropout 0 run apart from the others and match eval mode."""
    torch.manual_seed(0)
    stack = TransformerStack({"0": 0.0, "1": 0.5, "2": 0.0}, 8, 2, 2, relu_dropout=0.0, res_dropout=0.0,
                             embed_dropout=0.0, causal=True)
    xs, kvs = {g: torch.randn(4, 6, 8) for g in "012"}, {g: torch.randn(4, 6, 8) for g in "012"}
    reads = dict.fromkeys("012", torch.tensor([5, 2, 0, 3]))
    for kwargs in ({}, {"keys": kvs}, {"keys": kvs, "read_at": reads}, {"keys": kvs, "need_weights": True}):
        ref, ref_w = stack.eval()(xs, **kwargs)
        out, w = stack.train()(xs, **kwargs)
        for g in "02":
            torch.testing.assert_close(out[g], ref[g])
            if w is not None:
                torch.testing.assert_close(w[g], ref_w[g])
        assert not torch.allclose(out["1"], ref["1"])
        if w is not None:
            assert w["1"].shape == ref_w["1"].shape
