"""Options shared by the commands of ``python -m dmdlab``: one home, so no command imports
another's private helpers.

- option types for ``argparse`` (``positive_int``, ``fraction``, ...);
- the model options (``--preset``, ``--variant``, ``--set``) and the BERT text-encoder options,
  turned into config overrides by :func:`model_overrides`;
- the training-protocol options, turned into a ``TrainConfig`` by :func:`protocol_from_args`;
- the Ray options (``--address``, ``--jobs``, ...), turned into a ``Cluster`` by :func:`cluster_from_args`.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

# --------------------------------------------------------------------------- option types
# They refuse non-finite, non-positive or out-of-range values at parse time (``--lr inf``,
# ``--batch-size 0``) with one line naming what was expected.


def _number(kind, low: float | None, high: float | None, low_open: bool, name: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {name}, got {text!r}") from None
        if not math.isfinite(value) or (low is not None and (value <= low if low_open else value < low)) \
                or (high is not None and value >= high):
            raise argparse.ArgumentTypeError(f"expected {name}, got {text!r}")
        return value
    parse.__name__ = name   # argparse names the type in its messages
    return parse


positive_float = _number(float, 0.0, None, True, "a finite number > 0")
non_negative_float = _number(float, 0.0, None, False, "a finite number >= 0")
fraction = _number(float, 0.0, 1.0, True, "a number in (0, 1)")
positive_int = _number(int, 1, None, False, "an integer >= 1")
non_negative_int = _number(int, 0, None, False, "an integer >= 0")


# TrainConfig fields set from options shared by train / reproduce (option dest -> field).
PROTOCOL_OPTIONS = {
    "epochs": "max_epochs", "lr": "lr", "weight_decay": "weight_decay", "batch_size": "batch_size",
    "grad_accumulation": "grad_accumulation", "clip": "grad_clip_value", "plateau_patience": "plateau_patience",
    "plateau_factor": "plateau_factor", "early_stop": "early_stop_patience", "eval_batch_size": "eval_batch_size",
    "device": "device", "precision": "precision", "threads": "num_threads", "compile": "compile",
    "text_lr": "text_lr",
}


def add_model_options(parser: argparse.ArgumentParser, variant: bool = True) -> None:
    """--preset, --set, --reference and (with ``variant``) --variant: every command that builds a model calls this."""
    group = parser.add_argument_group("model")
    group.add_argument("--preset", default="mosi", choices=("mosi", "mosei"),
                       help="official hyper-parameters to start from (the official configuration): d, heads, kernels, dropouts "
                            "(default: mosi). Widths and lengths always come from the data.")
    if variant:
        from dmdlab.model.variants import VARIANTS

        group.add_argument("--variant", default="dmd",
                           help=f"model variant: {', '.join(VARIANTS)} (default: dmd)")
    group.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="change one model-config field of the preset, dotted (repeatable): "
                            "--set arch.d=8 --set arch.heads=2 --set gd.homo_hidden=32 --set loss.homo_repr_loss=true")
    group.add_argument("--reference", action="store_true",
                       help="build the transformers as the plain MulT layers (dmdlab/model/reference.py, standard "
                            "dropout) instead of the fast stacks: the same model, slower (--set arch.reference=true)")


def add_text_encoder_options(parser: argparse.ArgumentParser) -> None:
    """--text-encoder, --freeze-text and --text-lr: every command that builds a model calls this,
    and passes ``model_overrides(args)`` and ``protocol_from_args(args)`` on."""
    group = parser.add_argument_group("BERT text encoder (the paper's text input)")
    group.add_argument("--text-encoder", metavar="PATH",
                       help="a local BERT-family model folder (or a model in the local Hugging Face cache; nothing "
                            "is downloaded): the model reads the file's text_bert token ids through it instead of "
                            "the pre-extracted text features, and fine-tunes it with the rest (official)")
    group.add_argument("--freeze-text", action="store_true", help="keep the text encoder's weights fixed")
    group.add_argument("--text-lr", type=float, default=None, metavar="LR",
                       help="Adam learning rate of the text encoder (default: --lr, as the official code)")


def model_overrides(args) -> list[str]:
    """``--set`` assignments with the text-encoder options of ``add_text_encoder_options`` and
    ``--reference`` added."""
    overrides = list(getattr(args, "overrides", []) or [])
    if getattr(args, "text_encoder", None):
        overrides.append(f"arch.text_encoder={args.text_encoder}")
    if getattr(args, "freeze_text", False):
        overrides.append("arch.finetune_text=false")
    if getattr(args, "reference", False):
        overrides.append("arch.reference=true")
    return overrides


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """--address, --jobs, --cpus-per-run, --gpus-per-run: every command that trains many runs
    (reproduce, workbench, demo, tune) calls this, and passes ``cluster_from_args(args)`` on."""
    group = parser.add_argument_group("where the runs train (Ray)")
    group.add_argument("--address", default=None, metavar="HOST:PORT",
                       help="a Ray cluster started with `ray start --head` (default: $RAY_ADDRESS, else a Ray "
                            "started on this machine for this command). On a cluster, --out and --data must be on "
                            "a filesystem every node sees")
    group.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                       help="runs at once on this machine: the local Ray's CPUs are N x --cpus-per-run; 1 trains "
                            "the runs one after another in this process, without Ray (default: all CPUs)")
    group.add_argument("--cpus-per-run", type=positive_float, default=1.0, metavar="C",
                       help="CPUs each run reserves, and its torch threads (default: %(default)s)")
    group.add_argument("--gpus-per-run", type=non_negative_float, default=0.0, metavar="G",
                       help="GPUs each run reserves; a fraction shares one GPU, e.g. 0.25: four runs per GPU "
                            "(default: %(default)s)")


def cluster_from_args(args):
    """The :class:`~dmdlab.orchestration.cluster.Cluster` the options of ``add_cluster_options`` ask for;
    None (one run after another in this process) for ``--jobs 1``."""
    from dmdlab.orchestration.cluster import Cluster

    if args.address and args.jobs is not None:
        raise ValueError("--jobs sizes the Ray started on this machine; a cluster given by --address has the "
                         "CPUs of its nodes. Drop one of the two.")
    if args.jobs == 1 and not args.address:
        return None
    num_cpus = None if args.jobs is None else max(1, round(args.jobs * args.cpus_per_run))
    return Cluster(address=args.address, cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run,
                   num_cpus=num_cpus)


def add_protocol_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training protocol (defaults: the official code's)")
    add = group.add_argument
    add("--epochs", type=positive_int, default=None, metavar="N", help="maximum number of epochs (default: 100; early "
        "stopping usually ends a run sooner)")
    add("--lr", type=positive_float, default=None, help="Adam learning rate for all parameters (default: 1e-4)")
    add("--weight-decay", type=non_negative_float, default=None, help="Adam weight decay, applied (default: 0, as the "
        "official code effectively runs)")
    add("--batch-size", type=positive_int, default=None, help="training batch size (default: 16)")
    add("--grad-accumulation", type=positive_int, default=None, metavar="K",
        help="optimizer step every K batches, gradients summed (default: 10)")
    add("--clip", type=non_negative_float, default=None, metavar="V",
        help="clip gradient values to [-V, V] after each backward; 0 turns clipping off (default: 0.6)")
    add("--plateau-patience", type=non_negative_int, default=None, metavar="N",
        help="ReduceLROnPlateau: epochs without a lower validation loss before the lr is cut (default: 5)")
    add("--plateau-factor", type=fraction, default=None, help="ReduceLROnPlateau factor (default: 0.5)")
    add("--early-stop", type=non_negative_int, default=None, metavar="N",
        help="stop after N epochs without a better validation MAE; 0 never stops early (default: 10)")
    add("--eval-batch-size", type=positive_int, default=None,
        help="batch size of validation/test passes (default: 64; the margin loss's memory grows as its cube)")
    group = parser.add_argument_group("hardware")
    group.add_argument("--device", default=None, help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1 or mps "
                       "(default: auto)")
    group.add_argument("--precision", default=None, choices=("auto", "fp32", "bf16"),
                       help="auto: bf16 autocast on CUDA, fp32 elsewhere (default: auto)")
    group.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's own choice)")
    group.add_argument("--compile", action="store_true", default=None, help="wrap the model in torch.compile")
    group.add_argument("--no-progress", action="store_true", help="no progress bars")


def protocol_from_args(args, seed: int | None = None, defaults: dict | None = None):
    """The TrainConfig of the protocol options given; ``defaults``: fields set where no option is
    given (a mode's protocol)."""
    from dmdlab.training.config import TrainConfig

    changes = dict(defaults or {})
    for dest, field in PROTOCOL_OPTIONS.items():
        value = getattr(args, dest, None)
        if value is not None:
            changes[field] = value
    if changes.get("grad_clip_value") == 0:
        changes["grad_clip_value"] = None
    if changes.get("early_stop_patience") == 0:
        changes["early_stop_patience"] = None
    if seed is not None:
        changes["seed"] = seed
    changes["progress"] = not args.no_progress
    return TrainConfig(**changes)


def require_file(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no dataset file at {path} (make one with: python -m dmdlab data synth)")
    return path
