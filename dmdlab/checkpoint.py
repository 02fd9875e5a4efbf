"""Atomic files and self-contained checkpoints.

Every file a run writes goes through ``dmdlab.files.atomic_write``: the bytes go to a temporary file
in the same directory, are flushed to disk, and ``os.replace`` swaps it in, so a killed
process leaves either the old file or the new one, never half of one.

A checkpoint is a plain dict that ``torch.load(path, weights_only=True)`` reads: the
state dict, the model config and data spec as plain dicts, and the package version, so
``load_checkpoint(path)`` rebuilds the model from the file alone (nanoGPT's
``model_args``). ``last.pt`` adds what ``--resume`` needs (optimizer, scheduler, RNG
states, early-stopping state, history).

A checkpoint is a stranger's file too. ``read`` turns every loading failure into one
:class:`CheckpointError` line naming the file (``weights_only`` is never turned off), and
``model_from_payload`` checks the configs before any weight is allocated: every size in the model
config and the data spec is bounded (``MAX_SIZES``), a BERT text encoder is rebuilt from the
config the checkpoint stores alone (transformers' own classes, sizes within
``dmdlab.model.text.ENCODER_BOUNDS``, no key naming code; never from a folder the checkpoint
names), the model is first built on the
``meta`` device (no memory) and its parameter names and shapes must equal the stored
tensors', which must be dense and together no larger than the file. So rebuilding a model
never takes more memory than the checkpoint's own weights.
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

MAX_SIZES = {"model": 8192, "arch.nlevels": 64, "spec": 100_000}
"""Bounds on the sizes a checkpoint may ask for: any int of the model config (widths, heads,
kernels, hidden sizes), layers per transformer, and the data spec's widths and lengths."""


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, or whose contents are malformed or out of bounds."""


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
    """A checkpoint's dict, loaded with ``weights_only=True`` (no arbitrary code runs).

    Raises:
        CheckpointError: the file cannot be read, is not a torch checkpoint, asks for an object
            that is not plain data, or is not a dmdlab checkpoint; one line naming the file.
        FileNotFoundError: no such file.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with open_regular(path) as stream:
            payload = torch.load(stream, map_location=map_location, weights_only=True)
    except CheckpointError:
        raise
    except Exception as error:  # noqa: BLE001 -- any failure of a stranger's file is one clear line
        raise CheckpointError(f"{path}: not a readable checkpoint ({_reason(error)}); the file may be truncated, "
                              "corrupt or not made by dmdlab") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a dmdlab checkpoint (expected a dict with format {CHECKPOINT_FORMAT!r}).")
    for key, kind in (("model_config", dict), ("spec", dict), ("state_dict", dict)):
        if not isinstance(payload.get(key), kind):
            raise CheckpointError(f"{path}: key {key!r}: expected a {kind.__name__}, found "
                                  f"{type(payload.get(key)).__name__}")
    payload["source"] = str(path)
    return payload


def open_regular(path: Path):
    """``path`` opened for reading without following a link; a FIFO, device or folder is refused (never waited on)."""
    import os

    from dmdlab.files import open_no_follow

    try:
        return os.fdopen(open_no_follow(path, what="checkpoint"), "rb")
    except ValueError as error:
        raise CheckpointError(str(error)) from None
    except OSError as error:
        raise CheckpointError(f"{path}: cannot be opened ({error.strerror})") from None


def _reason(error: Exception) -> str:
    """The useful part of a torch.load error, without its advice to disable ``weights_only``."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if line.startswith("WeightsUnpickler error:"):
            return line
    first = lines[0] if lines else ""
    if "weights_only" in first or len(first) > 200:
        return type(error).__name__
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def _check_sizes(payload: dict, where: str) -> None:
    """Every int of the model config and spec within ``MAX_SIZES`` (before anything is built)."""
    def walk(node, prefix):
        for key, value in node.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict):
                yield from walk(value, f"{name}.")
            elif isinstance(value, int) and not isinstance(value, bool):
                yield name, value
    for section, values in (("model", payload["model_config"]), ("spec", payload["spec"])):
        for name, value in walk(values, ""):
            bound = MAX_SIZES.get(name, MAX_SIZES[section])
            if value > bound:
                raise CheckpointError(f"{where}: {section} config {name} = {value} is above the bound {bound} "
                                      "that dmdlab admits; the checkpoint may be crafted")


def check_weights(model: torch.nn.Module, state_dict: dict, where: str) -> None:
    """The stored tensors: dense, the names and shapes of ``model`` (built on 'meta'), no larger than the file."""
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    stored = {}
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor) or value.layout != torch.strided or not value.is_contiguous():
            raise CheckpointError(f"{where}: state_dict {key!r}: expected a dense tensor, found "
                                  f"{type(value).__name__}")
        stored[key] = tuple(value.shape)
    if stored != expected:
        missing, extra = sorted(set(expected) - set(stored)), sorted(set(stored) - set(expected))
        shapes = [f"{k}: {stored[k]} stored, {expected[k]} expected" for k in sorted(set(stored) & set(expected))
                  if stored[k] != expected[k]]
        raise CheckpointError(f"{where}: the weights do not match the model its configs describe (missing "
                              f"{missing[:3]}, unexpected {extra[:3]}, shapes {shapes[:3]})")
    size = sum(value.numel() * value.element_size() for value in state_dict.values())
    file_size = Path(where).stat().st_size if Path(where).is_file() else None
    if file_size is not None and size > file_size:
        raise CheckpointError(f"{where}: the weights claim {size} bytes, more than the file's {file_size}")


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


def model_from_payload(payload: dict):
    """The model (eval mode, CPU) and its DataSpec from a checkpoint dict, checked first (module docstring)."""
    from dmdlab.data.spec import DataSpec
    from dmdlab.model import DMDConfig, build_model

    where = payload.get("source", "checkpoint")
    _check_sizes(payload, where)
    encoder = payload.get("text_encoder_config")  # a BERT encoder comes with its config and fine-tuned weights
    try:
        config = DMDConfig.from_dict(payload["model_config"])
        spec = DataSpec.from_dict(payload["spec"])
        if config.arch.text_encoder is not None and encoder is None:
            raise ValueError(f"arch.text_encoder names {str(config.arch.text_encoder)[:80]!r} but no "
                             "text_encoder_config is stored; a checkpoint's encoder is rebuilt from its stored config "
                             "alone, never loaded from a folder it names")
        with torch.device("meta"):   # sizes only, no memory
            shapes = build_model(config, spec, text_encoder_config=encoder)
    except (ValueError, TypeError, KeyError) as error:
        raise CheckpointError(f"{where}: invalid configs ({error})") from None
    check_weights(shapes, payload["state_dict"], where)
    model = build_model(config, spec, text_encoder_config=encoder)
    check_weights(model, payload["state_dict"], where)
    model.load_state_dict(payload["state_dict"])
    return model.eval(), spec


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu"):
    """Rebuild ``(model, spec)`` from a checkpoint file alone (``best.pt`` or ``last.pt``)."""
    return model_from_payload(read(path, map_location))
