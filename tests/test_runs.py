"""Run directories read back as DataFrames; atomic writes."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from dmdlab import files, runs
from dmdlab import checkpoint
from dmdlab.training.config import TrainConfig
from dmdlab.training.trainer import train


@pytest.fixture(scope="module")
def two_runs(tiny_dataset, tmp_path_factory, tiny_config, tiny_train):
    root = tmp_path_factory.mktemp("runs")
    config = tiny_train.replace(max_epochs=1)
    for seed in (1111, 1112):
        train(tiny_dataset, tiny_config, config.replace(seed=seed), root / "dmd" / f"seed{seed}")
    return root


def test_load_a_run_directory(two_runs):
    run = runs.load(two_runs / "dmd" / "seed1111")
    assert isinstance(run, runs.Run) and run.finished and run.seed == 1111 and run.variant == "dmd"
    assert isinstance(run.history, pd.DataFrame) and list(run.history["epoch"]) == [1]
    assert set(run.metrics) >= {"valid", "test", "best_epoch", "epochs"}
    assert list(run.metrics_frame.index) == ["valid", "test"]
    assert run.predictions["id"].map(type).eq(str).all()
    assert run.config["train"]["seed"] == 1111 and run.env["device"] == "cpu"
    model, spec = run.load_model()
    assert spec.text_dim == run.config["spec"]["text_dim"]


@pytest.mark.parametrize("pattern", ["{root}/dmd/seed*", "{root}", "{root}/**/seed111?"])
def test_load_many_runs_by_glob_or_folder(two_runs, pattern):
    run_set = runs.load(pattern.format(root=two_runs))
    assert isinstance(run_set, runs.RunSet) and len(run_set) == 2
    metrics = run_set.metrics
    assert list(metrics["seed"]) == [1111, 1112] and {"Non0_acc_2", "MAE", "variant", "dataset"} <= set(metrics)
    history = run_set.history
    assert list(history.columns[:3]) == ["run", "variant", "seed"] and len(history) == 2


def test_nothing_to_load_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run found"):
        runs.load(tmp_path / "nothing*")


def test_json_nulls_are_read_back_as_nan(tmp_path):
    checkpoint.write_json(tmp_path / runs.CONFIG, {"name": "x", "train": {"seed": 1}})
    checkpoint.write_json(tmp_path / runs.METRICS, {"test": {"Corr": float("nan"), "MAE": 0.5}})
    assert json.loads((tmp_path / runs.METRICS).read_text())["test"]["Corr"] is None  # strict JSON on disk
    run = runs.load(tmp_path)
    assert math.isnan(run.test_metrics["Corr"]) and run.test_metrics["MAE"] == 0.5


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "history.csv"
    checkpoint.write_csv(target, pd.DataFrame({"epoch": [1]}))

    def half_then_crash(stream):
        stream.write(b"epoch\n1\n2")
        raise KeyboardInterrupt  # a kill between the first bytes and the rename

    with pytest.raises(KeyboardInterrupt):
        files.atomic_write(target, half_then_crash)
    assert pd.read_csv(target)["epoch"].tolist() == [1]
    assert [path.name for path in tmp_path.iterdir()] == ["history.csv"]  # no temp file left


def test_unfinished_run_reads_as_unfinished(tiny_dataset, tmp_path, tiny_config):
    class Stop(Exception):
        pass

    def stop(trainer, row):
        raise Stop

    with pytest.raises(Stop):
        train(tiny_dataset, tiny_config, TrainConfig(max_epochs=3, batch_size=32, grad_accumulation=1, progress=False),
              tmp_path / "r", callbacks=[stop])
    run = runs.load(tmp_path / "r")
    assert not run.finished and len(run.history) == 1 and run.test_metrics == {}


# --------------------------------------------------------------------------- run identity


def test_compare_run_is_the_one_answer_to_is_this_the_run(tmp_path, tiny_config):
    """Same data, model and protocol up to the resumable fields: this run; anything else is named."""
    saved = {"dataset": {"path": "a.pkl", "sha256": "ab" * 32}, "model": tiny_config.to_dict(),
             "train": TrainConfig(max_epochs=1).to_dict()}
    same = runs.compare_run(tmp_path, saved, sha256="ab" * 32, model=tiny_config.to_dict(),
                            train=TrainConfig(max_epochs=3, device="cpu").to_dict())
    assert same.same and same.applied == {"max_epochs": 3, "device": "cpu"} and same.describe() == ""
    other = runs.compare_run(tmp_path, saved, model=tiny_config.replace(arch={"d": 16, "heads": 2}).to_dict(),
                             train={"lr": 1e-3, "max_epochs": 2})
    assert not other.same and other.applied == {"max_epochs": 2}
    assert list(other.refused) == ["lr", "model arch.d"]
    assert other.describe() == "lr: 0.0001 in the run, 0.001 asked; model arch.d: 8 in the run, 16 asked"
    with pytest.raises(runs.RunFolderError, match=f"{tmp_path} was trained on other data: .* a.pkl with SHA-256 abab"):
        runs.compare_run(tmp_path, saved, sha256="cd" * 32)
    assert runs.compare_run(tmp_path, saved).same                   # nothing asked: nothing to refuse


def test_train_resume_on_the_command_line_is_trainer_resume(tiny_dataset_path, tmp_path, tiny_cli, monkeypatch):
    """`train --resume` calls dmdlab.training.trainer.resume with the options given (one way to resume)."""
    from dmdlab.cli import main
    from dmdlab.training import trainer

    out = tmp_path / "run"
    assert main(["train", "--data", str(tiny_dataset_path), "--out", str(out), "--epochs", "1", "--batch-size", "32",
                 "--grad-accumulation", "1", "--no-progress", *tiny_cli]) == 0
    calls = []
    real = trainer.resume
    monkeypatch.setattr(trainer, "resume", lambda *args, **kwargs: calls.append((args, kwargs)) or real(*args, **kwargs))
    assert main(["train", "--resume", "--out", str(out), "--epochs", "2", "--no-progress"]) == 0
    (run_dir, data), kwargs = calls[0]
    assert str(run_dir) == str(out) and str(data) == str(tiny_dataset_path)
    assert kwargs["max_epochs"] == 2 and kwargs["model"] is None and runs.load(out).metrics["epochs"] == 2
