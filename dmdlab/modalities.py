"""The one ordering of modalities and graph edges used everywhere in dmdlab.

DMD (and its official code) orders the modalities language, vision, audio. The six
directed edges of a GD-unit come in the official order V→L, A→L, L→V, A→V, L→A, V→A
(the official code's): grouped by target, each target's two sources in (L, V, A) order.
Edge columns of a run's tables are named ``edges/<unit>/<edge>`` (``edge_column``).
"""

import re

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


EDGE_CELLS: tuple[tuple[int, int], ...] = tuple((MODALITIES.index(s), MODALITIES.index(t)) for s, t in EDGES)
"""(row, column) of each edge in a 3 × 3 matrix with [i, j] = edge MODALITIES[i] → MODALITIES[j]."""

GD_UNITS: tuple[str, ...] = ("homo", "hetero")
"""The two GD-units: HomoGD (homogeneous space) and HeteroGD (heterogeneous space)."""


def edge_column(unit: str, label: str) -> str:
    """The column of an edge in a run's history, predictions and tables: 'edges/homo/V→L'."""
    return f"edges/{unit}/{label}"


EDGE_COLUMNS: tuple[str, ...] = tuple(edge_column(unit, label) for unit in GD_UNITS for label in EDGE_LABELS)

EDGE_COLUMN_PATTERN = re.compile(r"^(?:(?P<split>[^/]+)/)?"
                                 + edge_column(f"(?P<unit>{'|'.join(GD_UNITS)})", "(?P<edge>.+)") + "$")
"""Matches ``edge_column`` names, optionally after a split prefix ('valid/edges/homo/V→L')."""
