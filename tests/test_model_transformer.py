"""The fast transformer stack against the package's plain MulT encoders (``reference.py``:
nn.LayerNorm, nn.MultiheadAttention) holding the same weights, with every LayerNorm γ and β
random: the stack folds those affines into the next projection (``transformer._fold_affine``),
and initial ones (γ = 1, β = 0) would hide a broken fold. Whole models, every preset and
variant, are compared in tests/test_reference.py."""

from __future__ import annotations

import pytest
import torch

from dmdlab.model.reference import ReferenceStack
from dmdlab.model.stacks import convert_state_dict
from dmdlab.model.transformer import TransformerStack

E, HEADS, LAYERS, B = 8, 2, 2, 3
NAMES = ("a->l", "v->l", "l->v")


def reference_of(stack: TransformerStack) -> ReferenceStack:
    """The package's plain MulT encoders (``reference.py``) holding the stack's weights."""
    reference = ReferenceStack(dict(zip(stack.names, stack.attn_dropout)), E, HEADS, LAYERS, relu_dropout=0.0,
                               res_dropout=0.0, embed_dropout=0.0, causal=stack.causal).train(stack.training)
    reference.load_state_dict(convert_state_dict(stack.state_dict(), reference))
    return reference


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
    reference = reference_of(stack)
    with torch.no_grad():
        outs, weights = stack(xs, kvs, key_valid=valid, need_weights=True)
        plain, _ = stack(xs, kvs, key_valid=valid)                                  # SDPA in eval mode
        read = dict(zip(NAMES, (torch.tensor([0, 3, 5]), torch.tensor([1, 0, 3]), torch.tensor([2, 2, 3]))))
        rows, _ = stack(xs, kvs, key_valid=valid, read_at=read)                      # one query row in the last layer
        alone, _ = stack(xs)                                                         # self-attention
        expected, expected_weights = reference(xs, kvs, key_valid=valid, need_weights=True)
        expected_rows, _ = reference(xs, kvs, key_valid=valid, read_at=read)
        expected_alone, _ = reference(xs)
    for name in NAMES:
        out = expected[name]
        torch.testing.assert_close(outs[name], out, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(plain[name], out, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(weights[name], expected_weights[name], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(rows[name], out[torch.arange(B), read[name]], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(expected_rows[name], rows[name], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(alone[name], expected_alone[name], rtol=1e-5, atol=1e-5)
    assert weights["v->l"][:, 1, :, :, 2:].eq(0).all()                              # padded keys get no weight


def test_members_are_named():
    stack = random_stack(3, causal=True)
    xs, _ = inputs((6, 6, 6), (6, 6, 6))
    with pytest.raises(ValueError, match=r"queries must name its members \('a->l', 'v->l', 'l->v'\)"):
        stack({"a->l": xs["a->l"]})
    out, weights = stack(xs)
    assert list(out) == list(NAMES) and weights is None
