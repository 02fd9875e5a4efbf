"""Training throughput of dmdlab against the official DMD code, its memory leak patched.

    python scripts/official_speed.py --official PATH --data FILE [--threads 2 1] [--pairs 2]
                                     [--batches 60] [--warmup 3] [--text-encoder DIR] [--unpatched]

PATH is a checkout of the official code (git clone https://github.com/mdswyz/DMD PATH); it is
read and run from where it is, never copied. FILE is an MMSA-style pickle, e.g. the
MOSI-size built-in one (``python -m dmdlab data synth --scale mosi --out FILE``).

The two sides run alternately (official, dmdlab, official, dmdlab, ...), each in its own
process with ``--threads`` torch threads, on the same file with the same protocol: the MOSI
configuration of the official code (batch 16, an optimizer step every 10 batches,
gradient values clipped at 0.6, Adam at 1e-4), ``--warmup`` batches untimed, then
``--batches`` batches timed. One JSON line per measurement: samples/s, CPU seconds (all
threads of the process), peak resident memory of the process (dataset included) and the
1-minute load average; then one summary line with the dmdlab / official ratio of each pair.

The official side runs its own trainer, ``DMD.do_train`` (trains/singleTask/DMD.py), on its
own model, graph-distillation units and data loader, built as its ``run.py`` builds them,
with two run-time changes and nothing else:

1. The memory leak. Each training batch, ``do_train`` keeps the prediction for the epoch's
   metrics with ``y_pred.append(output['output_logit'].cpu())``. On a CPU ``.cpu()``
   returns the very tensor (on a GPU, a copy that still records where it came from), so the
   list holds a tensor with a ``grad_fn``: through it every batch's autograd graph and the
   activations saved for its backward stay alive until the epoch ends (8-14 GB at MOSI
   size). The patch rewrites that one line of the method's source to
   ``y_pred.append(output['output_logit'].detach().cpu())`` and compiles the method again
   in its own module: the same values, no graph kept.
2. Portability, no change of work: the official code calls ``.cuda()`` on its modules and
   on a few constant tensors (``torch.tensor([-1]).cuda()`` in the losses, the distillation
   priors); on a machine without CUDA ``Tensor.cuda`` and ``Module.cuda`` return the object
   unchanged. And it builds ``ReduceLROnPlateau(..., verbose=True)``, an argument torch
   2.13 no longer takes (TypeError); the trainer's module gets a ``ReduceLROnPlateau`` that
   drops it (the scheduler only steps at the end of an epoch, outside the timed batches).
   Its orthogonality loss calls ``nn.CosineEmbeddingLoss`` on time-first (T, B, d) tensors
   with a one-element target, which older torch computed (the cosine over dimension 1, the
   batch axis) and torch 2.13 rejects ("1D target tensor expects 2D input tensors"); the
   trainer's ``cosine`` is that older formula (``legacy_cosine_embedding_loss``), the same
   arithmetic dmdlab's ``orthogonality_loss`` does for the official behaviour.

``--unpatched`` leaves the leak in (point 2 still applies), to see what the patch removes.

Its data loader runs with ``num_workers=0`` (its ``run.py`` default is 4 worker processes,
which on a 2-core machine would compete with the training threads); dmdlab's batches are
cut in the training process too. Without ``--text-encoder`` both sides read the pickle's
pre-extracted ``text`` features (official ``use_bert=False``); with it both fine-tune that
BERT-style encoder on the ``text_bert`` token ids (official ``use_bert=True``,
``use_finetune=True``, ``pretrained=DIR``; its config names bert-base-uncased).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OFFICIAL_TRAINER = Path("trains") / "singleTask" / "DMD.py"
LEAK_LINE = "y_pred.append(output['output_logit'].cpu())"
PATCHED_LINE = "y_pred.append(output['output_logit'].detach().cpu())"
BATCH_SIZE = 16          # the official MOSI config's batch_size (dmdlab's mosi preset uses the same)


class _Done(Exception):
    """Raised from inside the training loop once the timed batches are done."""


class TimedBatches:
    """The official training loader, cut short: ``warmup`` batches untimed, then ``batches``
    batches timed (from the request of the first to the request of the one after the last,
    so the time covers loading and the whole training step of each), then ``_Done``."""

    def __init__(self, loader, warmup: int, batches: int):
        if warmup + batches > len(loader):
            raise ValueError(f"--warmup {warmup} + --batches {batches} exceed the {len(loader)} training "
                             f"batches of one epoch; ask for fewer.")
        self.loader, self.warmup, self.batches = loader, warmup, batches
        self.samples = 0

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for index, batch in enumerate(self.loader):
            if index == self.warmup:
                self.started, self.cpu_started = time.perf_counter(), time.process_time()
            if index == self.warmup + self.batches:
                self.seconds = time.perf_counter() - self.started
                self.cpu_seconds = time.process_time() - self.cpu_started
                raise _Done
            if index >= self.warmup:
                self.samples += len(batch["labels"]["M"])
            yield batch


def patch_leak(trainer_class) -> None:
    """Recompile ``trainer_class.do_train`` with its one leaking line detached (module docstring, 1)."""
    lines, first_line = inspect.getsourcelines(trainer_class.do_train)
    source = "\n" * (first_line - 1) + textwrap.dedent("".join(lines))    # tracebacks keep the file's line numbers
    if source.count(LEAK_LINE) != 1:
        raise SystemExit(f"{inspect.getsourcefile(trainer_class)}: expected the line {LEAK_LINE!r} once in "
                         f"do_train, found it {source.count(LEAK_LINE)} times: not the code this script patches.")
    namespace = sys.modules[trainer_class.__module__].__dict__
    exec(compile(source.replace(LEAK_LINE, PATCHED_LINE), inspect.getsourcefile(trainer_class), "exec"), namespace)
    trainer_class.do_train = namespace["do_train"]


def run_on_this_torch(trainer_class) -> None:
    """Let the official code build and train on today's torch without CUDA (module docstring,
    2; the trainer's ``cosine`` is set on the instance, which its ``__init__`` makes)."""
    import torch

    if not torch.cuda.is_available():
        torch.Tensor.cuda = lambda tensor, *args, **kwargs: tensor
        torch.nn.Module.cuda = lambda module, *args, **kwargs: module
    namespace = sys.modules[trainer_class.__module__].__dict__
    scheduler = namespace["ReduceLROnPlateau"]
    namespace["ReduceLROnPlateau"] = lambda *args, verbose=None, **kwargs: scheduler(*args, **kwargs)


def legacy_cosine_embedding_loss(x, y, target, margin: float = 0.0):
    """``CosineEmbeddingLoss`` (mean reduction) as older torch computed it for inputs of any
    rank: cos = Σxy / sqrt((Σx² + 1e-12)(Σy² + 1e-12)) over dimension 1, then 1 - cos where
    the target is 1 and max(cos - margin, 0) where it is -1, broadcast, averaged."""
    import torch

    eps = 1e-12
    cos = (x * y).sum(1) / torch.sqrt(((x * x).sum(1) + eps) * ((y * y).sum(1) + eps))
    zeros = torch.zeros_like(cos)
    hinge = torch.where(target == -1, (cos - margin).clamp_min(0), zeros)
    return (torch.where(target == 1, 1 - cos, zeros) + hinge).mean()


def official_worker(options: dict) -> dict:
    """One measurement of the official trainer in this process."""
    import torch

    torch.set_num_threads(options["threads"])
    torch.manual_seed(options["seed"])
    official = Path(options["official"]).resolve()
    sys.path.insert(0, str(official))
    os.chdir(official)
    from config import get_config_regression
    from data_loader import MMDataLoader
    from trains import ATIO
    from trains.singleTask import DMD as Trainer
    from trains.singleTask.distillnets import get_distillation_kernel, get_distillation_kernel_homo
    from trains.singleTask.misc import softmax
    from trains.singleTask.model import dmd

    run_on_this_torch(Trainer)
    if options["patched"]:
        patch_leak(Trainer)

    with open(options["data"], "rb") as handle:
        train = pickle.load(handle)["train"]
    args = get_config_regression("dmd", "mosi", official / "config" / "config.json")
    encoder = options["text_encoder"]
    args.update(featurePath=options["data"], feature_T="", feature_A="", feature_V="", train_mode="regression",
                device=torch.device("cuda" if torch.cuda.is_available() else "cpu"), cur_seed=1,
                use_bert=encoder is not None, use_finetune=True,
                feature_dims=[train["text"].shape[2] if encoder is None else _hidden_size(encoder),
                              train["audio"].shape[2], train["vision"].shape[2]])
    if encoder is not None:
        args.update(transformers="bert", pretrained=encoder)
    del train
    loaders = MMDataLoader(args, num_workers=0)
    # run.py's _run, is_distill=True: the DMD model and the two graph-distillation units
    args.update(gd_size_low=64, w_losses_low=[1, 10], metric_low="l1",
                gd_size_high=32, w_losses_high=[1, 10], metric_high="l1")
    width = args.dst_feature_dim_nheads[0]
    model = [dmd.DMD(args),
             get_distillation_kernel_homo.DistillationKernel(
                 n_classes=1, hidden_size=width, gd_size=args.gd_size_low, to_idx=[0, 1, 2], from_idx=[0, 1, 2],
                 gd_prior=softmax([0, 0, 1, 0, 1, 0], 0.25), gd_reg=10, w_losses=args.w_losses_low,
                 metric=args.metric_low, alpha=1 / 8, hyp_params=args),
             get_distillation_kernel.DistillationKernel(
                 n_classes=1, hidden_size=width * 2, gd_size=args.gd_size_high, to_idx=[0, 1, 2], from_idx=[0, 1, 2],
                 gd_prior=softmax([0, 0, 1, 0, 1, 1], 0.25), gd_reg=10, w_losses=args.w_losses_high,
                 metric=args.metric_high, alpha=1 / 8, hyp_params=args)]
    model = [part.to(args.device) for part in model]
    trainer = ATIO().getTrain(args)
    trainer.cosine = legacy_cosine_embedding_loss                           # module docstring, 2
    timed = TimedBatches(loaders["train"], options["warmup"], options["batches"])
    try:
        trainer.do_train(model, {**loaders, "train": timed})
    except _Done:
        pass
    else:
        raise RuntimeError("the official do_train returned before the timed batches were done")
    return dict(side="official", leak_patched=options["patched"], samples=timed.samples, seconds=timed.seconds,
                cpu_seconds=timed.cpu_seconds,
                config=dict(batch_size=args.batch_size, update_epochs=args.update_epochs, grad_clip=args.grad_clip,
                            learning_rate=args.learning_rate, use_bert=args.use_bert, num_workers=0))


def _hidden_size(encoder: str) -> int:
    with open(Path(encoder) / "config.json") as handle:
        return json.load(handle)["hidden_size"]


def dmdlab_worker(options: dict) -> dict:
    """One measurement of dmdlab's trainer in this process (``bench``'s training measurement)."""
    sys.path.insert(0, str(REPO))
    from dmdlab.orchestration.bench import measure

    overrides = [] if options["text_encoder"] is None else [f"arch.text_encoder={options['text_encoder']}"]
    result = measure("train", dict(data=options["data"], preset="mosi", variant="dmd", overrides=overrides,
                                   batch_size=BATCH_SIZE, loss_batch_size=64, text_lr=None,
                                   threads=options["threads"], device="cpu", seed=options["seed"], compile=False,
                                   warmup_batches=options["warmup"], train_batches=options["batches"]))
    return dict(side="dmdlab", samples=result["samples"], seconds=result["seconds"],
                cpu_seconds=result["cpu_seconds"], attention=result["attention_mode"])


def run_side(side: str, options: dict) -> dict:
    """One measurement of ``side`` in its own process, with ``options['threads']`` threads."""
    threads = str(options["threads"])
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    done = subprocess.run([sys.executable, __file__, "--worker", side, json.dumps(options)],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SystemExit(f"{side} measurement failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def worker(side: str, options: dict) -> int:
    """``--worker SIDE OPTIONS`` (how ``run_side`` starts a measurement): print its JSON line."""
    result = (official_worker if side == "official" else dmdlab_worker)(options)
    sys.path.insert(0, str(REPO))     # imported after the measurement, whose peak memory it reports
    from dmdlab.orchestration.bench import peak_rss_mb
    result.update(threads=options["threads"], samples_per_s=round(result["samples"] / result["seconds"], 2),
                  seconds=round(result["seconds"], 2), cpu_seconds=round(result["cpu_seconds"], 2),
                  peak_rss_mb=round(peak_rss_mb(), 1), load_average=round(os.getloadavg()[0], 2))
    print(json.dumps(result))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", type=Path, required=True, help="a checkout of github.com/mdswyz/DMD")
    parser.add_argument("--data", type=Path, required=True, help="an MMSA-style pickle (train/valid/test)")
    parser.add_argument("--threads", type=int, nargs="+", default=[2], help="torch threads, one round each")
    parser.add_argument("--pairs", type=int, default=2, help="official/dmdlab pairs per thread count")
    parser.add_argument("--batches", type=int, default=60, help="timed training batches per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed training batches before them")
    parser.add_argument("--text-encoder", help="a local BERT-style encoder folder both sides fine-tune")
    parser.add_argument("--seed", type=int, default=1111)
    parser.add_argument("--unpatched", action="store_true",
                        help="run the official trainer with its leak (memory grows by every batch's graph; "
                             "keep --batches small)")
    args = parser.parse_args()
    if not (args.official / OFFICIAL_TRAINER).is_file():
        print(f"skipped: no official DMD checkout at {args.official} (no {OFFICIAL_TRAINER} there); "
              f"git clone https://github.com/mdswyz/DMD {args.official}", file=sys.stderr)
        return 0
    if not args.data.is_file():
        parser.error(f"--data {args.data}: no such file (python -m dmdlab data synth --scale mosi --out FILE)")
    options = dict(official=str(args.official.resolve()), data=str(args.data.resolve()), batches=args.batches,
                   warmup=args.warmup, seed=args.seed, patched=not args.unpatched,
                   text_encoder=None if args.text_encoder is None else str(Path(args.text_encoder).resolve()))
    ratios = {}
    for threads in args.threads:
        for _ in range(args.pairs):
            pair = {side: run_side(side, {**options, "threads": threads}) for side in ("official", "dmdlab")}
            for result in pair.values():
                print(json.dumps(result), flush=True)
            ratios.setdefault(threads, []).append(
                round(pair["dmdlab"]["samples_per_s"] / pair["official"]["samples_per_s"], 2))
    print(json.dumps({"dmdlab_over_official": {str(t): r for t, r in ratios.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(worker(sys.argv[2], json.loads(sys.argv[3])) if sys.argv[1:2] == ["--worker"] else main())
