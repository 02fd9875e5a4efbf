"""scripts/gpu_check.sh: on a machine without CUDA it says so and exits 2, running nothing else."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.sh"


def test_gpu_check_without_cuda_says_so(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: run scripts/gpu_check.sh itself")
    env = {**os.environ, "GPU_CHECK_OUT": str(tmp_path), "PYTHON": os.sys.executable}
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "torch sees no CUDA device" in done.stderr
    assert not (tmp_path / "steps.txt").exists()
