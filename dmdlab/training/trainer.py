"""The official training protocol (the official code's configuration), resumable, writing a self-describing run.

``train(dataset, model_config, train_config, run_dir)`` seeds everything, builds the model
from the data's ``DataSpec``, and per epoch: trains with Adam, gradient accumulation and
value clipping; scores valid (and test, for the curves) in eval mode; steps
ReduceLROnPlateau on the validation loss; keeps the best checkpoint by the validation MAE;
stops early. The best checkpoint is then scored once on the test split.

Official-code details kept by default (each a ``TrainConfig`` switch):

- gradients of an accumulation group are *summed* (the loss is not divided by the group
  size), values are clipped after every backward, and an epoch's trailing partial group
  is dropped (the next epoch starts with ``zero_grad``);
- the scheduler watches the validation L1 of the final prediction (sample-weighted, i.e.
  the validation MAE; the official code averages per batch, a difference on the last
  batch only);
- an improvement is a decrease of more than 1e-6 (MMSA's rule).

Speed (no per-batch host synchronisation, no graph kept across batches): per-batch loss
terms are stacked into one detached tensor and summed on the device; predictions stay on
the device until the epoch ends; evaluation runs under ``torch.inference_mode`` with a
large batch.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from dmdlab import runs
from dmdlab.metrics import is_better, regression_metrics
from dmdlab.modalities import EDGE_COLUMNS, EDGE_LABELS, GD_UNITS, edge_column
from dmdlab import checkpoint as ckpt
from dmdlab.training import guards
from dmdlab.training.config import TrainConfig
from dmdlab.training.resolve import load_data


# --------------------------------------------------------------------------- devices


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA, then MPS, then CPU; anything else is a torch device name."""
    if name != "auto":
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {name!r} was asked for but CUDA is not available here.")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device {name!r} was asked for but MPS is not available here.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast_for(device: torch.device, precision: str):
    """A context manager: bf16 autocast on CUDA ('auto' or 'bf16'), nothing elsewhere."""
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if use_bf16 and device.type in ("cuda", "cpu"):
        return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def environment(device: torch.device, train_config: TrainConfig) -> dict:
    """Package versions and hardware, for env.json."""
    import sklearn

    import dmdlab

    info = {
        "dmdlab": dmdlab.__version__, "torch": str(torch.__version__), "numpy": np.__version__,
        "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
        "python": platform.python_version(), "platform": platform.platform(),
        "device": str(device), "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "precision": train_config.precision, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if device.type == "cuda":
        info["cuda_device"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    info.update(_git_state())
    return info


def _git_state() -> dict:
    """The source checkout's commit and whether it had local changes ({} outside a git checkout)."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"git_commit": commit, "git_dirty": bool(dirty)} if commit else {}


# --------------------------------------------------------------------------- RNG state


def _rng_state(shuffle: torch.Generator) -> dict:
    """Every random stream as tensors/lists (torch.load(weights_only=True) can read it)."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    version, python_state, python_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(position),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": version, "state": list(python_state), "gauss": python_gauss},
        "shuffle": shuffle.get_state(),
    }


def _set_rng_state(state: dict, shuffle: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy_state = state["numpy"]
    np.random.set_state((numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
                         numpy_state["has_gauss"], numpy_state["gauss"]))
    python_state = state["python"]
    random.setstate((python_state["version"], tuple(python_state["state"]), python_state["gauss"]))
    shuffle.set_state(state["shuffle"])


# --------------------------------------------------------------------------- evaluation


@dataclass
class Evaluation:
    """Predictions and scores of a model on one split (eval mode, no gradients)."""

    split: str
    ids: list[str]
    labels: np.ndarray                          # (N,)
    predictions: np.ndarray                     # (N,)
    losses: dict[str, float]                    # sample-weighted mean of each loss term, 'total' first
    metrics: dict[str, float]                   # METRIC_NAMES
    edges: dict[str, np.ndarray] = field(default_factory=dict)  # unit -> (N, 6), units that are on

    def edge_means(self) -> dict[str, float]:
        """``edges/<unit>/<edge>`` -> mean over the split (NaN for a unit that is off)."""
        means = dict.fromkeys(EDGE_COLUMNS, float("nan"))
        for unit, values in self.edges.items():
            for label, value in zip(EDGE_LABELS, values.mean(axis=0)):
                means[edge_column(unit, label)] = float(value)
        return means

    def frame(self) -> pd.DataFrame:
        """One row per clip: split, id, label, prediction, then per-clip edges."""
        frame = pd.DataFrame({"split": self.split, "id": self.ids, "label": self.labels, "prediction": self.predictions})
        for unit, values in self.edges.items():
            for column, label in enumerate(EDGE_LABELS):
                frame[edge_column(unit, label)] = values[:, column]
        return frame


class _LossSums:
    """Sample-weighted sums of every loss term over batches, kept on the device (no per-batch host sync)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.sums: torch.Tensor | None = None
        self.samples = 0

    def add(self, breakdown, samples: int) -> None:
        stacked = torch.stack([breakdown.total, *breakdown.terms.values()]).detach().float() * samples
        self.names = self.names or ["total", *breakdown.terms]
        self.sums = stacked if self.sums is None else self.sums + stacked
        self.samples += samples

    def means(self) -> dict[str, float]:
        """``{'total': ..., term: ...}`` per-sample means ({} when no batch was added)."""
        return dict(zip(self.names, (self.sums / self.samples).cpu().tolist())) if self.samples else {}


def evaluate(model, split, *, name: str = "split", batch_size: int = 256, device="cpu", precision: str = "fp32",
             with_loss: bool = True) -> Evaluation:
    """Score ``model`` on a ``dmdlab.data.Split`` in eval mode under ``torch.inference_mode``, with
    the text input its config reads."""
    device = torch.device(device)
    autocast = autocast_for(device, precision)
    model = ckpt.unwrap(model)
    text = model.config.arch.text_input
    was_training = model.training
    model.eval()
    predictions, edges, losses = [], {unit: [] for unit in GD_UNITS}, _LossSums()
    with torch.inference_mode():
        for batch in split.batches(batch_size, shuffle=False, device=device, text=text):
            with autocast():
                output = model.forward_batch(batch)
                if with_loss:
                    breakdown = model.loss(output, batch.labels)
            predictions.append(output.prediction.reshape(-1).float())
            if output.edges is not None:
                for unit in GD_UNITS:
                    if getattr(output.edges, unit) is not None:
                        edges[unit].append(getattr(output.edges, unit).float())
            if with_loss:
                losses.add(breakdown, len(batch))
    model.train(was_training)
    labels = split.labels.astype(np.float64)
    prediction = torch.cat(predictions).cpu().double().numpy()
    guards.require_finite(prediction, name)
    return Evaluation(
        split=name, ids=[str(i) for i in split.ids], labels=labels, predictions=prediction, losses=losses.means(),
        metrics=regression_metrics(prediction, labels),
        edges={unit: torch.cat(values).cpu().double().numpy() for unit, values in edges.items() if values},
    )


# --------------------------------------------------------------------------- the trainer


class Trainer:
    """One run of the protocol. Most users call ``train(...)``; the parts are public for the benchmark."""

    def __init__(self, dataset, model_config, train_config: TrainConfig = TrainConfig(), run_dir=None, *,
                 resume: bool = False, callbacks: Sequence[Callable[["Trainer", dict], None]] = (),
                 name: str | None = None):
        self.model_config = model_config
        self.config = train_config
        self.text = model_config.arch.text_input      # features, or text_bert ids for a BERT text encoder
        self.dataset = load_data(dataset, model_config)
        self.spec = self.dataset.spec
        # token ids beyond the encoder's vocabulary: refused when the model is built (TextEncoder.check_ids)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.callbacks = list(callbacks)
        self.name = name or (self.run_dir.name if self.run_dir else f"{model_config.variant}-seed{train_config.seed}")
        guards.check_optimizer_steps(len(self.dataset.splits["train"]), train_config)
        self.lock = runs.claim(self.run_dir) if self.run_dir is not None else None  # released when fit() ends
        try:
            self._check_run_dir(resume)
            self._setup(resume)
        except BaseException:
            if self.lock is not None:
                self.lock.release()
            raise

    def _setup(self, resume: bool) -> None:
        train_config = self.config
        self.resuming = resume and self.run_dir is not None and (self.run_dir / runs.LAST).is_file()

        if train_config.num_threads is not None:
            torch.set_num_threads(train_config.num_threads)
        if train_config.deterministic:
            torch.use_deterministic_algorithms(True)
        self.device = resolve_device(train_config.device)
        self.autocast = autocast_for(self.device, train_config.precision)
        self._build()
        self.history: list[dict] = []
        self.epoch = 0
        self.best_value: float | None = None
        self.best_epoch = 0
        self.best_state: dict | None = None
        self.finished = False
        if self.resuming:
            self._restore()

    # -- construction

    def _check_run_dir(self, resume: bool) -> None:
        """A new run needs a folder without a run; a resumed one, the run's own data (by content)."""
        if self.run_dir is None or not (self.run_dir / runs.CONFIG).exists():
            return
        if not resume:
            raise ValueError(f"{self.run_dir} already holds a run: resume it (--resume) or choose another directory.")
        runs.compare_run(self.run_dir, runs.read_run(self.run_dir).config, sha256=self.dataset.sha256)

    def _build(self) -> None:
        from dmdlab.model import build_model

        seed_everything(self.config.seed)
        self.shuffle = torch.Generator().manual_seed(self.config.seed)
        try:
            self.model = build_model(self.model_config, self.spec).to(self.device)
        except ValueError as error:   # the model refuses this data (modalities, text input): name the file
            path = getattr(self.dataset, "path", None)
            raise ValueError(f"{path}: {error}" if path else str(error)) from None
        self.parameters = [p for p in self.model.parameters() if p.requires_grad]
        encoder = self.model.text_encoder
        self.text_encoder = encoder.describe() if encoder is not None else None  # recorded in config.json
        groups = [{"params": self.parameters}]
        if encoder is not None and encoder.finetune and self.config.text_lr is not None:  # BERT's own lr
            bert = {id(p) for p in encoder.parameters()}
            groups = [{"params": [p for p in self.parameters if id(p) not in bert]},
                      {"params": [p for p in self.parameters if id(p) in bert], "lr": self.config.text_lr}]
        self.optimizer = torch.optim.Adam(groups, lr=self.config.lr, weight_decay=self.config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=self.config.plateau_factor, patience=self.config.plateau_patience)
        if self.config.compile:
            self.model.compile()   # in place: forward_batch, evaluate and the state-dict keys are unchanged

    def _restore(self) -> None:
        path = self.run_dir / runs.LAST
        state = ckpt.read(path, map_location=self.device)
        try:
            self._restore_from(state)
        except (KeyError, TypeError, IndexError, RuntimeError) as error:   # a tampered or damaged last.pt
            raise ckpt.CheckpointError(f"{path}: cannot resume from it ({type(error).__name__}: "
                                       f"{str(error).splitlines()[0] if str(error) else ''})") from None

    def _restore_from(self, state: dict) -> None:
        saved = {"model": state["model_config"], "train": TrainConfig.from_dict(state["train_config"]).to_dict()}
        match = runs.compare_run(self.run_dir, saved, model=self.model_config.to_dict(), train=self.config.to_dict())
        if not match.same:
            parts = {"model" if field.startswith("model ") else "training" for field in match.refused}
            raise ValueError(f"cannot resume {self.run_dir}: the {' and '.join(sorted(parts, reverse=True))} "
                             f"config{'s differ' if len(parts) > 1 else ' differs'} from last.pt's ({match.describe()}).")
        ckpt.check_weights(self.model, state["state_dict"], state.get("source", "last.pt"))
        self.model.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"], self.shuffle)
        self.epoch = state["epoch"]
        self.history = [dict(row) for row in state["history"]]
        self.best_value, self.best_epoch = state["best_value"], state["best_epoch"]
        self.finished = state["finished"]
        if (self.run_dir / runs.BEST).is_file():
            self.best_state = ckpt.read(self.run_dir / runs.BEST, map_location="cpu")["state_dict"]

    # -- one epoch

    def train_epoch(self, max_batches: int | None = None) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
        """One pass over the training split. Returns (mean loss terms, predictions, labels)."""
        config, model, optimizer = self.config, self.model, self.optimizer
        split = self.dataset.splits["train"]
        model.train()
        accumulation = config.grad_accumulation
        losses, predictions, labels = _LossSums(), [], []
        batches = split.batches(config.batch_size, shuffle=True, generator=self.shuffle, device=self.device,
                                text=self.text)
        total = -(-len(split) // config.batch_size)
        bar = tqdm(batches, total=total, desc=f"epoch {max(self.epoch, 1)} train", leave=False,
                   disable=not config.progress, mininterval=1.0)
        index = -1
        nonfinite = torch.zeros((), dtype=torch.bool, device=self.device)   # set once a loss is NaN/inf
        for index, batch in enumerate(bar):
            if max_batches is not None and index >= max_batches:
                break
            if index % accumulation == 0:
                optimizer.zero_grad(set_to_none=True)
            with self.autocast():
                output = model.forward_batch(batch)
                breakdown = model.loss(output, batch.labels)
            breakdown.total.backward()
            nonfinite |= ~torch.isfinite(breakdown.total.detach())
            if config.grad_clip_value is not None:
                torch.nn.utils.clip_grad_value_(self.parameters, config.grad_clip_value)
            if (index + 1) % accumulation == 0:
                guards.stop_if_nonfinite(nonfinite, self.epoch, index, accumulation)  # one sync per step
                optimizer.step()
            with torch.no_grad():
                losses.add(breakdown, len(batch))
                predictions.append(output.prediction.detach().reshape(-1).float())
                labels.append(batch.labels.detach().reshape(-1).float())
        guards.stop_if_nonfinite(nonfinite, self.epoch, index, accumulation)   # the trailing partial group
        if config.flush_partial_accumulation and (index + 1) % accumulation != 0:
            optimizer.step()
        bar.close()
        return losses.means(), torch.cat(predictions).cpu().double().numpy(), torch.cat(labels).cpu().double().numpy()

    def evaluate(self, split: str) -> Evaluation:
        try:
            return evaluate(self.model, self.dataset.splits[split], name=split,
                            batch_size=self.config.eval_batch_size, device=self.device,
                            precision=self.config.precision)
        except guards.NonFiniteError as error:
            raise guards.NonFiniteError(f"epoch {self.epoch}: {error}") from None

    # -- the loop

    def fit(self) -> runs.Run:
        """Train until early stopping or ``max_epochs``, then test the best checkpoint once."""
        try:
            return self._fit()
        finally:
            if self.lock is not None:
                self.lock.release()

    def _fit(self) -> runs.Run:
        config = self.config
        self.env = environment(self.device, config)  # env.json and the returned Run's env: one record
        if self.run_dir is not None and not self.resuming:
            self._write_config()
        elif self.run_dir is not None:   # a resumed run may change max_epochs: config.json says what ran
            ckpt.write_json(self.run_dir / runs.CONFIG, self._config_dict())
        epochs = tqdm(range(self.epoch + 1, config.max_epochs + 1), desc=self.name, disable=not config.progress,
                      initial=self.epoch, total=config.max_epochs)
        for epoch in epochs:
            if self.finished:
                break
            self.epoch = epoch
            lr = self.optimizer.param_groups[0]["lr"]
            started = time.perf_counter()
            train_losses, train_pred, train_labels = self.train_epoch()
            train_seconds = time.perf_counter() - started
            started = time.perf_counter()
            valid = self.evaluate("valid")
            test = self.evaluate("test") if config.eval_test_each_epoch else None
            eval_seconds = time.perf_counter() - started

            plateau_value = valid.metrics["MAE"] if config.plateau_on == "l1" else valid.losses["total"]
            self.scheduler.step(plateau_value)
            value = valid.metrics[config.selection_metric]
            if is_better(config.selection_metric, value, self.best_value):
                self.best_value, self.best_epoch = value, epoch
                payload = self._model_payload(epoch=epoch, valid=valid.metrics)
                self.best_state = payload["state_dict"]  # the payload's CPU copy: the weights are copied once
                if self.run_dir is not None:
                    ckpt.save(self.run_dir / runs.BEST, payload)
            patience = config.early_stop_patience
            self.finished = patience is not None and epoch - self.best_epoch >= patience

            row = {"epoch": epoch, "lr": lr, "time/train_s": train_seconds, "time/eval_s": eval_seconds}
            row.update({f"train/loss/{k}": v for k, v in train_losses.items()})
            row.update({f"train/{k}": v for k, v in regression_metrics(train_pred, train_labels).items()})
            for evaluation in (valid, test):
                if evaluation is not None:
                    row.update({f"{evaluation.split}/loss/{k}": v for k, v in evaluation.losses.items()})
                    row.update({f"{evaluation.split}/{k}": v for k, v in evaluation.metrics.items()})
            row.update(valid.edge_means())
            self.history.append(row)
            epochs.set_postfix(valid_MAE=f"{valid.metrics['MAE']:.3f}", best=self.best_epoch)
            if self.run_dir is not None:
                ckpt.write_csv(self.run_dir / runs.HISTORY, self.history_frame())
                if config.save_every_epoch or self.finished:
                    ckpt.save(self.run_dir / runs.LAST, self._training_state())
            for callback in self.callbacks:
                callback(self, row)
            if self.finished:
                break
        epochs.close()
        return self._finish()

    def history_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.history)

    def _finish(self) -> runs.Run:
        """Test once with the best checkpoint; write metrics, predictions and edges."""
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        valid, test = self.evaluate("valid"), self.evaluate("test")
        summary = {
            "valid": valid.metrics, "test": test.metrics, "best_epoch": self.best_epoch, "epochs": self.epoch,
            "selection_metric": self.config.selection_metric, "best_valid": self.best_value,
            "stopped_early": bool(self.finished and self.epoch < self.config.max_epochs),
            "test_loss": test.losses,
        }
        predictions = pd.concat([valid.frame(), test.frame()], ignore_index=True)
        edges = _edge_statistics([valid, test])
        run = runs.Run(config=self._config_dict(), history=self.history_frame(), metrics=summary,
                       predictions=predictions, edges=edges, env=self.env,
                       path=self.run_dir)
        if self.run_dir is not None:
            ckpt.write_csv(self.run_dir / runs.PREDICTIONS, predictions)
            ckpt.write_csv(self.run_dir / runs.EDGES, edges)
            if self.best_state is None:  # no epoch ran: the best checkpoint is the initial model
                ckpt.save(self.run_dir / runs.BEST, self._model_payload(epoch=0, valid=valid.metrics))
            ckpt.write_json(self.run_dir / runs.METRICS, summary)  # last: its presence marks a finished run
        return run

    # -- files

    def _config_dict(self) -> dict:
        path = getattr(self.dataset, "path", None)
        return {
            "name": self.name, "variant": self.model_config.variant, "seed": self.config.seed,
            "model": self.model_config.to_dict(), "train": self.config.to_dict(), "spec": self.spec.to_dict(),
            "dataset": {"path": str(path) if path else None, "name": Path(path).name if path else None,
                        "sha256": getattr(self.dataset, "sha256", None), "sizes": self.dataset.sizes,
                        "text": self.text},
            "text_encoder": self.text_encoder,
        }

    def _write_config(self) -> None:
        ckpt.write_json(self.run_dir / runs.CONFIG, self._config_dict())
        ckpt.write_json(self.run_dir / runs.ENV, self.env)

    def _model_payload(self, **extra) -> dict:
        return ckpt.model_payload(self.model, self.model_config, self.spec, train_config=self.config.to_dict(),
                                  **extra)

    def _training_state(self) -> dict:
        return self._model_payload(
            epoch=self.epoch, optimizer=self.optimizer.state_dict(), scheduler=self.scheduler.state_dict(),
            rng=_rng_state(self.shuffle), history=self.history, best_value=self.best_value,
            best_epoch=self.best_epoch, finished=self.finished)


def _edge_statistics(evaluations: Sequence[Evaluation]) -> pd.DataFrame:
    rows = []
    for evaluation in evaluations:
        for unit, values in evaluation.edges.items():
            for column, label in enumerate(EDGE_LABELS):
                rows.append({"split": evaluation.split, "unit": unit, "edge": label,
                             "mean": float(values[:, column].mean()), "std": float(values[:, column].std())})
    return pd.DataFrame(rows, columns=["split", "unit", "edge", "mean", "std"])


def train(dataset, model_config, train_config: TrainConfig = TrainConfig(), run_dir=None, *, resume: bool = False,
          callbacks: Sequence[Callable[[Trainer, dict], None]] = (), name: str | None = None) -> runs.Run:
    """Train one model with the protocol of ``train_config``; returns the finished ``Run``.

    ``dataset``: an ``MMSADataset`` or a path to an MMSA pickle. ``run_dir``: where the run
    is written (None keeps it in memory). ``resume``: continue from ``run_dir/last.pt``
    (a finished run is scored again and returned). ``callbacks``: called as
    ``callback(trainer, history_row)`` after each epoch's files are written; an exception
    there stops training with the epoch saved (the tests use it to interrupt a run).
    """
    return Trainer(dataset, model_config, train_config, run_dir, resume=resume, callbacks=callbacks, name=name).fit()


def resume(run_dir, dataset=None, *, model: dict | None = None, announce: Callable[[str], None] | None = None,
           **changes) -> runs.Run:
    """Continue the run in ``run_dir`` with its saved configs (``dataset``: override the saved path).

    ``changes``: training-config fields asked (``max_epochs=3``); ``model``: the model config asked
    (a dict; None: the saved one). Whether that is still this run is :func:`dmdlab.runs.compare_run`'s
    answer: the resumable fields that change are applied (each said through ``announce``), any
    other difference is refused with one line naming them all.
    """
    from dmdlab.model import DMDConfig

    run_dir = Path(run_dir)
    config = runs.read_run(run_dir).config
    saved_train = TrainConfig.from_dict(config["train"])
    match = runs.compare_run(run_dir, config, model=model, train=changes)
    if not match.same:
        raise ValueError(f"cannot resume {run_dir} with other settings: {match.describe()}. A resumed run keeps "
                         "the settings it started with; drop these options, or train a new run into another --out.")
    for field, value in match.applied.items():
        if announce is not None and field != "progress":
            announce(f"resume: {field} {getattr(saved_train, field)!r} -> {value!r} (applied)")
    return train(dataset or config["dataset"]["path"], DMDConfig.from_dict(config["model"]),
                 saved_train.replace(**match.applied), run_dir, resume=True, name=config.get("name"))
