"""Commands ``workbench``, ``claims`` and ``demo`` of ``python -m dmdlab``.

``workbench`` trains a mode's standard set of runs into the cache the notebooks read;
``claims`` measures the paper's claims on a folder of runs; ``demo`` (the main job) trains
part of the class workbench, prints the claims that part can measure, and names the
command that measures the rest. Every time promised here comes from :mod:`dmdlab.costs`.
"""

from __future__ import annotations

import argparse
import textwrap
import time
from pathlib import Path

from dmdlab import costs
from dmdlab.model.variants import label, variant_names
from dmdlab.modes import MODES, cache_dir

DEMO_VARIANTS: tuple[str, ...] = variant_names(demo=True)
"""What the demo trains (``Variant.demo`` of the registry): DMD, the control without decoupling and
the strongest unimodal model."""


def _mode_help() -> str:
    return "; ".join(f"{name}: {mode.summary}" for name, mode in MODES.items())


def _add_workbench_options(parser: argparse.ArgumentParser, *, mode_default: str = "class") -> None:
    from dmdlab.cli.options import add_cluster_options, add_model_options, add_text_encoder_options
    from dmdlab.data.synth import WORLDS
    from dmdlab.cli.options import positive_int

    parser.add_argument("--mode", default=mode_default, choices=tuple(MODES), help=f"{_mode_help()} "
                        "(default: %(default)s)")
    parser.add_argument("--data", help="an MMSA pickle (paper mode needs one; smoke and class default to the "
                        "built-in data, generated into the cache once)")
    parser.add_argument("--unaligned", action="store_true",
                        help="the built-in data unaligned (the paper's unaligned setting: audio 375 and vision 500 "
                             "frames against 50 words at MOSI size): a class-mode DMD run takes about 46-61 "
                             "CPU-minutes instead of 2-3 (docs/unaligned.md). A --data file is used as it is, aligned or "
                             "unaligned")
    parser.add_argument("--world", default="standard", choices=tuple(WORLDS),
                        help="the built-in data of a named world: " + "; ".join(
                            f"{name} ({dials.describe()})" for name, dials in WORLDS.items()) +
                        "; each world has its own data file and run folder (default: %(default)s; data/README.md)")
    parser.add_argument("--out", help="folder of the runs (default: dmdlab's cache, $DMDLAB_HOME or "
                        "~/.cache/dmdlab, under workbench/<mode>/<data>/<preset>; the notebooks read it)")
    parser.add_argument("--seeds", type=positive_int, default=None, help="number of seeds from 1111 (default: the mode's: "
                        "smoke 2, class 3, paper 5)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_model_options(parser, variant=False)
    add_text_encoder_options(parser)
    add_cluster_options(parser)


def _open(args):
    from dmdlab.cli.options import model_overrides
    from dmdlab.orchestration.workbench import open_workbench

    bench = open_workbench(args.mode, data=args.data, preset=args.preset, seeds=args.seeds, out=args.out,
                           overrides=model_overrides(args), aligned=not args.unaligned, world=args.world)
    if args.text_lr is not None:
        bench.train_config = bench.train_config.replace(text_lr=args.text_lr)
    return bench


def _train_and_report(bench, variants, args, *, title: str, settle: str = "") -> int:
    """Train ``variants`` (what is missing), then print the claims report; with ``settle``
    (the demo), only the claims these runs measure, and ``settle`` after the names of the rest."""
    from dmdlab.claims import claims_report
    from dmdlab.cli.options import cluster_from_args

    started = time.perf_counter()
    print(f"{title}: {bench}", flush=True)
    print(f"variants: {', '.join(variants)}", flush=True)
    run_set = bench.runs(variants, cluster=cluster_from_args(args), progress=not args.no_progress)
    elapsed = time.perf_counter() - started
    _print_timing(run_set, elapsed)
    report = claims_report(run_set, bench.data, progress=not args.no_progress)
    if bench.note:
        report.notes.insert(0, bench.note)
    print(report.to_string(measured_only=bool(settle), settle=settle))
    print(f"runs under {bench.out}")
    return 0


def _print_timing(run_set, elapsed: float) -> None:
    """Wall time, and the training time of each variant's runs (from their histories)."""
    import pandas as pd

    rows = []
    for run in run_set:
        history = run.history
        seconds = float((history["time/train_s"] + history["time/eval_s"]).sum()) if len(history) else float("nan")
        rows.append({"variant": run.variant, "seconds": seconds, "epochs": len(history)})
    frame = pd.DataFrame(rows).groupby("variant", sort=False).agg(runs=("seconds", "size"),
                                                                  mean_s=("seconds", "mean"), epochs=("epochs", "max"))
    print(f"{len(rows)} runs ready in {elapsed:.0f} s wall (runs already in the cache cost nothing); "
          "training + validation time per run (from the histories):")
    print(frame.round(1).to_string())


def _cmd_workbench(args) -> int:
    from dmdlab.orchestration.workbench import WORKBENCH_VARIANTS

    variants = tuple(args.variants or WORKBENCH_VARIANTS)
    return _train_and_report(_open(args), variants, args, title="workbench")


def _cmd_claims(args) -> int:
    from dmdlab import runs
    from dmdlab.claims import claims_report, runs_dataset

    folder = Path(args.runs)
    if not folder.exists():
        raise FileNotFoundError(f"no run folder at {folder}")
    found = runs.load(folder)
    run_set = [found] if isinstance(found, runs.Run) else list(found)
    data = runs_dataset(run_set, args.data) if args.data and run_set else None
    report = claims_report(run_set, data, progress=not args.json)
    print(report.to_json() if args.json else report.to_string())
    if args.worlds:
        report = _world_report(folder)
        print(report.to_json() if args.json else report.to_string())
    return 0


def _world_report(folder: Path):
    """The counterfactual claims from the cached workbenches of the worlds, of the mode and preset of
    ``folder`` (a workbench folder: <cache>/workbench/<mode>/<data>/<preset>)."""
    from dmdlab import runs
    from dmdlab.claims import world_claims
    from dmdlab.orchestration.workbench import WORLD_VARIANTS, world_folder

    parts = folder.resolve().parts
    if len(parts) < 4 or parts[-4] != "workbench" or parts[-3] not in MODES:
        raise ValueError(f"--worlds reads the cached workbenches of the named worlds beside {folder}, which is not a "
                         "workbench folder in the cache (<cache>/workbench/<mode>/<data>/<preset>)")
    mode, preset = parts[-3], parts[-1]
    worlds = {}
    for world in WORLD_VARIANTS:
        where = world_folder(mode, world, preset=preset)
        found = runs.load(where) if where.exists() else []
        worlds[world] = [found] if isinstance(found, runs.Run) else list(found)
    return world_claims(worlds, notes=[MODES[mode].note] if MODES[mode].note else [])


def _cmd_worlds(args) -> int:
    from dmdlab.claims import world_claims
    from dmdlab.cli.options import cluster_from_args
    from dmdlab.orchestration.workbench import WORLD_VARIANTS, world_runs

    started = time.perf_counter()
    print(f"worlds ({args.mode} mode): " + "; ".join(f"{world}: {', '.join(variants)}"
                                                     for world, variants in WORLD_VARIANTS.items()), flush=True)
    worlds = world_runs(args.mode, seeds=args.seeds, preset=args.preset, cluster=cluster_from_args(args),
                        progress=not args.no_progress)
    _print_timing([run for run_set in worlds.values() for run in run_set], time.perf_counter() - started)
    print(world_claims(worlds, notes=[MODES[args.mode].note] if MODES[args.mode].note else []).to_string())
    return 0


def demo_seconds(runs_per_variant: int = 3) -> float:
    """The demo's expected wall time on 2 cores from an empty cache (:mod:`dmdlab.costs`)."""
    return costs.class_seconds([v for v in DEMO_VARIANTS for _ in range(runs_per_variant)])


def _cmd_demo(args) -> int:
    from dmdlab.notebook import NOTEBOOK_RUNS, readiness
    from dmdlab.orchestration.workbench import WORKBENCH_VARIANTS

    if args.mode == "class":
        cost = f"From an empty cache: {costs.minutes(demo_seconds(args.seeds or 3))} on 2 CPU cores ({costs.MEASURED})."
    else:
        cost = "Smoke mode: seconds." if args.mode == "smoke" else "Paper mode: hours per run on a CPU."
    print(textwrap.fill(f"demo: trains {', '.join(DEMO_VARIANTS)} in {args.mode} mode, then prints the claims they "
                        f"measure. {cost}", 100, break_on_hyphens=False, break_long_words=False), flush=True)
    bench = _open(args)
    rest = [v for v in WORKBENCH_VARIANTS if v not in DEMO_VARIANTS]
    command = f"python -m dmdlab workbench --mode {args.mode}"
    missing = bench.missing(rest)
    cost = f", {costs.minutes(costs.class_seconds([v for v, _ in missing]))}" if args.mode == "class" else ""
    settle = (f"`{command}` trains the rest of the standard set ({len(missing)} runs{cost} on 2 cores, reusing these) "
              "and measures them.")
    status = _train_and_report(bench, DEMO_VARIANTS, args, title="demo", settle=settle)
    waiting = {name: todo for name, todo in readiness(bench).items() if todo}
    ready = [name for name in NOTEBOOK_RUNS if name not in waiting]
    print(f"notebooks ready (their runs are cached): {', '.join(ready)}")
    if waiting:
        print(f"notebooks that would train first (run `{command}` before class):")
        for name, todo in waiting.items():
            expected = f", {costs.minutes(costs.class_seconds([v for v, _ in todo], slots=1))}" \
                if args.mode == "class" else ""
            print(f"  {name}: {len(todo)} runs{expected} in the notebook")
    print("09_real_data_bert and 10_search train runs of their own (a BERT run; a search):\n"
          "their first cells say how long.")
    return status


def _workbench_minutes() -> str:
    from dmdlab.orchestration.workbench import WORKBENCH_VARIANTS

    return costs.minutes(costs.class_seconds([v for v in WORKBENCH_VARIANTS for _ in range(3)]))


def register(subparsers) -> None:
    """Add workbench, claims, worlds and demo to ``python -m dmdlab``."""
    from dmdlab.cli.options import add_cluster_options
    from dmdlab.cli.options import positive_int
    from dmdlab.orchestration.workbench import WORKBENCH_VARIANTS

    formatter = argparse.RawDescriptionHelpFormatter
    parser = subparsers.add_parser(
        "workbench", help="train a mode's standard set of runs once (cached; the notebooks read it)",
        formatter_class=formatter,
        description=f"Train the standard set — {'; '.join(label(name) for name in WORKBENCH_VARIANTS)} — with "
                    "every seed, into dmdlab's cache, then print the claims report. Finished runs are reused and "
                    "interrupted ones resumed: after a kill, run the same command again.",
        epilog=f"cache: {cache_dir()} ($DMDLAB_HOME overrides)\n"
               f"example: python -m dmdlab workbench --mode class            # {_workbench_minutes()} on 2 cores\n"
               "         python -m dmdlab workbench --mode paper --data data/MOSI/aligned_50.pkl")
    _add_workbench_options(parser)
    parser.add_argument("--variants", nargs="+", choices=WORKBENCH_VARIANTS, metavar="NAME",
                        help=f"train only these (default: all of {', '.join(WORKBENCH_VARIANTS)})")
    parser.set_defaults(func=_cmd_workbench)

    parser = subparsers.add_parser(
        "claims", help="measure the paper's claims on a folder of runs", formatter_class=formatter,
        description="For each claim of the paper — DMD beats each ablation and the best unimodal model; HomoGD's "
                    "L→V and L→A edges dominate; HeteroGD's V→A emerges; decoupling separates sentiment in the "
                    "homogeneous space and modalities in the heterogeneous space; cross-modal attention weights the "
                    "frames that carry each sentiment word's visual cue — print the measured value with its 95 % "
                    "interval over seeds, its control, the paper's value and a verdict (holds / does not hold / "
                    "inside seed noise / not measurable here: runs missing, one seed, or the deciding control not "
                    "trained — the edge claims need the uniform-prior runs). Scores the test split of the runs' "
                    "dataset; lines stay within 100 characters, --json keeps every field.")
    parser.add_argument("runs", help="a folder of runs, e.g. a workbench folder (<variant>/seed<seed>/...)")
    parser.add_argument("--data", help="the dataset (default: the file the runs' config.json names)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--worlds", action="store_true",
                        help="also the two counterfactual claims (the edges follow the teacher; decoupling pays where "
                             "modalities differ), from the cached workbenches of the built-in data's named worlds of "
                             "RUNS' mode (train them with: python -m dmdlab worlds --mode MODE)")
    parser.set_defaults(func=_cmd_claims)

    parser = subparsers.add_parser(
        "worlds", help="train the counterfactual worlds' runs and print the two claims only a generator can test",
        formatter_class=formatter,
        description="The built-in data in dialled worlds (data/README.md): DMD and the uniform-prior model with vision "
                    "made the strongest modality, against the standard world -- do the learned graph edges turn "
                    "toward V→L and V→A? -- and DMD against w/o FD as the modality-exclusive speaker style goes from "
                    "none to strong -- does decoupling pay more where modalities differ more? Runs are cached per "
                    "world and reused; the notebook 11_worlds shows the same.",
        epilog="example: python -m dmdlab worlds --mode class --jobs 2   # 27 class runs, 9 shared with the workbench")
    parser.add_argument("--mode", default="class", choices=("smoke", "class"), help="smoke or class (default: "
                        "%(default)s)")
    parser.add_argument("--seeds", type=positive_int, default=None, help="number of seeds from 1111 (default: the "
                        "mode's)")
    parser.add_argument("--preset", default="mosi", choices=("mosi", "mosei"), help="the model preset (default: "
                        "%(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_cluster_options(parser)
    parser.set_defaults(func=_cmd_worlds)

    parser = subparsers.add_parser(
        "demo", help=f"the main job: part of the class workbench, then the claims report ({costs.minutes(demo_seconds())} "
                     "on 2 CPU cores)", formatter_class=formatter,
        description=f"Train {', '.join(DEMO_VARIANTS)} in class mode (the built-in MOSI-size data, the paper's "
                    "MOSI model, lr 2e-3 without accumulation, 3 epochs, 3 seeds; generated and cached on first use: "
                    f"{costs.minutes(demo_seconds())} on 2 CPU cores, {costs.MEASURED}) and print the claims these "
                    "runs can measure, then name the rest and the command that measures them (`workbench`, "
                    f"{_workbench_minutes()} from an empty cache). A bar counts the runs' epochs, with an ETA.")
    _add_workbench_options(parser)
    parser.set_defaults(func=_cmd_demo)
