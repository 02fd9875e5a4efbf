"""The trainer on the tiny built-in data with a tiny model (d=8, 2 heads, 1 layer)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from dmdlab import runs
from dmdlab.metrics import METRIC_NAMES
from dmdlab.modalities import EDGE_LABELS
from dmdlab.model import DMDConfig
from dmdlab.checkpoint import load_checkpoint
from dmdlab.training.config import TrainConfig
from dmdlab.training.trainer import Trainer, evaluate, resolve_device, resume, train


def _without_timings(history: pd.DataFrame) -> pd.DataFrame:
    return history.drop(columns=[column for column in history if column.startswith("time/")])


class Interrupt(Exception):
    pass


def _interrupt_after(epoch: int):
    def callback(trainer, row):
        if row["epoch"] == epoch:
            raise Interrupt
    return callback


@pytest.fixture(scope="module")
def finished_run(tiny_dataset, tmp_path_factory, tiny_config, tiny_train):
    return train(tiny_dataset, tiny_config, tiny_train, tmp_path_factory.mktemp("run") / "dmd")


def test_run_directory_is_complete_and_self_describing(finished_run, tiny_config, tiny_train):
    path = finished_run.path
    for name in (runs.CONFIG, runs.HISTORY, runs.METRICS, runs.PREDICTIONS, runs.EDGES, runs.BEST, runs.LAST, runs.ENV):
        assert (path / name).is_file(), name
    assert not list(path.glob(".*.tmp")), "temporary files left behind"
    config = json.loads((path / runs.CONFIG).read_text())
    assert config["model"] == tiny_config.to_dict() and config["train"]["seed"] == 1111
    assert DMDConfig.from_dict(config["model"]) == tiny_config
    env = json.loads((path / runs.ENV).read_text())
    assert env["device"] == tiny_train.device and env["torch"] == str(torch.__version__)
    metrics = json.loads((path / runs.METRICS).read_text())
    assert set(metrics["test"]) == set(METRIC_NAMES) and 1 <= metrics["best_epoch"] <= metrics["epochs"] == 2


def test_history_has_every_term_metric_split_lr_and_edges(finished_run):
    history = finished_run.history
    assert list(history["epoch"]) == [1, 2]
    assert history["lr"].iloc[0] == pytest.approx(1e-4)
    for split in ("train", "valid", "test"):
        for name in ("total", "task", "recon", "cycle", "ort", "margin", "logit_homo", "reg_homo",
                     "logit_hetero", "repr_hetero", "reg_hetero"):
            assert f"{split}/loss/{name}" in history, f"{split}/loss/{name}"
        for metric in METRIC_NAMES:
            assert f"{split}/{metric}" in history
    for unit in ("homo", "hetero"):
        edges = history[[f"edges/{unit}/{label}" for label in EDGE_LABELS]].to_numpy()
        assert np.allclose(edges.sum(axis=1), 1.0, atol=1e-5)  # a joint softmax over the six edges
    assert np.isfinite(history.drop(columns=["valid/Corr", "test/Corr", "train/Corr"]).to_numpy(float)).all()


def test_best_checkpoint_rebuilds_the_model_alone(finished_run, tiny_dataset, tiny_config):
    payload = torch.load(finished_run.path / runs.BEST, weights_only=True)
    assert payload["model_config"] == tiny_config.to_dict()
    model, spec = load_checkpoint(finished_run.path / runs.BEST)
    assert spec == tiny_dataset.spec and not model.training
    evaluation = evaluate(model, tiny_dataset.splits["test"], name="test")
    saved = finished_run.predictions[finished_run.predictions["split"] == "test"]
    assert list(saved["id"]) == evaluation.ids
    np.testing.assert_allclose(saved["prediction"].to_numpy(), evaluation.predictions, rtol=1e-5, atol=1e-6)
    assert evaluation.metrics == pytest.approx(finished_run.test_metrics, nan_ok=True)


def test_edge_statistics_and_predictions(finished_run, tiny_dataset):
    edges = finished_run.edges
    assert set(edges["unit"]) == {"homo", "hetero"} and set(edges["split"]) == {"valid", "test"}
    assert len(edges) == 2 * 2 * 6
    predictions = finished_run.predictions
    assert set(predictions["split"]) == {"valid", "test"}
    assert len(predictions) == len(tiny_dataset.splits["valid"]) + len(tiny_dataset.splits["test"])
    assert {"id", "label", "prediction", "edges/homo/V→L"} <= set(predictions.columns)


def test_same_seed_same_metrics_and_another_seed_differs(tiny_dataset, finished_run, tiny_config, tiny_train):
    again = train(tiny_dataset, tiny_config, tiny_train)
    assert again.test_metrics == finished_run.test_metrics
    pd.testing.assert_frame_equal(_without_timings(again.history), _without_timings(finished_run.history))
    other = train(tiny_dataset, tiny_config, tiny_train.replace(seed=7, max_epochs=1))
    assert other.history["train/loss/total"].iloc[0] != finished_run.history["train/loss/total"].iloc[0]


def test_resume_after_an_interruption_ends_like_an_uninterrupted_run(tiny_dataset, finished_run, tmp_path, tiny_config, tiny_train):
    run_dir = tmp_path / "interrupted"
    with pytest.raises(Interrupt):
        train(tiny_dataset, tiny_config, tiny_train, run_dir, callbacks=[_interrupt_after(1)])
    assert not (run_dir / runs.METRICS).exists() and runs.read_run(run_dir).finished is False
    with pytest.raises(ValueError, match="already holds a run"):
        train(tiny_dataset, tiny_config, tiny_train, run_dir)
    resumed = resume(run_dir, dataset=tiny_dataset)
    assert resumed.test_metrics == finished_run.test_metrics
    pd.testing.assert_frame_equal(_without_timings(resumed.history), _without_timings(finished_run.history))
    with pytest.raises(ValueError, match="training config differs"):
        train(tiny_dataset, tiny_config, tiny_train.replace(lr=1e-3), run_dir, resume=True)


def test_accumulation_clipping_and_weight_decay(tiny_dataset, tiny_config, tiny_train):
    config = tiny_train.replace(max_epochs=1, grad_accumulation=3, weight_decay=0.01, grad_clip_value=1e-3)
    trainer = Trainer(tiny_dataset, tiny_config, config)
    trainer.train_epoch()
    batches = -(-len(tiny_dataset.splits["train"]) // config.batch_size)
    steps = {int(state["step"]) for state in trainer.optimizer.state.values()}
    assert steps == {batches // 3}  # the trailing partial group is dropped, as in the official code
    assert trainer.optimizer.param_groups[0]["weight_decay"] == 0.01
    gradients = torch.cat([p.grad.flatten() for p in trainer.parameters if p.grad is not None])
    assert gradients.abs().max() <= 1e-3  # clipped by value after the last backward


def test_plateau_halves_lr_and_early_stopping_stops(tiny_dataset, tiny_config, tiny_train):
    # An lr too small to change the validation MAE by 1e-6: no epoch after the first improves.
    config = tiny_train.replace(lr=1e-12, max_epochs=6, plateau_patience=0, early_stop_patience=2)
    run = train(tiny_dataset, tiny_config, config)
    assert run.metrics["epochs"] == 3 and run.metrics["best_epoch"] == 1 and run.metrics["stopped_early"]
    assert list(run.history["lr"]) == pytest.approx([1e-12, 5e-13, 2.5e-13])


def test_devices_and_config_validation():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="'batch_size' parameter of TrainConfig must be a positive int. Got 0"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="'device'"):
        TrainConfig(device="tpu")
    assert TrainConfig.from_dict(TrainConfig().to_dict()) == TrainConfig()


def test_unaligned_data_and_a_model_without_gd_units(tiny_unaligned_dataset, tiny_config, tiny_train):
    from dmdlab.model.variants import get_variant

    config = tiny_train.replace(max_epochs=1, batch_size=32)
    run = train(tiny_unaligned_dataset, tiny_config, config)
    assert run.config["spec"]["aligned"] is False and set(run.test_metrics) == set(METRIC_NAMES)
    unimodal = train(tiny_unaligned_dataset, get_variant("unimodal_a", tiny_config), config)
    edges = unimodal.history[[column for column in unimodal.history if column.startswith("edges/")]]
    assert edges.shape[1] == 12 and edges.isna().all().all()  # units off: NaN columns, same layout
    assert unimodal.edges.empty and "edges/homo/V→L" not in unimodal.predictions


def test_the_batch_bar_names_the_epoch_under_way(tiny_dataset, tiny_config, tiny_train, capsys):
    """A 2-epoch run's batch bars say epoch 1 and epoch 2 (they said 2 and 3: one added to an epoch already advanced)."""
    train(tiny_dataset, tiny_config, tiny_train.replace(progress=True))
    err = capsys.readouterr().err
    assert "epoch 1 train" in err and "epoch 2 train" in err and "epoch 3 train" not in err
