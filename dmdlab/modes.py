"""The three ways to run dmdlab: ``smoke``, ``class`` and ``paper``; and where runs are cached.

One name, used by the notebooks' parameters cell (``MODE``), the command line
(``--mode``) and the main job:

- ``smoke``: the built-in *tiny* data, a tiny model (width 8, 2 heads, 1 layer) and three
  epochs. It checks that the code runs (the test suite uses it) and says nothing about
  the paper: every figure drawn from it carries the note :data:`SMOKE_NOTE`.
- ``class``: the built-in *MOSI-size* data (1,284 / 229 / 686 clips), the paper's MOSI
  model, and a fast protocol chosen on the validation split (see :data:`CLASS_PROTOCOL`)
  so that one DMD run learns in a few minutes on two CPU cores. Built for teaching.
- ``paper``: the official protocol (Adam 1e-4, batch 16, 10-batch accumulation, early
  stopping on the validation MAE, up to 100 epochs) on a dataset file the user names.

Runs are cached under one folder that does not depend on the working directory (a
notebook kernel starts in ``notebooks/``): ``$DMDLAB_HOME`` if set, else
``$XDG_CACHE_HOME/dmdlab`` or ``~/.cache/dmdlab``. Nothing is written next to the notebooks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

SMOKE_NOTE = "smoke data: not meaningful (tiny data and model, 3 epochs)"

CLASS_PROTOCOL: dict = {"lr": 2e-3, "grad_accumulation": 1, "max_epochs": 3, "early_stop_patience": None,
                        "eval_test_each_epoch": False}
"""The class protocol: the official one except these fields. Chosen on the *validation*
split of the built-in MOSI-size data (``scripts/class_protocol.py``; docs/teaching.md has
the table): with the official 1e-4 and an optimizer step every 10 batches a run needs
dozens of epochs; with one step per batch and 3 epochs, lr 2e-3 reached a lower validation
MAE than 5e-4 for DMD (0.803 against 0.836, seed 1111) and for the language-only model
(0.756 against 0.910). The test split is scored once, with the best validation epoch. (On the
first built-in data, whose text was token embeddings rather than an encoder's states, lr 5e-4
had been best.)"""


@dataclass(frozen=True)
class Mode:
    """What a mode fixes: data, model size, protocol, seeds, and the caveat its figures carry."""

    name: str
    scale: str | None            # built-in dataset size; None: the user names a file
    arch: dict = field(default_factory=dict)      # overrides of the preset's architecture
    protocol: dict = field(default_factory=dict)  # TrainConfig fields that differ from the official protocol
    seeds: int = 3               # default number of seeds (from 1111)
    note: str | None = None      # shown on every figure of this mode; None: nothing to warn about
    summary: str = ""            # one line for --help and the notebooks


MODES: dict[str, Mode] = {
    "smoke": Mode("smoke", "tiny", arch={"d": 8, "heads": 2, "nlevels": 1},
                  protocol={"max_epochs": 3, "batch_size": 32, "grad_accumulation": 1, "eval_test_each_epoch": False,
                            "num_threads": 1},
                  seeds=2, note=SMOKE_NOTE,
                  summary="tiny built-in data and model, 3 epochs: checks that everything runs (seconds); not meaningful"),
    "class": Mode("class", "mosi", protocol=CLASS_PROTOCOL, seeds=3,
                  summary="MOSI-size built-in data, the MOSI model, a fast protocol chosen on validation "
                          "(lr 2e-3, no accumulation, 3 epochs): minutes per run on 2 CPU cores"),
    "paper": Mode("paper", None, seeds=5,
                  summary="the official protocol (lr 1e-4, 10-batch accumulation, early stopping, ≤100 epochs) "
                          "on a dataset file you name: hours per run on a CPU"),
}
MODE_NAMES: tuple[str, ...] = tuple(MODES)


def get_mode(name: str) -> Mode:
    """The :class:`Mode` called ``name``; a clear error for any other name."""
    if name not in MODES:
        raise ValueError(f"The 'mode' parameter must be one of {list(MODES)}. Got {name!r}.")
    return MODES[name]


def cache_dir() -> Path:
    """dmdlab's cache folder: ``$DMDLAB_HOME``, else ``$XDG_CACHE_HOME/dmdlab``, else ``~/.cache/dmdlab``."""
    home = os.environ.get("DMDLAB_HOME")
    if home:
        return Path(home).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return (Path(base).expanduser() / "dmdlab").resolve()
