"""ipywidgets controls bound to the :mod:`dmdlab.viz` views.

Widgets only wire controls to displays: a control's change builds the view for the new
setting (a display computes once; the expensive parts are cached here) and copies the new
figure into a ``plotly.graph_objects.FigureWidget`` *in place*, so the plot in the page
updates without being redrawn from scratch. Every explorer is an ``ipywidgets.VBox``:
display it as the last expression of a cell. Its ``controls`` dict and ``figure``
(the FigureWidget) are public so tests can set a value and read the figure back.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dmdlab.viz import AttentionDisplay, CurvesDisplay, EdgeEvolutionDisplay, EdgesDisplay, SampleDisplay, SeparabilityDisplay
from dmdlab.viz._base import load_history, plain
from dmdlab.viz.edges import sample_edges
from dmdlab.viz.separability import FeatureSet

__all__ = ["sync_figure", "CurvesExplorer", "EdgesExplorer", "SampleEdgesExplorer", "SeparabilityExplorer",
           "AttentionExplorer", "SampleExplorer"]


def sync_figure(target: go.FigureWidget, source: go.Figure) -> go.FigureWidget:
    """Copy ``source`` into the FigureWidget ``target`` in place (one batched message).

    Traces are updated property by property when the trace list keeps its shape (types in
    the same order), replaced otherwise; the layout is replaced.
    """
    with target.batch_update():
        if [t.type for t in target.data] == [t.type for t in source.data]:
            for old, new in zip(target.data, source.data):
                properties = new.to_plotly_json()
                properties.pop("type", None)
                old.update(properties, overwrite=True)
        else:
            target.data = ()
            target.add_traces(list(source.data))
        target.layout = source.layout
    return target


def _table_html(frame: pd.DataFrame, floatfmt: str = "{:.3f}", index: bool = True) -> str:
    return frame.to_html(float_format=floatfmt.format, border=0, classes="dmdlab-table", escape=True, index=index)


def figure_widget() -> go.FigureWidget:
    """An empty FigureWidget (plotly >= 6 builds it on the ``anywidget`` package)."""
    try:
        return go.FigureWidget()
    except ImportError as error:
        raise ImportError("dmdlab.widgets needs the 'anywidget' package for plotly's FigureWidget: "
                          "pip install anywidget (it is a dmdlab dependency).") from error


class _Explorer(widgets.VBox):
    """Controls above a FigureWidget; subclasses build ``self._figure_for()`` from the controls.

    ``__init__`` draws the first figure, so a subclass creates the widgets that ``_figure_for``
    fills (transcript, scores ...) before calling it.
    """

    def __init__(self, controls: dict[str, widgets.Widget], extra: list[widgets.Widget] | None = None):
        self.controls = controls
        self.figure = figure_widget()
        self.renders = 0  # how many times the figure was (re)built: tests read it
        sync_figure(self.figure, self._figure_for())
        for control in controls.values():
            control.observe(self._on_change, names="value")
        rows = [widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap"))]
        super().__init__(rows + (extra or []) + [self.figure])

    def _figure_for(self) -> go.Figure:  # pragma: no cover - overridden
        raise NotImplementedError

    def _on_change(self, change=None) -> None:
        sync_figure(self.figure, self._figure_for())
        self.renders += 1


class CurvesExplorer(_Explorer):
    """Training curves of a history: which group (losses / metrics / lr / all), log scale."""

    def __init__(self, history: pd.DataFrame, **kwargs):
        self.display = CurvesDisplay(history, **kwargs)
        controls = {
            "what": widgets.ToggleButtons(options=[("losses", ("loss",)), ("metrics", ("metric",)), ("learning rate", ("lr",)),
                                                   ("all", ("loss", "metric", "lr"))], value=("loss",), description="show"),
            "log": widgets.Checkbox(value=False, description="log-scale losses"),
        }
        super().__init__(controls)

    @classmethod
    def from_run(cls, run) -> "CurvesExplorer":
        return cls(load_history(run))

    def _figure_for(self) -> go.Figure:
        return self.display.plot(self.controls["what"].value, log_loss=self.controls["log"].value)


class EdgesExplorer(_Explorer):
    """The edges of both GD-units at the epoch chosen on a slider, beside their evolution.

    The heatmaps share one colour range across epochs, so a colour means the same weight
    at every position of the slider.
    """

    def __init__(self, history: pd.DataFrame, *, split: str | None = None):
        self.evolution = EdgeEvolutionDisplay(history, split=split)
        self._zmax = max(float(np.nanmax(v)) for v in self.evolution.edges_.values())
        epochs = [int(e) for e in self.evolution.epochs_]
        controls = {
            "epoch": widgets.SelectionSlider(options=epochs, value=epochs[-1], description="epoch",
                                             continuous_update=True, layout=widgets.Layout(width="420px")),
            "kind": widgets.ToggleButtons(options=[("3×3 heatmap", "heatmap"), ("graph", "graph")], value="heatmap",
                                          description="draw"),
        }
        self.timeline = sync_figure(figure_widget(), self.evolution.plot(epoch=epochs[-1]))
        super().__init__(controls)
        self.children = tuple(self.children) + (self.timeline,)

    @classmethod
    def from_run(cls, run, **kwargs) -> "EdgesExplorer":
        return cls(load_history(run), **kwargs)

    def _figure_for(self) -> go.Figure:
        epoch = self.controls["epoch"].value
        with self.timeline.batch_update():
            for marker in self.timeline.layout.shapes:  # one per unit's panel
                marker.x0 = marker.x1 = epoch
        return self.evolution.at(epoch).plot(self.controls["kind"].value, zmax=self._zmax)


class SampleEdgesExplorer(_Explorer):
    """The edges of one sample, picked from a list of clips (id, label, transcript)."""

    def __init__(self, edges: dict, *, ids, texts=None, labels=None, reference: pd.DataFrame | None = None):
        self.edges = {u: np.asarray(v) for u, v in edges.items() if v is not None}
        self.ids, self.texts, self.labels, self.reference = list(ids), texts, labels, reference
        options = [(self._describe(i), i) for i in range(len(self.ids))]
        controls = {
            "sample": widgets.Dropdown(options=options, value=0, description="sample", layout=widgets.Layout(width="520px")),
            "kind": widgets.ToggleButtons(options=[("3×3 heatmap", "heatmap"), ("graph", "graph")], value="graph",
                                          description="draw"),
        }
        self.transcript = widgets.HTML()
        super().__init__(controls, extra=[self.transcript])

    def _describe(self, i: int) -> str:
        label = "" if self.labels is None else f" ({float(self.labels[i]):+.1f})"
        return f"{self.ids[i]}{label}"

    @classmethod
    def from_model(cls, model, split, *, indices=range(16), **kwargs) -> "SampleEdgesExplorer":
        """Run ``model`` on the clips at ``indices`` of ``split`` and keep each one's edges."""
        indices = np.asarray(list(indices), dtype=np.int64)
        return cls(sample_edges(model, split, indices=indices), ids=np.asarray(split.ids)[indices],
                   texts=np.asarray(split.raw_text)[indices], labels=np.asarray(split.labels)[indices], **kwargs)

    def _figure_for(self) -> go.Figure:
        i = self.controls["sample"].value
        if self.texts is not None:
            self.transcript.value = f"<i>{html.escape(str(self.texts[i]))}</i>"
        display = EdgesDisplay({u: v[i] for u, v in self.edges.items()}, title=f"edges of {plain(self._describe(i))}",
                               reference=self.reference)
        return display.plot(self.controls["kind"].value, zmax=max(float(v.max()) for v in self.edges.values()))


class SeparabilityExplorer(_Explorer):
    """t-SNE or UMAP of both spaces, per split, for each model; silhouettes below the controls.

    Parameters
    ----------
    features : dict
        ``{split: {model name: FeatureSet}}``.

    perplexity, n_neighbors : int
        The sliders' first values (t-SNE / UMAP).
    cache : dict or None
        Projections by (features, method, parameter), shared with displays built with the
        same dict; a control moved back to a setting already seen redraws at once. Public
        (tests read its size).
    """

    def __init__(self, features: dict[str, dict[str, FeatureSet]], *, perplexity: int = 30, n_neighbors: int = 15,
                 n_classes: int = 3, seed: int = 0, cache: dict | None = None):
        self.features, self.n_classes, self.seed = features, n_classes, seed
        self.cache: dict = {} if cache is None else cache
        def slider(description: str, value: int) -> widgets.IntSlider:
            return widgets.IntSlider(value=value, min=2, max=50, step=1, description=description,
                                     continuous_update=False, layout=widgets.Layout(width="320px"))

        controls = {
            "split": widgets.Dropdown(options=list(features), value=list(features)[0], description="split"),
            "method": widgets.ToggleButtons(options=[("t-SNE", "tsne"), ("UMAP", "umap")], value="tsne", description="map"),
            "perplexity": slider("perplexity", perplexity),
            "n_neighbors": slider("neighbours", n_neighbors),
            "color_by": widgets.Dropdown(options=[("paper: homo by class, hetero by modality", "paper"),
                                                  ("sentiment class", "class"), ("modality", "modality")],
                                         value="paper", description="colour by", layout=widgets.Layout(width="420px")),
        }
        self.scores = widgets.HTML()
        super().__init__(controls, extra=[self.scores])
        self._toggle_parameter()
        controls["method"].observe(self._toggle_parameter, names="value")

    @classmethod
    def from_models(cls, models: dict, dataset, *, splits=("test",), max_clips: int | None = 300, **kwargs):
        """Features of ``{name: model}`` on the given splits of a dataset (first ``max_clips`` clips)."""
        features = {}
        for split in splits:
            data = dataset.splits[split]
            indices = None if max_clips is None else np.arange(min(max_clips, len(data)))
            features[split] = {name: FeatureSet.from_model(model, data, indices=indices) for name, model in models.items()}
        return cls(features, **kwargs)

    def _toggle_parameter(self, change=None) -> None:
        tsne = self.controls["method"].value == "tsne"
        self.controls["perplexity"].layout.display = None if tsne else "none"
        self.controls["n_neighbors"].layout.display = "none" if tsne else None

    def display_for(self) -> SeparabilityDisplay:
        """The display of the controls' current setting (maps from the cache when seen before)."""
        c = {k: w.value for k, w in self.controls.items()}
        return SeparabilityDisplay(self.features[c["split"]], method=c["method"], perplexity=c["perplexity"],
                                   n_neighbors=c["n_neighbors"], n_classes=self.n_classes, seed=self.seed, cache=self.cache)

    def _figure_for(self) -> go.Figure:
        display = self.display_for()
        self.scores.value = ("<b>silhouette scores</b> (original feature space; the claim: homo high by class, "
                             "low by modality; hetero high by modality)" + _table_html(display.scores_, "{:.2f}"))
        color = self.controls["color_by"].value
        return display.plot(None if color == "paper" else color)

    def _on_change(self, change=None) -> None:
        if change is not None and change["owner"] is self.controls["perplexity"] and self.controls["method"].value != "tsne":
            return  # a hidden parameter: nothing to redraw
        if change is not None and change["owner"] is self.controls["n_neighbors"] and self.controls["method"].value != "umap":
            return
        super()._on_change(change)


class AttentionExplorer(_Explorer):
    """Cross-modal attention: sample, direction, layer, head (or mean); strongest pairs listed."""

    def __init__(self, display: AttentionDisplay):
        self.base = display
        ids = display.ids or [f"sample {i}" for i in range(display.batch_size)]
        controls = {
            "sample": widgets.Dropdown(options=[(str(name), i) for i, name in enumerate(ids)], value=display.sample,
                                       description="sample"),
            "direction": widgets.Dropdown(options=[(d.replace("->", " → "), d) for d in display.directions],
                                          value=display.direction, description="source → target"),
            "layer": widgets.IntSlider(value=display.layer, min=0, max=display.n_layers - 1, description="layer"),
            "head": widgets.Dropdown(options=[("mean over heads", "mean")] + [(f"head {h}", h) for h in range(display.n_heads)],
                                     value=display.head, description="head"),
        }
        self.pairs = widgets.HTML()
        self.transcript = widgets.HTML()
        super().__init__(controls, extra=[self.transcript, self.pairs])

    @classmethod
    def from_model(cls, model, split, *, indices=range(8), **kwargs) -> "AttentionExplorer":
        return cls(AttentionDisplay.from_model(model, split, indices=list(indices), **kwargs))

    def display_for(self) -> AttentionDisplay:
        c = {k: w.value for k, w in self.controls.items()}
        return self.base.select(**c)

    def _figure_for(self) -> go.Figure:
        display = self.display_for()
        self.pairs.value = ("<b>strongest pairs</b> (lift: weight × keys the query may see; 1 = uniform)"
                            + _table_html(display.top_pairs_, index=False))
        if display.texts is not None:
            self.transcript.value = f"<i>{html.escape(str(display.texts[display.sample]))}</i>"
        return display.plot()


class SampleExplorer(_Explorer):
    """A clip's three modalities: pick the split and the clip."""

    def __init__(self, dataset, *, max_features: int = 40):
        self.dataset, self.max_features = dataset, max_features
        splits = list(dataset.splits)
        controls = {
            "split": widgets.Dropdown(options=splits, value=splits[0], description="split"),
            "index": widgets.IntSlider(value=0, min=0, max=len(dataset.splits[splits[0]]) - 1, description="clip",
                                       continuous_update=False),
        }
        super().__init__(controls)

    def _on_change(self, change=None) -> None:
        if change is not None and change["owner"] is self.controls["split"]:
            self.controls["index"].max = len(self.dataset.splits[change["new"]]) - 1
        super()._on_change(change)

    def _figure_for(self) -> go.Figure:
        split = self.dataset.splits[self.controls["split"].value]
        return SampleDisplay.from_split(split, self.controls["index"].value, max_features=self.max_features).plot()
