"""Ctrl-C during `python -m grader autograde`: a real SIGINT to the command's process group, as a terminal sends
it. The run stops promptly, leaves no student kernel behind, keeps every finished result, and the rerun grades
only the rest."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from grader.labs import REPO, find_lab

LAB = find_lab("lab1")


def _autograde(course, tmp) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.Popen([sys.executable, "-m", "grader", "autograde", "lab1",
                             str(REPO / "grader" / "examples" / LAB.name), "--course-dir", str(course),
                             "--workers", "2", "--no-progress"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _ours(tmp) -> list[psutil.Process]:
    """Processes whose command line names this test's temporary folder (sandboxes and kernels)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any(str(tmp) in part for part in process.info["cmdline"] or []):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.mark.slow
def test_ctrl_c_stops_promptly_keeps_finished_results_and_the_rerun_resumes(tmp_path):
    course, tmp = tmp_path / "course", tmp_path / "tmp"
    tmp.mkdir()
    results = course / "results" / LAB.name
    run = _autograde(course, tmp)
    deadline = time.monotonic() + 900
    while not (results.is_dir() and any(results.glob("*.json")) and _ours(tmp)):
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()[0][-3000:]
        time.sleep(0.5)
    os.killpg(run.pid, signal.SIGINT)
    interrupted = time.monotonic()
    output = run.communicate(timeout=120)[0]
    stopped_in = time.monotonic() - interrupted
    assert run.returncode == 130 and "Interrupted" in output, output[-3000:]
    assert stopped_in < 60, f"took {stopped_in:.0f} s to stop"
    time.sleep(2)
    assert not _ours(tmp), [p.info["cmdline"][:3] for p in _ours(tmp)]
    kept = {p.stem: p.stat().st_mtime_ns for p in results.glob("*.json")}
    assert kept and len(kept) < 4
    rerun = _autograde(course, tmp)
    output = rerun.communicate(timeout=900)[0]
    assert rerun.returncode == 0, output[-3000:]
    final = {p.stem: json.loads(p.read_text()) for p in results.glob("*.json")}
    assert set(final) == {"alice", "bob", "carol", "dave"}
    assert all((results / f"{student}.json").stat().st_mtime_ns == stamp for student, stamp in kept.items())
