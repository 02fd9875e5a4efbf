"""Runs per hour through Ray against runs one after another in this process, and tune's trials per hour.

    python scripts/bench_runs.py overhead --runs 8            # smoke-size runs: the engine's cost per run
    python scripts/bench_runs.py class --runs 4 --epochs 1    # class-mode ablation runs (reproduce ablation)
    python scripts/bench_runs.py tune --trials 4 --epochs 1   # class-mode tune trials on Ray

Each measurement prints one JSON line. ``overhead`` and ``class`` train the same runs
twice, one torch thread per run: in this process one after another (the Python API's
default, ``--jobs 1``), then as Ray tasks on a local Ray with ``--cpus`` CPUs (as
``reproduce`` does); Ray's start-up is timed apart. ``class`` trains the first
``--runs`` of the ablation table's (variant, seed) pairs, in the table's order, with
``--epochs`` epochs of the class protocol. Everything is written to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def _workbench(mode: str, epochs: int | None):
    from dmdlab.orchestration.workbench import open_workbench

    return open_workbench(mode, epochs=epochs)


def _todo(bench, runs: int, folder: Path, threads: int):
    from dmdlab.model.variants import get_variant
    from dmdlab.orchestration.experiments import TABLES, seed_list

    pairs = [(variant, seed) for variant in TABLES["ablation"] for seed in seed_list(5)]
    # the table's runs interleaved by seed, so that a few runs cover several variants
    pairs = sorted(pairs, key=lambda pair: pair[1])[:runs]
    config = bench.train_config.replace(progress=False, num_threads=threads)
    return [(f"{variant}-seed{seed}", get_variant(variant, bench.model_config), config.replace(seed=seed),
             folder / variant / f"seed{seed}") for variant, seed in pairs]


def _timed_runs(bench, runs: int, cpus: int) -> dict:
    from dmdlab.orchestration.cluster import Cluster, RayEngine
    from dmdlab.orchestration.experiments import train_all

    record = {}
    with tempfile.TemporaryDirectory(prefix="bench-runs-") as temp:
        folder = Path(temp) / "here"
        started = time.perf_counter()
        here = train_all(bench.data, _todo(bench, runs, folder, 1), out_dir=folder, progress=False)
        record["in_process_s"] = time.perf_counter() - started
        record["train_s_per_run"] = sum(_train_seconds(run) for run in here) / len(here)

        cluster = Cluster(num_cpus=cpus)
        started = time.perf_counter()
        engine = RayEngine(cluster)   # started here and kept: train_all below joins it
        record["ray_start_s"] = time.perf_counter() - started
        folder = Path(temp) / "ray"
        try:
            started = time.perf_counter()
            there = train_all(bench.data, _todo(bench, runs, folder, 1), out_dir=folder, cluster=cluster,
                              progress=False)
            record["ray_s"] = time.perf_counter() - started
        finally:
            engine.close()
        record["ray_train_s_per_run"] = sum(_train_seconds(run) for run in there) / len(there)
    record["in_process_runs_per_hour"] = 3600 * runs / record["in_process_s"]
    record["ray_runs_per_hour"] = 3600 * runs / record["ray_s"]
    record["ray_runs_per_hour_with_start"] = 3600 * runs / (record["ray_s"] + record["ray_start_s"])
    # the cost per run beyond its epochs (building the model, the final test pass, and for Ray the
    # task's scheduling, a worker's imports and the result's transfer): a slot's wall time per run
    # minus the run's epoch time
    record["in_process_overhead_s_per_run"] = record["in_process_s"] / runs - record["train_s_per_run"]
    record["ray_overhead_s_per_run"] = record["ray_s"] * cpus / runs - record["ray_train_s_per_run"]
    return record


def _train_seconds(run) -> float:
    """A run's epochs' training + evaluation seconds (its history), without its final test pass."""
    return float(run.history[["time/train_s", "time/eval_s"]].to_numpy().sum())


def _tune(bench, trials: int, cpus: int) -> dict:
    from dmdlab.orchestration.cluster import Cluster
    from dmdlab.orchestration.tune import tune

    with tempfile.TemporaryDirectory(prefix="bench-tune-") as temp:
        started = time.perf_counter()
        study = tune(bench.data, trials=trials, out_dir=temp, model_config=bench.model_config,
                     train_config=bench.train_config, cluster=Cluster(num_cpus=cpus), seed=0, progress=False)
        seconds = time.perf_counter() - started
    states = [trial.state.name.lower() for trial in study.trials]
    return {"trials": trials, "states": {state: states.count(state) for state in set(states)}, "wall_s": seconds,
            "trials_per_hour_with_ray_start": 3600 * trials / seconds}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("overhead", "class", "tune"))
    parser.add_argument("--runs", type=int, default=4, help="runs per engine (overhead, class)")
    parser.add_argument("--trials", type=int, default=4, help="tune trials")
    parser.add_argument("--epochs", type=int, default=None, help="cap the mode's epochs (smoke 3, class 3)")
    parser.add_argument("--cpus", type=int, default=os.cpu_count(), help="CPUs used (default: all)")
    args = parser.parse_args(argv)
    mode = "smoke" if args.what == "overhead" else "class"
    bench = _workbench(mode, args.epochs)
    record = {"what": args.what, "mode": mode, "epochs": bench.train_config.max_epochs, "cpus": args.cpus,
              "machine_cpus": os.cpu_count(), "load_avg_1min_before": os.getloadavg()[0]}
    if args.what == "tune":
        record.update(_tune(bench, args.trials, args.cpus))
    else:
        record["runs"] = args.runs
        record.update(_timed_runs(bench, args.runs, args.cpus))
    record["load_avg_1min_after"] = os.getloadavg()[0]
    print(json.dumps({key: round(value, 2) if isinstance(value, float) else value for key, value in record.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
