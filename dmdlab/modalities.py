"""The one ordering of modalities and graph edges used everywhere in dmdlab.

DMD (and its official code) orders the modalities language, vision, audio. The six
directed edges of a GD-unit come in the official order V→L, A→L, L→V, A→V, L→A, V→A
(the official code's): grouped by target, each target's two sources in (L, V, A) order.
"""

MODALITIES: tuple[str, ...] = ("l", "v", "a")
"""Modality keys in the official order: language, vision, audio."""

MODALITY_NAMES: dict[str, str] = {"l": "language", "v": "vision", "a": "audio"}

SPLITS: tuple[str, ...] = ("train", "valid", "test")
"""Split names in the MMSA order (``dev`` files are read as ``valid``)."""

EDGES: tuple[tuple[str, str], ...] = (
    ("v", "l"), ("a", "l"),
    ("l", "v"), ("a", "v"),
    ("l", "a"), ("v", "a"),
)
"""Directed edges (source, target) in the official order."""


def edge_label(source: str, target: str) -> str:
    """'V→L' style label of an edge."""
    return f"{source.upper()}→{target.upper()}"


EDGE_LABELS: tuple[str, ...] = tuple(edge_label(s, t) for s, t in EDGES)
