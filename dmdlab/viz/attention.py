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
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dmdlab.modalities import MODALITIES, MODALITY_NAMES, edge_label
from dmdlab.viz._base import TEMPLATE, Display, as_numpy, check_choice, plain


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


SPECIAL_TOKENS = frozenset({"[CLS]", "[SEP]", "[PAD]"})


def _special(label: str) -> bool:
    return label.split(":", 1)[-1] in SPECIAL_TOKENS


def step_labels(modality: str, n_steps: int, *, text: str | None = None, kernel: int = 1, offset: int = 1) -> tuple[list[str], list[str]]:
    """(axis labels, hover details) for the steps of one modality of one sample."""
    if modality == "l" and text is not None:
        windows = word_windows(text, n_steps, kernel=kernel, offset=offset)
        labels = [f"{t}:{plain(w[len(w) // 2])}" for t, w in enumerate(windows)]
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
        Leave text steps centred on [CLS], [SEP] or [PAD] out of ``top_pairs_``.

    Attributes
    ----------
    matrix_ : ndarray (T_q, T_k)
    top_pairs_ : DataFrame
        Columns query, key, weight, lift (weight × keys the query may see; 1 is uniform),
        keys seen; strongest lift first.
    query_labels_, key_labels_ : list of str
    """

    def __init__(self, attention: dict, *, direction: str = "v->l", layer: int = -1, head: int | str = "mean",
                 sample: int = 0, texts=None, ids=None, kernels: dict | None = None, text_offset: int = 1,
                 top_k: int = 10, skip_special: bool = True):
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
        self.skip_special = skip_special
        self.source, self.target = parse_direction(direction)
        block = weights[self.layer, sample]  # (heads, T_q, T_k)
        self.matrix_ = block.mean(0) if head == "mean" else block[head]
        text = None if texts is None else str(texts[sample])
        (self.query_labels_, self._query_hover) = step_labels(self.target, self.matrix_.shape[0], text=text,
                                                              kernel=self.kernels.get(self.target, 1), offset=text_offset)
        (self.key_labels_, self._key_hover) = step_labels(self.source, self.matrix_.shape[1], text=text,
                                                          kernel=self.kernels.get(self.source, 1), offset=text_offset)
        self.top_pairs_ = self._top_pairs(top_k)

    def _top_pairs(self, top_k: int) -> pd.DataFrame:
        """The strongest (query, key) pairs by lift: weight × the number of keys the query may
        see (1 = uniform attention). Under the official causal mask an early query sees few
        keys, and a query that sees one key puts all its weight there whatever the data;
        ranking by lift, and skipping such rows, keeps those forced pairs off the list; text
        steps centred on [CLS], [SEP] or [PAD] are skipped too (``skip_special``)."""
        allowed = (self.matrix_ > 0).sum(1, keepdims=True)         # (T_q, 1) keys left by the mask
        lift = np.where(allowed > 1, self.matrix_ * allowed, -np.inf)
        if self.skip_special:  # [CLS] / [SEP] / [PAD] text steps are no words
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
                      skip_special=self.skip_special)
        params.update(changes)
        return AttentionDisplay(self.attention, **params)

    @classmethod
    def from_model(cls, model, split, *, indices=(0,), text_offset: int = 1, **kwargs) -> "AttentionDisplay":
        """Run ``model`` on the samples at ``indices`` of ``split`` with ``return_attention=True``."""
        from dmdlab.viz._collect import forward_batches

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
        kernels = {m: inputs[m] - steps[m] + 1 for m in steps}
        return cls(output.attention, texts=list(np.asarray(split.raw_text)[indices]),
                   ids=list(np.asarray(split.ids)[indices]), kernels=kernels, text_offset=text_offset, **kwargs)

    @property
    def directions(self) -> list[str]:
        return list(self.attention)

    def plot(self) -> go.Figure:
        """The (T_q, T_k) heatmap: rows the target's steps (queries), columns the source's (keys)."""
        head = "mean over heads" if self.head == "mean" else f"head {self.head}"
        who = f"sample {self.sample}" + (f" ({plain(self.ids[self.sample])})" if self.ids is not None else "")
        hover = [[f"{qh}<br>attends to {kh}" for kh in self._key_hover] for qh in self._query_hover]
        fig = go.Figure(go.Heatmap(
            z=self.matrix_, x=self.key_labels_, y=self.query_labels_, colorscale="Viridis", zmin=0,
            customdata=hover, hovertemplate="%{customdata}<br>weight %{z:.3f}<extra></extra>",
            colorbar=dict(title="weight")))
        fig.update_yaxes(autorange="reversed", title_text=f"{MODALITY_NAMES[self.target]} steps (queries)", type="category")
        fig.update_xaxes(title_text=f"{MODALITY_NAMES[self.source]} steps (keys)", type="category", tickangle=-60)
        fig.update_layout(title=f"{edge_label(self.source, self.target)} cross-modal attention, layer {self.layer}, "
                                f"{head}, {who}", template=TEMPLATE, height=max(420, 12 * len(self.query_labels_) + 160))
        self.figure_ = fig
        return fig
