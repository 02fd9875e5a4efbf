"""Experiments: several seeds and variants → tables in the paper's layout, beside the paper.

``run_experiment(dataset, variants, seeds=...)`` trains every (variant, seed) pair (each a
run directory under ``out_dir/<variant>/seed<seed>``; finished runs are read back,
interrupted ones resumed), and ``results_table(runs)`` prints mean ± std over seeds, one
row per variant, with the published row of ``dmdlab.paper`` beside it where one exists,
each row naming the data it was measured on.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from dmdlab import comparison, paper, runs, stats
from dmdlab.metrics import PAPER_NAMES, PERCENT_METRICS, mean_std_text
from dmdlab.model import variants as registry
from dmdlab.model.variants import label
from dmdlab.orchestration.cluster import Cluster, engine
from dmdlab.training.config import DEFAULT_SEEDS, TrainConfig
from dmdlab.training.resolve import build_model_config, load_data
from dmdlab.training.trainer import train

TABLES: dict[str, tuple[str, ...]] = {table: registry.variant_names(table=table) for table in registry.TABLES}
"""Named tables: the variants each one trains, in row order (``Variant.tables`` of the registry)."""

PAPER_MODELS: dict[str, str] = {name: v.paper for name, v in registry.VARIANTS.items() if v.paper}
"""Variants whose published numbers ``dmdlab.paper`` holds (``Variant.paper``: the comparison table's rows)."""

TABLE_COLUMNS: dict[str, str] = {PAPER_NAMES[title]: title for title in ("Acc-7", "Acc-2", "F1", "MAE", "Corr")}
"""Metric → column title, in the paper's order (Acc-2 and F1 are the non-0 ones)."""

TABLE_UNITS: dict[str, dict] = {
    "scale": {metric: 100.0 for metric in TABLE_COLUMNS if metric in PERCENT_METRICS},
    "places": {metric: 1 if metric in PERCENT_METRICS else 3 for metric in TABLE_COLUMNS},
}
"""How tables print each metric: percent with one decimal for accuracies and F1, three decimals for MAE and Corr."""


def seed_list(seeds: int | Sequence[int]) -> list[int]:
    """``seeds`` as a list: an int n means the paper's first n seeds (1111, 1112, ...)."""
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError(f"The 'seeds' parameter must be a positive number of seeds. Got {seeds}.")
        return [DEFAULT_SEEDS[0] + offset for offset in range(seeds)]
    return [int(seed) for seed in seeds]


def run_experiment(dataset, variants: Sequence[str] = ("dmd",), *, seeds: int | Sequence[int] = DEFAULT_SEEDS,
                   base_config=None, preset: str = "mosi", train_config: TrainConfig = TrainConfig(),
                   out_dir=None, cluster: Cluster | None = None, progress: bool = True,
                   expected_seconds: float | None = None) -> runs.RunSet:
    """Train every variant with every seed; returns the runs (finished ones on disk are reused).

    ``base_config``: the DMDConfig the variants are derived from (default: ``preset`` for the
    data's alignment). ``train_config``: the protocol; its seed is replaced per run.
    ``cluster``: None trains the runs one after another in this process; a
    :class:`~dmdlab.orchestration.cluster.Cluster` trains them as Ray tasks (it needs ``dataset`` as
    a file path and ``out_dir``, both on a filesystem every node sees).
    ``expected_seconds``: the time the bar announces until the first epoch gives it a rate.
    A run's numbers depend on its seed, configs and thread count, not on where it ran.
    """
    from dmdlab.model.variants import get_variant

    base = base_config or build_model_config(preset)
    data = load_data(dataset, base)
    configs = [(variant, get_variant(variant, base)) for variant in variants]  # fail early on a bad name
    todo = [(f"{variant}-seed{seed}", config, train_config.replace(seed=seed),
             Path(out_dir) / variant / f"seed{seed}" if out_dir is not None else None)
            for variant, config in configs for seed in seed_list(seeds)]
    return runs.RunSet(train_all(data, todo, out_dir=out_dir, cluster=cluster, progress=progress,
                                 expected_seconds=expected_seconds))


class EpochBar:
    """One bar over the epochs of every run being trained, with an ETA: each run reports its
    finished epochs (``report((position, epoch))``); a run that ends early (early stopping)
    counts its remaining epochs as done. Until the first epoch, ``expected_seconds`` is shown."""

    FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} epochs [{elapsed}<{remaining}{postfix}]"

    def __init__(self, epochs: dict[int, int], *, progress: bool, expected_seconds: float | None = None):
        self.epochs, self.done = epochs, dict.fromkeys(epochs, 0)
        self.finished, self.expected = 0, expected_seconds
        self.bar = tqdm(total=sum(epochs.values()), desc=f"training {len(epochs)} run{'s' * (len(epochs) != 1)}",
                        unit="epoch", smoothing=0, bar_format=self.FORMAT, disable=not progress or not epochs)
        self._expected_left()

    def _expected_left(self) -> None:
        """Before the first epoch gives the bar a rate: the time left by the expected time."""
        if self.expected is None or any(self.done.values()):
            return
        left = self.expected - self.bar.format_dict["elapsed"]
        self.bar.set_postfix_str(f"about {max(1, round(left / 60))} min left, expected" if left > 0 else
                                 f"longer than the expected {max(1, round(self.expected / 60))} min: a busy machine?",
                                 refresh=False)

    def report(self, item) -> None:
        """``(position, epoch)`` from a run; None: just redraw (the elapsed time moves)."""
        if item is None:
            self._expected_left()
            self.bar.refresh()
            return
        position, epoch = item
        step = max(0, min(int(epoch), self.epochs[position]) - self.done[position])
        self.done[position] += step
        self._postfix()
        self.bar.update(step)

    def run_done(self, position: int) -> None:
        self.finished += 1
        step = self.epochs[position] - self.done[position]
        self.done[position] = self.epochs[position]
        self._postfix()
        self.bar.update(step)

    def _postfix(self) -> None:
        self.bar.set_postfix_str(f"{self.finished}/{len(self.epochs)} runs finished", refresh=False)

    def write(self, text: str) -> None:
        self.bar.write(text)

    def close(self) -> None:
        self.bar.close()


def train_all(data, todo, *, out_dir=None, cluster: Cluster | None = None, progress: bool = True,
              expected_seconds: float | None = None) -> list[runs.Run]:
    """Train each ``(name, model_config, train_config, run_dir)`` of ``todo``; the runs in that order.

    A run folder holding a finished run is read back (after checking it was trained with
    these settings and data), an unfinished one resumed. One bar counts the epochs of the
    runs to train, with an ETA (:class:`EpochBar`; on Ray the tasks report through a queue),
    and a line is printed per finished run.
    """
    results: dict[int, runs.Run] = {}
    pending = []
    for position, (name, config, run_config, run_dir) in enumerate(todo):
        if run_dir is not None and (Path(run_dir) / runs.METRICS).is_file():
            results[position] = _reuse(runs.read_run(run_dir), config, run_config, data)
        else:
            pending.append((position, name, config, run_config, run_dir))
    if cluster is not None and pending:
        if getattr(data, "path", None) is None or out_dir is None:
            raise ValueError("runs on Ray need the dataset as a file path and an output folder (the workers read "
                             "the one and write the other; on a cluster both must be on a shared filesystem).")
        source = str(Path(data.path).resolve())
    else:
        source = data
    bar = EpochBar({position: run_config.max_epochs for position, _, _, run_config, _ in pending}, progress=progress,
                   expected_seconds=expected_seconds)
    with engine(cluster) as workers:
        channel = workers.channel(bar.report) if pending and progress else None
        for position, name, config, run_config, run_dir in pending:
            if cluster is not None:   # a task's own bars would interleave; its torch threads are its CPUs
                run_config = run_config.replace(progress=False, num_threads=run_config.num_threads or cluster.threads)
            else:   # the batches of the epoch under way (the epochs are the bar above)
                run_config = run_config.replace(progress=run_config.progress and progress)
            workers.submit(position, _run_one, source, config.to_dict(), run_config.to_dict(),
                           str(run_dir) if run_dir is not None else None, name, channel, position)
        while len(workers):
            position, run = workers.next_done()
            results[position] = run
            bar.run_done(position)
            if progress:
                bar.write(f"finished {run.name}: {_finished_line(run)}")
    bar.close()
    return [results[position] for position in range(len(todo))]


def _finished_line(run: runs.Run) -> str:
    """'valid MAE 0.912, test Acc-2 71.3 %, 3 epochs, 41 s' for a finished run."""
    seconds = run.history[["time/train_s", "time/eval_s"]].to_numpy().sum() if "time/train_s" in run.history else 0.0
    valid, test = run.metrics.get("valid", {}), run.metrics.get("test", {})
    return (f"valid MAE {valid.get('MAE', float('nan')):.3f}, test Acc-2 {100 * test.get('Non0_acc_2', float('nan')):.1f} %, "
            f"{run.metrics.get('epochs')} epochs, {seconds:.0f} s")


def _reuse(run: runs.Run, model_config, train_config: TrainConfig, data) -> runs.Run:
    """A finished run read back, after checking it was trained with the configs and the data (by content) asked for."""
    match = runs.compare_run(run.path, run.config, sha256=getattr(data, "sha256", None),
                             model=model_config.to_dict(), train=train_config.to_dict())
    if not match.same:
        raise ValueError(f"{run.path} holds a finished run trained with other settings ({', '.join(match.refused)}): "
                         f"{match.describe()}; choose another output folder.")
    return run


def _run_one(data, model_config: dict, train_config: dict, run_dir, name: str, channel=None,
             position: int = 0) -> runs.Run:
    """One run, rebuilt from plain dicts (a Ray task's job; top-level, so it pickles by name).
    ``data``: a dataset or its path. An unfinished run in ``run_dir`` is resumed from its
    last epoch: what a retried task does after its worker died. ``channel``: where each
    finished epoch is reported, as ``(position, epoch)`` (the engine's channel)."""
    from dmdlab.model import DMDConfig

    def report(trainer, row: dict) -> None:
        channel.put((position, int(row["epoch"])))

    config = DMDConfig.from_dict(model_config)
    return train(task_dataset(data, config), config, TrainConfig.from_dict(train_config), run_dir, resume=True,
                 name=name, callbacks=[report] if channel is not None else ())


def task_dataset(data, model_config):
    """``data`` as given, or, for a path, the dataset loaded once per worker process: Ray gives a
    worker task after task, and a MOSI-size file takes seconds to parse. A changed file is read again."""
    if not isinstance(data, str):
        return data
    stat = os.stat(data)
    return _load_once(data, model_config.arch.text_input, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=1)
def _load_once(path: str, text: str, mtime_ns: int, size: int):
    from dmdlab.data import load_mmsa

    return load_mmsa(path, text=text)


def summarize(run_set: runs.RunSet | Sequence[runs.Run], metrics: Sequence[str] = tuple(TABLE_COLUMNS)) -> pd.DataFrame:
    """Mean, std (ddof=1; NaN for one seed) and count over seeds, a row per variant (first-seen order)."""
    frame = runs.RunSet(list(run_set)).metrics
    grouped = frame.groupby("variant", sort=False)[list(metrics)]
    summary = pd.concat({"mean": grouped.mean(), "std": grouped.std(ddof=1)}, axis=1).swaplevel(axis=1)
    summary = summary[[(metric, stat) for metric in metrics for stat in ("mean", "std")]]
    summary[("seeds", "n")] = grouped.size()
    return summary


def significance(run_set: runs.RunSet | Sequence[runs.Run], reference: str = "dmd") -> pd.DataFrame:
    """Each variant against ``reference`` (full DMD), paired by seed: the mean difference with
    its 95 % interval, the paired t-test's p and ``*`` where the interval excludes 0 (points
    of % for Acc-7 / Acc-2 / F1). :func:`dmdlab.stats.significance_table` computes it."""
    frame = runs.RunSet(list(run_set)).metrics
    table = stats.significance_table(frame, by="variant", reference=reference, columns=TABLE_COLUMNS, **TABLE_UNITS)
    table.index = [label(variant) for variant in table.index]
    table.index.name = f"vs {label(reference)}"
    return table


SIGNIFICANCE_NOTE = ("difference from {reference} paired by seed, mean [95 % interval], paired t-test p; "
                     f"{stats.SIGNIFICANT_MARK}: the interval excludes 0 (no correction for the number of rows)")


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
        row = {"model": label(variant), "source": "this run",
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
    row = {"model": label(variant), "source": "paper", "data": f"{result.dataset} ({setting}{text})"}
    values = {"Acc-7": result.acc7, "Acc-2": result.acc2, "F1": result.f1, "MAE": None, "Corr": None}
    row.update({title: "–" if value is None else f"{value:.1f}" for title, value in values.items()})
    return row


CONVENTIONS: dict[str, str] = {"Has0_acc_2": "Acc-2 has-0", "Non0_acc_2": "Acc-2 non-0", "Non0_F1_score": "F1 non-0",
                               "Mult_acc_7": "Acc-7", "MAE": "MAE", "Corr": "Corr"}
"""Both binary-accuracy conventions and the other MMSA metrics, as ``beside_published`` prints them."""


def beside_published(run_set: runs.RunSet | Sequence[runs.Run], published: paper.PublishedAccuracy) -> pd.DataFrame:
    """Mean ± std over seeds per variant of the finished runs, in both Acc-2 conventions (has-0:
    clips labelled 0 count as positive; non-0: they are left out) and the other MMSA metrics, with
    the published figure as a last row in the column of its own convention."""
    finished = [run for run in run_set if run.finished]          # an interrupted run has no test metrics yet
    if not finished:
        raise ValueError("beside_published: no finished runs.")
    summary = summarize(finished, tuple(CONVENTIONS))
    rows = {}
    for variant in sorted(summary.index, key=lambda v: list(registry.VARIANTS).index(v) if v in registry.VARIANTS else 99):
        row = {}
        for metric, title in CONVENTIONS.items():
            scale = 100.0 if metric in PERCENT_METRICS else 1.0
            row[title] = mean_std_text(summary.loc[variant, (metric, "mean")] * scale,
                                       summary.loc[variant, (metric, "std")] * scale, 1 if scale == 100 else 3)
        row["seeds"] = int(summary.loc[variant, ("seeds", "n")])
        rows[label(variant)] = row
    rows[f"{published.model}, published"] = {**{title: "–" for title in CONVENTIONS.values()}, "seeds": "–",
                                             CONVENTIONS[published.metric]: f"{published.value:.2f}"}
    return pd.DataFrame.from_dict(rows, orient="index")


@dataclass
class Reproduction:
    """A named table reproduced: its runs, the numeric summary, the printable table and the
    paired differences from full DMD (None when the table has no DMD row or one seed)."""

    table: str
    runs: runs.RunSet
    summary: pd.DataFrame
    results: pd.DataFrame
    significance: pd.DataFrame | None = None
    comparison: pd.DataFrame | None = None   # the comparison table (dmdlab.comparison), for table "comparison"

    def to_string(self) -> str:
        with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 60):
            if self.comparison is not None:
                return "\n".join([f"{self.table} table: {_data_label(self.runs.runs[0])}", protocol_line(self.runs),
                                   comparison.note(self.runs, self.comparison.attrs.get("published", paper.MOSI)),
                                   self.comparison.to_string(), "", "not re-run here:",
                                   *(f"  {line}" for line in comparison.not_rerun_lines())])
            text = (f"{self.table} table (Acc-7/Acc-2/F1 in %, non-0 Acc-2/F1; mean ± std over seeds)\n"
                    f"{protocol_line(self.runs)}\n{self.results.to_string()}")
            if self.significance is not None and len(self.significance):
                text += (f"\n\n{SIGNIFICANCE_NOTE.format(reference='DMD')}\n"
                         f"{self.significance.to_string()}")
        return text


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
              cluster: Cluster | None = None, progress: bool = True,
              variants: Sequence[str] | None = None) -> Reproduction:
    """Run a named table (``TABLES``) on ``dataset`` with ``seeds`` seeds and at most ``epochs`` epochs;
    ``variants``: only these rows of the table (what fits the time at hand; the rest can follow
    into the same folder later, finished runs being reused)."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}: choose one of {', '.join(TABLES)}.")
    rows = TABLES[table]
    if variants is not None:
        outside = [v for v in variants if v not in rows]
        if outside:
            raise ValueError(f"--variants {outside[0]}: not a row of table {table!r} ({', '.join(rows)}).")
        rows = tuple(v for v in rows if v in variants)
    if epochs is not None:
        train_config = train_config.replace(max_epochs=epochs)
    run_set = run_experiment(dataset, rows, seeds=seeds, base_config=base_config, preset=preset,
                             train_config=train_config, out_dir=out_dir, cluster=cluster, progress=progress)
    published = paper.MOSEI if preset == "mosei" else paper.MOSI
    compared = "dmd" in rows and len(rows) > 1 and len(seed_list(seeds)) > 1
    return Reproduction(table, run_set, summarize(run_set), results_table(run_set, paper_dataset=published),
                        significance(run_set) if compared else None,
                        comparison.comparison_table(run_set, paper_dataset=published) if table == "comparison" else None)
