"""A crash costs only what it breaks: real notebooks whose kernel dies after correct work."""

import re

import nbformat
import pytest

from grader import sandbox
from grader.grading import grade_lab
from grader.integrity import grade_id
from grader.labs import find_lab
from grader.pipeline import warn_if_versioned
from tests.grader.hostile_corpus import ALICE, CRASH_LIMITS, CRASHES

LAB = find_lab("lab1")
EXAMPLES = LAB.root / "grader" / "examples" / LAB.name


def _with_crash(case) -> str:
    notebook = nbformat.read(EXAMPLES / case.base / LAB.notebook_name, as_version=4)
    ids = [grade_id(cell) for cell in notebook.cells]
    where = len(notebook.cells) if case.after == "end" else ids.index(case.after) + 1 if case.after else 3
    notebook.cells.insert(where, nbformat.v4.new_code_cell(case.code))
    return nbformat.writes(notebook)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    for case in CRASHES:
        (folder / case.student).mkdir()
        (folder / case.student / LAB.notebook_name).write_text(_with_crash(case))
    limits = sandbox.Limits(**CRASH_LIMITS, notebook_seconds=600)
    results = grade_lab(LAB, folder, tmp_path_factory.mktemp("course"), workers=2, limits=limits, progress=False)
    return {r["student"]: r for r in results}


@pytest.mark.slow
@pytest.mark.parametrize("case", CRASHES, ids=lambda c: c.student)
def test_a_crash_costs_only_the_cells_it_stopped(graded, case):
    result = graded[case.student]
    assert (result["status"], result["score"]) == (case.status, case.score), result["reasons"]
    assert result["max_score"] == ALICE
    crash = [reason for reason in result["reasons"] if "in a fresh kernel" in reason]
    assert len(crash) == 1, result["reasons"]
    cell = int(re.search(r"in code cell (\d+)", crash[0]).group(1))
    assert f"cells 1-{cell - 1} were rerun in a fresh kernel and graded" in crash[0]
    assert case.status in crash[0] or case.status == "kernel died"
    if case.after == "end":  # the student's own last cell: every exercise stands
        assert all(check["passed"] for check in result["checks"])
    else:  # what came after the crash is lost, what came before is kept
        kept = {c["question"] for c in result["checks"] if c["passed"]}
        assert kept == {"tape_gradient", "activations", "perceptron"}


def test_course_directory_inside_a_git_work_tree_is_warned_about_unless_git_ignores_it(tmp_path, capsys):
    import subprocess

    assert not warn_if_versioned(tmp_path / "grading")
    assert capsys.readouterr().err == ""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert warn_if_versioned(tmp_path / "grading" / "lab1")
    assert "inside the git work tree" in capsys.readouterr().err
    (tmp_path / ".gitignore").write_text("grading/\n")
    assert not warn_if_versioned(tmp_path / "grading" / "lab1")
    assert capsys.readouterr().err == ""
    assert not warn_if_versioned(LAB.root / "build" / "demo")  # this checkout ignores build/
