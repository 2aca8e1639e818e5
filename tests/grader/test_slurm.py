"""The Slurm recipes on a real single-node Slurm (see tests/grader/slurm_cluster.py), Dask on 127.0.0.1 only:
``grade.sbatch`` (one allocation) and ``jobqueue.py`` (dask-jobqueue's worker jobs) grade through Slurm."""

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from grader.labs import REPO
from tests.grader.hostile_corpus import EXAMPLE_GRADES as EXPECTED
from tests.grader.slurm_cluster import job_state, jobs, running_slurm, wait_until
from tests.grader.test_grading import EXAMPLES, LAB

pytestmark = pytest.mark.slow
SBATCH = REPO / "deploy" / "slurm" / "grade.sbatch"
JOBQUEUE = REPO / "deploy" / "slurm" / "jobqueue.py"


@pytest.fixture(scope="module")
def slurm():
    """The environment (``SLURM_CONF``) of a running single-node Slurm."""
    with running_slurm() as env:
        yield env


def _submissions(folder: Path, students=tuple(EXPECTED)) -> dict[str, tuple[str, float]]:
    """The example ``students`` under ``folder``; the grades they must get (as in the local run's test)."""
    for student in students:
        shutil.copytree(EXAMPLES / student, folder / student)
    return {student: EXPECTED[student] for student in students}


def _saved(course: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (course / "results" / LAB.name).glob("*.json")}


def _grades(course: Path) -> dict[str, tuple[str, float]]:
    return {student: (r["status"], r["score"]) for student, r in _saved(course).items()}


def _recorded_once(course: Path, expected: dict[str, tuple[str, float]]) -> None:
    """The gradebook holds one submission for each gradable student, none for the invalid notebooks."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        recorded = Counter(s.student_id for s in gradebook.find_assignment(LAB.name).submissions)
    assert recorded == Counter(s for s, (status, _) in expected.items() if status != "invalid notebook")


def _sbatch(env: dict[str, str], tmp_path: Path, folder: Path, course: Path) -> str:
    """Submit ``grade.sbatch`` for two tasks, Dask on 127.0.0.1; its job id."""
    run = subprocess.run(["sbatch", "--parsable", "--ntasks=2", "--cpus-per-task=1", "--mem-per-cpu=0",
                          f"--chdir={REPO}", f"--output={tmp_path}/slurm-%j.out", str(SBATCH),
                          "--host", "127.0.0.1", LAB.short, str(folder), str(course)],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout.split(";")[0].strip()


def _ended(env: dict[str, str], job: str, timeout: float) -> str:
    """Wait for ``job`` to end; its final state."""
    return wait_until(lambda: (state := job_state(env, job)) not in ("PENDING", "RUNNING", "COMPLETING") and state,
                      timeout, f"the end of job {job}", every=2)


def _log(tmp_path: Path, job: str) -> str:
    return (tmp_path / f"slurm-{job}.out").read_text()[-3000:]


def test_the_node_offers_the_cpus_of_this_machine(slurm):
    """Whatever the test process's environment (Dask sets OMP_NUM_THREADS=1, which plain nproc obeys)."""
    cpus = subprocess.run(["sinfo", "-h", "-o", "%c"], env=slurm, capture_output=True, text=True, check=True,
                          timeout=60).stdout.split()
    assert cpus == [str(len(os.sched_getaffinity(0)))]


def test_sbatch_grades_on_loopback_with_the_same_grader(slurm, tmp_path):
    """One allocation: scheduler, client and both workers on 127.0.0.1; the workers pass the version check."""
    folder, course = tmp_path / "submissions", tmp_path / "course"
    expected = _submissions(folder, ["dave"])
    job = _sbatch(slurm, tmp_path, folder, course)
    assert _ended(slurm, job, 900) == "COMPLETED", _log(tmp_path, job)
    assert _grades(course) == expected, _log(tmp_path, job)
    log = _log(tmp_path, job)
    assert "tcp://127.0.0.1:" in log and "another version" not in log
    _recorded_once(course, expected)


def test_jobqueue_grades_with_slurm_worker_jobs_on_loopback(slurm, tmp_path):
    folder, course = tmp_path / "submissions", tmp_path / "course"
    expected = _submissions(folder, ["dave"])
    run = subprocess.run([sys.executable, str(JOBQUEUE), LAB.short, str(folder), str(course), "--jobs", "2",
                          "--memory", "1GB", "--host", "127.0.0.1"], cwd=tmp_path, env=slurm, capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert _grades(course) == expected, run.stderr[-3000:]
    _recorded_once(course, expected)
    wait_until(lambda: not jobs(slurm), 120, "the worker jobs ending after the client closed its cluster")


def _class(folder: Path, copies: int) -> dict[str, tuple[str, float]]:
    """``copies`` of each gradable example (alice, bob, carol) under new names, and dave: a batch long enough
    to be interrupted; the grades they must get."""
    expected = _submissions(folder, ["dave"])
    for k in range(copies):
        for student in ("alice", "bob", "carol"):
            shutil.copytree(EXAMPLES / student, folder / f"{student}{k}")
            expected[f"{student}{k}"] = EXPECTED[student]
    return expected


def _stamps(course: Path) -> dict[str, int]:
    return {p.stem: p.stat().st_mtime_ns for p in (course / "results" / LAB.name).glob("*.json")}


def test_a_job_past_its_time_limit_keeps_its_results_and_the_rerun_resumes(slurm, tmp_path):
    """Slurm ends the job at its time limit mid-batch (the limit cut to one minute once a result is saved);
    what was graded stays saved, and the same sbatch again grades only the rest."""
    folder, course = tmp_path / "submissions", tmp_path / "course"
    expected = _class(folder, 3)
    job = _sbatch(slurm, tmp_path, folder, course)
    wait_until(lambda: len(_stamps(course)) >= 2, 900, "two saved results")
    subprocess.run(["scontrol", "update", f"JobId={job}", "TimeLimit=1"], env=slurm, check=True, timeout=60)
    assert _ended(slurm, job, 300) == "TIMEOUT", _log(tmp_path, job)
    before = _stamps(course)
    assert 2 <= len(before) < len(expected), "the time limit did not interrupt the batch"
    assert all(_grades(course)[s] == expected[s] for s in before)

    rerun = _sbatch(slurm, tmp_path, folder, course)
    assert _ended(slurm, rerun, 1200) == "COMPLETED", _log(tmp_path, rerun)
    assert _grades(course) == expected, _log(tmp_path, rerun)
    assert {s: t for s, t in _stamps(course).items() if s in before} == before, "the rerun graded a result again"
    _recorded_once(course, expected)


def test_cancelling_a_worker_job_mid_batch_loses_nothing(slurm, tmp_path):
    """jobqueue.py with two worker jobs; ``scancel`` of one once grading has begun: the other worker grades the
    rest, every submission once."""
    folder, course = tmp_path / "submissions", tmp_path / "course"
    expected = _class(folder, 2)
    client = subprocess.Popen([sys.executable, str(JOBQUEUE), LAB.short, str(folder), str(course), "--jobs", "2",
                               "--memory", "1GB", "--host", "127.0.0.1"], cwd=tmp_path, env=slurm,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: len(jobs(slurm, "RUNNING")) == 2 and _stamps(course), 900, "a result from two workers")
        cancelled = sorted(jobs(slurm, "RUNNING"))[0]
        subprocess.run(["scancel", cancelled], env=slurm, check=True, timeout=60)
        graded_before = len(_stamps(course))
        output, _ = client.communicate(timeout=1500)
    finally:
        client.kill()
    assert client.returncode == 0, output[-3000:]
    assert graded_before < len(expected), "the batch was over before the cancel"
    assert job_state(slurm, cancelled) == "CANCELLED"
    assert _grades(course) == expected, output[-3000:]
    _recorded_once(course, expected)
    wait_until(lambda: not jobs(slurm), 120, "the worker jobs ending after the client closed its cluster")
