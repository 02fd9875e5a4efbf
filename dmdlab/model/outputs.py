"""What ``DMD.forward`` and ``DMD.loss`` return: typed dataclasses grouped by stage.

Modalities are keyed 'l', 'v', 'a' (``dmdlab.modalities.MODALITIES``); edges are (B, 6) in
``EDGES`` order (V→L, A→L, L→V, A→V, L→A, V→A). A field that a variant does not compute
is None (e.g. ``homo`` for MulT, ``edges.homo`` without HomoGD).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import Tensor

from dmdlab.modalities import EDGE_CELLS, EDGE_LABELS, MODALITIES
from dmdlab.model.layers import length_mask

__all__ = ["DecoupledOutput", "HomoOutput", "HeteroOutput", "EdgesOutput", "DMDOutput", "LossBreakdown", "gd_nodes"]

PerModality = dict[str, Tensor]


def gd_nodes(branch: "HomoOutput | HeteroOutput") -> tuple[Tensor, Tensor]:
    """A branch's (3, B, 1) logits and (3, B, D) representations in MODALITIES order: a GD-unit's nodes."""
    return (torch.stack([branch.logits[m] for m in MODALITIES]),
            torch.stack([branch.reprs[m] for m in MODALITIES]))


@dataclass
class DecoupledOutput:
    """Feature decoupling (§2). Conv-layout tensors are (B, d, T'_m)."""

    shallow: PerModality                   # X̃_m: temporal conv output (official origin_m)
    shared: PerModality | None = None      # X^com_m = E_com(X̃_m) (official c_m, time-first there)
    private: PerModality | None = None     # X^prt_m = E^prt_m(X̃_m) (official s_m)
    reconstruction: PerModality | None = None  # X̂_m = D_m([X^prt_m; X^com_m]) (official recon_m)
    private_recon: PerModality | None = None   # E^prt_m(X̂_m), self-regression (official s_m_r)
    aligned: PerModality | None = None     # (B, d) alignment projection of X^com_m, margin-loss input (c_m_sim)
    private_proj: PerModality | None = None  # (B, d) official proj_s_m (proj_cosine_m): used by no loss


@dataclass
class HomoOutput:
    """HomoGD branch (§3 step 3): the shared space."""

    logits: PerModality                    # (B, 1) per-modality homo logits
    reprs: PerModality                     # (B, d) GD representations, relu(r) (official in-place ReLU)
    fusion: Tensor                         # (B, 3d) c_fusion: last self-attention step of L, V, A concatenated
    fusion_logit: Tensor                   # (B, 1) auxiliary logit_c


@dataclass
class HeteroOutput:
    """HeteroGD branch (§3 step 4): the private space after cross-modal attention."""

    features: PerModality                  # (B, 2d) h_m, last memory-transformer step, before the gate
    logits: PerModality | None = None      # (B, 1) hetero logits (None without per-modality heads)
    reprs: PerModality | None = None       # (B, 2d) head residual outputs, GD representations


@dataclass
class EdgesOutput:
    """GD-unit edge weights per sample, (B, 6) in EDGES order; raw_* are the logits before the softmax."""

    homo: Tensor | None = None
    hetero: Tensor | None = None
    raw_homo: Tensor | None = None
    raw_hetero: Tensor | None = None

    labels = EDGE_LABELS                   # "V→L", ... matching the six columns

    def get(self, space: str) -> Tensor:
        if space not in ("homo", "hetero"):
            raise ValueError(f"The 'space' parameter must be 'homo' or 'hetero'. Got {space!r}.")
        edges = getattr(self, space)
        if edges is None:
            raise ValueError(f"The {space} GD-unit is switched off in this model: no {space} edges.")
        return edges

    def matrix(self, space: str) -> Tensor:
        """(B, 3, 3) with [b, i, j] = weight of edge MODALITIES[i] → MODALITIES[j]; diagonal 0."""
        edges = self.get(space)
        out = edges.new_zeros(edges.shape[0], len(MODALITIES) * len(MODALITIES))
        out[:, _EDGE_FLAT_INDEX.to(edges.device)] = edges
        return out.view(-1, len(MODALITIES), len(MODALITIES))

    def to_frame(self, space: str, ids=None):
        """pandas DataFrame, one row per sample, columns EDGE_LABELS ("V→L", ...)."""
        import pandas as pd

        edges = self.get(space).detach().cpu().numpy()
        return pd.DataFrame(edges, columns=list(EDGE_LABELS), index=ids)


_EDGE_FLAT_INDEX = torch.tensor([i * len(MODALITIES) + j for i, j in EDGE_CELLS])   # (6,) cells of the flat 3 × 3


@dataclass
class DMDOutput:
    """Everything one forward pass computes, grouped by stage."""

    prediction: Tensor                     # (B, 1) the model's sentiment prediction
    decoupled: DecoupledOutput             # shallow / shared / private features and reconstructions
    homo: HomoOutput | None = None         # HomoGD branch (None when off)
    hetero: HeteroOutput | None = None     # HeteroGD branch (None for unimodal models)
    edges: EdgesOutput | None = None       # GD edges (None when both units are off)
    attention: dict[str, Tensor] | None = None  # "a->l" → (layers, B, heads, T_q, T_k), only on request
    lengths: PerModality | None = None     # (B,) valid lengths after the conv, when padding masks are on

    def step_mask(self, m: str) -> Tensor | None:
        """(B, T'_m) bool, True at modality m's valid steps; None without padding masks or lengths."""
        if self.lengths is None or self.lengths.get(m) is None:
            return None
        return length_mask(self.lengths[m], self.decoupled.shallow[m].shape[-1])


@dataclass
class LossBreakdown:
    """``total`` (0-dim) and the named terms it was built from (0-dim each, unweighted)."""

    total: Tensor
    terms: "OrderedDict[str, Tensor]"

    def as_floats(self) -> dict[str, float]:
        """{'total': ..., term: ...} as Python floats (for logging)."""
        return {"total": float(self.total.detach()), **{k: float(v.detach()) for k, v in self.terms.items()}}
