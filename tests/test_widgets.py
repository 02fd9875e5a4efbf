"""Widget callbacks, headless: set a control's value, check the FigureWidget changed as it should."""

import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import viz_inputs
from test_viz_honest import assert_browser_safe
from dmdlab.modalities import EDGE_LABELS
from dmdlab.viz import AttentionDisplay, separability
from dmdlab.viz.edges import EPOCH_MARKER
from dmdlab.widgets import (AttentionExplorer, CurvesExplorer, EdgesExplorer, SampleEdgesExplorer, SampleExplorer,
                            SeparabilityExplorer, sync_figure)


def test_sync_figure_updates_in_place_and_replaces_when_traces_differ():
    target = go.FigureWidget(go.Figure(go.Heatmap(z=[[1, 2]])))
    trace = target.data[0]
    sync_figure(target, go.Figure(go.Heatmap(z=[[3, 4]]), layout=dict(title="new")))
    assert target.data[0] is trace and list(trace.z[0]) == [3, 4] and target.layout.title.text == "new"
    sync_figure(target, go.Figure([go.Scatter(y=[1]), go.Scatter(y=[2])]))
    assert [t.type for t in target.data] == ["scatter", "scatter"]


def test_edges_epoch_slider_changes_heatmap_and_moves_the_timeline_marker():
    history = viz_inputs.history(epochs=5)
    explorer = EdgesExplorer(history)
    heat = explorer.figure.data[0]
    last = np.array(heat.z, dtype=float)
    explorer.controls["epoch"].value = 1
    first = np.array(explorer.figure.data[0].z, dtype=float)
    assert explorer.figure.data[0] is heat                    # updated in place
    expected = history.loc[0, "edges/homo/L→V"]
    assert first[0, 1] == pytest.approx(expected) and not np.allclose(first, last, equal_nan=True)
    assert [shape.x0 for shape in explorer.timeline.layout.shapes if shape.name == EPOCH_MARKER] == [1, 1]
    assert "epoch 1" in explorer.figure.layout.title.text
    explorer.controls["kind"].value = "graph"
    assert explorer.figure.data[0].type == "scatter"
    widths = {t.name: t.line.width for t in explorer.figure.data if t.name in EDGE_LABELS}
    assert len(widths) == 6


def test_sample_edges_picker():
    rng = np.random.default_rng(0)
    edges = {"homo": viz_inputs.softmax(rng.normal(size=(4, 6))), "hetero": viz_inputs.softmax(rng.normal(size=(4, 6)))}
    explorer = SampleEdgesExplorer(edges, ids=[f"c{i}" for i in range(4)], texts=["a", "b", "c", "<d>"],
                                   labels=[1, -1, 0, 2])
    before = [t.line.width for t in explorer.figure.data if t.name in EDGE_LABELS]
    explorer.controls["sample"].value = 3
    after = [t.line.width for t in explorer.figure.data if t.name in EDGE_LABELS]
    assert before != after and "c3" in explorer.figure.layout.title.text
    assert explorer.transcript.value == "<i>&lt;d&gt;</i>"


def test_attention_controls():
    display = AttentionDisplay(viz_inputs.attention(), direction="v->l", texts=["one two", "three", "four"],
                               ids=["x", "y", "z"])
    explorer = AttentionExplorer(display)
    z0 = np.array(explorer.figure.data[0].z)
    explorer.controls["head"].value = 1
    z1 = np.array(explorer.figure.data[0].z)
    # "one two": text steps [CLS] one two [SEP] [PAD] [PAD]; the two padded rows are hidden
    assert z1 == pytest.approx(viz_inputs.attention()["v->l"][1, 0, 1][:4]) and not np.allclose(z0, z1)
    explorer.controls["show_padding"].value = True
    assert np.array(explorer.figure.data[0].z).shape == (6, 8)
    explorer.controls["show_padding"].value = False
    explorer.controls["direction"].value = "l->a"
    assert np.array(explorer.figure.data[0].z).shape == (7, 4)  # A steps (queries) × unpadded L steps (keys)
    assert "L→A" in explorer.figure.layout.title.text
    explorer.controls["sample"].value = 2
    assert "four" in explorer.transcript.value and "strongest pairs" in explorer.pairs.value
    explorer.controls["layer"].value = 0
    assert "layer 0" in explorer.figure.layout.title.text


def test_separability_controls_and_cache(monkeypatch):
    # UMAP's first fit compiles for ~20 s; its own test is test_viz_separability::test_umap_map
    monkeypatch.setattr(separability, "_umap", lambda Z, n_neighbors, seed: Z[:, :2] * n_neighbors)
    features = {"test": {"DMD": viz_inputs.feature_set(n=24), "w/o FD": viz_inputs.feature_set(n=24, decoupled=False)},
                "valid": {"DMD": viz_inputs.feature_set(n=18, seed=3)}}
    shared = {}
    explorer = SeparabilityExplorer(features, perplexity=15, cache=shared)
    assert explorer.cache is shared and len(shared) == 4    # 2 models × 2 spaces
    x0 = np.array(explorer.figure.data[0].x)
    explorer.controls["perplexity"].value = 5
    assert len(explorer.cache) == 8 and not np.allclose(np.array(explorer.figure.data[0].x), x0)
    renders = explorer.renders
    explorer.controls["perplexity"].value = 15               # back: from the cache
    assert len(explorer.cache) == 8 and explorer.renders == renders + 1
    assert np.allclose(np.array(explorer.figure.data[0].x), x0)
    explorer.controls["n_neighbors"].value = 7               # hidden while t-SNE is on: no work
    assert explorer.renders == renders + 1
    explorer.controls["color_by"].value = "modality"
    assert {t.name for t in explorer.figure.data} == {"modality: language (L)", "modality: vision (V)", "modality: audio (A)"}
    explorer.controls["split"].value = "valid"
    assert len(explorer.figure.layout.annotations) == 2 and "silhouette" in explorer.scores.value
    assert explorer.controls["n_neighbors"].layout.display == "none"
    explorer.controls["method"].value = "umap"
    assert explorer.controls["perplexity"].layout.display == "none"
    assert "UMAP" in explorer.figure.layout.title.text


def test_curves_toggle():
    explorer = CurvesExplorer(viz_inputs.history())
    assert [a.text for a in explorer.figure.layout.annotations] == ["loss: total", "loss: task", "loss: recon"]
    explorer.controls["what"].value = ("metric",)
    assert [a.text for a in explorer.figure.layout.annotations] == ["MAE", "Non0_acc_2"]


def test_tables_in_widgets_have_spaced_cells_and_labels_are_not_cut():
    display = AttentionDisplay(viz_inputs.attention(), direction="v->l", texts=["one two three four five", "x", "y"])
    explorer = AttentionExplorer(display)
    cells = re.findall(r"<t[dh](?:\s[^>]*)?>", explorer.pairs.value)
    assert cells and all("padding" in cell for cell in cells)
    assert explorer.controls["direction"].style.description_width == "initial"   # "source → target" whole


def test_layer_slider_is_disabled_with_a_note_when_there_is_one_layer():
    one = AttentionExplorer(AttentionDisplay(viz_inputs.attention(layers=1), direction="v->l"))
    assert one.controls["layer"].disabled and "single cross-modal layer" in one.layer_note.value
    two = AttentionExplorer(AttentionDisplay(viz_inputs.attention(layers=2), direction="v->l"))
    assert not two.controls["layer"].disabled and two.layer_note.value == ""
    two.controls["layer"].value = 0
    assert "layer 0" in two.figure.layout.title.text


def test_separability_shows_a_busy_sign_while_a_map_computes(monkeypatch):
    seen = []
    project = separability.project

    def slow_project(X, method, **kwargs):
        if explorer is not None and not separability.is_cached(X, method, **kwargs):
            seen.append((explorer.status.value, explorer.controls["perplexity"].disabled))
        return project(X, method, **kwargs)

    features = {"test": {"DMD": viz_inputs.feature_set(n=15)}}
    explorer = None                                            # the first draw, in the constructor, is not watched
    monkeypatch.setattr(separability, "project", slow_project)
    explorer = SeparabilityExplorer(features, perplexity=4, note="smoke data: not meaningful")
    assert "smoke data" in explorer.figure.layout.title.text
    seen.clear()
    explorer.controls["perplexity"].value = 3
    assert seen and all("computing 2 t-SNE maps of 45 points" in status and disabled for status, disabled in seen)
    assert explorer.status.value == "" and not explorer.controls["perplexity"].disabled
    seen.clear()
    explorer.controls["perplexity"].value = 4                  # cached: no sign, no work
    assert not seen and explorer.status.value == ""


def test_explorers_pass_the_note_and_prior_and_send_no_nan():
    note = "untrained model"
    edges = EdgesExplorer(viz_inputs.history(epochs=3), note=note)
    assert note in edges.figure.layout.title.text and note in edges.timeline.layout.title.text
    assert len(edges.figure.data) == 6                       # two units × (learned, prior, learned − prior)
    assert_browser_safe(edges.figure)
    rng = np.random.default_rng(0)
    sample = SampleEdgesExplorer({"homo": viz_inputs.softmax(rng.normal(size=(3, 6)))}, ids=["a", "b", "c"], note=note)
    assert note in sample.figure.layout.title.text
    sample.controls["kind"].value = "heatmap"
    assert_browser_safe(sample.figure)
    curves = CurvesExplorer(viz_inputs.history(), note=note)
    assert note in curves.figure.layout.title.text


def test_sample_explorer_carries_the_note(tiny_dataset):
    explorer = SampleExplorer(tiny_dataset, note="smoke data: not meaningful")
    explorer.controls["index"].value = 2
    assert "smoke data: not meaningful" in explorer.figure.layout.title.text
    assert_browser_safe(explorer.figure)


def test_tables_in_widgets_never_print_minus_zero():
    from dmdlab.widgets import _table_html

    html_text = _table_html(pd.DataFrame({"silhouette": [-0.001, -0.02, 0.3]}), 2)
    assert "-0.00" not in html_text and ">0.00<" in html_text and "-0.02" in html_text


def test_explorer_figures_hold_their_first_figure_and_a_width_from_the_start(tiny_dataset):
    """The first figure is the widget's initial state (changes sent while plotly's widget module
    loads are lost in the page: 05's explorer was empty after Run All), at a width the page
    cannot shrink to plotly's 700 px fallback."""
    from dmdlab.widgets import EXPLORER_WIDTH

    explorer = SampleExplorer(tiny_dataset)
    assert explorer.figure._widget_data and explorer.figure._widget_data[0]["type"] == "heatmap"
    assert explorer.figure._widget_layout["width"] == EXPLORER_WIDTH
