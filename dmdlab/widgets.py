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
import re

import ipywidgets as widgets
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dmdlab.viz import AttentionDisplay, CurvesDisplay, EdgeEvolutionDisplay, EdgesDisplay, SampleDisplay, SeparabilityDisplay
from dmdlab.stats import fixed, signed
from dmdlab.viz import separability
from dmdlab.viz.base import load_history, plain, plural
from dmdlab.viz.edges import EPOCH_MARKER, run_gd_config, sample_edges
from dmdlab.viz.separability import FeatureSet

__all__ = ["sync_figure", "CurvesExplorer", "EdgesExplorer", "SampleEdgesExplorer", "SeparabilityExplorer",
           "AttentionExplorer", "SampleExplorer"]


EXPLORER_WIDTH = 920
"""Pixels, for an explorer's figures that set no width. A FigureWidget in a VBox is drawn before
the page gives it a width, and plotly then falls back to 700 px: titles were cut and subplot
titles overlapped. 920 fits JupyterLab's output area in a 1366-px-wide window (the browser
test's 1400-px page gives it 968 px)."""


def _sized(figure: go.Figure) -> go.Figure:
    if figure.layout.width is None:
        figure.update_layout(width=EXPLORER_WIDTH)
    return figure


def sync_figure(target: go.FigureWidget, source: go.Figure) -> go.FigureWidget:
    """Copy ``source`` into the FigureWidget ``target`` in place (one batched message).

    Traces are updated property by property when the trace list keeps its shape (types in
    the same order), replaced otherwise; the layout is replaced (:data:`EXPLORER_WIDTH` wide
    unless it sets a width).
    """
    source = _sized(source)
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


_CELL = re.compile(r"<(t[dh])(?=[ >])")
_CELL_STYLE = "padding: 2px 12px; text-align: right"


def _table_html(frame: pd.DataFrame, places: int = 3, index: bool = True) -> str:
    """A DataFrame as an HTML table with spaced cells (inline styles: a widget's HTML gets no
    notebook stylesheet, and cells would touch)."""
    table = frame.to_html(float_format=lambda value: fixed(value, places), border=0, classes="dmdlab-table", escape=True,
                          index=index)   # never '-0.00'

    return _CELL.sub(rf'<\1 style="{_CELL_STYLE}"', table)


def figure_widget(figure: go.Figure | None = None) -> go.FigureWidget:
    """A FigureWidget holding ``figure`` from the start (plotly >= 6 builds it on the ``anywidget`` package).

    The first figure must be part of the widget's initial state, not sent as changes after it
    is created: inside a VBox, a FigureWidget's changes are messages that the page applies only
    once the widget's JavaScript module has loaded, and those sent while it loads are lost —
    the explorer then showed empty axes after Run All, now and then (the module loads once
    per page: the first explorer of a notebook was the one hit).
    """
    try:
        return go.FigureWidget(None if figure is None else _sized(figure))
    except ImportError as error:
        raise ImportError("dmdlab.widgets needs the 'anywidget' package for plotly's FigureWidget: "
                          "pip install anywidget (it is a dmdlab dependency).") from error


class _Explorer(widgets.VBox):
    """Controls above a FigureWidget; subclasses build ``self._figure_for()`` from the controls.

    ``__init__`` draws the first figure, so a subclass creates the widgets that ``_figure_for``
    fills (transcript, scores ...) before calling it. While a redraw computes, ``status``
    shows ``busy_message()`` (empty for quick views) and the controls are disabled.
    """

    def __init__(self, controls: dict[str, widgets.Widget], extra: list[widgets.Widget] | None = None):
        self.controls = controls
        self.status = widgets.HTML()
        self.renders = 0  # how many times the figure was (re)built: tests read it
        self.figure = figure_widget(self._figure_for())
        for control in controls.values():
            control.observe(self._on_change, names="value")
            if hasattr(control.style, "description_width"):
                control.style.description_width = "initial"  # the whole label ("source → target"), not 80 px of it
        rows = [widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap")), self.status]
        super().__init__(rows + (extra or []) + [self.figure])

    def _figure_for(self) -> go.Figure:  # pragma: no cover - overridden
        raise NotImplementedError

    def busy_message(self) -> str:
        """What the status line says while the figure for the current setting computes ('' for none)."""
        return ""

    def _on_change(self, change=None) -> None:
        message = self.busy_message()
        enabled = [c for c in self.controls.values() if not c.disabled]
        if message:
            self.status.value = f"<span style='color:#555'>⏳ {html.escape(message)}</span>"
            for control in enabled:
                control.disabled = True
        try:
            sync_figure(self.figure, self._figure_for())
            self.renders += 1
        finally:
            self.status.value = ""
            for control in enabled:
                control.disabled = False


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
    def from_run(cls, run, **kwargs) -> "CurvesExplorer":
        """``kwargs`` go to :class:`CurvesDisplay` (``note``, ``caption``, ``title``)."""
        return cls(load_history(run), **kwargs)

    def _figure_for(self) -> go.Figure:
        return self.display.plot(self.controls["what"].value, log_loss=self.controls["log"].value)


class EdgesExplorer(_Explorer):
    """The edges of both GD-units at the epoch chosen on a slider, beside their evolution.

    The heatmaps share one colour range across epochs (the learned edges' range over all
    epochs), so a colour means the same weight at every position of the slider. ``gd``
    (the run's GD configuration) gives the prior drawn beside; ``note`` a caveat on both figures.
    """

    def __init__(self, history: pd.DataFrame, *, split: str | None = None, gd=None, note: str | None = None,
                 caption: str | None = None):
        self.evolution = EdgeEvolutionDisplay(history, split=split, gd=gd, note=note, caption=caption)
        self._zmin = min(float(np.nanmin(v)) for v in self.evolution.edges_.values())
        self._zmax = max(float(np.nanmax(v)) for v in self.evolution.edges_.values())
        epochs = [int(e) for e in self.evolution.epochs_]
        controls = {
            "epoch": widgets.SelectionSlider(options=epochs, value=epochs[-1], description="epoch",
                                             continuous_update=True, layout=widgets.Layout(width="420px")),
            "kind": widgets.ToggleButtons(options=[("3×3 heatmap", "heatmap"), ("graph", "graph")], value="heatmap",
                                          description="draw"),
        }
        self.timeline = figure_widget(self.evolution.plot(epoch=epochs[-1]))
        super().__init__(controls)
        self.children = tuple(self.children) + (self.timeline,)

    @classmethod
    def from_run(cls, run, **kwargs) -> "EdgesExplorer":
        """From a ``Run`` or a run directory; the prior from its configuration."""
        kwargs.setdefault("gd", run_gd_config(run))
        return cls(load_history(run), **kwargs)

    def _figure_for(self) -> go.Figure:
        epoch = self.controls["epoch"].value
        with self.timeline.batch_update():
            for marker in self.timeline.layout.shapes:  # the epoch line of each unit's panel
                if marker.name == EPOCH_MARKER:
                    marker.x0 = marker.x1 = epoch
        return self.evolution.at(epoch).plot(self.controls["kind"].value, zmin=self._zmin, zmax=self._zmax)


class SampleEdgesExplorer(_Explorer):
    """The edges of one sample, picked from a list of clips (id, label, transcript), beside
    the prior of ``gd`` (the model's GD configuration)."""

    def __init__(self, edges: dict, *, ids, texts=None, labels=None, reference: pd.DataFrame | None = None, gd=None,
                 note: str | None = None, caption: str | None = None):
        self.edges = {u: np.asarray(v) for u, v in edges.items() if v is not None}
        self.ids, self.texts, self.labels = list(ids), texts, labels
        self.base = EdgesDisplay(self.edges, reference=reference, gd=gd, note=note, caption=caption)
        options = [(self._describe(i), i) for i in range(len(self.ids))]
        controls = {
            "sample": widgets.Dropdown(options=options, value=0, description="sample", layout=widgets.Layout(width="520px")),
            "kind": widgets.ToggleButtons(options=[("3×3 heatmap", "heatmap"), ("graph", "graph")], value="graph",
                                          description="draw"),
        }
        self.transcript = widgets.HTML()
        super().__init__(controls, extra=[self.transcript])

    def _describe(self, i: int) -> str:
        label = "" if self.labels is None else f" ({signed(float(self.labels[i]), 1)})"
        return f"{self.ids[i]}{label}"

    @classmethod
    def from_model(cls, model, split, *, indices=range(16), **kwargs) -> "SampleEdgesExplorer":
        """Run ``model`` on the clips at ``indices`` of ``split`` and keep each one's edges (prior: the model's)."""
        indices = np.asarray(list(indices), dtype=np.int64)
        kwargs.setdefault("gd", model)
        return cls(sample_edges(model, split, indices=indices), ids=np.asarray(split.ids)[indices],
                   texts=np.asarray(split.raw_text)[indices], labels=np.asarray(split.labels)[indices], **kwargs)

    def _figure_for(self) -> go.Figure:
        i = self.controls["sample"].value
        if self.texts is not None:
            self.transcript.value = f"<i>{html.escape(str(self.texts[i]))}</i>"
        display = self.base.with_edges({u: v[i] for u, v in self.edges.items()}, title=f"edges of {plain(self._describe(i))}")
        return display.plot(self.controls["kind"].value, zmin=min(float(v.min()) for v in self.edges.values()),
                            zmax=max(float(v.max()) for v in self.edges.values()))


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
        (tests read its size). A setting not in the cache takes seconds: the status line
        says so while it computes.
    note, caption : str or None
        A caveat drawn in red under the title, and a line on what to look for.
    """

    def __init__(self, features: dict[str, dict[str, FeatureSet]], *, perplexity: int = 30, n_neighbors: int = 15,
                 n_classes: int = 3, seed: int = 0, cache: dict | None = None, note: str | None = None,
                 caption: str | None = None):
        self.features, self.n_classes, self.seed, self.note, self.caption = features, n_classes, seed, note, caption
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

    def _settings(self) -> dict:
        c = {k: w.value for k, w in self.controls.items()}
        return dict(method=c["method"], perplexity=c["perplexity"], n_neighbors=c["n_neighbors"], seed=self.seed)

    def display_for(self) -> SeparabilityDisplay:
        """The display of the controls' current setting (maps from the cache when seen before)."""
        return SeparabilityDisplay(self.features[self.controls["split"].value], n_classes=self.n_classes, cache=self.cache,
                                   note=self.note, caption=self.caption, **self._settings())

    def busy_message(self) -> str:
        """'computing t-SNE maps …' when the setting's maps are not in the cache yet."""
        settings = self._settings()
        missing = [points for fs in self.features[self.controls["split"].value].values()
                   for space in separability.SPACES if (points := fs.points(space)) is not None
                   and not separability.is_cached(points[0], cache=self.cache, **settings)]
        if not missing:
            return ""
        name = "t-SNE" if settings["method"] == "tsne" else "UMAP"
        return f"computing {plural(len(missing), f'{name} map')} of {len(missing[0][0])} points (seconds each) …"

    def _figure_for(self) -> go.Figure:
        display = self.display_for()
        self.scores.value = ("<b>silhouette scores</b> (original feature space; the claim: homo high by class, "
                             "low by modality; hetero high by modality)" + _table_html(display.scores_, 2))
        color = self.controls["color_by"].value
        return display.plot(None if color == "paper" else color)

    def _on_change(self, change=None) -> None:
        if change is not None and change["owner"] is self.controls["perplexity"] and self.controls["method"].value != "tsne":
            return  # a hidden parameter: nothing to redraw
        if change is not None and change["owner"] is self.controls["n_neighbors"] and self.controls["method"].value != "umap":
            return
        super()._on_change(change)


class AttentionExplorer(_Explorer):
    """Cross-modal attention: sample, direction, layer, head (or mean); strongest pairs listed.

    The layer slider is disabled, with a note, when the model has a single layer (the smoke
    mode's tiny model): there is nothing to choose. ``show_padding`` shows padded steps.
    """

    def __init__(self, display: AttentionDisplay):
        self.base = display
        ids = display.ids or [f"sample {i}" for i in range(display.batch_size)]
        controls = {
            "sample": widgets.Dropdown(options=[(str(name), i) for i, name in enumerate(ids)], value=display.sample,
                                       description="sample"),
            "direction": widgets.Dropdown(options=[(d.replace("->", " → "), d) for d in display.directions],
                                          value=display.direction, description="source → target"),
            "layer": widgets.IntSlider(value=display.layer, min=0, max=display.n_layers - 1, description="layer",
                                       disabled=display.n_layers == 1),
            "head": widgets.Dropdown(options=[("mean over heads", "mean")] + [(f"head {h}", h) for h in range(display.n_heads)],
                                     value=display.head, description="head"),
            "show_padding": widgets.Checkbox(value=display.show_padding, description="show padding and masked keys"),
        }
        self.pairs = widgets.HTML()
        self.transcript = widgets.HTML()
        self.layer_note = widgets.HTML("<i>This model has a single cross-modal layer: the layer slider has nothing "
                                       "to choose.</i>" if display.n_layers == 1 else "")
        super().__init__(controls, extra=[self.layer_note, self.transcript, self.pairs])

    @classmethod
    def from_model(cls, model, split, *, indices=range(8), **kwargs) -> "AttentionExplorer":
        return cls(AttentionDisplay.from_model(model, split, indices=list(indices), **kwargs))

    def display_for(self) -> AttentionDisplay:
        c = {k: w.value for k, w in self.controls.items()}
        return self.base.select(**c)

    def _figure_for(self) -> go.Figure:
        display = self.display_for()
        self.pairs.value = ("<b>strongest pairs</b> (lift: weight × keys the query may see; 1 = uniform; "
                            "masked keys and padding never listed)" + _table_html(display.top_pairs_, index=False))
        if display.texts is not None:
            self.transcript.value = f"<i>{html.escape(str(display.texts[display.sample]))}</i>"
        return display.plot()


class SampleExplorer(_Explorer):
    """A clip's three modalities: pick the split and the clip."""

    def __init__(self, dataset, *, max_features: int = 40, note: str | None = None, caption: str | None = None):
        self.dataset, self.max_features, self.note, self.caption = dataset, max_features, note, caption
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
        return SampleDisplay.from_split(split, self.controls["index"].value, max_features=self.max_features, note=self.note,
                                        caption=self.caption).plot()
