"""What the notebooks share: quick or full mode settings, and runs that are trained once.

Every notebook opens with a parameters cell (``QUICK``, ``DATASET``, ``EPOCHS``, ``SEEDS``,
``PRESET``, ``OUT``) and passes it to :func:`setup`:

- quick mode: the built-in *tiny* dataset written to a fresh temporary folder, a tiny model
  (width 8, 2 heads, 1 layer) and a short protocol (``quick_epochs`` epochs, batches of 32
  without accumulation, no per-epoch test pass), so a notebook runs in seconds on a CPU
  (the test suite runs every notebook this way);
- full mode: an MMSA pickle (``DATASET``; ``None`` generates the built-in MOSI-size data
  under ``data/``), the official preset and protocol, runs kept under ``OUT`` so that a
  notebook re-run (or another notebook) reuses every finished run.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from dmdlab.data import MMSADataset, load_mmsa
from dmdlab.data.synth import builtin_dataset, write_dataset
from dmdlab.model import DMDConfig
from dmdlab.train.config import TrainConfig

TINY_ARCH = {"d": 8, "heads": 2, "nlevels": 1}
"""The quick mode's model: the MOSI preset at width 8, 2 heads, 1 layer."""


@dataclass
class Setup:
    """A notebook's data, configurations and run folder."""

    quick: bool                 # quick mode (tiny data and model) or full mode
    data: MMSADataset           # the loaded dataset (three splits)
    model_config: DMDConfig     # base model configuration (variants are derived from it)
    train_config: TrainConfig   # training protocol (its seed is replaced per run)
    seeds: list[int]            # the seeds runs are repeated over
    out: Path                   # folder of the runs

    def runs(self, variants: Sequence[str] = ("dmd",), *, seeds: Sequence[int] | None = None, progress: bool | None = None):
        """Train (or read back, when finished under ``out``) every variant with every seed: a ``RunSet``."""
        from dmdlab.train.experiments import run_experiment

        return run_experiment(self.data, tuple(variants), seeds=list(seeds or self.seeds), base_config=self.model_config,
                              train_config=self.train_config, out_dir=self.out,
                              progress=(not self.quick) if progress is None else progress)

    def model(self, variant: str = "dmd", seed: int | None = None):
        """The best checkpoint of one run (trained first if needed), in eval mode, on the CPU."""
        run = self.runs([variant], seeds=[seed or self.seeds[0]])[0]
        model, _ = run.load_model()
        return model.eval()

    def __repr__(self) -> str:
        mode = "quick" if self.quick else "full"
        a = self.model_config.arch
        return (f"Setup({mode} mode: {self.data.path.name} {self.data.sizes}, model d={a.d} heads={a.heads} "
                f"layers={a.nlevels}, ≤{self.train_config.max_epochs} epochs, seeds {self.seeds}, runs in {self.out})")


def setup(quick: bool = True, *, dataset: str | Path | None = None, preset: str = "mosi", epochs: int | None = None,
          seeds: int = 1, out: str | Path = "runs/notebooks", quick_epochs: int = 2) -> Setup:
    """Settings of a notebook (see the module docstring). ``seeds`` counts from 1111."""
    from dmdlab.train.experiments import seed_list

    if quick:
        work = Path(tempfile.mkdtemp(prefix="dmdlab-notebook-"))
        data = load_mmsa(write_dataset(work / "tiny.pkl", "tiny"))
        model_config = DMDConfig.preset("mosi").replace(arch=TINY_ARCH)
        # batches of 32 without accumulation: few optimizer steps, each cheap (seconds per run)
        train_config = TrainConfig(max_epochs=quick_epochs, batch_size=32, grad_accumulation=1,
                                   eval_test_each_epoch=False, progress=False, num_threads=1)
        return Setup(True, data, model_config, train_config, seed_list(min(seeds, 2)), work / "runs")
    if dataset is None:
        dataset, _ = builtin_dataset("mosi")
    data = load_mmsa(dataset)
    model_config = DMDConfig.preset(preset, aligned=data.spec.aligned)
    train_config = TrainConfig() if epochs is None else TrainConfig(max_epochs=epochs)
    return Setup(False, data, model_config, train_config, seed_list(seeds), Path(out) / Path(dataset).stem / preset)
