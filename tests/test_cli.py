"""``python -m dmdlab train | evaluate | reproduce | bench | demo`` at tiny sizes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dmdlab import runs
from dmdlab.cli import build_parser, main

COMMANDS = ("train", "evaluate", "reproduce", "bench", "demo")
FAST = ["--batch-size", "8", "--grad-accumulation", "2", "--threads", "1", "--no-progress"]
ROOT = Path(__file__).resolve().parents[1]


def _subparser(name: str):
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices[name]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_explains_every_option(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: python -m dmdlab {command}")
    for action in _subparser(command)._actions:
        assert action.help, f"{command}: option {action.option_strings or action.dest} has no help"
        for option in action.option_strings:
            assert option in text


def test_train_then_evaluate_end_to_end(tiny_dataset_path, tmp_path, capsys, tiny_cli):
    out = tmp_path / "run"
    code = main(["train", "--data", str(tiny_dataset_path), "--out", str(out), "--epochs", "1", *tiny_cli, *FAST])
    assert code == 0
    printed = capsys.readouterr().out
    assert "Non0_acc_2" in printed and str(out) in printed
    run = runs.load(out)
    assert run.finished and run.config["model"]["arch"]["d"] == 8 and run.config["train"]["batch_size"] == 8

    assert main(["evaluate", "--checkpoint", str(out), "--json", "--out", str(tmp_path / "pred.csv")]) == 0
    result = json.loads(capsys.readouterr().out.strip())
    assert result["metrics"]["test"] == pytest.approx(run.test_metrics, nan_ok=True)
    assert (tmp_path / "pred.csv").is_file()


def test_resume_after_sigkill_matches_an_uninterrupted_run(tiny_dataset_path, tmp_path, tiny_cli):
    """A training process is killed (SIGKILL, no clean-up) after epoch 1 of 2, then resumed with --resume."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    common = ["--data", str(tiny_dataset_path), "--epochs", "2", *tiny_cli, *FAST]
    killed = tmp_path / "killed"
    script = textwrap.dedent("""
        import os, signal, sys
        from dmdlab.training import trainer
        real = trainer.Trainer.__init__
        def init(self, *args, **kwargs):
            real(self, *args, **kwargs)
            self.callbacks.append(lambda t, row: row["epoch"] == 1 and os.kill(os.getpid(), signal.SIGKILL))
        trainer.Trainer.__init__ = init
        from dmdlab.cli import main
        main(sys.argv[1:])
    """)
    process = subprocess.run([sys.executable, "-c", script, "train", "--out", str(killed), *common], env=env,
                             capture_output=True, text=True)
    assert process.returncode == -9, process.stderr
    assert not (killed / runs.METRICS).exists() and len(runs.load(killed).history) == 1
    assert main(["train", "--resume", "--out", str(killed), "--no-progress"]) == 0
    straight = tmp_path / "straight"
    assert main(["train", "--out", str(straight), *common]) == 0
    assert runs.load(killed).test_metrics == runs.load(straight).test_metrics
    assert runs.load(killed).history["valid/MAE"].tolist() == runs.load(straight).history["valid/MAE"].tolist()


def test_bench_prints_one_json_line(tiny_dataset_path, capsys, tiny_cli):
    code = main(["bench", "--data", str(tiny_dataset_path), *tiny_cli, "--threads", "1", "--warmup-batches", "1"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["train_samples"] == 192 and record["train_samples_per_s"] > 0 and record["eval_samples_per_s"] > 0
    assert 50 < record["train_peak_rss_mb"] < 4000 and record["isolated"] is True
    # a training step is a forward plus a backward of about twice its products
    assert record["train_mflop_per_sample"] > 2 * record["eval_mflop_per_sample"] > 0
    assert record["matmul_peak_gflops"] > 0 and record["train_gflops"] > 0
    # which attention way ran: short sequences train the explicit way, inference the fused one
    assert record["attention"] in ("auto", "kernel", "torch")
    assert record["train_attention_calls"].get("explicit", 0) + record["train_attention_calls"].get("kernel", 0) > 0
    assert record["eval_attention_calls"]["fused"] > 0


def test_bench_puts_unaligned_beside_aligned(tiny_unaligned_dataset_path, tiny_dataset_path, capsys, tiny_cli):
    """--aligned-data measures both files in one run; --train-batches times part of an epoch and
    extrapolates the epoch time; --no-eval skips inference."""
    code = main(["bench", "--data", str(tiny_unaligned_dataset_path), "--aligned-data", str(tiny_dataset_path), *tiny_cli,
                 "--threads", "1", "--warmup-batches", "1", "--train-batches", "3", "--batch-size", "16", "--no-eval"])
    assert code == 0
    record = json.loads(capsys.readouterr().out.strip())
    assert record["train_samples"] == 48 and record["aligned_train_samples"] == 48
    assert record["train_epoch_extrapolated"] is True and "eval_samples_per_s" not in record
    assert record["train_s_per_epoch"] > record["train_samples"] / record["train_samples_per_s"]   # 192 of 48 clips
    ratio = record["train_samples_per_s"] / record["aligned_train_samples_per_s"]
    assert record["train_over_aligned"] == pytest.approx(ratio, abs=2e-3)   # from the unrounded throughputs
    assert record["aligned_data"] == str(tiny_dataset_path) and record["aligned_train_peak_rss_mb"] > 50
    assert main(["bench", "--data", str(tiny_unaligned_dataset_path), "--aligned-data", "missing.pkl"]) == 2


def test_inference_bound_script_bounds_the_real_forward(tiny_dataset_path):
    """scripts/inference_bound.py: the products alone allow more than the whole forward does."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "inference_bound.py"), "--data",
                           str(tiny_dataset_path), "--threads", "1", "--batch-size", "16"],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip().splitlines()[-1]
    bound = float(line.split("at most ")[1].split(" samples/s")[0])
    whole = float(line.split(" ms = ")[1].split(" samples/s")[0])
    assert "linear/conv products" in line and bound > whole > 0


def test_profile_script_times_steps_and_lists_operators(tiny_unaligned_dataset_path):
    """scripts/profile_step.py (docs/unaligned.md): seconds per step, peak memory, operator tables."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "profile_step.py"), str(tiny_unaligned_dataset_path),
                           "--steps", "1", "--rows", "3"],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert " s per step at batch 16 (1 thread); peak RSS " in first and float(first.split(" s per")[0]) > 0
    assert done.stdout.count("Self CPU Mem") == 2 and "aten::" in done.stdout


def test_official_speed_script_skips_without_the_official_code(tmp_path, tiny_dataset_path):
    """scripts/official_speed.py (docs/performance.md) needs a checkout of github.com/mdswyz/DMD,
    which users need not have: without one it says so in one line and measures nothing."""
    script = str(ROOT / "scripts" / "official_speed.py")
    done = subprocess.run([sys.executable, script, "--official", str(tmp_path), "--data", str(tiny_dataset_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "", done.stderr
    assert done.stderr.strip().splitlines() == [
        f"skipped: no official DMD checkout at {tmp_path} (no trains/singleTask/DMD.py there); "
        f"git clone https://github.com/mdswyz/DMD {tmp_path}"]
    helped = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "--unpatched" in helped.stdout and "leak" in helped.stdout


@pytest.mark.parametrize("argv, message", [
    (["train", "--data", "missing.pkl"], "no dataset file at missing.pkl"),
    (["train", "--data", "{data}", "--set", "arch.nope=1"], "ArchConfig has no field 'nope'"),
    (["train", "--data", "{data}", "--variant", "nope"], "nope"),
    (["evaluate", "--checkpoint", "nowhere.pt"], "no checkpoint at nowhere.pt"),
    (["train", "--resume"], "--resume needs --out"),
])
def test_errors_are_one_clear_line(argv, message, tiny_dataset_path, capsys):
    argv = [arg.replace("{data}", str(tiny_dataset_path)) for arg in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_demo_never_generates_into_a_named_data_file(tmp_path, monkeypatch, capsys):
    # a mistyped --data must be an error, not a synthetic dataset written at that path
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--data", "data/MOSI/aligned_50.pkl", "--out", "runs"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0] == "error: data/MOSI/aligned_50.pkl: no such dataset file", err
    assert not (tmp_path / "data").exists() and not (tmp_path / "runs").exists()
