"""The comparison table as a forest plot: each baseline − DMD, paired by seed, with its 95 % interval.

Input: the differences of :func:`dmdlab.comparison.differences` (one row per model and
metric: mean, low, high, p, seeds), or runs of the comparison table (``from_runs``). A
point left of 0 is a baseline below DMD; an interval that crosses 0 is a difference inside
seed noise. For MAE lower is better, so there a baseline below DMD is the better one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dmdlab.viz.base import TEMPLATE, Display, check_choice, json_safe, plain, plural

SIGNIFICANT_COLOR, NOISE_COLOR = "#1f77b4", "#9e9e9e"


class ComparisonForestDisplay(Display):
    """Baseline − DMD for one metric, a row per baseline in the paper's order, with 95 % intervals.

    Attributes
    ----------
    rows_ : DataFrame
        The rows drawn: model, mean, low, high, p, seeds (points of % for Acc-7/Acc-2/F1).
    """

    def __init__(self, differences: pd.DataFrame, *, metric: str = "Acc-2", reference: str = "DMD",
                 title: str | None = None, note: str | None = None, caption: str | None = None):
        check_choice("metric", metric, list(dict.fromkeys(differences["metric"])))
        self.rows_ = differences[differences["metric"] == metric].reset_index(drop=True)
        self.metric, self.reference, self.note, self.caption = metric, reference, note, caption
        self.title = title or f"each baseline − {reference}, {metric}, paired by seed (95 % interval)"

    @classmethod
    def from_runs(cls, run_set, **kwargs) -> "ComparisonForestDisplay":
        """From the runs of ``reproduce comparison`` (the baselines and DMD, the same seeds)."""
        from dmdlab.comparison import differences

        return cls(differences(run_set), **kwargs)

    def plot(self) -> go.Figure:
        rows = self.rows_
        unit = " (points of %)" if self.metric in ("Acc-7", "Acc-2", "F1") else ""
        significant = (rows["low"] > 0) | (rows["high"] < 0)
        colors = np.where(significant, SIGNIFICANT_COLOR, NOISE_COLOR).tolist()
        labels = [plain(f"{model} ({plural(int(n), 'seed')})") for model, n in zip(rows["model"], rows["seeds"])]
        fig = go.Figure(go.Scatter(
            x=json_safe(rows["mean"]), y=labels, mode="markers", marker=dict(size=11, color=colors),
            error_x=dict(type="data", symmetric=False, array=json_safe(rows["high"] - rows["mean"]),
                         arrayminus=json_safe(rows["mean"] - rows["low"]), color="#555"),
            customdata=np.stack([rows["low"], rows["high"], rows["p"]], axis=1).tolist() if len(rows) else None,
            hovertemplate="%{y}: %{x:+.2f} [%{customdata[0]:+.2f}, %{customdata[1]:+.2f}], p=%{customdata[2]:.2g}"
                          "<extra></extra>"))
        fig.add_vline(x=0, line_dash="dash", line_color="#333")
        fig.update_yaxes(autorange="reversed")
        fig.update_layout(title=self.title, xaxis_title=f"{self.metric}: baseline − {self.reference}{unit}",
                          template=TEMPLATE, height=140 + 45 * max(len(rows), 1), showlegend=False)
        return self._finish(fig)
