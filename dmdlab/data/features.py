"""Feature tables of your own, keyed by clip id: what ``data build --features MODALITY=TABLE`` reads.

A *feature table* holds one modality's features for the clips of a label table:

- a CSV with a column ``id`` and one column per feature (any names: ``a0, a1, ...``), or
- a ``.npz`` with arrays ``id`` (R,) of strings and ``features`` (R, d) of numbers
  (saved without pickles: ``np.savez(path, id=ids, features=values)``).

**Utterance level** (one vector per clip): one row per clip, written as T = 1.
**Frame level** (a sequence per clip): several rows per clip with a ``frame`` or ``time``
column (``.npz``: an array of that name) that orders them; each clip's frames are written
in that order, zero-padded to the longest clip, with the number of frames of each clip as
``audio_lengths`` / ``vision_lengths`` (MMSA's unaligned layout; text frames are only
zero-padded, as MMSA's text features are).

Ids are those of the label table: ``<video_id>_<clip_id>`` (or MMSA's ``video$_$clip``).
A *split table* (``--split``) has columns ``id`` and ``split`` (train / valid / dev / test)
and replaces the label table's ``mode``.

Tables are a stranger's files. Each of these is refused with one line naming the file, the
column and the row (CSV rows are counted as lines of the file, the header being row 1;
``.npz`` rows from 0): a missing ``id`` column, a clip of the label table with no row, a clip
given twice (twice the same frame, at frame level), a clip the label table does not hold
(``only_labelled=True`` drops those rows instead), an empty or non-numeric cell, a
non-finite value, a row wider than the header. Nothing is replaced or guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dmdlab.data.errors import DatasetError
from dmdlab.data.text import MODE_ALIASES

__all__ = ["MODALITY_KEYS", "FRAME_COLUMNS", "feature_arrays", "read_split", "clip_ids", "check_sources"]

MODALITY_KEYS = {"text": "text", "audio": "audio", "vision": "vision"}
"""``--features`` modality name → the MMSA key it is written to."""

FRAME_COLUMNS = ("frame", "time")
"""Columns (``.npz`` arrays) that make a table frame level: they order each clip's rows."""


@dataclass
class _Table:
    """A table's rows: ids, optional frame positions, values, and how its rows are named in errors."""

    path: Path
    ids: np.ndarray               # (R,) str, MMSA form 'video$_$clip'
    raw_ids: np.ndarray           # (R,) str, as written in the file (for errors)
    frames: np.ndarray | None     # (R,) float, or None at utterance level
    values: np.ndarray | None     # (R, d) float64 (None for a split table)
    frame_column: str | None
    first_row: int                # the number of the first data row in errors: 2 for CSV (line), 0 for .npz
    index: np.ndarray | None = None   # (R,) each row's position in the file (rows may have been dropped)

    def row(self, i: int) -> str:
        """'row 7': row ``i`` of this table named as in the file."""
        position = int(i) if self.index is None else int(self.index[i])
        return f"row {position + self.first_row}"


def check_sources(tokenizer, features, tables: dict) -> None:
    """The text has one source at least (a tokenizer or a text table), every modality of ``tables``
    is known, and the MMSA features file and the tables do not both give vision and audio."""
    unknown = sorted(set(tables) - set(MODALITY_KEYS))
    if unknown:
        raise ValueError(f"--features {unknown[0]}=...: the modality must be one of {', '.join(MODALITY_KEYS)}.")
    if tokenizer is None and "text" not in tables:
        raise ValueError("no text: give --tokenizer (BERT inputs from the label table's transcripts) or "
                         "--features text=TABLE (text features of your own).")
    both = sorted(set(tables) & {"audio", "vision"})
    if features is not None and both:
        raise ValueError(f"--features: {both[0]} given by the MMSA file {features} and by a table; give it once.")


def clip_ids(ids) -> np.ndarray:
    """Ids in MMSA's form: '<video_id>_<clip_id>' becomes 'video_id$_$clip_id' (as ``load_label_csv``
    writes the label table's ids); ids already in that form, or without '_', stay as they are."""
    ids = pd.Series(np.asarray(ids, dtype=str)).str.strip()
    parts = ids.str.rsplit("_", n=1, expand=True)
    if parts.shape[1] < 2:
        return ids.to_numpy(dtype=str)
    converted = parts[0] + "$_$" + parts[1]
    keep = ids.str.contains("$_$", regex=False) | parts[1].isna()
    return ids.where(keep, converted).to_numpy(dtype=str)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as error:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
        if found:
            expected, line, seen = found.groups()
            raise DatasetError(f"{path}: row {line}: expected {expected} values (one per column of the header), "
                               f"found {seen}") from None
        raise DatasetError(f"{path}: not a readable csv table ({' '.join(str(error).split())})") from None
    except (UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise DatasetError(f"{path}: not a readable csv table ({' '.join(str(error).split())})") from None
    except OSError as error:
        raise DatasetError(f"{path}: cannot be read ({error.strerror or error})") from None


def _numbers(frame: pd.DataFrame, path: Path, first_row: int, what: str) -> np.ndarray:
    """The cells of ``frame`` (strings) as float64, or the first bad cell (row-major) as one line."""
    values = frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        cell = frame.iat[row, column]
        found = ("an empty cell (or a row shorter than the header)" if cell.strip() == "" else
                 f"the non-finite value {cell!r}" if pd.notna(pd.to_numeric(cell, errors="coerce")) or
                 cell.strip().lower() in ("nan", "-nan", "+nan") else f"{cell!r}")
        raise DatasetError(f"{path}: row {row + first_row}, column {frame.columns[column]!r}: expected {what}, "
                           f"found {found} ({int(bad.sum())} such cells)")
    return values


def _read_npz(path: Path, value_key: str, value_kind: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except ValueError as error:   # object arrays need pickles, which are refused
        raise DatasetError(f"{path}: expected arrays of strings and numbers saved without pickles "
                           f"(np.savez), found an array that needs them ({error})") from None
    except (OSError, EOFError) as error:
        raise DatasetError(f"{path}: not a readable .npz archive ({error})") from None
    for key, kind in (("id", "US"), (value_key, value_kind)):
        if key not in arrays:
            raise DatasetError(f"{path}: column {key!r}: missing; expected arrays 'id' and {value_key!r}, "
                               f"found {sorted(arrays)}")
        if arrays[key].dtype.kind not in kind:
            raise DatasetError(f"{path}: column {key!r}: expected {'strings' if kind == 'US' else 'numbers'}, "
                               f"found dtype {arrays[key].dtype}")
    return arrays


def _read_table(path: Path, *, split_table: bool = False) -> _Table:
    """A feature table (or, ``split_table``, a split table) read and checked cell by cell."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such table")
    if path.suffix.lower() == ".npz":
        value_key = "split" if split_table else "features"
        arrays = _read_npz(path, value_key, "US" if split_table else "biuf")
        ids, values = arrays["id"], arrays[value_key]
        expected_ndim = 1 if split_table else 2
        if ids.ndim != 1 or values.ndim != expected_ndim or len(values) != len(ids):
            raise DatasetError(f"{path}: column {value_key!r}: expected shape ({len(ids)},"
                               f"{'' if split_table else ' d'}) beside 'id' ({len(ids)},), found "
                               f"{tuple(values.shape)} (and 'id' {tuple(ids.shape)})")
        frame_column = None if split_table else next((key for key in FRAME_COLUMNS if key in arrays), None)
        frames = None
        if frame_column is not None:
            frames = np.asarray(arrays[frame_column])
            if frames.dtype.kind not in "biuf" or frames.shape != ids.shape:
                raise DatasetError(f"{path}: column {frame_column!r}: expected ({len(ids)},) numbers, found "
                                   f"{tuple(frames.shape)} of dtype {frames.dtype}")
        if not split_table:
            values = values.astype(np.float64)
            frames = None if frames is None else frames.astype(np.float64)
            for key, array in ((frame_column, frames), ("features", values)):
                flat = None if array is None else array.reshape(len(array), -1)
                if flat is not None and not np.isfinite(flat).all():
                    row, column = (int(i) for i in np.argwhere(~np.isfinite(flat))[0])
                    raise DatasetError(f"{path}: row {row}, column {key!r}"
                                       f"{f' (feature {column})' if key == 'features' else ''}: expected a finite "
                                       f"number, found {float(flat[row, column])} ({int((~np.isfinite(flat)).sum())} such values)")
        return _Table(path, clip_ids(ids), ids.astype(str), frames, None if split_table else values, frame_column,
                      first_row=0)
    table = _read_csv(path)
    wanted = ("id", "split") if split_table else ("id",)
    for column in wanted:
        if column not in table.columns:
            raise DatasetError(f"{path}: column {column!r}: missing; expected columns {list(wanted)}"
                               f"{'' if split_table else ' and one column per feature'}, found {list(table.columns)[:8]}"
                               f"{' ...' if len(table.columns) > 8 else ''}")
    if split_table:
        return _Table(path, clip_ids(table["id"]), table["id"].to_numpy(dtype=str), None,
                      table["split"].to_numpy(dtype=str), None, first_row=2)
    frame_column = next((column for column in FRAME_COLUMNS if column in table.columns), None)
    feature_columns = [c for c in table.columns if c not in ("id", frame_column)]
    if not feature_columns:
        raise DatasetError(f"{path}: no feature columns: expected 'id'{f', {frame_column!r}' if frame_column else ''} "
                           f"and one column per feature, found {list(table.columns)}")
    frames = None
    if frame_column is not None:
        frames = _numbers(table[[frame_column]], path, 2, "a finite frame number or time")[:, 0]
    values = _numbers(table[feature_columns], path, 2, "a finite number")
    return _Table(path, clip_ids(table["id"]), table["id"].to_numpy(dtype=str), frames, values, frame_column,
                  first_row=2)


def _match(table: _Table, ids: np.ndarray, labels: Path, only_labelled: bool) -> tuple[_Table, np.ndarray]:
    """The table's rows restricted to the label table's clips, and each row's clip position in ``ids``.

    Refuses an empty id, a clip outside the label table (unless ``only_labelled``), a clip
    given twice (the same frame twice, at frame level), a label-table clip without a row."""
    blank = table.ids == ""
    if blank.any():
        raise DatasetError(f"{table.path}: {table.row(np.flatnonzero(blank)[0])}, column 'id': expected a clip id, "
                           f"found an empty cell")
    again = pd.Series(ids).duplicated().to_numpy()
    if again.any():
        raise DatasetError(f"{labels}: row {int(np.flatnonzero(again)[0]) + 2}, column 'id': clip "
                           f"{str(ids[again][0])!r} appears twice; expected one row per clip")
    where = pd.Index(ids).get_indexer(table.ids)                         # -1: not a clip of the label table
    outside = where < 0
    if outside.any() and not only_labelled:
        first = int(np.flatnonzero(outside)[0])
        raise DatasetError(f"{table.path}: {table.row(first)}, column 'id': clip {str(table.raw_ids[first])!r} is not in the "
                           f"label table {labels} ({int(outside.sum())} such rows); expected only its clips "
                           f"(--only-labelled drops the other rows)")
    rows = np.flatnonzero(~outside)
    kept = _Table(table.path, table.ids[rows], table.raw_ids[rows], None if table.frames is None else table.frames[rows],
                  None if table.values is None else table.values[rows], table.frame_column, table.first_row, rows)
    keys = pd.DataFrame({"id": kept.ids, **({"frame": kept.frames} if kept.frames is not None else {})})
    again = keys.duplicated()
    if again.any():
        index = int(np.flatnonzero(again.to_numpy())[0])
        first = int(np.flatnonzero((keys == keys.iloc[index]).all(axis=1).to_numpy())[0])
        what = (f"clip {str(kept.raw_ids[index])!r} appears again (first at {kept.row(first)}); expected one row per "
                f"clip, or a column {' or '.join(map(repr, FRAME_COLUMNS))} for frame-level features"
                if kept.frames is None else
                f"clip {str(kept.raw_ids[index])!r} has {kept.frame_column} {kept.frames[index]:g} twice (first at "
                f"{kept.row(first)}); expected each frame of a clip once")
        raise DatasetError(f"{table.path}: {kept.row(index)}, column "
                           f"{'id' if kept.frames is None else kept.frame_column!r}: {what}")
    clip = where[rows].astype(np.int64)
    missing = np.setdiff1d(np.arange(len(ids)), clip)
    if len(missing):
        clip_name = str(ids[missing[0]]).replace("$_$", "_")
        raise DatasetError(f"{table.path}: column 'id': no row for clip {clip_name!r} (row {missing[0] + 2} of "
                           f"{labels}; {len(missing)} clips missing); expected a row for every clip of the label table")
    return kept, clip


def feature_arrays(path, modality: str, ids, labels, *, only_labelled: bool = False) -> dict[str, np.ndarray]:
    """One modality's arrays for the clips ``ids`` (the label table's, in its order) from a feature table.

    Returns ``{key: (N, T, d) float32}`` (``key`` from :data:`MODALITY_KEYS`), plus
    ``<key>_lengths`` (N,) int64 for frame-level audio and vision. ``labels`` names the label
    table in errors.
    """
    if modality not in MODALITY_KEYS:
        raise ValueError(f"--features {modality}=...: the modality must be one of {', '.join(MODALITY_KEYS)}. "
                         f"Got {modality!r}.")
    ids = np.asarray(ids, dtype=str)
    table, clip = _match(_read_table(path), ids, Path(labels), only_labelled)
    key = MODALITY_KEYS[modality]
    values = table.values.astype(np.float32)
    if table.frames is None:                                             # utterance level: T = 1
        out = np.zeros((len(ids), 1, values.shape[1]), dtype=np.float32)
        out[clip, 0] = values
        return {key: out}
    order = np.lexsort((table.frames, clip))                             # by clip, then by frame
    clip, values = clip[order], values[order]
    step = pd.Series(clip).groupby(clip).cumcount().to_numpy()           # position of each row in its clip
    lengths = np.bincount(clip, minlength=len(ids)).astype(np.int64)     # (N,) frames per clip, all >= 1
    out = np.zeros((len(ids), int(lengths.max()), values.shape[1]), dtype=np.float32)   # (N, T, d) zero-padded
    out[clip, step] = values
    return {key: out, **({f"{key}_lengths": lengths} if key != "text" else {})}


def read_split(path, ids, labels, *, only_labelled: bool = False) -> np.ndarray:
    """The split ('train' / 'valid' / 'test') of each clip of ``ids`` from a split table (``id, split``)."""
    ids = np.asarray(ids, dtype=str)
    table, clip = _match(_read_table(path, split_table=True), ids, Path(labels), only_labelled)
    names = pd.Series(table.values).str.strip().str.lower()
    unknown = ~names.isin(list(MODE_ALIASES)).to_numpy()
    if unknown.any():
        first = int(np.flatnonzero(unknown)[0])
        raise DatasetError(f"{table.path}: {table.row(first)}, column 'split': expected one of {sorted(MODE_ALIASES)}, "
                           f"found {str(table.values[first])!r} ({int(unknown.sum())} such rows)")
    split = np.empty(len(ids), dtype=object)
    split[clip] = names.map(MODE_ALIASES).to_numpy()
    return split.astype(str)
