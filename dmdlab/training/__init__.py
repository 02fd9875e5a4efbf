"""Training: the official protocol (``TrainConfig``), the trainer, and the checks on what a run is asked.

- ``dmdlab.training.config``   ``TrainConfig``: the protocol (official defaults), ``DEFAULT_SEEDS``.
- ``dmdlab.training.trainer``  ``train``, ``resume``, ``evaluate``, ``Trainer``.
- ``dmdlab.training.guards``   argument types and the changes a resumed run may take.
- ``dmdlab.training.resolve``  ``resolve``: data path, preset, overrides, variant, mode → (dataset, DMDConfig, TrainConfig).

Around it: ``dmdlab.metrics`` (MMSA regression metrics; top level, as the data baselines score
with them too), ``dmdlab.checkpoint`` (``load_checkpoint``; below training, as ``runs`` reads
checkpoints too). Many runs at once (seeds × variants, Ray, Optuna, the workbench, the
benchmark) are ``dmdlab.orchestration``; the command lines are ``dmdlab.cli``.

The names below are imported on first use, so ``python -m dmdlab --help`` stays fast.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "TrainConfig": "dmdlab.training.config",
    "DEFAULT_SEEDS": "dmdlab.training.config",
    "train": "dmdlab.training.trainer",
    "resume": "dmdlab.training.trainer",
    "evaluate": "dmdlab.training.trainer",
    "Trainer": "dmdlab.training.trainer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dmdlab.training' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
