"""Running a model over a data split for the views (no gradients, eval mode)."""

from __future__ import annotations

from typing import Iterator

import numpy as np


def model_device(model):
    """The device of the model's first parameter (CPU for a parameter-less module)."""
    import torch

    return next((p.device for p in model.parameters()), torch.device("cpu"))


def forward_batches(model, split, *, indices=None, batch_size: int = 64, return_attention: bool = False) -> Iterator:
    """Yield ``(batch, output)`` over a split (or the given positions of it), in order.

    The model runs in eval mode under ``torch.no_grad`` on its own device; its training
    mode is restored afterwards.
    """
    import torch

    device, mode, was_training = model_device(model), model.config.arch.text_input, model.training
    indices = np.arange(len(split)) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(indices), batch_size):
                batch = split.batch(indices[start:start + batch_size], device=device, text=mode)
                yield batch, model.forward_batch(batch, return_attention=return_attention)
    finally:
        model.train(was_training)
