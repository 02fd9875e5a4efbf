"""Separability of the two feature spaces: t-SNE / UMAP maps and silhouette scores.

The paper's claim (its t-SNE figure): after decoupling, the *homogeneous* (shared) features
of L, V and A mix across modalities and cluster by sentiment, while the *heterogeneous*
(private) features cluster by modality. Without decoupling neither structure is clean.

Each clip contributes three points to a space, one per modality. Defaults follow the
model's outputs (DESIGN.md): the homogeneous space is ``homo.reprs[m]`` (B, d), the
heterogeneous one ``hetero.features[m]`` (B, 2d), h_m before the gate.

The silhouette score (scikit-learn, in the original feature space, euclidean) measures how
well the points group by a label: +1 tight and apart, ~0 mixed. For the claim, the homo
space should score higher by sentiment class than by modality, the hetero space high by
modality. Maps are computed once per (features, method, parameter) and can share a cache.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dmdlab.modalities import MODALITIES
from dmdlab.stats import fixed
from dmdlab.viz.base import MODALITY_COLORS, TEMPLATE, Display, as_numpy, check_choice, modality_name, plain, wrap

SPACES: tuple[str, ...] = ("homo", "hetero")
SPACE_TITLES = {"homo": "homogeneous space", "hetero": "heterogeneous space"}
COLOR_BY: tuple[str, ...] = ("class", "modality")
METHODS: tuple[str, ...] = ("tsne", "umap")
# Sentiment colours from a purple-orange diverging scale, apart from the modality colours.
_CLASS_COLORS = {"negative": "#e66101", "neutral": "#9e9e9e", "positive": "#5e3c99",
                 **dict(zip(["-3", "-2", "-1", "0", "+1", "+2", "+3"],
                            ["#b35806", "#f1a340", "#fee0b6", "#d9d9d9", "#d8daeb", "#998ec3", "#542788"]))}


def sentiment_classes(labels, n_classes: int = 3) -> np.ndarray:
    """Sentiment labels in [-3, 3] -> class names.

    ``n_classes``: 2 (negative < 0 ≤ non-negative, MMSA's has-0), 3 (negative / neutral
    (exactly 0) / positive) or 7 (rounded, clipped to [-3, 3], as Acc-7).
    """
    y = np.asarray(labels, dtype=float)
    if n_classes == 2:
        return np.where(y < 0, "negative", "positive")
    if n_classes == 3:
        return np.select([y < 0, y > 0], ["negative", "positive"], "neutral")
    if n_classes == 7:
        return np.array([f"{int(v):+d}" if v else "0" for v in np.round(np.clip(y, -3, 3))])
    raise ValueError(f"The 'n_classes' parameter must be 2, 3 or 7. Got {n_classes!r}.")


@dataclass
class FeatureSet:
    """The features of one model on one split: per modality (N, d) arrays and the clips' metadata."""

    homo: dict[str, np.ndarray] | None     # modality -> (N, d) homogeneous features
    hetero: dict[str, np.ndarray] | None   # modality -> (N, 2d) heterogeneous features
    labels: np.ndarray                     # (N,) sentiment in [-3, 3]
    ids: np.ndarray                        # (N,) clip ids
    texts: np.ndarray                      # (N,) transcripts

    @classmethod
    def from_model(cls, model, split, *, indices=None, batch_size: int = 64, homo: str = "reprs") -> "FeatureSet":
        """Run ``model`` over ``split`` (or positions ``indices``) and keep both spaces.

        ``homo``: ``"reprs"`` (``homo.reprs``, the GD-unit's inputs) or ``"aligned"``
        (``decoupled.aligned``, the margin loss's projections of the shared features).
        """
        from dmdlab.viz.collect import forward_batches

        check_choice("homo", homo, ("reprs", "aligned"))
        parts: dict[str, dict[str, list]] = {"homo": {m: [] for m in MODALITIES}, "hetero": {m: [] for m in MODALITIES}}
        positions = []
        for batch, output in forward_batches(model, split, indices=indices, batch_size=batch_size):
            positions.append(as_numpy(batch.index))
            homo_src = (output.homo.reprs if output.homo is not None else None) if homo == "reprs" else output.decoupled.aligned
            hetero_src = output.hetero.features if output.hetero is not None else None
            for space, source in (("homo", homo_src), ("hetero", hetero_src)):
                for m in MODALITIES:
                    if source is not None and source.get(m) is not None:
                        parts[space][m].append(as_numpy(source[m]))
        index = np.concatenate(positions)
        spaces = {space: ({m: np.concatenate(v) for m, v in per.items()} if all(per.values()) else None)
                  for space, per in parts.items()}
        return cls(spaces["homo"], spaces["hetero"], np.asarray(split.labels)[index],
                   np.asarray(split.ids)[index], np.asarray(split.raw_text)[index])

    def points(self, space: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(3N, d) features stacked L, V, A; (3N,) modality keys; (3N,) clip positions."""
        per = getattr(self, space)
        if per is None:
            return None
        n = len(self.labels)
        X = np.concatenate([per[m].reshape(n, -1) for m in MODALITIES]).astype(np.float64)
        return X, np.repeat(list(MODALITIES), n), np.tile(np.arange(n), len(MODALITIES))


def _digest(X: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(X).tobytes()).hexdigest()[:16] + str(X.shape)


def _cache_key(X: np.ndarray, method: str, perplexity: float, n_neighbors: int, seed: int) -> tuple:
    check_choice("method", method, METHODS)
    return _digest(X), method, float(perplexity) if method == "tsne" else int(n_neighbors), seed


def is_cached(X: np.ndarray, method: str = "tsne", *, perplexity: float = 30.0, n_neighbors: int = 15, seed: int = 0,
              cache: dict | None = None) -> bool:
    """Whether ``project`` with these arguments would read its map from ``cache`` (no work)."""
    return cache is not None and _cache_key(X, method, perplexity, n_neighbors, seed) in cache


def project(X: np.ndarray, method: str = "tsne", *, perplexity: float = 30.0, n_neighbors: int = 15, seed: int = 0,
            cache: dict | None = None) -> np.ndarray:
    """2-D map of X (n, d) with t-SNE or UMAP; ``cache`` (a dict) keeps maps by (data, method, parameter).

    Wider inputs are first reduced to 50 dimensions with PCA. ``perplexity`` (t-SNE) and
    ``n_neighbors`` (UMAP) are clipped to what n points allow.
    """
    key = _cache_key(X, method, perplexity, n_neighbors, seed)
    param = key[2]
    if cache is not None and key in cache:
        return cache[key]
    n = len(X)
    Z = X - X.mean(0)
    if Z.shape[1] > 50 and n > 50:
        from sklearn.decomposition import PCA

        Z = PCA(50, random_state=seed).fit_transform(Z)
    if method == "tsne":
        from sklearn.manifold import TSNE

        Y = TSNE(2, perplexity=min(param, max((n - 1) / 3, 1.0)), init="pca", random_state=seed).fit_transform(Z)
    else:
        Y = _umap(Z, n_neighbors=int(min(param, n - 1)), seed=seed)
    Y = np.asarray(Y, dtype=float)
    if cache is not None:
        cache[key] = Y
    return Y


def _umap(Z: np.ndarray, *, n_neighbors: int, seed: int) -> np.ndarray:
    """UMAP of Z (the first fit in a process spends 15–30 s compiling with numba)."""
    import warnings

    import umap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs / random_state notice, small-n spectral warnings
        reducer = umap.UMAP(n_neighbors=n_neighbors, random_state=seed, init="spectral" if len(Z) > 30 else "random")
        return reducer.fit_transform(Z)


def silhouette(X: np.ndarray, labels: np.ndarray) -> float:
    """scikit-learn's silhouette score; NaN when fewer than 2 or as many groups as points."""
    from sklearn.metrics import silhouette_score

    n_groups = len(np.unique(labels))
    if n_groups < 2 or n_groups >= len(X):
        return float("nan")
    return float(silhouette_score(X, labels))


class SeparabilityDisplay(Display):
    """t-SNE / UMAP maps of both spaces for one or more models, with silhouette scores.

    Parameters
    ----------
    features : dict
        ``{model name: FeatureSet}``, e.g. ``{"DMD": ..., "w/o FD": ...}`` (drawn as rows).
    method : "tsne" or "umap"
    perplexity, n_neighbors : the method's parameter
    n_classes : 2, 3 or 7 sentiment classes for colouring and scoring.
    cache : dict or None
        Shared map cache (widgets pass one, so a control moved back is instant).
    note, caption : str or None
        A caveat drawn in red under the title, and a line on what to look for.

    Attributes
    ----------
    embeddings_ : dict ``{(model, space): (3N, 2)}``
    scores_ : DataFrame
        Rows the models; columns (space, "by class" | "by modality"): silhouettes in the
        original feature space.
    """

    def __init__(self, features: dict[str, FeatureSet], *, method: str = "tsne", perplexity: float = 30.0,
                 n_neighbors: int = 15, n_classes: int = 3, seed: int = 0, cache: dict | None = None,
                 title: str | None = None, note: str | None = None, caption: str | None = None):
        check_choice("method", method, METHODS)
        self.note, self.caption = note, caption
        if not features:
            raise ValueError("The 'features' parameter must hold at least one {name: FeatureSet}.")
        self.features = features
        self.method, self.perplexity, self.n_neighbors, self.n_classes = method, perplexity, n_neighbors, n_classes
        param = f"perplexity {perplexity:g}" if method == "tsne" else f"{n_neighbors} neighbours"
        self.title = title or f"{'t-SNE' if method == 'tsne' else 'UMAP'} ({param}) of the two feature spaces"
        self.embeddings_: dict[tuple[str, str], np.ndarray] = {}
        self.points_: dict[tuple[str, str], pd.DataFrame] = {}
        scores = {}
        for name, fs in features.items():
            classes = sentiment_classes(fs.labels, n_classes)
            for space in SPACES:
                stacked = fs.points(space)
                if stacked is None:
                    continue
                X, modality, clip = stacked
                self.embeddings_[(name, space)] = Y = project(X, method, perplexity=perplexity, n_neighbors=n_neighbors,
                                                              seed=seed, cache=cache)
                self.points_[(name, space)] = pd.DataFrame({
                    "x": Y[:, 0], "y": Y[:, 1], "modality": modality, "class": classes[clip],
                    "label": fs.labels[clip], "id": fs.ids[clip], "text": fs.texts[clip]})
                scores[(name, space, "by class")] = silhouette(X, classes[clip])
                scores[(name, space, "by modality")] = silhouette(X, modality)
        if not self.embeddings_:
            raise ValueError("No model in 'features' has homogeneous or heterogeneous features to map.")
        frame = pd.Series(scores).unstack([1, 2])
        self.scores_ = frame.reindex(list(features))
        self.scores_.index.name = "model"

    @classmethod
    def from_models(cls, models: dict, split, *, indices=None, batch_size: int = 64, **kwargs) -> "SeparabilityDisplay":
        """``{name: DMD model}`` run over ``split`` (e.g. DMD and its ``wo_fd`` variant)."""
        return cls({name: FeatureSet.from_model(model, split, indices=indices, batch_size=batch_size)
                    for name, model in models.items()}, **kwargs)

    def plot(self, color_by: dict | str | None = None) -> go.Figure:
        """A grid: a row per model, a column per space.

        ``color_by``: ``"class"`` / ``"modality"`` for every panel, or a dict per space;
        default the paper's figure: homo by sentiment class, hetero by modality.
        """
        if color_by is None:
            color_by = {"homo": "class", "hetero": "modality"}
        elif isinstance(color_by, str):
            color_by = {s: color_by for s in SPACES}
        for value in color_by.values():
            check_choice("color_by", value, COLOR_BY)
        models = list(self.features)
        spaces = [s for s in SPACES if any((m, s) in self.points_ for m in models)]
        titles = []
        for m in models:
            for s in spaces:
                score = self.scores_.loc[m].get((s, f"by {color_by[s]}"), np.nan)
                titles.append(f"{m}: {SPACE_TITLES[s]}<br>silhouette by {color_by[s]}: {fixed(score, 2)}")
        fig = make_subplots(rows=len(models), cols=len(spaces), subplot_titles=titles,
                            horizontal_spacing=0.06, vertical_spacing=0.1 if len(models) > 1 else 0.0)
        shown = set()
        for r, model in enumerate(models, start=1):
            for c, space in enumerate(spaces, start=1):
                points = self.points_.get((model, space))
                if points is None:
                    continue
                key = color_by[space]
                for group, sub in points.groupby(key, sort=True):
                    color = MODALITY_COLORS.get(group) if key == "modality" else _CLASS_COLORS.get(group)
                    name = f"modality: {modality_name(group)}" if key == "modality" else f"sentiment: {group}"
                    fig.add_trace(go.Scatter(
                        x=sub["x"], y=sub["y"], mode="markers", name=name, legendgroup=name,
                        showlegend=name not in shown, marker=dict(size=6, color=color, opacity=0.75),
                        customdata=np.stack([[plain(i) for i in sub["id"]], [wrap(t) for t in sub["text"]], sub["modality"].str.upper(),
                                             sub["label"].round(2)], axis=1),
                        hovertemplate="<b>%{customdata[0]}</b> (%{customdata[2]}, label %{customdata[3]})"
                                      "<br>%{customdata[1]}<extra></extra>"), row=r, col=c)
                    shown.add(name)
        fig.update_xaxes(showticklabels=False)
        fig.update_yaxes(showticklabels=False)
        fig.update_layout(title=self.title, template=TEMPLATE, height=400 * len(models) + 120,
                          legend=dict(itemsizing="constant", orientation="h", yanchor="top", y=-0.02, x=0))
        for annotation in fig.layout.annotations:
            annotation.font.size = 12
        return self._finish(fig)
