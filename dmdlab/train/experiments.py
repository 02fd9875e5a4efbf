"""Experiments: several seeds and variants → tables in the paper's layout, beside the paper.

``run_experiment(dataset, variants, seeds=...)`` trains every (variant, seed) pair (each a
run directory under ``out_dir/<variant>/seed<seed>``; finished runs are read back,
interrupted ones resumed), and ``results_table(runs)`` prints mean ± std over seeds, one
row per variant, with the published row of ``dmdlab.paper`` beside it where one exists,
each row naming the data it was measured on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from dmdlab import paper, runs
from dmdlab.metrics import PAPER_NAMES, PERCENT_METRICS, mean_std_text
from dmdlab.model.variants import VARIANT_LABELS
from dmdlab.train.config import DEFAULT_SEEDS, TrainConfig
from dmdlab.train.trainer import config_changes, load_dataset, text_mode, train

TABLES: dict[str, tuple[str, ...]] = {
    "main": ("mult", "dmd"),
    "ablation": ("dmd", "wo_fd", "wo_homogd", "wo_heterogd", "wo_ca", "mult", "mult_gd"),
    "unimodal": ("dmd", "unimodal_l", "unimodal_v", "unimodal_a"),
    "text": ("unimodal_l",),   # the text-only variant alone: what a text-only file (data build) trains
    "demo": ("dmd", "wo_fd", "wo_homogd", "wo_heterogd", "wo_ca", "unimodal_l", "unimodal_v", "unimodal_a"),
}
"""Named tables: the variants each one trains, in row order."""

PAPER_MODELS: dict[str, str] = {"dmd": "DMD", "mult": "MulT"}
"""Variants whose published numbers ``dmdlab.paper`` holds (the comparison table's rows)."""

TABLE_COLUMNS: dict[str, str] = {PAPER_NAMES[title]: title for title in ("Acc-7", "Acc-2", "F1", "MAE", "Corr")}
"""Metric → column title, in the paper's order (Acc-2 and F1 are the non-0 ones)."""


def seed_list(seeds: int | Sequence[int]) -> list[int]:
    """``seeds`` as a list: an int n means the paper's first n seeds (1111, 1112, ...)."""
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError(f"The 'seeds' parameter must be a positive number of seeds. Got {seeds}.")
        return [DEFAULT_SEEDS[0] + offset for offset in range(seeds)]
    return [int(seed) for seed in seeds]


def run_experiment(dataset, variants: Sequence[str] = ("dmd",), *, seeds: int | Sequence[int] = DEFAULT_SEEDS,
                   base_config=None, preset: str = "mosi", train_config: TrainConfig = TrainConfig(),
                   out_dir=None, jobs: int = 1, progress: bool = True) -> runs.RunSet:
    """Train every variant with every seed; returns the runs (finished ones on disk are reused).

    ``base_config``: the DMDConfig the variants are derived from (default: ``preset`` for the
    data's alignment). ``train_config``: the protocol; its seed is replaced per run.
    ``jobs`` > 1 trains that many runs at once in worker processes (each with
    ``train_config.num_threads`` threads, 1 if unset); it needs ``dataset`` as a file path,
    and, in a script, the call under ``if __name__ == "__main__":`` (the workers are spawned
    and import the script; notebooks need nothing).
    A run's numbers depend on its seed, configs and thread count, not on ``jobs``.
    """
    from dmdlab.model import DMDConfig
    from dmdlab.model.variants import get_variant

    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"The 'jobs' parameter must be a positive int. Got {jobs!r}.")
    data = load_dataset(dataset, text_mode(base_config) if base_config is not None else "features")
    base = base_config or DMDConfig.preset(preset, aligned=data.spec.aligned)
    configs = [(variant, get_variant(variant, base)) for variant in variants]  # fail early on a bad name
    todo = [(variant, config, seed) for variant, config in configs for seed in seed_list(seeds)]
    results: dict[int, runs.Run] = {}
    pending = []
    for position, (variant, config, seed) in enumerate(todo):
        run_dir = Path(out_dir) / variant / f"seed{seed}" if out_dir is not None else None
        if run_dir is not None and (run_dir / runs.METRICS).is_file():
            results[position] = _reuse(runs.read_run(run_dir), config, train_config.replace(seed=seed), data)
        else:
            run_config = train_config.replace(seed=seed, progress=train_config.progress and progress)
            pending.append((position, config, run_config, run_dir, f"{variant}-seed{seed}"))
    bar = tqdm(total=len(todo), initial=len(results), desc="runs", disable=not progress)
    if jobs > 1 and len(pending) > 1:
        results.update(_run_parallel(data, pending, jobs, bar))
    else:
        for position, config, run_config, run_dir, name in pending:
            results[position] = train(data, config, run_config, run_dir, resume=True, name=name)
            bar.update()
    bar.close()
    return runs.RunSet([results[position] for position in range(len(todo))])


def _reuse(run: runs.Run, model_config, train_config: TrainConfig, data) -> runs.Run:
    """A finished run read back, after checking it was trained with the configs and the data (by content) asked for."""
    runs.check_same_data(run.path, run.config, getattr(data, "sha256", None))
    differs = config_changes(run.config.get("train", {}), train_config)
    if run.config.get("model") != model_config.to_dict():
        differs.insert(0, "model config")
    if differs:
        raise ValueError(f"{run.path} holds a finished run trained with other settings ({', '.join(differs)}); "
                         "choose another output folder.")
    return run


def _run_one(data_path: str, model_config: dict, train_config: dict, run_dir, name: str, epochs=None) -> runs.Run:
    """A worker process's job (top-level, so it pickles): one run, rebuilt from plain dicts.
    ``epochs``: a queue that receives a 1 after every epoch (the parent's epoch bar)."""
    from dmdlab.model import DMDConfig

    callbacks = [lambda trainer, row: epochs.put(1)] if epochs is not None else []
    return train(data_path, DMDConfig.from_dict(model_config), TrainConfig.from_dict(train_config), run_dir,
                 resume=True, name=name, callbacks=callbacks)


def _run_parallel(data, pending, jobs: int, bar) -> dict[int, runs.Run]:
    """The pending runs in ``jobs`` worker processes; ``bar`` counts runs, a second bar counts
    epochs (at most each run's ``max_epochs``: early stopping ends a run sooner) with its ETA."""
    import multiprocessing
    import queue as queues
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    if getattr(data, "path", None) is None:
        raise ValueError("jobs > 1 needs the dataset as a file path (workers load it themselves).")
    context = multiprocessing.get_context("spawn")  # fresh interpreters: no forked torch thread pools
    results = {}
    with context.Manager() as manager, ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        epochs = manager.Queue()
        epoch_bar = tqdm(total=sum(config.max_epochs for _, _, config, _, _ in pending), desc="epochs",
                         disable=bar.disable)
        futures = {}
        for position, config, run_config, run_dir, name in pending:
            run_config = run_config.replace(progress=False, num_threads=run_config.num_threads or 1)
            future = pool.submit(_run_one, str(data.path), config.to_dict(), run_config.to_dict(), run_dir, name,
                                 epochs)
            futures[future] = position
        waiting = set(futures)
        while waiting:
            done, waiting = wait(waiting, timeout=1.0, return_when=FIRST_COMPLETED)
            while True:
                try:
                    epoch_bar.update(epochs.get_nowait())
                except queues.Empty:
                    break
            for future in done:
                results[futures[future]] = future.result()
                bar.update()
        epoch_bar.close()
    return results


def summarize(run_set: runs.RunSet | Sequence[runs.Run], metrics: Sequence[str] = tuple(TABLE_COLUMNS)) -> pd.DataFrame:
    """Mean, std (ddof=1; NaN for one seed) and count over seeds, a row per variant (first-seen order)."""
    frame = runs.RunSet(list(run_set)).metrics
    grouped = frame.groupby("variant", sort=False)[list(metrics)]
    summary = pd.concat({"mean": grouped.mean(), "std": grouped.std(ddof=1)}, axis=1).swaplevel(axis=1)
    summary = summary[[(metric, stat) for metric in metrics for stat in ("mean", "std")]]
    summary[("seeds", "n")] = grouped.size()
    return summary


def _data_label(run: runs.Run) -> str:
    name = run.config.get("dataset", {}).get("name") or "in-memory data"
    aligned = run.config.get("spec", {}).get("aligned")
    return f"{name} ({'aligned' if aligned else 'unaligned'})"


def results_table(run_set: runs.RunSet | Sequence[runs.Run], *, with_paper: bool = True,
                  paper_dataset: str = paper.MOSI, decimals: int | None = None) -> pd.DataFrame:
    """The printable table: a "this run" row per variant (mean ± std over seeds, %), and the
    published "paper" row beside it where ``dmdlab.paper`` holds one for ``paper_dataset``
    (the setting, aligned or not, follows the data), each row naming its data."""
    run_list = list(run_set)
    if not run_list:
        raise ValueError("results_table: no runs.")
    summary = summarize(run_list)
    first = {}
    for run in run_list:
        first.setdefault(run.variant, run)
    rows = []
    for variant in summary.index:
        run = first[variant]
        n = int(summary.loc[variant, ("seeds", "n")])
        row = {"model": VARIANT_LABELS.get(variant, variant), "source": "this run",
               "data": f"{_data_label(run)}, {n} seed{'s' if n > 1 else ''}, ≤{run.config['train']['max_epochs']} epochs"}
        for metric, title in TABLE_COLUMNS.items():
            percent = metric in PERCENT_METRICS
            places = decimals if decimals is not None else (1 if percent else 3)
            scale = 100.0 if percent else 1.0
            row[title] = mean_std_text(summary.loc[variant, (metric, "mean")] * scale,
                                       summary.loc[variant, (metric, "std")] * scale, places)
        rows.append(row)
        published = _paper_row(variant, run, paper_dataset) if with_paper else None
        if published is not None:
            rows.append(published)
    return pd.DataFrame(rows).set_index(["model", "source"])


def _paper_row(variant: str, run: runs.Run, dataset: str) -> dict | None:
    model = PAPER_MODELS.get(variant)
    setting = "aligned" if run.config.get("spec", {}).get("aligned", True) else "unaligned"
    result = paper.lookup(model, dataset, setting) if model else None
    if result is None:
        return None
    text = f", {result.text_features} text" if result.text_features else ", text features not stated"
    row = {"model": VARIANT_LABELS.get(variant, variant), "source": "paper", "data": f"{result.dataset} ({setting}{text})"}
    values = {"Acc-7": result.acc7, "Acc-2": result.acc2, "F1": result.f1, "MAE": None, "Corr": None}
    row.update({title: "–" if value is None else f"{value:.1f}" for title, value in values.items()})
    return row


@dataclass
class Reproduction:
    """A named table reproduced: its runs, the numeric summary and the printable table."""

    table: str
    runs: runs.RunSet
    summary: pd.DataFrame
    results: pd.DataFrame

    def to_string(self) -> str:
        with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 60):
            return (f"{self.table} table (Acc-7/Acc-2/F1 in %, non-0 Acc-2/F1; mean ± std over seeds)\n"
                    f"{protocol_line(self.runs)}\n{self.results.to_string()}")


def protocol_line(run_set) -> str:
    """How the runs were trained, in one line (from the first run's saved training config)."""
    run_list = list(run_set)
    if not run_list:
        return "protocol: no runs"
    config = run_list[0].config.get("train", {})
    seeds = sorted({run.seed for run in run_list if run.seed is not None})
    clip = config.get("grad_clip_value")
    return (f"protocol: Adam lr {config.get('lr'):g}, batch {config.get('batch_size')}, accumulation "
            f"{config.get('grad_accumulation')}, clip {clip if clip is not None else 'off'}, ≤{config.get('max_epochs')} "
            f"epochs, early stop {config.get('early_stop_patience')}, seeds {', '.join(map(str, seeds))}")


def reproduce(table: str, dataset, *, seeds: int | Sequence[int] = 5, epochs: int | None = None,
              preset: str = "mosi", base_config=None, train_config: TrainConfig = TrainConfig(), out_dir=None,
              jobs: int = 1, progress: bool = True) -> Reproduction:
    """Run a named table (``TABLES``) on ``dataset`` with ``seeds`` seeds and at most ``epochs`` epochs."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}: choose one of {', '.join(TABLES)}.")
    if epochs is not None:
        train_config = train_config.replace(max_epochs=epochs)
    run_set = run_experiment(dataset, TABLES[table], seeds=seeds, base_config=base_config, preset=preset,
                             train_config=train_config, out_dir=out_dir, jobs=jobs, progress=progress)
    published = paper.MOSEI if preset == "mosei" else paper.MOSI
    return Reproduction(table, run_set, summarize(run_set), results_table(run_set, paper_dataset=published))
