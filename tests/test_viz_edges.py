"""Graph-edge views: matrices, Table 1 layout, graph drawing, evolution (synthetic edges)."""

import json
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
    learned, prior, diff = heat.data                          # one unit: learned, prior, learned − prior
    assert learned.z[0][1] == pytest.approx(display.mean_["homo"][2])  # L→V
    assert prior.z[0][1] == pytest.approx(0.482, abs=1e-3) and diff.z[0][1] == pytest.approx(learned.z[0][1] - prior.z[0][1])
    graph = display.plot("graph")
    arrows = [t for t in graph.data if t.name in EDGE_LABELS]
    widths = {t.name: t.line.width for t in arrows}
    assert widths["L→V"] > widths["V→L"] and widths["L→V"] == pytest.approx(15)  # the largest edge is widest
    # the values are annotations on a white ground, drawn above the arrows (a text trace sat under them)
    labels = [a.text for a in graph.layout.annotations if "prior" in a.text]
    assert len(labels) == 6 and all(a.bgcolor for a in graph.layout.annotations if "prior" in a.text)
    assert any(label.startswith(f"{display.mean_['homo'][2]:.2f}") and "prior 0.48" in label for label in labels)
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


def test_prior_and_uniform_beside_the_learned_edges():
    learned = np.array([0.16, 0.16, 0.17, 0.16, 0.18, 0.17])
    display = EdgesDisplay({"homo": learned, "hetero": learned})
    # the official prior softmax(p / 0.25): 0.482 on L→V and L→A (HomoGD); V→A too in HeteroGD
    assert display.prior_["homo"][[2, 4]] == pytest.approx([0.482, 0.482], abs=1e-3)
    assert display.prior_["hetero"][[2, 4, 5]] == pytest.approx([0.327, 0.327, 0.327], abs=1e-3)
    assert display.uniform_ == pytest.approx(1 / 6)
    table = display.table_
    assert table.loc["L→V", "homo prior"] == "0.482" and table.loc["L→V", "homo learned − prior"] == "-0.312"
    assert table.loc["V→L", "uniform"] == "0.167"
    assert display.summary_[("hetero", "learned − prior")].to_numpy() == pytest.approx(learned - display.prior_["hetero"])


def test_heatmap_diagonal_is_blank_and_the_colours_span_the_learned_values():
    learned = np.array([0.163, 0.165, 0.170, 0.164, 0.169, 0.166])
    heat = EdgesDisplay({"homo": learned}).plot("heatmap").data[0]
    assert [heat.z[i][i] for i in range(3)] == [None, None, None]          # not NaN: the browser refuses NaN
    assert (heat.zmin, heat.zmax) == pytest.approx((0.163, 0.170))
    fixed = EdgesDisplay({"homo": learned}).plot("heatmap", zmin=0.1, zmax=0.2).data[0]
    assert (fixed.zmin, fixed.zmax) == (0.1, 0.2)


def test_prior_comes_from_the_configuration(tmp_path):
    from dmdlab.model import DMDConfig

    uniform_prior = DMDConfig.preset("mosi").replace(gd={"prior_homo": (0.0,) * 6, "edge_norm": "per_target"})
    display = EdgesDisplay({"homo": np.full(6, 0.5)}, gd=uniform_prior)
    assert display.prior_["homo"] == pytest.approx(np.full(6, 1 / 6)) and display.uniform_ == 0.5
    # a run directory: config.json's model.gd, as the trainer writes it
    for seed in (1, 2):
        run = tmp_path / str(seed)
        run.mkdir()
        viz_inputs.history(epochs=2).to_csv(run / "history.csv", index=False)
        (run / "config.json").write_text(json.dumps({"model": uniform_prior.to_dict()}))
    one = EdgesDisplay.from_runs([tmp_path / "1"])
    assert one.prior_["homo"] == pytest.approx(np.full(6, 1 / 6)) and one.title.endswith("over 1 run")
    assert EdgesDisplay.from_runs([tmp_path / "1", tmp_path / "2"]).title.endswith("over 2 runs")
    evolution = EdgeEvolutionDisplay.from_run(tmp_path / "1")
    assert evolution.prior_["homo"] == pytest.approx(np.full(6, 1 / 6))
    assert any("uniform 0.500" in (a.text or "") for a in evolution.plot().layout.annotations)


def test_a_crafted_run_config_is_a_clear_error(tmp_path):
    viz_inputs.history(epochs=2).to_csv(tmp_path / "history.csv", index=False)
    (tmp_path / "config.json").write_text(json.dumps({"model": {"gd": {"prior_homo": [1, 2]}}}))
    with pytest.raises(ValueError, match=r"config\.json, field 'model\.gd'.*prior_homo"):
        EdgesDisplay.from_runs([tmp_path])
    (tmp_path / "config.json").write_text(json.dumps({"model": {"gd": {"prior_homo": [0, 0, "x", 0, 1e999, 0]}}}))
    with pytest.raises(ValueError, match=r"config\.json, field 'model\.gd'.*prior_homo.*6 finite numbers"):
        EdgesDisplay.from_runs([tmp_path])
    (tmp_path / "config.json").write_text(json.dumps({"model": {"gd": "evil"}}))
    with pytest.raises(ValueError, match=r"config\.json: field 'model\.gd' must be an object"):
        EdgesDisplay.from_runs([tmp_path])


def test_evolution_draws_the_prior_levels_and_uniform():
    history = viz_inputs.history(epochs=4)
    fig = EdgeEvolutionDisplay(history).plot(epoch=2)
    texts = [a.text for a in fig.layout.annotations]
    assert "↑ prior 0.482 (L→V, L→A), off the scale" in texts and "uniform 0.167" in texts
    learned = history[[c for c in history if "/edges/" in c or c.startswith("edges/")]].to_numpy()
    low, high = fig.layout.yaxis.range                        # the learned edges' scale: the prior does not flatten them
    assert low < learned.min() and learned.max() < high < 0.482
