"""Training curves: every loss term, every metric per split and the learning rate.

Input: the trainer's history DataFrame (one row per epoch) with columns ``epoch``, ``lr``,
``<split>/loss/<term>`` (``total`` and each term of ``LossBreakdown.terms``) and
``<split>/<metric>`` (MMSA names: ``Has0_acc_2``, ``MAE``, ...). Edge columns
(``edges/...``) are drawn by :mod:`dmdlab.viz.edges`, not here.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dmdlab.viz.base import SPLIT_DASH, SPLITS, TEMPLATE, Display, integer_ticks, json_safe, load_history

_LOSS = re.compile(r"^(?P<split>[^/]+)/loss/(?P<term>[^/]+)$")
_METRIC = re.compile(r"^(?P<split>[^/]+)/(?P<metric>[^/]+)$")
_SPLIT_COLORS = {"train": "#1f77b4", "valid": "#ff7f0e", "test": "#2ca02c"}


def parse_history(history: pd.DataFrame) -> dict[str, dict[str, dict[str, str]]]:
    """Group a history's columns: ``{"loss": {term: {split: column}}, "metric": {...}}``.

    Columns keep their order of appearance, so terms read in the trainer's order.
    """
    groups: dict[str, dict[str, dict[str, str]]] = {"loss": {}, "metric": {}}
    for column in history.columns:
        if column in ("epoch", "lr") or column.startswith("edges/") or "/edges/" in column:
            continue
        if match := _LOSS.match(column):
            groups["loss"].setdefault(match["term"], {})[match["split"]] = column
        elif (match := _METRIC.match(column)) and match["split"] in SPLITS:
            groups["metric"].setdefault(match["metric"], {})[match["split"]] = column
    return groups


class CurvesDisplay(Display):
    """Small multiples of a training history: one panel per loss term, per metric, and lr.

    Parameters
    ----------
    history : DataFrame
        One row per epoch (see the module docstring for the columns).
    title : str
        Figure title (a run's name, say).
    note, caption : str or None
        A caveat drawn in red under the title, and a line on what to look for.

    Attributes
    ----------
    losses_, metrics_ : dict
        ``{name: {split: column}}`` found in the history, in column order.
    best_epoch_ : int or None
        Epoch of the lowest ``valid/MAE`` (the official model selection), when present.
    """

    def __init__(self, history: pd.DataFrame, *, title: str = "training curves", note: str | None = None,
                 caption: str | None = None):
        if "epoch" not in history.columns:
            raise ValueError(f"The 'history' parameter must have an 'epoch' column. Got columns {list(history.columns)}.")
        self.history = history.sort_values("epoch").reset_index(drop=True)
        self.title, self.note, self.caption = title, note, caption
        groups = parse_history(self.history)
        self.losses_ = groups["loss"]
        self.metrics_ = groups["metric"]
        self.best_epoch_ = None
        if "valid/MAE" in self.history and self.history["valid/MAE"].notna().any():
            self.best_epoch_ = int(self.history.loc[self.history["valid/MAE"].idxmin(), "epoch"])

    @classmethod
    def from_run(cls, run, **kwargs) -> "CurvesDisplay":
        """From a ``Run`` (anything with a ``history`` DataFrame) or a run directory."""
        history = load_history(run)
        kwargs.setdefault("title", f"training curves — {getattr(run, 'name', Path(str(getattr(run, 'path', run))).name)}")
        return cls(history, **kwargs)

    def panels(self, what=("loss", "metric", "lr")) -> list[tuple[str, dict[str, str]]]:
        """The (title, {split: column}) panels to draw, in order."""
        out = []
        if "loss" in what:
            out += [(f"loss: {term}", cols) for term, cols in self.losses_.items()]
        if "metric" in what:
            out += [(metric, cols) for metric, cols in self.metrics_.items()]
        if "lr" in what and "lr" in self.history:
            out.append(("learning rate", {"": "lr"}))
        return out

    def plot(self, what=("loss", "metric", "lr"), *, columns: int = 4, log_loss: bool = False) -> go.Figure:
        """Draw one panel per loss term / metric (a line per split) and one for lr.

        ``what`` picks the groups; ``log_loss`` puts loss panels on a log scale.
        """
        panels = self.panels(what)
        if not panels:
            raise ValueError(f"Nothing to draw for what={what!r}: the history has columns {list(self.history.columns)}.")
        columns = min(columns, len(panels))
        rows = math.ceil(len(panels) / columns)
        fig = make_subplots(rows=rows, cols=columns, subplot_titles=[t for t, _ in panels],
                            vertical_spacing=min(0.3 / rows + 0.04, 0.12), horizontal_spacing=0.06)
        epochs = self.history["epoch"]
        shown = set()
        for k, (title, cols) in enumerate(panels):
            row, col = divmod(k, columns)
            for split, column in cols.items():
                name = split or "lr"
                fig.add_trace(go.Scatter(
                    x=epochs, y=json_safe(self.history[column]), mode="lines+markers", name=name,
                    legendgroup=name, showlegend=name not in shown, marker=dict(size=4),
                    line=dict(color=_SPLIT_COLORS.get(split, "#555"), dash=SPLIT_DASH.get(split, "solid")),
                    hovertemplate=f"{title}<br>{name} epoch %{{x}}: %{{y:.4g}}<extra></extra>"),
                    row=row + 1, col=col + 1)
                shown.add(name)
            if (log_loss and title.startswith("loss")) or title == "learning rate":
                fig.update_yaxes(type="log", row=row + 1, col=col + 1)
        if self.best_epoch_ is not None:  # one shape list (add_vline per panel is quadratic in plotly)
            axis = [("" if k == 0 else str(k + 1)) for k in range(len(panels))]
            fig.update_layout(shapes=[dict(type="line", xref=f"x{a}", yref=f"y{a} domain", x0=self.best_epoch_,
                                           x1=self.best_epoch_, y0=0, y1=1, line=dict(color="#999", dash="dot", width=1))
                                      for a in axis])
        integer_ticks(fig, epochs)
        fig.update_xaxes(title_text="epoch", row=rows)
        fig.update_layout(title=self.title + ("" if self.best_epoch_ is None else f" (dotted: best valid MAE, epoch {self.best_epoch_})"),
                          template=TEMPLATE, height=230 * rows + 120,
                          legend=dict(orientation="h", yanchor="bottom", y=1.0 + 0.1 / rows, xanchor="right", x=1))
        return self._finish(fig)
