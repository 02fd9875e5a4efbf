"""The graph distillation unit (GD-unit, paper §3.2), used twice: HomoGD and HeteroGD.

Each modality is a node with embedding z_m = [W_logit·logit_m ; W_repr·repr_m] (2g). The
six directed edges (EDGES order: V→L, A→L, L→V, A→V, L→A, V→A) get a raw weight
W_edge([z_target ; z_source]); the weights are a softmax of α·raw, jointly over the six
edges per sample (official) or over each target's two sources (the paper's reading).
Distillation is weighted by w = edge + prior, and the teacher (source) is detached.

The representation distance differs between the two official units: the HomoGD unit
compares representations with the same per-sample L1 distance as the logits, the HeteroGD
unit with CosineEmbeddingLoss (target −1). The paper's text describes the cosine for both; the
official model's outputs on its own weights (``repr_homo``) are reproduced only by L1, so
the default follows the code and the metric is a switch (``GDConfig.homo_repr_metric``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dmdlab.modalities import EDGES, MODALITIES
from dmdlab.model.losses import positive_cosine

__all__ = ["GDUnit", "EDGE_SOURCES", "EDGE_TARGETS"]

EDGE_SOURCES = torch.tensor([MODALITIES.index(s) for s, _ in EDGES])   # (6,) node index of each edge's source
EDGE_TARGETS = torch.tensor([MODALITIES.index(t) for _, t in EDGES])   # (6,) node index of each edge's target


class GDUnit(nn.Module):
    """One GD-unit: node embeddings, six directed edges, and the three distillation losses.

    Parameter names (W_logit, W_repr, W_edge) are the official ones. The prior
    softmax(p / temperature) is a buffer (not persistent: the official state dict lacks it).
    """

    def __init__(self, repr_dim: int, hidden: int, prior_logits: tuple[float, ...], *, temperature: float = 0.25,
                 alpha: float = 0.125, edge_norm: str = "joint", repr_weighting: str = "batch_mean",
                 reg_weight: float = 10.0, logit_weight: float = 1.0, repr_weight: float = 10.0,
                 repr_metric: str = "cosine") -> None:
        super().__init__()
        self.W_logit = nn.Linear(1, hidden)
        self.W_repr = nn.Linear(repr_dim, hidden)
        self.W_edge = nn.Linear(4 * hidden, 1)
        self.hidden = hidden
        self.alpha, self.edge_norm, self.repr_weighting = alpha, edge_norm, repr_weighting
        self.reg_weight, self.logit_weight, self.repr_weight = reg_weight, logit_weight, repr_weight
        self.repr_metric = repr_metric
        prior = torch.softmax(torch.tensor(prior_logits, dtype=torch.float64) / temperature, dim=0).float()
        self.register_buffer("prior", prior, persistent=False)                          # (6,)
        self.register_buffer("sources", EDGE_SOURCES.clone(), persistent=False)
        self.register_buffer("targets", EDGE_TARGETS.clone(), persistent=False)

    def forward(self, logits: Tensor, reprs: Tensor) -> tuple[Tensor, Tensor]:
        """logits (3, B, 1), reprs (3, B, D) stacked in MODALITIES order.

        Returns (edges, raw): both (B, 6) in EDGES order; edges are the normalised weights,
        raw the W_edge outputs before α and the softmax.
        """
        z = torch.cat([self.W_logit(logits), self.W_repr(reprs)], dim=-1)                # (3, B, 2g)
        # W_edge([z_t ; z_s]) = w_t·z_t + w_s·z_s + b: score every node once as target and as source.
        w = self.W_edge.weight.view(2, -1)                                                 # (2, 2g): target, source
        scores = z @ w.t()                                                                 # (3, B, 2)
        raw = scores[self.targets, :, 0] + scores[self.sources, :, 1] + self.W_edge.bias   # (6, B)
        raw = raw.t()                                                                      # (B, 6)
        scaled = raw * self.alpha
        if self.edge_norm == "joint":
            edges = torch.softmax(scaled, dim=1)
        else:  # per target: the two sources of each target (EDGES is grouped by target)
            edges = torch.softmax(scaled.view(-1, 3, 2), dim=-1).reshape(-1, 6)
        return edges, raw

    def losses(self, logits: Tensor, reprs: Tensor, edges: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(logit, repr, reg) losses, each weighted by its GD weight (1, 10, 10 officially).

        logits (3, B, 1), reprs (3, B, D), edges (B, 6). With w = edge + prior (per sample):
        logit = Σ_e mean_b(w·|logit_t − sg(logit_s)|);
        repr ('cosine', official HeteroGD) = Σ_e ℓ_cos(repr_t, sg(repr_s))·mean_b(w), ℓ_cos the
        batch mean of max(cos, 0) (or mean_b(w·max(cos, 0)) with per-sample weighting);
        repr ('l1', official HomoGD) = Σ_e mean_b(w·‖repr_t − sg(repr_s)‖₁);
        reg = Σ_e (mean_b(edge) − prior)².
        """
        weights = edges + self.prior                                                       # (B, 6)
        teacher_logits, teacher_reprs = logits.detach(), reprs.detach()
        gap = (logits[self.targets] - teacher_logits[self.sources]).abs().sum(-1)          # (6, B)
        loss_logit = (gap * weights.t()).mean(1).sum() * self.logit_weight
        student, teacher = reprs[self.targets], teacher_reprs[self.sources]                # (6, B, D)
        if self.repr_metric == "l1":
            loss_repr = ((student - teacher).abs().sum(-1) * weights.t()).mean(1).sum()
        else:
            cos = positive_cosine(student, teacher, dim=-1)                               # (6, B)
            if self.repr_weighting == "batch_mean":
                loss_repr = (cos.mean(1) * weights.mean(0)).sum()
            else:
                loss_repr = (cos * weights.t()).mean(1).sum()
        loss_repr = loss_repr * self.repr_weight
        loss_reg = (edges.mean(0) - self.prior).pow(2).sum() * self.reg_weight
        return loss_logit, loss_repr, loss_reg

    def extra_repr(self) -> str:
        return (f"hidden={self.hidden}, alpha={self.alpha}, edge_norm={self.edge_norm!r}, "
                f"repr_metric={self.repr_metric!r}")

