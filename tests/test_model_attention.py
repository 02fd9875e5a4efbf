"""``dmdlab.model.attention``: the chunked (long-sequence) and fused ways against the explicit
computation, in training (dropout 0 and with dropout, same seed) and evaluation, with weights,
padding and causal masks, gradients included; and a whole DMD training step on unaligned data,
chunked and with the numba kernel (whose own tests are in test_attention_kernel.py)."""

from __future__ import annotations

import pytest
import torch

from dmdlab.model import attention
from dmdlab.model.attention import KeepStream, attend
from dmdlab.model.layers import additive_mask, causal_mask, keep_mask

CPU = torch.device("cpu")


@pytest.fixture(params=[2 * 3, 2], ids=["two-samples", "two-heads"])
def chunked(monkeypatch, request):
    """Every training call takes the chunked way, in blocks of two samples (3 heads each) or of
    two heads of one sample; blocks of 7·9 scores per head, not whole random words. (The numba
    kernel, which would take the chunked way's calls, has its own tests: test_attention_kernel.py.)"""
    monkeypatch.setattr(attention, "ATTENTION", "torch")
    monkeypatch.setattr(attention, "LONG_SCORES", 1)
    monkeypatch.setattr(attention, "CHUNK_SCORES", request.param * 7 * 9)


def _explicit(q, k, v, bias, p):
    """softmax(q·kᵀ/√hd + bias) then dropout on the weights, written out (the official way)."""
    probs = torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5 + (0 if bias is None else bias), dim=-1)
    if p > 0:
        keep, scale = keep_mask(probs.shape, p, CPU, probs.dtype)
        probs = probs * keep * scale
    return probs @ v


def _inputs(seed: int = 0, n: int = 5, heads: int = 3, t_q: int = 7, t_k: int = 9, hd: int = 4):
    torch.manual_seed(seed)
    return [torch.randn(n, heads, t, hd, requires_grad=True) for t in (t_q, t_k, t_k)]


def _masks(kind: str, n: int = 5, t_q: int = 7, t_k: int = 9):
    if kind == "none":
        return None
    if kind == "padding":
        valid = torch.arange(t_k) < torch.tensor([9, 3, 1, 6, 9])[:, None]                # (N, Tk)
        return valid.view(n, 1, 1, t_k)
    return causal_mask(t_q, t_k, CPU)


def test_keep_stream_pieces_are_slices_of_one_mask():
    torch.manual_seed(3)
    whole, scale = keep_mask(torch.Size([3, 7, 11]), 0.3, CPU, torch.float32)
    torch.manual_seed(3)
    stream = KeepStream(0.3, CPU)
    pieces = [stream.next(torch.Size([1, 7, 11]), torch.float32) for _ in range(3)]   # 77 elements: not whole words
    assert torch.cat(pieces).equal(whole) and stream.scale == scale


@pytest.mark.parametrize("kind", ["none", "padding", "causal"])
@pytest.mark.parametrize("p", [0.0, 0.3])
def test_chunked_training_equals_explicit(chunked, kind, p):
    mask = _masks(kind)
    bias = additive_mask(mask, torch.float32)
    q, k, v = _inputs()
    torch.manual_seed(11)
    out, weights = attend(q, k, v, mask=mask, bias=bias, dropout_p=p, training=True)
    assert weights is None
    grad = torch.randn_like(out)
    grads = torch.autograd.grad(out, (q, k, v), grad)
    torch.manual_seed(11)
    expected = _explicit(q, k, v, bias, p)
    expected_grads = torch.autograd.grad(expected, (q, k, v), grad)
    torch.testing.assert_close(out, expected)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want)
    if p > 0:   # the masks were really drawn: another seed gives another output
        torch.manual_seed(12)
        assert not attend(q, k, v, bias=bias, dropout_p=p, training=True)[0].allclose(out)


def test_chunked_backward_passes_gradcheck(chunked):
    q, k, v = (t.detach().double().requires_grad_() for t in _inputs(n=3, t_q=4, t_k=5, hd=2))
    bias = additive_mask(torch.tensor([True, True, False, True, True]).view(1, 1, 1, 5), torch.float64)
    assert torch.autograd.gradcheck(lambda *x: attend(*x, bias=bias, training=True)[0], (q, k, v))


@pytest.mark.parametrize("kind", ["none", "padding", "causal"])
def test_evaluation_and_weights_equal_explicit(chunked, kind):
    mask = _masks(kind)
    bias = additive_mask(mask, torch.float32)
    q, k, v = _inputs()
    expected = _explicit(q, k, v, bias, 0.0)
    with torch.no_grad():
        out, none = attend(q, k, v, mask=mask, bias=bias, dropout_p=0.3)                 # fused, eval
        torch.testing.assert_close(out, expected)
        assert none is None
        out, weights = attend(q, k, v, mask=mask, bias=bias, dropout_p=0.3, need_weights=True)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(weights.sum(-1), torch.ones(5, 3, 7))
    if mask is not None:
        assert torch.all(weights[~mask.expand_as(weights)] == 0)
    causal_out, _ = attend(q, k, v, is_causal=True, training=True)
    torch.testing.assert_close(causal_out, _explicit(q, k, v, additive_mask(_masks("causal"), torch.float32), 0.0))


@pytest.mark.parametrize("way", ["chunked", "kernel"])
def test_dmd_training_step_on_unaligned_data_is_unchanged(tiny_unaligned_dataset, monkeypatch, way):
    """One seeded training step (dropout on) of DMD on unaligned data, padding masks on: the
    chunked way and the numba kernel (``attention_kernel``) give the explicit way's loss and gradients."""
    from dmdlab.model import DMD, DMDConfig

    if way == "kernel":
        pytest.importorskip("numba", reason="numba is not installed: the attention kernel is not available")
    data = tiny_unaligned_dataset
    config = DMDConfig.preset("mosi").replace(arch={"d": 8, "heads": 2, "nlevels": 2, "padding_masks": True})
    batch = next(data.splits["train"].batches(6))
    torch.manual_seed(0)
    model = DMD(config, data.spec).train()

    def step():
        model.zero_grad(set_to_none=True)
        torch.manual_seed(5)
        out = model(batch.text, batch.vision, batch.audio, vision_lengths=batch.vision_lengths,
                    audio_lengths=batch.audio_lengths)
        loss = model.loss(out, batch.labels).total
        loss.backward()
        return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    monkeypatch.setattr(attention, "ATTENTION", "torch")
    loss, grads = step()
    before = attention.calls[way]
    if way == "kernel":
        monkeypatch.setattr(attention, "ATTENTION", "kernel")
    else:
        monkeypatch.setattr(attention, "LONG_SCORES", 1)
        monkeypatch.setattr(attention, "CHUNK_SCORES", 2 * 24 * 24)
    way_loss, way_grads = step()
    assert attention.calls[way] > before, f"the {way} way did not run"
    torch.testing.assert_close(way_loss, loss)
    assert way_grads.keys() == grads.keys()
    tolerance = {"rtol": 1e-4, "atol": 1e-6} if way == "kernel" else {}     # the kernel sums in another order
    for name, grad in grads.items():
        torch.testing.assert_close(way_grads[name], grad, msg=name, **tolerance)


def test_without_the_kernel_every_call_takes_the_torch_ways(monkeypatch):
    """numba absent (``_kernel()`` None): DMDLAB_ATTENTION=kernel falls back to the explicit way, same numbers."""
    monkeypatch.setattr(attention, "_KERNEL", [None])
    monkeypatch.setattr(attention, "ATTENTION", "kernel")
    q, k, v = _inputs()
    before = attention.calls.copy()
    torch.manual_seed(2)
    out, _ = attend(q, k, v, dropout_p=0.3, training=True)
    assert attention.calls - before == {"explicit": 1}
    torch.manual_seed(2)
    torch.testing.assert_close(out, _explicit(q, k, v, None, 0.3))
