"""`make lab` starts JupyterLab on this machine only, and as root too (JupyterLab refuses
root without --allow-root, which containers often need)."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _lab_command(uid: int) -> str:
    out = subprocess.run(["make", "--dry-run", "--always-make", "lab", f"LAB_UID={uid}", "PYTHON=true"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    return next(line for line in out.splitlines() if "jupyter lab" in line)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_lab_binds_localhost_and_allows_root_only_for_root():
    root, user = _lab_command(0), _lab_command(1000)
    assert "--ip=127.0.0.1" in root and "--ip=127.0.0.1" in user
    assert "--allow-root" in root and "--allow-root" not in user
