"""Real transcripts and features to a dataset file: an MMSA ``label.csv`` (+ a local tokenizer,
+ feature tables) → an MMSA pickle.

``build_dataset(labels, tokenizer, out)`` writes, per split of the table's ``mode`` column (or
of a split table, ``split``), ``id``, ``raw_text``, ``regression_labels`` and ``text_bert``
(N, 3, T_L): the BERT inputs of the transcripts from any BERT-family tokenizer found on disk.
Vision and audio come from a given MMSA file (``features``), matched by clip id, with its
lengths keys when it has them, or from feature tables of your own (``tables``: modality →
CSV / .npz keyed by clip id, read by :mod:`dmdlab.data.features`), which may also give the
text features (then no tokenizer is needed); without any the file is text-only, which only
the text-only variant (``unimodal_l``) reads.

T_L: ``max_len`` when given (at most :data:`MAX_LEN`); else, with a features file, its text
length (MMSA files: 50), so that aligned data stays aligned; otherwise the longest tokenized
transcript up to :data:`DEFAULT_MAX_LEN` = 50 wordpieces, MMSA's default, so no batch pays for
padding that no clip needs (CMU-MOSI: 50 wordpieces with all-MiniLM-L6-v2's vocabulary). Longer
transcripts are truncated, and the report says how many; one long cell never sizes the file.

A clip id may appear once in the table: one clip in two splits would be tested on what it trained on.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dmdlab.data.errors import DatasetError
from dmdlab.data.features import check_sources, feature_arrays, read_split
from dmdlab.data.text import CHARS_PER_TOKEN, load_label_csv, load_tokenizer, tokenize_text
from dmdlab.files import atomic_write
from dmdlab.modalities import SPLITS

__all__ = ["BuildReport", "build_dataset"]

_FEATURE_KEYS = ("vision", "audio", "vision_lengths", "audio_lengths")
DEFAULT_MAX_LEN = 50
"""T_L when neither ``max_len`` nor a features file sets it, as in MMSA: longer transcripts are truncated."""
MAX_LEN = 512
"""The largest T_L admitted (BERT's positions)."""


@dataclass
class BuildReport:
    """What ``build_dataset`` wrote: the file, clips per split, T_L, truncations, the modalities taken."""

    path: Path
    sizes: dict[str, int]
    text_len: int
    truncated: int                                  # transcripts longer than text_len wordpieces (cut)
    features: list[str] = field(default_factory=list)   # keys taken from the features file or tables
    tables: dict[str, str] = field(default_factory=dict)  # modality -> the feature table it came from
    bert: bool = True                               # text_bert written (a tokenizer was given)

    def __str__(self) -> str:
        sizes = ", ".join(f"{name} {n}" for name, n in self.sizes.items())
        if self.tables:
            modalities = "; ".join(f"{m} from {path}" for m, path in self.tables.items())
            others = [key for key in self.features if key.split("_")[0] not in self.tables]
            modalities += f"; {', '.join(others)} from the features file" if others else ""
        else:
            modalities = (f"vision and audio from the features file ({', '.join(self.features)})" if self.features
                          else "text only (no vision or audio: only the text-only variant unimodal_l trains on it)")
        text = ((f"text_bert T_L={self.text_len} ({self.truncated} transcripts truncated to {self.text_len} "
                 f"wordpieces; --max-len sets T_L, default {DEFAULT_MAX_LEN} as in MMSA)") if self.bert
                else f"text features T_L={self.text_len}")
        return f"wrote {self.path}: {sizes} clips; {text}; {modalities}"


def _token_lengths(texts: list[str], tokenizer, cap: int) -> np.ndarray:
    """Wordpieces of each transcript with [CLS] and [SEP], counted up to ``cap + 1`` (more: truncated)."""
    limit = max(10_000, cap * CHARS_PER_TOKEN)   # as tokenize_text cuts: a huge cell is never tokenized whole
    encoded = tokenizer([text[:limit] for text in texts], add_special_tokens=True, truncation=True,
                        max_length=cap + 1)["input_ids"]
    return np.array([len(ids) for ids in encoded], dtype=np.int64)


def _check_unique_ids(table, labels_path: Path) -> None:
    """A clip id once in the table (one clip in two splits would be tested on what it trained on)."""
    repeated = table["id"].duplicated(keep=False)
    if repeated.any():
        clip = table["id"][repeated].iloc[0]
        rows = table.index[table["id"] == clip]
        raise DatasetError(f"{labels_path}: clip id {clip!r} appears {len(rows)} times (rows "
                           f"{', '.join(str(r + 2) for r in rows[:4])}; modes "
                           f"{', '.join(sorted(set(table['mode'][rows])))}; {int(repeated.sum())} such rows); "
                           "expected each clip once, in one split")


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
                  max_len: int | None = None, tables: dict[str, str | Path] | None = None,
                  split: str | Path | None = None, only_labelled: bool = False) -> BuildReport:
    """Write an MMSA-layout pickle from an MMSA ``label.csv`` (see the module docstring).

    Args:
        labels: the ``label.csv`` (``id`` or ``video_id`` + ``clip_id``, ``text``, ``label``, ``mode``).
        tokenizer: a local BERT-family tokenizer folder (or a tokenizer object); nothing is downloaded.
            None: no ``text_bert`` (then ``tables`` must give the text).
        out: the .pkl to write (atomically); it may not be one of the input files.
        features: an MMSA pickle whose ``vision`` / ``audio`` (and lengths) are taken by clip id.
        max_len: T_L of ``text_bert`` (2 to :data:`MAX_LEN`); default as in the module docstring.
        tables: ``{"text" | "audio" | "vision": table}``, feature tables (``dmdlab.data.features``).
        split: a table ``id, split`` that replaces the label table's ``mode``.
        only_labelled: drop the rows of the tables whose clip the label table lacks (default: refuse).

    Raises:
        DatasetError: a malformed table, a clip id twice, or an id of the table that the features file lacks.
        ValueError: ``out`` is an input file, or ``max_len`` is not in [2, MAX_LEN].
    """
    labels, out = Path(labels), Path(out)
    tables = {modality: Path(path) for modality, path in (tables or {}).items()}
    inputs = [labels, *tables.values()] + [Path(p) for p in (features, split) if p is not None]
    if any(out.exists() and out.resolve() == path.resolve() for path in inputs if path.exists()):
        raise ValueError(f"--out {out} is one of the input files; write the dataset to a new file.")
    if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, int)
                                or not 2 <= max_len <= MAX_LEN):
        raise ValueError(f"The 'max_len' parameter must be an int in [2, {MAX_LEN}] ([CLS] and [SEP]; BERT's "
                         f"positions). Got {max_len!r}.")
    check_sources(tokenizer, features, tables)
    table = load_label_csv(labels)
    _check_unique_ids(table, labels)
    ids = table["id"].to_numpy(dtype=str)
    if split is not None:
        table["mode"] = read_split(split, ids, labels, only_labelled=only_labelled)
    taken, feature_len = ({}, None) if features is None else _features_by_id(features, labels, ids)
    for modality, path in tables.items():
        taken.update(feature_arrays(path, modality, ids, labels, only_labelled=only_labelled))
    text_bert, lengths = None, np.zeros(len(ids), dtype=np.int64)
    if tokenizer is not None:
        tokenizer = load_tokenizer(tokenizer)
        text_steps = taken["text"].shape[1] if "text" in taken else None
        lengths = _token_lengths(table["text"].tolist(), tokenizer,
                                 max_len or feature_len or text_steps or DEFAULT_MAX_LEN)
        if max_len is None:
            max_len = feature_len or text_steps or min(int(lengths.max()), DEFAULT_MAX_LEN)
        text_bert = tokenize_text(table["text"].tolist(), tokenizer, max_len=max_len)
        if "text" in taken and taken["text"].shape[1] != max_len:
            raise DatasetError(f"{tables['text']}: the text table's {taken['text'].shape[1]} step(s) per clip differ "
                               f"from text_bert's T_L={max_len}; expected the same text length (give --max-len "
                               f"{taken['text'].shape[1]}, or leave out --tokenizer or the text table)")
    else:
        max_len = taken["text"].shape[1]
    data = {}
    for name in SPLITS:
        rows = np.flatnonzero(table["mode"].to_numpy() == name)
        if len(rows) == 0:
            raise DatasetError(f"{labels}: no row has mode {name!r}; expected rows for train, valid (or dev) and test")
        data[name] = {
            "id": ids[rows].astype(object),
            "raw_text": table["text"].to_numpy()[rows].astype(object),
            "regression_labels": table["label"].to_numpy(dtype=np.float32)[rows],
            **({"text_bert": text_bert[rows]} if text_bert is not None else {}),
            **{key: values[rows] for key, values in taken.items()},
        }
    atomic_write(out, lambda stream: pickle.dump(data, stream, protocol=5))
    return BuildReport(path=out, sizes={name: len(split["id"]) for name, split in data.items()},
                       text_len=max_len, truncated=int((lengths > max_len).sum()), features=list(taken),
                       tables={modality: str(path) for modality, path in tables.items()}, bert=text_bert is not None)
