"""Commands ``train``, ``evaluate``, ``reproduce`` and ``bench`` of ``python -m dmdlab``.

User errors (a missing file, a bad option value) raise ValueError / FileNotFoundError,
which ``dmdlab.cli.main`` prints as one line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from dmdlab.train.guards import fraction, non_negative_float, non_negative_int, positive_float, positive_int

DEMO_TABLE_NOTE = "DMD, w/o FD, w/o HomoGD, w/o HeteroGD, w/o CA, unimodal L / V / A"

# TrainConfig fields set from options shared by train / reproduce (option dest -> field).
_PROTOCOL_OPTIONS = {
    "epochs": "max_epochs", "lr": "lr", "weight_decay": "weight_decay", "batch_size": "batch_size",
    "grad_accumulation": "grad_accumulation", "clip": "grad_clip_value", "plateau_patience": "plateau_patience",
    "plateau_factor": "plateau_factor", "early_stop": "early_stop_patience", "eval_batch_size": "eval_batch_size",
    "device": "device", "precision": "precision", "threads": "num_threads", "compile": "compile",
    "text_lr": "text_lr",
}


# --------------------------------------------------------------------------- shared options


def add_model_options(parser: argparse.ArgumentParser, variant: bool = True) -> None:
    """--preset, --set and (with ``variant``) --variant: every command that builds a model calls this."""
    group = parser.add_argument_group("model")
    group.add_argument("--preset", default="mosi", choices=("mosi", "mosei"),
                       help="official hyper-parameters to start from (the official configuration): d, heads, kernels, dropouts "
                            "(default: mosi). Widths and lengths always come from the data.")
    if variant:
        group.add_argument("--variant", default="dmd",
                           help="model variant: dmd, wo_fd, wo_homogd, wo_heterogd, wo_ca, mult, mult_gd, "
                                "unimodal_l, unimodal_v, unimodal_a, uniform_prior, no_edge_reg; the comparison table's "
                                "baselines ef_lstm, lf_lstm, tfn, lmf, mfm (default: dmd)")
    group.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="change one model-config field of the preset, dotted (repeatable): "
                            "--set arch.d=8 --set arch.heads=2 --set gd.homo_hidden=32 --set loss.homo_repr_loss=true")


def add_text_encoder_options(parser: argparse.ArgumentParser) -> None:
    """--text-encoder, --freeze-text and --text-lr: every command that builds a model calls this,
    and passes ``model_overrides(args)`` and ``_train_config(args)`` on."""
    group = parser.add_argument_group("BERT text encoder (the paper's text input)")
    group.add_argument("--text-encoder", metavar="PATH",
                       help="a local BERT-family model folder (or a model in the local Hugging Face cache; nothing "
                            "is downloaded): the model reads the file's text_bert token ids through it instead of "
                            "the pre-extracted text features, and fine-tunes it with the rest (official)")
    group.add_argument("--freeze-text", action="store_true", help="keep the text encoder's weights fixed")
    group.add_argument("--text-lr", type=float, default=None, metavar="LR",
                       help="Adam learning rate of the text encoder (default: --lr, as the official code)")


def model_overrides(args) -> list[str]:
    """``--set`` assignments with the text-encoder options of ``add_text_encoder_options`` added."""
    overrides = list(getattr(args, "overrides", []) or [])
    if getattr(args, "text_encoder", None):
        overrides.append(f"arch.text_encoder={args.text_encoder}")
    if getattr(args, "freeze_text", False):
        overrides.append("arch.finetune_text=false")
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
    """The :class:`~dmdlab.train.cluster.Cluster` the options of ``add_cluster_options`` ask for;
    None (one run after another in this process) for ``--jobs 1``."""
    from dmdlab.train.cluster import Cluster

    if args.address and args.jobs is not None:
        raise ValueError("--jobs sizes the Ray started on this machine; a cluster given by --address has the "
                         "CPUs of its nodes. Drop one of the two.")
    if args.jobs == 1 and not args.address:
        return None
    num_cpus = None if args.jobs is None else max(1, round(args.jobs * args.cpus_per_run))
    return Cluster(address=args.address, cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run,
                   num_cpus=num_cpus)


def _add_protocol_options(parser: argparse.ArgumentParser) -> None:
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


def _train_config(args, seed: int | None = None, defaults: dict | None = None):
    """The TrainConfig of the protocol options given; ``defaults``: fields set where no option is given."""
    from dmdlab.train.config import TrainConfig

    changes = dict(defaults or {})
    for dest, field in _PROTOCOL_OPTIONS.items():
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


def _require_file(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no dataset file at {path} (make one with: python -m dmdlab data synth)")
    return path


def _print_metrics(title: str, metrics: dict) -> None:
    from dmdlab.metrics import PERCENT_METRICS

    print(title)
    for name, value in metrics.items():
        shown = f"{value * 100:.2f} %" if name in PERCENT_METRICS else f"{value:.4f}"
        print(f"  {name:<14} {shown}")


# --------------------------------------------------------------------------- commands


def _cmd_train(args) -> int:
    from dmdlab.train.trainer import load_data_and_config, train

    if args.resume:
        run = _resume(args)
    else:
        if args.data is None:
            raise ValueError("train needs --data PATH (an MMSA pickle; python -m dmdlab data synth makes one).")
        variant = args.variant or "dmd"
        data, model_config = load_data_and_config(_require_file(args.data), args.preset or "mosi",
                                                  model_overrides(args), variant)
        train_config = _train_config(args, seed=args.seed if args.seed is not None else 1111)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = args.out or Path("runs") / Path(args.data).stem / f"{variant}-seed{train_config.seed}-{stamp}"
        run = train(data, model_config, train_config, out)
    epochs = f"epoch {run.metrics['best_epoch']} of {run.metrics['epochs']}"
    _print_metrics(f"test metrics of the best checkpoint ({epochs}):", run.test_metrics)
    print(f"run written to {run.path}")
    return 0


def _resume(args):
    """``train --resume``: options that leave the maths alone are applied (and said), any other change refused."""
    from dmdlab import runs
    from dmdlab.model import DMDConfig
    from dmdlab.train.guards import resume_changes
    from dmdlab.train.trainer import RESUMABLE_CHANGES, build_model_config, load_dataset, text_mode, train

    if args.out is None:
        raise ValueError("--resume needs --out RUN_DIR (the run to continue).")
    config = runs.read_run(args.out).config
    saved_train = config.get("train", {})
    given = _train_config(args).to_dict()   # the options' values as TrainConfig fields (--clip 0 -> None)
    asked = {field: given[field] for dest, field in _PROTOCOL_OPTIONS.items() if getattr(args, dest) is not None}
    asked["progress"] = given["progress"]
    if args.seed is not None:
        asked["seed"] = args.seed
    saved_model = DMDConfig.from_dict(config["model"])
    data = load_dataset(_require_file(args.data or config["dataset"]["path"]), text_mode(saved_model))
    asked_model = None
    if args.variant or args.preset or model_overrides(args):
        asked_model = build_model_config(args.preset or "mosi", data.spec.aligned, model_overrides(args),
                                         args.variant or "dmd").to_dict()
    applied, refused = resume_changes(saved_train, asked, RESUMABLE_CHANGES, config.get("model"), asked_model)
    if refused:
        raise ValueError(f"cannot resume {args.out} with other settings: {'; '.join(refused)}. A resumed run keeps "
                         "the settings it started with; drop these options, or train a new run into another --out.")
    for field, value in applied.items():
        if field != "progress":
            print(f"resume: {field} {saved_train.get(field)!r} -> {value!r} (applied)")
    from dmdlab.train.config import TrainConfig

    train_config = TrainConfig.from_dict(saved_train).replace(**applied)
    return train(data, saved_model, train_config, args.out, resume=True, name=config.get("name"))


def _cmd_evaluate(args) -> int:
    from dmdlab import runs
    from dmdlab.checkpoint import load_checkpoint
    from dmdlab.train.trainer import evaluate, load_dataset, resolve_device, text_mode

    target = Path(args.checkpoint)
    checkpoint = target / runs.BEST if target.is_dir() else target
    if not checkpoint.is_file():
        raise FileNotFoundError(f"no checkpoint at {checkpoint}")
    data_path = args.data
    if data_path is None and (checkpoint.parent / runs.CONFIG).is_file():
        data_path = (runs.read_run(checkpoint.parent).config.get("dataset") or {}).get("path")
    if data_path is None:
        raise ValueError("evaluate needs --data PATH (the checkpoint is not inside a run directory that names it).")
    device = resolve_device(args.device)
    model, spec = load_checkpoint(checkpoint, map_location="cpu")
    model = model.to(device)
    text = text_mode(model.config)
    from dmdlab.data import load_mmsa

    data = load_mmsa(_require_file(data_path), text=text, expect=spec)   # widths and lengths of the checkpoint
    if model.text_encoder is not None:
        model.text_encoder.check_ids(data.spec.text_max_id, where=str(data_path))
    splits = list(data.splits) if args.split == "all" else [args.split]
    results, frames = {}, []
    for name in splits:
        evaluation = evaluate(model, data.splits[name], name=name, batch_size=args.batch_size, device=device,
                              text=text, with_loss=False)
        results[name] = evaluation.metrics
        frames.append(evaluation.frame())
    if args.json:
        print(json.dumps({"checkpoint": str(checkpoint), "data": str(data_path), "metrics": results}))
    else:
        for name, metrics in results.items():
            _print_metrics(f"{name} ({len(data.splits[name])} clips):", metrics)
    if args.out:
        import pandas as pd

        from dmdlab.checkpoint import write_csv

        write_csv(args.out, pd.concat(frames, ignore_index=True))
        if not args.json:
            print(f"predictions written to {args.out}")
    return 0


def _cmd_reproduce(args) -> int:
    from dmdlab.train.experiments import reproduce
    from dmdlab.train.trainer import load_data_and_config

    from dmdlab.modes import get_mode

    mode = get_mode(args.mode) if args.mode else None
    overrides = [f"arch.{key}={value}" for key, value in (mode.arch if mode else {}).items()] + model_overrides(args)
    data, base = load_data_and_config(_require_file(args.data), args.preset, overrides)
    out = args.out or Path("runs") / "reproduce" / Path(args.data).stem / args.table
    result = reproduce(args.table, data, seeds=args.seeds, preset=args.preset, base_config=base,
                       train_config=_train_config(args, defaults=mode.protocol if mode else None), out_dir=out,
                       cluster=cluster_from_args(args),
                       progress=not args.no_progress, variants=args.variants)
    print(result.to_string())
    print(f"runs written under {out}")
    return 0


def _cmd_bench(args) -> int:
    from dmdlab.train.bench import bench

    record = bench(_require_file(args.data), preset=args.preset, variant=args.variant,
                   overrides=tuple(model_overrides(args)), text_lr=args.text_lr,
                   batch_size=args.batch_size, eval_batch_size=args.eval_batch_size,
                   loss_batch_size=args.loss_batch_size, threads=args.threads,
                   epochs=args.epochs, warmup_batches=args.warmup_batches, device=args.device, compile=args.compile,
                   isolate=not args.in_process, train_batches=args.train_batches,
                   aligned_data=args.aligned_data and _require_file(args.aligned_data), inference=not args.no_eval)
    print(json.dumps(record, ensure_ascii=False))
    return 0


# --------------------------------------------------------------------------- registration


def register(subparsers) -> None:
    """Add train, evaluate, reproduce and bench to ``python -m dmdlab``."""
    formatter = argparse.RawDescriptionHelpFormatter

    parser = subparsers.add_parser(
        "train", help="train one model with the official protocol and write a run directory",
        formatter_class=formatter,
        description="Train one model (a preset and a variant) on an MMSA dataset file with the official protocol "
                    "(Adam 1e-4, batch 16, 10-batch accumulation, value clipping 0.6, ReduceLROnPlateau, early stop "
                    "on the validation MAE), then test the best checkpoint once. The run directory holds config.json, "
                    "history.csv, metrics.json, predictions.csv, edges.csv, best.pt, last.pt and env.json.",
        epilog="example: python -m dmdlab train --data data/synth_mosi.pkl --seed 1111 --out runs/dmd-1111\n"
               "         python -m dmdlab train --resume --out runs/dmd-1111   (continue an interrupted run)")
    parser.add_argument("--data", help="MMSA pickle (aligned or unaligned); with --resume the saved path is used "
                        "unless given")
    parser.add_argument("--out", help="run directory (default: runs/<data>/<variant>-seed<seed>-<time>)")
    parser.add_argument("--seed", type=int, default=None, help="seed of torch, numpy, random and shuffling "
                        "(default: 1111)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch "
                        "checkpoint (same configs and data; ends with the metrics of an uninterrupted run). "
                        "--epochs, --device, --threads, --eval-batch-size are applied; other changed options "
                        "are refused")
    add_model_options(parser)
    add_text_encoder_options(parser)
    _add_protocol_options(parser)
    parser.set_defaults(variant=None, preset=None)   # resolved in _cmd_train: --resume must see what was given
    parser.set_defaults(func=_cmd_train)

    parser = subparsers.add_parser(
        "evaluate", help="score a checkpoint on a dataset's splits", formatter_class=formatter,
        description="Load a checkpoint (best.pt, or a run directory) — the model is rebuilt from the file alone — "
                    "and print the MMSA metrics on the chosen split(s).")
    parser.add_argument("--checkpoint", required=True, help="a checkpoint file or a run directory (uses its best.pt)")
    parser.add_argument("--data", help="MMSA pickle (default: the dataset named in the run's config.json)")
    parser.add_argument("--split", default="test", choices=("train", "valid", "test", "all"),
                        help="split(s) to score (default: %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=128, help="evaluation batch size (default: %(default)s; "
                        "no loss is computed here, so memory stays small)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 or mps (default: %(default)s)")
    parser.add_argument("--out", help="also write the predictions (split, id, label, prediction, edges) to this CSV")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of a table")
    parser.set_defaults(func=_cmd_evaluate)

    parser = subparsers.add_parser(
        "reproduce", help="run a named table (main, ablation, unimodal) over several seeds", formatter_class=formatter,
        description="Train every variant of a named table with several seeds and print mean ± std beside the "
                    "paper's numbers, each row naming the data it was measured on. Tables: main (MulT, DMD), "
                    "ablation (DMD, w/o FD, w/o HomoGD, w/o HeteroGD, w/o CA, MulT, MulT + GD), unimodal (DMD, "
                    f"unimodal L / V / A), text (unimodal L alone, e.g. on a text-only file), real (DMD, w/o FD, "
                    f"w/o HomoGD, w/o HeteroGD, MulT, unimodal L / V / A: the real CMU-MOSI table), "
                    f"demo ({DEMO_TABLE_NOTE}), comparison (the paper's comparison table: every baseline that "
                    "runs here - EF-LSTM, TFN, LMF, MFM through MMSA (github.com/thuiar/MMSA), LF-LSTM and MulT in dmdlab - "
                    "and DMD, "
                    "with the published number, ours - published, and the difference from DMD paired by seed with "
                    "its 95 % interval and p; docs/training.md says how each baseline is built). Every run selects "
                    "its epoch on the validation split only; the test split is scored once, with that epoch. "
                    "Finished runs in --out are reused and interrupted ones resumed, so re-running the command "
                    "continues.",
        epilog="example: python -m dmdlab reproduce comparison --data synth_mosi.pkl --seeds 3 --mode class")
    parser.add_argument("table", choices=("main", "ablation", "unimodal", "text", "real", "demo", "comparison"),
                        help="which table")
    parser.add_argument("--data", required=True, help="MMSA pickle to train and test on")
    parser.add_argument("--seeds", type=positive_int, default=5, help="number of seeds, from 1111 (default: %(default)s, "
                        "the paper's 1111-1115)")
    parser.add_argument("--out", help="folder of the runs (default: runs/reproduce/<data>/<table>)")
    parser.add_argument("--variants", nargs="+", metavar="NAME", help="only these rows of the table (e.g. dmd "
                        "wo_fd unimodal_l); the others can follow later into the same --out")
    parser.add_argument("--mode", choices=("smoke", "class", "paper"), default=None,
                        help="start from a mode's protocol (class: lr 2e-3, no accumulation, 3 epochs; smoke: also "
                             "the tiny model); protocol options given here still win (default: the official protocol)")
    add_model_options(parser, variant=False)
    add_text_encoder_options(parser)
    _add_protocol_options(parser)
    add_cluster_options(parser)
    parser.set_defaults(func=_cmd_reproduce)

    parser = subparsers.add_parser(
        "bench", help="training and inference throughput and peak memory, one JSON line", formatter_class=formatter,
        description="Measure training throughput (samples/s over whole epochs of the real training step: "
                    "official protocol, accumulation, clipping) and inference throughput (the trainer's evaluation "
                    "pass over the training split), each in its own process so its peak resident memory "
                    "(getrusage ru_maxrss: interpreter, torch and data included) is its own. Prints one JSON line.")
    parser.add_argument("--data", required=True, help="MMSA pickle, aligned or unaligned (e.g. the built-in MOSI-size "
                        "data)")
    add_model_options(parser)
    add_text_encoder_options(parser)
    parser.add_argument("--batch-size", type=positive_int, default=16, help="training batch size (default: %(default)s)")
    parser.add_argument("--eval-batch-size", type=positive_int, default=64, help="inference batch size (default: %(default)s, "
                        "the trainer's; larger batches were slower on 2 CPU cores)")
    parser.add_argument("--loss-batch-size", type=positive_int, default=64, help="batch size of the trainer's evaluation "
                        "pass, which also computes every loss term (default: %(default)s)")
    parser.add_argument("--epochs", type=positive_int, default=1, help="timed training epochs (default: %(default)s)")
    parser.add_argument("--warmup-batches", type=non_negative_int, default=3, help="untimed training batches first "
                        "(default: %(default)s)")
    parser.add_argument("--train-batches", type=positive_int, default=None, metavar="N",
                        help="time the first N training batches of an epoch instead of whole epochs; the epoch time "
                             "is extrapolated (train_epoch_extrapolated: true). For unaligned MOSEI-size data")
    parser.add_argument("--aligned-data", metavar="FILE",
                        help="also measure training on this (aligned) file with the same options and print both "
                             "throughputs and their ratio (train_over_aligned): unaligned beside aligned")
    parser.add_argument("--no-eval", action="store_true", help="skip the inference measurement")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: %(default)s)")
    parser.add_argument("--compile", action="store_true", help="measure with torch.compile")
    parser.add_argument("--in-process", action="store_true", help="measure in this process (peak memory then "
                        "covers both measurements)")
    parser.set_defaults(func=_cmd_bench)
