"""DataSpec: what the model needs to know about a dataset, read from the file itself.

The official code derives sequence lengths from the dataset's *name*; dmdlab never does.
Widths and lengths come from the arrays of the loaded file, so any MMSA-layout file
(MOSI, MOSEI, CH-SIMS, the built-in data) configures the model correctly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DataSpec:
    """Widths (d_m) and sequence lengths (T_m) of the three modalities of a dataset."""

    text_dim: int | None      # width of pre-extracted `text` features (768 for BERT-base); None if absent
    audio_dim: int | None     # d_A: 5 (MOSI COVAREP), 74 (MOSEI); None in a text-only file
    vision_dim: int | None    # d_V: 20 (MOSI Facet), 35 (MOSEI); None in a text-only file
    text_len: int             # T_L: 50 in the MMSA files
    audio_len: int | None     # T_A: 50 aligned; 375 (MOSI) / 500 (MOSEI) unaligned; None without audio
    vision_len: int | None    # T_V: 50 aligned; 500 unaligned; None without vision
    aligned: bool             # False when the file carries audio_lengths / vision_lengths
    has_text_bert: bool = False   # `text_bert` (N, 3, T_L) token ids / mask / segments present
    text_max_id: int | None = field(default=None, compare=False)  # largest `text_bert` token id (< the vocabulary)
    label_min: float = -3.0   # regression labels lie in [label_min, label_max]
    label_max: float = 3.0

    def __post_init__(self) -> None:
        for field in ("audio_dim", "vision_dim", "text_len", "audio_len", "vision_len"):
            value = getattr(self, field)
            if (value is not None or field == "text_len") and (not isinstance(value, int) or value < 1):
                raise ValueError(f"The {field!r} field of DataSpec must be a positive int. Got {value!r}.")
        for modality in ("audio", "vision"):
            if (getattr(self, f"{modality}_dim") is None) != (getattr(self, f"{modality}_len") is None):
                raise ValueError(f"DataSpec needs both {modality}_dim and {modality}_len, or neither (no {modality}). "
                                 f"Got {getattr(self, f'{modality}_dim')!r} and {getattr(self, f'{modality}_len')!r}.")
        if self.text_dim is None and not self.has_text_bert:
            raise ValueError("DataSpec needs text: either text_dim (features) or has_text_bert=True. Got neither.")
        if self.text_dim is not None and (not isinstance(self.text_dim, int) or self.text_dim < 1):
            raise ValueError(f"The 'text_dim' field of DataSpec must be a positive int or None. Got {self.text_dim!r}.")
        if not self.label_min < self.label_max:
            raise ValueError(f"DataSpec needs label_min < label_max. Got {self.label_min} and {self.label_max}.")

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities the data carries, in ('l', 'v', 'a') order: ('l',) for a text-only file."""
        return tuple(m for m, length in self.lengths.items() if length is not None)

    @property
    def dims(self) -> dict[str, int | None]:
        """Input width per modality, keyed 'l', 'v', 'a'."""
        return {"l": self.text_dim, "v": self.vision_dim, "a": self.audio_dim}

    @property
    def lengths(self) -> dict[str, int | None]:
        """Sequence length per modality, keyed 'l', 'v', 'a'."""
        return {"l": self.text_len, "v": self.vision_len, "a": self.audio_len}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "DataSpec":
        return cls(**values)
