"""One clip's three modalities over time: what the model actually receives.

Each modality is a (T, d) sequence of feature vectors (MMSA: BERT token features for
language, Facet for vision, COVAREP for audio). Features have very different scales, so
each row (feature) is standardised over time before drawing; the hover shows raw values.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dmdlab.modalities import MODALITIES
from dmdlab.viz.base import TEMPLATE, Display, as_numpy, modality_name, plain, wrap
from dmdlab.viz.attention import step_labels


class SampleDisplay(Display):
    """Heatmaps (feature × time) of one clip's language, vision and audio features.

    Parameters
    ----------
    sequences : dict
        ``{"l": (T_L, d_L), "v": (T_V, d_V), "a": (T_A, d_A)}``; language may be None
        (BERT-input data carries token ids, not features).
    lengths : dict or None
        Valid lengths of unaligned sequences (the rest is padding), per modality. Aligned
        sequences with a transcript are valid over [CLS], its words and [SEP] (MMSA's layout).
    show_padding : bool
        Draw the padded steps too (off: only the clip's own steps are drawn and standardised;
        padding, which is most of a short clip, would otherwise fill the picture with noise).
    transcript, label, clip_id : the clip's metadata for the title.
    max_features : int
        At most this many feature rows per modality (the most varying ones).
    note, caption : str or None
        A caveat drawn in red under the title, and a line on what to look for.

    Attributes
    ----------
    normalised_ : dict ``{modality: (d', T')}`` standardised rows drawn (T' the steps drawn).
    widths_ : dict ``{modality: d}`` the input's full feature width (768 for BERT text features).
    padding_ : dict ``{modality: steps}`` padded steps left out of the drawing (0 with ``show_padding``).
    """

    def __init__(self, sequences: dict, *, lengths: dict | None = None, transcript: str = "", label: float | None = None,
                 clip_id: str = "", max_features: int = 40, show_padding: bool = False, note: str | None = None,
                 caption: str | None = None):
        self.modalities = tuple(m for m in MODALITIES if sequences.get(m) is not None)
        self.raw_, self.normalised_, self.rows_, self.widths_, self.padding_ = {}, {}, {}, {}, {}
        self.note, self.caption, self.show_padding = note, caption, show_padding
        self.lengths = {m: n for m, n in (lengths or {}).items() if n}
        text_steps = as_numpy(sequences["l"]).shape[0] if "l" in self.modalities else None
        for m in self.modalities:
            x = as_numpy(sequences[m]).astype(float).T  # (d, T)
            valid = self.lengths.get(m)
            if valid is None and transcript and (m == "l" or x.shape[1] == text_steps):   # aligned with the words
                valid = len(str(transcript).split()) + 2                                  # [CLS] words [SEP]
            valid = min(valid or x.shape[1], x.shape[1])
            self.padding_[m] = 0 if show_padding else x.shape[1] - valid
            x = x if show_padding else x[:, :valid]
            self.widths_[m] = x.shape[0]
            keep = np.sort(np.argsort(x.std(1))[::-1][:max_features])
            x = x[keep]
            std = x.std(1, keepdims=True)
            self.raw_[m], self.rows_[m] = x, keep
            self.normalised_[m] = (x - x.mean(1, keepdims=True)) / np.where(std > 0, std, 1.0)
        self.transcript, self.label, self.clip_id = transcript, label, clip_id

    @classmethod
    def from_split(cls, split, index: int, **kwargs) -> "SampleDisplay":
        """The clip at position ``index`` of a ``dmdlab.data`` split."""
        def lengths(name):
            values = getattr(split, f"{name}_lengths", None)
            return None if values is None else int(values[index])

        seqs = {"l": None if split.text is None else split.text[index], "v": split.vision[index], "a": split.audio[index]}
        return cls(seqs, lengths={"v": lengths("vision"), "a": lengths("audio")}, transcript=str(split.raw_text[index]),
                   label=float(split.labels[index]), clip_id=str(split.ids[index]), **kwargs)

    def describe(self, m: str) -> str:
        """What modality m's input is: 'language (L): 50 tokens × 768 features per token; the 40 most varying drawn'."""
        steps, width, drawn = self.raw_[m].shape[1], self.widths_[m], self.raw_[m].shape[0]
        unit = "tokens" if m == "l" else "frames"
        text = f"{modality_name(m)}: {steps} {unit} × {width} features per {unit[:-1]}"
        if self.padding_[m]:
            text = f"{modality_name(m)}: {steps} {unit} × {width} features per {unit[:-1]} (padding not drawn)"
        elif self.lengths.get(m):
            text += f" ({self.lengths[m]} valid)"
        return text + (f"; the {drawn} most varying drawn" if drawn < width else "")

    def plot(self) -> go.Figure:
        fig = make_subplots(rows=len(self.modalities), cols=1, vertical_spacing=0.1,
                            subplot_titles=[self.describe(m) for m in self.modalities])
        for r, m in enumerate(self.modalities, start=1):
            fig.add_trace(go.Heatmap(z=self.normalised_[m], customdata=self.raw_[m], colorscale="RdBu_r", zmid=0,
                                     showscale=r == 1, colorbar=dict(title="z-score"),
                                     y=[f"f{i}" for i in self.rows_[m]],
                                     hovertemplate="step %{x}, feature %{y}: %{customdata:.3g}<extra>" + m.upper() + "</extra>"),
                          row=r, col=1)
            if self.show_padding and self.lengths.get(m):
                fig.add_vline(x=self.lengths[m] - 0.5, line=dict(color="black", dash="dot"), row=r, col=1)
            if m == "l" and self.transcript:  # aligned with words: [CLS], the words, [SEP], [PAD] (MMSA's BERT layout)
                labels, _ = step_labels("l", self.raw_[m].shape[1], text=self.transcript)
                fig.update_xaxes(tickvals=list(range(len(labels))), ticktext=[w.split(":", 1)[1] for w in labels],
                                 tickangle=-45, row=r, col=1)
        fig.update_xaxes(title_text="time step", row=len(self.modalities), col=1)
        label = "" if self.label is None else f" — label {self.label:+.2f}"
        fig.update_layout(title=f"{plain(self.clip_id)}{label}<br><sup>{wrap(self.transcript, 110, 2)}</sup>", template=TEMPLATE,
                          height=260 * len(self.modalities) + 120, margin=dict(t=110))
        return self._finish(fig)
