"""Training curves from a history DataFrame (synthetic; no trainer needed)."""

import pandas as pd
import pytest

import viz_inputs
from dmdlab.viz import CurvesDisplay
from dmdlab.viz.curves import parse_history


def test_parse_history_groups_losses_metrics_and_skips_edges():
    groups = parse_history(viz_inputs.history())
    assert list(groups["loss"]) == ["total", "task", "recon"]
    assert groups["loss"]["task"] == {s: f"{s}/loss/task" for s in ("train", "valid", "test")}
    assert set(groups["metric"]) == {"MAE", "Non0_acc_2"}
    assert not any("edges" in c for g in groups.values() for cols in g.values() for c in cols.values())


def test_plot_has_a_panel_per_term_metric_and_lr_with_a_line_per_split():
    display = CurvesDisplay(viz_inputs.history(epochs=5))
    fig = display.plot()
    assert fig is display.figure_
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["loss: total", "loss: task", "loss: recon", "MAE", "Non0_acc_2", "learning rate"]
    assert len(fig.data) == 3 * 3 + 2 * 2 + 1
    task_valid = [t for t in fig.data if t.hovertemplate.startswith("loss: task") and t.name == "valid"]
    assert list(task_valid[0].y) == pytest.approx([1.5 / e for e in range(1, 6)])
    assert display.best_epoch_ == 5  # valid MAE decreases every epoch


def test_plot_what_selects_groups_and_history_is_sorted():
    history = viz_inputs.history(epochs=4).iloc[::-1]
    display = CurvesDisplay(history)
    assert list(display.history["epoch"]) == [1, 2, 3, 4]
    fig = display.plot(what=("lr",))
    assert [a.text for a in fig.layout.annotations] == ["learning rate"]


def test_from_run_reads_a_run_directory(tmp_path):
    viz_inputs.history().to_csv(tmp_path / "history.csv", index=False)
    display = CurvesDisplay.from_run(tmp_path)
    assert len(display.history) == 6 and tmp_path.name in display.title


def test_missing_epoch_column_is_a_clear_error():
    with pytest.raises(ValueError, match="'epoch'"):
        CurvesDisplay(pd.DataFrame({"x": [1]}))
