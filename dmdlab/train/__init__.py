"""Training and evaluation: metrics, the official protocol, runs on disk, experiments, benchmark.

- ``dmdlab.metrics``            MMSA regression metrics (``regression_metrics``; top level, as the
                                data baselines score with them too, and data must not import train).
- ``dmdlab.train.config``       ``TrainConfig``: the protocol (official defaults).
- ``dmdlab.train.trainer``      ``train``, ``resume``, ``evaluate``, ``Trainer``.
- ``dmdlab.checkpoint``         atomic files, ``load_checkpoint`` (below train: ``runs`` reads checkpoints too).
- ``dmdlab.train.experiments``  seeds x variants, ``reproduce``, ``results_table``.
- ``dmdlab.train.bench``        throughput and peak memory.
- ``dmdlab.train.cli``          ``train | evaluate | reproduce | bench | demo``.

The names below are imported on first use, so ``python -m dmdlab --help`` stays fast.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "TrainConfig": "dmdlab.train.config",
    "DEFAULT_SEEDS": "dmdlab.train.config",
    "regression_metrics": "dmdlab.metrics",
    "METRIC_NAMES": "dmdlab.metrics",
    "train": "dmdlab.train.trainer",
    "resume": "dmdlab.train.trainer",
    "evaluate": "dmdlab.train.trainer",
    "Trainer": "dmdlab.train.trainer",
    "load_checkpoint": "dmdlab.checkpoint",
    "reproduce": "dmdlab.train.experiments",
    "run_experiment": "dmdlab.train.experiments",
    "results_table": "dmdlab.train.experiments",
    "summarize": "dmdlab.train.experiments",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dmdlab.train' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
