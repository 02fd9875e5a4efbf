"""Command ``tune`` of ``python -m dmdlab``: an Optuna study, and its best settings over seeds."""

from __future__ import annotations

import argparse
from pathlib import Path

from dmdlab.cli.options import non_negative_int, positive_int


def _cmd_tune(args) -> int:
    from dmdlab.cli.options import cluster_from_args, model_overrides, protocol_from_args, require_file
    from dmdlab.training.resolve import resolve
    from dmdlab.orchestration.tune import DEFAULT_SPACE, best_table, trials_frame, tune

    if args.trials is None and args.best is None:
        raise ValueError("tune needs --trials N (trials to add to the study), --best K (retrain the best K settings "
                         "over seeds), or both.")
    data, model_config, _ = resolve(require_file(args.data), preset=args.preset, overrides=model_overrides(args),
                                    variant=args.variant)
    out = Path(args.out or Path("runs") / "tune" / Path(args.data).stem)
    train_config = protocol_from_args(args)
    cluster = cluster_from_args(args)
    study = tune(data, trials=args.trials or 0, out_dir=out, space=args.space or DEFAULT_SPACE, storage=args.storage,
                 study=args.study, model_config=model_config, train_config=train_config, cluster=cluster,
                 seed=args.sampler_seed, progress=not args.no_progress)
    frame = trials_frame(study)
    if frame.empty:
        raise ValueError(f"study {study.study_name!r} in {args.storage or out} has no trials yet: give --trials N to "
                         "run some (--best retrains the best of them).")
    print(f"study {study.study_name!r}: {len(frame)} trials ({', '.join(f'{n} {s.lower()}' for s, n in frame['state'].value_counts().items())})")
    if (frame["state"] == "COMPLETE").any():
        best = study.best_trial
        print(f"best: trial {best.number}, best validation MAE {best.value:.4f}, {best.params}")
    if args.best:
        table = best_table(data, study, k=args.best, seeds=args.seeds, out_dir=out, model_config=model_config,
                           train_config=train_config, cluster=cluster, progress=not args.no_progress,
                           space=args.space or DEFAULT_SPACE)
        print(table.to_string())
    print(f"study and runs under {out}")
    return 0


def register(subparsers) -> None:
    """Add tune to ``python -m dmdlab``."""
    from dmdlab.cli.options import add_cluster_options, add_model_options, add_protocol_options, add_text_encoder_options

    parser = subparsers.add_parser(
        "tune", help="hyper-parameter search (Optuna) on the validation MAE; best settings over seeds",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Search hyper-parameters with Optuna (TPE). Each trial trains one run with sampled settings; "
                    "its objective is the run's best VALIDATION MAE, and trials whose per-epoch validation MAE "
                    "falls behind the median are pruned. The test split is never used by the search: it is "
                    "scored only by --best, once per retrained run. Options that are not searched (model "
                    "--set, protocol) pass through as in train. The study is kept in a journal file in --out (or "
                    "any Optuna storage URL, --storage); running the command again continues it.",
        epilog="example: python -m dmdlab tune --data data/synth_mosi.pkl --trials 20 --epochs 3 --lr 5e-4 "
               "--grad-accumulation 1\n"
               "         python -m dmdlab tune --data data/synth_mosi.pkl --best 2 --seeds 5 --epochs 3 ...  "
               "(same options: the best 2 settings and the defaults over 5 seeds, paired against the defaults)")
    parser.add_argument("--data", required=True, help="MMSA pickle to search on")
    parser.add_argument("--trials", type=non_negative_int, default=None, metavar="N",
                        help="trials to add to the study (a continued study goes on counting)")
    parser.add_argument("--out", help="folder of the study journal and the runs (default: runs/tune/<data>)")
    parser.add_argument("--space", metavar="YAML", help="search-space file (default: the one shipped with dmdlab, "
                        "around the official configuration: learning rate, dropouts, GD hidden sizes, loss weights)")
    parser.add_argument("--storage", metavar="URL", help="an Optuna storage URL, e.g. postgresql://user@host/db, for "
                        "trials from many machines (default: the journal file <out>/study.journal)")
    parser.add_argument("--study", default="dmd", metavar="NAME", help="study name in the storage (default: %(default)s)")
    parser.add_argument("--best", type=positive_int, default=None, metavar="K",
                        help="retrain the K best settings and the defaults over --seeds seeds, test each run once, "
                             "and print them as one table with paired differences from the defaults")
    parser.add_argument("--seeds", type=positive_int, default=5, help="seeds of --best, from 1111 (default: %(default)s)")
    parser.add_argument("--sampler-seed", type=int, default=None, help="seed of the TPE sampler (default: random)")
    add_model_options(parser)
    add_text_encoder_options(parser)
    add_protocol_options(parser)
    add_cluster_options(parser)
    parser.set_defaults(func=_cmd_tune)
