"""Loading MMSA processed pickles (the layout of the DMD and MMSA code): aligned or unaligned, MOSI, MOSEI, CH-SIMS.

A file is a pickled dict with splits ``train``, ``valid`` (``dev`` is accepted as an alias,
with a note in the report) and ``test``. Each split is a dict of arrays:

=====================  ===================  ===========================================
key                    shape                 required
=====================  ===================  ===========================================
``text``               (N, T_L, d_L) float   for ``text="features"`` (or "auto")
``text_bert``          (N, 3, T_L) int       for ``text="bert"``: ids, mask, segment ids
``audio``              (N, T_A, d_A) float   no: absent in a text-only file (``data build``
                                             without ``--features``), which only the
                                             text-only variant trains on
``vision``             (N, T_V, d_V) float   no: as ``audio``
``regression_labels``  (N,) float            always ((N, 1) and (N, 1, 1) are squeezed)
``audio_lengths``      (N,) int              optional (unaligned files), each in [1, T_A]
``vision_lengths``     (N,) int              optional (unaligned files), each in [1, T_V]
``id``, ``raw_text``   (N,) str              optional (filled with ``<split>_<i>`` / '')
``opinion_words``      (N, T_L) int          optional ground truth (built-in data): 1 at sentiment words
``vision_word``        (N, T_V) int          optional ground truth: token shown at each frame, -1 after
=====================  ===================  ===========================================

Other keys (``classification_labels``, ``annotations``, CH-SIMS's ``regression_labels_T``
...) are ignored. Widths and lengths must agree across the splits; the
:class:`~dmdlab.data.spec.DataSpec` is read from the arrays, never from a dataset name.
``aligned`` is True when the file has no lengths keys and T_L = T_A = T_V.

Non-finite values (the policy)
------------------------------
- Feature arrays (``text``, ``audio``, ``vision``): every NaN, +inf and -inf is replaced by
  0, and counted per split and key in :attr:`MMSADataset.report`. For audio -inf this is
  the official behaviour (COVAREP writes -inf for undefined log-energies; MMSA and the DMD
  code set them to 0). NaN and +inf get the same treatment because 0 is what padded steps
  hold, so a broken value reads as "no signal" rather than poisoning a whole batch.
- Labels must be finite and inside ``label_range`` -- a bad label is an error, never
  silently fixed, since it would change every reported metric.
- ``text_bert`` and lengths must be finite whole numbers (an error otherwise). ``text_bert``
  token ids must be >= 0 (and below ``vocab_size`` when it is given), the attention mask
  and segment ids 0 or 1, and the mask 1 on the tokens then 0 on the padding, at least one
  token per clip: a bad id would otherwise crash the first forward pass.
- ``id`` and ``raw_text`` must hold strings; lists are accepted only flat or shallow and
  small (``_as_array``), since a pickle can repeat a list by reference.

Label range
-----------
``label_range`` defaults to (-3, 3), the MOSI/MOSEI sentiment scale; CH-SIMS (labels in
[-1, 1]) is loaded with ``label_range=(-1, 1)``. The range is the caller's statement of the
scale, checked against the data and stored in ``spec.label_min`` / ``spec.label_max``; it is
not guessed from the values (a (-3, 3) file whose labels happen to stay in [-1, 1] would
otherwise be mistaken for CH-SIMS).

Loading only reads the file (through the restricted unpickler of
:mod:`dmdlab.data.safe_pickle`); it never writes to it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from dmdlab.data.dataset import TEXT_MODES, LoadReport, MMSADataset, NonFiniteCount, Split
from dmdlab.data.errors import DatasetError, where
from dmdlab.data.safe_pickle import safe_load
from dmdlab.data.spec import DataSpec
from dmdlab.modalities import SPLITS

LENGTH_KEYS = {"audio_lengths": "audio", "vision_lengths": "vision"}
_CHUNK_ELEMENTS = 1 << 22   # non-finite scans run over row blocks of about 16 MB (float32)
_MAX_LIST_DEPTH = 3          # a list in a dataset file: (N,), (N, 1) or (N, 1, 1)
_MAX_LIST_ITEMS = 10_000_000
_MAX_STRING_BYTES = 1 << 28  # 'id' + 'raw_text' of one split as fixed-width str arrays: 256 MiB at most


def _describe(value: Any) -> str:
    """'an array of shape (10, 5), dtype float64' / 'a list' -- for error messages."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {tuple(value.shape)}, dtype {value.dtype}"
    return f"a {type(value).__name__}"


def _as_array(value: Any, path: Path, split: str, key: str) -> np.ndarray:
    """The value as a numpy array (MMSA stores some lengths as lists).

    A list is converted only when it is flat, or nested at most ``_MAX_LIST_DEPTH`` deep,
    with at most ``_MAX_LIST_ITEMS`` numbers in all: a pickle can repeat one list by
    reference, so a small file could otherwise describe a huge array.
    """
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple)):
        _check_list(value, path, split, key)
        try:
            return np.asarray(value)
        except ValueError as error:
            raise DatasetError(f"{where(path, split, key)}: expected an array, found a ragged "
                               f"{type(value).__name__} ({error})") from None
    raise DatasetError(f"{where(path, split, key)}: expected a numpy array, found {_describe(value)}")


def _check_list(value: list | tuple, path: Path, split: str, key: str) -> None:
    """A nested list of numbers or strings, counted without recursion (see ``_as_array``)."""
    level, items = [value], 0
    for _ in range(_MAX_LIST_DEPTH + 1):
        items += sum(len(node) for node in level)
        if items > _MAX_LIST_ITEMS:
            raise DatasetError(f"{where(path, split, key)}: expected an array, found a list of more than "
                               f"{_MAX_LIST_ITEMS:,} items in all (store large data as a numpy array)")
        nested = [item for node in level for item in node if isinstance(item, (list, tuple))]
        if not nested:
            leaves = [item for node in level for item in node]
            if not all(isinstance(item, (int, float, str, bytes, np.generic)) for item in leaves):
                raise DatasetError(f"{where(path, split, key)}: expected a list of numbers or strings, found "
                                   f"items of types {sorted({type(item).__name__ for item in leaves})}")
            return
        level = nested
    raise DatasetError(f"{where(path, split, key)}: expected an array, found a list nested more than "
                       f"{_MAX_LIST_DEPTH} deep")


def _numeric(array: np.ndarray, path: Path, split: str, key: str, expected: str) -> None:
    if array.dtype.kind not in "biuf":
        raise DatasetError(f"{where(path, split, key)}: expected {expected}, found dtype {array.dtype}")


def _replace_nonfinite(array: np.ndarray) -> tuple[int, int, int]:
    """Replace NaN/±inf by 0 in place, block by block; return (nan, +inf, -inf) counts."""
    flat = array.reshape(len(array), -1) if array.ndim > 1 else array.reshape(-1, 1)
    rows = max(1, _CHUNK_ELEMENTS // max(1, flat.shape[1]))
    nan = posinf = neginf = 0
    for start in range(0, len(flat), rows):
        block = flat[start:start + rows]
        bad = ~np.isfinite(block)
        if bad.any():
            values = block[bad]
            n_nan = int(np.isnan(values).sum())
            n_pos = int((values > 0).sum())
            nan, posinf, neginf = nan + n_nan, posinf + n_pos, neginf + len(values) - n_nan - n_pos
            block[bad] = 0.0
    return nan, posinf, neginf


def _features(split_dict: dict, path: Path, split: str, key: str, report: LoadReport) -> np.ndarray:
    """A (N, T, d) float feature array: float32, contiguous, writable, non-finite replaced."""
    array = _as_array(split_dict[key], path, split, key)
    _numeric(array, path, split, key, "a 3-D float array (N, T, d)")
    if array.ndim != 3:
        raise DatasetError(f"{where(path, split, key)}: expected a 3-D float array (N, T, d), "
                           f"found shape {tuple(array.shape)}")
    if array.shape[1] < 1 or array.shape[2] < 1:
        raise DatasetError(f"{where(path, split, key)}: expected at least 1 step and 1 feature (N, T >= 1, d >= 1), "
                           f"found shape {tuple(array.shape)}")
    if array.dtype != np.float32:
        report.notes.append(f"{split}/{key}: converted {array.dtype} to float32")
    array = np.require(array, np.float32, ["C_CONTIGUOUS", "ALIGNED", "WRITEABLE"])
    counts = _replace_nonfinite(array)
    report.nonfinite.append(NonFiniteCount(split, key, *counts, action="replaced with 0"))
    return array


def _whole_numbers(split_dict: dict, path: Path, split: str, key: str, ndim: int, expected: str) -> np.ndarray:
    """An int64 array from finite whole numbers (ids, masks, lengths)."""
    array = _as_array(split_dict[key], path, split, key)
    _numeric(array, path, split, key, expected)
    if array.ndim != ndim:
        raise DatasetError(f"{where(path, split, key)}: expected {expected}, found shape {tuple(array.shape)}")
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise DatasetError(f"{where(path, split, key)}: expected {expected}, found "
                               f"{int((~np.isfinite(array)).sum())} non-finite values")
        if not (array == np.round(array)).all():
            raise DatasetError(f"{where(path, split, key)}: expected whole numbers ({expected}), "
                               "found fractional values")
        if array.size and np.abs(array).max() >= 2**62:
            raise DatasetError(f"{where(path, split, key)}: expected {expected}, found values beyond ±2^62")
    return np.ascontiguousarray(array, dtype=np.int64)


def _check_text_bert(bert: np.ndarray, path: Path, split: str, vocab_size: int | None) -> None:
    """Token ids in [0, vocab_size), mask and segment ids in {0, 1}, mask 1 on the tokens then 0 on the padding."""
    ids, mask, segments = bert[:, 0], bert[:, 1], bert[:, 2]
    here = where(path, split, "text_bert")
    if bert.shape[2] < 1:
        raise DatasetError(f"{here}: expected at least 1 token (N, 3, T_L >= 1), found shape {tuple(bert.shape)}")

    def fail(bad: np.ndarray, expected: str, values: np.ndarray) -> None:
        clip, step = (int(i) for i in np.argwhere(bad)[0])
        raise DatasetError(f"{here}: expected {expected}, found {int(bad.sum())} outside (first at clip {clip}, "
                           f"token {step}: {int(values[clip, step])})")

    high = f" and < {vocab_size} (the tokenizer's vocabulary)" if vocab_size is not None else ""
    bad = (ids < 0) | (ids >= vocab_size) if vocab_size is not None else ids < 0
    if bad.any():
        fail(bad, f"token ids (row 0) >= 0{high}", ids)
    for row, values, what in ((1, mask, "attention mask"), (2, segments, "segment ids")):
        bad = (values != 0) & (values != 1)
        if bad.any():
            fail(bad, f"{what} (row {row}) in {{0, 1}}", values)
    bad = np.zeros_like(mask, dtype=bool)
    bad[:, 1:] = mask[:, 1:] > mask[:, :-1]
    if bad.any():
        fail(bad, "an attention mask (row 1) of 1s on the tokens then 0s on the padding, found a 1 after a 0", mask)
    if (mask[:, 0] == 0).any():
        clip = int(np.flatnonzero(mask[:, 0] == 0)[0])
        raise DatasetError(f"{here}: expected at least one token per clip (attention mask row 1 starting with 1), "
                           f"found {int((mask[:, 0] == 0).sum())} clips with none (first: clip {clip})")


def _vector(array: np.ndarray, path: Path, split: str, key: str, expected: str) -> np.ndarray:
    """A 1-D view of ``array``: (N, 1) and (N, 1, 1) are accepted and squeezed."""
    if array.ndim > 1 and all(size == 1 for size in array.shape[1:]):
        array = array.reshape(len(array))
    if array.ndim != 1:
        raise DatasetError(f"{where(path, split, key)}: expected {expected}, found shape {tuple(array.shape)}")
    return array


def _labels(split_dict: dict, path: Path, split: str, label_range: tuple[float, float]) -> np.ndarray:
    key = "regression_labels"
    array = _as_array(split_dict[key], path, split, key)
    _numeric(array, path, split, key, "a 1-D float array (N,)")
    array = _vector(array, path, split, key, "a 1-D float array (N,)")
    array = np.ascontiguousarray(array, dtype=np.float32)
    bad = ~np.isfinite(array)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DatasetError(f"{where(path, split, key)}: expected finite labels, found {int(bad.sum())} "
                           f"non-finite (first at index {first}: {array[first]})")
    low, high = label_range
    outside = (array < low - 1e-6) | (array > high + 1e-6)
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        raise DatasetError(
            f"{where(path, split, key)}: expected labels in [{low:g}, {high:g}] (label_range), found "
            f"{int(outside.sum())} outside (range of the split [{array.min():g}, {array.max():g}], first at index "
            f"{first}: {array[first]:g}); pass label_range=(low, high) if the dataset uses another scale")
    return array


def _strings(split_dict: dict, path: Path, split: str, key: str, n: int, default: list[str],
             report: LoadReport) -> np.ndarray:
    """A (N,) str array; the file's array must hold strings (str, bytes, or objects that are str)."""
    if key not in split_dict:
        report.notes.append(f"{split}: no {key!r} key; filled with placeholders")
        return np.array(default, dtype=str)
    array = _vector(_as_array(split_dict[key], path, split, key), path, split, key, "a 1-D array of strings (N,)")
    values = array.tolist()
    if array.dtype.kind not in "USO" or not all(isinstance(v, (str, bytes)) for v in values):
        raise DatasetError(f"{where(path, split, key)}: expected a 1-D array of strings (N,), found dtype {array.dtype}"
                           + ("" if array.dtype.kind not in "O" else " holding non-string items"))
    values = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values]
    width = max(map(len, values), default=0)
    if 4 * width * len(values) > _MAX_STRING_BYTES:
        raise DatasetError(f"{where(path, split, key)}: expected strings of reasonable length, found {len(values)} "
                           f"strings up to {width:,} characters ({4 * width * len(values) / 2**20:,.0f} MiB as an "
                           f"array; at most {_MAX_STRING_BYTES // 2**20} MiB)")
    return np.array(values, dtype=str) if values else np.zeros(0, dtype=str)


def _split_dicts(raw: Any, path: Path, report: LoadReport) -> dict[str, dict]:
    """The three split dicts, 'dev' read as 'valid'."""
    if not isinstance(raw, dict):
        raise DatasetError(f"{path}: expected a dict with splits {list(SPLITS)}, found {_describe(raw)}")
    splits = {}
    for name in SPLITS:
        source = name
        if name not in raw and name == "valid" and "dev" in raw:
            source = "dev"
            report.notes.append("split 'dev' read as 'valid' (MMSA names it 'valid')")
        if source not in raw:
            raise DatasetError(f"{where(path, name)}: missing split; expected splits {list(SPLITS)} "
                               f"('dev' accepted for 'valid'), found {sorted(map(str, raw))}")
        if not isinstance(raw[source], dict):
            raise DatasetError(f"{where(path, name)}: expected a dict of arrays, found {_describe(raw[source])}")
        splits[name] = raw[source]
    extra = sorted(str(k) for k in raw if k not in (*SPLITS, "dev") or (k == "dev" and "valid" in raw))
    if extra:
        report.notes.append(f"ignored top-level keys {extra}")
    return splits


def _text_keys(first: dict, text: str, path: Path) -> tuple[str, ...]:
    """Which of 'text' / 'text_bert' to load, from the mode and the train split."""
    if text not in TEXT_MODES:
        raise ValueError(f"The 'text' argument of load_mmsa must be one of {TEXT_MODES}. Got {text!r}.")
    if text == "features":
        return ("text",)
    if text == "bert":
        return ("text_bert",)
    keys = tuple(key for key in ("text", "text_bert") if key in first)
    if not keys:
        raise DatasetError(f"{where(path, 'train', 'text')}: missing key; expected pre-extracted 'text' "
                           f"features or 'text_bert' inputs, found keys {sorted(map(str, first))}")
    return keys


def _load_split(d: dict, name: str, path: Path, text_keys: tuple[str, ...], label_range: tuple[float, float],
                report: LoadReport, vocab_size: int | None = None) -> Split:
    required = (*text_keys, "regression_labels")
    for key in required:
        if key not in d:
            hint = ("; a BERT text encoder reads these token ids: python -m dmdlab data build writes them"
                    if key == "text_bert" else "")
            raise DatasetError(f"{where(path, name, key)}: missing key; the split must hold {list(required)}, "
                               f"found {sorted(map(str, d))}{hint}")
    labels = _labels(d, path, name, label_range)
    n = len(labels)
    if n == 0:
        raise DatasetError(f"{where(path, name)}: empty split: expected at least 1 clip, found 0")
    arrays: dict[str, np.ndarray | None] = {
        "text": _features(d, path, name, "text", report) if "text" in text_keys else None,
        "audio": _features(d, path, name, "audio", report) if "audio" in d else None,
        "vision": _features(d, path, name, "vision", report) if "vision" in d else None,
        "text_bert": None,
    }
    if "text_bert" in text_keys:
        bert = _whole_numbers(d, path, name, "text_bert", 3, "a 3-D int array (N, 3, T_L) of ids, mask, segments")
        if bert.shape[1] != 3:
            raise DatasetError(f"{where(path, name, 'text_bert')}: expected shape (N, 3, T_L) (token ids, "
                               f"attention mask, segment ids), found shape {tuple(bert.shape)}")
        _check_text_bert(bert, path, name, vocab_size)
        arrays["text_bert"] = bert
    for key, array in arrays.items():
        if array is not None and len(array) != n:
            raise DatasetError(f"{where(path, name, key)}: expected N={n} clips (the length of "
                               f"'regression_labels'), found {len(array)} (shape {tuple(array.shape)})")
    if arrays["text"] is not None and arrays["text_bert"] is not None \
            and arrays["text"].shape[1] != arrays["text_bert"].shape[2]:
        raise DatasetError(f"{where(path, name, 'text_bert')}: expected T_L={arrays['text'].shape[1]} tokens "
                           f"(as in 'text'), found {arrays['text_bert'].shape[2]}")
    lengths: dict[str, np.ndarray | None] = {}
    for key, modality in LENGTH_KEYS.items():
        if key not in d:
            lengths[key] = None
            continue
        if arrays[modality] is None:
            raise DatasetError(f"{where(path, name, key)}: the split has lengths but no {modality!r} array; "
                               f"expected both or neither")
        values = _whole_numbers(d, path, name, key, 1, "a 1-D int array (N,) of valid frames")
        if len(values) != n:
            raise DatasetError(f"{where(path, name, key)}: expected N={n} clips (the length of "
                               f"'regression_labels'), found {len(values)}")
        seq_len = arrays[modality].shape[1]
        bad = (values < 1) | (values > seq_len)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise DatasetError(f"{where(path, name, key)}: expected lengths in [1, {seq_len}] (T of "
                               f"'{modality}'), found {int(bad.sum())} outside (first at index {first}: "
                               f"{int(values[first])})")
        lengths[key] = values
    grounding = _grounding(d, path, name, n, arrays)
    ids = _strings(d, path, name, "id", n, [f"{name}_{i}" for i in range(n)], report)
    raw_text = _strings(d, path, name, "raw_text", n, [""] * n, report)
    for key, array in (("id", ids), ("raw_text", raw_text)):
        if len(array) != n:
            raise DatasetError(f"{where(path, name, key)}: expected N={n} clips (the length of "
                               f"'regression_labels'), found {len(array)}")
    return Split(name=name, labels=labels, ids=ids, raw_text=raw_text, **arrays, **lengths, **grounding)


def _grounding(d: dict, path: Path, split: str, n: int, arrays: dict) -> dict[str, np.ndarray]:
    """The built-in data's optional ground truth: ``opinion_words`` (N, T_L) in {0, 1} and
    ``vision_word`` (N, T_V), a token position in [0, T_L) or -1 per frame. Absent: not returned."""
    text = arrays["text"] if arrays["text"] is not None else arrays["text_bert"][:, 0]
    text_len = text.shape[1]
    vision_len = arrays["vision"].shape[1] if arrays.get("vision") is not None else None
    found = {}
    for key, steps, low, high, what in (("opinion_words", text_len, 0, 1, "0 or 1"),
                                        ("vision_word", vision_len, -1, text_len - 1, f"-1 or a token position < {text_len}")):
        if key not in d or steps is None:
            continue
        values = _whole_numbers(d, path, split, key, 2, f"a 2-D int array (N, {steps})")
        if values.shape != (n, steps):
            raise DatasetError(f"{where(path, split, key)}: expected shape ({n}, {steps}), found {tuple(values.shape)}")
        bad = (values < low) | (values > high)
        if bad.any():
            raise DatasetError(f"{where(path, split, key)}: expected values {what}, found {int(bad.sum())} "
                               f"outside (first: {int(values[bad][0])})")
        found[key] = values.astype(bool) if key == "opinion_words" else values.astype(np.int64)
    return found


def _check_consistent(splits: dict[str, Split], path: Path) -> None:
    """Widths and lengths of every split equal those of train."""
    reference = splits["train"]
    for name, split in splits.items():
        for key in ("audio", "vision"):
            if (getattr(reference, key) is None) != (getattr(split, key) is None):
                has = "has" if getattr(split, key) is not None else "lacks"
                raise DatasetError(f"{where(path, name, key)}: the split {has} this key but split 'train' "
                                   f"{'lacks' if has == 'has' else 'has'} it; expected the same keys in every split")
        for key in ("text", "audio", "vision", "text_bert"):
            ref, array = getattr(reference, key), getattr(split, key)
            if ref is not None and array.shape[1:] != ref.shape[1:]:
                raise DatasetError(f"{where(path, name, key)}: expected (N, {', '.join(map(str, ref.shape[1:]))}) "
                                   f"as in split 'train', found {tuple(array.shape)}")
        for key in LENGTH_KEYS:
            if (getattr(reference, key) is None) != (getattr(split, key) is None):
                has = "has" if getattr(split, key) is not None else "lacks"
                raise DatasetError(f"{where(path, name, key)}: the split {has} this key but split 'train' "
                                   f"{'lacks' if has == 'has' else 'has'} it; expected the same keys in every split")


def spec_from_split(split: Split, label_range: tuple[float, float] = (-3.0, 3.0)) -> DataSpec:
    """The DataSpec of a split's arrays (widths, lengths, alignment)."""
    def size(array: np.ndarray | None, axis: int) -> int | None:
        return None if array is None else int(array.shape[axis])

    text_len = size(split.text, 1) if split.text is not None else size(split.text_bert, 2)
    others = [size(array, 1) for array in (split.audio, split.vision) if array is not None]
    has_lengths = split.audio_lengths is not None or split.vision_lengths is not None
    return DataSpec(
        text_dim=size(split.text, 2),
        audio_dim=size(split.audio, 2),
        vision_dim=size(split.vision, 2),
        text_len=text_len,
        audio_len=size(split.audio, 1),
        vision_len=size(split.vision, 1),
        aligned=not has_lengths and all(length == text_len for length in others),
        has_text_bert=split.text_bert is not None,
        label_min=float(label_range[0]),
        label_max=float(label_range[1]),
    )


def load_mmsa(path: str | Path, *, text: str = "auto", label_range: tuple[float, float] = (-3.0, 3.0),
              expect: DataSpec | None = None, vocab_size: int | None = None) -> MMSADataset:
    """Load and validate an MMSA processed pickle (safely: see :mod:`dmdlab.data.safe_pickle`).

    Args:
        path: the ``.pkl`` file.
        text: 'features' loads ``text`` only, 'bert' loads ``text_bert`` only, 'auto' loads
            whichever of the two the train split has (both when both are there).
        label_range: the label scale, (-3, 3) for MOSI/MOSEI, (-1, 1) for CH-SIMS.
        expect: a DataSpec (e.g. of a trained model); widths and lengths must match it.
        vocab_size: the tokenizer's vocabulary size; ``text_bert`` token ids must be below it
            (they are checked to be >= 0, and masks and segment ids to be 0/1, always).

    Raises:
        DatasetError: the file is not a pickle, unsafe, or malformed (the message names the
            file, split and key, what was expected and what was found).
        FileNotFoundError: no such file.
    """
    path = Path(path)
    low, high = (float(v) for v in label_range)
    if not low < high:
        raise ValueError(f"label_range must be (low, high) with low < high. Got {label_range!r}.")
    report = LoadReport(path=str(path))
    stat = path.stat() if path.is_file() else None
    raw = safe_load(path)
    split_dicts = _split_dicts(raw, path, report)
    text_keys = _text_keys(split_dicts["train"], text, path)
    if vocab_size is not None and (not isinstance(vocab_size, int) or vocab_size < 1):
        raise ValueError(f"vocab_size must be a positive int or None. Got {vocab_size!r}.")
    splits = {name: _load_split(d, name, path, text_keys, (low, high), report, vocab_size)
              for name, d in split_dicts.items()}
    _check_consistent(splits, path)
    _note_shared_ids(splits, report)
    spec = spec_from_split(splits["train"], (low, high))
    if spec.has_text_bert:  # the largest id of every split, not of train alone
        spec = dataclasses.replace(spec, text_max_id=max(int(s.text_bert[:, 0].max()) for s in splits.values()))
    if expect is not None:
        _check_expected(spec, expect, path)
    return MMSADataset(splits=splits, spec=spec, report=report, path=path,
                       file_stat=(stat.st_size, stat.st_mtime_ns) if stat else None)


def _note_shared_ids(splits: dict[str, Split], report: LoadReport) -> None:
    """A note when a clip id is in more than one split (a model tested on such a clip has trained on it)."""
    import pandas as pd

    frame = pd.DataFrame({"id": np.concatenate([split.ids for split in splits.values()]),
                          "split": np.repeat(list(splits), [len(split) for split in splits.values()])})
    shared = frame.drop_duplicates().loc[lambda f: f["id"].duplicated(keep=False)]
    if len(shared):
        first = shared["id"].iloc[0]
        where = " and ".join(shared.loc[shared["id"] == first, "split"])
        report.notes.append(f"{shared['id'].nunique()} clip id(s) are in more than one split (first {first!r}, in "
                            f"{where}): a model tested on them has seen them in training")


def _check_expected(spec: DataSpec, expect: DataSpec, path: Path) -> None:
    keys = {"text_dim": "text", "audio_dim": "audio", "vision_dim": "vision",
            "text_len": "text", "audio_len": "audio", "vision_len": "vision"}
    for field, key in keys.items():
        found, expected = getattr(spec, field), getattr(expect, field)
        if field == "text_dim" and (found is None or expected is None):
            continue
        if found != expected:
            raise DatasetError(f"{where(path, 'train', key)}: expected {field}={expected} (the given spec), "
                               f"found {found}")
