"""Where grading tasks run: Dask distributed, on this machine or on a cluster.

By default :class:`Engine` starts a ``LocalCluster`` of worker processes (one thread, so one sandbox,
each) for the length of one command; with a scheduler address it grades on an existing cluster
(``dask scheduler`` and ``dask worker`` started by hand, by Slurm through dask-jobqueue, or on
Kubernetes; see ``deploy/``). Workers only run sandboxed notebooks and hidden checks and return
result dicts; the client that submitted them alone writes the gradebook, results and reports.

Every worker must run the same grader: :meth:`Engine.check_workers` compares each worker's
fingerprint of the lab (release, hidden checks, grader code) with the client's and refuses a
mismatch. Workers that declare a GPU (``dask worker --resources GPU=1``) take the notebooks of
labs that ask for one (:func:`wants_gpu`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from grader import sandbox
from grader.fingerprint import worker_fingerprint, worker_lab
from grader.labs import REPO, Lab


def wants_gpu(lab: Lab) -> bool:
    """A lab asks for a GPU with Colab's own notebook metadata, ``"accelerator": "GPU"``, in its release."""
    return json.loads(lab.release.read_text()).get("metadata", {}).get("accelerator", "").upper() == "GPU"


def worker_facts(lab: Lab) -> dict:
    """What a worker reports about itself (runs on the worker): host, isolation and grader fingerprint."""
    level, why = sandbox.isolation()
    mine = worker_lab(lab)
    return {"host": socket.gethostname(), "isolation": level, "why": why, "cores": _usable_cores(),
            "fingerprint": worker_fingerprint(mine.name, str(mine.root))}


def _usable_cores() -> int:
    """The cores this process may run on (its affinity, as a Slurm job or a container sets it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# Imported by each worker of a LocalCluster (and of :func:`spawn`) as it starts, not in its first task.
WORKER_PRELOAD = "grader.pipeline"


class Engine:
    """A Dask client and, without ``scheduler``, the ``LocalCluster`` of ``workers`` processes it owns.

    With ``background``, entering returns at once and the cluster starts (or the client connects) in a
    thread, so that the caller prepares the course meanwhile; the first use of :attr:`client` waits for it
    and raises what the start raised.
    """

    def __init__(self, workers: int, scheduler: str | None = None, background: bool = False):
        self.workers, self.scheduler, self.background = workers, scheduler, background
        self._client = None
        self._cluster = None
        self._starting: threading.Thread | None = None
        self._start_error: BaseException | None = None

    def __enter__(self) -> Engine:
        if self.background:
            self._starting = threading.Thread(target=self._start_recording_error, name="engine-start", daemon=True)
            self._starting.start()
        else:
            self._start()
        return self

    def _start_recording_error(self) -> None:
        try:
            self._start()
        except BaseException as error:  # noqa: BLE001 - a SystemExit too: raised again where the client is used
            self._start_error = error

    def _start(self) -> None:
        from distributed import Client, LocalCluster

        if self.scheduler:
            try:
                client = Client(self.scheduler, timeout=30)
            except (OSError, ValueError) as error:
                raise SystemExit(f"cannot reach the Dask scheduler at {self.scheduler}: {error}") from None
            try:
                client.wait_for_workers(1, timeout=120)
            except TimeoutError:
                client.close()
                raise SystemExit(f"no Dask worker joined the scheduler at {self.scheduler} within 120 s") from None
            self._client = client
        else:
            self._cluster = LocalCluster(  # no dashboard; the scheduler's health page on any free local port
                n_workers=self.workers, threads_per_worker=1, processes=True, host="127.0.0.1", memory_limit=0,
                dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                silence_logs=logging.ERROR, preload=[WORKER_PRELOAD])
            self._client = Client(self._cluster)

    def _join_start(self) -> None:
        if self._starting is not None:
            self._starting.join()
            self._starting = None

    @property
    def client(self):
        """The Dask client, once the start has finished."""
        self._join_start()
        if self._start_error is not None:
            raise self._start_error
        return self._client

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the client and the LocalCluster (after a start in the background has finished); idempotent."""
        self._join_start()
        client, cluster, self._client, self._cluster = self._client, self._cluster, None, None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    def check_workers(self, lab: Lab, stamp: str, strict: bool) -> dict[str, dict]:
        """Refuse workers with another grader version; warn loudly about weak isolation (refuse if ``strict``).

        Returns each worker's :func:`worker_facts` by address. Workers that join later are checked by the
        task itself (:func:`grader.pipeline.run_job`).
        """
        client = self.client  # a start that failed raises here, as what it is
        try:
            facts = client.run(worker_facts, lab)
        except Exception as error:  # a worker without the grader cannot even unpickle the function
            raise SystemExit(f"a Dask worker cannot run the grader ({type(error).__name__}: {error}); install the "
                             "grader at the same version on every worker host") from error
        wrong = {address: f for address, f in facts.items() if f["fingerprint"] != stamp}
        if wrong:
            listed = "\n".join(f"  {address} on {f['host']}: {f['fingerprint']}" for address, f in wrong.items())
            raise SystemExit(f"these workers run another version of the grader or of {lab.name} (this client: "
                             f"{stamp}):\n{listed}\nInstall the grader from the same commit on every worker host "
                             "and restart the workers.")
        weak: dict[tuple[str, str], set[str]] = {}
        for f in facts.values():
            if f["isolation"] != "full":
                weak.setdefault((f["isolation"], f["why"]), set()).add(f["host"])
        for (level, why), hosts in weak.items():
            print("\n" + "!" * 78 + f"\n{sandbox.ISOLATION_WARNING[level]}\nWhy: {why}.\n"
                  f"Workers on: {', '.join(sorted(hosts))}\n" + "!" * 78 + "\n", file=sys.stderr)
        if strict and any(f["isolation"] != "full" for f in facts.values()):
            raise SystemExit("--strict: refusing to grade without full isolation on every worker")
        return facts

    def gpu_workers(self) -> list[str]:
        """Addresses of the workers that declare a ``GPU`` resource."""
        workers = self.client.scheduler_info()["workers"]
        return [address for address, info in workers.items() if info.get("resources", {}).get("GPU", 0) >= 1]

    def submit(self, function, *args, gpu: bool = False):
        """Run ``function(*args)`` once on some worker (on one declaring a GPU when ``gpu``); a future."""
        return self.client.submit(function, *args, pure=False, resources={"GPU": 1} if gpu else None)

    def as_completed(self, futures: Iterable):
        from distributed import as_completed

        return as_completed(futures)

    def cancel(self, futures: Iterable) -> None:
        self.client.cancel(list(futures))


@dataclass
class ProcessCluster:
    """A scheduler and workers started as separate ``dask`` processes on this machine (see :func:`spawn`)."""

    address: str
    scheduler: subprocess.Popen
    root: Path  # the checkout the workers import the grader from
    workers: list[subprocess.Popen] = field(default_factory=list)


@contextlib.contextmanager
def spawn(workers: int, gpu_workers: int = 0, root: Path = REPO, timeout: float = 120.0) -> Iterator[ProcessCluster]:
    """Start ``dask scheduler`` and ``workers`` x ``dask worker`` on localhost (free ports, one thread each),
    the first ``gpu_workers`` of them declaring ``--resources GPU=1``; stop them all on exit.

    This is how a cluster is run by hand; the workers import the grader from the checkout at ``root``.
    """
    dask = [sys.executable, "-m", "dask"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory(prefix="dask-") as folder:
        address_file = Path(folder) / "scheduler.json"
        scheduler = subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                      "--dashboard-address", "127.0.0.1:0",
                                      "--scheduler-file", str(address_file)], cwd=root, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cluster = ProcessCluster("", scheduler, root)
        try:
            deadline = time.monotonic() + timeout
            while not address_file.exists() or not address_file.read_text().strip():
                if time.monotonic() > deadline or scheduler.poll() is not None:
                    raise RuntimeError("dask scheduler did not start")
                time.sleep(0.2)
            time.sleep(0.2)  # the file is written in one go, but give it a moment
            cluster.address = json.loads(address_file.read_text())["address"]
            for number in range(workers):
                gpu = ["--resources", "GPU=1"] if number < gpu_workers else []
                cluster.workers.append(subprocess.Popen(
                    [*dask, "worker", cluster.address, "--nthreads", "1", "--memory-limit", "0", "--no-dashboard",
                     "--dashboard-address", "127.0.0.1:0", "--preload", WORKER_PRELOAD,
                     "--name", f"worker-{number}", *gpu], cwd=root, env=env,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            from distributed import Client

            with Client(cluster.address, timeout=timeout) as client:
                client.wait_for_workers(workers, timeout=timeout)
            yield cluster
        finally:
            for process in [*cluster.workers, scheduler]:
                process.terminate()
            for process in [*cluster.workers, scheduler]:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
