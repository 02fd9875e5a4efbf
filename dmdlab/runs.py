"""Runs on disk, read back as pandas DataFrames.

A run directory (written by ``dmdlab.train.train``) holds:

=================== =====================================================================
``config.json``     model config, training config, data spec, dataset, variant, seed
``history.csv``     one row per epoch: lr, every loss term and metric per split, mean edges
``metrics.json``    final metrics of the best-validation checkpoint (written last: a run
                    without it is unfinished and can be resumed)
``predictions.csv`` valid and test predictions with clip ids, labels and per-clip edges
``edges.csv``       mean and std of each GD edge of the best checkpoint, per split
``best.pt``         best-validation checkpoint (``dmdlab.train.load_checkpoint``)
``last.pt``         last epoch's full training state (what ``--resume`` continues from)
``env.json``        package versions, device, threads, start time
=================== =====================================================================

``load(path_or_glob)``: a run directory gives a ``Run``; a glob, or a folder of runs,
gives a ``RunSet`` whose ``.metrics`` is one row per run.
"""

from __future__ import annotations

import glob as globbing
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

CONFIG = "config.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
PREDICTIONS = "predictions.csv"
EDGES = "edges.csv"
BEST = "best.pt"
LAST = "last.pt"
ENV = "env.json"


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _read_metrics(path: Path) -> dict:
    """metrics.json with JSON nulls (NaN when written, e.g. Corr of a constant prediction) back as NaN."""
    values = _read_json(path)
    for split in ("valid", "test"):
        if isinstance(values.get(split), dict):
            values[split] = {key: float("nan") if value is None else value for key, value in values[split].items()}
    return values


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"id": str}) if path.is_file() else pd.DataFrame()


@dataclass
class Run:
    """One training run: its configuration and results as plain dicts and DataFrames."""

    config: dict                    # {"model", "train", "spec", "dataset", "variant", "seed", "name"}
    history: pd.DataFrame           # one row per epoch (columns: DESIGN.md)
    metrics: dict                   # metrics.json: {"valid": {...}, "test": {...}, "best_epoch", "epochs", ...}
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame)  # split, id, label, prediction, edge/...
    edges: pd.DataFrame = field(default_factory=pd.DataFrame)        # split, unit, edge, mean, std
    env: dict = field(default_factory=dict)
    path: Path | None = None        # the run directory (None for a run kept in memory)

    @property
    def name(self) -> str:
        return self.config.get("name") or (self.path.name if self.path else "run")

    @property
    def variant(self) -> str | None:
        return self.config.get("variant")

    @property
    def seed(self) -> int | None:
        return self.config.get("train", {}).get("seed")

    @property
    def finished(self) -> bool:
        """True once the final test with the best checkpoint has been written."""
        return "test" in self.metrics

    @property
    def metrics_frame(self) -> pd.DataFrame:
        """Final metrics of the best checkpoint: index split ("valid", "test"), columns metric names."""
        rows = {split: self.metrics[split] for split in ("valid", "test") if split in self.metrics}
        return pd.DataFrame.from_dict(rows, orient="index", dtype=float)

    @property
    def test_metrics(self) -> dict[str, float]:
        """The test metrics of the best checkpoint ({} while unfinished)."""
        return dict(self.metrics.get("test", {}))

    @property
    def checkpoint(self) -> Path | None:
        return self.path / BEST if self.path is not None else None

    def load_model(self, map_location: str = "cpu"):
        """``(model, spec)`` rebuilt from ``best.pt``."""
        from dmdlab.train.checkpoint import load_checkpoint

        if self.path is None:
            raise ValueError("this run was kept in memory (no run directory): nothing to load.")
        return load_checkpoint(self.path / BEST, map_location)

    def row(self) -> dict:
        """One flat row: identity columns, then the test metrics."""
        return {
            "run": self.name,
            "variant": self.variant,
            "seed": self.seed,
            "dataset": self.config.get("dataset", {}).get("name"),
            "aligned": self.config.get("spec", {}).get("aligned"),
            "best_epoch": self.metrics.get("best_epoch"),
            "epochs": self.metrics.get("epochs"),
            **self.test_metrics,
        }

    def __repr__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"Run({self.name!r}, variant={self.variant!r}, seed={self.seed}, epochs={len(self.history)}{where})"


class RunSet:
    """Several runs; DataFrame views over all of them."""

    def __init__(self, runs: list[Run]):
        self.runs = list(runs)

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self):
        return iter(self.runs)

    def __getitem__(self, index: int) -> Run:
        return self.runs[index]

    @property
    def metrics(self) -> pd.DataFrame:
        """One row per run: run, variant, seed, dataset, aligned, best_epoch, epochs, test metrics."""
        return pd.DataFrame([run.row() for run in self.runs])

    @property
    def history(self) -> pd.DataFrame:
        """Every run's history stacked, with ``run``, ``variant`` and ``seed`` columns first."""
        frames = [run.history.assign(run=run.name, variant=run.variant, seed=run.seed) for run in self.runs]
        if not frames:
            return pd.DataFrame()
        stacked = pd.concat(frames, ignore_index=True)
        first = ["run", "variant", "seed"]
        return stacked[first + [column for column in stacked.columns if column not in first]]

    def __repr__(self) -> str:
        return f"RunSet({len(self.runs)} runs)"


def read_run(path: str | Path) -> Run:
    """The run in directory ``path`` (finished or not)."""
    path = Path(path)
    if not (path / CONFIG).is_file():
        raise FileNotFoundError(f"no run at {path} (no {CONFIG})")
    return Run(
        config=_read_json(path / CONFIG),
        history=_read_csv(path / HISTORY),
        metrics=_read_metrics(path / METRICS),
        predictions=_read_csv(path / PREDICTIONS),
        edges=_read_csv(path / EDGES),
        env=_read_json(path / ENV),
        path=path,
    )


def _is_glob(text: str) -> bool:
    return any(char in text for char in "*?[")


def find(path_or_glob: str | Path) -> list[Path]:
    """Run directories matching a glob, or under a folder (recursively), sorted."""
    text = str(path_or_glob)
    if _is_glob(text):
        candidates = [Path(match) for match in globbing.glob(text, recursive=True)]
    else:
        candidates = [Path(text)] if (Path(text) / CONFIG).is_file() else [p.parent for p in Path(text).rglob(CONFIG)]
    return sorted({candidate for candidate in candidates if (candidate / CONFIG).is_file()})


def load(path_or_glob: str | Path) -> Run | RunSet:
    """A ``Run`` for a run directory; a ``RunSet`` for a glob or a folder holding runs."""
    text = str(path_or_glob)
    if not _is_glob(text) and (Path(text) / CONFIG).is_file():
        return read_run(text)
    paths = find(text)
    if not paths:
        raise FileNotFoundError(f"no run found at {text}")
    return RunSet([read_run(path) for path in paths])
