"""Graph edges of the two GD-units: heatmaps, a directed-graph drawing, their evolution.

A GD-unit (paper §3.2) learns six directed edges per sample, in the order of
:data:`dmdlab.modalities.EDGES` (V→L, A→L, L→V, A→V, L→A, V→A); an edge i → j is how much
modality j (the student) distils from modality i (the teacher). The weights of one sample
sum to 1 over the six edges (the official joint softmax).

Inputs are plain arrays: for each unit (``"homo"``, ``"hetero"``) an array (S, 6) of edge
values, S observations (seeds, samples or epochs). :class:`EdgesDisplay` reduces them to a
mean ± std (the supplementary's Table 1 layout: rows V→L … V→A, columns homo/hetero) and
draws 3 × 3 source → target heatmaps or a directed graph with widths ∝ weight.
:class:`EdgeEvolutionDisplay` draws the edges of a history over epochs.

The prior beside the learned edges. A regulariser (weight 10 officially) pulls each unit's
batch-mean edges towards a fixed prior softmax(p / 0.25) (paper §3.3; p favours L→V and L→A,
and V→A too in HeteroGD), so every view shows three things side by side: the learned edges,
the prior they are pulled to, and the uniform value (1/6 with the official joint softmax)
they would take if nothing were learned. The prior is read from the model's GD
configuration (``GDConfig``: ``prior_homo``, ``prior_hetero``, ``prior_temperature``), so
variants with another prior are drawn as trained; without a configuration the official
values are used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy.special import softmax

from dmdlab import runs as runs_io
from dmdlab.modalities import EDGE_CELLS, EDGE_COLUMN_PATTERN, EDGE_LABELS, EDGES, GD_UNITS, MODALITIES
from dmdlab.stats import signed
from dmdlab.viz.base import (MODALITY_COLORS, NOTE_COLOR, TEMPLATE, Display, as_numpy, check_choice, integer_ticks, json_safe,
                              load_history, plural)

UNIT_TITLES = {"homo": "HomoGD (homogeneous space)", "hetero": "HeteroGD (heterogeneous space)"}
UNIT_NAMES = {"homo": "HomoGD", "hetero": "HeteroGD"}
EPOCH_MARKER = "epoch marker"  # name of the vertical line drawn at the chosen epoch
# Node positions of the graph drawing: L on top, V bottom left, A bottom right.
_NODES = {"l": (0.0, 0.9), "v": (-0.8, -0.5), "a": (0.8, -0.5)}


def edges_to_matrix(values: np.ndarray) -> np.ndarray:
    """(..., 6) edges in EDGES order -> (..., 3, 3) with [i, j] = MODALITIES[i] → MODALITIES[j], NaN diagonal."""
    values = np.asarray(values, dtype=float)
    out = np.full(values.shape[:-1] + (3, 3), np.nan)
    rows, columns = zip(*EDGE_CELLS)
    out[..., rows, columns] = values
    return out


def edge_columns(frame: pd.DataFrame, split: str | None = None) -> dict[str, list[str]]:
    """``{unit: [column per edge in EDGES order]}`` of the edge columns of a history / table.

    Accepts ``edges/homo/V→L`` and ``<split>/edges/homo/V→L`` (then ``split`` picks one).
    A unit is returned only when all six of its edges are present.
    """
    found: dict[str, dict[str, str]] = {}
    for column in frame.columns:
        match = EDGE_COLUMN_PATTERN.match(str(column))
        if match and (split is None or match["split"] in (None, split)):
            found.setdefault(match["unit"], {}).setdefault(match["edge"].replace("->", "→"), column)
    return {unit: [cols[label] for label in EDGE_LABELS] for unit, cols in found.items()
            if all(label in cols for label in EDGE_LABELS)}


def gd_config(gd=None, *, where: str = "the 'gd' parameter") -> "GDConfig":
    """A ``GDConfig`` from a ``GDConfig``, a ``DMDConfig``, a model, the dict form of a run's
    ``config.json`` (``model.gd``), or None (the official defaults).

    A dict that does not make a valid configuration raises a ValueError naming ``where``.
    """
    from dmdlab.model.config import GDConfig

    if gd is None or isinstance(gd, GDConfig):
        return gd or GDConfig()
    config = getattr(gd, "config", gd)        # a model holds its DMDConfig
    if isinstance(getattr(config, "gd", None), GDConfig):
        return config.gd
    if not isinstance(gd, dict):
        raise ValueError(f"{where} must be a GDConfig, a DMDConfig, a model or a dict of GDConfig fields. "
                         f"Got {type(gd).__name__}.")
    try:
        config = GDConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in gd.items()})
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where} is not a valid GD configuration: {error}") from error
    return config


def run_gd_config(run) -> "GDConfig | None":
    """The GD configuration a run was trained with (``model.gd`` of its ``config.json``), or
    None when the run carries no configuration."""
    path = Path(run) if isinstance(run, (str, Path)) else getattr(run, "path", None)
    config = getattr(run, "config", None)
    if config is None and path is not None and (path / runs_io.CONFIG).is_file():
        config = runs_io.read_run(path).config
    where = "the run's config" if path is None else str(path / runs_io.CONFIG)
    if not isinstance(config, dict) or "model" not in config:
        return None
    model = config["model"]
    if not isinstance(model, dict) or not isinstance(model.get("gd", {}), dict):
        raise ValueError(f"{where}: field 'model.gd' must be an object of GDConfig fields. Got {model!r:.80}.")
    return gd_config(model.get("gd", {}), where=f"{where}, field 'model.gd'")


def edge_prior(gd=None) -> dict[str, np.ndarray]:
    """``{unit: (6,)}`` the prior softmax(p / temperature) of each unit, EDGES order."""
    gd = gd_config(gd)
    return {unit: softmax(np.asarray(getattr(gd, f"prior_{unit}"), dtype=float) / gd.prior_temperature) for unit in GD_UNITS}


def uniform_edge(gd=None) -> float:
    """The weight of every edge when nothing is learned: 1/6 with the joint softmax over six
    edges, 1/2 with a softmax over each target's two sources."""
    return 1 / 6 if gd_config(gd).edge_norm == "joint" else 1 / 2


def sample_edges(model, split, *, indices=None, batch_size: int = 64) -> dict[str, np.ndarray]:
    """``{unit: (N, 6)}`` edges of each clip of ``split`` (or of the clips at ``indices``), units that are on."""
    from dmdlab.viz.collect import forward_batches

    parts: dict[str, list] = {unit: [] for unit in GD_UNITS}
    for _, output in forward_batches(model, split, indices=indices, batch_size=batch_size):
        for unit in GD_UNITS:
            values = getattr(output.edges, unit, None) if output.edges is not None else None
            if values is not None:
                parts[unit].append(as_numpy(values))
    return {unit: np.concatenate(values) for unit, values in parts.items() if values}


class EdgesDisplay(Display):
    """Mean ± std of each GD-unit's six edges over S observations, beside the prior they are
    regularised towards and the uniform value; drawn as heatmaps, a graph or a table.

    Parameters
    ----------
    edges : dict
        ``{"homo": (S, 6), "hetero": (S, 6)}`` (either may be missing or None: a unit
        switched off). A (6,) array counts as S = 1.
    title : str
        What the observations are ("test set, 5 seeds", "sample 3", "epoch 7").
    reference : DataFrame or None
        Published edges to print beside (``dmdlab.paper.edges_frame()``: index the edge
        labels, columns the units).
    gd : GDConfig, DMDConfig, model, dict or None
        The GD configuration the edges were learned with (its prior, temperature and edge
        normalisation); None: the official values.
    note, caption : str or None
        A caveat drawn in red under the title, and a line on what to look for.

    Attributes
    ----------
    mean_, std_ : dict
        ``{unit: (6,)}``; std is 0 when S = 1.
    prior_ : dict
        ``{unit: (6,)}`` the prior softmax(p / temperature).
    uniform_ : float
        The value of every edge if nothing were learned (1/6 with the joint softmax).
    matrix_ : dict
        ``{unit: (3, 3)}`` mean edge source (row) → target (column), NaN diagonal.
    table_ : DataFrame
        Rows V→L … V→A; per unit the learned edges ("0.330 ± 0.010", Table 1 layout), the
        prior and learned − prior; the uniform value; the paper's values when given.
    summary_ : DataFrame
        Numeric; rows the edges, columns (unit, mean | std | prior | learned − prior).
    """

    def __init__(self, edges: dict, *, title: str = "graph edges", reference: pd.DataFrame | None = None, gd=None,
                 note: str | None = None, caption: str | None = None):
        self.units = tuple(u for u in GD_UNITS if edges.get(u) is not None)
        if not self.units:
            raise ValueError(f"The 'edges' parameter must hold 'homo' and/or 'hetero' arrays (S, 6). Got keys {list(edges)}.")
        self.values = {}
        for unit in self.units:
            values = as_numpy(edges[unit]).astype(float)
            values = values.reshape(1, -1) if values.ndim == 1 else values
            if values.ndim != 2 or values.shape[1] != 6:
                raise ValueError(f"The '{unit}' edges must have shape (S, 6) in EDGES order. Got {values.shape}.")
            self.values[unit] = values
        self.title, self.reference, self.note, self.caption = title, reference, note, caption
        self.gd = gd_config(gd)
        self.prior_ = {u: p for u, p in edge_prior(self.gd).items() if u in self.units}
        self.uniform_ = uniform_edge(self.gd)
        self.mean_ = {u: v.mean(0) for u, v in self.values.items()}
        self.std_ = {u: (v.std(0, ddof=1) if len(v) > 1 else np.zeros(6)) for u, v in self.values.items()}
        self.n_ = {u: len(v) for u, v in self.values.items()}
        self.matrix_ = {u: edges_to_matrix(m) for u, m in self.mean_.items()}
        self.summary_ = pd.concat({u: pd.DataFrame({"mean": self.mean_[u], "std": self.std_[u], "prior": self.prior_[u],
                                                    "learned − prior": self.mean_[u] - self.prior_[u]},
                                                   index=list(EDGE_LABELS)) for u in self.units}, axis=1)
        table = {}
        for unit in self.units:
            table[unit] = [self._cell(unit, k) for k in range(6)]
            table[f"{unit} prior"] = [f"{v:.3f}" for v in self.prior_[unit]]
            table[f"{unit} learned − prior"] = [signed(v, 3) for v in self.mean_[unit] - self.prior_[unit]]
        table["uniform"] = f"{self.uniform_:.3f}"
        self.table_ = pd.DataFrame(table, index=list(EDGE_LABELS))
        if reference is not None:
            for unit in self.units:
                if unit in reference:
                    self.table_[f"{unit} (paper)"] = [f"{v:.3f}" for v in reference[unit].reindex(list(EDGE_LABELS))]
        self.table_.index.name = "edge"

    def _cell(self, unit: str, k: int) -> str:
        return f"{self.mean_[unit][k]:.3f}" + (f" ± {self.std_[unit][k]:.3f}" if self.n_[unit] > 1 else "")

    def with_edges(self, edges: dict, **changes) -> "EdgesDisplay":
        """A display of other edges with this one's reference, configuration, note and caption."""
        params = dict(title=self.title, reference=self.reference, gd=self.gd, note=self.note, caption=self.caption)
        return EdgesDisplay(edges, **{**params, **changes})

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def from_output(cls, output, *, sample: int | None = None, **kwargs) -> "EdgesDisplay":
        """From a ``DMDOutput``: the edges of one sample, or the batch's samples (mean ± std).

        Pass the model's configuration as ``gd=model`` to draw its own prior.
        """
        edges = {}
        for unit in GD_UNITS:
            values = getattr(output.edges, unit, None)
            if values is not None:
                values = as_numpy(values)
                edges[unit] = values[[sample]] if sample is not None else values
        n = len(next(iter(edges.values()))) if edges else 0
        kwargs.setdefault("title", f"edges of sample {sample}" if sample is not None else f"edges over {plural(n, 'sample')}")
        return cls(edges, **kwargs)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, **kwargs) -> "EdgesDisplay":
        """From a DataFrame with one row per observation and edge columns (``edges/homo/V→L`` …)."""
        columns = edge_columns(frame)
        if not columns:
            raise ValueError(f"No complete set of edge columns 'edges/<homo|hetero>/<V→L …>' in {list(frame.columns)}.")
        return cls({u: frame[c].to_numpy(float) for u, c in columns.items()}, **kwargs)

    @classmethod
    def from_history(cls, history: pd.DataFrame, *, epoch: int | None = None, split: str | None = None, **kwargs) -> "EdgesDisplay":
        """The edges logged at one epoch of a history (the last by default)."""
        columns = edge_columns(history, split)
        if not columns:
            raise ValueError("The history has no edge columns 'edges/<homo|hetero>/<V→L …>'.")
        row = history.iloc[-1] if epoch is None else history.loc[history["epoch"] == epoch].iloc[0]
        kwargs.setdefault("title", f"edges at epoch {int(row['epoch'])}")
        return cls({u: row[c].to_numpy(float) for u, c in columns.items()}, **kwargs)

    @classmethod
    def from_runs(cls, runs, **kwargs) -> "EdgesDisplay":
        """Mean ± std over runs (seeds): each run's edges at its last logged epoch.

        A run is an object with a ``history`` DataFrame (and a ``config``), or a run
        directory. The prior is read from the first run's configuration unless ``gd`` is given.
        """
        rows, configs = [], []
        for run in runs:
            history = load_history(run)
            columns = edge_columns(history)
            rows.append({c: history.iloc[-1][c] for cols in columns.values() for c in cols})
            configs.append(run_gd_config(run))
        found = [c for c in configs if c is not None]
        if "gd" not in kwargs and found:
            if any(c != found[0] for c in found):
                raise ValueError("The runs were trained with different GD configurations (priors); show them apart.")
            kwargs["gd"] = found[0]
        kwargs.setdefault("title", f"edges, mean ± std over {plural(len(rows), 'run')}")
        return cls.from_frame(pd.DataFrame(rows), **kwargs)

    # -- drawing ------------------------------------------------------------------------
    def plot(self, kind: str = "heatmap", *, zmin: float | None = None, zmax: float | None = None) -> go.Figure:
        """``kind``: ``"heatmap"`` (3 × 3 source → target per unit: learned, prior, learned −
        prior), ``"graph"`` (arrows with widths ∝ weight) or ``"table"`` (the supplementary's
        Table 1 layout, with the prior and the uniform value).

        The learned heatmaps' colours span the learned values (``zmin`` / ``zmax`` fix
        the range, e.g. one range over epochs), so small differences show.
        """
        check_choice("kind", kind, ("heatmap", "graph", "table"))
        if kind == "table":
            fig = go.Figure(go.Table(header=dict(values=["edge"] + list(self.table_.columns), fill_color="#e8eef7"),
                                     cells=dict(values=[list(self.table_.index)] + [list(self.table_[c]) for c in self.table_.columns])))
            fig.update_layout(title=self.title, height=330, template=TEMPLATE, margin=dict(t=50, b=10))
            return self._finish(fig)
        if kind == "heatmap":
            return self._finish(self._heatmaps(zmin, zmax))
        fig = make_subplots(rows=1, cols=len(self.units), subplot_titles=[UNIT_TITLES[u] for u in self.units],
                            horizontal_spacing=0.12)
        wmax = zmax or max(float(m.max()) for m in self.mean_.values())
        for c, unit in enumerate(self.units, start=1):
            traces, labels = _graph_traces(self.mean_[unit], wmax, self.prior_[unit])
            for trace in traces:
                fig.add_trace(trace, row=1, col=c)
            axis = "" if c == 1 else str(c)
            for x, y, text in labels:   # annotations: drawn above every arrow, on a white ground
                fig.add_annotation(x=x, y=y, text=text, xref=f"x{axis}", yref=f"y{axis}", showarrow=False,
                                   font=dict(size=11), bgcolor="rgba(255,255,255,0.85)", borderpad=1)
            fig.update_xaxes(visible=False, range=[-1.05, 1.05], row=1, col=c)
            fig.update_yaxes(visible=False, range=[-0.85, 1.08], scaleanchor=f"x{c if c > 1 else ''}", row=1, col=c)
        fig.update_layout(title=f"{self.title} (grey: the prior; uniform {self.uniform_:.3f} per edge)", template=TEMPLATE,
                          height=520, showlegend=False)
        return self._finish(fig)

    def _heatmaps(self, zmin: float | None, zmax: float | None) -> go.Figure:
        """A row per unit; columns learned, prior, learned − prior (each panel its own colour range)."""
        temperature = f"{self.gd.prior_temperature:g}"
        titles = [f"{UNIT_NAMES[u]}: {what}" for u in self.units for what in ("learned", "prior", "learned − prior")]
        fig = make_subplots(rows=len(self.units), cols=3, subplot_titles=titles, horizontal_spacing=0.08,
                            vertical_spacing=0.16)
        learned = np.concatenate([m[np.isfinite(m)] for m in self.matrix_.values()])
        lo, hi = _span(learned if zmin is None else [zmin], learned if zmax is None else [zmax])
        names = [m.upper() for m in MODALITIES]
        for r, unit in enumerate(self.units, start=1):
            prior, diff = edges_to_matrix(self.prior_[unit]), self.matrix_[unit] - edges_to_matrix(self.prior_[unit])
            bound = float(np.nanmax(np.abs(diff))) or 1e-6
            panels = (
                (self.matrix_[unit], [self._cell(unit, k).replace(" ± ", "<br>± ") for k in range(6)], "Blues", (lo, hi),
                 "learned"),
                (prior, [f"{v:.3f}" for v in self.prior_[unit]], "Greys", _span(self.prior_[unit], self.prior_[unit]), "prior"),
                (diff, [signed(v, 3) for v in self.mean_[unit] - self.prior_[unit]], "RdBu_r", (-bound, bound),
                 "learned − prior"),
            )
            for c, (z, cells, scale, (low, high), what) in enumerate(panels, start=1):
                text = [["" if i == j else cells[_edge_index(i, j)] for j in range(3)] for i in range(3)]
                fig.add_trace(go.Heatmap(
                    z=json_safe(z), x=[f"→ {n}" for n in names], y=[f"{n} →" for n in names], text=text,
                    texttemplate="%{text}", zmin=low, zmax=high, colorscale=scale, showscale=False,
                    hovertemplate="%{y} %{x}: %{z:.3f}<extra>" + f"{unit} {what}" + "</extra>"), row=r, col=c)
                fig.update_yaxes(autorange="reversed", title_text="source (teacher)" if c == 1 else None, row=r, col=c)
                fig.update_xaxes(title_text="target (student)", side="bottom", row=r, col=c)
        fig.update_layout(title=f"{self.title}<br><span style='font-size:12px'>prior: softmax(p / {temperature}); uniform: "
                                f"{self.uniform_:.3f} per edge; each panel's colours span its own values</span>",
                          template=TEMPLATE, height=330 * len(self.units) + 140, showlegend=False, margin=dict(t=120))
        return fig


def _span(low_values, high_values) -> tuple[float, float]:
    """(min, max) of the values, widened a little when they are all equal (a flat prior)."""
    lo, hi = float(np.min(low_values)), float(np.max(high_values))
    return (lo, hi) if hi - lo > 1e-9 else (lo - 1e-3, hi + 1e-3)


def _edge_index(i: int, j: int) -> int:
    return EDGES.index((MODALITIES[i], MODALITIES[j]))


def _graph_traces(weights: np.ndarray, wmax: float, prior: np.ndarray) -> tuple[list[go.Scatter], list[tuple]]:
    """Six curved arrows (one trace each, width ∝ weight) and the three nodes; and each arrow's
    label ``(x, y, text)``, outside the bend of its arrow (drawn as an annotation above the arrows).

    The two directions of a pair bend to opposite sides so both stay visible; the arrow
    head is a marker at the end of the line that turns with the last segment.
    """
    traces, labels = [], []
    for k, (s, t) in enumerate(EDGES):
        p0, p1 = np.array(_NODES[s]), np.array(_NODES[t])
        direction = p1 - p0
        normal = np.array([direction[1], -direction[0]]) / np.linalg.norm(direction)
        control = (p0 + p1) / 2 + 0.18 * normal
        u = np.linspace(0.16, 0.84, 24)[:, None]  # stop short of the node markers
        curve = (1 - u) ** 2 * p0 + 2 * (1 - u) * u * control + u ** 2 * p1
        w = float(weights[k])
        width = 1 + 14 * w / max(wmax, 1e-9)
        sizes = [0] * (len(curve) - 1) + [8 + 1.5 * width]
        traces.append(go.Scatter(
            x=curve[:, 0], y=curve[:, 1], mode="lines+markers", line=dict(width=width, color=MODALITY_COLORS[s]),
            marker=dict(size=sizes, symbol="arrow", angleref="previous", color=MODALITY_COLORS[s]), opacity=0.75,
            name=EDGE_LABELS[k], hoverinfo="text", hovertext=f"{EDGE_LABELS[k]}: {w:.3f} (prior {prior[k]:.3f})"))
        mid = curve[len(curve) // 2] + 0.17 * normal
        labels.append((float(mid[0]), float(mid[1]),
                       f"{w:.2f}<br><span style='color:#888;font-size:9px'>prior {prior[k]:.2f}</span>"))
    xs, ys = zip(*(_NODES[m] for m in MODALITIES))
    traces.append(go.Scatter(x=xs, y=ys, mode="markers+text", text=[m.upper() for m in MODALITIES], name="modalities",
                             marker=dict(size=38, color=[MODALITY_COLORS[m] for m in MODALITIES]),
                             textfont=dict(color="white", size=16), hoverinfo="skip"))
    return traces, labels


class EdgeEvolutionDisplay(Display):
    """The six edges of each unit over the epochs of a training history, with the prior's
    levels and the uniform value as dotted lines.

    Parameters
    ----------
    history : DataFrame
        The trainer's history (``epoch`` and ``edges/<unit>/<edge>`` columns).
    split : str or None
        When edges are logged per split (``<split>/edges/...``), which one.
    gd : the GD configuration (see :class:`EdgesDisplay`); None: the official values.
    note, caption : str or None
        A caveat drawn in red under the title, and a line on what to look for.

    Attributes
    ----------
    epochs_ : ndarray (E,)
    edges_ : dict ``{unit: (E, 6)}``
    prior_ : dict ``{unit: (6,)}``
    uniform_ : float
    """

    def __init__(self, history: pd.DataFrame, *, split: str | None = None, title: str = "graph edges over training",
                 gd=None, note: str | None = None, caption: str | None = None):
        columns = edge_columns(history, split)
        if not columns:
            raise ValueError("The history has no edge columns 'edges/<homo|hetero>/<V→L …>'.")
        history = history.sort_values("epoch")
        self.units = tuple(u for u in GD_UNITS if u in columns)
        self.epochs_ = history["epoch"].to_numpy()
        self.edges_ = {u: history[columns[u]].to_numpy(float) for u in self.units}
        self.title, self.note, self.caption = title, note, caption
        self.gd = gd_config(gd)
        self.prior_ = {u: p for u, p in edge_prior(self.gd).items() if u in self.units}
        self.uniform_ = uniform_edge(self.gd)

    @classmethod
    def from_run(cls, run, **kwargs) -> "EdgeEvolutionDisplay":
        """From a ``Run`` or a run directory; the prior from its configuration."""
        kwargs.setdefault("gd", run_gd_config(run))
        return cls(load_history(run), **kwargs)

    def at(self, epoch: int, **kwargs) -> EdgesDisplay:
        """The edges of one epoch, as an :class:`EdgesDisplay` (same prior and note)."""
        matches = np.flatnonzero(self.epochs_ == epoch)
        if not len(matches):
            raise ValueError(f"The 'epoch' parameter must be a logged epoch among {self.epochs_.tolist()}. Got {epoch}.")
        kwargs = {"title": f"graph edges at epoch {epoch}", "gd": self.gd, "note": self.note, "caption": self.caption,
                  **kwargs}
        return EdgesDisplay({u: self.edges_[u][matches[0]] for u in self.units}, **kwargs)

    def plot(self, *, epoch: int | None = None) -> go.Figure:
        """One panel per unit, a line per edge; ``epoch`` draws a marker line there."""
        fig = make_subplots(rows=1, cols=len(self.units), subplot_titles=[UNIT_TITLES[u] for u in self.units],
                            shared_yaxes=True)
        dashes = {"l": "solid", "v": "dash", "a": "dot"}
        learned = np.concatenate([v[np.isfinite(v)] for v in self.edges_.values()])
        pad = max(0.08 * float(np.ptp(learned)), 0.002)
        lo, hi = float(learned.min()) - pad, float(learned.max()) + pad     # the learned edges' scale, not 0 … prior
        for c, unit in enumerate(self.units, start=1):
            for k, (s, t) in enumerate(EDGES):
                fig.add_trace(go.Scatter(x=self.epochs_, y=json_safe(self.edges_[unit][:, k]), mode="lines+markers",
                                         name=EDGE_LABELS[k], legendgroup=EDGE_LABELS[k], showlegend=c == 1,
                                         marker=dict(size=4), line=dict(color=MODALITY_COLORS[s], dash=dashes[t]),
                                         hovertemplate=f"{EDGE_LABELS[k]} epoch %{{x}}: %{{y:.3f}}<extra>{unit}</extra>"),
                              row=1, col=c)
            levels = {f"uniform {self.uniform_:.3f}": self.uniform_}
            for value in np.unique(np.round(self.prior_[unit], 6)):
                labels = [EDGE_LABELS[k] for k in np.flatnonzero(np.isclose(self.prior_[unit], value, atol=1e-6))]
                levels[f"prior {value:.3f}" + (f" ({', '.join(labels)})" if len(labels) < 6 else "")] = value
            for text, value in levels.items():
                color = "#999" if text.startswith("uniform") else NOTE_COLOR
                if lo <= value <= hi:
                    fig.add_hline(y=float(value), line=dict(color=color, dash="dot", width=1), annotation_text=text,
                                  annotation_font_size=10, annotation_position="top left", row=1, col=c)
                else:  # a level off the learned edges' scale is named, not drawn (it would flatten them)
                    above = value > hi
                    axis = "" if c == 1 else str(c)
                    fig.add_annotation(text=f"{'↑' if above else '↓'} {text}, off the scale", x=0, y=1 if above else 0,
                                       xref=f"x{axis} domain", yref=f"y{axis} domain", xanchor="left",
                                       yanchor="top" if above else "bottom", showarrow=False, font=dict(size=10, color=color))
            fig.update_xaxes(title_text="epoch", row=1, col=c)
        integer_ticks(fig, self.epochs_)
        fig.update_yaxes(range=[lo, hi])
        if epoch is not None:
            fig.add_vline(x=epoch, line=dict(color="#444", dash="dot"), name=EPOCH_MARKER)
        fig.update_yaxes(title_text="edge weight (colour: source, dash: target)", row=1, col=1)
        fig.update_layout(title=self.title + " (dotted: the prior they are pulled to, and 1/6; scale: the learned edges)"
                          if self.uniform_ == 1 / 6 else self.title + " (dotted: the prior they are pulled to, and the "
                          "uniform value; scale: the learned edges)",
                          template=TEMPLATE, height=420)
        return self._finish(fig)
