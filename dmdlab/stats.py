"""Statistics over seeds: paired differences with a 95 % interval and a paired t-test.

A claim about the paper is a difference between two models trained with the same seeds
(DMD and an ablation, say). Pairing by seed removes what the seeds share (the data order,
the initialisation draw); the interval is Student's t over the per-seed differences, so it
is honest about how little three or five seeds can tell. :func:`verdict` turns an interval
into the words the claims report prints: a difference whose interval contains 0 is *inside
seed noise*, whatever its sign.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HOLDS, FAILS, NOISE, NOT_MEASURABLE = "holds", "does not hold", "inside seed noise", "not measurable here"
"""The verdicts of a claim."""


@dataclass(frozen=True)
class Interval:
    """The mean of n values (or of n paired differences) with a two-sided confidence interval."""

    mean: float
    low: float        # NaN when n < 2
    high: float
    p_value: float    # two-sided t-test of mean 0 (paired test for differences); NaN when n < 2
    n: int
    confidence: float = 0.95

    @property
    def significant(self) -> bool:
        """The interval excludes 0."""
        return self.n >= 2 and (self.low > 0 or self.high < 0)

    def text(self, places: int = 2, scale: float = 1.0) -> str:
        """'+1.23 [0.40, 2.06]' (× ``scale``); the interval is left out for one value."""
        if self.n == 0:
            return "–"
        m = signed(self.mean * scale, places)
        if self.n < 2 or not math.isfinite(self.low):
            return f"{m} (1 seed)"
        return f"{m} [{signed(self.low * scale, places)}, {signed(self.high * scale, places)}]"


def signed(value: float, places: int = 2) -> str:
    """'+0.12', '-0.12', and '0.00' for anything that rounds to zero (never '-0.00')."""
    text = f"{value:+.{places}f}"
    return text if not math.isfinite(value) or float(text) != 0 else f"{0:.{places}f}"


def fixed(value: float, places: int = 2) -> str:
    """'0.12', '-0.12', and '0.00' for anything that rounds to zero (never '-0.00')."""
    text = f"{value:.{places}f}"
    return text if not math.isfinite(value) or float(text) != 0 else f"{0:.{places}f}"


def mean_interval(values, confidence: float = 0.95) -> Interval:
    """Mean of ``values`` with Student's t interval and the one-sample t-test against 0."""
    from scipy import stats

    x = np.asarray(values, dtype=float).reshape(-1)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, math.nan, 0, confidence)
    mean = float(x.mean())
    if n < 2:
        return Interval(mean, math.nan, math.nan, math.nan, n, confidence)
    sem = float(x.std(ddof=1)) / math.sqrt(n)
    if sem == 0.0:  # identical values: the interval is the point; a nonzero mean is certain, zero is not
        return Interval(mean, mean, mean, 0.0 if mean else 1.0, n, confidence)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sem
    p_value = float(2 * stats.t.sf(abs(mean) / sem, n - 1))
    return Interval(mean, mean - half, mean + half, p_value, n, confidence)


def paired_difference(a, b, confidence: float = 0.95) -> Interval:
    """Mean of ``a - b`` over paired seeds with its interval; the p-value is the paired t-test's."""
    a, b = np.asarray(a, dtype=float).reshape(-1), np.asarray(b, dtype=float).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"paired_difference: a and b must pair up (same number of seeds). Got {len(a)} and {len(b)}.")
    return mean_interval(a - b, confidence)


def verdict(interval: Interval, *, larger_is_claimed: bool = True) -> str:
    """``holds`` when the interval lies on the claimed side of 0, ``does not hold`` when it lies on
    the other side, ``inside seed noise`` when it contains 0, ``not measurable here`` below 2 values."""
    if interval.n < 2 or not math.isfinite(interval.mean):
        return NOT_MEASURABLE
    if not interval.significant:
        return NOISE
    return HOLDS if (interval.mean > 0) == larger_is_claimed else FAILS


SIGNIFICANT_MARK = "*"
"""Marks a difference whose 95 % interval excludes 0 (equivalently: paired t-test p < 0.05)."""


def significance_table(frame, *, by: str, reference, columns: dict, seed: str = "seed", scale: dict | None = None,
                       places: dict | None = None, confidence: float = 0.95):
    """Each group of ``frame`` against the ``reference`` group, paired by ``seed``.

    ``frame``: one row per run, a ``by`` column naming its group and a ``seed`` column.
    ``columns``: column of ``frame`` → title to print. Returns a DataFrame, a row per group
    but the reference (first-seen order), a column per title with text like
    ``"-1.20 [-2.31, -0.09] p=0.04 *"`` (``mean of group − reference`` over the seeds both
    have, × ``scale[column]``, ``places[column]`` decimals (default 2); ``*``:
    :data:`SIGNIFICANT_MARK`), and ``seeds`` (pairs used).
    The numbers sit in ``.attrs["intervals"]``: ``{(group, title): Interval}``.
    """
    import pandas as pd

    scale, places = scale or {}, places or {}
    groups = list(dict.fromkeys(frame[by]))
    if reference not in groups:
        raise ValueError(f"significance_table: no runs of the reference {reference!r} (groups: {groups}).")
    base = frame[frame[by] == reference].set_index(seed)
    rows, intervals = [], {}
    for group in groups:
        if group == reference:
            continue
        runs = frame[frame[by] == group].set_index(seed)
        paired = runs.index.intersection(base.index)
        row = {by: group, "seeds": len(paired)}
        for column, title in columns.items():
            interval = paired_difference(runs.loc[paired, column], base.loc[paired, column], confidence)
            intervals[(group, title)] = interval
            factor = scale.get(column, 1.0)
            text = interval.text(places.get(column, 2), factor)
            if interval.n >= 2 and math.isfinite(interval.p_value):
                text += f" p={interval.p_value:.2g}" + (f" {SIGNIFICANT_MARK}" if interval.significant else "")
            row[title] = text
        rows.append(row)
    table = pd.DataFrame(rows, columns=[by, *columns.values(), "seeds"]).set_index(by)
    table.attrs["intervals"] = intervals
    return table
