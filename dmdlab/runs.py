"""Runs on disk, read back as pandas DataFrames.

A run directory (written by ``dmdlab.training.train``) holds:

=================== =====================================================================
``config.json``     model config, training config, data spec, dataset, variant, seed
``history.csv``     one row per epoch: lr, every loss term and metric per split, mean edges
``metrics.json``    final metrics of the best-validation checkpoint (written last: a run
                    without it is unfinished and can be resumed)
``predictions.csv`` valid and test predictions with clip ids, labels and per-clip edges
``edges.csv``       mean and std of each GD edge of the best checkpoint, per split
``best.pt``         best-validation checkpoint (``dmdlab.checkpoint.load_checkpoint``)
``last.pt``         last epoch's full training state (what ``--resume`` continues from)
``env.json``        package versions, device, threads, start time
``.lock``           held (``flock``) by the process writing the run; the kernel releases it
                    when that process ends, killed or not
``.dmdlab-run``     the marker: this folder is a run dmdlab created (empty)
=================== =====================================================================

A run directory belongs to one run: :func:`claim` locks it for the writing process, refuses
a folder that another process is writing, a path that is a file, and a folder holding files
dmdlab did not write, and removes the temporary files a killed writer left behind.

``load(path_or_glob)``: a run directory gives a ``Run``; a glob, or a folder of runs,
gives a ``RunSet`` whose ``.metrics`` is one row per run.

Whether a folder holds "this run" — the same data (by content), the same model config and the
same training config, up to the fields in :data:`RESUMABLE` — is decided by one function,
:func:`compare_run`, for the trainer (a new run, a resumed one), ``train --resume``,
``reproduce`` and the workbench (a finished run reused).
"""

from __future__ import annotations

import glob as globbing
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

CONFIG = "config.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
PREDICTIONS = "predictions.csv"
EDGES = "edges.csv"
BEST = "best.pt"
LAST = "last.pt"
ENV = "env.json"
LOCK = ".lock"
MARKER = ".dmdlab-run"
FILES = (CONFIG, HISTORY, METRICS, PREDICTIONS, EDGES, BEST, LAST, ENV, LOCK, MARKER)
"""Every file dmdlab writes in a run directory."""
MAX_JSON_BYTES = 16 * 2**20
"""config.json, metrics.json and env.json larger than this are refused (a run writes a few KiB)."""


def _read_json(path: Path, required: bool = False) -> dict:
    """A JSON object from ``path`` ({} when absent); anything else is one :class:`RunFolderError` line."""
    if not path.is_file():
        if required:
            raise FileNotFoundError(f"no run at {path.parent} (no {path.name})")
        return {}
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise ValueError(f"larger than {MAX_JSON_BYTES // 2**20} MiB")
        value = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise RunFolderError(f"{path}: not a run file of dmdlab (JSON nested too deeply)") from None
    except (OSError, ValueError) as error:
        raise RunFolderError(f"{path}: not a readable JSON file ({error})") from None
    if not isinstance(value, dict):
        raise RunFolderError(f"{path}: expected a JSON object, found {type(value).__name__}")
    return value


def _read_metrics(path: Path) -> dict:
    """metrics.json with JSON nulls (NaN when written, e.g. Corr of a constant prediction) back as NaN;
    the splits' metrics must be numbers."""
    values = _read_json(path)
    for split in ("valid", "test"):
        if split not in values:
            continue
        if not isinstance(values[split], dict):
            raise RunFolderError(f"{path}: {split!r}: expected an object of metric -> number, found "
                                 f"{type(values[split]).__name__}")
        for key, value in values[split].items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise RunFolderError(f"{path}: {split}.{key}: expected a number, found {value!r:.40}")
        values[split] = {key: float("nan") if value is None else float(value) for key, value in values[split].items()}
    return values


def _read_config(path: Path) -> dict:
    """config.json: an object whose sections are objects and whose seed is an int."""
    config = _read_json(path, required=True)
    for key in ("model", "train", "spec", "dataset"):
        if key in config and not isinstance(config[key], dict):
            raise RunFolderError(f"{path}: {key!r}: expected an object, found {type(config[key]).__name__}")
    seed = config.get("train", {}).get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise RunFolderError(f"{path}: train.seed: expected an integer, found {seed!r:.40}")
    if config.get("variant") is not None and not isinstance(config["variant"], str):
        raise RunFolderError(f"{path}: variant: expected a name, found {config['variant']!r:.40}")
    return config


def _read_csv(path: Path, numeric: bool = False) -> pd.DataFrame:
    """A csv table ({} when absent); ``numeric``: every column must hold numbers (history.csv)."""
    if not path.is_file():
        return pd.DataFrame()
    try:
        frame = pd.read_csv(path, dtype={"id": str})
    except (ValueError, OSError, UnicodeDecodeError) as error:
        reason = " ".join(str(error).split())[:200]
        raise RunFolderError(f"{path}: not a readable csv table ({reason})") from None
    if numeric:
        text = [column for column in frame.columns if not pd.api.types.is_numeric_dtype(frame[column])]
        if text:
            found = frame[text[0]].dropna().astype(str).head(1).tolist()
            raise RunFolderError(f"{path}: column {text[0]!r}: expected numbers, found "
                                 f"{found[0] if found else 'no values'!r:.40}")
    return frame


@dataclass
class Run:
    """One training run: its configuration and results as plain dicts and DataFrames."""

    config: dict                    # {"model", "train", "spec", "dataset", "variant", "seed", "name"}
    history: pd.DataFrame           # one row per epoch (columns: DESIGN.md)
    metrics: dict                   # metrics.json: {"valid": {...}, "test": {...}, "best_epoch", "epochs", ...}
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame)  # split, id, label, prediction, edge/...
    edges: pd.DataFrame = field(default_factory=pd.DataFrame)        # split, unit, edge, mean, std
    env: dict = field(default_factory=dict)
    path: Path | None = None        # the run directory (None for a run kept in memory)

    @property
    def name(self) -> str:
        return self.config.get("name") or (self.path.name if self.path else "run")

    @property
    def variant(self) -> str | None:
        return self.config.get("variant")

    @property
    def seed(self) -> int | None:
        return self.config.get("train", {}).get("seed")

    @property
    def finished(self) -> bool:
        """True once the final test with the best checkpoint has been written."""
        return "test" in self.metrics

    @property
    def metrics_frame(self) -> pd.DataFrame:
        """Final metrics of the best checkpoint: index split ("valid", "test"), columns metric names."""
        rows = {split: self.metrics[split] for split in ("valid", "test") if split in self.metrics}
        return pd.DataFrame.from_dict(rows, orient="index", dtype=float)

    @property
    def test_metrics(self) -> dict[str, float]:
        """The test metrics of the best checkpoint ({} while unfinished)."""
        return dict(self.metrics.get("test", {}))

    @property
    def checkpoint(self) -> Path | None:
        return self.path / BEST if self.path is not None else None

    def load_model(self, map_location: str = "cpu"):
        """``(model, spec)`` rebuilt from ``best.pt``."""
        from dmdlab.checkpoint import load_checkpoint

        if self.path is None:
            raise ValueError("this run was kept in memory (no run directory): nothing to load.")
        return load_checkpoint(self.path / BEST, map_location)

    def row(self) -> dict:
        """One flat row: identity columns, then the test metrics."""
        return {
            "run": self.name,
            "variant": self.variant,
            "seed": self.seed,
            "dataset": self.config.get("dataset", {}).get("name"),
            "aligned": self.config.get("spec", {}).get("aligned"),
            "best_epoch": self.metrics.get("best_epoch"),
            "epochs": self.metrics.get("epochs"),
            **self.test_metrics,
        }

    def __repr__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"Run({self.name!r}, variant={self.variant!r}, seed={self.seed}, epochs={len(self.history)}{where})"


class RunSet:
    """Several runs; DataFrame views over all of them."""

    def __init__(self, runs: list[Run]):
        self.runs = list(runs)

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self):
        return iter(self.runs)

    def __getitem__(self, index: int) -> Run:
        return self.runs[index]

    @property
    def metrics(self) -> pd.DataFrame:
        """One row per run: run, variant, seed, dataset, aligned, best_epoch, epochs, test metrics."""
        return pd.DataFrame([run.row() for run in self.runs])

    @property
    def history(self) -> pd.DataFrame:
        """Every run's history stacked, with ``run``, ``variant`` and ``seed`` columns first."""
        frames = [run.history.assign(run=run.name, variant=run.variant, seed=run.seed) for run in self.runs]
        if not frames:
            return pd.DataFrame()
        stacked = pd.concat(frames, ignore_index=True)
        first = ["run", "variant", "seed"]
        return stacked[first + [column for column in stacked.columns if column not in first]]

    def __repr__(self) -> str:
        return f"RunSet({len(self.runs)} runs)"


def read_run(path: str | Path) -> Run:
    """The run in directory ``path`` (finished or not)."""
    path = Path(path)
    return Run(
        config=_read_config(path / CONFIG),
        history=_read_csv(path / HISTORY, numeric=True),
        metrics=_read_metrics(path / METRICS),
        predictions=_read_csv(path / PREDICTIONS),
        edges=_read_csv(path / EDGES),
        env=_read_json(path / ENV),
        path=path,
    )


def _is_glob(text: str) -> bool:
    return any(char in text for char in "*?[")


def find(path_or_glob: str | Path) -> list[Path]:
    """Run directories matching a glob, or under a folder (recursively), sorted."""
    text = str(path_or_glob)
    if _is_glob(text):
        candidates = [Path(match) for match in globbing.glob(text, recursive=True)]
    else:
        candidates = [Path(text)] if (Path(text) / CONFIG).is_file() else [p.parent for p in Path(text).rglob(CONFIG)]
    return sorted({candidate for candidate in candidates if (candidate / CONFIG).is_file()})


def load(path_or_glob: str | Path) -> Run | RunSet:
    """A ``Run`` for a run directory; a ``RunSet`` for a glob or a folder holding runs."""
    text = str(path_or_glob)
    if not _is_glob(text) and (Path(text) / CONFIG).is_file():
        return read_run(text)
    paths = find(text)
    if not paths:
        raise FileNotFoundError(f"no run found at {text}")
    return RunSet([read_run(path) for path in paths])


# --------------------------------------------------------------------------- ownership of a run directory


class RunFolderError(ValueError):
    """A run directory that this process may not write (in use, foreign files, other data)."""


class RunLock:
    """An exclusive ``flock`` on ``<run>/.lock``; released by :meth:`release` or when the process ends.

    The lock file is opened without following a link (``O_NOFOLLOW``) and must be a regular
    file of this user with one name (a planted link or hard link to someone's file is refused),
    and it is written only once the lock is held.
    """

    def __init__(self, run_dir: Path):
        import fcntl

        self.path = run_dir / LOCK
        self._fd = _open_own(self.path, os.O_RDWR | os.O_CREAT, what="lock file")
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            self.release()
            raise RunFolderError(f"{run_dir} is being written by another dmdlab run (process {holder}); wait for "
                                 "it to finish or choose another output folder") from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)   # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _open_own(path: Path, flags: int, *, what: str) -> int:
    """:func:`dmdlab.files.open_no_follow` for a run's own file, its failures as :class:`RunFolderError`."""
    from dmdlab.files import UnsafeFileError, open_no_follow

    try:
        return open_no_follow(path, flags, what=what)
    except UnsafeFileError as error:
        raise RunFolderError(str(error)) from None
    except OSError as error:
        raise RunFolderError(f"{path}: the {what} cannot be opened ({error.strerror}); {_NOT_WRITABLE_HINT}") from None


_NOT_WRITABLE_HINT = ("a run missing from a read-only or shared cache is trained by whoever can write it (python -m "
                      "dmdlab workbench --mode MODE), or set DMDLAB_HOME to a folder of your own")


def _is_dmdlab_config(path: Path) -> bool:
    """True when ``path`` is a config.json as the trainer writes it (model, train and spec sections)."""
    try:
        config = {} if path.is_symlink() else _read_json(path)
    except RunFolderError:
        return False
    return all(isinstance(config.get(key), dict) for key in ("model", "train", "spec"))


def claim(run_dir: str | Path) -> RunLock:
    """Lock ``run_dir`` for this process's run and check that it is dmdlab's to write.

    Refuses (:class:`RunFolderError`) a path that is a file, a folder that another process is
    writing, a folder holding anything but the regular files of a run (``FILES``; no links),
    and a folder holding run files without dmdlab's marker ``.dmdlab-run`` (someone's own
    ``best.pt``, say). The marker is written when dmdlab first claims a new or empty folder;
    a run folder of an older dmdlab (no marker, but a config.json with the trainer's model,
    train and spec sections) is recognised by that and gets the marker. Removes the temporary
    files a killed writer left (no one else can be writing them while the lock is held). The
    folder is created if missing. Release the returned lock when the run ends.
    """
    from dmdlab.files import is_temporary

    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunFolderError(f"{run_dir}: is a file; expected a run directory (a new or empty folder, or a run "
                             "to resume)")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise RunFolderError(f"{run_dir}: a parent of this path is a file; expected a run directory") from None
    except OSError as error:
        raise RunFolderError(f"{run_dir}: cannot be created ({error.strerror}); {_NOT_WRITABLE_HINT}") from None
    lock = RunLock(run_dir)
    try:
        entries = sorted(os.listdir(run_dir))
        foreign = [name for name in entries if name not in FILES and not is_temporary(name, FILES)]
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise RunFolderError(f"{run_dir} holds files dmdlab did not write ({shown}); a run is written only "
                                 "into a new or empty folder, or one holding a run to resume")
        links = [name for name in entries if (run_dir / name).is_symlink() or not (run_dir / name).is_file()]
        if links:
            raise RunFolderError(f"{run_dir}: {links[0]} is a link or not a regular file; a run folder holds only "
                                 "the regular files dmdlab wrote (remove it, or choose another output folder)")
        written = [name for name in entries if name in FILES and name != LOCK]
        if MARKER not in entries:
            if written and not _is_dmdlab_config(run_dir / CONFIG):
                raise RunFolderError(f"{run_dir} holds {', '.join(written[:4])} but not dmdlab's run marker {MARKER} "
                                     "(nor a dmdlab config.json): these are not dmdlab's to overwrite; choose a new "
                                     "or empty output folder")
            os.close(_open_own(run_dir / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, what="run marker"))
        for name in entries:
            if is_temporary(name, FILES):
                (run_dir / name).unlink(missing_ok=True)
    except BaseException:
        lock.release()
        raise
    return lock


# --------------------------------------------------------------------------- run identity

RESUMABLE: frozenset[str] = frozenset({"max_epochs", "progress", "eval_batch_size", "num_threads", "device",
                                       "save_every_epoch", "eval_test_each_epoch"})
"""Training-config fields a run may change and stay the same run: they do not alter its maths."""


@dataclass(frozen=True)
class RunMatch:
    """How a saved run compares with what is asked (:func:`compare_run`)."""

    applied: dict                       # resumable training fields that change: {field: asked value}
    refused: dict                       # every other difference: {"lr" or "model arch.d": (in the run, asked)}

    @property
    def same(self) -> bool:
        """True when the folder holds this run (resumable changes aside)."""
        return not self.refused

    def describe(self) -> str:
        """'lr: 0.0001 in the run, 0.01 asked; model arch.d: 50 in the run, 8 asked'."""
        return "; ".join(f"{field}: {saved!r} in the run, {asked!r} asked" for field, (saved, asked) in self.refused.items())


def _flat(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _with_defaults(model: dict) -> dict:
    """A saved model config with the fields added since it was written (e.g. ``arch.reference``) at
    their defaults, so a run saved by an older dmdlab is still this run; as saved if it does not parse."""
    from dmdlab.model import DMDConfig

    if not model:          # no model section: nothing to fill, never the defaults
        return model
    try:
        return DMDConfig.from_dict(model).to_dict()
    except (TypeError, ValueError, AttributeError):
        return model


def compare_run(run_dir: str | Path, saved: dict, *, sha256: str | None = None, model: dict | None = None,
                train: dict | None = None) -> RunMatch:
    """Is the run saved in ``run_dir`` this run? The one answer, for every caller.

    ``saved``: the run's configs (its config.json, or a checkpoint's ``{"model", "train"}``).
    ``sha256``: the data's content; data other than the run recorded is refused at once with a
    ``RunFolderError``. ``model``: the model config asked (a dict; None: not compared).
    ``train``: the training-config fields asked, all or some (None: not compared); those in
    :data:`RESUMABLE` that change are ``applied``, every other difference is ``refused``.
    """
    recorded = (saved.get("dataset") or {}).get("sha256")
    if recorded and sha256 and recorded != sha256:
        raise RunFolderError(f"{run_dir} was trained on other data: its config.json records the data file "
                             f"{(saved.get('dataset') or {}).get('path')} with SHA-256 {recorded[:12]}…, the data "
                             f"given has {sha256[:12]}…; give the run's own data, or train into another folder")
    applied, refused = {}, {}
    saved_train = saved.get("train") or {}
    for field, value in sorted((train or {}).items()):
        if saved_train.get(field) == value:
            continue
        if field in RESUMABLE:
            applied[field] = value
        else:
            refused[field] = (saved_train.get(field), value)
    if model is not None:
        were, asked = _flat(_with_defaults(saved.get("model") or {})), _flat(model)
        for field in sorted(set(were) | set(asked)):
            if were.get(field) != asked.get(field):
                refused[f"model {field}"] = (were.get(field), asked.get(field))
    return RunMatch(applied, refused)
