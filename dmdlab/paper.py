"""The published numbers that dmdlab's tables are printed beside (the paper's CMU-MOSI comparison table and its supplementary).

Data only: every row says which dataset and setting it was measured on and, where the
sources say so, which text features it used. The CMU-MOSI comparison is the paper's
table as tabulated in a published review; its text-feature notes come from secondary
sources (DMD's unaligned 41.9 row: GloVe; its aligned 45.6 row: BERT). Where no source
here says, ``text_features`` is None: check the paper before claiming a like-for-like
match. Numbers are percentages, as printed.

The paper's ablation numbers are not held here (only the comparison rows are), so the
ablation and unimodal tables print "this run" only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from dmdlab.modalities import EDGE_LABELS

MOSI = "CMU-MOSI"
MOSEI = "CMU-MOSEI"


@dataclass(frozen=True)
class PaperResult:
    """One published row: a model on a dataset/setting, metrics in percent."""

    model: str                          # method name as printed ("DMD", "MulT", ...)
    dataset: str                        # "CMU-MOSI" or "CMU-MOSEI"
    setting: str                        # "aligned" or "unaligned" word-level features
    acc7: float | None                  # Acc-7, % (Mult_acc_7)
    acc2: float | None                  # Acc-2 non-0, % (Non0_acc_2)
    f1: float | None                    # weighted F1 non-0, % (Non0_F1_score)
    text_features: str | None = None    # "BERT", "GloVe" or None when the sources here do not say
    acc2_std: float | None = None       # std over runs, where published
    f1_std: float | None = None
    source: str = "DMD (CVPR 2023), MOSI comparison table, via a published review"


def _mosi(model: str, setting: str, acc7: float, acc2: float, f1: float, text: str | None = None) -> PaperResult:
    return PaperResult(model, MOSI, setting, acc7, acc2, f1, text)


RESULTS: tuple[PaperResult, ...] = (
    # CMU-MOSI, aligned
    _mosi("EF-LSTM", "aligned", 33.7, 75.3, 75.2),
    _mosi("LF-LSTM", "aligned", 35.3, 76.8, 76.7),
    _mosi("TFN", "aligned", 32.1, 73.9, 73.4),
    _mosi("LMF", "aligned", 32.8, 76.4, 75.7),
    _mosi("MFM", "aligned", 36.2, 78.1, 78.1),
    _mosi("RAVEN", "aligned", 33.2, 78.0, 76.6),
    _mosi("MCTN", "aligned", 35.6, 79.3, 79.1),
    _mosi("MulT", "aligned", 40.0, 83.0, 82.8),
    _mosi("PMR", "aligned", 40.6, 83.6, 83.4),
    _mosi("MISA", "aligned", 42.3, 83.4, 83.6),
    _mosi("FDMER", "aligned", 44.1, 84.6, 84.7),
    _mosi("DMD", "aligned", 45.6, 86.0, 86.0, "BERT"),
    # CMU-MOSI, unaligned
    _mosi("EF-LSTM", "unaligned", 31.0, 73.6, 74.5),
    _mosi("LF-LSTM", "unaligned", 33.7, 77.6, 77.8),
    _mosi("RAVEN", "unaligned", 31.7, 72.7, 73.1),
    _mosi("MCTN", "unaligned", 32.7, 75.9, 76.4),
    _mosi("MulT", "unaligned", 39.1, 81.1, 81.0),
    _mosi("PMR", "unaligned", 40.6, 82.4, 82.1),
    _mosi("MICA", "unaligned", 40.8, 82.6, 82.7),
    _mosi("DMD", "unaligned", 41.9, 83.5, 83.5, "GloVe"),
    # CMU-MOSEI: the supplementary's five runs (mean; std as published)
    PaperResult("DMD", MOSEI, "aligned", None, 84.7, 84.65, None, acc2_std=0.123, f1_std=0.150,
                source="DMD supplementary, five runs"),
)
"""Every published row held here."""

@dataclass(frozen=True)
class PublishedAccuracy:
    """A published binary accuracy in its own convention, for data other than the paper's."""

    model: str                          # method name as published
    dataset: str                        # "CMU-MOSI"
    features: str                       # the inputs it was measured on
    value: float                        # percent
    metric: str                         # the MMSA metric of the same convention: "Has0_acc_2" or "Non0_acc_2"
    test_clips: int                     # clips in its test split
    source: str


UTTERANCE_MOSI = PublishedAccuracy(
    "MMMU-BA (contextual inter-modal attention)", MOSI,
    "utterance-level text-CNN, acoustic (COVAREP statistics) and 3D-CNN visual vectors, their split", 82.31,
    "Has0_acc_2", 752, "Ghosal et al., Contextual Inter-modal Attention for Multi-modal Sentiment Analysis, EMNLP "
    "2018 (binary accuracy; clips labelled 0 count as positive). The model reads the neighbouring utterances of "
    "each video, which DMD does not.")
"""The published figure on the utterance-level CMU-MOSI features of Ghosal et al. and their split."""

TEXT_ONLY: tuple[PaperResult, ...] = (
    # 84.38 % binary accuracy for M-BERT, "1.02 percent" above the text-only BERT: 83.36 %. The
    # abstract states neither the Acc-2 convention (non-0 or has-0) nor the other metrics.
    PaperResult("BERT (text only, fine-tuned)", MOSI, "aligned", None, 83.36, None, "BERT",
                source="M-BERT (Rahman et al., arXiv:1908.05787v1), abstract: 84.38 % minus 1.02 points"),
)
"""Published text-only BERT results on CMU-MOSI held here (beside dmdlab's text-only variant);
not part of ``RESULTS`` (the paper's comparison table)."""

NOTES: tuple[str, ...] = (
    "Users of the official code report MOSI Acc-2/F1 about 2 points below the paper with its released configuration.",
    "An aligned GloVe row of DMD with Acc-7 41.4 is mentioned by secondary notes; its other numbers are not held here.",
)

SUPPLEMENTARY_EDGES: dict[str, dict[str, float]] = {
    "homo": dict(zip(EDGE_LABELS, (0.063, 0.063, 0.330, 0.107, 0.330, 0.107))),
    "hetero": dict(zip(EDGE_LABELS, (0.076, 0.023, 0.276, 0.081, 0.276, 0.268))),
}
"""Supplementary Table 1: mean GD edge weights on CMU-MOSEI (5 runs), per unit and edge."""


def results(dataset: str | None = None, setting: str | None = None, model: str | None = None) -> pd.DataFrame:
    """The published rows as a DataFrame, optionally filtered (exact matches)."""
    frame = pd.DataFrame([asdict(row) for row in RESULTS])
    for column, value in (("dataset", dataset), ("setting", setting), ("model", model)):
        if value is not None:
            frame = frame[frame[column] == value]
    return frame.reset_index(drop=True)


def lookup(model: str, dataset: str = MOSI, setting: str = "aligned") -> PaperResult | None:
    """The published row for ``model`` on ``dataset``/``setting``, or None."""
    for row in RESULTS:
        if (row.model, row.dataset, row.setting) == (model, dataset, setting):
            return row
    return None


def edges_frame() -> pd.DataFrame:
    """Supplementary Table 1 as a DataFrame: index edge label, columns 'homo', 'hetero'."""
    return pd.DataFrame(SUPPLEMENTARY_EDGES).rename_axis("edge")
