"""What a class-mode run costs on two CPU cores: the one home of every time dmdlab promises.

``--help``, the demo's first line, the notebooks' "about N min" lines and the workbench's
plan all read :data:`CLASS_RUN_SECONDS`; the README and docs/teaching.md quote the same
measurement. Re-measure after anything that changes a run's cost (the built-in data, the
model, the class protocol) with::

    time DMDLAB_HOME=<empty folder> python -m dmdlab demo      # then read each run's history.csv

and update the figures and :data:`MEASURED` together.

A run's time is its training and validation (``time/train_s + time/eval_s`` of its
history, 3 epochs) plus its share of the rest (test pass, model set-up, Ray's scheduling):
:data:`RUN_OVERHEAD_SECONDS`. Runs train ``slots`` at a time (one per core on a local Ray).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

CLASS_RUN_SECONDS: dict[str, float] = {
    # the paper's MOSI model on the built-in MOSI-size data, 3 epochs, one torch thread, two runs side by side
    "dmd": 117.0, "wo_fd": 115.0, "wo_homogd": 117.0, "wo_heterogd": 117.0, "wo_ca": 117.0,
    "uniform_prior": 117.0, "no_edge_reg": 117.0,
    "unimodal_l": 11.0, "unimodal_v": 11.0, "unimodal_a": 11.0,
    # the comparison table's baselines, measured on a shared machine (see below): about 1.4x long
    "ef_lstm": 26.0, "lf_lstm": 12.0, "tfn": 51.0, "lmf": 4.0, "mfm": 60.0, "mult": 69.0,
}
"""Seconds of training + validation per class-mode run, as a share of the wall-clock of runs
trained two at a time. First measured in ``make demo`` on a quiet machine (dmd 108-126 s,
wo_fd 105-124 s, unimodal_l 10-11 s) and checked again after the built-in data became a
pretrained encoder's states and the class protocol lr 2e-3: ``time python -m dmdlab workbench
--mode class`` from an empty cache on a quiet 2-core machine (load 2.8 with its own two runs)
took 23 min 58 s, of which 22 min 11 s training its 30 runs, against 24 min estimated from
these figures. That run's histories give per run (median of 3 seeds, train + validation):
dmd 135 s, wo_fd 135, wo_homogd 119, wo_heterogd 143, wo_ca 144, uniform_prior 143,
no_edge_reg 147, unimodal_l 13, unimodal_v 10, unimodal_a 12. The comparison table's baselines
and MulT were measured with ``reproduce comparison --mode class --seeds 3 --jobs 1 --threads 1``
on a shared machine (one run at a time, load average 2.7-5.5; median of 3 seeds), where DMD
took 179 s: re-measure them on a quiet machine (docs/training.md)."""

RUN_OVERHEAD_SECONDS = 12.0
"""Per run beyond its epochs on a local Ray (test pass, set-up, scheduling): docs/research.md's
bench (``scripts/bench_runs.py``), 12.0 s on the quiet machine."""

START_SECONDS = 90.0
"""Once per command: Ray's start (8 s quiet), generating or loading the built-in data, and the
claims report's forward passes (about a minute); fitted so that the demo's estimate matches its
measured 8 min 58 s."""

MEASURED = "estimated from runs measured on a quiet 2-core machine; longer on a busy one"
"""Where the figures come from, said wherever a time is promised."""

DEFAULT_SLOTS = 2
"""Runs side by side: a local Ray uses one core per run, and the figures are for 2 cores."""


def class_seconds(variants: Iterable[str], *, slots: int = DEFAULT_SLOTS, start: bool = True) -> float:
    """Wall seconds to train one class-mode run of each of ``variants`` (repeat a name per seed),
    ``slots`` at a time; ``start`` adds :data:`START_SECONDS`. A variant without a figure counts as DMD."""
    work = [CLASS_RUN_SECONDS.get(v, CLASS_RUN_SECONDS["dmd"]) + RUN_OVERHEAD_SECONDS for v in variants]
    if not work:
        return 0.0
    # runs go to the first free slot in order; the longest queue ends last
    ends = [0.0] * max(1, slots)
    for seconds in work:
        ends[ends.index(min(ends))] += seconds
    return max(ends) + (START_SECONDS if start else 0.0)


def minutes(seconds: float) -> str:
    """'about 9 min', 'under a minute'."""
    if not math.isfinite(seconds):
        return "an unknown time"
    if seconds < 60:
        return "under a minute"
    return f"about {round(seconds / 60):d} min"
