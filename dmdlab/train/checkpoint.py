"""Atomic files and self-contained checkpoints.

Every file a run writes goes through ``dmdlab.files.atomic_write``: the bytes go to a temporary file
in the same directory, are flushed to disk, and ``os.replace`` swaps it in, so a killed
process leaves either the old file or the new one, never half of one.

A checkpoint is a plain dict that ``torch.load(path, weights_only=True)`` reads: the
state dict, the model config and data spec as plain dicts, and the package version, so
``load_checkpoint(path)`` rebuilds the model from the file alone (nanoGPT's
``model_args``). ``last.pt`` adds what ``--resume`` needs (optimizer, scheduler, RNG
states, early-stopping state, history).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from dmdlab.files import atomic_write

CHECKPOINT_FORMAT = "dmdlab.checkpoint/1"


def _json_safe(value: Any) -> Any:
    """NaN/inf become None (strict JSON); tuples become lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


def write_json(path: str | Path, value: Any) -> Path:
    text = json.dumps(_json_safe(value), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    return atomic_write(path, lambda stream: stream.write(text.encode("utf-8")))


def write_csv(path: str | Path, frame: pd.DataFrame) -> Path:
    text = frame.to_csv(index=False)
    return atomic_write(path, lambda stream: stream.write(text.encode("utf-8")))


def save(path: str | Path, payload: dict) -> Path:
    """``torch.save`` through a temp file (atomic)."""
    return atomic_write(path, lambda stream: torch.save(payload, stream))


def read(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """A checkpoint's dict, loaded with ``weights_only=True`` (no arbitrary code runs)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a dmdlab checkpoint (expected format {CHECKPOINT_FORMAT!r}).")
    return payload


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module under a ``torch.compile`` wrapper (whose state-dict keys carry a prefix)."""
    return getattr(model, "_orig_mod", model)


def model_payload(model: torch.nn.Module, model_config, spec, **extra) -> dict:
    """The part of every checkpoint that rebuilds the model: weights, configs, version."""
    import dmdlab

    return {
        "format": CHECKPOINT_FORMAT,
        "dmdlab_version": dmdlab.__version__,
        "torch_version": str(torch.__version__),
        "model_config": model_config.to_dict(),
        "spec": spec.to_dict(),
        "state_dict": {key: value.detach().cpu().clone() for key, value in unwrap(model).state_dict().items()},
        **({"text_encoder_config": unwrap(model).text_encoder.hf_config()} if unwrap(model).text_encoder else {}),
        **extra,
    }


def build_model(payload: dict):
    """A DMD model (eval mode, CPU) and its DataSpec from a checkpoint dict."""
    from dmdlab.data.spec import DataSpec
    from dmdlab.model import DMD, DMDConfig

    config = DMDConfig.from_dict(payload["model_config"])
    spec = DataSpec.from_dict(payload["spec"])
    model = DMD(config, spec, text_encoder_config=payload.get("text_encoder_config"))  # the fine-tuned encoder
    model.load_state_dict(payload["state_dict"])                                     # comes with the weights
    return model.eval(), spec


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu"):
    """Rebuild ``(model, spec)`` from a checkpoint file alone (``best.pt`` or ``last.pt``)."""
    return build_model(read(path, map_location))
