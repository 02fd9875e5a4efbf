"""Every notebook runs top to bottom in smoke mode (nbclient, the venv's ipykernel).

The notebooks are executed from their committed ``.ipynb`` (outputs stripped) with the
parameters cell switched to ``MODE = "smoke"`` (papermill-style injection: a person opening
a notebook gets class mode). The test also checks each one opens with a ``parameters`` cell
holding ``MODE = "class"``, that its jupytext twin (``.py``, percent format) has the same
code, and that no output is committed. The workbench cache (``DMDLAB_HOME``) is the
session's temporary folder, so the notebooks share their smoke runs as they would a user's.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
jupytext = pytest.importorskip("jupytext")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
HEAVY = {"06_separability.ipynb": 240, "08_paper.ipynb": 240,   # UMAP / t-SNE and many runs: the timeout, s
         "11_worlds.ipynb": 240}                                   # four worlds' data and 18 smoke runs
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}


def test_there_are_twelve_notebooks_numbered_in_order():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(1, 13)]   # 11 worlds, 12 real MOSI


def test_python3_kernel_is_this_venv():
    """nbclient starts the 'python3' kernelspec; it must run this interpreter (the venv's)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    manager = KernelManager(kernel_name="python3")
    command = manager.format_kernel_cmd()
    assert Path(command[0]).resolve() == Path(sys.executable).resolve(), (command, KernelSpecManager().find_kernel_specs())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_clean_and_matches_its_twin(path):
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "the first code cell must be tagged 'parameters'"
    assert 'MODE = "class"' in code[0].source
    assert all(not cell.get("outputs") and cell.get("execution_count") is None for cell in code), "strip the outputs"
    twin = jupytext.read(path.with_suffix(".py"))
    assert [c.source for c in twin.cells if c.cell_type == "code"] == [c.source for c in code], \
        f"{path.name} and its .py twin differ: run `jupytext --sync {path.with_suffix('.py')}`"


def _execute(path: Path, tmp_path: Path, monkeypatch, dataset: Path | None = None):
    """Run a notebook in smoke mode (on ``dataset`` when given); returns it and the seconds it took."""
    for name, value in THREADS.items():
        monkeypatch.setenv(name, value)
    notebook = nbformat.read(path, as_version=4)
    parameters = next(cell for cell in notebook.cells if cell.cell_type == "code")
    parameters.source = parameters.source.replace('MODE = "class"', 'MODE = "smoke"')
    if dataset is not None:
        assert "DATASET = None" in parameters.source
        parameters.source = parameters.source.replace("DATASET = None", f"DATASET = {str(dataset)!r}")
    client = nbclient.NotebookClient(notebook, kernel_name="python3", timeout=HEAVY.get(path.name, 120),
                                     resources={"metadata": {"path": str(tmp_path)}})
    started = time.perf_counter()
    client.execute()  # raises CellExecutionError (with the cell and traceback) on any error
    return notebook, time.perf_counter() - started


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_smoke_mode(path, tmp_path, monkeypatch):
    notebook, elapsed = _execute(path, tmp_path, monkeypatch)
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    figures = [o for cell in notebook.cells for o in cell.get("outputs", [])
               if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert figures or path.name.startswith("04"), "every notebook but 04 draws plotly figures"
    print(f"{path.name}: {elapsed:.1f} s")
    assert not list(tmp_path.iterdir()), "a notebook wrote next to itself: runs and data belong in the cache"
    if os.environ.get("DMDLAB_NOTEBOOK_OUT"):  # keep the executed notebook to look at
        nbformat.write(notebook, Path(os.environ["DMDLAB_NOTEBOOK_OUT"]) / path.name)


@pytest.mark.notebook
@pytest.mark.parametrize("name", ["03_training", "07_attention"])
def test_notebook_runs_on_unaligned_data(name, tiny_unaligned_dataset_path, tmp_path, monkeypatch):
    """DATASET may name an unaligned file (vision and audio longer than the text): training, and
    cross-modal attention maps whose query and key lengths differ."""
    path = next(p for p in NOTEBOOKS if p.stem == name)
    notebook, _ = _execute(path, tmp_path, monkeypatch, dataset=tiny_unaligned_dataset_path)
    assert not [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
