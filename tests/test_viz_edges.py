"""Graph-edge views: matrices, Table 1 layout, graph drawing, evolution (synthetic edges)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

import viz_inputs
from dmdlab.modalities import EDGE_LABELS
from dmdlab.paper import edges_frame
from dmdlab.viz import EdgeEvolutionDisplay, EdgesDisplay
from dmdlab.viz.edges import edge_columns, edges_to_matrix


def test_matrix_puts_each_edge_at_source_row_target_column():
    m = edges_to_matrix(np.arange(6.0))
    # EDGES order V→L, A→L, L→V, A→V, L→A, V→A; rows/columns L, V, A
    assert m[1, 0] == 0 and m[2, 0] == 1 and m[0, 1] == 2 and m[2, 1] == 3 and m[0, 2] == 4 and m[1, 2] == 5
    assert np.isnan(np.diag(m)).all()


def test_mean_std_over_seeds_in_table1_layout_with_paper_reference():
    rng = np.random.default_rng(0)
    homo, hetero = viz_inputs.softmax(rng.normal(size=(5, 6))), viz_inputs.softmax(rng.normal(size=(5, 6)))
    display = EdgesDisplay({"homo": homo, "hetero": hetero}, reference=edges_frame())
    assert list(display.table_.index) == list(EDGE_LABELS)
    assert display.mean_["homo"] == pytest.approx(homo.mean(0))
    assert display.std_["hetero"] == pytest.approx(hetero.std(0, ddof=1))
    assert display.table_.loc["L→V", "homo"] == f"{homo[:, 2].mean():.3f} ± {homo[:, 2].std(ddof=1):.3f}"
    assert display.table_.loc["V→A", "hetero (paper)"] == "0.268"
    assert display.summary_[("homo", "mean")].sum() == pytest.approx(1.0)


def test_heatmap_graph_and_table_plots():
    display = EdgesDisplay({"homo": viz_inputs.softmax(np.array([0, 0, 2, 0, 2, 0.0]))})
    heat = display.plot("heatmap")
    assert len(heat.data) == 1 and heat.data[0].z[0][1] == pytest.approx(display.mean_["homo"][2])  # L→V
    graph = display.plot("graph")
    arrows = [t for t in graph.data if t.name in EDGE_LABELS]
    widths = {t.name: t.line.width for t in arrows}
    assert widths["L→V"] > widths["V→L"] and widths["L→V"] == pytest.approx(15)  # the largest edge is widest
    assert display.plot("table").data[0].type == "table"
    with pytest.raises(ValueError, match="'kind'"):
        display.plot("pie")


def test_from_output_one_sample_or_the_batch():
    edges = torch.tensor(viz_inputs.softmax(np.random.default_rng(1).normal(size=(4, 6))), dtype=torch.float32)
    output = SimpleNamespace(edges=SimpleNamespace(homo=edges, hetero=None))
    one = EdgesDisplay.from_output(output, sample=2)
    assert one.units == ("homo",) and one.mean_["homo"] == pytest.approx(edges[2].numpy())
    assert one.table_.loc["V→L", "homo"].count("±") == 0
    batch = EdgesDisplay.from_output(output)
    assert batch.n_["homo"] == 4


def test_history_evolution_and_epoch_slice(tmp_path):
    history = viz_inputs.history(epochs=5)
    assert set(edge_columns(history)) == {"homo", "hetero"}
    evolution = EdgeEvolutionDisplay(history)
    assert evolution.edges_["homo"].shape == (5, 6)
    fig = evolution.plot(epoch=3)
    assert len(fig.data) == 12
    at3 = evolution.at(3)
    assert at3.mean_["hetero"] == pytest.approx(history.loc[2, [f"edges/hetero/{e}" for e in EDGE_LABELS]].to_numpy(float))
    assert EdgesDisplay.from_history(history).mean_["homo"] == pytest.approx(evolution.edges_["homo"][-1])
    with pytest.raises(ValueError, match="'epoch'"):
        evolution.at(42)
    for seed in (1, 2):
        (tmp_path / str(seed)).mkdir()
        viz_inputs.history(epochs=3 + seed).to_csv(tmp_path / str(seed) / "history.csv", index=False)
    runs = EdgesDisplay.from_runs([tmp_path / "1", tmp_path / "2"])
    assert runs.n_["homo"] == 2


def test_missing_edges_are_clear_errors():
    with pytest.raises(ValueError, match="'edges'"):
        EdgesDisplay({"homo": None, "hetero": None})
    with pytest.raises(ValueError, match=r"\(S, 6\)"):
        EdgesDisplay({"homo": np.ones((2, 5))})
    with pytest.raises(ValueError, match="no edge columns"):
        EdgeEvolutionDisplay(pd.DataFrame({"epoch": [1]}))
