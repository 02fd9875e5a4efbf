"""Guards of a training run: option values, optimizer steps, finite losses.

Each guard turns an impossible or unsafe setting into one clear line (a ``ValueError``,
which ``python -m dmdlab`` prints without a traceback) before any work is done or any file
is written:

- :func:`check_optimizer_steps`: a protocol that would make no optimizer step in an epoch
  (a train split smaller than batch × accumulation) trains nothing, so it is refused;
- :func:`stop_if_nonfinite`: a non-finite training loss stops the run at the optimizer step
  where it appears, before that step and before any file of the epoch is written, so the
  run folder keeps its last good epoch (``last.pt``) and can be resumed.

What a resumed run may change is decided with every other "is this the same run?" question by
:func:`dmdlab.runs.compare_run`.
"""

from __future__ import annotations

import numpy as np
import torch


class NonFiniteError(ValueError):
    """Training diverged: a loss or a prediction is NaN or infinite."""


# --------------------------------------------------------------------------- steps and losses


def optimizer_steps(train_size: int, batch_size: int, accumulation: int, flush_partial: bool) -> int:
    """Optimizer steps in one epoch of the protocol (an epoch's trailing partial group is dropped unless flushed)."""
    batches = -(-train_size // batch_size)
    return batches // accumulation + int(flush_partial and batches % accumulation != 0)


def check_optimizer_steps(train_size: int, train_config) -> int:
    """The steps per epoch; a ValueError with the numbers when there would be none."""
    steps = optimizer_steps(train_size, train_config.batch_size, train_config.grad_accumulation,
                            train_config.flush_partial_accumulation)
    if steps == 0:
        batches = -(-train_size // train_config.batch_size)
        raise ValueError(
            f"this protocol makes no optimizer step: the train split has {train_size} clips, i.e. {batches} "
            f"batch(es) of {train_config.batch_size}, fewer than the {train_config.grad_accumulation} batches "
            "of one gradient-accumulation group (an epoch's partial group is dropped, as in the official code); "
            "the model would stay untrained. Lower --batch-size or --grad-accumulation.")
    return steps


def stop_if_nonfinite(flag: torch.Tensor, epoch: int, batch: int, accumulation: int) -> None:
    """Raise :class:`NonFiniteError` if ``flag`` (a bool tensor, true once a loss was NaN/inf) is set.

    ``batch`` is the 0-based index of the last batch of the group; one host synchronisation per
    optimizer step.
    """
    if bool(flag):
        step = batch // accumulation + 1
        first = (step - 1) * accumulation + 1
        raise NonFiniteError(
            f"the training loss is not finite (NaN or inf) in epoch {epoch}, optimizer step {step} (batches "
            f"{first}-{batch + 1}); the run stopped before that step and kept its last completed epoch "
            "(last.pt, resumable). A lower --lr or a gradient clip (--clip) usually avoids it.")


def require_finite(predictions: np.ndarray, split: str) -> None:
    """Raise :class:`NonFiniteError` if a split's predictions are not all finite (the weights diverged)."""
    bad = ~np.isfinite(predictions)
    if bad.any():
        raise NonFiniteError(f"the model's predictions on split {split!r} are not finite ({int(bad.sum())} of "
                             f"{bad.size} are NaN or inf): the weights diverged. A lower --lr usually avoids it.")
