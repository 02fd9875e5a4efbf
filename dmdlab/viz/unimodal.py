"""The unimodal gap (the paper's Figure 3): each modality alone vs the fused model.

The paper's motivation: language alone is far stronger than vision or audio alone, so a
fusion that treats the three alike lets the weak modalities drag; DMD's graph distillation
lets the strong modality teach the weak ones. Input: a results DataFrame (one row per
run, MMSA metric columns) whose ``by`` column names the models, e.g. the variants
``unimodal_l``, ``unimodal_v``, ``unimodal_a`` and ``dmd``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dmdlab.viz.base import MODALITY_COLORS, TEMPLATE, Display, json_safe
from dmdlab.viz.tables import NOT_PERCENT, ResultsTableDisplay

DEFAULT_BARS: dict[str, str] = {"L": "unimodal_l", "V": "unimodal_v", "A": "unimodal_a", "fused (DMD)": "dmd"}
"""Bar label -> the model name in the results (the variant registry's names)."""


class UnimodalGapDisplay(Display):
    """Bars of one metric for L, V, A alone and fused, with the gap to the fused model.

    ``note`` (a caveat drawn in red under the title) and ``caption`` (what to look for) are
    optional lines of text.

    Attributes
    ----------
    summary_ : DataFrame
        Index the bar labels; columns mean, std, n, gap (fused − bar).
    """

    def __init__(self, results: pd.DataFrame, *, by: str = "variant", bars: dict[str, str] | None = None,
                 metric: str = "Acc-2", title: str = "the unimodal gap (paper's Figure 3)", note: str | None = None,
                 caption: str | None = None):
        bars = dict(bars or DEFAULT_BARS)
        table = ResultsTableDisplay(results, by=by, metrics=(metric,), order=list(bars.values()))
        summary = table.summary_[metric].loc[list(bars.values()), ["mean", "std", "n"]]
        summary.index = list(bars)
        fused = summary["mean"].iloc[-1]
        summary["gap"] = fused - summary["mean"]
        self.summary_, self.metric, self.title, self.note, self.caption = summary, metric, title, note, caption

    @classmethod
    def from_runs(cls, run_set, **kwargs) -> "UnimodalGapDisplay":
        """From runs (a ``dmdlab.runs.RunSet`` or list of ``Run``) of the unimodal and DMD variants."""
        from dmdlab import runs

        return cls(runs.RunSet(list(run_set)).metrics, by="variant", **kwargs)

    def plot(self) -> go.Figure:
        colors = [MODALITY_COLORS.get(label.lower(), "#7f7f7f") for label in self.summary_.index]
        unit = "" if self.metric in NOT_PERCENT else " (%)"
        gaps = [("" if i == len(self.summary_) - 1 or np.isnan(g) else f"{-g:+.1f} vs fused") for i, g in enumerate(self.summary_["gap"])]
        fig = go.Figure(go.Bar(
            x=list(self.summary_.index), y=json_safe(self.summary_["mean"]), marker_color=colors,
            error_y=dict(type="data", array=self.summary_["std"].fillna(0)), text=gaps, textposition="outside",
            hovertemplate="%{x}: %{y:.2f}<extra></extra>"))
        fig.update_layout(title=self.title, yaxis_title=self.metric + unit, template=TEMPLATE, height=420, showlegend=False)
        return self._finish(fig)
