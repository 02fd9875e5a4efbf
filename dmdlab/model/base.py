"""What every dmdlab model shares, from the inputs to the shallow features X̃_m (paper §3.1).

The text encoder (BERT, when ``arch.text_encoder`` is set), the temporal convolutions C_m,
the padding masks, ``forward_batch`` and ``loss``. ``DMD`` (``dmd.py``) and the one-modality
baseline ``UnimodalModel`` (``unimodal.py``) build on it; ``variants.build_model`` picks one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from dmdlab.data.spec import DataSpec
from dmdlab.model import losses
from dmdlab.model.config import DMDConfig
from dmdlab.model.decoupling import TemporalConv
from dmdlab.model.graph_distill import GDUnit
from dmdlab.model.layers import dropout, length_mask
from dmdlab.model.outputs import DMDOutput, LossBreakdown
from dmdlab.model.text import BertTextEncoder

__all__ = ["SentimentModel", "Padding", "effective_kernels"]


def effective_kernels(kernels: dict[str, int], lengths: dict[str, int]) -> tuple[dict[str, int], list[str]]:
    """The temporal conv kernel of each modality, min(k_m, T_m), and a note for each one shortened.

    The official convolution has no padding, so a kernel longer than the sequence has no
    output step. Utterance-level features (one vector per clip, T = 1) are such data: there
    the kernel shrinks to the sequence length, and with T = 1 the conv is a linear map of
    the clip's vector (T' = 1). For T ≥ k_m (every MMSA file) nothing changes.
    """
    used = {m: min(kernels[m], t) for m, t in lengths.items()}
    notes = [f"kernel_{m}={kernels[m]} is longer than T_{m.upper()}={t}: its temporal conv uses kernel {used[m]} "
             f"(T'_{m.upper()}={t - used[m] + 1}{', a linear map of the one vector' if t == 1 else ''})"
             for m, t in lengths.items() if used[m] < kernels[m]]
    return used, notes


@dataclass
class Padding:
    """Where each modality's sequence is valid, after the temporal conv."""

    key_valid: dict[str, Tensor | None]    # (B, T'_m) bool of non-padded steps, None: all valid
    read_at: dict[str, Tensor]             # (B,) long: the step each transformer of m is read at
    lengths: dict[str, Tensor] | None      # (B,) valid lengths, when padding masks are on (DMDOutput.lengths)


class SentimentModel(nn.Module):
    """Inputs → X̃_m (B, T'_m, d) for ``modalities``; subclasses add what follows (``head``).

    Widths d_m and lengths T_m come from ``spec`` (with a BERT text encoder, d_L is its
    hidden size); T'_m = T_m − k_m + 1 fixes the sizes of the flattening heads, so inputs
    must have the spec's lengths. A kernel longer than its sequence (utterance-level
    features, T = 1) shrinks to it (``effective_kernels``): ``self.kernels`` holds the kernels
    used, ``self.notes`` says which were shortened.
    """

    def __init__(self, config: DMDConfig, spec: DataSpec, modalities: tuple[str, ...], *,
                 text_encoder_config: dict | None = None) -> None:
        """``text_encoder_config``: the saved transformers config of the text encoder (a checkpoint's),
        which then starts from fresh weights instead of reading ``arch.text_encoder``."""
        super().__init__()
        self.config, self.spec, self.modalities = config, spec, modalities
        arch = config.arch
        absent = [m for m in modalities if m != "l" and spec.lengths[m] is None]
        if absent:
            names = " and ".join({"v": "vision", "a": "audio"}[m] for m in absent)
            raise ValueError(f"The data has no {names} (a text-only file), but variant {config.variant!r} reads "
                             f"{', '.join(m.upper() for m in modalities)}: train the text-only variant "
                             f"unimodal_l on it, or build the file with vision and audio (data build --features).")
        self.text_encoder = None
        text_dim = spec.text_dim
        if arch.text_encoder is not None and "l" in modalities:
            if not spec.has_text_bert:
                raise ValueError(f"The text encoder {arch.text_encoder!r} reads `text_bert` (BERT token ids), but "
                                 "the data has none (has_text_bert=False): add it with python -m dmdlab data build "
                                 "(or data synth --tokenizer), or train on the pre-extracted `text` features "
                                 "without a text encoder.")
            self.text_encoder = BertTextEncoder(arch.text_encoder, finetune=arch.finetune_text,
                                                hf_config=text_encoder_config)
            self.text_encoder.check_ids(spec.text_max_id)
            text_dim = self.text_encoder.hidden_size
        elif text_dim is None and "l" in modalities:
            raise ValueError("The DataSpec has no text features (text_dim=None): set ArchConfig.text_encoder to a "
                             "local BERT path to read `text_bert`. Got text_encoder=None.")
        dims = {"l": text_dim, "v": spec.vision_dim, "a": spec.audio_dim}
        self.kernels, self.notes = effective_kernels(arch.kernels, {m: spec.lengths[m] for m in modalities})
        self.lengths = {m: spec.lengths[m] - self.kernels[m] + 1 for m in modalities}       # T'_m
        self.temporal = nn.ModuleDict({m: TemporalConv(dims[m], arch.d, self.kernels[m]) for m in modalities})

    def forward(self, text: Tensor | None, vision: Tensor | None, audio: Tensor | None, *,
                text_lengths: Tensor | None = None, vision_lengths: Tensor | None = None,
                audio_lengths: Tensor | None = None, return_attention: bool = False) -> DMDOutput:
        """text (B, T_L, d_L) features or (B, 3, T_L) int64 BERT inputs; vision (B, T_V, d_V);
        audio (B, T_A, d_A); inputs of modalities the model does not read may be None. Lengths
        (B,) are used only with ``arch.padding_masks``.

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
        padding = self._padding(shallow, lengths)
        if padding.lengths is not None:   # padded steps carry nothing on (every later map of them is bias-free)
            shallow = {m: x if padding.key_valid[m] is None else x * padding.key_valid[m].unsqueeze(-1).to(x.dtype)
                       for m, x in shallow.items()}
        return self.head(shallow, padding, return_attention=return_attention)

    def head(self, shallow: dict[str, Tensor], padding: Padding, *, return_attention: bool = False) -> DMDOutput:
        """Everything after X̃_m (B, T'_m, d): the subclass's model."""
        raise NotImplementedError

    def forward_batch(self, batch, *, return_attention: bool = False) -> DMDOutput:
        """``forward`` on a ``dmdlab.data.Batch`` (its features and lengths)."""
        return self(batch.text, batch.vision, batch.audio, vision_lengths=batch.vision_lengths,
                    audio_lengths=batch.audio_lengths, return_attention=return_attention)

    def gd_units(self) -> dict[str, GDUnit]:
        """The GD-units that are on, by space ('homo', 'hetero'); none here."""
        return {}

    def loss(self, output: DMDOutput, labels: Tensor, *, detailed: bool = False) -> LossBreakdown:
        """Every loss of this model (``losses.total_loss``): unweighted in ``terms``, weighted in ``total``."""
        return losses.total_loss(output, labels, self.config.loss, self.gd_units(), detailed=detailed)

    def _padding(self, shallow: dict[str, Tensor], lengths: dict[str, Tensor | None]) -> Padding:
        """Key-validity masks (B, T') and read-out steps (B,): the last step, or with padding masks
        and lengths the last valid one."""
        key_valid: dict[str, Tensor | None] = {m: None for m in shallow}
        read_at = {m: torch.full((x.shape[0],), x.shape[1] - 1, dtype=torch.long, device=x.device)
                   for m, x in shallow.items()}
        valid_lengths: dict[str, Tensor] = {}
        if not self.config.arch.padding_masks:
            return Padding(key_valid, read_at, None)
        for m, x in shallow.items():
            if lengths.get(m) is None:
                continue
            t = x.shape[1]
            valid = (lengths[m].to(x.device).long() - self.kernels[m] + 1).clamp(1, t)   # (B,)
            valid_lengths[m] = valid
            key_valid[m] = length_mask(valid, t)                                                    # (B, T')
            read_at[m] = valid - 1
        return Padding(key_valid, read_at, valid_lengths or None)
