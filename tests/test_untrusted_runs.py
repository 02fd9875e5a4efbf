"""Run folders, checkpoints and options as a hostile or careless user leaves them: one clear line, nothing mixed.

A run folder belongs to one run (a lock, no foreign files, the same data by content, no
silently ignored option); checkpoints are untrusted files; impossible protocols and
diverging runs stop with a line naming what and where. Tiny model, one or two epochs.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from dmdlab import runs
from dmdlab.cli import main
from dmdlab.model import DMD
from dmdlab import checkpoint as ckpt
from dmdlab.training.config import TrainConfig
from dmdlab.orchestration.experiments import run_experiment
from dmdlab.training.guards import NonFiniteError
from dmdlab.training.trainer import Trainer, train

ONE_EPOCH = TrainConfig(max_epochs=1, batch_size=32, grad_accumulation=1, eval_batch_size=96, progress=False,
                        num_threads=1, eval_test_each_epoch=False)


@pytest.fixture(scope="module")
def finished_run(tiny_dataset, tmp_path_factory, tiny_config):
    """A finished one-epoch run at <out>/dmd/seed1111 (copy it before changing it)."""
    out = tmp_path_factory.mktemp("runs")
    run_experiment(tiny_dataset, ["dmd"], seeds=[1111], base_config=tiny_config, train_config=ONE_EPOCH,
                   out_dir=out, progress=False)
    return out / "dmd" / "seed1111"


@pytest.fixture(scope="module")
def other_data_path(tmp_path_factory):
    """The tiny dataset drawn with another seed: same widths and name, other content."""
    from dmdlab.data.synth import write_dataset

    return write_dataset(tmp_path_factory.mktemp("other") / "tiny_aligned.pkl", "tiny", aligned=True, seed=1)


def _one_line_error(capsys, argv) -> str:
    assert main([str(arg) for arg in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


# --------------------------------------------------------------------------- one run per folder


def test_second_writer_is_refused_while_a_run_holds_the_folder(tiny_dataset, tmp_path, tiny_config):
    with runs.claim(tmp_path / "run"):
        with pytest.raises(runs.RunFolderError, match=f"being written by another dmdlab run \\(process {os.getpid()}"):
            train(tiny_dataset, tiny_config, ONE_EPOCH, tmp_path / "run")
    assert not (tmp_path / "run" / runs.CONFIG).exists()
    assert train(tiny_dataset, tiny_config, ONE_EPOCH, tmp_path / "run").finished   # the lock was released


def test_killed_writer_leaves_no_stuck_lock(tmp_path):
    code = ("import os, signal\nfrom dmdlab import runs\nlock = runs.claim(os.environ['RUN_DIR'])\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "RUN_DIR": str(tmp_path / "run")},
                          timeout=60)
    assert done.returncode == -signal.SIGKILL and (tmp_path / "run" / runs.LOCK).is_file()
    runs.claim(tmp_path / "run").release()


def test_folder_with_foreign_files_is_never_written(tiny_dataset, tmp_path, tiny_config):
    (tmp_path / "notes.txt").write_text("my notes")
    with pytest.raises(runs.RunFolderError, match=r"holds files dmdlab did not write \(notes\.txt\)"):
        train(tiny_dataset, tiny_config, ONE_EPOCH, tmp_path)
    assert sorted(os.listdir(tmp_path)) == [runs.LOCK, "notes.txt"] and (tmp_path / "notes.txt").read_text() == "my notes"


def test_out_that_is_a_file_is_one_clear_line(tiny_dataset_path, tmp_path, capsys):
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    line = _one_line_error(capsys, ["train", "--data", tiny_dataset_path, "--out", target, "--no-progress"])
    assert "results.txt: is a file" in line and target.read_text() == "keep me"


def test_resume_refuses_other_data_by_content(finished_run, other_data_path, tmp_path, tiny_config):
    run_dir = shutil.copytree(finished_run, tmp_path / "run")
    with pytest.raises(runs.RunFolderError, match="was trained on other data"):
        train(other_data_path, tiny_config, ONE_EPOCH, run_dir, resume=True)


def test_reproduce_reuses_a_finished_run_only_on_the_same_data(finished_run, tiny_dataset, other_data_path, tiny_config):
    again = run_experiment(tiny_dataset, ["dmd"], seeds=[1111], base_config=tiny_config, train_config=ONE_EPOCH,
                           out_dir=finished_run.parent.parent, progress=False)
    assert again[0].path == finished_run
    with pytest.raises(runs.RunFolderError, match="was trained on other data"):
        run_experiment(other_data_path, ["dmd"], seeds=[1111], base_config=tiny_config, train_config=ONE_EPOCH,
                       out_dir=finished_run.parent.parent, progress=False)


@pytest.mark.parametrize("options, refused", [
    (["--lr", "0.01"], "lr: 0.0001 in the run, 0.01 asked"),
    (["--seed", "7"], "seed: 1111 in the run, 7 asked"),
    (["--batch-size", "16"], "batch_size: 32 in the run, 16 asked"),
    (["--variant", "wo_fd"], "model arch.decoupling: True in the run, False asked"),
])
def test_resume_refuses_changed_options(finished_run, tmp_path, capsys, options, refused):
    run_dir = shutil.copytree(finished_run, tmp_path / "run")
    before = (run_dir / runs.CONFIG).read_bytes()
    line = _one_line_error(capsys, ["train", "--resume", "--out", run_dir, *options])
    assert "cannot resume" in line and refused in line, line
    assert (run_dir / runs.CONFIG).read_bytes() == before


def test_resume_applies_more_epochs_and_removes_stale_temporaries(finished_run, tmp_path, capsys):
    run_dir = shutil.copytree(finished_run, tmp_path / "run")
    (run_dir / ".last.pt.k2j3h4.tmp").write_bytes(b"half a checkpoint")   # a writer killed mid-write
    assert main(["train", "--resume", "--out", str(run_dir), "--epochs", "2", "--no-progress"]) == 0
    assert "max_epochs 1 -> 2 (applied)" in capsys.readouterr().out
    assert runs.read_run(run_dir).metrics["epochs"] == 2
    assert not [name for name in os.listdir(run_dir) if name.endswith(".tmp")]


# --------------------------------------------------------------------------- numerics


def test_impossible_options_are_refused_at_parse_time(tiny_dataset_path, capsys):
    for option, value in (("--lr", "inf"), ("--lr", "nan"), ("--lr", "0"), ("--batch-size", "0"),
                          ("--plateau-factor", "1.5"), ("--clip", "-1")):
        with pytest.raises(SystemExit) as info:
            main(["train", "--data", str(tiny_dataset_path), option, value])
        assert info.value.code == 2
        assert f"argument {option}: expected" in capsys.readouterr().err
    with pytest.raises(ValueError, match="'lr' parameter of TrainConfig must be a finite number > 0"):
        TrainConfig(lr=float("inf"))


def test_protocol_without_optimizer_steps_is_refused_with_the_numbers(tiny_dataset, tiny_config):
    with pytest.raises(ValueError, match=r"no optimizer step: the train split has 192 clips, i\.e\. 6 batch\(es\) "
                                         r"of 32, fewer than the 10 batches"):
        Trainer(tiny_dataset, tiny_config, ONE_EPOCH.replace(grad_accumulation=10))


def test_nonfinite_loss_stops_the_run_and_keeps_it_resumable(tiny_dataset, tmp_path, monkeypatch, tiny_config):
    diverged = {"now": False}
    loss = DMD.loss

    def loss_that_diverges(self, *args, **kwargs):
        breakdown = loss(self, *args, **kwargs)
        return dataclasses.replace(breakdown, total=breakdown.total * float("nan")) if diverged["now"] else breakdown

    def after_epoch(trainer, row):
        diverged["now"] = True

    monkeypatch.setattr(DMD, "loss", loss_that_diverges)
    config = ONE_EPOCH.replace(max_epochs=3)
    with pytest.raises(NonFiniteError, match=r"not finite \(NaN or inf\) in epoch 2, optimizer step 1 \(batches 1-1\)"):
        train(tiny_dataset, tiny_config, config, tmp_path, callbacks=[after_epoch])
    assert ckpt.read(tmp_path / runs.LAST)["epoch"] == 1 and not (tmp_path / runs.METRICS).exists()
    monkeypatch.setattr(DMD, "loss", loss)
    run = train(tiny_dataset, tiny_config, config, tmp_path, resume=True)
    assert run.metrics["epochs"] == 3 and np.isfinite(run.history["train/loss/total"]).all()


# --------------------------------------------------------------------------- checkpoints


def test_tampered_checkpoints_are_one_line_naming_the_file(finished_run, tmp_path):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((finished_run / runs.BEST).read_bytes()[:5000])

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    malicious = tmp_path / "malicious.pt"
    torch.save({"format": ckpt.CHECKPOINT_FORMAT, "x": Payload()}, malicious)
    for path in (truncated, malicious):
        with pytest.raises(ckpt.CheckpointError) as info:
            ckpt.load_checkpoint(path)
        message = str(info.value)
        assert message.startswith(f"{path}: not a readable checkpoint") and "\n" not in message
        assert "weights_only" not in message
    assert not (tmp_path / "pwned").exists()


def test_checkpoint_configs_are_bounded_before_a_model_is_built(finished_run, tmp_path):
    payload = ckpt.read(finished_run / runs.BEST)
    for d, fragment in ((20000, "arch.d = 20000 is above the bound 8192"),
                        (64, r"the weights do not match the model its configs describe")):
        payload["model_config"]["arch"]["d"] = d
        ckpt.save(tmp_path / "crafted.pt", payload)
        with pytest.raises(ckpt.CheckpointError, match=fragment):
            ckpt.load_checkpoint(tmp_path / "crafted.pt")


def test_evaluate_on_data_of_other_lengths_is_one_clear_line(finished_run, tiny_unaligned_dataset_path, capsys):
    line = _one_line_error(capsys, ["evaluate", "--checkpoint", finished_run, "--data", tiny_unaligned_dataset_path])
    assert "expected audio_len=12 (the given spec), found 18" in line, line


# --------------------------------------------------------------------------- other user-facing failures


def test_synth_out_that_is_a_directory_is_one_clear_line(tmp_path, capsys):
    line = _one_line_error(capsys, ["data", "synth", "--out", tmp_path])
    assert f"{tmp_path}: is a directory" in line


def test_ragged_label_csv_row_is_one_line(tmp_path):
    from dmdlab.data import DatasetError
    from dmdlab.data.text import load_label_csv

    path = tmp_path / "label.csv"
    path.write_text("id,text,label,mode\nv1_1,hello,1.0,train\nv1_2,hi,0.5,train,extra\n")
    with pytest.raises(DatasetError, match=r"label\.csv: not a readable csv table .*line 3, saw 5") as info:
        load_label_csv(path)
    assert "\n" not in str(info.value)


def test_huge_transcript_is_cut_before_tokenizing():
    from dmdlab.data.text import tokenize_text

    seen = []

    def tokenizer(texts, max_length, **_):
        seen.extend(len(text) for text in texts)
        ids = np.zeros((len(texts), max_length), dtype=np.int64)
        return {"input_ids": ids, "attention_mask": ids + 1, "token_type_ids": ids}

    bert = tokenize_text(["word " * (2 << 20), "short"], tokenizer, max_len=50)   # a 10 MiB cell
    assert bert.shape == (2, 3, 50) and seen == [10_000, 5]
