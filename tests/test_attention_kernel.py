"""``dmdlab.model.attention_kernel``: the numba kernel against the explicit computation, forward and
gradients of q, k and v, in training with and without dropout (the same random stream), with key
padding and causal masks, head widths 5 and 10, aligned (T = 50) and unaligned-like (Tq ≠ Tk, a few
hundred) shapes; which calls ``auto`` gives the kernel; the disk cache. (A seeded DMD training step with the kernel: test_model_attention.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("numba", reason="numba is not installed: the attention kernel is not available")

from test_model_attention import _explicit  # the written-out reference

from dmdlab.model import attention
from dmdlab.model.attention import attend
from dmdlab.model.layers import additive_mask, causal_mask

REPO = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
SHAPES = {"aligned": (4, 3, 50, 50), "unaligned": (2, 2, 50, 300), "unaligned-long": (1, 2, 300, 375)}


@pytest.fixture
def kernel(monkeypatch):
    """Every CPU training call takes the kernel."""
    monkeypatch.setattr(attention, "ATTENTION", "kernel")


def _case(shape: str, hd: int, kind: str):
    n, heads, t_q, t_k = SHAPES[shape]
    torch.manual_seed(0)
    q, k, v = (torch.randn(n, heads, t, hd, requires_grad=True) for t in (t_q, t_k, t_k))
    mask = None
    if kind == "padding":               # the first sample sees all keys, the others fewer (at least one)
        lengths = torch.tensor([t_k] + [max(1, t_k * i // (2 * n)) for i in range(1, n)])
        mask = (torch.arange(t_k) < lengths[:, None]).view(n, 1, 1, t_k)
    elif kind == "causal":
        mask = causal_mask(t_q, t_k, CPU)
    return q, k, v, mask, additive_mask(mask, torch.float32)


def _check(q, k, v, mask, bias, p):
    grad = torch.randn(q.shape)
    before = attention.calls["kernel"]
    torch.manual_seed(11)
    out, weights = attend(q, k, v, mask=mask, bias=bias, dropout_p=p, training=True)
    assert weights is None and attention.calls["kernel"] == before + 1, "the kernel did not run"
    grads = torch.autograd.grad(out, (q, k, v), grad)
    torch.manual_seed(11)
    expected = _explicit(q, k, v, bias, p)
    expected_grads = torch.autograd.grad(expected, (q, k, v), grad)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    for name, got, want in zip("qkv", grads, expected_grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5, msg=lambda m, name=name: f"grad {name}: {m}")
    return out


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("hd", [5, 10])
@pytest.mark.parametrize("kind", ["none", "padding", "causal"])
@pytest.mark.parametrize("p", [0.0, 0.3])
def test_kernel_equals_explicit(kernel, shape, hd, kind, p):
    q, k, v, mask, bias = _case(shape, hd, kind)
    out = _check(q, k, v, mask, bias, p)
    if p > 0:   # the masks were really drawn: another seed gives another output
        torch.manual_seed(12)
        assert not attend(q, k, v, bias=bias, dropout_p=p, training=True)[0].allclose(out)


def test_causal_flag_and_a_read_row(kernel):
    q, k, v, _, _ = _case("aligned", 5, "none")
    torch.manual_seed(3)
    out, _ = attend(q, k, v, is_causal=True, dropout_p=0.2, training=True)
    torch.manual_seed(3)
    torch.testing.assert_close(out, _explicit(q, k, v, additive_mask(causal_mask(50, 50, CPU), torch.float32), 0.2))
    row = q[:, :, -1:]                                  # the last layer read at one step: one query row per sample
    _check(row, k, v, None, None, 0.2)


def test_auto_takes_the_kernel_only_for_long_sequences_with_dropout(monkeypatch):
    monkeypatch.setattr(attention, "ATTENTION", "auto")
    q, k, v, _, _ = _case("unaligned", 5, "none")
    ways = {}
    for p in (0.0, 0.2):
        for long in (1, 1 << 30):
            monkeypatch.setattr(attention, "LONG_SCORES", long)
            before = attention.calls.copy()
            attend(q, k, v, dropout_p=p, training=True)
            ways[p, long == 1] = next(iter(attention.calls - before))
    assert ways == {(0.0, True): "fused", (0.0, False): "explicit", (0.2, True): "kernel", (0.2, False): "explicit"}
    monkeypatch.setattr(attention, "ATTENTION", "torch")
    monkeypatch.setattr(attention, "LONG_SCORES", 1)
    before = attention.calls.copy()
    attend(q, k, v, dropout_p=0.2, training=True)
    assert attention.calls - before == {"chunked": 1}


_RUN = ("import torch; from dmdlab.model import attention; attention.ATTENTION = 'kernel'; "
        "q = torch.randn(2, 2, 7, 5, requires_grad=True); "
        "attention.attend(q, q, q, dropout_p=0.1, training=True)[0].sum().backward(); "
        "print(attention.calls['kernel'])")


@pytest.mark.slow
def test_compiled_code_is_cached_under_dmdlab_home_and_an_unwritable_one_still_runs(tmp_path):
    """Compiles in fresh processes (about 10 s each): the cache goes to $DMDLAB_HOME/numba; a
    $DMDLAB_HOME that cannot be created (below a file: fails for root too) falls back to numba's own
    locations instead of failing."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("NUMBA_CACHE_DIR", None)
    home = tmp_path / "home"
    run = subprocess.run([sys.executable, "-c", _RUN], env={**env, "DMDLAB_HOME": str(home)},
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.split()[-1] == "1", run.stderr
    assert list((home / "numba").rglob("*.nbi")), "no numba cache index under DMDLAB_HOME/numba"
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    run = subprocess.run([sys.executable, "-c", _RUN], env={**env, "DMDLAB_HOME": str(blocked / "home")},
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.split()[-1] == "1", run.stderr


def test_attention_ways_script_times_both_ways(monkeypatch, capsys):
    """scripts/attention_ways.py (docs/performance.md): one JSON line per size, the torch way it replaced."""
    import json
    import runpy

    monkeypatch.setattr(attention, "ATTENTION", attention.ATTENTION)        # the script sets it: restored after
    monkeypatch.setattr(sys, "argv", ["attention_ways.py", "--repeats", "1"])
    runpy.run_path(str(REPO / "scripts" / "attention_ways.py"), run_name="__main__")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["torch_way"] for line in lines] == ["explicit", "explicit", "explicit", "chunked", "chunked"]
    assert all(line["torch_ms"] > 0 and line["kernel_ms"] > 0 for line in lines)
