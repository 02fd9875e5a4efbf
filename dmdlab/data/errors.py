"""The one exception of the data layer.

Every problem with a dataset file -- not a pickle, truncated, a refused global, a missing
split or key, a wrong shape, bad labels or lengths -- raises :class:`DatasetError`, whose
message names the file, the split, the key, what was expected and what was found. It is a
``ValueError``, so ``python -m dmdlab`` prints it as one line without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class DatasetError(ValueError):
    """A dataset file (or a label table) is malformed or unsafe to load."""


def where(path: str | Path, split: str | None = None, key: str | None = None) -> str:
    """'data/x.pkl: split 'train', key 'audio'' -- the prefix of every error message."""
    parts = [str(path)]
    location = []
    if split is not None:
        location.append(f"split {split!r}")
    if key is not None:
        location.append(f"key {key!r}")
    if location:
        parts.append(", ".join(location))
    return ": ".join(parts)
