"""TrainConfig: the training protocol, the official one (the official code's configuration) by default.

Architecture and loss weights live in ``dmdlab.model.DMDConfig``; this object holds only
how the model is optimised, selected and evaluated, and where it runs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

DEFAULT_SEEDS: tuple[int, ...] = (1111, 1112, 1113, 1114, 1115)
"""The paper's seeds."""

_DEVICES = ("auto", "cpu", "cuda", "mps")
_PRECISIONS = ("auto", "fp32", "bf16")
_PLATEAU_ON = ("l1", "total")


@dataclass(frozen=True)
class TrainConfig:
    """How a DMD model is trained. Defaults are the official protocol (the official code's configuration)."""

    # optimisation
    lr: float = 1e-4                        # Adam learning rate for all parameters (BERT included)
    text_lr: float | None = None            # Adam learning rate of a BERT text encoder; None: lr, as officially
    weight_decay: float = 0.0               # Adam L2 weight decay; the official config's value is ignored by its code, so 0
    batch_size: int = 16                    # training batch size
    grad_accumulation: int = 10             # optimizer step every this many batches (gradients summed, not averaged)
    flush_partial_accumulation: bool = False  # step on an epoch's trailing partial group; the official code drops it
    grad_clip_value: float | None = 0.6     # clip each gradient value to [-v, v] after every backward; None: off
    # schedule and selection
    plateau_factor: float = 0.5             # ReduceLROnPlateau: multiply the lr by this ...
    plateau_patience: int = 5               # ... after this many epochs without a lower validation loss
    plateau_on: str = "l1"                  # validation loss the scheduler watches: "l1" of the prediction (official) or the "total" objective
    selection_metric: str = "MAE"           # validation metric that picks the best epoch (MAE: lower is better)
    early_stop_patience: int | None = 10    # stop after this many epochs without a better selection metric; None: never
    max_epochs: int = 100                   # hard cap on epochs (the official loop has none; it relies on early stopping)
    # evaluation
    eval_batch_size: int = 64               # validation/test batch size (the margin loss's memory grows as (3B)^3)
    eval_test_each_epoch: bool = True       # also score the test split every epoch (history curves only; selection never sees it)
    # reproducibility and hardware
    seed: int = 1111                        # seeds torch, numpy, random and the shuffling generator
    device: str = "auto"                    # "auto" (CUDA, then MPS, then CPU) or a torch device name ("cpu", "cuda:1", "mps")
    precision: str = "auto"                 # "auto" (bf16 autocast on CUDA, fp32 elsewhere), "fp32" or "bf16"
    num_threads: int | None = None          # torch.set_num_threads for CPU runs; None leaves torch's default
    compile: bool = False                   # wrap the model in torch.compile (an option; measured in docs/training.md)
    deterministic: bool = False             # torch.use_deterministic_algorithms (needed for bitwise repeats on CUDA)
    # output
    save_every_epoch: bool = True           # write last.pt after each epoch (what --resume continues from)
    progress: bool = True                   # tqdm.auto progress bars

    def __post_init__(self) -> None:
        def fail(field: str, constraint: str) -> None:
            raise ValueError(f"The {field!r} parameter of TrainConfig must {constraint}. Got {getattr(self, field)!r}.")

        for field in ("lr", "plateau_factor"):
            if not 0 < getattr(self, field) < math.inf:
                fail(field, "be a finite number > 0")
        if self.text_lr is not None and not 0 < self.text_lr < math.inf:
            fail("text_lr", "be a finite number > 0 or None")
        if not self.plateau_factor < 1:
            fail("plateau_factor", "be < 1")
        if not 0 <= self.weight_decay < math.inf:
            fail("weight_decay", "be a finite number >= 0")
        for field in ("batch_size", "grad_accumulation", "max_epochs", "eval_batch_size"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                fail(field, "be a positive int")
        if not isinstance(self.plateau_patience, int) or self.plateau_patience < 0:
            fail("plateau_patience", "be an int >= 0")
        if self.early_stop_patience is not None and self.early_stop_patience < 1:
            fail("early_stop_patience", "be a positive int or None")
        if self.grad_clip_value is not None and not 0 < self.grad_clip_value < math.inf:
            fail("grad_clip_value", "be a finite number > 0, or None")
        if self.device.split(":")[0] not in _DEVICES:
            fail("device", f"be one of {_DEVICES} (optionally with ':index')")
        if self.precision not in _PRECISIONS:
            fail("precision", f"be one of {_PRECISIONS}")
        if self.plateau_on not in _PLATEAU_ON:
            fail("plateau_on", f"be one of {_PLATEAU_ON}")
        if self.num_threads is not None and self.num_threads < 1:
            fail("num_threads", "be a positive int or None")
        from dmdlab.metrics import METRIC_NAMES

        if self.selection_metric not in METRIC_NAMES:
            fail("selection_metric", f"be one of {METRIC_NAMES}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"TrainConfig.from_dict: unknown field(s) {sorted(unknown)}.")
        return cls(**values)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)
