"""Separability maps and silhouettes (synthetic features with known structure)."""

import numpy as np
import pytest

import viz_inputs
from dmdlab.viz import SeparabilityDisplay, project, sentiment_classes


def test_sentiment_classes():
    y = np.array([-2.6, -0.4, 0.0, 0.2, 3.4])
    assert list(sentiment_classes(y, 3)) == ["negative", "negative", "neutral", "positive", "positive"]
    assert list(sentiment_classes(y, 2)) == ["negative", "negative", "positive", "positive", "positive"]
    assert list(sentiment_classes(y, 7)) == ["-3", "0", "0", "0", "+3"]


def test_silhouettes_quantify_the_claim_and_plot_hover_carries_id_and_transcript():
    features = {"DMD": viz_inputs.feature_set(decoupled=True), "w/o FD": viz_inputs.feature_set(decoupled=False, seed=1)}
    display = SeparabilityDisplay(features, method="tsne", perplexity=5)
    s = display.scores_
    assert s.loc["DMD", ("homo", "by class")] > 0.5 > s.loc["DMD", ("homo", "by modality")]
    assert s.loc["DMD", ("hetero", "by modality")] > 0.5
    assert s.loc["DMD", ("homo", "by class")] > s.loc["w/o FD", ("homo", "by class")]
    assert display.embeddings_[("DMD", "homo")].shape == (90, 2)
    fig = display.plot()
    assert len(fig.layout.annotations) == 4 and "silhouette by class" in fig.layout.annotations[0].text
    hover = fig.data[0].customdata[0]
    assert hover[0].startswith("vid") and "$" not in hover[0] and "clip number" in hover[1]
    by_modality = display.plot(color_by="modality")
    assert {t.name for t in by_modality.data} == {"modality: language (L)", "modality: vision (V)", "modality: audio (A)"}


def test_projection_cache_is_keyed_by_method_and_parameter():
    X = np.random.default_rng(0).normal(size=(40, 5))
    cache = {}
    a = project(X, "tsne", perplexity=5, cache=cache)
    b = project(X, "tsne", perplexity=5, cache=cache)
    assert a is b and len(cache) == 1
    project(X, "tsne", perplexity=8, cache=cache)
    assert len(cache) == 2
    with pytest.raises(ValueError, match="'method'"):
        project(X, "pca")


@pytest.mark.slow
def test_umap_map():
    display = SeparabilityDisplay({"DMD": viz_inputs.feature_set()}, method="umap", n_neighbors=10)
    assert display.embeddings_[("DMD", "hetero")].shape == (90, 2)
    assert "UMAP" in display.plot().layout.title.text
