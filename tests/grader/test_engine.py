"""The Dask engine: sandbox uids never shared, GPU workers, and a real cluster that loses a worker mid-batch."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import psutil
import pytest

from grader import engine, sandbox
from grader.labs import REPO, Lab, find_lab
from tests.grader.hostile_corpus import EXAMPLE_GRADES as EXPECTED
from tests.grader.test_grading import EXAMPLES

LAB = find_lab("lab1")
HOLDER = ("import sys\nfrom pathlib import Path\nfrom grader import sandbox\n"
          "with sandbox.sandbox_uid(Path(sys.argv[1]), first=70000, count=4) as uid:\n"
          "    print(uid, flush=True)\n    sys.stdin.read()\n")


def test_concurrent_grader_runs_never_share_a_sandbox_uid(tmp_path):
    """Another process (another grader run, another worker) holds a uid: this one gets the next, until it exits."""
    other = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], cwd=REPO, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        held = int(other.stdout.readline())
        with sandbox.sandbox_uid(tmp_path, first=70000, count=4) as mine, \
                sandbox.sandbox_uid(tmp_path, first=70000, count=4) as third:
            assert held == 70000 and mine == 70001 and third == 70002
        other.kill()  # killed, not closed cleanly: the operating system drops its lock
        other.wait()
        with sandbox.sandbox_uid(tmp_path, first=70000, count=4) as again:
            assert again == 70000
    finally:
        other.kill()
        other.wait()
    with sandbox.sandbox_uid(tmp_path, first=70000, count=1), pytest.raises(RuntimeError, match="in use"):
        with sandbox.sandbox_uid(tmp_path, first=70000, count=1):
            pass


@pytest.mark.skipif(os.geteuid() != 0, reason="starting processes as another uid needs root")
def test_a_lease_ends_only_when_no_process_of_its_uid_is_left(tmp_path):
    """Orphans of a killed kernel (a fork bomb's children) must not eat the next kernel's process limit."""
    with sandbox.sandbox_uid(tmp_path, first=70010, count=1) as uid:
        subprocess.run(["sh", "-c", "for i in 1 2 3; do sleep 300 & done"], user=uid, group=uid, check=True)
        assert len(sandbox._processes_of(uid)) == 3
    assert sandbox._processes_of(uid) == []


def test_failed_bubblewrap_is_explained_by_the_apparmor_switch(tmp_path, monkeypatch):
    switch = tmp_path / "apparmor_restrict_unprivileged_userns"
    switch.write_text("1\n")
    monkeypatch.setattr(sandbox, "_USERNS_SWITCHES", ((str(switch), "1", "AppArmor restricts them"),))
    why = sandbox._why_no_namespaces("bwrap: setting up uid map: Permission denied")
    assert "cannot create namespaces (bwrap: setting up uid map: Permission denied)" in why
    assert "AppArmor restricts them" in why
    switch.write_text("0\n")
    assert "AppArmor" not in sandbox._why_no_namespaces("denied")


def test_a_lab_asks_for_a_gpu_in_its_release_metadata(tmp_path):
    lab = Lab("lab9_big", tmp_path)
    lab.release.parent.mkdir(parents=True)
    lab.release.write_text(json.dumps({"cells": [], "metadata": {"accelerator": "GPU"}}))
    assert engine.wants_gpu(lab) and not engine.wants_gpu(LAB)


def test_a_local_cluster_starts_in_the_background_with_the_grader_already_imported():
    with engine.Engine(1, background=True) as grid:  # returns before the worker is up
        imported = grid.client.run(lambda: "grader.judge" in sys.modules)  # waits for it
    assert list(imported.values()) == [True]


def test_a_start_in_the_background_that_fails_is_raised_where_the_client_is_used():
    with engine.Engine(0, "nonsense://127.0.0.1:1", background=True) as grid:
        with pytest.raises(SystemExit, match="cannot reach the Dask scheduler at nonsense://127.0.0.1:1: unknown"):
            grid.check_workers(LAB, "0123456789abcdef", strict=False)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """``dask scheduler`` and two ``dask worker`` processes on localhost; the first declares a GPU.

    The workers import the grader from their own copy of the checkout, as on another host.
    """
    checkout = tmp_path_factory.mktemp("worker_host")
    for part in ("grader", "labs", "solutions"):
        shutil.copytree(REPO / part, checkout / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("course.toml", "pyproject.toml"):
        if (REPO / part).exists():
            shutil.copy(REPO / part, checkout / part)
    with engine.spawn(2, gpu_workers=1, root=checkout) as running:
        yield running


def _kill_a_worker_mid_notebook(pids: list[int], killed: list[int]) -> None:
    """SIGKILL the first worker seen running a sandboxed kernel (a child process)."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        for pid in pids:
            try:
                busy = any("ipykernel" in " ".join(child.cmdline()) for child in
                           psutil.Process(pid).children(recursive=True))
            except psutil.Error:
                continue
            if busy:
                time.sleep(5)  # well inside the notebook
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.5)


@pytest.mark.slow
def test_cluster_grades_like_the_local_run_and_a_lost_worker_costs_one_regrade(cluster, tmp_path):
    """``python -m grader autograde --scheduler`` from the workers' checkout; one worker is killed mid-notebook."""
    from distributed import Client
    from nbgrader.api import Gradebook

    folder, course = tmp_path / "submissions", tmp_path / "course"
    for student in EXPECTED:
        shutil.copytree(EXAMPLES / student, folder / student)
    with Client(cluster.address) as client:
        pids = list(client.run(os.getpid).values())
    killed: list[int] = []
    killer = threading.Thread(target=_kill_a_worker_mid_notebook, args=(pids, killed), daemon=True)
    killer.start()
    command = [sys.executable, "-m", "grader", "autograde", LAB.short, str(folder), "--course-dir", str(course),
               "--scheduler", cluster.address, "--no-progress"]
    run = subprocess.run(command, cwd=cluster.root, env={**os.environ, "PYTHONPATH": str(cluster.root)},
                         capture_output=True, text=True, timeout=3000)
    assert run.returncode == 0, run.stderr[-3000:]
    killer.join(timeout=1)
    assert len(killed) == 1, "no worker was seen running a notebook"
    results = {p.stem: json.loads(p.read_text()) for p in (course / "results" / LAB.name).glob("*.json")}
    assert {s: (r["status"], r["score"]) for s, r in results.items()} == EXPECTED, \
        {s: r["reasons"] for s, r in results.items()}
    assert {r["isolation"] for r in results.values()} == {sandbox.detect_isolation()}
    graded = {s for s, (status, _) in EXPECTED.items() if status != "invalid notebook"}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:  # each result recorded exactly once
        submissions = Counter(s.student_id for s in gradebook.find_assignment(LAB.name).submissions)
    assert submissions == Counter(graded)


@pytest.mark.slow
def test_gpu_notebooks_go_to_workers_that_declare_a_gpu(cluster):
    with engine.Engine(0, cluster.address) as grid:
        pids = grid.client.run(os.getpid)
        gpu = grid.gpu_workers()
        assert len(pids) == 2 and len(gpu) == 1
        ran_on = {future.result() for future in [grid.submit(os.getpid, gpu=True) for _ in range(6)]}
        assert ran_on == {pids[gpu[0]]}
        stamps = {f["fingerprint"] for f in grid.client.run(engine.worker_facts, LAB).values()}
        assert len(stamps) == 1
        facts = grid.check_workers(LAB, stamps.pop(), strict=False)
        assert {f["isolation"] for f in facts.values()} == {sandbox.detect_isolation()}
        with pytest.raises(SystemExit, match="another version"):
            grid.check_workers(LAB, "0123456789abcdef", strict=False)
