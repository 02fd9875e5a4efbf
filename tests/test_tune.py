"""tune (Optuna) in this process, its search-space file, and the paired significance tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

optuna = pytest.importorskip("optuna")

from dmdlab import stats  # noqa: E402
from dmdlab.cli import main  # noqa: E402
from dmdlab.model import DMDConfig  # noqa: E402
from dmdlab.training.config import TrainConfig  # noqa: E402
from dmdlab.orchestration.tune import DEFAULT_SPACE, best_table, load_space, settings, tune  # noqa: E402

TINY_MODEL = DMDConfig.preset("mosi").replace(arch={"d": 8, "heads": 2, "nlevels": 1})
FAST = TrainConfig(max_epochs=2, batch_size=32, grad_accumulation=1, num_threads=1, eval_test_each_epoch=False,
                   progress=False)


def test_the_default_space_is_valid_and_centred_on_the_official_values():
    space = {p.name: p for p in load_space(DEFAULT_SPACE)}
    official_model, official_train = DMDConfig.preset("mosi"), TrainConfig()
    assert {"train.lr", "arch.attn_dropout", "gd.homo_hidden", "loss.w_homo_gd"} <= set(space)
    for name, parameter in space.items():
        group, field = name.split(".")
        official = getattr(official_train if group == "train" else getattr(official_model, group), field)
        if parameter.kind == "categorical":
            assert official in parameter.choices, name
        else:
            assert parameter.low <= official <= parameter.high, name


@pytest.mark.parametrize("text, message", [
    ("train.lr: {type: float, low: 0.1}", "parameter 'train.lr', field 'high': expected a finite number; found None"),
    ("arch.d: {type: int, low: 8, high: 4}", "field 'high': expected a value above low=8; found 4"),
    ("train.lr: {type: float, low: 0, high: 1, log: true}", "field 'low': expected a value > 0 with log: true"),
    ("gd.homo_hidden: {type: categorical, choices: []}", "field 'choices': expected a non-empty list"),
    ("arch.nope: {type: float, low: 0, high: 1}", "nope"),
    ("train.nope: {type: float, low: 0, high: 1}", "train.nope is not a training-protocol field"),
    ("lr: {type: float, low: 0, high: 1}", "expected a dotted field name"),
    ("train.lr: {type: gaussian}", "field 'type': expected one of ('float', 'int', 'categorical'); found 'gaussian'"),
    ("[1, 2]", "expected a mapping of parameter name -> range; found list"),
    ("train.lr: {type: float, low: 0.1, high: 1, step: 2}", "field 'step': expected one of type, low, high"),
])
def test_a_bad_space_file_gets_a_clear_error_naming_it(tmp_path, text, message):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match="space.yaml") as error:
        load_space(path)
    assert message in str(error.value)


def test_settings_apply_a_trials_parameters_to_the_right_config():
    model, protocol = settings({"train.lr": 3e-4, "arch.attn_dropout": 0.1, "gd.homo_hidden": 16}, TINY_MODEL, FAST)
    assert protocol.lr == 3e-4 and model.arch.attn_dropout == 0.1 and model.gd.homo_hidden == 16
    assert model.arch.d == 8 and protocol.max_epochs == 2   # what is not searched passes through


def _small_space(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text("train.lr: {type: float, low: 1.0e-4, high: 2.0e-3, log: true}\n"
                    "arch.output_dropout: {type: float, low: 0.0, high: 0.5}\n")
    return path


def test_a_study_continues_from_its_journal_and_refuses_other_settings(tiny_dataset, tmp_path):
    out, space = tmp_path / "study", _small_space(tmp_path)
    first = tune(tiny_dataset, trials=2, out_dir=out, space=space, model_config=TINY_MODEL, train_config=FAST, seed=0,
                 progress=False)
    assert [t.number for t in first.trials] == [0, 1]
    drawn = [t.params for t in first.trials]
    again = tune(tiny_dataset, trials=1, out_dir=out, space=space, model_config=TINY_MODEL, train_config=FAST, seed=0,
                 progress=False)
    assert [t.number for t in again.trials] == [0, 1, 2]
    assert again.trials[2].params not in drawn   # the seed moved on: no repeated draw
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in again.trials)
    trial = again.trials[2]
    assert (out / "trials" / "trial0002" / "metrics.json").is_file() and trial.user_attrs["run"].endswith("trial0002")
    assert sorted(trial.intermediate_values) == [1, 2]   # the validation MAE of each epoch
    assert trial.value == min(trial.intermediate_values.values())
    with pytest.raises(ValueError, match="was started with another train"):
        tune(tiny_dataset, trials=1, out_dir=out, space=space, model_config=TINY_MODEL,
             train_config=FAST.replace(max_epochs=3), progress=False)


def test_best_retrains_the_best_settings_beside_the_defaults_over_seeds(tiny_dataset, tmp_path):
    out, space = tmp_path / "study", _small_space(tmp_path)
    study = tune(tiny_dataset, trials=2, out_dir=out, space=space, model_config=TINY_MODEL, train_config=FAST, seed=0,
                 progress=False)
    table = best_table(tiny_dataset, study, k=1, seeds=2, out_dir=out, model_config=TINY_MODEL, train_config=FAST,
                       progress=False)
    best = f"trial {study.best_trial.number}"
    assert list(table.runs) == ["defaults", best] and all(len(r) == 2 for r in table.runs.values())
    assert table.settings.loc["train.lr", "defaults"] == FAST.lr
    assert table.settings.loc["train.lr", best] == study.best_trial.params["train.lr"]
    assert list(table.significance.index) == [best]
    mae = {label: [run.test_metrics["MAE"] for run in group] for label, group in table.runs.items()}
    interval = table.significance.attrs["intervals"][(best, "MAE")]
    assert interval.mean == pytest.approx(np.mean(np.subtract(mae[best], mae["defaults"])))
    assert "difference from defaults paired by seed" in table.to_string()


def test_significance_table_is_the_paired_t_test_with_its_interval():
    from scipy import stats as scipy_stats

    rng = np.random.default_rng(0)
    seeds = [1111, 1112, 1113, 1114, 1115]
    base = rng.normal(0.8, 0.05, 5)
    frame = pd.DataFrame({"variant": ["dmd"] * 5 + ["worse"] * 5 + ["same"] * 5, "seed": seeds * 3,
                          "Non0_acc_2": np.concatenate([base, base - 0.04 + rng.normal(0, 0.005, 5),
                                                        base + rng.normal(0, 0.02, 5)])})
    frame = frame.sample(frac=1.0, random_state=0)   # pairing is by seed, not by row order
    table = stats.significance_table(frame, by="variant", reference="dmd", columns={"Non0_acc_2": "Acc-2"},
                                     scale={"Non0_acc_2": 100.0}, places={"Non0_acc_2": 1})
    for variant in ("worse", "same"):
        values = frame[frame.variant == variant].set_index("seed").loc[seeds, "Non0_acc_2"]
        reference = frame[frame.variant == "dmd"].set_index("seed").loc[seeds, "Non0_acc_2"]
        expected = scipy_stats.ttest_rel(values, reference)
        interval = table.attrs["intervals"][(variant, "Acc-2")]
        assert interval.p_value == pytest.approx(expected.pvalue, rel=1e-9)
        low, high = expected.confidence_interval(0.95)
        assert (interval.low, interval.high) == pytest.approx((low, high), rel=1e-9)
    worse = table.attrs["intervals"][("worse", "Acc-2")]
    assert table.loc["worse", "Acc-2"] == (f"{100 * worse.mean:+.1f} [{100 * worse.low:+.1f}, {100 * worse.high:+.1f}] "
                                           f"p={worse.p_value:.2g} {stats.SIGNIFICANT_MARK}")
    assert not table.loc["same", "Acc-2"].endswith(stats.SIGNIFICANT_MARK)
    assert table.loc["worse", "seeds"] == 5


def test_tune_command_help_says_the_test_split_is_never_searched(capsys):
    with pytest.raises(SystemExit):
        main(["tune", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "VALIDATION MAE" in text and "test split is never used by the search" in text
    for option in ("--trials", "--space", "--storage", "--study", "--best", "--seeds", "--set", "--address",
                   "--gpus-per-run", "--cpus-per-run"):
        assert option in text


def test_tune_command_needs_trials_or_best(tiny_dataset_path, capsys):
    assert main(["tune", "--data", str(tiny_dataset_path)]) == 2
    assert "tune needs --trials N" in capsys.readouterr().err


def test_cluster_settings_are_checked():
    from dmdlab.orchestration.cluster import Cluster

    with pytest.raises(ValueError, match="'gpus_per_run' parameter of Cluster must be a fraction"):
        Cluster(gpus_per_run=1.5)
    with pytest.raises(ValueError, match="'cpus_per_run' parameter of Cluster must be a number > 0"):
        Cluster(cpus_per_run=0)


def test_a_trial_behind_the_median_is_pruned_from_its_epochs_validation_mae(tiny_dataset, tmp_path):
    from optuna.distributions import FloatDistribution

    from dmdlab.orchestration.tune import open_study

    out, space = tmp_path / "study", _small_space(tmp_path)
    study = open_study(out)
    distributions = {"train.lr": FloatDistribution(1e-4, 2e-3, log=True), "arch.output_dropout": FloatDistribution(0, 0.5)}
    for _ in range(4):   # four finished trials that reached a validation MAE of 0 at every epoch
        study.add_trial(optuna.trial.create_trial(params={"train.lr": 1e-3, "arch.output_dropout": 0.1},
                                                  distributions=distributions, value=0.0,
                                                  intermediate_values={1: 0.0, 2: 0.0, 3: 0.0}))
    study = tune(tiny_dataset, trials=1, out_dir=out, space=space, model_config=TINY_MODEL,
                 train_config=FAST.replace(max_epochs=3), seed=0, progress=False)
    trial = study.trials[-1]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert sorted(trial.intermediate_values) == [1, 2]   # epoch 1 is never pruned (warm-up); epoch 2 is
    run_dir = out / "trials" / "trial0004"
    assert len(pd.read_csv(run_dir / "history.csv")) == 2 and not (run_dir / "metrics.json").exists()
