"""Real transcripts to a dataset file: an MMSA ``label.csv`` + a local tokenizer → an MMSA pickle.

``build_dataset(labels, tokenizer, out)`` writes, per split of the table's ``mode`` column,
``id``, ``raw_text``, ``regression_labels`` and ``text_bert`` (N, 3, T_L): the BERT inputs of
the transcripts from any BERT-family tokenizer found on disk. Vision and audio come from a
given MMSA file (``features``), matched by clip id, with its lengths keys when it has them;
without one the file is text-only, which only the text-only variant (``unimodal_l``) reads.

T_L: with a features file, its text length (MMSA files: 50), so that aligned data stays
aligned; otherwise the longest tokenized transcript, so no clip is cut and no batch pays for
padding that no clip needs (CMU-MOSI: 50 wordpieces with all-MiniLM-L6-v2's vocabulary).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dmdlab.data.errors import DatasetError
from dmdlab.data.text import load_label_csv, load_tokenizer, tokenize_text
from dmdlab.files import atomic_write
from dmdlab.modalities import SPLITS

__all__ = ["BuildReport", "build_dataset"]

_FEATURE_KEYS = ("vision", "audio", "vision_lengths", "audio_lengths")


@dataclass
class BuildReport:
    """What ``build_dataset`` wrote: the file, clips per split, T_L, truncations, the modalities taken."""

    path: Path
    sizes: dict[str, int]
    text_len: int
    truncated: int                                  # transcripts longer than text_len wordpieces (cut)
    features: list[str] = field(default_factory=list)   # keys taken from the features file

    def __str__(self) -> str:
        sizes = ", ".join(f"{name} {n}" for name, n in self.sizes.items())
        modalities = (f"vision and audio from the features file ({', '.join(self.features)})" if self.features
                      else "text only (no vision or audio: only the text-only variant unimodal_l trains on it)")
        return (f"wrote {self.path}: {sizes} clips; text_bert T_L={self.text_len} "
                f"({self.truncated} transcripts truncated); {modalities}")


def _token_lengths(texts: list[str], tokenizer) -> np.ndarray:
    """Wordpieces of each transcript with [CLS] and [SEP] (what padding to the longest needs)."""
    encoded = tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
    return np.array([len(ids) for ids in encoded], dtype=np.int64)


def _features_by_id(features, labels_path: Path, ids: np.ndarray) -> tuple[dict[str, np.ndarray], int]:
    """Vision / audio (and lengths) rows of the features dataset in the order of ``ids``, and its T_L."""
    from dmdlab.data.mmsa import load_mmsa

    data = load_mmsa(features, text="auto")
    location = {}
    for name, split in data.splits.items():
        for index, clip in enumerate(split.ids.tolist()):
            location[clip] = (name, index)
    missing = [clip for clip in ids.tolist() if clip not in location]
    if missing:
        raise DatasetError(f"{labels_path}: {len(missing)} clip id(s) of the label table are not in the features "
                           f"file {features} (first {missing[0]!r}); expected every id 'video_clip' of the table "
                           f"as 'video$_$clip' in the file's 'id' arrays")
    keys = [key for key in _FEATURE_KEYS if getattr(data.splits["train"], key) is not None]
    rows = {key: [] for key in keys}
    for clip in ids.tolist():
        name, index = location[clip]
        for key in keys:
            rows[key].append(getattr(data.splits[name], key)[index])
    return {key: np.stack(values) for key, values in rows.items()}, data.spec.text_len


def build_dataset(labels: str | Path, tokenizer, out: str | Path, *, features: str | Path | None = None,
                  max_len: int | None = None) -> BuildReport:
    """Write an MMSA-layout pickle from an MMSA ``label.csv`` (see the module docstring).

    Args:
        labels: the ``label.csv`` (``id`` or ``video_id`` + ``clip_id``, ``text``, ``label``, ``mode``).
        tokenizer: a local BERT-family tokenizer folder (or a tokenizer object); nothing is downloaded.
        out: the .pkl to write (atomically); it may not be one of the input files.
        features: an MMSA pickle whose ``vision`` / ``audio`` (and lengths) are taken by clip id.
        max_len: T_L of ``text_bert``; default as in the module docstring.

    Raises:
        DatasetError: a malformed table, or an id of the table that the features file lacks.
        ValueError: ``out`` is an input file, or ``max_len`` < 2.
    """
    labels, out = Path(labels), Path(out)
    inputs = [labels] + ([Path(features)] if features is not None else [])
    if any(out.exists() and out.resolve() == path.resolve() for path in inputs if path.exists()):
        raise ValueError(f"--out {out} is one of the input files; write the dataset to a new file.")
    table = load_label_csv(labels)
    tokenizer = load_tokenizer(tokenizer)
    ids = table["id"].to_numpy(dtype=str)
    taken, feature_len = ({}, None) if features is None else _features_by_id(features, labels, ids)
    lengths = _token_lengths(table["text"].tolist(), tokenizer)
    if max_len is None:
        max_len = feature_len or int(lengths.max())
    text_bert = tokenize_text(table["text"].tolist(), tokenizer, max_len=max_len)
    data = {}
    for name in SPLITS:
        rows = np.flatnonzero(table["mode"].to_numpy() == name)
        if len(rows) == 0:
            raise DatasetError(f"{labels}: no row has mode {name!r}; expected rows for train, valid (or dev) and test")
        data[name] = {
            "id": ids[rows].astype(object),
            "raw_text": table["text"].to_numpy()[rows].astype(object),
            "regression_labels": table["label"].to_numpy(dtype=np.float32)[rows],
            "text_bert": text_bert[rows],
            **{key: values[rows] for key, values in taken.items()},
        }
    atomic_write(out, lambda stream: pickle.dump(data, stream, protocol=5))
    return BuildReport(path=out, sizes={name: len(split["id"]) for name, split in data.items()},
                       text_len=max_len, truncated=int((lengths > max_len).sum()), features=list(taken))
