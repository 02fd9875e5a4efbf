"""Several seeds of one architecture as one stacked model, and what it is worth on a CPU.

``StackedModels(models)`` holds K models of one configuration (K seeds, say) as one set of
parameters with a leading member axis (``torch.func.stack_module_state``) and runs their
training step as one vectorised call (``torch.func.vmap`` over ``functional_call``): member i
reads its own batch, and the loss is the sum of the members' losses, so one ``backward``
gives every member its own gradient and one Adam step over the stacked parameters is K
independent Adam steps (Adam and value clipping are element-wise). It is the stacked form
``python -m dmdlab bench --seeds K`` measures against one model at a time
(``orchestration/bench.py``: ``bench_seeds``).

Why the trainer does not use it (measured; docs/performance.md, "Training seeds together"):

- on the CPU a stacked step is no faster than the K steps it replaces (0.92–0.99 of their
  throughput per CPU-second): vmap turns each per-member product into a batched one of
  independent weights, which is no wider a GEMM, and its batching rules add work of their own;
- no stacked form can beat one model trained at K times the batch (the same weights, so
  truly wider products and one dispatch per operation), and that runs at the same CPU
  time per sample as batch 16 here: a training step is bound by memory-bound passes whose
  cost grows with the samples, not by per-operation overhead;
- dropout does not survive vmap: ``layers.keep_mask`` draws its random words in place into a
  fresh, unbatched tensor, which vmap refuses with per-member randomness; and even a
  vmap-friendly sampler would draw one stream for all members, so a member's dropout masks
  would differ from the same seed trained alone. The stacked step therefore needs every
  dropout rate 0 (``without_dropout``), where it matches K separate steps to float rounding
  (tests/test_stacked.py).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

__all__ = ["StackedModels", "without_dropout", "DROPOUT_FIELDS"]

DROPOUT_FIELDS = ("attn_dropout", "attn_dropout_v", "attn_dropout_a", "relu_dropout", "res_dropout", "embed_dropout",
                  "output_dropout", "text_dropout")
"""Every dropout rate of ``ArchConfig``."""


def without_dropout(config):
    """``config`` (a ``DMDConfig``) with every dropout rate of its architecture set to 0."""
    return config.replace(arch=dict.fromkeys(DROPOUT_FIELDS, 0.0))


class StackedModels:
    """K models of one configuration trained as one: parameters (K, ...) and one vmapped step.

    ``models``: the members, built alike (same config and data spec); their weights are copied
    into the stack, which then owns them (``member_state(i)`` gives member i's back).
    ``parameters`` are leaf tensors: hand them to an optimizer.
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        if len(models) < 1:
            raise ValueError("StackedModels needs at least one model.")
        shapes = {tuple((name, p.shape) for name, p in model.named_parameters()) for model in models}
        if len(shapes) > 1:
            raise ValueError("StackedModels: the models differ in their parameters; stack models of one config.")
        arch = getattr(getattr(models[0], "config", None), "arch", None)
        dropping = [f"{name}={getattr(arch, name)}" for name in DROPOUT_FIELDS if arch and getattr(arch, name)]
        if dropping:
            raise ValueError(f"StackedModels needs every dropout rate 0 (without_dropout): vmap refuses keep_mask's "
                             f"in-place random draws. Got {', '.join(dropping)}.")
        self.members = len(models)
        self.template = copy.deepcopy(models[0])   # the functional template: its own weights are never read
        params, self.buffers = stack_module_state(list(models))
        self.params = {name: p.detach().clone().requires_grad_(p.requires_grad) for name, p in params.items()}
        self.parameters = [p for p in self.params.values() if p.requires_grad]

    def train(self, mode: bool = True) -> "StackedModels":
        self.template.train(mode)
        return self

    def _member_loss(self, params: dict, buffers: dict, text: Tensor, vision: Tensor | None, audio: Tensor | None,
                     vision_lengths: Tensor | None, audio_lengths: Tensor | None, labels: Tensor) -> Tensor:
        output = functional_call(self.template, (params, buffers), args=(text, vision, audio),
                                 kwargs={"vision_lengths": vision_lengths, "audio_lengths": audio_lengths})
        return self.template.loss(output, labels).total

    def loss(self, batches: Sequence) -> Tensor:
        """(K,) the training loss of each member on its own batch (``dmdlab.data.Batch``, equal sizes)."""
        if len(batches) != self.members:
            raise ValueError(f"StackedModels.loss: one batch per member ({self.members}). Got {len(batches)}.")
        fields = ("text", "vision", "audio", "vision_lengths", "audio_lengths", "labels")
        inputs = [None if getattr(batches[0], f) is None else torch.stack([getattr(b, f) for b in batches])
                  for f in fields]
        in_dims = (0, 0, *(None if t is None else 0 for t in inputs))
        return vmap(self._member_loss, in_dims=in_dims, randomness="error")(self.params, self.buffers, *inputs)

    def member_state(self, index: int) -> dict[str, Tensor]:
        """Member ``index``'s parameters and buffers as a state dict of the template (detached copies)."""
        stacked = {**self.params, **self.buffers}
        return {name: stacked[name][index].detach().clone() for name in self.template.state_dict()}
