"""Results tables beside the paper's numbers.

Input: a DataFrame of results, one row per run (a model or ablation and a seed), with the
MMSA metric columns as fractions (``Mult_acc_7``, ``Non0_acc_2``, ``Non0_F1_score``, ``MAE``,
...; :mod:`dmdlab.metrics`). Rows are grouped by a column (``by``: the variant's
name), averaged over seeds (mean ± std) and shown in the paper's units (percent for
accuracies and F1) beside the published numbers, which come as a DataFrame indexed by the
same row names with columns in the paper's names (``Acc-7``, ``Acc-2``, ``F1``) in percent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dmdlab import metrics
from dmdlab.metrics import PAPER_NAMES, mean_std_text
from dmdlab.stats import signed
from dmdlab.viz.base import TEMPLATE, Display, json_safe

# The same sets as dmdlab.metrics, in the paper's column names.
NOT_PERCENT = frozenset(name for name, key in PAPER_NAMES.items() if key not in metrics.PERCENT_METRICS)
LOWER_IS_BETTER = frozenset(name for name, key in PAPER_NAMES.items() if key in metrics.LOWER_IS_BETTER)


class ResultsTableDisplay(Display):
    """Mean ± std over seeds of each row, in the paper's units, beside the paper's numbers.

    Parameters
    ----------
    results : DataFrame
        One row per run; metric columns in MMSA names (fractions) or already in the
        paper's names (then taken as they are).
    by : str or None
        Column naming the row (variant / model). ``None``: the index.
    metrics : sequence of str
        Paper names of the columns to show (keys of ``PAPER_NAMES``).
    paper : DataFrame or None
        Published numbers indexed by row name, columns in paper names (percent).
    order : sequence or None
        Row order (defaults to order of first appearance).
    paper_only_rows : bool
        Also list the paper's rows that have no result here (the baselines of a comparison).
    note, caption : str or None
        A caveat drawn in red under the title, and a line on what to look for.

    Attributes
    ----------
    summary_ : DataFrame
        Numeric; columns MultiIndex (metric, one of ``mean``, ``std``, ``n``, ``paper``, ``delta``).
    table_ : DataFrame
        The same as strings ("45.1 ± 0.3"), ready to print.
    """

    def __init__(self, results: pd.DataFrame, *, by: str | None = "model", metrics=("Acc-7", "Acc-2", "F1", "MAE", "Corr"),
                 paper: pd.DataFrame | None = None, order=None, paper_only_rows: bool = True, title: str = "results",
                 note: str | None = None, caption: str | None = None):
        unknown = [m for m in metrics if m not in PAPER_NAMES]
        if unknown:
            raise ValueError(f"The 'metrics' parameter takes names among {list(PAPER_NAMES)}. Got {unknown}.")
        frame = results.reset_index() if by is None else results
        key = frame.columns[0] if by is None else by
        if key not in frame.columns:
            raise ValueError(f"The 'by' parameter must name a column of results. Got {by!r}; columns are {list(frame.columns)}.")
        values = pd.DataFrame({key: frame[key].astype(str)})
        for name in metrics:
            column = PAPER_NAMES[name]
            if column in frame:
                scale = 1.0 if name in NOT_PERCENT else 100.0
                values[name] = frame[column].astype(float) * scale
            elif name in frame:
                values[name] = frame[name].astype(float)
            else:
                values[name] = np.nan
        grouped = values.groupby(key, sort=False)
        rows = list(order) if order is not None else list(dict.fromkeys(values[key]))
        if paper is not None and paper_only_rows:
            rows += [r for r in paper.index.astype(str) if r not in rows]
        pieces = {}
        for name in metrics:
            g = grouped[name]
            part = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1), "n": g.count()}).reindex(rows)
            part["paper"] = np.nan
            if paper is not None and name in paper.columns:
                published = paper[name].copy()
                published.index = published.index.astype(str)
                part["paper"] = published.reindex(rows).astype(float)
            part["delta"] = part["mean"] - part["paper"]
            pieces[name] = part
        self.metrics = tuple(metrics)
        self.title, self.note, self.caption = title, note, caption
        self.summary_ = pd.concat(pieces, axis=1)
        self.summary_.index.name = key
        self.table_ = self._format()

    @classmethod
    def from_runs(cls, run_set, *, paper: pd.DataFrame | None = None, labels: dict[str, str] | None = None,
                  **kwargs) -> "ResultsTableDisplay":
        """From runs (a ``dmdlab.runs.RunSet`` or a list of ``Run``): their test metrics, one
        row per variant, labelled as the paper words them (``w/o FD``; ``labels`` overrides)."""
        from dmdlab import runs
        from dmdlab.model.variants import label

        frame = runs.RunSet(list(run_set)).metrics
        frame["model"] = [(labels or {}).get(v) or label(v) for v in frame["variant"]]
        return cls(frame, by="model", paper=paper, **kwargs)

    def _format(self) -> pd.DataFrame:
        out = {}
        for name in self.metrics:
            part = self.summary_[name]
            digits = 3 if name in NOT_PERCENT else 1
            # std is NaN for fewer than two values (ddof=1): the mean alone
            out[(name, "ours")] = [mean_std_text(mean, std, digits) for mean, std in zip(part["mean"], part["std"])]
            if part["paper"].notna().any():
                out[(name, "paper")] = [("–" if pd.isna(v) else f"{v:.{digits}f}") for v in part["paper"]]
                out[(name, "Δ")] = [("" if pd.isna(v) else signed(v, digits)) for v in part["delta"]]
        table = pd.DataFrame(out, index=self.summary_.index)
        table.columns = pd.MultiIndex.from_tuples(table.columns)
        return table

    def _repr_html_(self) -> str:
        return self.table_.to_html()

    def plot(self, kind: str = "table", *, metric: str | None = None) -> go.Figure:
        """``kind="table"``: the formatted table; ``"bars"``: one metric, ours (± std) beside the paper."""
        if kind == "table":
            header = [self.table_.index.name or ""] + [" ".join(c).replace(" ours", "") if c[1] == "ours" else " ".join(c)
                                                         for c in self.table_.columns]
            cells = [list(self.table_.index)] + [list(self.table_[c]) for c in self.table_.columns]
            fig = go.Figure(go.Table(header=dict(values=header, fill_color="#e8eef7", align="left"),
                                     cells=dict(values=cells, align="left")))
            fig.update_layout(title=self.title, template=TEMPLATE, height=120 + 28 * len(self.table_), margin=dict(t=50, b=10))
        elif kind == "bars":
            metric = metric or self.metrics[0]
            part = self.summary_[metric]
            fig = go.Figure()
            fig.add_bar(x=list(part.index), y=json_safe(part["mean"]), name="ours",
                        error_y=dict(type="data", array=part["std"].fillna(0)),
                        hovertemplate="%{x}: %{y:.2f}<extra>ours</extra>")
            if part["paper"].notna().any():
                fig.add_bar(x=list(part.index), y=json_safe(part["paper"]), name="paper", marker_color="#bbb",
                            hovertemplate="%{x}: %{y:.2f}<extra>paper</extra>")
            better = "lower" if metric in LOWER_IS_BETTER else "higher"
            fig.update_layout(title=f"{self.title}: {metric} ({better} is better)", barmode="group", template=TEMPLATE,
                              yaxis_title=metric + ("" if metric in NOT_PERCENT else " (%)"))
        else:
            raise ValueError(f"The 'kind' parameter must be 'table' or 'bars'. Got {kind!r}.")
        return self._finish(fig)


def paper_table(dataset: str = "CMU-MOSI", setting: str = "aligned", *, rename: dict[str, str] | None = None) -> pd.DataFrame:
    """The published rows of :mod:`dmdlab.paper` as ``paper=`` input: index model, columns Acc-7, Acc-2, F1.

    ``rename`` maps the paper's model names to the row names of the results (``{"DMD": "dmd"}``).
    """
    from dmdlab import paper

    frame = paper.results(dataset=dataset, setting=setting)
    frame = frame.set_index("model").rename(columns={"acc7": "Acc-7", "acc2": "Acc-2", "f1": "F1"})[["Acc-7", "Acc-2", "F1"]]
    if rename:
        frame.index = [rename.get(name, name) for name in frame.index]
    frame.index.name = "model"
    return frame.astype(float)


def output_shapes(output) -> pd.DataFrame:
    """Every tensor of a model output (a dataclass such as ``DMDOutput``), stage by stage.

    One row per tensor: ``stage`` (the output's field: decoupled, homo, ...), ``field``,
    ``key`` (modality or attention direction; empty for a plain tensor) and ``shape``.
    Fields that are None (a part the variant switched off) are listed as "off".
    """
    import dataclasses

    rows = []

    def visit(stage: str, name: str, value) -> None:
        if value is None:
            rows.append((stage, name, "", "off"))
        elif hasattr(value, "shape"):
            rows.append((stage, name, "", tuple(value.shape)))
        elif isinstance(value, dict):
            for key, item in value.items():
                rows.append((stage, name, key, "off" if item is None else tuple(item.shape)))

    for top in dataclasses.fields(output):
        value = getattr(output, top.name)
        if dataclasses.is_dataclass(value):
            for inner in dataclasses.fields(value):
                visit(top.name, inner.name, getattr(value, inner.name))
        else:
            visit(top.name, top.name, value)
    return pd.DataFrame(rows, columns=["stage", "field", "key", "shape"])
