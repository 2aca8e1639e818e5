"""`python -m grader` as a TA runs it: real processes in a checkout of their own (the grader's code and the
one-exercise lab of tiny_lab), judged by exit code and output. A command that fails must say so in its exit
code, so that scripts and CI stop."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.labs import REPO
from tests.grader.test_selftest import FAILING_PUBLIC, REJECTING_HIDDEN
from tests.grader.tiny_lab import make_tiny_lab

CATALOGUE = '''from grader.mutants import wrong

MUTANTS = [wrong("double_impl", "triples instead of doubling", edits=[("2 * x", "3 * x")], says="twice")]
'''


def checkout(root: Path, **planted: str) -> Path:
    """A checkout at ``root``: the grader's code (without the labs' hidden checks, kept releases and examples),
    the tiny lab (with ``planted`` public or hidden checks) and its mutation catalogue."""
    shutil.copytree(REPO / "grader", root / "grader", ignore=shutil.ignore_patterns("releases", "examples", "checks",
                                                                                      "__pycache__"))
    make_tiny_lab(root, **planted)
    (root / "grader" / "mutants" / "lab99.py").write_text(CATALOGUE)
    return root


def grader(root: Path, *args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m grader ARGS`` in ``root``, where ``grader`` is that checkout's copy."""
    environment = {**os.environ, "PYTHONPATH": str(root), "TQDM_DISABLE": "1", **(env or {})}
    run = subprocess.run([sys.executable, "-m", "grader", *args], cwd=root, env=environment, capture_output=True,
                         text=True, timeout=timeout)
    return run


def test_release_and_smoke_exit_codes(tmp_path):
    root = checkout(tmp_path / "sound")
    run = grader(root, "release", "lab99")
    assert run.returncode == 0 and "released labs/lab99_tiny/lab99_tiny.ipynb" in run.stdout, run.stderr
    run = grader(root, "release", "lab42")
    assert run.returncode == 1 and "unknown lab 'lab42'; known labs: lab99" in run.stderr
    run = grader(root, "smoke", "lab99")
    assert run.returncode == 0 and "lab99_tiny: ran in smoke mode" in run.stdout, run.stdout + run.stderr

    planted = checkout(tmp_path / "planted", public=FAILING_PUBLIC)
    run = grader(planted, "smoke", "lab99")
    assert run.returncode == 1, run.stdout
    assert "lab99_tiny: FAILED: PublicCheckFailed: check cell double_check printed: FAILED double" in run.stdout


@pytest.mark.slow
def test_selftest_and_mutants_exit_codes(tmp_path):
    root = checkout(tmp_path / "sound")
    run = grader(root, "mutants", "lab99", "--only", "no such mutant")
    assert run.returncode == 1 and "no mutant named ['no such mutant'] in grader/mutants/lab99.py" in run.stderr
    run = grader(root, "mutants", "lab99", "--workers", "1", "--out", str(tmp_path / "report"))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "triples instead of doubling" in (tmp_path / "report" / "lab99.txt").read_text()

    planted = checkout(tmp_path / "planted", hidden=REJECTING_HIDDEN)
    run = grader(planted, "selftest", "lab99", "--workers", "1")
    assert run.returncode == 1 and "selftest FAILED" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]
    assert "hidden check double_check/double rejects the solution" in run.stdout


@pytest.mark.slow
def test_strict_autograde_refuses_without_full_isolation(tmp_path):
    """Without bubblewrap on PATH the machine offers no sandbox: ``--strict`` refuses before grading anything."""
    root = checkout(tmp_path / "course")
    tools = tmp_path / "bin"  # every program on PATH but bwrap
    tools.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        for program in Path(folder).glob("*") if Path(folder).is_dir() else ():
            if program.name != "bwrap" and not (tools / program.name).exists():
                (tools / program.name).symlink_to(program)
    submissions = tmp_path / "submissions" / "alice"
    submissions.mkdir(parents=True)
    shutil.copy(root / "labs" / "lab99_tiny" / "lab99_tiny.ipynb", submissions)
    course = tmp_path / "graded"
    run = grader(root, "autograde", "lab99", str(submissions.parent), "--course-dir", str(course), "--strict",
                 "--workers", "1", "--no-progress", env={"PATH": str(tools)})
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    assert "--strict: refusing to grade without full isolation on every worker" in run.stderr
    assert "bubblewrap is not installed" in run.stdout + run.stderr
    assert not list(course.glob("results/*/*.json")), "a submission was graded"
