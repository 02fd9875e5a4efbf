"""A text summary of a loaded dataset: what ``python -m dmdlab data inspect`` prints."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dmdlab.data.dataset import MMSADataset

_ARRAYS = ("text", "text_bert", "audio", "vision", "labels", "audio_lengths", "vision_lengths")


def shapes_table(dataset: MMSADataset) -> pd.DataFrame:
    """Rows: splits; columns: the shape of each array ('-' when absent)."""
    rows = {}
    for name, split in dataset.splits.items():
        rows[name] = {"clips": len(split), "videos": len(np.unique(split.videos))}
        for key in _ARRAYS:
            array = getattr(split, key)
            rows[name][key] = "-" if array is None else "x".join(map(str, array.shape))
    return pd.DataFrame.from_dict(rows, orient="index")


def label_histogram(dataset: MMSADataset) -> pd.DataFrame:
    """Clips per split in the integer bins of the label scale (edges at k +/- 0.5), plus exact zeros."""
    low, high = int(np.floor(dataset.spec.label_min)), int(np.ceil(dataset.spec.label_max))
    edges = np.arange(low - 0.5, high + 1.0)
    rows = {}
    for name, split in dataset.splits.items():
        counts, _ = np.histogram(split.labels, bins=edges)
        rows[name] = dict(zip((f"{c:+d}" if c else "0" for c in range(low, high + 1)), counts.tolist()))
        rows[name]["exactly 0"] = int((split.labels == 0).sum())
        rows[name]["mean"] = round(float(split.labels.mean()), 3)
    return pd.DataFrame.from_dict(rows, orient="index")


def describe(dataset: MMSADataset) -> str:
    """Splits and shapes, label histogram, non-finite counts and the DataSpec, as text."""
    spec = dataset.spec
    nonfinite = dataset.report.to_frame()
    parts = [
        f"dataset {dataset.path}",
        "",
        "splits and array shapes:",
        shapes_table(dataset).to_string(),
        "",
        f"regression labels (bins of width 1 on [{spec.label_min:g}, {spec.label_max:g}]):",
        label_histogram(dataset).to_string(),
        "",
        f"non-finite feature values ({dataset.report.total_nonfinite} in all; replaced with 0):",
        _nonfinite_text(nonfinite),
        "",
        "DataSpec:",
        *(f"  {key} = {value!r}" for key, value in spec.to_dict().items()),
    ]
    if dataset.report.notes:
        parts += ["", "notes:", *(f"  {note}" for note in dataset.report.notes)]
    return "\n".join(parts)


def _nonfinite_text(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "  (no feature arrays)"
    frame = frame.assign(total=frame["nan"] + frame["posinf"] + frame["neginf"])
    return frame[["split", "key", "nan", "posinf", "neginf", "total"]].to_string(index=False)
