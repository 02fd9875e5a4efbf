"""What the notebooks share: the mode's workbench, and the claims each notebook shows.

Every notebook opens with a parameters cell (``MODE``, ``DATASET``, ``PRESET``, ``SEEDS``)
and passes it to :func:`setup`, which returns the mode's :class:`~dmdlab.train.workbench.Workbench`:
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
from pathlib import Path

from dmdlab.train.workbench import Workbench, open_workbench


def setup(mode: str = "class", *, dataset: str | Path | None = None, preset: str = "mosi",
          seeds: int | Sequence[int] | None = None, out: str | Path | None = None) -> Workbench:
    """The workbench of ``mode`` (see the module docstring); ``seeds`` counts from 1111."""
    return open_workbench(mode, data=dataset, preset=preset, seeds=seeds, out=out)


def claims(bench: Workbench, *groups: str, progress: bool = False):
    """The claims report of ``groups`` (e.g. ``"edges"``; default all) on the workbench's runs,
    training first the runs those claims read that are not in the cache yet."""
    from dmdlab.claims import CLAIM_VARIANTS, claims_report

    groups = groups or tuple(CLAIM_VARIANTS)
    variants = tuple(dict.fromkeys(v for group in groups for v in CLAIM_VARIANTS.get(group, ())))
    run_set = bench.runs(variants, progress=progress) if variants else []
    return claims_report(run_set, bench.data, groups=groups, progress=progress, note=bench.note)
