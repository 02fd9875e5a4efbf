"""The transformer stack against one plain MulT layer written out here (LayerNorm, explicit
attention), with every LayerNorm γ and β random: the stack folds those affines into the next
projection (``transformer._fold_affine``), and initial ones (γ = 1, β = 0) would hide a broken fold."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dmdlab.model.layers import SinusoidalPositions
from dmdlab.model.transformer import TransformerStack

E, HEADS, LAYERS, B = 8, 2, 2, 3
NAMES = ("a->l", "v->l", "l->v")


def plain_layer(x, kv, p, causal, key_valid):
    """One pre-LN MulT layer for one member, x (B, Tq, E), kv (B, Tk, E) or None (self-attention):
    x + MHA(LN0(x), LN0(kv), LN0(kv)), then x + FC2(ReLU(FC1(LN1(x)))). Returns it and the weights."""
    def norm(t, i):
        return F.layer_norm(t, (E,), p[f"norm{i}_weight"], p[f"norm{i}_bias"])

    q_in = norm(x, 0)
    kv_in = q_in if kv is None else norm(kv, 0)
    w_q, w_k, w_v = p["in_proj_weight"].chunk(3)
    b_q, b_k, b_v = p["in_proj_bias"].chunk(3)
    hd = E // HEADS

    def heads(t):                                                                  # (B, T, E) → (B, H, T, hd)
        return t.view(t.shape[0], t.shape[1], HEADS, hd).transpose(1, 2)

    q, k, v = heads(q_in @ w_q.T + b_q), heads(kv_in @ w_k.T + b_k), heads(kv_in @ w_v.T + b_v)
    scores = q @ k.transpose(-2, -1) / math.sqrt(hd)                                 # (B, H, Tq, Tk)
    t_q, t_k = scores.shape[-2:]
    allowed = torch.ones(B, 1, t_q, t_k, dtype=torch.bool)
    if causal:  # the official future mask: key j visible from query i when j ≤ i + |Tk − Tq|
        allowed &= torch.arange(t_k)[None, :] <= torch.arange(t_q)[:, None] + abs(t_k - t_q)
    if key_valid is not None:
        allowed &= key_valid[:, None, None, :]
    weights = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
    attended = (weights @ v).transpose(1, 2).reshape(x.shape)
    x = x + attended @ p["out_proj_weight"].T + p["out_proj_bias"]
    hidden = F.relu(norm(x, 1) @ p["fc1_weight"].T + p["fc1_bias"])
    return x + hidden @ p["fc2_weight"].T + p["fc2_bias"], weights


def plain_encoder(stack, member, x, kv, causal, key_valid=None):
    """One official TransformerEncoder: √E·x + positions, the layers, a final LayerNorm."""
    positions = SinusoidalPositions(E)

    def embed(t):
        return math.sqrt(E) * t + positions(t)

    x = embed(x)
    kv = None if kv is None else embed(kv)
    weights = []
    for layer in stack.layers:
        p = {name: param[member] for name, param in layer.named_parameters()}
        x, w = plain_layer(x, kv, p, causal, key_valid)
        weights.append(w)
    return F.layer_norm(x, (E,), stack.norm_weight[member], stack.norm_bias[member]), torch.stack(weights)


def random_stack(members: int, causal: bool) -> TransformerStack:
    """A stack without dropout whose every parameter (LayerNorm γ and β and biases included) is random."""
    torch.manual_seed(0)
    stack = TransformerStack(dict.fromkeys(NAMES[:members], 0.0), E, HEADS, LAYERS, relu_dropout=0.0, res_dropout=0.0,
                             embed_dropout=0.0, causal=causal)
    with torch.no_grad():
        for name, param in stack.named_parameters():
            if "norm" in name:
                param.copy_(1.0 + 0.5 * torch.randn_like(param) if name.endswith("weight") else torch.randn_like(param))
            elif name.endswith("bias"):
                param.copy_(0.1 * torch.randn_like(param))
    assert not torch.allclose(stack.layers[0].norm0_weight, torch.ones(E))
    return stack


def inputs(lengths, kv_lengths):
    torch.manual_seed(1)
    xs = {name: torch.randn(B, t, E) for name, t in zip(NAMES, lengths)}
    kvs = {name: torch.randn(B, t, E) for name, t in zip(NAMES, kv_lengths)}
    return xs, kvs


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
@pytest.mark.parametrize("shapes", [((6, 6, 6), (9, 9, 9)), ((6, 4, 5), (9, 7, 3))], ids=["batched", "per-member"])
def test_stack_is_the_plain_mult_layer(training, causal, shapes):
    stack = random_stack(3, causal).train(training)
    xs, kvs = inputs(*shapes)
    valid = {"v->l": torch.arange(kvs["v->l"].shape[1]) < torch.tensor([7, 2, 4])[:, None]}   # padded keys
    with torch.no_grad():
        outs, weights = stack(xs, kvs, key_valid=valid, need_weights=True)
        plain, _ = stack(xs, kvs, key_valid=valid)                                  # SDPA in eval mode
        read = dict(zip(NAMES, (torch.tensor([0, 3, 5]), torch.tensor([1, 0, 3]), torch.tensor([2, 2, 3]))))
        rows, _ = stack(xs, kvs, key_valid=valid, read_at=read)                      # one query row in the last layer
        alone, _ = stack(xs)                                                         # self-attention
    for g, name in enumerate(NAMES):
        out, w = plain_encoder(stack, g, xs[name], kvs[name], causal, valid.get(name))
        torch.testing.assert_close(outs[name], out, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(plain[name], out, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(weights[name], w, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(rows[name], out[torch.arange(B), read[name]], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(alone[name], plain_encoder(stack, g, xs[name], None, causal)[0], rtol=1e-5,
                                   atol=1e-5)


def test_members_are_named():
    stack = random_stack(3, causal=True)
    xs, _ = inputs((6, 6, 6), (6, 6, 6))
    with pytest.raises(ValueError, match=r"queries must name its members \('a->l', 'v->l', 'l->v'\)"):
        stack({"a->l": xs["a->l"]})
    out, weights = stack(xs)
    assert list(out) == list(NAMES) and weights is None
