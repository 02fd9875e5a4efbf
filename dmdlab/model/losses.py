"""The DMD losses as pure, vectorised functions (paper §3, the official code's terms and weights). No Python loop over the batch.

The GD-unit losses live with the unit (``graph_distill.GDUnit.losses``); ``DMD.loss``
assembles everything into a ``LossBreakdown`` with the official weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["positive_cosine", "masked_mse", "orthogonality_loss", "margin_loss"]

_MARGIN_CHUNK_ELEMENTS = 1 << 22   # hinges per anchor chunk of margin_loss: 16 MiB per float32 (c, N, N) tensor


def positive_cosine(x: Tensor, y: Tensor, dim: int = -1) -> Tensor:
    """max(cos(x, y), 0) with the cosine over `dim`, elementwise over the other axes.

    cos = Σxy / sqrt((Σx² + 1e-12)(Σy² + 1e-12)): torch's CosineEmbeddingLoss formula, so
    ``positive_cosine(x, y).mean()`` is that loss with target -1 and margin 0 (it penalises
    positive similarity).
    """
    eps = 1e-12
    num = (x * y).sum(dim)
    den = torch.sqrt(((x * x).sum(dim) + eps) * ((y * y).sum(dim) + eps))
    return (num / den).clamp_min(0)


def _masked_mean(values: Tensor, weights: Tensor) -> Tensor:
    """Σ values·weights / Σ weights, weights broadcast to values' shape (0 when all weights are 0)."""
    weights = weights.expand_as(values)
    return (values * weights).sum() / weights.sum().clamp_min(1)


def masked_mse(x: Tensor, y: Tensor, steps: Tensor | None = None) -> Tensor:
    """Mean squared error of (B, d, T') tensors; with ``steps`` (B, T') bool, over valid steps only."""
    if steps is None:
        return F.mse_loss(x, y)
    return _masked_mean((x - y).square(), steps.unsqueeze(1).to(x.dtype))


def orthogonality_loss(private: Tensor, shared: Tensor, axis: str = "batch", steps: Tensor | None = None) -> Tensor:
    """Penalty on positive cosine between X^prt_m and X^com_m, both in conv layout (B, d, T').

    axis='batch' (official): the legacy CosineEmbeddingLoss on time-first (T', B, d) tensors
    reduced over dimension 1, the *batch* axis: one cosine per (time step, channel) between
    B-vectors, then mean of max(cos, 0). axis='feature' (the paper's reading): one cosine per
    (sample, time step) over the d channels (F.cosine_similarity with eps 1e-12).

    steps (B, T') bool, padding masks on: padded steps are zeroed, so a batch-axis cosine is
    over the samples valid at that step, and the mean is over the cosines that have a valid
    sample (batch axis: steps valid in some sample; feature axis: valid (sample, step) pairs).
    """
    weights = None if steps is None else steps.unsqueeze(1).to(private.dtype)           # (B, 1, T')
    if weights is not None:
        private, shared = private * weights, shared * weights
    if axis == "batch":
        cosines = positive_cosine(private, shared, dim=0)                                  # (d, T')
        return cosines.mean() if steps is None else _masked_mean(cosines, weights.amax(0))
    cosines = F.cosine_similarity(private, shared, dim=1, eps=1e-12).clamp_min(0)         # (B, T')
    return cosines.mean() if steps is None else _masked_mean(cosines, weights.squeeze(1))


def margin_loss(features: Tensor, labels: Tensor, margin: float = 0.15, mode: str = "label_gap") -> Tensor:
    """Hinge (triplet-style) margin loss of the shared space (official HingeLoss), vectorised.

    features (N, d), labels (N,): N = 3B aligned shared features, each with its clip's label.
    For anchor i, positives are the other rows with exactly its label, negatives the rows
    with another label; loss_i = mean over (positive p, negative n) of
    max(0, m_in − cos(i, p) + cos(i, n)) with m_in = margin·|y_i − y_n| ('label_gap',
    official) or margin ('constant'); the result is the mean of loss_i over anchors that
    have at least one positive and one negative (0 when none has). The N³
    hinges are summed a chunk of anchors at a time: O(N²) memory without autograd (evaluation).
    Cosine: x·y / (max(sqrt(Σx² + 1e-8), 1e-8) · ...), as official.
    """
    labels = labels.reshape(-1)
    n = labels.shape[0]
    norms = torch.sqrt((features * features).sum(1) + 1e-8).clamp_min(1e-8)               # (N,)
    cos = (features @ features.t()) / (norms[:, None] * norms[None, :])                   # (N, N)
    same = labels[:, None] == labels[None, :]                                              # (N, N)
    eye = torch.eye(n, dtype=torch.bool, device=features.device)
    positive = same & ~eye                                                                 # (N, N)
    negative = ~same
    if mode == "label_gap":
        gap = margin * (labels[:, None] - labels[None, :]).abs()                           # (N, N): anchor, negative
    else:
        gap = torch.full_like(cos, margin)
    n_pairs = positive.sum(1) * negative.sum(1)                                            # (N,)
    has = n_pairs > 0
    # hinge[i, p, n] = max(0, (gap[i, n] + cos[i, n]) - cos[i, p]): N³ elements, so the anchors
    # go in chunks of at most _MARGIN_CHUNK_ELEMENTS hinges (one chunk at training batch sizes).
    # The masked sum over (positive p, negative n) is a matrix-vector product with the negative
    # indicator, then a dot product with the positive one: no (c, N, N) pair mask.
    upper = gap + cos                                                                      # (N, N): anchor, negative
    positive_f, negative_f = positive.to(cos.dtype), negative.to(cos.dtype)                # (N, N) 0/1
    chunk = max(1, _MARGIN_CHUNK_ELEMENTS // max(n * n, 1))
    sums = []
    for start in range(0, n, chunk):
        rows = slice(start, start + chunk)                                                 # c anchors
        hinge = F.relu(upper[rows].unsqueeze(1) - cos[rows].unsqueeze(2))                  # (c, N, N)
        over_negatives = (hinge @ negative_f[rows].unsqueeze(2)).squeeze(2)                # (c, N): per positive
        sums.append((over_negatives * positive_f[rows]).sum(1))                            # (c,)
    per_anchor = torch.cat(sums) / n_pairs.clamp_min(1)                                    # (N,)
    return (per_anchor * has).sum() / has.sum().clamp_min(1)
