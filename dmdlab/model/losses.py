"""The DMD losses (paper §3, the official code's terms and weights): pure, vectorised
functions, no Python loop over the batch, and ``total_loss``, which assembles every term of
a model's output into a ``LossBreakdown`` with the official weights:

    total = task + w_decoupling·(cycle + recon + w_align·(margin + ort))
                 + Σ_{space ∈ homo, hetero} w_space_gd·(logit_space + repr_space + reg_space)

(repr_homo only with ``LossConfig.homo_repr_loss``, as officially). The three distillation
losses of a GD-unit are the unit's own equations (``graph_distill.GDUnit.losses``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dmdlab.modalities import MODALITIES
from dmdlab.model.config import LossConfig
from dmdlab.model.outputs import DMDOutput, LossBreakdown, gd_nodes

__all__ = ["positive_cosine", "masked_mse", "orthogonality_loss", "margin_loss", "total_loss"]

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


def total_loss(output: DMDOutput, labels: Tensor, config: LossConfig, gd_units: Mapping[str, nn.Module], *,
               detailed: bool = False) -> LossBreakdown:
    """Every loss of the paper (§3) that ``output`` has terms for, unweighted in ``terms``, weighted in ``total``.

    labels (B,); gd_units: the model's GD-units that are on (``graph_distill.GDUnit``), by space
    ('homo', 'hetero').
    detailed=True also returns the per-prediction and per-modality parts with the official
    names (task_all, task_l_homo, ..., recon_l, cycle_l, ort_l, ...).
    """
    y = labels.reshape(-1, 1).to(output.prediction.dtype)                                  # (B, 1)
    terms: OrderedDict[str, Tensor] = OrderedDict()
    parts: OrderedDict[str, Tensor] = OrderedDict()
    predictions = {"all": output.prediction}
    if config.auxiliary_task:
        if output.homo is not None:
            predictions.update({f"{m}_homo": output.homo.logits[m] for m in MODALITIES})
        if output.hetero is not None and output.hetero.logits is not None:
            predictions.update({f"{m}_hetero": output.hetero.logits[m] for m in MODALITIES})
        if output.homo is not None:
            predictions["c"] = output.homo.fusion_logit
    for name, p in predictions.items():
        parts[f"task_{name}"] = F.l1_loss(p, y)
    terms["task"] = sum(parts.values())
    total = terms["task"]

    dec = output.decoupled
    if dec.reconstruction is not None:
        steps = {m: output.step_mask(m) for m in MODALITIES}                               # (B, T') or None
        for m in MODALITIES:
            parts[f"recon_{m}"] = masked_mse(dec.reconstruction[m], dec.shallow[m], steps[m])
        for m in MODALITIES:
            parts[f"cycle_{m}"] = masked_mse(dec.private[m], dec.private_recon[m], steps[m])
        for m in MODALITIES:
            parts[f"ort_{m}"] = orthogonality_loss(dec.private[m], dec.shared[m], config.ort_axis, steps[m])
        for name in ("recon", "cycle", "ort"):
            terms[name] = sum(parts[f"{name}_{m}"] for m in MODALITIES)
        features = torch.stack([dec.aligned[m] for m in MODALITIES], dim=1)               # (B, 3, d)
        terms["margin"] = margin_loss(features.reshape(-1, features.shape[-1]), y.repeat_interleave(3),
                                      config.margin, config.margin_mode)
        total = total + config.w_decoupling * (terms["cycle"] + terms["recon"]
                                               + config.w_align * (terms["margin"] + terms["ort"]))

    weights = {"homo": config.w_homo_gd, "hetero": config.w_hetero_gd}
    with_repr = {"homo": config.homo_repr_loss, "hetero": True}
    for space, unit in gd_units.items():                                                   # HomoGD, then HeteroGD
        logit, repr_, reg = unit.losses(*gd_nodes(getattr(output, space)), output.edges.get(space))
        terms[f"logit_{space}"], terms[f"repr_{space}"], terms[f"reg_{space}"] = logit, repr_, reg
        total = total + weights[space] * (logit + (repr_ if with_repr[space] else 0.0) + reg)
    if detailed:
        terms.update(parts)
    return LossBreakdown(total=total, terms=terms)
