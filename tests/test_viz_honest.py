"""What every figure owes its reader: no NaN sent to the browser, a visible note, and (for
attention) no padding or masked key presented as a finding."""

import json

import numpy as np
import pytest

import viz_inputs
from dmdlab.viz import (AttentionDisplay, CurvesDisplay, EdgeEvolutionDisplay, EdgesDisplay, ResultsTableDisplay,
                        SampleDisplay, SeparabilityDisplay, UnimodalGapDisplay, paper_table)

NOTE = "smoke data: not meaningful"


def assert_browser_safe(fig) -> None:
    """The figure's JSON as the browser gets it, with NaN / inf refused (ipywidgets' messages refuse them)."""
    def plain(value):
        if hasattr(value, "tolist"):
            return value.tolist()
        raise TypeError(type(value))

    json.dumps(fig.to_plotly_json(), default=plain, allow_nan=False)


def _history_with_gaps():
    history = viz_inputs.history(epochs=3)
    history["test/MAE"] = np.nan                       # the protocol tests only at the end
    return history


FIGURES = {
    "edges heatmap": lambda note: EdgesDisplay({"homo": viz_inputs.softmax(np.arange(6.0)), "hetero": np.full(6, 1 / 6)},
                                               note=note).plot("heatmap"),
    "edges graph": lambda note: EdgesDisplay({"homo": np.full(6, 1 / 6)}, note=note).plot("graph"),
    "edges table": lambda note: EdgesDisplay({"homo": np.full(6, 1 / 6)}, note=note).plot("table"),
    "edge evolution": lambda note: EdgeEvolutionDisplay(viz_inputs.history(epochs=3), note=note).plot(epoch=2),
    "curves": lambda note: CurvesDisplay(_history_with_gaps(), note=note).plot(),
    "results bars": lambda note: ResultsTableDisplay(viz_inputs.results(), paper=paper_table(rename={"DMD": "dmd"}),
                                                     note=note).plot("bars", metric="Acc-2"),
    "results table": lambda note: ResultsTableDisplay(viz_inputs.results(), note=note).plot(),
    "unimodal gap": lambda note: UnimodalGapDisplay(viz_inputs.results(), by="model", note=note).plot(),
    "separability": lambda note: SeparabilityDisplay({"DMD": viz_inputs.feature_set(n=12)}, perplexity=3,
                                                     note=note).plot(),
    "attention": lambda note: AttentionDisplay(viz_inputs.attention(), texts=["a b", "c", "d"], note=note).plot(),
    "sample": lambda note: SampleDisplay({"l": np.ones((4, 3)), "v": np.zeros((4, 2)), "a": None}, note=note).plot(),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_figure_is_browser_safe_and_shows_its_note(name):
    plain = FIGURES[name](None)
    assert_browser_safe(plain)
    noted = FIGURES[name](NOTE)
    assert_browser_safe(noted)
    assert NOTE in noted.layout.title.text and NOTE not in (plain.layout.title.text or "")
    assert noted.layout.margin.t > (plain.layout.margin.t or 100) - 1


def test_caption_is_a_second_line():
    fig = EdgesDisplay({"homo": np.full(6, 1 / 6)}, note=NOTE, caption="L→V and L→A should dominate").plot()
    title = fig.layout.title.text
    assert title.index(NOTE) < title.index("L→V and L→A should dominate")


def test_attention_of_a_model_hides_padding_and_never_lists_masked_keys(tiny_dataset, tiny_config):
    import torch

    from dmdlab.model import DMD

    split = tiny_dataset.splits["test"]
    torch.manual_seed(0)
    model = DMD(tiny_config, tiny_dataset.spec).eval()
    words = np.array([len(str(t).split()) for t in np.asarray(split.raw_text)])
    clips = np.argsort(words, kind="stable")[:4]                     # the shortest clips: padding on both sides
    display = AttentionDisplay.from_model(model, split, indices=clips, direction="v->l")
    for sample, clip in enumerate(clips):
        shown = display.select(sample=sample)
        assert shown.masked_.any()                                  # the official causal mask is on
        # aligned vision has a step per word ([CLS], [SEP] and what follows are zeros: padding)
        frames = np.abs(split.vision[clip]).sum(-1) > 0
        assert frames.sum() == words[clip]
        assert shown.key_padded_.sum() > 0 and shown.query_padded_.sum() > 0
        pairs = shown.top_pairs_
        queries = [shown.query_labels_.index(q) for q in pairs["query (L)"]]
        keys = [shown.key_labels_.index(k) for k in pairs["key (V)"]]
        assert not shown.masked_[queries, keys].any() and (pairs["weight"] > 0).all()
        assert not shown.query_padded_[queries].any() and not shown.key_padded_[keys].any()
        fig = shown.plot()
        assert_browser_safe(fig)
        z = fig.data[0].z
        rows, cols = shown.shown()
        assert len(z) == len(rows) == (~shown.query_padded_).sum() and len(z[0]) == len(cols)
        blank = np.array([[v is None for v in row] for row in z])
        assert (blank == shown.masked_[np.ix_(rows, cols)]).all()   # masked cells blank, nothing else
        full = shown.select(show_padding=True).plot().data[0].z
        assert np.shape(full) == shown.matrix_.shape and None not in np.ravel(full).tolist()


def test_attention_colour_range_is_robust_to_one_dominant_cell():
    w = np.full((1, 1, 1, 8, 8), 1 / 8)
    w[0, 0, 0, 3] = [0.93] + [0.01] * 7                    # one query puts almost all its weight on one key
    w[0, 0, 0, 5, :2] += 0.02
    w[0, 0, 0, 5, 2:4] -= 0.02
    heat = AttentionDisplay({"a->v": w}, direction="a->v").plot().data[0]
    assert heat.zmax < 0.5 and heat.zmin > 0.0              # the other rows' differences keep their colours


def test_attention_valid_mask_must_match_the_steps():
    with pytest.raises(ValueError, match="'valid' mask of 'v'"):
        AttentionDisplay(viz_inputs.attention(), direction="v->l", valid={"v": np.ones((3, 5), bool)})
    valid = np.ones((3, 8), bool)
    valid[:, 6:] = False
    display = AttentionDisplay(viz_inputs.attention(), direction="v->l", valid={"v": valid})
    assert display.shown()[1].tolist() == list(range(6))
    assert not set(display.top_pairs_["key (V)"]) & {"V6", "V7"}


def test_curves_nan_epochs_are_gaps():
    fig = CurvesDisplay(_history_with_gaps()).plot(("metric",))
    test_mae = next(t for t in fig.data if t.name == "test")
    assert list(test_mae.y) == [None, None, None]


def test_epoch_ticks_are_whole_numbers():
    for fig in (CurvesDisplay(viz_inputs.history(epochs=2)).plot(), EdgeEvolutionDisplay(viz_inputs.history(epochs=3)).plot(),
                CurvesDisplay(viz_inputs.history(epochs=40)).plot()):
        for axis in (a for key, a in fig.layout.to_plotly_json().items() if key.startswith("xaxis")):
            assert axis["tickformat"] == "d" and float(axis["dtick"]).is_integer() and axis["dtick"] >= 1
