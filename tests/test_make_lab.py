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


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_lab_sets_a_git_filter_that_strips_outputs_and_leaves_committed_notebooks_as_they_are(tmp_path):
    """`make lab` defines the nbstripout filter that .gitattributes names: a notebook run in Lab
    reads, to git, exactly as committed; a committed notebook is unchanged by it."""
    import json
    import re
    import shlex
    import sys

    out = subprocess.run(["make", "--dry-run", "--always-make", "lab", "PYTHON=true"], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    command = shlex.split(re.search(r"filter\.nbstripout\.clean '([^']+)'", out).group(1))
    assert command[1:4] == ["-m", "nbstripout", "--keep-id"]
    command[0] = sys.executable
    assert "notebooks/*.ipynb filter=nbstripout" in (REPO / ".gitattributes").read_text()

    def clean(text: str) -> str:
        return subprocess.run(command, input=text, capture_output=True, text=True, check=True).stdout

    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        committed = path.read_text()
        assert clean(committed) == committed, f"{path.name}: the filter would change the committed notebook"
    path = REPO / "notebooks" / "05_edges.ipynb"
    ran = json.loads(path.read_text())
    ran["metadata"]["language_info"] = {"name": "python", "version": "3.11.7"}
    for number, cell in enumerate(c for c in ran["cells"] if c["cell_type"] == "code"):
        cell["execution_count"] = number + 1
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["trained\n"]}]
    assert clean(json.dumps(ran, indent=1, ensure_ascii=False) + "\n") == path.read_text()
