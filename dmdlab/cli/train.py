"""Commands ``train``, ``evaluate``, ``reproduce`` and ``bench`` of ``python -m dmdlab``.

User errors (a missing file, a bad option value) raise ValueError / FileNotFoundError,
which ``dmdlab.cli.main`` prints as one line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from dmdlab.cli.options import (PROTOCOL_OPTIONS, add_cluster_options, add_model_options, add_protocol_options,
                                add_text_encoder_options, cluster_from_args, model_overrides, non_negative_int,
                                positive_int, protocol_from_args, require_file)



def _tables_help() -> str:
    """Each named table of the registry with its rows' labels: 'ablation (DMD, w/o FD, ...: the paper's ablation table)'."""
    from dmdlab.model.variants import TABLES, label, variant_names

    return ", ".join(f"{table} ({', '.join(label(name) for name in variant_names(table=table))}: {what})"
                     for table, what in TABLES.items())


def _print_metrics(title: str, metrics: dict) -> None:
    from dmdlab.metrics import PERCENT_METRICS

    print(title)
    for name, value in metrics.items():
        shown = f"{value * 100:.2f} %" if name in PERCENT_METRICS else f"{value:.4f}"
        print(f"  {name:<14} {shown}")


# --------------------------------------------------------------------------- commands


def _cmd_train(args) -> int:
    from dmdlab.training.resolve import resolve
    from dmdlab.training.trainer import train

    if args.resume:
        run = _resume(args)
    else:
        if args.data is None:
            raise ValueError("train needs --data PATH (an MMSA pickle; python -m dmdlab data synth makes one).")
        variant = args.variant or "dmd"
        data, model_config, train_config = resolve(
            require_file(args.data), preset=args.preset or "mosi", overrides=model_overrides(args), variant=variant,
            train_config=protocol_from_args(args, seed=args.seed if args.seed is not None else 1111))
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = args.out or Path("runs") / Path(args.data).stem / f"{variant}-seed{train_config.seed}-{stamp}"
        run = train(data, model_config, train_config, out)
    epochs = f"epoch {run.metrics['best_epoch']} of {run.metrics['epochs']}"
    _print_metrics(f"test metrics of the best checkpoint ({epochs}):", run.test_metrics)
    print(f"run written to {run.path}")
    return 0


def _resume(args):
    """``train --resume``: :func:`dmdlab.training.trainer.resume` with the options given; those that leave the
    maths alone are applied (and said), any other change refused."""
    from dmdlab import runs
    from dmdlab.training.resolve import build_model_config
    from dmdlab.training.trainer import resume

    if args.out is None:
        raise ValueError("--resume needs --out RUN_DIR (the run to continue).")
    config = runs.read_run(args.out).config
    given = protocol_from_args(args).to_dict()   # the options' values as TrainConfig fields (--clip 0 -> None)
    asked = {field: given[field] for dest, field in PROTOCOL_OPTIONS.items() if getattr(args, dest) is not None}
    asked["progress"] = given["progress"]
    if args.seed is not None:
        asked["seed"] = args.seed
    model = None
    if args.variant or args.preset or model_overrides(args):
        model = build_model_config(args.preset or "mosi", model_overrides(args), args.variant or "dmd").to_dict()
    return resume(args.out, require_file(args.data or config["dataset"]["path"]), model=model, announce=print, **asked)


def _cmd_evaluate(args) -> int:
    from dmdlab import runs
    from dmdlab.checkpoint import load_checkpoint
    from dmdlab.training.resolve import load_data
    from dmdlab.training.trainer import evaluate, resolve_device

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
    data = load_data(require_file(data_path), model.config, expect=spec)   # widths and lengths of the checkpoint
    if model.text_encoder is not None:
        model.text_encoder.check_ids(data.spec.text_max_id, where=str(data_path))
    splits = list(data.splits) if args.split == "all" else [args.split]
    results, frames = {}, []
    for name in splits:
        evaluation = evaluate(model, data.splits[name], name=name, batch_size=args.batch_size, device=device,
                              with_loss=False)
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
    from dmdlab.orchestration.experiments import reproduce
    from dmdlab.training.resolve import resolve

    from dmdlab.modes import get_mode

    data, base, _ = resolve(require_file(args.data), preset=args.preset, overrides=model_overrides(args),
                            mode=args.mode)
    out = args.out or Path("runs") / "reproduce" / Path(args.data).stem / args.table
    protocol = protocol_from_args(args, defaults=get_mode(args.mode).protocol if args.mode else None)
    result = reproduce(args.table, data, seeds=args.seeds, preset=args.preset, base_config=base,
                       train_config=protocol, out_dir=out, cluster=cluster_from_args(args),
                       progress=not args.no_progress, variants=args.variants)
    print(result.to_string())
    print(f"runs written under {out}")
    return 0


def _cmd_bench(args) -> int:
    from dmdlab.orchestration.bench import bench, bench_seeds

    if args.seeds is not None:
        record = bench_seeds(require_file(args.data), seeds=args.seeds, preset=args.preset, variant=args.variant,
                             overrides=tuple(model_overrides(args)), batch_size=args.batch_size,
                             batches=args.train_batches or 20, threads=args.threads, device=args.device)
        print(json.dumps(record, ensure_ascii=False))
        return 0
    record = bench(require_file(args.data), preset=args.preset, variant=args.variant,
                   overrides=tuple(model_overrides(args)), text_lr=args.text_lr,
                   batch_size=args.batch_size, eval_batch_size=args.eval_batch_size,
                   loss_batch_size=args.loss_batch_size, threads=args.threads,
                   epochs=args.epochs, warmup_batches=args.warmup_batches, device=args.device, compile=args.compile,
                   isolate=not args.in_process, train_batches=args.train_batches,
                   aligned_data=args.aligned_data and require_file(args.aligned_data), inference=not args.no_eval)
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
    add_protocol_options(parser)
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

    from dmdlab.model.variants import TABLES
    from dmdlab.modes import MODES

    parser = subparsers.add_parser(
        "reproduce", help="run a named table (main, ablation, unimodal) over several seeds", formatter_class=formatter,
        description="Train every variant of a named table with several seeds and print mean ± std beside the "
                    f"paper's numbers, each row naming the data it was measured on. Tables: {_tables_help()}. "
                    "The comparison table re-runs every baseline of the paper's comparison table that runs here "
                    "(EF-LSTM, TFN, LMF, MFM through MMSA, github.com/thuiar/MMSA; LF-LSTM and MulT in dmdlab) "
                    "beside DMD, with the published number, ours - published, and the difference from DMD paired by "
                    "seed with its 95 % interval and p. Every run selects its epoch on the validation split only; the "
                    "test split is scored once, with that epoch. Finished runs in --out are reused and interrupted "
                    "ones resumed, so re-running the command continues.",
        epilog="example: python -m dmdlab reproduce comparison --data data/synth_mosi.pkl --seeds 3 --mode class")
    parser.add_argument("table", choices=tuple(TABLES), help="which table")
    parser.add_argument("--data", required=True, help="MMSA pickle to train and test on")
    parser.add_argument("--seeds", type=positive_int, default=5, help="number of seeds, from 1111 (default: %(default)s, "
                        "the paper's 1111-1115)")
    parser.add_argument("--out", help="folder of the runs (default: runs/reproduce/<data>/<table>)")
    parser.add_argument("--variants", nargs="+", metavar="NAME", help="only these rows of the table (e.g. dmd "
                        "wo_fd unimodal_l); the others can follow later into the same --out")
    parser.add_argument("--mode", choices=tuple(MODES), default=None,
                        help="start from a mode's model size and protocol (class: lr 2e-3, no accumulation, 3 epochs; "
                             "smoke: also the tiny model); protocol options given here still win (default: the "
                             "official protocol)")
    add_model_options(parser, variant=False)
    add_text_encoder_options(parser)
    add_protocol_options(parser)
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
    parser.add_argument("--seeds", type=positive_int, default=None, metavar="K",
                        help="instead: training throughput of K seeds trained together as one stacked model (torch.func "
                             "vmap) beside one alone and one at K times the batch, in this process, every dropout rate "
                             "0, --train-batches steps each (default 20)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: %(default)s)")
    parser.add_argument("--compile", action="store_true", help="measure with torch.compile")
    parser.add_argument("--in-process", action="store_true", help="measure in this process (peak memory then "
                        "covers both measurements)")
    parser.set_defaults(func=_cmd_bench)
