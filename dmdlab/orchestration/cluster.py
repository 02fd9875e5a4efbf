"""Where runs are trained: one after another in this process, or as Ray tasks.

A :class:`Cluster` says where: ``Cluster()`` starts Ray on this machine for the command
(nothing to set up), ``Cluster(address="HOST:PORT")`` (or ``RAY_ADDRESS``) joins a cluster
started with ``ray start --head`` / ``ray start --address``. Each run is one task asking for
``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs (a fraction lets several small runs share
one GPU). A task whose worker dies is retried (``max_retries``); the run it trains resumes
from its run folder's last epoch checkpoint, so run folders must be on a filesystem every
node sees.

:class:`Engine` is what ``run_experiment`` and ``tune`` drive: ``submit`` a job, then take
the finished ones from ``next_done`` in the order they finish. The in-process engine
(``engine(None)``) runs each job inside ``next_done``, so both paths call the same functions.
A job reports progress (a run's finished epochs) through ``channel(on_report)``: it calls
``put(item)`` on what that returns, and ``on_report(item)`` sees each item in this process —
at once in-process, through a Ray queue (polled about once a second) on Ray.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass


RAY_TOKEN_LOGGER = "ray._private.authentication.authentication_token_setup"
"""The logger of Ray's 'Token authentication is enabled for this Ray cluster' warning."""


@dataclass(frozen=True)
class Cluster:
    """Ray settings of a command: where its tasks run and what each one asks for."""

    address: str | None = None      # "HOST:PORT" of a running cluster; None: RAY_ADDRESS, else a local Ray for this command
    cpus_per_run: float = 1.0       # CPUs a run reserves (its torch threads: this, rounded down, at least 1)
    gpus_per_run: float = 0.0       # GPUs a run reserves; 0.25 puts four runs on one GPU
    num_cpus: int | None = None     # a local Ray's CPU count (default: all of this machine's); ignored with an address
    max_retries: int = 3            # times a run is restarted after its worker dies (it resumes from last.pt)

    def __post_init__(self) -> None:
        def fail(field: str, constraint: str) -> None:
            raise ValueError(f"The {field!r} parameter of Cluster must {constraint}. Got {getattr(self, field)!r}.")

        if not (isinstance(self.cpus_per_run, (int, float)) and 0 < self.cpus_per_run < math.inf):
            fail("cpus_per_run", "be a number > 0")
        if not (isinstance(self.gpus_per_run, (int, float)) and 0 <= self.gpus_per_run < math.inf):
            fail("gpus_per_run", "be a number >= 0")
        if self.gpus_per_run > 1 and self.gpus_per_run != int(self.gpus_per_run):
            fail("gpus_per_run", "be a fraction of one GPU or a whole number of GPUs")
        if self.num_cpus is not None and (not isinstance(self.num_cpus, int) or self.num_cpus < 1):
            fail("num_cpus", "be a positive int or None")
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            fail("max_retries", "be an int >= 0")

    @property
    def threads(self) -> int:
        """Torch CPU threads of a run: its CPUs, rounded down, at least 1."""
        return max(1, int(self.cpus_per_run))


class Engine:
    """Runs jobs one after another in this process (``engine(None)``); :class:`RayEngine` fans them out."""

    def __init__(self) -> None:
        self.waiting: list[tuple[object, Callable, tuple]] = []
        self.on_report: Callable | None = None

    def channel(self, on_report: Callable) -> "Reporter":
        """What a job reports through (pass it as an argument): ``on_report(item)`` is called in
        this process for each ``put(item)``, and with None about once a second while a Ray engine waits."""
        self.on_report = on_report
        return Reporter(on_report)

    @property
    def slots(self) -> int:
        """How many jobs run at once."""
        return 1

    def submit(self, key, function: Callable, *args) -> None:
        self.waiting.append((key, function, args))

    def __len__(self) -> int:
        return len(self.waiting)

    def next_done(self):
        """``(key, result)`` of the next job to finish (here: the oldest, run now)."""
        key, function, args = self.waiting.pop(0)
        return key, function(*args)

    def close(self) -> None:
        self.waiting.clear()
        self.on_report = None

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


CONNECT_SECONDS = 5.0
"""How long ``--address`` may take to answer before the command stops (a closed port or a server that is not
Ray fails within this, not after Ray's own retries of many minutes)."""
MAX_LOCAL_CPUS_PER_CORE = 4
"""A local Ray may announce at most this many CPUs per core of the machine (``--jobs`` × ``--cpus-per-run``)."""


def check_ray_address(address: str, timeout: float = CONNECT_SECONDS) -> None:
    """A one-line ValueError unless something at ``address`` answers as a gRPC (HTTP/2) server, as Ray's
    GCS and Ray Client do, within ``timeout`` seconds: a client preface and an empty SETTINGS frame are
    sent, and the server's first frame must be SETTINGS. Skipped for TLS (``RAY_USE_TLS``)."""
    import socket

    if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true") or address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--address {address}: expected HOST:PORT of a Ray head (ray start --head prints it)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as connection:
            connection.settimeout(timeout)
            connection.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
            header = b""
            while len(header) < 9:
                chunk = connection.recv(9 - len(header))
                if not chunk:
                    break
                header += chunk
    except socket.timeout:
        raise ValueError(f"--address {address}: no answer within {timeout:g} s; expected a Ray head there "
                         "(ray start --head)") from None
    except OSError as error:
        raise ValueError(f"--address {address}: cannot connect ({error.strerror or error}); expected a Ray head "
                         "there (ray start --head)") from None
    if len(header) < 9 or header[3] != 4:
        raise ValueError(f"--address {address}: the server there does not speak Ray's protocol (gRPC); expected "
                         "the address of a Ray head (ray start --head)")


_TOKEN: dict[str, str] = {}
"""This process's token for the local Rays it starts."""


class RayEngine(Engine):
    """Jobs as Ray tasks on a local Ray or a cluster (see :class:`Cluster`).

    A local Ray gets a fresh token of its own in this process's environment (``RAY_AUTH_TOKEN``, seen by
    the processes Ray starts, readable by this user only), never one from a file another user may read.
    Every failure to start or join Ray is one ValueError line."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__()
        self.refs: dict = {}
        self.queue = None
        self.on_report: Callable | None = None
        self.cluster = cluster
        self.started = False
        self._saved_env: dict[str, str | None] = {}
        address = cluster.address or os.environ.get("RAY_ADDRESS") or None
        import ray

        if not ray.is_initialized():
            if address:
                check_ray_address(address)
            else:
                self._check_local(cluster)
                self._private_token()
            started = time.perf_counter()
            self.started = True   # close() shuts down whatever part of Ray came up
            try:
                if address:
                    ray.init(address=address, logging_level="warning", log_to_driver=False)
                else:
                    # "local": a Ray of its own, never a cluster someone else left running on this machine
                    # (a bare ray.init() joins the one named in /tmp/ray/ray_current_cluster, even a dead one)
                    logging.getLogger(RAY_TOKEN_LOGGER).setLevel(logging.ERROR)   # Ray's 'token auth is on' line
                    ray.init(address="local", num_cpus=cluster.num_cpus, include_dashboard=False,
                             logging_level="warning", log_to_driver=False)
            except Exception as error:  # noqa: BLE001 -- Ray's failures (many kinds) are one clear line
                self.close()
                text = " ".join(str(error).split())[:300]
                raise ValueError(f"Ray could not be {'joined at ' + address if address else 'started'} "
                                 f"({type(error).__name__}: {text})") from None
            self.start_seconds = time.perf_counter() - started
        resources = ray.cluster_resources()
        cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
        if cluster.cpus_per_run > cpus or cluster.gpus_per_run > gpus:
            self.close()
            raise ValueError(f"a run asks for {cluster.cpus_per_run:g} CPU and {cluster.gpus_per_run:g} GPU, but the Ray "
                             f"cluster{' at ' + address if address else ''} has {cpus:g} CPU and {gpus:g} GPU: no run "
                             "could ever start (lower --cpus-per-run / --gpus-per-run, or add nodes).")
        per_cpu = int(cpus // cluster.cpus_per_run)
        self._slots = min(per_cpu, int(gpus // cluster.gpus_per_run)) if cluster.gpus_per_run else per_cpu

    @staticmethod
    def _check_local(cluster: Cluster) -> None:
        """What a local Ray can never give, refused before it starts (seconds saved, no Ray traceback)."""
        cores = os.cpu_count() or 1
        cpus = cluster.num_cpus or cores
        if cpus > MAX_LOCAL_CPUS_PER_CORE * cores:
            raise ValueError(f"a local Ray of {cpus} CPUs on a machine of {cores} cores: at most "
                             f"{MAX_LOCAL_CPUS_PER_CORE * cores} (lower --jobs or --cpus-per-run)")
        if cluster.cpus_per_run > cpus:
            raise ValueError(f"a run asks for {cluster.cpus_per_run:g} CPUs, but the local Ray has {cpus}: no run "
                             "could ever start (lower --cpus-per-run)")
        if cluster.gpus_per_run:
            import torch

            gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if cluster.gpus_per_run > gpus:
                raise ValueError(f"a run asks for {cluster.gpus_per_run:g} GPU, but this machine has {gpus}: no run "
                                 "could ever start (lower --gpus-per-run)")

    def _private_token(self) -> None:
        """A fresh token for the local Ray, in the environment only (unless the user chose one)."""
        import secrets

        if any(os.environ.get(name) for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")):
            return
        try:
            from ray._raylet import Config   # Ray >= 2.5x: token authentication
        except ImportError:
            return

        _TOKEN.setdefault("token", secrets.token_hex(32))   # one per process: Ray caches the first it reads
        for name, value in (("RAY_AUTH_MODE", "token"), ("RAY_AUTH_TOKEN", _TOKEN["token"])):
            self._saved_env[name] = os.environ.get(name)
            os.environ[name] = value
        Config.initialize("")   # Ray reads its settings once; as its own token setup does, read them again

    def channel(self, on_report: Callable):
        """A Ray queue (an actor that reserves no CPU) the tasks put into; drained while waiting."""
        from ray.util.queue import Queue

        self.on_report = on_report
        self.queue = Queue(actor_options={"num_cpus": 0})
        return self.queue

    def _drain(self) -> None:
        if self.queue is None or self.on_report is None:
            return
        waiting = self.queue.qsize()
        for item in self.queue.get_nowait_batch(waiting) if waiting else ():
            self.on_report(item)
        self.on_report(None)

    @property
    def slots(self) -> int:
        return max(1, self._slots)

    def submit(self, key, function: Callable, *args) -> None:
        import ray

        task = ray.remote(function).options(num_cpus=self.cluster.cpus_per_run, num_gpus=self.cluster.gpus_per_run,
                                            max_retries=self.cluster.max_retries, retry_exceptions=False)
        self.refs[task.remote(*args)] = key

    def __len__(self) -> int:
        return len(self.refs)

    def next_done(self):
        import ray
        from ray.exceptions import RayTaskError

        done = []
        while not done:
            done, _ = ray.wait(list(self.refs), num_returns=1, timeout=1.0 if self.queue is not None else None)
            self._drain()
        key = self.refs.pop(done[0])
        try:
            return key, ray.get(done[0])
        except RayTaskError as error:   # the task's own exception (e.g. a clear ValueError), not Ray's wrapper
            cause = getattr(error, "cause", None)
            raise (cause if isinstance(cause, Exception) else error) from None

    def close(self) -> None:
        import ray

        for ref in self.refs:
            ray.cancel(ref, force=True)
        self.refs.clear()
        if self.queue is not None:
            self.queue.shutdown(force=True)
            self.queue = None
        self.on_report = None
        if self.started and ray.is_initialized():
            ray.shutdown()
        self.started = False
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()


class Reporter:
    """The in-process channel: ``put(item)`` calls ``on_report(item)`` at once."""

    def __init__(self, on_report: Callable) -> None:
        self.on_report = on_report

    def put(self, item) -> None:
        self.on_report(item)


def engine(cluster: Cluster | None) -> Engine:
    """The in-process engine for ``None``, else Ray as ``cluster`` says."""
    return Engine() if cluster is None else RayEngine(cluster)
