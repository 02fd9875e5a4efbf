"""Cross-modal attention view (synthetic weights with a planted peak)."""

import numpy as np
import pytest

import viz_inputs
from dmdlab.viz import AttentionDisplay
from dmdlab.viz.attention import parse_direction, step_labels, word_windows


def test_heatmap_rows_are_target_steps_and_the_peak_is_the_top_pair():
    texts = ["i really liked this movie a lot", "no", "meh"]
    display = AttentionDisplay(viz_inputs.attention(), direction="v->l", layer=1, head=0, sample=0, texts=texts,
                               kernels={"l": 1})
    assert display.matrix_.shape == (6, 8)
    assert display.matrix_.sum(1) == pytest.approx(np.ones(6))
    top = display.top_pairs_.iloc[0]
    assert top["query (L)"] == "2:really" and top["key (V)"] == "V5"   # step 0 is [CLS]
    fig = display.plot()
    assert list(fig.data[0].y) == display.query_labels_ and "V→L" in fig.layout.title.text


def test_mean_over_heads_and_select():
    weights = viz_inputs.attention()
    display = AttentionDisplay(weights, direction="a->v", head="mean", layer=-1, sample=2)
    assert display.layer == 1
    assert display.matrix_ == pytest.approx(weights["a->v"][1, 2].mean(0))
    other = display.select(direction="l->a", head=1, sample=0)
    assert other.matrix_ == pytest.approx(weights["l->a"][1, 0, 1])
    assert other.key_labels_[0] == "L0"   # no transcript: step indices


def test_every_word_names_a_text_step_even_the_first():
    """With a kernel of 5 the first step is centred on the second word: the first word joins its label."""
    labels, _ = step_labels("l", 5, text="never again this place ok", kernel=5)
    assert labels[0] == "0:never again" and labels[1] == "1:this"
    assert " ".join(label.split(":", 1)[1] for label in labels).split()[:5] == ["never", "again", "this", "place", "ok"]


def test_word_windows_cover_the_conv_kernel():
    windows = word_windows("a b c", 4, kernel=3, offset=1)
    assert windows[0] == ["[CLS]", "a", "b"] and windows[2] == ["b", "c", "[SEP]"] and windows[3][-1] == "[PAD]"


@pytest.mark.parametrize("kwargs, match", [
    (dict(direction="l->l"), "'direction'"), (dict(layer=5), "'layer'"), (dict(head=9), "'head'"),
    (dict(sample=3), "'sample'")])
def test_bad_selection_is_a_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AttentionDisplay(viz_inputs.attention(), **kwargs)


def test_parse_direction():
    assert parse_direction("v->l") == ("v", "l")
    with pytest.raises(ValueError):
        parse_direction("x->l")


def test_top_pairs_rank_by_lift_and_skip_queries_forced_by_the_causal_mask():
    w = np.zeros((1, 1, 1, 3, 4))
    w[..., 0, :] = [1.0, 0, 0, 0]            # sees one key: forced, not a finding
    w[..., 1, :] = [0.6, 0.4, 0, 0]          # two keys: 0.6 is a lift of 1.2
    w[..., 2, :] = [0.1, 0.1, 0.1, 0.7]      # four keys: 0.7 is a lift of 2.8
    display = AttentionDisplay({"a->v": w}, direction="a->v", top_k=3)
    pairs = display.top_pairs_
    assert list(pairs["query (V)"]) == ["V2", "V1", "V1"] and list(pairs["key (A)"]) == ["A3", "A0", "A1"]
    assert pairs["lift"].iloc[0] == pytest.approx(2.8) and "V0" not in set(pairs["query (V)"])


def test_special_text_steps_are_left_out_of_the_pairs():
    w = np.full((1, 1, 1, 4, 3), 1 / 3)
    w[..., 3, :] = [0.9, 0.05, 0.05]          # the strongest row is a [PAD] step
    w[..., 1, :] = [0.1, 0.7, 0.2]
    display = AttentionDisplay({"v->l": w}, texts=["hi"], top_k=2, kernels={"l": 1})
    assert display.query_labels_ == ["0:[CLS]", "1:hi", "2:[SEP]", "3:[PAD]"]
    assert list(display.top_pairs_["query (L)"]) == ["1:hi", "1:hi"]
    queries = set(display.select(skip_special=False, top_k=12).top_pairs_["query (L)"])
    assert "0:[CLS]" in queries and "3:[PAD]" not in queries   # padding is never a finding


def test_title_counts_hidden_padding_in_words():
    w = np.full((1, 1, 1, 4, 2), 0.5)
    title = AttentionDisplay({"v->l": w}, texts=["hi"], kernels={"l": 1}).plot().layout.title.text
    assert "1 padded step hidden" in title                   # text steps [CLS] hi [SEP] [PAD]


def test_one_key_says_there_is_nothing_to_read():
    """Utterance-level vision (one step per clip): the V→L view over one key says every weight is 1."""
    import torch

    from dmdlab.data.spec import DataSpec
    from dmdlab.model import DMDConfig, build_model, get_variant

    spec = DataSpec(text_dim=6, audio_dim=3, vision_dim=4, text_len=7, audio_len=1, vision_len=1, aligned=False)
    config = get_variant("dmd", DMDConfig.preset("mosi").replace(arch=dict(d=8, heads=2, nlevels=1)))
    torch.manual_seed(0)
    model = build_model(config, spec).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 7, 6), torch.randn(2, 1, 4), torch.randn(2, 1, 3), return_attention=True)
    display = AttentionDisplay(out.attention, direction="v->l")
    assert display.single_key_ and np.all(display.matrix_ == 1.0) and display.top_pairs_.empty
    assert "attention over one key is a weight of 1" in display.plot().layout.title.text
    other = display.select(direction="l->v")                       # vision queries over 3 text steps
    assert not other.single_key_ and other.note is None and other.matrix_.shape == (1, 3)


def test_the_attention_claim_is_not_measurable_over_one_key():
    from dmdlab import stats
    from dmdlab.claims import _attention_claim

    measures = {"dmd": {1: {"bursts": 1.0}, 2: {"bursts": 1.0}}, "untrained": {1: {"bursts": 1.0}, 2: {"bursts": 1.0}}}
    claim = _attention_claim(measures, has_truth=True, one_key=True)
    assert claim.verdict == stats.NOT_MEASURABLE and "attention over one key is a weight of 1" in claim.control
    assert _attention_claim(measures, has_truth=True).verdict != stats.NOT_MEASURABLE
