"""The paper's comparison table, row by row: every baseline re-run under one protocol beside DMD.

``python -m dmdlab reproduce comparison`` trains the rows of :data:`COMPARISON` (the baselines
of ``dmdlab.model.baselines`` that run here, and DMD) with the same seeds, data, protocol and
validation-only selection, then :func:`comparison_table` prints per row and metric: ours
(mean ± std over seeds), the published number (``dmdlab.paper``), ours − published, and the
difference from DMD paired by seed with its 95 % interval and the paired t-test's p
(``dmdlab.stats``). Rows not re-run keep their published numbers and say why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from dmdlab import paper, runs, stats
from dmdlab.metrics import PERCENT_METRICS, mean_std_text
from dmdlab.model.baselines import BASELINES
from dmdlab.model.variants import label

COMPARISON: tuple[str, ...] = (*(row.variant for row in BASELINES if row.available), "dmd")
"""The variants the comparison table trains, in the paper's row order (DMD last)."""

REFERENCE = "dmd"

COLUMNS: dict[str, str] = {"Mult_acc_7": "Acc-7", "Non0_acc_2": "Acc-2", "Non0_F1_score": "F1", "MAE": "MAE",
                           "Corr": "Corr"}
"""Metric → title, in the paper's order (Acc-2 and F1 non-0, as the paper's table)."""

_PUBLISHED = {"Acc-7": "acc7", "Acc-2": "acc2", "F1": "f1"}   # title → PaperResult field

NOTE = ("ours: mean ± std over seeds; published: the method's own paper as DMD's table prints it ({published}: "
        "comparable with ours only on that data and setting); − DMD: paired by seed, mean [95 % interval], "
        f"paired t-test p, {stats.SIGNIFICANT_MARK}: the interval excludes 0. Acc-7/Acc-2/F1 in %, differences "
        "in points.")


def _scale(metric: str) -> tuple[float, int]:
    return (100.0, 1) if metric in PERCENT_METRICS else (1.0, 3)


def _setting(run_list: Sequence[runs.Run]) -> str:
    return "aligned" if run_list[0].config.get("spec", {}).get("aligned", True) else "unaligned"


def differences(run_set: runs.RunSet | Sequence[runs.Run], reference: str = REFERENCE) -> pd.DataFrame:
    """Each model − ``reference`` paired by seed, one row per (model, metric) in the paper's row
    order: ``mean``, ``low``, ``high`` (95 % interval; points of % for Acc-7/Acc-2/F1), ``p`` and
    ``seeds``; what the forest plot draws."""
    frame = runs.RunSet(list(run_set)).metrics
    table = stats.significance_table(frame, by="variant", reference=reference, columns=COLUMNS)
    rows = []
    for (variant, title), interval in table.attrs["intervals"].items():
        metric = next(m for m, t in COLUMNS.items() if t == title)
        factor = _scale(metric)[0]
        rows.append({"variant": variant, "model": label(variant), "metric": title, "mean": interval.mean * factor,
                     "low": interval.low * factor, "high": interval.high * factor, "p": interval.p_value,
                     "seeds": interval.n})
    order = {variant: i for i, variant in enumerate(COMPARISON)}           # the paper's rows first, in its order
    rows.sort(key=lambda row: (order.get(row["variant"], len(order)), list(COLUMNS.values()).index(row["metric"])))
    return pd.DataFrame(rows, columns=["variant", "model", "metric", "mean", "low", "high", "p", "seeds"])


def comparison_table(run_set: runs.RunSet | Sequence[runs.Run], *, paper_dataset: str = paper.MOSI,
                     reference: str = REFERENCE) -> pd.DataFrame:
    """The printable table: a row per (model, metric) in the paper's row order, with ours, the
    published number, ours − published and the paired difference from DMD; rows not re-run
    carry their published numbers only."""
    run_list = list(run_set)
    if not run_list:
        raise ValueError("comparison_table: no runs.")
    frame = runs.RunSet(run_list).metrics
    trained = list(dict.fromkeys(frame["variant"]))
    setting = _setting(run_list)
    diffs = differences(run_list, reference).set_index(["variant", "metric"]) if reference in trained else None
    order = [row.variant or row.label for row in BASELINES] + [reference]
    rows = []
    for key in order:
        row_info = next((row for row in BASELINES if key in (row.variant, row.label)), None)
        name = row_info.label if row_info is not None else label(key)
        published = paper.lookup(name, paper_dataset, setting)
        ran = key in trained
        if not ran and (published is None or row_info is None or row_info.available):
            continue            # a row with neither runs nor a published number in this setting
        values = frame[frame["variant"] == key] if ran else None
        for metric, title in COLUMNS.items():
            factor, places = _scale(metric)
            field = _PUBLISHED.get(title)
            value = getattr(published, field) if published is not None and field else None
            row = {"model": name, "metric": title, "ours": "not re-run", "published": "–",
                   "ours − published": "–", f"− {label(reference)}": "–", "p": "–"}
            if value is not None:
                row["published"] = f"{value:.{places}f}"
            elif not ran:
                continue        # a row not re-run shows its published metrics only
            if ran:
                column = values[metric].astype(float)
                std = column.std(ddof=1) * factor if len(column) > 1 else math.nan
                row["ours"] = mean_std_text(column.mean() * factor, std, places)
                if value is not None:
                    row["ours − published"] = stats.signed(column.mean() * factor - value, places)
                if diffs is not None and (key, title) in diffs.index:
                    d = diffs.loc[(key, title)]
                    interval = stats.Interval(d["mean"], d["low"], d["high"], d["p"], int(d["seeds"]))
                    row[f"− {label(reference)}"] = interval.text(places)
                    if math.isfinite(d["p"]):
                        row["p"] = f"{d['p']:.2g}" + (f" {stats.SIGNIFICANT_MARK}" if interval.significant else "")
            rows.append(row)
    table = pd.DataFrame(rows).set_index(["model", "metric"])
    table.attrs["published"] = paper_dataset
    return table


def note(run_set: runs.RunSet | Sequence[runs.Run], paper_dataset: str = paper.MOSI) -> str:
    """:data:`NOTE` naming the published data and setting the runs are held against."""
    return NOTE.format(published=f"{paper_dataset}, {_setting(list(run_set))}")


def not_rerun_lines() -> list[str]:
    """One line per row of the paper's table that is not re-run here, with the reason."""
    return [f"{row.label}: {row.notes}" for row in BASELINES if not row.available]
