"""Cross-modal attention: which words attend to which frames (HeteroGD's CA unit, §2 step 4).

For a direction ``"v->l"`` (source V, target L) the target's steps are the queries and the
source's steps the keys: the heatmap has a row per text step and a column per vision frame,
and each row sums to 1. The model returns the weights as ``{"v->l": (layers, B, heads, T_q,
T_k)}`` on request (``return_attention=True``).

Words and steps (an approximation, stated where it is drawn): the attention runs over the
temporal-conv outputs, so text step t summarises input steps t … t + k_L − 1 (k_L the
conv kernel, recovered as T_L − T'_L + 1). MMSA's text features are BERT token features
with [CLS] at input step 0, so input step i stands for the (i − 1)-th token; the tokens are
taken as the transcript's whitespace words (BERT's word pieces may split a word, which
shifts later words by a step or more). A text step is labelled with the word at the centre
of its window; its hover lists the whole window. For data whose text steps are not tokens
at all, the step index is the only honest label and is always shown beside the word.

What is hidden, and why. A step is *padding* when the centre of its window is padding: a
[PAD] token (from the transcript, or BERT's attention mask) or a frame past the clip's
length (its ``*_lengths``, or an all-zero frame: MMSA pads with zeros). Padded rows and
columns are hidden by default (``show_padding=True`` shows them). A key is *masked* for a
query when the model's mask removed it (the official causal mask: weight exactly 0 after the
softmax of −∞); masked cells are drawn blank, not as "no attention". The strongest-pairs list
never holds a masked pair or a padded step. The colour range runs from the 2nd to the 98th
percentile of the drawn weights, so one dominant cell (a query that sees a single key)
does not wash out the rest; brighter cells saturate.

One key. With utterance-level features (one vector per clip, T = 1) a direction whose
source has one step gives every query a weight of exactly 1 on it, whatever the model
learned: there is nothing to read, and the view says so (``single_key_``, a note under the
title; the strongest-pairs list is empty).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dmdlab.modalities import MODALITIES, MODALITY_NAMES, edge_label
from dmdlab.viz.base import TEMPLATE, Display, as_numpy, check_choice, json_safe, plain, plural


def parse_direction(direction: str) -> tuple[str, str]:
    """'v->l' -> ('v', 'l') (source, target)."""
    source, _, target = direction.partition("->")
    if source not in MODALITIES or target not in MODALITIES or source == target:
        raise ValueError(f"The 'direction' parameter must read 'source->target' with two of {MODALITIES}. Got {direction!r}.")
    return source, target


def word_windows(text: str, n_steps: int, *, kernel: int = 1, offset: int = 1) -> list[list[str]]:
    """The words of each conv step's window: step t covers input steps t … t + kernel − 1,
    input step i the ``(i - offset)``-th whitespace word ([CLS] / [SEP] / [PAD] outside)."""
    words = str(text).split()

    def token(i: int) -> str:
        j = i - offset
        if j < 0:
            return "[CLS]"
        if j < len(words):
            return words[j]
        return "[SEP]" if j == len(words) else "[PAD]"

    return [[token(t + i) for i in range(kernel)] for t in range(n_steps)]


SINGLE_KEY_NOTE = ("one {source} step per clip (utterance-level features): attention over one key is a weight of "
                   "1 for every query, so this view shows nothing the model learned")
SPECIAL_TOKENS = frozenset({"[CLS]", "[SEP]", "[PAD]"})
ROBUST_RANGE = (2, 98)  # percentiles of the drawn weights that span the colour scale


def _token(label: str) -> str:
    return label.split(":", 1)[-1]


def _special(label: str) -> bool:
    return _token(label) in SPECIAL_TOKENS


def conv_step_valid(valid_inputs, kernel: int) -> np.ndarray:
    """(B, T) input-step validity -> (B, T - kernel + 1) validity of the conv steps, each
    judged by the centre of its window (the step its label names)."""
    valid_inputs = np.asarray(valid_inputs, dtype=bool)
    steps = valid_inputs.shape[1] - kernel + 1
    return valid_inputs[:, kernel // 2: kernel // 2 + steps]


def step_labels(modality: str, n_steps: int, *, text: str | None = None, kernel: int = 1, offset: int = 1) -> tuple[list[str], list[str]]:
    """(axis labels, hover details) for the steps of one modality of one sample."""
    if modality == "l" and text is not None:
        windows = word_windows(text, n_steps, kernel=kernel, offset=offset)
        centres = [[w[len(w) // 2]] for w in windows]
        if windows:   # a window's words before (after) its centre belong to no other label at the start (end)
            centres[0] = [w for w in windows[0][:len(windows[0]) // 2] if w not in SPECIAL_TOKENS] + centres[0]
            centres[-1] += [w for w in windows[-1][len(windows[-1]) // 2 + 1:] if w not in SPECIAL_TOKENS]
        labels = [f"{t}:{plain(' '.join(c))}" for t, c in enumerate(centres)]
        return labels, [f"text step {t} (words: {plain(' '.join(w))})" for t, w in enumerate(windows)]
    name = "word" if modality == "l" else "frame"
    return [f"{modality.upper()}{t}" for t in range(n_steps)], [f"{MODALITY_NAMES[modality]} {name} step {t}" for t in range(n_steps)]


class AttentionDisplay(Display):
    """One direction / layer / head (or the mean over heads) / sample of cross-modal attention.

    Parameters
    ----------
    attention : dict
        ``{"v->l": (layers, B, heads, T_q, T_k)}`` arrays or tensors (a model output's
        ``attention``).
    direction : str
        ``"source->target"``; keys are the source's steps, queries the target's.
    layer : int
        Layer index (negative counts from the last).
    head : int or "mean"
        A head, or the average over heads.
    sample : int
        Position in the batch.
    texts : sequence of str or None
        Transcripts of the batch's samples, to name the text steps.
    kernels : dict or None
        Conv kernel per modality (to map steps to word windows); default 1.
    top_k : int
        How many strongest (query, key) pairs ``top_pairs_`` lists.
    skip_special : bool
        Leave text steps centred on [CLS] or [SEP] out of ``top_pairs_`` (padding never
        appears there).
    valid : dict or None
        ``{modality: (B, T')}`` bool, True at the conv steps that are not padding (see the
        module docstring; ``from_model`` fills it). Without it, text steps labelled [PAD]
        are the padding.
    show_padding : bool
        Draw padded rows and columns, and masked keys as zeros, instead of hiding them.
    note, caption : str or None
        A caveat drawn in red under the title, and a line on what to look for.

    Attributes
    ----------
    matrix_ : ndarray (T_q, T_k)
        All steps, padding included.
    masked_ : ndarray (T_q, T_k) bool
        True where the model's mask removed the key (weight exactly 0).
    query_padded_, key_padded_ : ndarray bool
        True at the padded query (T_q,) and key (T_k,) steps.
    single_key_ : bool
        The source has one step (utterance-level features): every weight is 1, nothing to read.
    top_pairs_ : DataFrame
        Columns query, key, weight, lift (weight × keys the query may see; 1 is uniform),
        keys seen; strongest lift first.
    query_labels_, key_labels_ : list of str
    """

    def __init__(self, attention: dict, *, direction: str = "v->l", layer: int = -1, head: int | str = "mean",
                 sample: int = 0, texts=None, ids=None, kernels: dict | None = None, text_offset: int = 1,
                 top_k: int = 10, skip_special: bool = True, valid: dict | None = None, show_padding: bool = False,
                 note: str | None = None, caption: str | None = None):
        if not attention:
            raise ValueError("The 'attention' parameter is empty: call the model with return_attention=True.")
        check_choice("direction", direction, list(attention))
        self.attention = {k: as_numpy(v) for k, v in attention.items()}
        weights = self.attention[direction]
        if weights.ndim != 5:
            raise ValueError(f"Attention weights must be (layers, B, heads, T_q, T_k). Got {weights.shape} for {direction!r}.")
        n_layers, batch, n_heads = weights.shape[:3]
        if not -n_layers <= layer < n_layers:
            raise ValueError(f"The 'layer' parameter must be in [{-n_layers}, {n_layers - 1}]. Got {layer}.")
        if not 0 <= sample < batch:
            raise ValueError(f"The 'sample' parameter must be in [0, {batch - 1}]. Got {sample}.")
        if head != "mean" and not (isinstance(head, (int, np.integer)) and 0 <= head < n_heads):
            raise ValueError(f"The 'head' parameter must be 'mean' or an int in [0, {n_heads - 1}]. Got {head!r}.")
        self.direction, self.layer, self.head, self.sample = direction, layer % n_layers, head, sample
        self.n_layers, self.n_heads, self.batch_size = n_layers, n_heads, batch
        self.texts, self.ids, self.kernels, self.text_offset, self.top_k = texts, ids, kernels or {}, text_offset, top_k
        self.skip_special, self.valid, self.show_padding, self.note, self.caption = skip_special, valid, show_padding, note, caption
        self.source, self.target = parse_direction(direction)
        block = weights[self.layer, sample]  # (heads, T_q, T_k)
        self.matrix_ = block.mean(0) if head == "mean" else block[head]
        text = None if texts is None else str(texts[sample])
        (self.query_labels_, self._query_hover) = step_labels(self.target, self.matrix_.shape[0], text=text,
                                                              kernel=self.kernels.get(self.target, 1), offset=text_offset)
        (self.key_labels_, self._key_hover) = step_labels(self.source, self.matrix_.shape[1], text=text,
                                                          kernel=self.kernels.get(self.source, 1), offset=text_offset)
        self.masked_ = self.matrix_ == 0
        self.single_key_ = self.matrix_.shape[1] == 1
        self._given_note = note                                    # select() passes on the caller's note only
        if self.single_key_ and self.note is None:
            self.note = SINGLE_KEY_NOTE.format(source=MODALITY_NAMES[self.source])
        self.query_padded_ = self._padded(self.target, self.query_labels_)
        self.key_padded_ = self._padded(self.source, self.key_labels_)
        self.top_pairs_ = self._top_pairs(top_k)

    def _padded(self, modality: str, labels: list[str]) -> np.ndarray:
        """(T,) True at the padded steps of ``modality`` for the chosen sample."""
        valid = None if self.valid is None else self.valid.get(modality)
        if valid is not None:
            valid = np.asarray(valid, dtype=bool)
            if valid.shape != (self.batch_size, len(labels)):
                raise ValueError(f"The 'valid' mask of {modality!r} must have shape (B, T') = "
                                 f"{(self.batch_size, len(labels))}. Got {valid.shape}.")
            return ~valid[self.sample]
        return np.array([modality == "l" and _token(label) == "[PAD]" for label in labels])

    def _top_pairs(self, top_k: int) -> pd.DataFrame:
        """The strongest (query, key) pairs by lift: weight × the number of keys the query may
        see (1 = uniform attention). Under the official causal mask an early query sees few
        keys, and a query that sees one key puts all its weight there whatever the data;
        ranking by lift, and skipping such rows, keeps those forced pairs off the list. Masked
        keys and padded steps are never listed; text steps centred on [CLS] or [SEP] are
        skipped too (``skip_special``)."""
        allowed = (~self.masked_).sum(1, keepdims=True)            # (T_q, 1) keys left by the mask
        lift = np.where((allowed > 1) & ~self.masked_, self.matrix_ * allowed, -np.inf)
        lift[self.query_padded_, :] = -np.inf
        lift[:, self.key_padded_] = -np.inf
        if self.skip_special:  # [CLS] / [SEP] text steps are no words
            lift[[_special(label) for label in self.query_labels_], :] = -np.inf
            lift[:, [_special(label) for label in self.key_labels_]] = -np.inf
        order = np.argsort(lift, axis=None, kind="stable")[::-1][:top_k]
        q, k = np.unravel_index(order, self.matrix_.shape)
        keep = np.isfinite(lift[q, k])
        q, k = q[keep], k[keep]
        return pd.DataFrame({
            f"query ({self.target.upper()})": [self.query_labels_[i] for i in q],
            f"key ({self.source.upper()})": [self.key_labels_[j] for j in k],
            "weight": self.matrix_[q, k], "lift": lift[q, k], "keys seen": allowed[q, 0]})

    def select(self, **changes) -> "AttentionDisplay":
        """A display of the same weights with other direction / layer / head / sample."""
        params = dict(direction=self.direction, layer=self.layer, head=self.head, sample=self.sample, texts=self.texts,
                      ids=self.ids, kernels=self.kernels, text_offset=self.text_offset, top_k=self.top_k,
                      skip_special=self.skip_special, valid=self.valid, show_padding=self.show_padding, note=self._given_note,
                      caption=self.caption)
        params.update(changes)
        return AttentionDisplay(self.attention, **params)

    @classmethod
    def from_model(cls, model, split, *, indices=(0,), text_offset: int = 1, **kwargs) -> "AttentionDisplay":
        """Run ``model`` on the samples at ``indices`` of ``split`` with ``return_attention=True``.

        Padding comes from the batch: BERT's attention mask for text given as BERT inputs
        (the transcript's [PAD] steps otherwise), the clip lengths or all-zero frames for
        vision and audio.
        """
        from dmdlab.viz.collect import forward_batches

        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        (batch, output), = forward_batches(model, split, indices=indices, batch_size=len(indices), return_attention=True)
        if not output.attention:
            raise ValueError("This model returns no cross-modal attention (a variant without the CA unit?).")
        inputs = {"l": split.text.shape[1] if split.text is not None else batch.text.shape[-1],
                  "v": split.vision.shape[1], "a": split.audio.shape[1]}
        steps = {}
        for key, weights in output.attention.items():
            source, target = parse_direction(key)
            steps[target], steps[source] = weights.shape[-2], weights.shape[-1]
        used = getattr(model, "kernels", {})                          # the conv kernels the model runs (T = 1: 1)
        kernels = {m: used.get(m, inputs[m] - steps[m] + 1) for m in steps}
        valid_inputs = {}
        text = as_numpy(batch.text)
        if text.dtype.kind in "iu":                                   # BERT inputs (B, 3, T): row 1 is the attention mask
            valid_inputs["l"] = text[:, 1] != 0
        for m, name in (("v", "vision"), ("a", "audio")):
            frames, lengths = as_numpy(getattr(batch, name)), getattr(batch, f"{name}_lengths")
            valid_inputs[m] = (np.arange(frames.shape[1]) < as_numpy(lengths)[:, None] if lengths is not None
                               else np.abs(frames).sum(-1) > 0)        # (B, T)
        # a BERT text trimmed to the batch's longest clip has fewer steps than its padded input
        valid = {m: conv_step_valid(v, kernels[m])[:, :steps[m]] for m, v in valid_inputs.items() if m in kernels}
        kwargs.setdefault("valid", valid)
        return cls(output.attention, texts=list(np.asarray(split.raw_text)[indices]),
                   ids=list(np.asarray(split.ids)[indices]), kernels=kernels, text_offset=text_offset, **kwargs)

    @property
    def directions(self) -> list[str]:
        return list(self.attention)

    def shown(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the query rows and key columns drawn (all with ``show_padding``)."""
        if self.show_padding:
            return np.arange(len(self.query_labels_)), np.arange(len(self.key_labels_))
        return np.flatnonzero(~self.query_padded_), np.flatnonzero(~self.key_padded_)

    def plot(self) -> go.Figure:
        """The heatmap: rows the target's steps (queries), columns the source's (keys);
        padding hidden and masked keys blank unless ``show_padding``."""
        head = "mean over heads" if self.head == "mean" else f"head {self.head}"
        who = f"sample {self.sample}" + (f" ({plain(self.ids[self.sample])})" if self.ids is not None else "")
        rows, cols = self.shown()
        z = self.matrix_[np.ix_(rows, cols)]
        if not self.show_padding:
            z = np.where(self.masked_[np.ix_(rows, cols)], np.nan, z)
        drawn = z[np.isfinite(z)]
        lo, hi = np.percentile(drawn, ROBUST_RANGE) if drawn.size else (0.0, 1.0)
        hi = hi if hi > lo else lo + 1e-6
        hover = [[f"{self._query_hover[i]}<br>attends to {self._key_hover[j]}" for j in cols] for i in rows]
        fig = go.Figure(go.Heatmap(
            z=json_safe(z), x=[self.key_labels_[j] for j in cols], y=[self.query_labels_[i] for i in rows],
            colorscale="Viridis", zmin=float(lo), zmax=float(hi), hoverongaps=False,
            customdata=hover, hovertemplate="%{customdata}<br>weight %{z:.3f}<extra></extra>",
            colorbar=dict(title=f"weight<br>(p{ROBUST_RANGE[0]}–p{ROBUST_RANGE[1]})")))
        fig.update_yaxes(autorange="reversed", title_text=f"{MODALITY_NAMES[self.target]} steps (queries)", type="category")
        fig.update_xaxes(title_text=f"{MODALITY_NAMES[self.source]} steps (keys)", type="category", tickangle=-60)
        hidden = []
        if not self.show_padding:
            padded = int(self.query_padded_.sum() + self.key_padded_.sum())
            hidden += [f"{plural(padded, 'padded step')} hidden"] if padded else []
            hidden += ["blank: keys the mask hides"] if self.masked_.any() else []
        fig.update_layout(title=f"{edge_label(self.source, self.target)} cross-modal attention, layer {self.layer}, "
                                f"{head}, {who}" + (f"<br><sup>{'; '.join(hidden)}</sup>" if hidden else ""),
                          template=TEMPLATE, height=max(420, 12 * len(rows) + 160))
        return self._finish(fig)
