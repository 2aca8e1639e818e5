"""A real single-node Slurm (slurmctld, slurmd, munge on 127.0.0.1) for the recipes' tests.

``deploy/slurm/local/cluster.sh`` installs (as root, with apt) and starts it; the fixture skips with the
script's reason where that cannot work, and stops every job and daemon it started afterwards.
"""

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.labs import REPO

SCRIPT = REPO / "deploy" / "slurm" / "local" / "cluster.sh"
RUN_DIR = Path(os.environ.get("SLURM_RUN_DIR", "/run/course-slurm"))


def _running() -> bool:
    pid_file = RUN_DIR / "slurmctld.pid"
    try:
        os.kill(int(pid_file.read_text()), 0)
    except (OSError, ValueError):
        return False
    return True


@contextlib.contextmanager
def running_slurm() -> Iterator[dict[str, str]]:
    """Start the cluster (unless ``make slurm-up`` already did); yields the environment its commands need.

    Skips the test where it cannot start; stops it (every job, then the daemons) at the end if it started it.
    """
    if os.geteuid() != 0:
        pytest.skip("a local Slurm needs root (to install slurm and munge and to run slurmd)")
    ours = not _running()
    env = {**os.environ, "SLURM_RUN_DIR": str(RUN_DIR)}
    try:
        up = subprocess.run([str(SCRIPT), "up"], env=env, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        up = subprocess.CompletedProcess([], 1, "", "cluster.sh up took over 600 s")
    if up.returncode != 0:
        if ours:
            subprocess.run([str(SCRIPT), "down"], env=env, capture_output=True, timeout=300)
        pytest.skip(f"no local Slurm: {up.stderr.strip()[-500:]}")
    env["SLURM_CONF"] = str(RUN_DIR / "slurm.conf")
    try:
        yield env
    finally:
        if ours:
            subprocess.run([str(SCRIPT), "down"], env=env, capture_output=True, timeout=300)


def jobs(env: dict[str, str], *states: str) -> dict[str, str]:
    """The cluster's jobs in ``states`` (all when none): job id -> job name."""
    command = ["squeue", "-h", "-o", "%i %j", *(["-t", ",".join(states)] if states else [])]
    lines = subprocess.run(command, env=env, capture_output=True, text=True, check=True, timeout=60).stdout
    return dict(line.split(" ", 1) for line in lines.splitlines())


def job_state(env: dict[str, str], job: str) -> str:
    """A job's state as Slurm's controller keeps it (RUNNING, COMPLETED, TIMEOUT, CANCELLED, ...)."""
    out = subprocess.run(["scontrol", "show", "job", job], env=env, capture_output=True, text=True, timeout=60)
    return next((w.split("=", 1)[1] for w in out.stdout.split() if w.startswith("JobState=")), "UNKNOWN")


def wait_until(predicate, timeout: float, what: str, every: float = 0.5):
    """Poll ``predicate()`` until it returns something true (returned) or ``timeout`` seconds pass (fails)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"{what} did not happen within {timeout:g} s")
