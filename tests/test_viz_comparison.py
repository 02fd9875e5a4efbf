"""The comparison table's forest plot (dmdlab/viz/comparison.py) on hand-made differences."""

from __future__ import annotations

import pandas as pd
import pytest

from dmdlab.viz import ComparisonForestDisplay


def _differences() -> pd.DataFrame:
    rows = [("tfn", "TFN", "Acc-2", -4.0, -6.0, -2.0, 0.01, 3), ("lmf", "LMF", "Acc-2", 1.0, -2.0, 4.0, 0.4, 3),
            ("tfn", "TFN", "MAE", 0.05, 0.01, 0.09, 0.03, 3), ("lmf", "LMF", "MAE", -0.01, -0.05, 0.03, 0.5, 3)]
    return pd.DataFrame(rows, columns=["variant", "model", "metric", "mean", "low", "high", "p", "seeds"])


def test_forest_draws_each_baseline_with_its_interval_and_marks_the_ones_outside_noise():
    display = ComparisonForestDisplay(_differences(), metric="Acc-2", note="smoke data")
    fig = display.plot()
    trace = fig.data[0]
    assert list(trace.y) == ["TFN (3 seeds)", "LMF (3 seeds)"] and list(trace.x) == [-4.0, 1.0]
    assert list(trace.error_x.array) == [2.0, 3.0] and list(trace.error_x.arrayminus) == [2.0, 3.0]
    assert trace.marker.color[0] != trace.marker.color[1]          # TFN's interval excludes 0, LMF's does not
    assert "points of %" in fig.layout.xaxis.title.text and "smoke data" in fig.layout.title.text
    assert display.figure_ is fig


def test_forest_other_metric_and_bad_metric():
    fig = ComparisonForestDisplay(_differences(), metric="MAE").plot()
    assert list(fig.data[0].x) == [0.05, -0.01] and "points" not in fig.layout.xaxis.title.text
    with pytest.raises(ValueError, match="'metric' parameter must be one of"):
        ComparisonForestDisplay(_differences(), metric="Acc-5")
