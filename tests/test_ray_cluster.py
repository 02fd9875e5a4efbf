"""reproduce, tune and a killed worker on a real Ray cluster: a head and a worker node on the loopback.

The cluster is started once for this module (``ray start --block``, one CPU per node, no
dashboard, token authentication as Ray 2.60 needs for a second node) and stopped by the
process ids that started it: never ``ray stop``, which would end every Ray process on the
machine. The nodes use 127.0.0.2: Ray 2.60 replaces 127.0.0.1 (and ``localhost``) by the
machine's network address, while any other loopback address is kept. The drivers are
``python -m dmdlab`` processes, as a user runs them. Tiny data and model: seconds per run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from processes import stop

psutil = pytest.importorskip("psutil")
pytest.importorskip("ray")

from dmdlab import runs  # noqa: E402
from dmdlab.model import DMDConfig  # noqa: E402
from dmdlab.training.config import TrainConfig  # noqa: E402
from dmdlab.training.trainer import train  # noqa: E402

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

HOST = "127.0.0.2"
TINY = ["--set", "arch.d=8", "--set", "arch.heads=2", "--set", "arch.nlevels=1", "--batch-size", "32",
        "--grad-accumulation", "1", "--no-progress"]
ENV = {"RAY_AUTH_MODE": "token",   # every node and driver (a second node is refused without it)
       "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
RAY = str(Path(sys.executable).with_name("ray"))


@dataclass
class RayCluster:
    address: str                      # HOST:PORT of the head
    nodes: list[subprocess.Popen]     # the `ray start --block` processes (head first)
    env: dict                         # the environment of the nodes and drivers

    def processes(self) -> list:
        """Every process the nodes started (raylets, workers, ...)."""
        found = []
        for node in self.nodes:
            try:
                found += psutil.Process(node.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        return found

    def dmdlab(self, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """``python -m dmdlab ARGV --address HOST:PORT`` as a driver process."""
        return subprocess.run([sys.executable, "-m", "dmdlab", *argv, "--address", self.address], env=self.env,
                              capture_output=True, text=True, timeout=timeout)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster():
    """A running two-node cluster (1 CPU each) on the loopback."""
    port = _free_port()
    env = {name: value for name, value in os.environ.items() if name != "RAY_ADDRESS"} | ENV
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")   # short: Ray's socket paths must fit in 107 bytes
    common = ["--block", f"--node-ip-address={HOST}", "--num-cpus=1", "--num-gpus=0"]
    address = f"{HOST}:{port}"
    cluster = RayCluster(address, [], env)
    try:
        cluster.nodes.append(subprocess.Popen([RAY, "start", "--head", f"--port={port}", "--include-dashboard=false",
                                               f"--temp-dir={temp}", *common], env=env, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.PIPE))
        _wait_for_cpus(cluster, 1)
        cluster.nodes.append(subprocess.Popen([RAY, "start", f"--address={address}", *common], env=env,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        _wait_for_cpus(cluster, 2)
        yield cluster
    finally:
        for process in reversed(cluster.nodes):
            stop(process, timeout=30)  # a `ray start --block`: SIGTERM drains and shuts its node down
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_cpus(cluster: RayCluster, cpus: int, timeout: float = 120.0) -> None:
    probe = (f"import ray; ray.init(address={cluster.address!r}, logging_level='error', log_to_driver=False); "
             "print(ray.cluster_resources().get('CPU', 0))")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for node in cluster.nodes:
            if node.poll() is not None:
                raise RuntimeError(f"ray start exited ({node.returncode}): {node.stderr.read().decode()[-2000:]}")
        done = subprocess.run([sys.executable, "-c", probe], env=cluster.env, capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode == 0 and float(done.stdout.split()[-1]) >= cpus:
            return
        time.sleep(1.0)
    raise RuntimeError(f"the Ray cluster at {cluster.address} did not reach {cpus} CPUs in {timeout:.0f} s")


def _same_run_here(run: runs.Run, data_path) -> runs.Run:
    """The run's configs trained again in this process, without Ray."""
    return train(data_path, DMDConfig.from_dict(run.config["model"]), TrainConfig.from_dict(run.config["train"]))


def test_reproduce_runs_on_the_cluster(ray_cluster, tiny_dataset_path, tmp_path):
    out = tmp_path / "main"
    done = ray_cluster.dmdlab("reproduce", "main", "--data", str(tiny_dataset_path), "--seeds", "2", "--epochs", "2",
                              "--out", str(out), *TINY)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "MulT" in done.stdout and "difference from DMD paired by seed" in done.stdout
    finished = sorted(p.parent.relative_to(out).as_posix() for p in out.glob("*/seed*/" + runs.METRICS))
    assert finished == ["dmd/seed1111", "dmd/seed1112", "mult/seed1111", "mult/seed1112"]
    there = runs.read_run(out / "mult" / "seed1112")
    here = _same_run_here(there, tiny_dataset_path)
    assert there.metrics["test"] == pytest.approx(here.metrics["test"], rel=1e-5, abs=1e-7)


def test_tune_runs_its_trials_on_the_cluster(ray_cluster, tiny_dataset_path, tmp_path):
    import optuna

    out = tmp_path / "tune"
    done = ray_cluster.dmdlab("tune", "--data", str(tiny_dataset_path), "--trials", "3", "--epochs", "2", "--out",
                              str(out), "--sampler-seed", "0", *TINY)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "study 'dmd': 3 trials (3 complete)" in done.stdout
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(out / "study.journal")))
    study = optuna.load_study(study_name="dmd", storage=storage)
    assert [t.number for t in study.trials] == [0, 1, 2]
    for trial in study.trials:   # the value is the run's best validation MAE, as its history says
        history = runs.read_run(trial.user_attrs["run"]).history
        assert trial.value == pytest.approx(history["valid/MAE"].min(), rel=1e-6)
        assert len(trial.intermediate_values) == 2   # one report per epoch (what the pruner reads)


def _kill_when_checkpointed(cluster: RayCluster, run_dir: Path, record: dict) -> None:
    """Wait for the run's first epoch checkpoint, then SIGKILL the cluster's worker process training it."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and "killed" not in record:
        if (run_dir / runs.LAST).is_file():
            for process in cluster.processes():
                try:
                    if "ray::_run_one" in " ".join(process.cmdline()):
                        record["finished_before"] = (run_dir / runs.METRICS).is_file()
                        process.send_signal(signal.SIGKILL)
                        record["killed"] = process.pid
                except psutil.NoSuchProcess:
                    pass
        time.sleep(0.02)


def test_a_killed_worker_is_retried_and_its_run_ends_as_an_uninterrupted_one(ray_cluster, tiny_dataset_path,
                                                                             tmp_path):
    out = tmp_path / "text"
    record: dict = {}
    killer = threading.Thread(target=_kill_when_checkpointed, args=(ray_cluster, out / "unimodal_l" / "seed1111", record))
    killer.start()
    done = ray_cluster.dmdlab("reproduce", "text", "--data", str(tiny_dataset_path), "--seeds", "1", "--epochs", "8",
                              "--early-stop", "0", "--out", str(out), *TINY)
    record.setdefault("killed", None)   # stops the killer if it never saw the worker
    killer.join()
    assert done.returncode == 0, done.stderr[-3000:]
    assert record["killed"], "the worker was never seen training"
    assert record["finished_before"] is False
    run = runs.read_run(out / "unimodal_l" / "seed1111")
    assert list(run.history["epoch"]) == list(range(1, 9))
    reference = _same_run_here(run, tiny_dataset_path)
    for split in ("valid", "test"):
        assert run.metrics[split] == pytest.approx(reference.metrics[split], rel=1e-5, abs=1e-7), split


def test_reproduce_by_default_starts_a_ray_of_its_own_and_leaves_nothing_behind(tiny_dataset_path, tmp_path):
    """The default path (no --jobs 1, no --address): a local Ray started for this command. A cluster another
    command left named in Ray's address file (here a dead one) must not be joined (c291336); when the command
    ends, no process of its Ray is left."""
    temp = Path(tempfile.mkdtemp(prefix="rl-", dir="/tmp"))   # short: Ray's socket paths must fit in 107 bytes
    try:
        (temp / "ray").mkdir()
        (temp / "ray" / "ray_current_cluster").write_text(f"{HOST}:{_free_port()}")   # nobody listens there
        env = {name: value for name, value in os.environ.items() if name != "RAY_ADDRESS"} | ENV | {
            "RAY_TMPDIR": str(temp)}
        env.pop("RAY_AUTH_MODE")   # a local Ray brings its own token
        out = tmp_path / "local"
        done = subprocess.run([sys.executable, "-m", "dmdlab", "reproduce", "main", "--data", str(tiny_dataset_path),
                               "--seeds", "2", "--epochs", "2", "--out", str(out), *TINY], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "difference from DMD paired by seed" in done.stdout
        finished = sorted(p.parent.relative_to(out).as_posix() for p in out.glob("*/seed*/" + runs.METRICS))
        assert finished == ["dmd/seed1111", "dmd/seed1112", "mult/seed1111", "mult/seed1112"]
        sessions = list((temp / "ray").glob("session_2*"))
        assert sessions, f"no Ray session under {temp}: the runs did not go through a local Ray"
        left = []
        for process in psutil.process_iter(["pid", "cmdline"]):
            try:
                if any(str(temp) in part for part in process.info["cmdline"] or ()):
                    left.append(process)
            except psutil.NoSuchProcess:
                pass
        assert not left, f"processes of the command's Ray still running: {[p.info['cmdline'][:2] for p in left]}"
    finally:
        shutil.rmtree(temp, ignore_errors=True)
