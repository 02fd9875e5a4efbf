"""Results tables beside the paper's numbers, and the unimodal gap (synthetic results)."""

import numpy as np
import pandas as pd
import pytest

import viz_inputs
from dmdlab.viz import ResultsTableDisplay, UnimodalGapDisplay, paper_table


def test_mean_std_over_seeds_in_percent():
    display = ResultsTableDisplay(viz_inputs.results())
    acc2 = display.summary_["Acc-2"]
    assert acc2.loc["dmd", "mean"] == pytest.approx(84.5)
    assert acc2.loc["dmd", "std"] == pytest.approx(np.std([84, 85], ddof=1))
    assert acc2.loc["dmd", "n"] == 2
    assert display.summary_["MAE"].loc["dmd", "mean"] == pytest.approx(0.795)  # MAE stays unscaled
    assert display.table_.loc["dmd", ("Acc-2", "ours")] == "84.5 ± 0.7"


def test_paper_numbers_and_delta():
    paper = pd.DataFrame({"Acc-2": [86.0], "F1": [86.0]}, index=["dmd"])
    display = ResultsTableDisplay(viz_inputs.results(), paper=paper)
    assert display.summary_["Acc-2"].loc["dmd", "delta"] == pytest.approx(-1.5)
    assert display.table_.loc["dmd", ("Acc-2", "Δ")] == "-1.5"
    assert display.table_.loc["wo_fd", ("Acc-2", "paper")] == "–"
    fig = display.plot()
    assert "Acc-2 paper" in fig.data[0].header.values


def test_paper_table_from_dmdlab_paper():
    table = paper_table("CMU-MOSI", "aligned", rename={"DMD": "dmd"})
    assert table.loc["dmd", "Acc-7"] == 45.6 and list(table.columns) == ["Acc-7", "Acc-2", "F1"]
    display = ResultsTableDisplay(viz_inputs.results(), paper=table, order=["dmd"])
    assert list(display.table_.index)[:2] == ["dmd", "EF-LSTM"]  # our rows first, then the paper's


def test_bars_plot_and_bad_arguments():
    display = ResultsTableDisplay(viz_inputs.results())
    fig = display.plot("bars", metric="Acc-7")
    assert list(fig.data[0].x) == ["unimodal_l", "unimodal_v", "unimodal_a", "dmd", "wo_fd"]
    with pytest.raises(ValueError, match="'kind'"):
        display.plot("pie")
    with pytest.raises(ValueError, match="'metrics'"):
        ResultsTableDisplay(viz_inputs.results(), metrics=("Acc-3",))
    with pytest.raises(ValueError, match="'by'"):
        ResultsTableDisplay(viz_inputs.results(), by="variant")


def test_unimodal_gap():
    display = UnimodalGapDisplay(viz_inputs.results(), by="model")
    assert list(display.summary_.index) == ["L", "V", "A", "fused (DMD)"]
    assert display.summary_.loc["V", "gap"] == pytest.approx(84.5 - 55.5)
    fig = display.plot()
    assert list(fig.data[0].text) == ["-4.0 vs fused", "-29.0 vs fused", "-27.0 vs fused", ""]


def test_paper_only_rows_can_be_left_out():
    table = paper_table("CMU-MOSI", "aligned", rename={"DMD": "dmd"})
    display = ResultsTableDisplay(viz_inputs.results(), paper=table, paper_only_rows=False)
    assert "EF-LSTM" not in display.table_.index and display.table_.loc["dmd", ("Acc-7", "paper")] == "45.6"
