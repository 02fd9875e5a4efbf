"""One clip's three modalities (synthetic sequences)."""

import numpy as np

from dmdlab.viz import SampleDisplay


def test_rows_are_standardised_features_and_padding_is_marked():
    rng = np.random.default_rng(0)
    seqs = {"l": rng.normal(size=(6, 10)), "v": rng.normal(5, 3, size=(8, 4)), "a": rng.normal(size=(7, 3))}
    display = SampleDisplay(seqs, lengths={"v": 5}, transcript="hello there", label=1.5, clip_id="vid$_$1", max_features=6)
    # the 6 most varying of 10 features, over [CLS] hello there [SEP]: the 2 padded steps are not drawn
    assert display.normalised_["l"].shape == (6, 4) and display.padding_ == {"l": 2, "v": 3, "a": 0}
    assert display.normalised_["v"].shape == (4, 5)             # its 5 valid frames of 8
    assert np.allclose(display.normalised_["v"].mean(1), 0) and np.allclose(display.normalised_["v"].std(1), 1)
    fig = display.plot()
    assert len(fig.data) == 3 and "vid&#36;_&#36;1" in fig.layout.title.text   # no LaTeX: see viz.base.plain
    assert list(fig.layout.xaxis.ticktext) == ["[CLS]", "hello", "there", "[SEP]"]
    assert "padding not drawn" in fig.layout.annotations[1].text
    padded = SampleDisplay(seqs, lengths={"v": 5}, transcript="hello there", show_padding=True).plot()
    assert any(shape.x0 == 4.5 for shape in padded.layout.shapes)    # drawn, and the valid end marked
    no_text = SampleDisplay({"l": None, "v": seqs["v"], "a": seqs["a"]}).plot()
    assert len(no_text.data) == 2


def test_titles_say_what_each_input_is():
    rng = np.random.default_rng(0)
    display = SampleDisplay({"l": rng.normal(size=(5, 768)), "v": rng.normal(size=(5, 20)), "a": rng.normal(size=(5, 3))})
    titles = [a.text for a in display.plot().layout.annotations]
    assert titles[0] == "language (L): 5 tokens × 768 features per token; the 40 most varying drawn"
    assert titles[1] == "vision (V): 5 frames × 20 features per frame"
