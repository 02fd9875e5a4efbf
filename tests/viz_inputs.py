"""Small synthetic inputs for the view and widget tests (plain DataFrames and arrays, no model)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dmdlab.modalities import EDGE_LABELS, MODALITIES
from dmdlab.viz.separability import FeatureSet


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def history(epochs: int = 6, seed: int = 0) -> pd.DataFrame:
    """A trainer-like history: losses, metrics per split, lr, and edges that drift towards L→V / L→A."""
    rng = np.random.default_rng(seed)
    rows = []
    for e in range(1, epochs + 1):
        row = {"epoch": e, "lr": 1e-4 if e < 4 else 5e-5}
        for split in ("train", "valid", "test"):
            row[f"{split}/loss/total"] = 2.0 / e + rng.uniform(0, 0.05)
            row[f"{split}/loss/task"] = 1.5 / e
            row[f"{split}/loss/recon"] = 0.3 / e
        for split in ("valid", "test"):
            row[f"{split}/MAE"] = 1.4 - 0.05 * e
            row[f"{split}/Non0_acc_2"] = 0.5 + 0.04 * e
        drift = np.array([0, 0, 1, 0, 1, 0.5]) * e / epochs
        for unit, shift in (("homo", 0.0), ("hetero", 0.3)):
            values = softmax(drift * 2 + shift * np.arange(6) / 6)
            row.update({f"edges/{unit}/{label}": v for label, v in zip(EDGE_LABELS, values)})
        rows.append(row)
    return pd.DataFrame(rows)


def feature_set(n: int = 30, *, decoupled: bool = True, d: int = 8, seed: int = 0) -> FeatureSet:
    """Clips with labels in {-2, 0, 2}; when ``decoupled`` the homo space clusters by class
    (same for L, V, A) and the hetero space by modality; otherwise both are noise."""
    rng = np.random.default_rng(seed)
    labels = np.array([-2.0, 0.0, 2.0])[np.arange(n) % 3]
    class_centres = rng.normal(0, 4, (3, d))
    modality_centres = rng.normal(0, 4, (3, 2 * d))
    homo, hetero = {}, {}
    for k, m in enumerate(MODALITIES):
        noise = rng.normal(0, 0.5, (n, d))
        homo[m] = (class_centres[np.arange(n) % 3] + noise) if decoupled else rng.normal(0, 1, (n, d))
        hetero[m] = (modality_centres[k] + rng.normal(0, 0.5, (n, 2 * d))) if decoupled else rng.normal(0, 1, (n, 2 * d))
    ids = np.array([f"vid{i // 4}$_${i % 4}" for i in range(n)])
    texts = np.array([f"clip number {i} was {'bad' if y < 0 else 'good' if y > 0 else 'fine'}" for i, y in enumerate(labels)])
    return FeatureSet(homo, hetero, labels, ids, texts)


def attention(layers: int = 2, batch: int = 3, heads: int = 2, t_l: int = 6, t_v: int = 8, t_a: int = 7,
              seed: int = 0) -> dict[str, np.ndarray]:
    """Row-normalised random weights for all six directions; in "v->l" text step 2 of every
    sample/layer/head attends mostly to frame 5."""
    rng = np.random.default_rng(seed)
    steps = {"l": t_l, "v": t_v, "a": t_a}
    out = {}
    for target in MODALITIES:
        for source in MODALITIES:
            if source != target:
                logits = rng.normal(0, 0.3, (layers, batch, heads, steps[target], steps[source]))
                if (source, target) == ("v", "l"):
                    logits[..., 2, 5] += 5.0
                out[f"{source}->{target}"] = softmax(logits)
    return out


def results() -> pd.DataFrame:
    """Two seeds of five models (fractions, MMSA names)."""
    rows = []
    for seed, jitter in ((1111, 0.0), (1112, 0.01)):
        for model, acc2 in (("unimodal_l", 0.80), ("unimodal_v", 0.55), ("unimodal_a", 0.57), ("dmd", 0.84), ("wo_fd", 0.82)):
            rows.append({"model": model, "seed": seed, "Non0_acc_2": acc2 + jitter, "Non0_F1_score": acc2 + jitter - 0.002,
                         "Mult_acc_7": acc2 / 2 + jitter, "MAE": 0.8 - jitter, "Corr": 0.7 + jitter})
    return pd.DataFrame(rows)
