"""In-memory datasets: :class:`MMSADataset` of three :class:`Split` s, batched into :class:`Batch` es.

A :class:`Split` holds validated numpy arrays (see :func:`dmdlab.data.mmsa.load_mmsa` for
how they are read and cleaned). Batching converts each array to a torch tensor once per
split (``torch.from_numpy``: no copy) and then only indexes it, so iterating an epoch costs
one gather per key and batch, with no per-sample Python loop.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
import torch

from dmdlab.data.spec import DataSpec


TEXT_MODES = ("auto", "features", "bert")


@dataclass(eq=False)   # arrays and tensors have no single truth value
class Batch:
    """One mini-batch, as the model and trainer consume it (docs/DESIGN.md)."""

    text: torch.Tensor                     # (B, T_L, d_L) float32 features, or (B, 3, T_L) int64 ids/mask/segments
    vision: torch.Tensor | None            # (B, T_V, d_V) float32; None in a text-only file
    audio: torch.Tensor | None             # (B, T_A, d_A) float32; None in a text-only file
    labels: torch.Tensor                   # (B,) float32 regression labels
    vision_lengths: torch.Tensor | None    # (B,) int64 valid frames, unaligned data only
    audio_lengths: torch.Tensor | None     # (B,) int64 valid frames, unaligned data only
    ids: list[str]                         # clip ids 'video$_$clip'
    index: torch.Tensor                    # (B,) int64 positions of the clips in their split

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        """The same batch with every tensor on ``device``."""
        def move(value):
            return value.to(device, non_blocking=non_blocking) if isinstance(value, torch.Tensor) else value
        return Batch(**{f.name: move(getattr(self, f.name)) for f in dataclasses.fields(self)})


@dataclass(eq=False)   # arrays and tensors have no single truth value
class Split:
    """One split of a dataset: validated numpy arrays, first axis = clips (N)."""

    name: str                          # 'train', 'valid' or 'test'
    audio: np.ndarray | None           # (N, T_A, d_A) float32, non-finite values replaced; None: text-only file
    vision: np.ndarray | None          # (N, T_V, d_V) float32, non-finite values replaced; None: text-only file
    labels: np.ndarray                 # (N,) float32 regression labels, finite and in range
    ids: np.ndarray                    # (N,) str 'video$_$clip'
    raw_text: np.ndarray               # (N,) str transcripts ('' when the file has none)
    text: np.ndarray | None = None     # (N, T_L, d_L) float32 pre-extracted text features
    text_bert: np.ndarray | None = None  # (N, 3, T_L) int64 token ids, attention mask, segment ids
    audio_lengths: np.ndarray | None = None   # (N,) int64 in [1, T_A], unaligned files only
    vision_lengths: np.ndarray | None = None  # (N,) int64 in [1, T_V], unaligned files only
    opinion_words: np.ndarray | None = None   # (N, T_L) bool, sentiment words (built-in data's ground truth)
    vision_word: np.ndarray | None = None     # (N, T_V) int64 token position each vision frame shows, -1 after the clip
    _tensors: dict[str, torch.Tensor] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def videos(self) -> np.ndarray:
        """(N,) video (speaker) id of each clip: the part of the id before ``$_$``."""
        return np.array([clip_id.split("$_$")[0] for clip_id in self.ids.tolist()], dtype=str)

    def resolve_text(self, text: str = "auto") -> str:
        """'features' or 'bert': which text input ``text`` selects for this split."""
        if text not in TEXT_MODES:
            raise ValueError(f"text must be one of {TEXT_MODES}. Got {text!r}.")
        if text == "auto":
            return "features" if self.text is not None else "bert"
        array = self.text if text == "features" else self.text_bert
        if array is None:
            key = "text" if text == "features" else "text_bert"
            raise ValueError(f"split {self.name!r} has no {key!r} (loaded with a text mode that dropped it, "
                             f"or absent from the file); use text={'bert' if text == 'features' else 'features'!r}")
        return text

    def _tensor(self, key: str) -> torch.Tensor | None:
        """The torch view of a numpy array, made once (``torch.from_numpy`` shares the memory)."""
        if key not in self._tensors:
            array = getattr(self, key)
            if array is None:
                return None
            self._tensors[key] = torch.from_numpy(array)
        return self._tensors[key]

    def batch(self, indices: Sequence[int] | np.ndarray | torch.Tensor, *, device: torch.device | str = "cpu",
              text: str = "auto") -> Batch:
        """The clips at ``indices`` as one :class:`Batch` on ``device``.

        ``text``: 'features' (pre-extracted ``text``), 'bert' (``text_bert`` ids) or 'auto'
        (features when present, else BERT inputs).
        """
        mode = self.resolve_text(text)
        index = torch.as_tensor(np.asarray(indices) if not isinstance(indices, torch.Tensor) else indices,
                                dtype=torch.int64).reshape(-1).cpu()
        n = len(self)
        if index.numel() and (int(index.min()) < -n or int(index.max()) >= n):
            raise IndexError(f"split {self.name!r} has {n} clips; indices must lie in [0, {n}). "
                             f"Got min {int(index.min())}, max {int(index.max())}.")
        index = index % n if n else index

        def take(key: str) -> torch.Tensor | None:
            tensor = self._tensor(key)
            return None if tensor is None else tensor.index_select(0, index)

        batch = Batch(
            text=take("text" if mode == "features" else "text_bert"),
            vision=take("vision"),
            audio=take("audio"),
            labels=take("labels"),
            vision_lengths=take("vision_lengths"),
            audio_lengths=take("audio_lengths"),
            ids=self.ids[index.numpy()].tolist(),
            index=index,
        )
        return batch if str(device) == "cpu" else batch.to(device)

    def batches(self, batch_size: int, *, shuffle: bool = False, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu", text: str = "auto", drop_last: bool = False) -> Iterator[Batch]:
        """Yield the split in batches of ``batch_size`` (the last one smaller unless ``drop_last``).

        ``shuffle`` draws a permutation with ``torch.randperm(generator=generator)``, so a
        seeded generator gives the same order on every run.
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int. Got {batch_size!r}.")
        self.resolve_text(text)
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            yield self.batch(order[start:start + batch_size], device=device, text=text)

    def subset(self, indices: Sequence[int] | np.ndarray) -> "Split":
        """A new split holding only the clips at ``indices`` (e.g. a quick-mode sample)."""
        index = np.asarray(indices, dtype=np.int64).reshape(-1)
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        for key, value in values.items():
            if isinstance(value, np.ndarray):
                values[key] = value[index]
        return Split(**values)


@dataclass
class NonFiniteCount:
    """Non-finite values found in one array of one split, and what was done with them."""

    split: str
    key: str
    nan: int
    posinf: int
    neginf: int
    action: str        # e.g. "replaced with 0"


@dataclass
class LoadReport:
    """What loading found and changed: non-finite counts per split/key, and notes."""

    path: str
    nonfinite: list[NonFiniteCount] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total_nonfinite(self) -> int:
        return sum(c.nan + c.posinf + c.neginf for c in self.nonfinite)

    def to_frame(self) -> pd.DataFrame:
        """One row per (split, key) of a feature array: counts of NaN, +inf, -inf and the action."""
        columns = ["split", "key", "nan", "posinf", "neginf", "action"]
        return pd.DataFrame([dataclasses.asdict(c) for c in self.nonfinite], columns=columns)

    def __str__(self) -> str:
        lines = [f"load report for {self.path}: {self.total_nonfinite} non-finite feature values"]
        lines += [f"  {c.split}/{c.key}: {c.nan} NaN, {c.posinf} +inf, {c.neginf} -inf -> {c.action}"
                  for c in self.nonfinite if c.nan + c.posinf + c.neginf]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


@dataclass(eq=False)   # arrays and tensors have no single truth value
class MMSADataset:
    """A loaded MMSA-layout dataset: three splits, the DataSpec read from them, the load report."""

    splits: dict[str, Split]   # 'train', 'valid', 'test' -> Split
    spec: DataSpec             # widths and lengths, read from the arrays
    report: LoadReport         # non-finite counts and notes
    path: Path | None = None   # the file it came from (None when built in memory)
    file_stat: tuple[int, int] | None = None  # (size, mtime_ns) of that file when it was read

    @functools.cached_property
    def sha256(self) -> str | None:
        """The SHA-256 of the file the data came from (None for in-memory data), computed once.

        A run records it, so that ``--resume`` and ``reproduce`` refuse other data by content,
        not by name. None as well when the file is gone or changed since it was loaded (the
        hash would not describe these arrays).
        """
        if self.path is None:
            return None
        from dmdlab.files import file_sha256

        try:
            return file_sha256(self.path, expect_stat=self.file_stat)
        except (OSError, ValueError):
            return None

    def __getitem__(self, name: str) -> Split:
        try:
            return self.splits[name]
        except KeyError:
            raise KeyError(f"no split {name!r}; the splits are {list(self.splits)}") from None

    def __iter__(self) -> Iterator[Split]:
        return iter(self.splits.values())

    @property
    def sizes(self) -> dict[str, int]:
        """Number of clips per split."""
        return {name: len(split) for name, split in self.splits.items()}
