"""The DMD model assembled (Li et al., CVPR 2023, §3, as the official code computes it).

    text, vision, audio
      → temporal convs C_m                        X̃_m            (decoupling.TemporalConv)
      → feature decoupling E_com, E^prt_m, D_m     X^com_m, X^prt_m (decoupling.FeatureDecoupling)
      → HomoGD branch on X^com_m                  homo logits/reprs, c_fusion, logit_c (homo)
      → HeteroGD branch on X^prt_m                cross-modal + memory transformers → h_m (hetero)
      → gated fusion                               prediction      (fusion)
      → GD-units on both spaces                    edges           (graph_distill)

``DMD.loss`` adds the task, reconstruction, cycle, orthogonality, margin and GD losses with
the official weights. Structural switches (``ArchConfig.decoupling``, ``homo_branch``,
``cross_attention``, ``hetero_heads``, ``unimodal``; ``GDConfig.homo`` / ``hetero``) give the
ablations of ``dmdlab.model.variants``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dmdlab.data.spec import DataSpec
from dmdlab.modalities import MODALITIES
from dmdlab.model.config import DMDConfig
from dmdlab.model.decoupling import FeatureDecoupling, TemporalConv
from dmdlab.model.fusion import GatedFusion
from dmdlab.model.graph_distill import GDUnit
from dmdlab.model.hetero import HeteroBranch
from dmdlab.model.homo import HomoBranch
from dmdlab.model.layers import ResidualHead, dropout, length_mask
from dmdlab.model.losses import margin_loss, masked_mse, orthogonality_loss
from dmdlab.model.outputs import DecoupledOutput, DMDOutput, EdgesOutput, LossBreakdown
from dmdlab.model.text import BertTextEncoder
from dmdlab.model.transformer import TransformerStack

__all__ = ["DMD"]


def _conv_layout(features: dict[str, Tensor]) -> dict[str, Tensor]:
    """(B, T', d) → (B, d, T') views."""
    return {m: x.transpose(1, 2) for m, x in features.items()}


class DMD(nn.Module):
    """Decoupled Multimodal Distilling: ``DMD(config, spec)``; holds both GD-units.

    Widths d_m and lengths T_m come from ``spec`` (with a BERT text encoder, d_L is its hidden
    size); T'_m = T_m − k_m + 1 fixes the sizes of the flattening heads, so inputs must have
    the spec's lengths.
    """

    def __init__(self, config: DMDConfig, spec: DataSpec, *, text_encoder_config: dict | None = None) -> None:
        """``text_encoder_config``: the saved transformers config of the text encoder (a checkpoint's),
        which then starts from fresh weights instead of reading ``arch.text_encoder``."""
        super().__init__()
        self.config, self.spec = config, spec
        arch, gd = config.arch, config.gd
        d = arch.d
        self.modalities = (arch.unimodal,) if arch.unimodal else MODALITIES
        absent = [m for m in self.modalities if m != "l" and spec.lengths[m] is None]
        if absent:
            names = " and ".join({"v": "vision", "a": "audio"}[m] for m in absent)
            raise ValueError(f"The data has no {names} (a text-only file), but variant {config.variant!r} reads "
                             f"{', '.join(m.upper() for m in self.modalities)}: train the text-only variant "
                             f"unimodal_l on it, or build the file with vision and audio (data build --features).")
        self.text_encoder = None
        text_dim = spec.text_dim
        if arch.text_encoder is not None and "l" in self.modalities:
            if not spec.has_text_bert:
                raise ValueError(f"The text encoder {arch.text_encoder!r} reads `text_bert` (BERT token ids), but "
                                 "the data has none (has_text_bert=False): add it with python -m dmdlab data build "
                                 "(or data synth --tokenizer), or train on the pre-extracted `text` features "
                                 "without a text encoder.")
            self.text_encoder = BertTextEncoder(arch.text_encoder, finetune=arch.finetune_text,
                                                hf_config=text_encoder_config)
            self.text_encoder.check_ids(spec.text_max_id)
            text_dim = self.text_encoder.hidden_size
        elif text_dim is None and "l" in self.modalities:
            raise ValueError("The DataSpec has no text features (text_dim=None): set ArchConfig.text_encoder to a "
                             "local BERT path to read `text_bert`. Got text_encoder=None.")
        dims = {"l": text_dim, "v": spec.vision_dim, "a": spec.audio_dim}
        self.lengths: dict[str, int] = {}
        for m in self.modalities:
            t = spec.lengths[m] - arch.kernels[m] + 1
            if t < 1:
                raise ValueError(f"The 'kernel_{m}' parameter of ArchConfig must be at most the sequence length "
                                 f"T_{m.upper()}={spec.lengths[m]}. Got {arch.kernels[m]}.")
            self.lengths[m] = t
        self.temporal = nn.ModuleDict({m: TemporalConv(dims[m], d, arch.kernels[m]) for m in self.modalities})

        self.decoupling = self.homo = self.hetero = self.fusion = self.gd_homo = self.gd_hetero = None
        self.unimodal_encoder = self.unimodal_head = None
        if arch.unimodal:
            m = arch.unimodal
            self.unimodal_encoder = TransformerStack.from_arch(arch, {m: arch.attn_dropout_for(m)}, d, arch.nlevels)
            self.unimodal_head = ResidualHead(d, d, arch.output_dropout)
            return
        if arch.decoupling:
            self.decoupling = FeatureDecoupling(d, self.lengths)
        if arch.homo_branch:
            self.homo = HomoBranch(arch, self.lengths)
        self.hetero = HeteroBranch(arch)
        self.fusion = GatedFusion(d, arch.homo_branch, arch.output_dropout)
        gd_kwargs = dict(temperature=gd.prior_temperature, alpha=gd.alpha, edge_norm=gd.edge_norm,
                         repr_weighting=gd.repr_weighting, reg_weight=gd.reg_weight, logit_weight=gd.logit_weight,
                         repr_weight=gd.repr_weight)
        if gd.homo:
            self.gd_homo = GDUnit(d, gd.homo_hidden, gd.prior_homo, repr_metric=gd.homo_repr_metric, **gd_kwargs)
        if gd.hetero:
            self.gd_hetero = GDUnit(2 * d, gd.hetero_hidden, gd.prior_hetero, repr_metric=gd.hetero_repr_metric,
                                    **gd_kwargs)

    # ------------------------------------------------------------------ forward
    def _padding(self, shallow: dict[str, Tensor], lengths: dict[str, Tensor | None]):
        """Key-validity masks (B, T') and read-out steps (B,): the last step, or with padding masks
        and lengths the last valid one."""
        key_valid: dict[str, Tensor | None] = {m: None for m in shallow}
        read_at = {m: torch.full((x.shape[0],), x.shape[1] - 1, dtype=torch.long, device=x.device)
                   for m, x in shallow.items()}
        valid_lengths: dict[str, Tensor] = {}
        if not self.config.arch.padding_masks:
            return key_valid, read_at, None
        for m, x in shallow.items():
            if lengths.get(m) is None:
                continue
            t = x.shape[1]
            valid = (lengths[m].to(x.device).long() - self.config.arch.kernels[m] + 1).clamp(1, t)   # (B,)
            valid_lengths[m] = valid
            key_valid[m] = length_mask(valid, t)                                                    # (B, T')
            read_at[m] = valid - 1
        return key_valid, read_at, valid_lengths or None

    def forward(self, text: Tensor | None, vision: Tensor | None, audio: Tensor | None, *,
                text_lengths: Tensor | None = None, vision_lengths: Tensor | None = None,
                audio_lengths: Tensor | None = None, return_attention: bool = False) -> DMDOutput:
        """text (B, T_L, d_L) features or (B, 3, T_L) int64 BERT inputs; vision (B, T_V, d_V);
        audio (B, T_A, d_A). Lengths (B,) are used only with ``arch.padding_masks``.

        return_attention: also return every cross-modal attention map,
        "a->l" → (layers, B, heads, T'_l, T'_a).
        """
        arch = self.config.arch
        inputs = {"l": text, "v": vision, "a": audio}
        lengths = {"l": text_lengths, "v": vision_lengths, "a": audio_lengths}
        if "l" in self.modalities:
            if self.text_encoder is not None:
                if lengths["l"] is None and arch.padding_masks:
                    lengths["l"] = text[:, 1].sum(-1)
                inputs["l"] = self.text_encoder(text, trim=arch.padding_masks)            # (B, T_L, hidden)
            inputs["l"] = dropout(inputs["l"], arch.text_dropout, self.training)
        shallow = {m: self.temporal[m](inputs[m]) for m in self.modalities}               # X̃_m (B, T'_m, d)
        key_valid, read_at, valid_lengths = self._padding(shallow, lengths)
        if valid_lengths is not None:   # padded steps carry nothing on (every later map of them is bias-free)
            shallow = {m: x if key_valid[m] is None else x * key_valid[m].unsqueeze(-1).to(x.dtype)
                       for m, x in shallow.items()}

        if arch.unimodal:
            m = arch.unimodal
            h, _ = self.unimodal_encoder(shallow, key_valid=key_valid, read_at=read_at)
            prediction, _, _ = self.unimodal_head(h[m])                                    # (B, d) → (B, 1)
            return DMDOutput(prediction=prediction, decoupled=DecoupledOutput(shallow=_conv_layout(shallow)),
                             lengths=valid_lengths)

        if self.decoupling is not None:
            parts = {m: self.decoupling(m, shallow[m]) for m in MODALITIES}
            shared = {m: parts[m]["shared"] for m in MODALITIES}                         # X^com_m (B, T', d)
            private = {m: parts[m]["private"] for m in MODALITIES}                       # X^prt_m (B, T', d)
            decoupled = DecoupledOutput(
                shallow=_conv_layout(shallow), shared=_conv_layout(shared), private=_conv_layout(private),
                reconstruction=_conv_layout({m: parts[m]["reconstruction"] for m in MODALITIES}),
                private_recon=_conv_layout({m: parts[m]["private_recon"] for m in MODALITIES}),
                aligned={m: parts[m]["aligned"] for m in MODALITIES},
                private_proj={m: parts[m]["private_proj"] for m in MODALITIES})
        else:  # w/o FD: both spaces see the shallow features
            shared = private = shallow
            decoupled = DecoupledOutput(shallow=_conv_layout(shallow))

        homo = self.homo(shared, key_valid, read_at) if self.homo is not None else None
        hetero, attention = self.hetero(private, key_valid, read_at, need_weights=return_attention)
        prediction = self.fusion(hetero.features, homo.fusion if homo is not None else None)   # (B, 1)

        edges = None
        if self.gd_homo is not None or self.gd_hetero is not None:
            edges = EdgesOutput()
            if self.gd_homo is not None:
                edges.homo, edges.raw_homo = self.gd_homo(*self._stack(homo.logits, homo.reprs))
            if self.gd_hetero is not None:
                edges.hetero, edges.raw_hetero = self.gd_hetero(*self._stack(hetero.logits, hetero.reprs))
        return DMDOutput(prediction=prediction, decoupled=decoupled, homo=homo, hetero=hetero, edges=edges,
                         attention=attention, lengths=valid_lengths)

    @staticmethod
    def _stack(logits: dict[str, Tensor], reprs: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """(3, B, 1) logits and (3, B, D) reprs in MODALITIES order, the GD-unit input."""
        return torch.stack([logits[m] for m in MODALITIES]), torch.stack([reprs[m] for m in MODALITIES])

    # ------------------------------------------------------------------ losses
    def loss(self, output: DMDOutput, labels: Tensor, *, detailed: bool = False) -> LossBreakdown:
        """All losses of the paper (§3) for this variant, unweighted in ``terms``, weighted in ``total``.

        total = task + w_homo_gd·(logit_homo + reg_homo [+ repr_homo]) + w_hetero_gd·(logit_hetero
        + repr_hetero + reg_hetero) + w_decoupling·(cycle + recon + w_align·(margin + ort)).
        detailed=True also returns the per-prediction and per-modality parts with the
        official names (task_all, task_l_homo, ..., recon_l, cycle_l, ort_l, ...).
        """
        cfg = self.config.loss
        y = labels.reshape(-1, 1).to(output.prediction.dtype)                              # (B, 1)
        terms: OrderedDict[str, Tensor] = OrderedDict()
        parts: OrderedDict[str, Tensor] = OrderedDict()
        predictions = {"all": output.prediction}
        if cfg.auxiliary_task:
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
            steps = {m: output.step_mask(m) for m in MODALITIES}                           # (B, T') or None
            for m in MODALITIES:
                parts[f"recon_{m}"] = masked_mse(dec.reconstruction[m], dec.shallow[m], steps[m])
            for m in MODALITIES:
                parts[f"cycle_{m}"] = masked_mse(dec.private[m], dec.private_recon[m], steps[m])
            for m in MODALITIES:
                parts[f"ort_{m}"] = orthogonality_loss(dec.private[m], dec.shared[m], cfg.ort_axis, steps[m])
            for name in ("recon", "cycle", "ort"):
                terms[name] = sum(parts[f"{name}_{m}"] for m in MODALITIES)
            features = torch.stack([dec.aligned[m] for m in MODALITIES], dim=1)           # (B, 3, d)
            terms["margin"] = margin_loss(features.reshape(-1, features.shape[-1]), y.repeat_interleave(3),
                                          cfg.margin, cfg.margin_mode)
            total = total + cfg.w_decoupling * (terms["cycle"] + terms["recon"]
                                                + cfg.w_align * (terms["margin"] + terms["ort"]))

        if self.gd_homo is not None and output.edges is not None and output.edges.homo is not None:
            logit, repr_, reg = self.gd_homo.losses(*self._stack(output.homo.logits, output.homo.reprs),
                                                    output.edges.homo)
            terms["logit_homo"], terms["repr_homo"], terms["reg_homo"] = logit, repr_, reg
            total = total + cfg.w_homo_gd * (logit + reg + (repr_ if cfg.homo_repr_loss else 0.0))
        if self.gd_hetero is not None and output.edges is not None and output.edges.hetero is not None:
            logit, repr_, reg = self.gd_hetero.losses(*self._stack(output.hetero.logits, output.hetero.reprs),
                                                      output.edges.hetero)
            terms["logit_hetero"], terms["repr_hetero"], terms["reg_hetero"] = logit, repr_, reg
            total = total + cfg.w_hetero_gd * (logit + repr_ + reg)
        if detailed:
            terms.update(parts)
        return LossBreakdown(total=total, terms=terms)
