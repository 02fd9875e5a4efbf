"""Regression metrics of the multimodal sentiment field, in the MMSA names and conventions.

The MMSA conventions, which the paper's tables follow. On predictions p and labels y, both (N,) in [-3, 3]:

- ``Non0_acc_2`` / ``Non0_F1_score``: samples with y = 0 are dropped; the classes are
  y > 0 and p > 0 (a prediction of exactly 0 counts as negative). F1 is the weighted F1.
  These are the Acc-2 / F1 the paper reports.
- ``Has0_acc_2`` / ``Has0_F1_score``: every sample; the classes are y >= 0 and p >= 0.
- ``Mult_acc_7`` / ``Mult_acc_5``: p and y clipped to [-3, 3] / [-2, 2], then rounded,
  then compared for equality.
- ``MAE``: mean |p - y| on the unclipped values. ``Corr``: Pearson's r.

Conventions where the formulas leave a choice (each has a test):

- Rounding is ``numpy.round``, as in MMSA: halves round to the *even* integer
  (0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0). A label of 2.5 and a prediction of 2.4 are
  therefore both class 2 in Acc-7; a half-away-from-zero rounding would disagree.
- ``Corr`` is NaN when either vector is constant (Pearson's r is undefined: a zero
  variance in the denominator). No warning is raised; tables print it as NaN.
- When every label is 0 the non-0 metrics are NaN (no sample is left to score).
- Values are fractions in [0, 1], not percentages and not rounded (MMSA rounds to four
  decimals; tables round at display time). ``to_percent`` gives the paper's units.
"""

from __future__ import annotations

import numpy as np

METRIC_NAMES: tuple[str, ...] = (
    "Has0_acc_2", "Has0_F1_score", "Non0_acc_2", "Non0_F1_score",
    "Mult_acc_5", "Mult_acc_7", "MAE", "Corr",
)
"""The metric keys, in MMSA's order."""

LOWER_IS_BETTER: frozenset[str] = frozenset({"MAE"})
"""Metrics for which a smaller value is better (all the others: larger is better)."""

PERCENT_METRICS: frozenset[str] = frozenset(METRIC_NAMES) - {"MAE", "Corr"}
"""Accuracy-like metrics that papers print as percentages."""

PAPER_NAMES: dict[str, str] = {
    "Acc-7": "Mult_acc_7", "Acc-5": "Mult_acc_5", "Acc-2": "Non0_acc_2", "F1": "Non0_F1_score",
    "Acc-2 (has-0)": "Has0_acc_2", "F1 (has-0)": "Has0_F1_score", "MAE": "MAE", "Corr": "Corr",
}
"""The paper's column names -> the metric keys (the paper's Acc-2/F1 are the non-0 ones)."""


def _as_vector(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"regression_metrics: {name} must be finite. Got {np.sum(~np.isfinite(array))} non-finite value(s).")
    return array


def multiclass_accuracy(pred: np.ndarray, labels: np.ndarray, bound: float) -> float:
    """Exact-match accuracy after clipping both to [-bound, bound] and rounding (half to even)."""
    pred_class = np.round(np.clip(pred, -bound, bound))
    label_class = np.round(np.clip(labels, -bound, bound))
    return float(np.mean(pred_class == label_class))


def pearson(pred: np.ndarray, labels: np.ndarray) -> float:
    """Pearson's r; NaN when either vector is constant (or shorter than 2)."""
    if pred.size < 2 or np.ptp(pred) == 0 or np.ptp(labels) == 0:
        return float("nan")  # a constant vector: exactly constant, not "mean minus rounding"
    pred_centered = pred - pred.mean()
    label_centered = labels - labels.mean()
    denominator = np.sqrt(np.sum(pred_centered**2) * np.sum(label_centered**2))
    if denominator == 0.0:
        return float("nan")
    return float(np.clip(np.sum(pred_centered * label_centered) / denominator, -1.0, 1.0))


def _binary(pred_positive: np.ndarray, label_positive: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, f1_score  # here: the constants above import without sklearn

    if label_positive.size == 0:
        return float("nan"), float("nan")
    accuracy = accuracy_score(label_positive, pred_positive)
    f1 = f1_score(label_positive, pred_positive, average="weighted", zero_division=0)
    return float(accuracy), float(f1)


def regression_metrics(pred, labels) -> dict[str, float]:
    """All eight MMSA regression metrics of predictions ``pred`` against ``labels``.

    Both are array-likes of N floats (a (N, 1) tensor or array is flattened). Returns a
    dict keyed by ``METRIC_NAMES`` with plain floats (fractions, see the module docstring).
    """
    pred = _as_vector(pred, "pred")
    labels = _as_vector(labels, "labels")
    if pred.shape != labels.shape:
        raise ValueError(f"regression_metrics: pred and labels must have the same length. Got {pred.size} and {labels.size}.")
    if pred.size == 0:
        raise ValueError("regression_metrics: got no samples.")

    nonzero = labels != 0
    non0_acc, non0_f1 = _binary(pred[nonzero] > 0, labels[nonzero] > 0)
    has0_acc, has0_f1 = _binary(pred >= 0, labels >= 0)
    return {
        "Has0_acc_2": has0_acc,
        "Has0_F1_score": has0_f1,
        "Non0_acc_2": non0_acc,
        "Non0_F1_score": non0_f1,
        "Mult_acc_5": multiclass_accuracy(pred, labels, 2.0),
        "Mult_acc_7": multiclass_accuracy(pred, labels, 3.0),
        "MAE": float(np.mean(np.abs(pred - labels))),
        "Corr": pearson(pred, labels),
    }


def to_percent(metrics: dict[str, float]) -> dict[str, float]:
    """The same metrics with the accuracy-like ones multiplied by 100 (the paper's units)."""
    return {name: value * 100.0 if name in PERCENT_METRICS else value for name, value in metrics.items()}


def mean_std_text(mean: float | None, std: float | None, decimals: int) -> str:
    """A table cell: '45.1 ± 0.3'; the mean alone without a std (one seed); '–' without a mean."""
    if mean is None or np.isnan(mean):
        return "–"
    text = f"{mean:.{decimals}f}"
    if std is not None and not np.isnan(std):
        text += f" ± {std:.{decimals}f}"
    return text


def is_better(metric: str, value: float, best: float | None, min_delta: float = 1e-6) -> bool:
    """Whether ``value`` improves on ``best`` for ``metric`` by more than ``min_delta``."""
    if best is None or np.isnan(best):
        return not np.isnan(value)
    if metric in LOWER_IS_BETTER:
        return value <= best - min_delta
    return value >= best + min_delta
