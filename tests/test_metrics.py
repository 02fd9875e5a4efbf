"""Metrics on hand-worked cases (DMD_SPEC §7, MMSA conventions)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dmdlab.metrics import METRIC_NAMES, is_better, regression_metrics, to_percent


def test_names_and_order_are_mmsa():
    metrics = regression_metrics([0.5, -1.0, 2.0], [1.0, -2.0, 0.0])
    assert tuple(metrics) == METRIC_NAMES
    assert all(isinstance(value, float) for value in metrics.values())


def test_hand_worked_case():
    labels = np.array([2.0, -1.0, 0.0, 1.4, -2.6])
    pred = np.array([1.6, 0.2, -0.3, 0.0, -2.4])
    metrics = regression_metrics(pred, labels)
    # non-0: drop the 0 label -> labels>0 [T, F, T, F], pred>0 [T, T, F, F] -> 2/4 right.
    assert metrics["Non0_acc_2"] == pytest.approx(0.5)
    # has-0: labels>=0 [T, F, T, T, F], pred>=0 [T, T, F, T, F] -> 3/5 right.
    assert metrics["Has0_acc_2"] == pytest.approx(0.6)
    # Acc-7 classes: labels [2, -1, 0, 1, -3], pred [2, 0, -0, 0, -2] -> 2 and 0 match: 2/5.
    assert metrics["Mult_acc_7"] == pytest.approx(0.4)
    # Acc-5 (clip to +-2): labels [2, -1, 0, 1, -2], pred [2, 0, -0, 0, -2] -> 3/5.
    assert metrics["Mult_acc_5"] == pytest.approx(0.6)
    assert metrics["MAE"] == pytest.approx(np.mean([0.4, 1.2, 0.3, 1.4, 0.2]))
    assert metrics["Corr"] == pytest.approx(np.corrcoef(pred, labels)[0, 1])


def test_weighted_f1_by_hand():
    # non-0 sets: truth [T, T, T, F], pred [T, T, F, F].
    # class T: precision 2/2, recall 2/3 -> F1 0.8 (support 3); class F: precision 1/2,
    # recall 1/1 -> F1 2/3 (support 1). Weighted: (3 * 0.8 + 1 * 2/3) / 4.
    metrics = regression_metrics([1.0, 2.0, -1.0, -1.0], [1.0, 0.5, 2.0, -1.0])
    assert metrics["Non0_F1_score"] == pytest.approx((3 * 0.8 + 2 / 3) / 4)


def test_rounding_of_halves_is_numpy_half_to_even():
    # np.round: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0, -1.5 -> -2 (MMSA uses np.round).
    labels = np.array([0.5, 1.5, 2.5, -0.5, -1.5])
    pred = np.array([0.0, 2.0, 2.0, 0.0, -2.0])
    assert regression_metrics(pred, labels)["Mult_acc_7"] == 1.0
    # Half-away-from-zero would give [1, 2, 3, -1, -2]: those predictions must miss.
    away = np.array([1.0, 2.0, 3.0, -1.0, -2.0])
    assert regression_metrics(away, labels)["Mult_acc_7"] == pytest.approx(2 / 5)


def test_clipping_before_rounding():
    # 2.6 clipped to 2 for Acc-5 matches a label of 3 (clipped to 2); for Acc-7 it is 3 vs 3.
    metrics = regression_metrics([2.6, -9.0], [3.0, -2.5])
    assert metrics["Mult_acc_5"] == 1.0
    assert metrics["Mult_acc_7"] == pytest.approx(0.5)  # -9 -> -3, -2.5 -> -2 (half to even)


def test_zero_labels_and_zero_predictions():
    # A zero label is dropped from non-0 but counts as positive in has-0; a zero
    # prediction is negative in non-0 (p > 0) and positive in has-0 (p >= 0).
    metrics = regression_metrics([0.0, 0.0, 1.0], [0.0, 1.0, 2.0])
    assert metrics["Non0_acc_2"] == pytest.approx(0.5)
    assert metrics["Has0_acc_2"] == 1.0


def test_all_labels_zero_gives_nan_non0():
    metrics = regression_metrics([0.3, -0.2], [0.0, 0.0])
    assert math.isnan(metrics["Non0_acc_2"]) and math.isnan(metrics["Non0_F1_score"])
    assert metrics["Has0_acc_2"] == pytest.approx(0.5)


def test_constant_prediction_has_nan_corr_without_warning(recwarn):
    metrics = regression_metrics([0.7, 0.7, 0.7], [1.0, -1.0, 2.0])
    assert math.isnan(metrics["Corr"])
    assert metrics["MAE"] == pytest.approx(np.mean([0.3, 1.7, 1.3]))
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_accepts_tensors_of_shape_b_by_1():
    pred = torch.tensor([[0.5], [-1.0]])
    labels = torch.tensor([1.0, -1.0])
    assert regression_metrics(pred, labels)["Non0_acc_2"] == 1.0


@pytest.mark.parametrize(
    "pred, labels, message",
    [([1.0], [1.0, 2.0], "same length"), ([], [], "no samples"), ([float("nan")], [1.0], "finite")],
)
def test_bad_inputs_fail_with_a_clear_message(pred, labels, message):
    with pytest.raises(ValueError, match=message):
        regression_metrics(pred, labels)


def test_to_percent_and_is_better():
    percent = to_percent({"Non0_acc_2": 0.86, "MAE": 0.7, "Corr": 0.8})
    assert percent == pytest.approx({"Non0_acc_2": 86.0, "MAE": 0.7, "Corr": 0.8})
    assert is_better("MAE", 0.5, 0.6) and not is_better("MAE", 0.6, 0.6)
    assert is_better("Corr", 0.7, 0.6) and is_better("MAE", 1.0, None)
