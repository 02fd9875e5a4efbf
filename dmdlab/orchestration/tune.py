"""Hyper-parameter search with Optuna: the objective is the best validation MAE, never the test split.

``tune(dataset, trials=N, out_dir=...)`` runs N more trials of a study (TPE sampler; a
median pruner fed each epoch's validation MAE through the trainer's per-epoch callback).
Each trial is one run (``out_dir/trials/trial<number>``) trained where a
:class:`~dmdlab.orchestration.cluster.Cluster` says (Ray) or in this process. The study lives in a
journal file in ``out_dir`` (several processes on one filesystem), or in any Optuna RDB
storage URL (several machines); running the same command again continues it, trial
numbers included. The search space is a YAML file (:data:`DEFAULT_SPACE`, around the
official configuration).

``best_table(dataset, study, k=K, seeds=5, ...)`` retrains the best K settings and the
defaults over the same seeds, tests each run once, and compares each setting with the
defaults, paired by seed (:func:`dmdlab.stats.significance_table`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dmdlab import runs, stats
from dmdlab.metrics import mean_std_text
from dmdlab.orchestration.cluster import Cluster, engine
from dmdlab.training.config import TrainConfig
from dmdlab.orchestration.experiments import SIGNIFICANCE_NOTE, TABLE_COLUMNS, TABLE_UNITS, seed_list, task_dataset, train_all
from dmdlab.training.resolve import load_data
from dmdlab.training.trainer import train

DEFAULT_SPACE = Path(__file__).with_name("search_space.yaml")
"""The default search space: learning rate, dropouts, GD hidden sizes and loss weights."""

JOURNAL = "study.journal"
"""The study's journal file in the output folder (the default storage)."""

DEFAULTS = "defaults"
"""The row of the untuned settings in :func:`best_table`."""

_KINDS = ("float", "int", "categorical")
MAX_SPACE_BYTES = 64 * 1024
"""A search-space file is a few lines; a larger one is refused before it is parsed."""
_MODEL_GROUPS = ("arch", "loss", "gd")


# --------------------------------------------------------------------------- the search space


@dataclass(frozen=True)
class Parameter:
    """One searched field: a dotted name (``train.lr``, ``arch.attn_dropout``) and its range."""

    name: str
    kind: str                       # "float", "int" or "categorical"
    low: float | None = None        # float / int: the range, both ends included
    high: float | None = None
    log: bool = False               # sample on a log scale (needs low > 0)
    choices: tuple = ()             # categorical: the values

    def values_to_check(self) -> list:
        """The values whose validity stands for the whole range: every choice, every int of a range of at most
        256, else both ends (and the middle)."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "int" and self.high - self.low <= 256:
            return list(range(int(self.low), int(self.high) + 1))
        middle = (self.low + self.high) / 2
        return [self.low, int(middle) if self.kind == "int" else middle, self.high]

    def admits(self, value) -> bool:
        """True when ``value`` is one this parameter can draw (a stored trial, re-checked)."""
        if self.kind == "categorical":
            return any(type(value) is type(choice) and value == choice for choice in self.choices)
        if isinstance(value, bool) or not isinstance(value, int if self.kind == "int" else (int, float)):
            return False
        return math.isfinite(value) and self.low <= value <= self.high

    def suggest(self, trial):
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log)
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_categorical(self.name, list(self.choices))


def load_space(path: str | Path = DEFAULT_SPACE) -> list[Parameter]:
    """The parameters of a search-space YAML file, each checked (a clear error names the file,
    the parameter, the field, what was expected and what was found)."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        """safe_load without anchors and aliases: a few bytes of aliases expand to gigabytes (an alias bomb)."""

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(None, None, "aliases (*name) are not admitted in a search space",
                                                  event.start_mark)
            return super().compose_node(parent, index)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no search-space file at {path}")
    if path.stat().st_size > MAX_SPACE_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size} bytes; a search-space file is at most {MAX_SPACE_BYTES}.")
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=NoAliasLoader)   # noqa: S506 -- a SafeLoader
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as error:
        reason = " ".join(str(error).split())[:300]
        raise ValueError(f"{path}: not a readable YAML file ({type(error).__name__}: {reason}).") from None
    if not isinstance(document, dict) or not document:
        raise ValueError(f"{path}: expected a mapping of parameter name -> range; found {type(document).__name__}.")
    space = [_parameter(path, name, entry) for name, entry in document.items()]
    for parameter in space:   # every name is a real field, and every value the range admits is valid for it
        for value in parameter.values_to_check():
            settings({parameter.name: value}, _base_model(), TrainConfig(),
                     where=f"{path}: parameter {parameter.name!r}")
    return space


def _parameter(path: Path, name, entry) -> Parameter:
    def fail(field: str, expected: str, found) -> None:
        raise ValueError(f"{path}: parameter {name!r}, field {field!r}: expected {expected}; found {found!r}.")

    if not isinstance(name, str) or name.split(".")[0] not in ("train", *_MODEL_GROUPS) or name.count(".") != 1:
        raise ValueError(f"{path}: parameter {name!r}: expected a dotted field name, train.<field> or "
                         f"arch. / loss. / gd.<field> (e.g. train.lr, arch.attn_dropout).")
    if not isinstance(entry, dict):
        fail("(entry)", "a mapping like {type: float, low: 0.0, high: 0.5}", entry)
    unknown = set(entry) - {"type", "low", "high", "log", "choices"}
    if unknown:
        fail(sorted(unknown)[0], "one of type, low, high, log, choices", entry[sorted(unknown)[0]])
    kind = entry.get("type")
    if kind not in _KINDS:
        fail("type", f"one of {_KINDS}", kind)
    if kind == "categorical":
        choices = entry.get("choices")
        kinds = {bool if isinstance(c, bool) else str if isinstance(c, str) else "number" for c in choices} \
            if isinstance(choices, list) else set()
        if not isinstance(choices, list) or not choices or len(choices) > 1000 or len(kinds) != 1 or not all(
                isinstance(c, (bool, int, float, str)) and (not isinstance(c, float) or math.isfinite(c))
                for c in choices):
            fail("choices", "a non-empty list of at most 1000 numbers, strings or booleans, all of one kind", choices)
        if len(set(choices)) != len(choices):
            fail("choices", "distinct values", choices)
        return Parameter(name, kind, choices=tuple(choices))
    low, high, log = entry.get("low"), entry.get("high"), entry.get("log", False)
    number = int if kind == "int" else (int, float)
    for field, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, number) or not math.isfinite(value):
            fail(field, f"a finite {'integer' if kind == 'int' else 'number'}", value)
    if not low < high:
        fail("high", f"a value above low={low}", high)
    if not isinstance(log, bool):
        fail("log", "true or false", log)
    if log and low <= 0:
        fail("low", "a value > 0 with log: true", low)
    return Parameter(name, kind, low, high, log)


def _base_model():
    from dmdlab.model import DMDConfig

    return DMDConfig.preset("mosi")


def settings(params: dict, model_config, train_config: TrainConfig, *, where: str = "the trial"):
    """``(model_config, train_config)`` with a trial's ``params`` (dotted names) applied."""
    from dmdlab.model.config import apply_overrides

    protocol = {name.split(".", 1)[1]: value for name, value in params.items() if name.startswith("train.")}
    model = [f"{name}={value}" for name, value in params.items() if not name.startswith("train.")]
    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(protocol) - fields)
    if unknown:
        raise ValueError(f"{where}: train.{unknown[0]} is not a training-protocol field (TrainConfig has "
                         f"{', '.join(sorted(fields))}).")
    try:
        return apply_overrides(model_config, model), train_config.replace(**protocol)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{where}: {error}") from None


# --------------------------------------------------------------------------- the study


def _storage(storage: str | None, out_dir: Path | None, read_only: bool = False):
    """Optuna storage: an RDB URL as given, else a journal file in ``out_dir`` (a regular file of this user,
    opened without following a link); a storage that cannot be opened is one ValueError line."""
    import os

    import optuna

    from dmdlab.files import open_no_follow

    if storage and "://" in storage:
        scheme, _, rest = storage.partition("://")
        if scheme.startswith("sqlite") and rest.startswith("/") and not Path(rest[1:]).parent.is_dir():
            raise ValueError(f"--storage {storage}: no folder {Path(rest[1:]).parent} for the SQLite file; create it "
                             "first (sqlite:///relative/path.db or sqlite:////absolute/path.db)")
        try:
            return optuna.storages.RDBStorage(storage)
        except Exception as error:  # noqa: BLE001 -- a missing driver, an unknown scheme, a refused connection
            raise ValueError(f"--storage {_masked(storage)}: cannot be opened ({_reason(error)}); expected an Optuna "
                             "RDB URL such as sqlite:///study.db or postgresql://user@host/db with its driver "
                             "installed") from None
    path = Path(storage) if storage else Path(out_dir) / JOURNAL
    if read_only:   # an existing journal of a read-only cache: read, never created or appended to
        os.close(open_no_follow(path, what="study journal"))
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(open_no_follow(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, what="study journal"))
    try:   # replays the journal: a tampered line fails here
        return optuna.storages.JournalStorage(_journal_backend(str(path)))
    except Exception as error:  # noqa: BLE001 -- a stranger's journal: any failure is one clear line
        raise ValueError(f"{path}: the study journal cannot be read ({_reason(error)}); it may be damaged or "
                         "tampered with: start another study (--study NAME or --out DIR)") from None


def _journal_backend(path: str):
    """Optuna's journal file whose appends go through a descriptor opened without following a link: a link
    planted in place of the journal during a search (in a folder others can write) is refused, never written
    through."""
    import os

    from optuna.storages.journal import JournalFileBackend

    from dmdlab.files import open_no_follow

    class NoFollowJournal(JournalFileBackend):
        def append_logs(self, logs: list[dict]) -> None:
            text = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs)
            self._lock.acquire()   # Optuna's lock for this journal, as its own append takes it
            try:
                with os.fdopen(open_no_follow(self._file_path, os.O_WRONLY | os.O_APPEND, what="study journal"),
                               "ab") as stream:
                    stream.write(text.encode("utf-8"))
                    stream.flush()
                    os.fsync(stream.fileno())
            finally:
                self._lock.release()

    return NoFollowJournal(path)


def _masked(url: str) -> str:
    """A storage URL with its password hidden."""
    import re

    return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)


def _reason(error: BaseException) -> str:
    """An exception as one short line."""
    text = " ".join(str(error).split())[:300]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _pruner():
    """Median pruning on the per-epoch validation MAE, once 4 trials have finished and after epoch 1."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=2)   # steps are epochs, from 1


def read_only_journal(out_dir, storage: str | None = None) -> Path | None:
    """The journal file when it lives where this process cannot write (a read-only or shared cache), else None."""
    from dmdlab.files import can_write

    if storage and "://" in storage:
        return None
    path = Path(storage) if storage else Path(out_dir) / JOURNAL
    return None if can_write(path) else path


def open_study(out_dir, *, storage: str | None = None, study: str = "dmd", seed: int | None = None):
    """The study (created, or loaded to continue it); minimises the best validation MAE. A journal that
    cannot be written (a read-only cache) is only read: the study must exist there."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    where = _masked(storage) if storage and "://" in storage else str(Path(storage) if storage else
                                                                       Path(out_dir) / JOURNAL)
    read_only = read_only_journal(out_dir, storage)
    if read_only is not None and not read_only.is_file():
        raise ValueError(f"{read_only.parent} cannot be written (a read-only or shared cache?) and holds no study "
                         f"journal: run the search where it can be written (python -m dmdlab tune ... --out "
                         f"{read_only.parent}, or notebook 10 with TRIALS > 0), or set DMDLAB_HOME to a folder of "
                         "your own")
    backend = _storage(storage, out_dir, read_only=read_only is not None)
    try:
        if read_only and study not in optuna.get_all_study_names(storage=backend):
            raise LookupError(study)
        found = optuna.load_study(study_name=study, storage=backend, pruner=_pruner()) if read_only else \
            optuna.create_study(study_name=study, storage=backend, direction="minimize", pruner=_pruner(),
                                load_if_exists=True)
        for trial in found.trials:   # replays the whole journal: a tampered line fails here, not mid-search
            trial.params, trial.user_attrs
    except LookupError:
        raise ValueError(f"{where}: no study {study!r} in this journal, which cannot be written (a read-only or "
                         "shared cache?): run the search where it can be written, or set DMDLAB_HOME to a folder of "
                         "your own") from None
    except Exception as error:  # noqa: BLE001 -- a stranger's journal: any failure is one clear line
        damaged = "the storage may be unreachable or damaged" if storage and "://" in storage else \
            "the journal may be damaged or tampered with"
        raise ValueError(f"{where}: study {study!r} cannot be read ({_reason(error)}); {damaged}: start another "
                         "study (--study NAME or --out DIR)") from None
    # a continued study must not draw its first trials again: the seed moves on with the trial count
    found.sampler = optuna.samplers.TPESampler(seed=None if seed is None else seed + len(found.trials))
    return found


def _check_same_search(study, record: dict) -> None:
    """A continued study must search the same space around the same model, protocol and data."""
    saved = study.user_attrs.get("search")
    if saved is None:
        study.set_user_attr("search", record)
    elif saved != record:
        changed = [key for key in record if saved.get(key) != record[key]]
        raise ValueError(f"study {study.study_name!r} was started with another {', '.join(changed)}; continue it "
                         "with the same options, or start another with --study NAME or --out DIR.")


def tune(dataset, *, trials: int, out_dir, space: str | Path = DEFAULT_SPACE, storage: str | None = None,
         study: str = "dmd", model_config=None, train_config: TrainConfig = TrainConfig(),
         cluster: Cluster | None = None, seed: int | None = None, progress: bool = True):
    """Run ``trials`` more trials of the study; returns the Optuna study.

    Each trial trains one run with the sampled settings and reports the validation MAE of
    every epoch (pruned below the median); its value is the best validation MAE. The test
    split plays no part. ``model_config`` / ``train_config``: what is not searched (default:
    the MOSI preset and the official protocol). ``seed``: the sampler's seed.
    """
    import optuna
    from tqdm.auto import tqdm

    if not isinstance(trials, int) or trials < 0:
        raise ValueError(f"The 'trials' parameter must be an int >= 0. Got {trials!r}.")
    read_only = read_only_journal(out_dir, storage)
    if trials and read_only is not None:
        raise ValueError(f"{read_only.parent} cannot be written (a read-only or shared cache?): no trial can be added "
                         "there; open the study as it is (--trials 0; TRIALS = 0 in notebook 10), or set DMDLAB_HOME "
                         "(or --out) to a folder of your own")
    parameters = load_space(space)
    data = load_data(dataset, model_config)
    model_config = model_config or _base_model()
    train_config = train_config.replace(selection_metric="MAE")
    out_dir = Path(out_dir)
    study_object = open_study(out_dir, storage=storage, study=study, seed=seed)
    record = {"space": {p.name: dataclasses.asdict(p) for p in parameters}, "model": model_config.to_dict(),
              "train": train_config.replace(progress=True).to_dict(), "data": getattr(data, "sha256", None)}
    _check_same_search(study_object, json.loads(json.dumps(record)))   # as the storage keeps it (lists, not tuples)
    if cluster is not None and getattr(data, "path", None) is None:
        raise ValueError("trials on Ray need the dataset as a file path (the workers read it).")
    source = str(Path(data.path).resolve()) if cluster is not None else data
    storage_spec = storage if storage and "://" in storage else str((Path(storage) if storage else out_dir / JOURNAL)
                                                                   .resolve())
    bar = tqdm(total=trials, desc="trials", unit="trial", disable=not progress)
    asked, submitted = {}, 0
    try:
        with engine(cluster) as workers:
            while submitted < trials or len(workers):
                while submitted < trials and len(workers) < workers.slots:
                    trial = study_object.ask()
                    asked[trial.number] = trial
                    submitted += 1
                    params = {p.name: p.suggest(trial) for p in parameters}
                    try:
                        model, protocol = settings(params, model_config, train_config, where=f"trial {trial.number}")
                    except ValueError as error:   # a value the range admits but the model refuses: a failed trial
                        study_object.tell(asked.pop(trial.number), state=optuna.trial.TrialState.FAIL)
                        bar.update()
                        if progress:
                            bar.write(f"trial {trial.number}: failed, {error}")
                        continue
                    run_dir = out_dir / "trials" / f"trial{trial.number:04d}"
                    trial.set_user_attr("run", str(run_dir))
                    if cluster is not None:
                        protocol = protocol.replace(progress=False, num_threads=protocol.num_threads or cluster.threads)
                    else:
                        protocol = protocol.replace(progress=False)
                    workers.submit(trial.number, _trial_task, source, model.to_dict(), protocol.to_dict(),
                                   str(run_dir), storage_spec, study, trial._trial_id)
                if not len(workers):
                    continue
                number, (state, value, note) = workers.next_done()
                trial = asked.pop(number)
                if state == "complete":
                    study_object.tell(trial, value)
                elif state == "pruned":
                    study_object.tell(trial, state=optuna.trial.TrialState.PRUNED)
                else:
                    study_object.tell(trial, state=optuna.trial.TrialState.FAIL)
                bar.update()
                if progress:
                    bar.write(f"trial {number}: {state}, {note}")
    finally:   # an error or an interrupt leaves no trial RUNNING forever
        for trial in asked.values():
            with contextlib.suppress(Exception):   # the error being raised matters more than this one
                study_object.tell(trial, state=optuna.trial.TrialState.FAIL)
    bar.close()
    return study_object


def _trial_task(data, model_config: dict, train_config: dict, run_dir: str, storage: str, study: str,
                trial_id: int) -> tuple[str, float | None, str]:
    """One trial's run (a Ray task, or called in-process): ``(state, value, note)``.

    Reports each epoch's validation MAE to the study and stops when the pruner says so. A
    retried task (its worker died) resumes the run from its last epoch checkpoint.
    """
    import optuna

    from dmdlab.model import DMDConfig

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    loaded = optuna.load_study(study_name=study, storage=_storage(storage, None), pruner=_pruner())
    trial = optuna.trial.Trial(loaded, trial_id)

    def report(trainer, row: dict) -> None:
        trial.report(row["valid/MAE"], row["epoch"])
        if trial.should_prune():
            raise optuna.TrialPruned(f"epoch {row['epoch']}: valid MAE {row['valid/MAE']:.4f}")

    config = DMDConfig.from_dict(model_config)
    try:
        run = train(task_dataset(data, config), config, TrainConfig.from_dict(train_config), run_dir, resume=True,
                    callbacks=[report], name=Path(run_dir).name)
    except optuna.TrialPruned as pruned:
        return "pruned", None, str(pruned)
    except (ValueError, RuntimeError, FloatingPointError) as error:   # a setting that cannot train; the study goes on
        return "failed", None, f"{type(error).__name__}: {error}"
    value = float(run.metrics["best_valid"])
    return "complete", value, f"best valid MAE {value:.4f} at epoch {run.metrics['best_epoch']}"


def trials_frame(study) -> pd.DataFrame:
    """Optuna's trials table: number, state, value (best validation MAE), the parameters, duration."""
    frame = study.trials_dataframe(attrs=("number", "state", "value", "params", "duration"))
    return frame.rename(columns=lambda c: c.replace("params_", ""))


# --------------------------------------------------------------------------- the best settings, over seeds


@dataclass
class BestTable:
    """The best K settings and the defaults, retrained over seeds and tested once each."""

    settings: pd.DataFrame      # a row per setting: trial, its best valid MAE in the search, its parameters
    runs: dict[str, list[runs.Run]]  # setting -> its runs (seed order)
    results: pd.DataFrame       # mean ± std over seeds, a row per setting
    significance: pd.DataFrame  # each setting − defaults, paired by seed

    def to_string(self) -> str:
        with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_colwidth", 60):
            return (f"settings\n{self.settings.to_string()}\n\n"
                    "test metrics (Acc-7/Acc-2/F1 in %, non-0 Acc-2/F1; mean ± std over seeds)\n"
                    f"{self.results.to_string()}\n\n{SIGNIFICANCE_NOTE.format(reference=DEFAULTS)}\n"
                    f"{self.significance.to_string()}")


def best_table(dataset, study, *, k: int, seeds: int | Sequence[int] = 5, out_dir, model_config=None,
               train_config: TrainConfig = TrainConfig(), cluster: Cluster | None = None,
               progress: bool = True, space: str | Path | None = None) -> BestTable:
    """Retrain the ``k`` best complete trials of ``study`` and the defaults with ``seeds``
    (runs under ``out_dir/best/<setting>/seed<seed>``); test each run once; one table.

    Each chosen trial is checked against ``space`` first (its parameters exactly the space's names, each
    value one the space can draw, a finite value): a journal is a file anyone may have edited. ``space``:
    a search-space file (``tune`` has checked that the study was started with it), or None for the space
    the study records."""
    import optuna

    if not isinstance(k, int) or k < 1:
        raise ValueError(f"The 'k' parameter must be a positive int. Got {k!r}.")
    complete = sorted((t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE
                       and isinstance(t.value, (int, float)) and math.isfinite(t.value)), key=lambda t: t.value)
    if not complete:
        raise ValueError(f"study {study.study_name!r} has no complete trial yet: run tune --trials N first.")
    _check_trials(complete[:k], load_space(space) if space is not None else _recorded_space(study), study.study_name)
    data = load_data(dataset, model_config)
    model_config = model_config or _base_model()
    train_config = train_config.replace(selection_metric="MAE")
    chosen = {DEFAULTS: ({}, None)} | {f"trial {t.number}": (t.params, t.value) for t in complete[:k]}
    todo, labels = [], []
    for label, (params, _) in chosen.items():
        model, protocol = settings(params, model_config, train_config, where=label)
        for seed in seed_list(seeds):
            folder = Path(out_dir) / "best" / label.replace(" ", "") / f"seed{seed}"
            todo.append((f"{label.replace(' ', '')}-seed{seed}", model, protocol.replace(seed=seed), folder))
            labels.append(label)
    trained = train_all(data, todo, out_dir=out_dir, cluster=cluster, progress=progress)
    grouped: dict[str, list[runs.Run]] = {}
    for label, run in zip(labels, trained):
        grouped.setdefault(label, []).append(run)
    frame = runs.RunSet(trained).metrics.assign(setting=labels)
    names = list(dict.fromkeys(name for params, _ in chosen.values() for name in params))
    defaults = {name: _field(name, model_config, train_config) for name in names}
    settings_frame = pd.DataFrame({label: {"search value (valid MAE)": value, **(params or defaults)}
                                   for label, (params, value) in chosen.items()})
    results = _mean_std(frame)
    significance = stats.significance_table(frame, by="setting", reference=DEFAULTS, columns=TABLE_COLUMNS,
                                            **TABLE_UNITS)
    significance.index.name = f"vs {DEFAULTS}"
    return BestTable(settings_frame, grouped, results, significance)


def _recorded_space(study) -> list[Parameter]:
    """The search space a study recorded when ``tune`` started it."""
    recorded = (study.user_attrs.get("search") or {}).get("space")
    try:
        return [Parameter(**{**fields, "choices": tuple(fields.get("choices") or ())}) for fields in recorded.values()]
    except (AttributeError, TypeError) as error:
        raise ValueError(f"study {study.study_name!r} records no readable search space ({error}); give it (--space)"
                         ) from None


def _check_trials(trials, parameters: list[Parameter], study: str) -> None:
    """One ValueError line for the first trial whose parameters the search space could not have drawn."""
    space = {p.name: p for p in parameters}
    for trial in trials:
        where = f"study {study!r}, trial {trial.number}"
        if set(trial.params) != set(space):
            odd = sorted(set(trial.params) ^ set(space))
            raise ValueError(f"{where}: its parameters are not the search space's (differ in {', '.join(odd[:3])}); "
                             "the journal may have been edited: tune --best retrains only trials of this space")
        for name, value in trial.params.items():
            if not space[name].admits(value):
                drawn = list(space[name].choices) if space[name].kind == "categorical" else \
                    f"{space[name].kind} in [{space[name].low}, {space[name].high}]"
                raise ValueError(f"{where}: {name} = {value!r:.40} is outside the search space ({drawn}); the "
                                 "journal may have been edited: tune --best retrains only trials of this space")


def _field(name: str, model_config, train_config: TrainConfig):
    """The value of a dotted field (``train.lr``, ``gd.homo_hidden``) in the configs."""
    group, field = name.split(".", 1)
    return getattr(train_config if group == "train" else getattr(model_config, group), field)


def _mean_std(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over seeds of each setting, in the tables' units."""
    rows = {}
    for setting, group in frame.groupby("setting", sort=False):
        row = {}
        for metric, title in TABLE_COLUMNS.items():
            values = group[metric] * TABLE_UNITS["scale"].get(metric, 1.0)
            row[title] = mean_std_text(values.mean(), values.std(ddof=1) if len(values) > 1 else None,
                                       TABLE_UNITS["places"][metric])
        row["seeds"] = len(group)
        rows[setting] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("setting")
