"""What every view shares: the ``*Display`` protocol, colours and small helpers.

A display follows scikit-learn's ``*Display`` pattern: the constructor takes plain inputs
(DataFrames, numpy arrays) and computes everything once, ``from_*`` class methods build
those inputs from dmdlab objects (a run, a model, a model output), and ``plot()`` draws a
plotly figure, keeps it as ``figure_`` and returns it. Nothing here imports ipywidgets.
"""

from __future__ import annotations

import textwrap

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dmdlab import runs
from dmdlab.modalities import MODALITIES, MODALITY_NAMES, SPLITS

# One colour per modality (L, V, A) and per sentiment class, used by every view.
MODALITY_COLORS: dict[str, str] = {"l": "#1f77b4", "v": "#2ca02c", "a": "#d62728"}
SPLIT_DASH: dict[str, str] = {"train": "solid", "valid": "dash", "test": "dot"}
TEMPLATE = "plotly_white"


NOTE_COLOR = "#c62828"


class Display:
    """Base of the views: ``plot()`` draws ``figure_``; notebooks show it with ``show()``.

    Every display takes two optional lines of text, drawn under the figure's title by
    ``plot()``: ``note``, a caveat in red that no reader can miss ("smoke data: not
    meaningful", "untrained model"), and ``caption``, what to look for in the figure.
    """

    figure_: go.Figure | None = None
    note: str | None = None
    caption: str | None = None

    def plot(self, **kwargs) -> go.Figure:  # pragma: no cover - overridden
        raise NotImplementedError

    def show(self) -> None:
        """Draw (if not drawn yet) and display the figure."""
        (self.figure_ or self.plot()).show()

    def _finish(self, fig: go.Figure) -> go.Figure:
        """Add the note and caption lines under the title, keep the figure as ``figure_``."""
        lines = [f"<span style='font-size:14px;color:{NOTE_COLOR}'><b>{plain(self.note)}</b></span>" if self.note else "",
                 f"<span style='font-size:12px;color:#555'><i>{plain(self.caption)}</i></span>" if self.caption else ""]
        lines = [line for line in lines if line]
        if lines:
            title = fig.layout.title.text or ""
            fig.update_layout(title=dict(text="<br>".join([title] + lines)),
                              margin=dict(t=(fig.layout.margin.t or 100) + 22 * len(lines)))
        self.figure_ = fig
        return fig


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 run', '2 runs'."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def integer_ticks(fig: go.Figure, values, **selector) -> None:
    """Whole-number ticks on the x axes (epochs): a step of 1, or a whole step over ~10 ticks."""
    values = np.asarray(values, dtype=float)
    span = float(values.max() - values.min()) if len(values) else 0.0
    fig.update_xaxes(tickmode="linear", tick0=float(values.min()) if len(values) else 0.0,
                     dtick=max(1, int(np.ceil(span / 10))), tickformat="d", **selector)


def load_history(run) -> pd.DataFrame:
    """The history DataFrame of a ``Run`` (its ``history`` attribute) or of a run directory."""
    history = getattr(run, "history", None)
    return pd.read_csv(Path(run) / runs.HISTORY) if history is None else history


def modality_name(m: str) -> str:
    """'l' -> 'language (L)'."""
    return f"{MODALITY_NAMES[m]} ({m.upper()})"


def as_numpy(x) -> np.ndarray:
    """A numpy array from a numpy array, a list or a (possibly grad-tracking, GPU) tensor."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        x = (x.float() if x.is_floating_point() else x).numpy()  # bf16 has no numpy dtype
    return np.asarray(x)


def json_safe(values) -> list:
    """An array as nested lists with None for NaN / inf: plotly leaves such cells blank, and
    the browser's JSON (ipywidgets' messages) refuses NaN."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values), values, None).tolist()


def plain(text) -> str:
    """Text for a plotly title, label or hover, shown as written.

    plotly.js typesets anything between two ``$`` as LaTeX (MMSA clip ids read
    ``video$_$clip``); in JupyterLab, where MathJax is loaded, such a title is hidden until
    typeset and never shows. The HTML entity ``&#36;`` draws a ``$`` without that.
    """
    return str(text).replace("$", "&#36;")


def wrap(text: str, width: int = 60, max_lines: int = 4) -> str:
    """Wrap a transcript for a hover label (``<br>`` line breaks, at most ``max_lines``; ``$`` kept plain)."""
    lines = textwrap.wrap(plain(text), width) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] += " …"
    return "<br>".join(lines)


def check_choice(name: str, value, choices) -> None:
    """Raise a ValueError naming the parameter, the allowed values and the value."""
    if value not in choices:
        raise ValueError(f"The '{name}' parameter must be one of {list(choices)}. Got {value!r}.")


__all__ = ["Display", "MODALITIES", "MODALITY_COLORS", "SPLITS", "as_numpy", "check_choice", "integer_ticks", "json_safe", "plural", "wrap"]
