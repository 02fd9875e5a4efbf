"""Unimodal linear baselines: ridge regression on time-pooled features, per modality.

A sanity check of a dataset, and the "unimodal gap" DMD starts from: each modality's
sequence is pooled over its valid steps (mean and standard deviation per channel), then
``RidgeCV`` (on standardised features, alpha chosen by leave-one-out on train) predicts
the label. Pooling throws word order away, so on the built-in data language loses the
negations that a sequence model can read.

Valid steps: ``audio_lengths`` / ``vision_lengths`` when the file has them; otherwise the
steps whose features are not all zero (MMSA pads with zero rows); all steps if a clip has
none. Scores use :func:`dmdlab.metrics.regression_metrics` (MMSA names).

:func:`sequence_baseline` is the contrast: a small 1-D CNN over the sequence, which can
read word order (the negations pooling loses).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dmdlab.data.dataset import Batch, MMSADataset, Split
from dmdlab.metrics import regression_metrics
from dmdlab.modalities import MODALITIES, MODALITY_NAMES

ALPHAS = np.logspace(-1, 5, 13)
COLUMNS = ("Non0_acc_2", "Non0_F1_score", "MAE", "Corr")
_KEYS = {"l": "text", "v": "vision", "a": "audio"}
_ROWS = 1024   # clips pooled at once (bounds memory on MOSEI-size text)


def _modalities(split: Split) -> list[str]:
    """The modalities whose features ``split`` holds, in (L, V, A) order (BERT-input files have no text features)."""
    return [m for m in MODALITIES if getattr(split, _KEYS[m]) is not None]


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
    inputs = _modalities(train)
    if not inputs:
        raise ValueError(f"{dataset.path}: no feature arrays to pool (BERT token ids only, e.g. a text-only file of "
                         "data build): train the text-only variant instead (python -m dmdlab train --variant "
                         "unimodal_l --text-encoder PATH)")
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


# --------------------------------------------------------------------------- a sequence baseline


class _SequenceCNN(torch.nn.Module):
    """Per modality two 1-D convolutions (kernel 3) and a max over valid steps; a linear head."""

    def __init__(self, dims: dict[str, int], width: int = 64, dropout: float = 0.3) -> None:
        super().__init__()
        self.convs = torch.nn.ModuleDict({m: torch.nn.Sequential(
            torch.nn.Conv1d(d, width, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv1d(width, width, 3, padding=1), torch.nn.ReLU()) for m, d in dims.items()})
        self.head = torch.nn.Sequential(torch.nn.Dropout(dropout), torch.nn.Linear(width * len(dims), 1))

    def forward(self, batch: Batch) -> torch.Tensor:
        pooled = []
        for m, conv in self.convs.items():
            x = getattr(batch, _KEYS[m])                                      # (B, T, d)
            h = conv(x.transpose(1, 2))                                       # (B, width, T)
            lengths = getattr(batch, f"{_KEYS[m]}_lengths", None) if m != "l" else None
            valid = (torch.arange(x.shape[1])[None] < lengths[:, None]) if lengths is not None \
                else (x != 0).any(-1)                                         # (B, T)
            valid = valid | ~valid.any(1, keepdim=True)
            pooled.append(h.masked_fill(~valid[:, None], float("-inf")).amax(-1))   # (B, width)
        return self.head(torch.cat(pooled, -1)).squeeze(-1)                   # (B,)


def sequence_baseline(dataset: MMSADataset, inputs: tuple[str, ...] = ("l",), *, epochs: int = 12,
                      batch_size: int = 32, lr: float = 1e-3, seed: int = 0, evaluate_on: str = "test") -> dict:
    """Train a small 1-D CNN (L1 loss, Adam) on the sequences of ``inputs`` and score ``evaluate_on``
    with the epoch of lowest validation MAE. Unlike pooling, it reads word order (negation).

    Returns the metrics dict (MMSA names) plus 'epoch'.
    """
    torch.manual_seed(seed)
    train = dataset["train"]
    model = _SequenceCNN({m: getattr(train, _KEYS[m]).shape[-1] for m in inputs})
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)

    def predict(split: Split) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            return torch.cat([model(b) for b in split.batches(256, text="features")]).numpy()

    best = None
    for epoch in range(epochs):
        model.train()
        for batch in train.batches(batch_size, shuffle=True, generator=generator, text="features"):
            loss = torch.nn.functional.l1_loss(model(batch), batch.labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        valid_mae = float(np.abs(predict(dataset["valid"]) - dataset["valid"].labels).mean())
        if best is None or valid_mae < best[0]:
            best = (valid_mae, epoch, predict(dataset[evaluate_on]))
    metrics = regression_metrics(best[2], dataset[evaluate_on].labels)
    return {**metrics, "epoch": best[1]}


def baseline_table(dataset: MMSADataset, *, sequence: bool = False, evaluate_on: str = "test", std: bool = True,
                   epochs: int = 12, seed: int = 0) -> pd.DataFrame:
    """The ridge table, plus (``sequence``) CNN rows for language and for all three modalities."""
    table = ridge_baseline(dataset, evaluate_on=evaluate_on, std=std)
    table.index = [f"{name}, ridge on pooled" for name in table.index]
    if sequence:
        table["epoch"] = np.nan
        inputs = _modalities(dataset["train"])
        for name, modalities in (("language", ("l",)), ("all", tuple(inputs))):
            if "l" not in inputs and name == "language":
                continue
            metrics = sequence_baseline(dataset, modalities, epochs=epochs, seed=seed, evaluate_on=evaluate_on)
            table.loc[f"{name}, CNN on sequence"] = {**{c: metrics[c] for c in COLUMNS}, "epoch": metrics["epoch"]}
    if sequence:
        table["epoch"] = table["epoch"].map(lambda e: "-" if np.isnan(e) else str(int(e)))
    table.index.name = "input, model"
    return table
