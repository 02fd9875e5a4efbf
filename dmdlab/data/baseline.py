"""Unimodal linear baselines: ridge regression on time-pooled features, per modality.

A sanity check of a dataset, and the "unimodal gap" DMD starts from: each modality's
sequence is pooled over its valid steps (mean and standard deviation per channel), then
``RidgeCV`` (on standardised features, alpha chosen by leave-one-out on train) predicts
the label. Pooling throws word order away, so on the built-in data language loses the
negations that a sequence model can read.

Valid steps: ``audio_lengths`` / ``vision_lengths`` when the file has them; otherwise the
steps whose features are not all zero (MMSA pads with zero rows); all steps if a clip has
none. Scores use :func:`dmdlab.train.metrics.regression_metrics` (MMSA names).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dmdlab.data.dataset import MMSADataset, Split
from dmdlab.modalities import MODALITY_NAMES
from dmdlab.train.metrics import regression_metrics

ALPHAS = np.logspace(-1, 5, 13)
COLUMNS = ("Non0_acc_2", "Non0_F1_score", "MAE", "Corr")
_KEYS = {"l": "text", "v": "vision", "a": "audio"}
_ROWS = 1024   # clips pooled at once (bounds memory on MOSEI-size text)


def pooled_features(split: Split, modality: str, *, std: bool = True) -> np.ndarray:
    """(N, d) mean over valid steps of one modality -- (N, 2d) with the std appended."""
    array = getattr(split, _KEYS[modality])
    if array is None:
        raise ValueError(f"split {split.name!r} has no {_KEYS[modality]!r} features (BERT inputs cannot be pooled)")
    lengths = getattr(split, f"{_KEYS[modality]}_lengths", None) if modality != "l" else None
    out = []
    for start in range(0, len(array), _ROWS):
        x = array[start:start + _ROWS].astype(np.float64)                    # (n, T, d)
        if lengths is not None:
            valid = np.arange(x.shape[1])[None] < lengths[start:start + _ROWS, None]
        else:
            valid = np.any(x != 0, axis=-1)
        valid[~valid.any(1)] = True                                           # no valid step: use all
        weight = valid[..., None] / valid.sum(1)[:, None, None]               # (n, T, 1)
        mean = (x * weight).sum(1)
        parts = [mean]
        if std:
            parts.append(np.sqrt((((x - mean[:, None]) ** 2) * weight).sum(1)))
        out.append(np.concatenate(parts, axis=1))
    return np.concatenate(out).astype(np.float32)


def ridge_baseline(dataset: MMSADataset, *, evaluate_on: str = "test", std: bool = True) -> pd.DataFrame:
    """Fit ridge on train per modality (L, V, A) and on all three concatenated; score ``evaluate_on``.

    Returns a DataFrame indexed by input ('language', 'vision', 'audio', 'all') with columns
    Non0_acc_2, Non0_F1_score, MAE, Corr and the chosen alpha.
    """
    train, target = dataset["train"], dataset[evaluate_on]
    inputs = [m for m in ("l", "v", "a") if getattr(train, _KEYS[m]) is not None]
    features = {m: (pooled_features(train, m, std=std), pooled_features(target, m, std=std)) for m in inputs}
    features["all"] = tuple(np.concatenate([features[m][i] for m in inputs], axis=1) for i in (0, 1))
    rows = {}
    for name, (x_train, x_target) in features.items():
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS))
        model.fit(x_train, train.labels)
        metrics = regression_metrics(model.predict(x_target), target.labels)
        row = {column: metrics[column] for column in COLUMNS}
        row["alpha"] = float(model[-1].alpha_)
        rows[MODALITY_NAMES.get(name, name)] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "input"
    return table
