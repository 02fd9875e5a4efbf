"""Shared caches, encoder folders, search journals and the local Ray as a classmate or a stranger leaves them.

Each test writes the crafted file or folder into a temporary cache, runs the command, and checks
for one clear line (or that the attack is prevented) with nothing on disk lost, no code run and
nothing prompted: planted links and hard links, a user's own best.pt, encoder folders and
checkpoints that name code or claim huge sizes, tampered metrics and duplicated seeds, forged
search journals, and a read-only cache.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from dmdlab import checkpoint as ckpt
from dmdlab import runs
from dmdlab.cli import main
from dmdlab.training.config import TrainConfig
from dmdlab.orchestration.experiments import run_experiment

ONE_EPOCH = TrainConfig(max_epochs=1, batch_size=32, grad_accumulation=1, eval_batch_size=96, progress=False,
                        num_threads=1, eval_test_each_epoch=False)
FAST = ["--batch-size", "32", "--grad-accumulation", "1", "--threads", "1", "--no-progress", "--epochs", "1"]
EVIL = ("import pathlib\npathlib.Path(__file__).with_name('RAN').write_text('the folder code ran')\n"
        "from transformers import BertConfig as EvilConfig, BertModel as EvilModel, BertTokenizerFast as EvilTok\n")


@pytest.fixture(scope="module")
def finished(tiny_dataset, tmp_path_factory, tiny_config):
    """A finished one-epoch DMD run at <out>/dmd/seed1111 and wo_fd seed 1111 (copy before changing)."""
    out = tmp_path_factory.mktemp("runs")
    run_experiment(tiny_dataset, ["dmd", "wo_fd"], seeds=[1111], base_config=tiny_config, train_config=ONE_EPOCH,
                   out_dir=out, progress=False)
    return out


def _one_line_error(capsys, argv) -> str:
    assert main([str(arg) for arg in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def _evil_folder(tiny_bert, folder, *, named_type: bool = False):
    """A copy of the tiny BERT whose config and tokenizer config name code in the folder (auto_map). Without
    ``named_type`` (no model_type, no tokenizer_class) only that code could load it: transformers then asks
    "Do you wish to run the custom code? [y/N]" unless told trust_remote_code=False."""
    shutil.copytree(tiny_bert, folder)
    (folder / "evil.py").write_text(EVIL)
    for name, key, value, kind in (
            ("config.json", "auto_map", {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"}, "model_type"),
            ("tokenizer_config.json", "auto_map", {"AutoTokenizer": ["evil.EvilTok", "evil.EvilTok"]},
             "tokenizer_class")):
        document = json.loads((folder / name).read_text())
        document[key] = value
        if not named_type:
            document.pop(kind, None)
        (folder / name).write_text(json.dumps(document))
    return folder


def _label_csv(path, clips: int = 14):
    """An MMSA label.csv of ``clips`` short transcripts, ids v_0, v_1, ..., 4:1:2 train/dev/test."""
    modes = np.array(["train", "train", "train", "train", "dev", "test", "test"])[np.arange(clips) % 7]
    pd.DataFrame({"id": [f"v_{i}" for i in range(clips)], "text": ["a good movie"] * clips,
                  "label": np.linspace(-3, 3, clips).round(2), "mode": modes}).to_csv(path, index=False)
    return path


@pytest.fixture
def stdin_says_yes(monkeypatch):
    """A 'y' waiting on stdin for any prompt (transformers asks before running a folder's code)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n" * 20))


# --------------------------------------------------------------------------- 1. data loss


def test_planted_lock_link_is_refused_and_its_target_kept(tiny_dataset_path, tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("the victim's own file")
    run_dir = tmp_path / "cache" / "run"
    run_dir.mkdir(parents=True)
    os.symlink(victim, run_dir / runs.LOCK)
    line = _one_line_error(capsys, ["train", "--data", tiny_dataset_path, "--out", run_dir, *FAST])
    assert "the lock file is a symbolic link" in line, line
    assert victim.read_text() == "the victim's own file"


def test_lock_hard_link_to_another_file_is_refused(tiny_dataset_path, tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("the victim's own file")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    os.link(victim, run_dir / runs.LOCK)
    line = _one_line_error(capsys, ["train", "--data", tiny_dataset_path, "--out", run_dir, *FAST])
    assert "has 2 names" in line, line
    assert victim.read_text() == "the victim's own file"


def test_a_users_own_best_pt_and_history_are_never_overwritten(tiny_dataset_path, tmp_path, capsys):
    mine = tmp_path / "my_model"
    mine.mkdir()
    (mine / runs.BEST).write_bytes(b"my own weights")
    (mine / runs.HISTORY).write_text("epoch,loss\n1,0.5\n")
    line = _one_line_error(capsys, ["train", "--data", tiny_dataset_path, "--out", mine, *FAST])
    assert f"not dmdlab's run marker {runs.MARKER}" in line and "best.pt, history.csv" in line, line
    assert (mine / runs.BEST).read_bytes() == b"my own weights"
    assert (mine / runs.HISTORY).read_text() == "epoch,loss\n1,0.5\n"


def test_run_file_that_is_a_link_is_refused(finished, tmp_path, tiny_dataset_path, capsys):
    run_dir = shutil.copytree(finished / "dmd" / "seed1111", tmp_path / "run")
    victim = tmp_path / "victim.csv"
    victim.write_text("epoch\n1\n")
    (run_dir / runs.HISTORY).unlink()
    os.symlink(victim, run_dir / runs.HISTORY)
    line = _one_line_error(capsys, ["train", "--resume", "--out", run_dir, "--epochs", "2", "--no-progress"])
    assert "history.csv is a link or not a regular file" in line, line
    assert victim.read_text() == "epoch\n1\n"


def test_run_of_an_older_dmdlab_without_marker_is_recognised(finished, tmp_path, tiny_dataset, tiny_config):
    out = tmp_path / "out"
    shutil.copytree(finished / "dmd", out / "dmd")
    (out / "dmd" / "seed1111" / runs.MARKER).unlink()
    again = run_experiment(tiny_dataset, ["dmd"], seeds=[1111], base_config=tiny_config, train_config=ONE_EPOCH,
                           out_dir=out, progress=False)
    assert again[0].path == out / "dmd" / "seed1111"
    resumed = runs.claim(out / "dmd" / "seed1111")      # adopted: it gets the marker
    resumed.release()
    assert (out / "dmd" / "seed1111" / runs.MARKER).is_file()


def test_checkpoint_link_or_fifo_is_refused_without_waiting(finished, tmp_path):
    link = tmp_path / "link.pt"
    os.symlink(finished / "dmd" / "seed1111" / runs.BEST, link)
    with pytest.raises(ckpt.CheckpointError, match="is a symbolic link"):
        ckpt.load_checkpoint(link)
    fifo = tmp_path / "fifo.pt"
    os.mkfifo(fifo)
    with pytest.raises(ckpt.CheckpointError, match="not a regular file"):
        ckpt.load_checkpoint(fifo)


# --------------------------------------------------------------------------- 2. code execution


def test_checkpoint_naming_an_encoder_folder_is_refused_and_runs_nothing(finished, tiny_bert, tmp_path,
                                                                         stdin_says_yes):
    evil = _evil_folder(tiny_bert, tmp_path / "evil")
    payload = ckpt.read(finished / "dmd" / "seed1111" / runs.BEST)
    payload["model_config"]["arch"]["text_encoder"] = str(evil)
    ckpt.save(tmp_path / "best.pt", payload)
    with pytest.raises(ckpt.CheckpointError, match="no text_encoder_config is stored") as info:
        ckpt.load_checkpoint(tmp_path / "best.pt")
    assert "\n" not in str(info.value) and not (evil / "RAN").exists()


@pytest.fixture(scope="module")
def bert_run(tiny_bert, tmp_path_factory, tiny_cli):
    """A finished one-epoch unimodal_l run with the tiny BERT fine-tuned (its best.pt stores the encoder config)."""
    from dmdlab.data.synth import write_dataset

    folder = tmp_path_factory.mktemp("bert")
    data = write_dataset(folder / "tiny_bert.pkl", "tiny", tokenizer=tiny_bert)
    assert main(["train", "--data", str(data), "--variant", "unimodal_l", "--text-encoder", str(tiny_bert),
                 "--out", str(folder / "run"), *tiny_cli, *FAST]) == 0
    return folder / "run"


@pytest.mark.parametrize("change, fragment", [
    ({"auto_map": {"AutoModel": "evil.EvilModel"}}, "key 'auto_map' is not admitted"),
    ({"_attn_implementation": "kernels-community/evil"}, "key '_attn_implementation' is not admitted"),
    ({"num_hidden_layers": 8000}, "num_hidden_layers = 8000: expected an integer in \\[0, 48\\]"),
    ({"vocab_size": 200_000_000}, "vocab_size = 200000000"),
    ({"model_type": "no-such-model"}, "not a transformers config"),
])
def test_stored_encoder_config_is_checked_before_anything_is_built(bert_run, tmp_path, change, fragment,
                                                                   stdin_says_yes):
    payload = ckpt.read(bert_run / runs.BEST)
    payload["text_encoder_config"].update(change)
    ckpt.save(tmp_path / "best.pt", payload)
    with pytest.raises(ckpt.CheckpointError, match=fragment) as info:
        ckpt.load_checkpoint(tmp_path / "best.pt")
    assert "\n" not in str(info.value)


def test_bert_checkpoint_loads_from_its_stored_config_alone(bert_run, tmp_path):
    payload = ckpt.read(bert_run / runs.BEST)
    payload["model_config"]["arch"]["text_encoder"] = str(tmp_path / "gone")   # the folder is never read
    payload["text_encoder_config"]["_attn_implementation_autoset"] = True        # older transformers' flag: dropped
    ckpt.save(tmp_path / "best.pt", payload)
    model, _ = ckpt.load_checkpoint(tmp_path / "best.pt")
    assert model.text_encoder.hidden_size == 16


@pytest.mark.parametrize("named_type, fragment", [(False, "contains custom code"),
                                                   (True, "names code to load \\(auto_map\\)")])
def test_encoder_folder_naming_code_is_refused_and_runs_nothing(tiny_bert, tmp_path, stdin_says_yes, capsys,
                                                                named_type, fragment):
    from dmdlab.model.text import BertTextEncoder

    evil = _evil_folder(tiny_bert, tmp_path / "evil", named_type=named_type)
    with pytest.raises(ValueError, match=fragment) as info:
        BertTextEncoder(str(evil))
    assert "\n" not in str(info.value) and not (evil / "RAN").exists()
    assert "Do you wish" not in capsys.readouterr().out


def test_tokenizer_folder_naming_code_is_one_line_and_runs_nothing(tiny_bert, tmp_path, capsys, stdin_says_yes):
    evil = _evil_folder(tiny_bert, tmp_path / "evil")
    labels = _label_csv(tmp_path / "label.csv")
    line = _one_line_error(capsys, ["data", "build", "--labels", labels, "--tokenizer", evil,
                                    "--out", tmp_path / "out.pkl"])
    assert "not a local tokenizer folder transformers can read without running its code" in line, line
    assert not (evil / "RAN").exists() and not (tmp_path / "out.pkl").exists()


def test_pickle_weights_of_an_encoder_folder_are_one_line(tiny_bert, tmp_path):
    from safetensors.torch import load_file

    from dmdlab.model.text import BertTextEncoder

    folder = shutil.copytree(tiny_bert, tmp_path / "pickled")
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="never a pickle such as pytorch_model.bin") as info:
        BertTextEncoder(str(folder))
    assert "\n" not in str(info.value) and "weights_only" not in str(info.value)


# --------------------------------------------------------------------------- 3. memory and time bombs


@pytest.mark.parametrize("field, value", [("vocab_size", 200_000_000), ("num_hidden_layers", 20_000),
                                          ("max_position_embeddings", 10**9), ("hidden_size", "16")])
def test_encoder_folder_sizes_are_bounded_before_building(tiny_bert, tmp_path, field, value):
    from dmdlab.model.text import BertTextEncoder

    folder = shutil.copytree(tiny_bert, tmp_path / "big")
    config = json.loads((folder / "config.json").read_text())
    config[field] = value
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=f"(config {field} = |{field})") as info:
        BertTextEncoder(str(folder))
    assert "\n" not in str(info.value)


def test_one_huge_transcript_does_not_size_the_file(tiny_bert, tmp_path, capsys):
    from dmdlab.data import load_mmsa
    labels = _label_csv(tmp_path / "label.csv")
    table = pd.read_csv(labels)
    table.loc[0, "text"] = "word " * (2 << 17)          # 0.5 MiB in one cell
    table.to_csv(labels, index=False)
    out = tmp_path / "out.pkl"
    assert main([str(a) for a in ["data", "build", "--labels", labels, "--tokenizer", tiny_bert, "--out", out]]) == 0
    printed = capsys.readouterr().out
    assert "T_L=50 (1 transcripts truncated to 50 wordpieces" in printed and "default 50 as in MMSA" in printed
    assert load_mmsa(out, text="bert").spec.text_len == 50
    assert out.stat().st_size < 3_000_000   # raw_text keeps the cell
    line = _one_line_error(capsys, ["data", "build", "--labels", labels, "--tokenizer", tiny_bert, "--out", out,
                                    "--max-len", "20002"])
    assert "max_len" in line and "[2, 512]" in line


def test_a_clip_in_two_splits_is_refused(tiny_bert, tmp_path, capsys):
    labels = _label_csv(tmp_path / "label.csv")
    table = pd.read_csv(labels)
    table.loc[table["mode"] == "test", "id"] = table["id"].iloc[0]     # the first train clip again in test
    table.to_csv(labels, index=False)
    line = _one_line_error(capsys, ["data", "build", "--labels", labels, "--tokenizer", tiny_bert,
                                    "--out", tmp_path / "out.pkl"])
    assert "clip id 'v$_$0' appears" in line and "test, train" in line, line
    assert not (tmp_path / "out.pkl").exists()


# --------------------------------------------------------------------------- 4-5. run files as strangers left them


def _copy_runs(finished, tmp_path):
    out = tmp_path / "runs"
    shutil.copytree(finished, out)
    return out


@pytest.mark.parametrize("content, fragment", [
    ('"test"', "expected a JSON object, found str"),
    ("[1, 2]", "expected a JSON object, found list"),
    ("[" * 200_000, "JSON nested too deeply"),
    ('{"test": "high", "valid": {}}', "'test': expected an object of metric -> number, found str"),
    ('{"test": {"MAE": "low"}}', "test.MAE: expected a number"),
])
def test_malformed_metrics_json_is_one_line(finished, tmp_path, capsys, content, fragment):
    out = _copy_runs(finished, tmp_path)
    (out / "dmd" / "seed1111" / runs.METRICS).write_text(content)
    line = _one_line_error(capsys, ["claims", out])
    assert "seed1111/metrics.json" in line and fragment in line, line


def test_seed_as_a_string_is_one_line(finished, tmp_path, capsys):
    out = _copy_runs(finished, tmp_path)
    path = out / "dmd" / "seed1111" / runs.CONFIG
    config = json.loads(path.read_text())
    config["train"]["seed"] = "1111"
    path.write_text(json.dumps(config))
    line = _one_line_error(capsys, ["claims", out])
    assert "train.seed: expected an integer, found '1111'" in line, line


def test_a_copied_seed_folder_is_refused_naming_both(finished, tmp_path, capsys):
    out = _copy_runs(finished, tmp_path)
    copy = shutil.copytree(out / "dmd" / "seed1111", out / "dmd" / "seed1111-copy")
    metrics = json.loads((copy / runs.METRICS).read_text())
    metrics["test"]["Non0_acc_2"] = 0.99
    (copy / runs.METRICS).write_text(json.dumps(metrics))
    line = _one_line_error(capsys, ["claims", out])
    assert "seed1111 and" in line and "seed1111-copy are both dmd seed 1111" in line, line


@pytest.mark.parametrize("value", [1e308, -1e308, None, 7.5])
def test_out_of_range_metrics_are_refused_naming_the_folder(finished, tmp_path, capsys, value):
    out = _copy_runs(finished, tmp_path)
    path = out / "wo_fd" / "seed1111" / runs.METRICS
    metrics = json.loads(path.read_text())
    metrics["test"]["Non0_acc_2"] = value
    path.write_text(json.dumps(metrics))
    line = _one_line_error(capsys, ["claims", out])
    assert "wo_fd/seed1111/metrics.json: test.Non0_acc_2: expected a finite number in [0, 1]" in line, line


def test_text_in_history_csv_is_one_line(finished, tmp_path):
    out = _copy_runs(finished, tmp_path)
    path = out / "dmd" / "seed1111" / runs.HISTORY
    history = pd.read_csv(path)
    history["lr"] = history["lr"].astype(object)
    history.loc[0, "lr"] = "fast"
    history.to_csv(path, index=False)
    with pytest.raises(runs.RunFolderError, match="history.csv: column 'lr': expected numbers, found 'fast'"):
        runs.load(out / "dmd" / "seed1111")


# --------------------------------------------------------------------------- search journals and spaces (tune)


SMALL_SPACE = ("train.lr: {type: float, low: 1.0e-4, high: 2.0e-3, log: true}\n"
               "arch.output_dropout: {type: float, low: 0.0, high: 0.5}\n")


@pytest.fixture
def tune_args(tiny_dataset_path, tmp_path, tiny_cli):
    """``tune`` options on the tiny data, a two-parameter space and a tiny model, study in tmp_path/study."""
    space = tmp_path / "space.yaml"
    space.write_text(SMALL_SPACE)
    return ["tune", "--data", tiny_dataset_path, "--out", tmp_path / "study", "--space", space, *tiny_cli, *FAST,
            "--jobs", "1"]


def test_journal_link_is_refused_and_its_target_kept(tune_args, tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("the victim's own file")
    (tmp_path / "study").mkdir()
    os.symlink(victim, tmp_path / "study" / "study.journal")
    line = _one_line_error(capsys, [*tune_args, "--trials", "1"])
    assert "study.journal: the study journal is a symbolic link" in line, line
    assert victim.read_text() == "the victim's own file"


def test_trials_zero_on_a_new_study_is_one_line(tune_args, capsys):
    line = _one_line_error(capsys, [*tune_args, "--trials", "0"])
    assert "study 'dmd'" in line and "has no trials yet: give --trials N" in line, line


@pytest.mark.parametrize("tampered", [
    '{"op_code": 4, "worker_id": "w"}',                                   # a trial's op without its fields
    '{"op_code": 4, "worker_id": "w", "study_id": 0, "datetime_start": "2026-01-01T00:00:00.000000"}\n'
    '{"op_code": 5, "worker_id": "w", "trial_id": 1, "param_name": "x", "param_value_internal": 1.0, '
    '"distribution": "{\\"name\\": \\"Nope\\", \\"attributes\\": {}}"}',
    '{"op_code": 0, "worker_id": "w", "study_name": 7, "directions": "up"}',
])
def test_tampered_journal_line_is_one_line(tune_args, tmp_path, capsys, tampered):
    assert main([str(arg) for arg in [*tune_args, "--trials", "1"]]) == 0
    capsys.readouterr()
    journal = tmp_path / "study" / "study.journal"
    before = journal.read_bytes()
    with journal.open("a") as stream:
        stream.write(tampered + "\n")
    line = _one_line_error(capsys, [*tune_args, "--trials", "0"])
    assert "study.journal" in line and "may be damaged or tampered with" in line, line
    assert journal.read_bytes().startswith(before)


@pytest.mark.parametrize("storage, fragment", [
    ("sqlite:////no/such/folder/study.db", "no folder /no/such/folder for the SQLite file"),
    ("foo://somewhere/db", "cannot be opened"),
    ("postgresql://user:secret@127.0.0.1:1/db", "cannot be opened"),
])
def test_bad_storage_is_one_line(tune_args, capsys, storage, fragment):
    line = _one_line_error(capsys, [*tune_args, "--trials", "1", "--storage", storage])
    assert fragment in line and "secret" not in line, line


@pytest.mark.parametrize("text, fragment", [
    ("gd.homo_hidden: {type: categorical, choices: [16, 'a']}", "all of one kind"),
    ("gd.homo_hidden: {type: categorical, choices: [16, 32, 16]}", "distinct values"),
    ("arch.output_dropout: {type: float, low: 0.0, high: 2.0}", "parameter 'arch.output_dropout'"),
    ("gd.homo_hidden: {type: int, low: -4, high: 8}", "parameter 'gd.homo_hidden'"),
])
def test_space_values_are_all_checked_before_any_trial(tune_args, tmp_path, capsys, text, fragment):
    (tmp_path / "space.yaml").write_text(text)
    line = _one_line_error(capsys, [*tune_args, "--trials", "1"])
    assert "space.yaml" in line and fragment in line, line
    assert not (tmp_path / "study" / "trials").exists()


def test_yaml_alias_bomb_is_refused_at_once(tune_args, tmp_path, capsys):
    import time

    bomb = ["a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']"]
    bomb += [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
             f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]" for i in range(8)]
    (tmp_path / "space.yaml").write_text("\n".join(bomb) + "\n")
    started = time.perf_counter()
    line = _one_line_error(capsys, [*tune_args, "--trials", "1"])
    assert "aliases (*name) are not admitted" in line and time.perf_counter() - started < 10, line


def test_a_failing_trial_is_never_left_running(tiny_dataset, tmp_path, monkeypatch):
    import optuna

    from dmdlab.orchestration import tune as tuning
    from dmdlab.orchestration.tune import tune

    (tmp_path / "space.yaml").write_text(SMALL_SPACE)
    real = tuning.settings

    def refuse_the_trial(params, *args, where="", **kwargs):
        if where.startswith("trial"):
            raise ValueError(f"{where}: a value the model refuses")
        return real(params, *args, where=where, **kwargs)

    monkeypatch.setattr(tuning, "settings", refuse_the_trial)
    for _ in range(2):
        study = tune(tiny_dataset, trials=1, out_dir=tmp_path / "study", space=tmp_path / "space.yaml",
                     train_config=ONE_EPOCH, progress=False)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tuning, "settings", real)
    monkeypatch.setattr(tuning, "_trial_task", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tune(tiny_dataset, trials=1, out_dir=tmp_path / "study", space=tmp_path / "space.yaml",
             train_config=ONE_EPOCH, progress=False)
    study = tuning.open_study(tmp_path / "study")
    assert optuna.trial.TrialState.RUNNING not in [t.state for t in study.trials]


def test_best_refuses_a_forged_trial_outside_the_space(tune_args, tmp_path, capsys):
    import optuna

    from dmdlab.orchestration.tune import open_study

    assert main([str(arg) for arg in [*tune_args, "--trials", "1"]]) == 0
    capsys.readouterr()
    study = open_study(tmp_path / "study")
    forged = {"train.lr": 1e-3, "arch.output_dropout": 0.1, "arch.d": 4096}
    distributions = {"train.lr": optuna.distributions.FloatDistribution(1e-4, 2e-3, log=True),
                     "arch.output_dropout": optuna.distributions.FloatDistribution(0, 0.5),
                     "arch.d": optuna.distributions.IntDistribution(1, 8192)}
    study.add_trial(optuna.trial.create_trial(params=forged, distributions=distributions, value=1e-9))
    line = _one_line_error(capsys, [*tune_args, "--best", "1", "--seeds", "1"])
    assert "trial 1: its parameters are not the search space's (differ in arch.d)" in line, line
    assert not (tmp_path / "study" / "best").exists()
    forged.pop("arch.d")
    forged["arch.output_dropout"] = 0.9
    distributions.pop("arch.d")
    distributions["arch.output_dropout"] = optuna.distributions.FloatDistribution(0, 1)
    study.add_trial(optuna.trial.create_trial(params=forged, distributions=distributions, value=1e-10))
    line = _one_line_error(capsys, [*tune_args, "--best", "1", "--seeds", "1"])
    assert "arch.output_dropout = 0.9 is outside the search space (float in [0.0, 0.5])" in line, line


# --------------------------------------------------------------------------- the local Ray and --address


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_address_that_is_not_a_ray_head_fails_within_seconds(tmp_path):
    import http.server
    import socket
    import threading
    import time

    pytest.importorskip("ray")
    from dmdlab.orchestration.cluster import CONNECT_SECONDS, Cluster, RayEngine

    web = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    serving = threading.Thread(target=web.serve_forever, daemon=True)
    serving.start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        for port, fragment in ((_free_port(), "cannot connect"), (web.server_port, "does not speak Ray's protocol"),
                               (silent.getsockname()[1], f"no answer within {CONNECT_SECONDS:g} s")):
            started = time.perf_counter()
            with pytest.raises(ValueError, match=fragment) as info:
                RayEngine(Cluster(address=f"127.0.0.1:{port}"))
            assert time.perf_counter() - started < CONNECT_SECONDS + 10 and "\n" not in str(info.value)
    finally:
        web.shutdown()
        web.server_close()
        silent.close()


@pytest.mark.parametrize("options, fragment", [
    (["--jobs", "100000"], "a local Ray of 100000 CPUs on a machine of"),
    (["--cpus-per-run", "1e300"], "no run could ever start"),
    (["--gpus-per-run", "1"] if not torch.cuda.is_available() else ["--gpus-per-run", "64"],
     "no run could ever start"),
])
def test_local_ray_that_could_never_run_is_one_line_before_it_starts(tiny_dataset_path, tmp_path, capsys, tiny_cli,
                                                                     options, fragment):
    pytest.importorskip("ray")
    line = _one_line_error(capsys, ["reproduce", "text", "--data", tiny_dataset_path, "--out", tmp_path / "out",
                                    "--seeds", "1", *tiny_cli, *FAST, *options])
    assert fragment in line, line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob(runs.CONFIG))


@pytest.mark.cluster
@pytest.mark.slow
def test_local_ray_token_lives_in_the_environment_not_in_a_file(monkeypatch):
    pytest.importorskip("ray")
    from dmdlab.orchestration.cluster import Cluster, RayEngine

    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    token_file = os.path.expanduser("~/.ray/auth_token")
    before = os.stat(token_file).st_mtime_ns if os.path.exists(token_file) else None

    def token_seen(_):
        return os.environ.get("RAY_AUTH_MODE"), len(os.environ.get("RAY_AUTH_TOKEN", ""))

    with RayEngine(Cluster(num_cpus=1)) as workers:
        workers.submit("job", token_seen, None)
        assert workers.next_done() == ("job", ("token", 64))
    assert "RAY_AUTH_TOKEN" not in os.environ          # restored: the token leaves with the command
    after = os.stat(token_file).st_mtime_ns if os.path.exists(token_file) else None
    assert after == before                                # no token file written or rewritten


# --------------------------------------------------------------------------- a read-only shared cache


def _run_read_only(folder, code: str) -> dict:
    """Run ``code`` (python, printing one JSON line) with ``folder`` read-only: a read-only bind mount in a
    mount namespace of its own when root (root writes whatever the permissions), else permissions."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    if os.geteuid() == 0:
        if not shutil.which("unshare"):
            pytest.skip("root without unshare: no way to make a folder read-only for this process")
        command = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && '
                   'exec "$@"', str(folder), sys.executable, "-c", code]
        probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
        if probe.returncode != 0:
            pytest.skip(f"unshare -m is not permitted here ({probe.stderr.decode().strip()})")
    else:
        subprocess.run(["chmod", "-R", "a-w", str(folder)], check=True)
        command = [sys.executable, "-c", code]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    finally:
        if os.geteuid() != 0:
            subprocess.run(["chmod", "-R", "u+w", str(folder)], check=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


READ_ONLY_PROBE = r"""
import json, os, sys
from dmdlab.notebook import bert_setup, claims, search
from dmdlab.orchestration.workbench import open_workbench

bench = open_workbench("smoke", data=os.environ["TINY_DATA"], out=os.environ["BENCH"],
                       seeds=1, epochs=1, overrides=os.environ["TINY_SET"].split())
found = {}
def attempt(name, call):
    try:
        found[name] = call()
    except (ValueError, OSError) as error:
        found[name] = f"{type(error).__name__}: {error}"
attempt("runs", lambda: [run.path.name for run in bench.runs(["dmd"], progress=False)])
attempt("beats", lambda: claims(bench, "beats").table.shape[0])
attempt("edges", lambda: claims(bench, "edges"))
attempt("study", lambda: len(search(bench, 0).trials))
attempt("add trials", lambda: search(bench, 2))
attempt("bert", lambda: bert_setup("smoke", seeds=1))
print(json.dumps(found))
"""


def test_a_read_only_cache_serves_what_it_holds_and_says_how_to_get_the_rest(tiny_dataset_path, tmp_path,
                                                                             tiny_overrides, monkeypatch):
    from dmdlab.claims import CLAIM_VARIANTS
    from dmdlab.notebook import search
    from dmdlab.orchestration.workbench import open_workbench

    cache = tmp_path / "cache"
    bench = open_workbench("smoke", data=tiny_dataset_path, out=cache / "bench", seeds=1, epochs=1,
                           overrides=tiny_overrides)
    bench.runs(CLAIM_VARIANTS["beats"], progress=False)      # what a teacher trained; no edge-prior variants
    search(bench, 0)                                          # the notebook's study, opened once
    before = sorted(str(path.relative_to(cache)) for path in cache.rglob("*"))
    for name, value in (("TINY_DATA", tiny_dataset_path), ("BENCH", cache / "bench"),
                        ("TINY_SET", " ".join(tiny_overrides)), ("DMDLAB_HOME", cache)):
        monkeypatch.setenv(name, str(value))
    found = _run_read_only(cache, READ_ONLY_PROBE)
    assert found["runs"] == ["seed1111"] and found["beats"] > 0 and found["study"] == 0
    assert found["edges"].startswith("ValueError: ") and "cannot be written" in found["edges"]
    assert "python -m dmdlab workbench --mode smoke --variants uniform_prior no_edge_reg" in found["edges"]
    assert "no trial can be added there" in found["add trials"] and "TRIALS = 0" in found["add trials"]
    assert "09_real_data_bert.ipynb" in found["bert"] and "cannot be written" in found["bert"]
    assert all("\n" not in str(value) for value in found.values())
    assert sorted(str(path.relative_to(cache)) for path in cache.rglob("*")) == before


def test_data_inspect_notes_a_clip_in_two_splits(tmp_path, capsys):
    import pickle

    from dmdlab.data.synth import make_dataset

    data = make_dataset("tiny")
    data["test"]["id"] = np.array(data["test"]["id"], dtype=object)
    data["test"]["id"][0] = data["train"]["id"][0]
    path = tmp_path / "shared_ids.pkl"
    path.write_bytes(pickle.dumps(data, protocol=5))
    assert main(["data", "inspect", str(path)]) == 0
    printed = capsys.readouterr().out
    assert f"1 clip id(s) are in more than one split (first {str(data['train']['id'][0])!r}, in train and test)" \
        in printed, printed


def test_journal_swapped_for_a_link_during_a_search_is_never_written_through(tmp_path):
    from dmdlab.orchestration.tune import JOURNAL, open_study

    study = open_study(tmp_path / "study")
    study.set_user_attr("before", 1)
    victim = tmp_path / "victim.txt"
    victim.write_text("the victim's own file")
    journal = tmp_path / "study" / JOURNAL
    journal.rename(tmp_path / "moved.journal")
    os.symlink(victim, journal)                    # planted by someone who can write the folder
    with pytest.raises(ValueError, match="the study journal is a symbolic link"):
        study.set_user_attr("after", 2)
    assert victim.read_text() == "the victim's own file"
