"""`selftest` and `smoke` fail, with the exit code and a message naming the cell or the check, when a
solution's public check prints FAILED or a hidden check rejects the solution (a one-exercise lab, real
pipeline and real kernels)."""

import shutil

import nbformat
import pytest

from grader import sandbox
from grader.grading import selftest
from grader.labs import REPO, Lab
from grader.release import PublicCheckFailed, release, run_solution

ANSWER = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n    raise NotImplementedError\n"
PUBLIC = 'print("PASSED double" if double(3) == 6 else "FAILED double: 3 should give 6")'
HIDDEN = '''from grader.harness import expect, points


@points(1, question="double_check")
def test_double(student):
    expect(student.call("double", 4) == EXPECTED, "double(x) is not twice x")
'''


def _tiny_lab(root, *, public=PUBLIC, expected="8") -> Lab:
    lab = Lab("lab99_tiny", root)
    cells = [nbformat.v4.new_code_cell(ANSWER, metadata={"nbgrader": {
                 "solution": True, "grade": False, "locked": False, "grade_id": "double_impl", "schema_version": 3}}),
             nbformat.v4.new_code_cell(public, metadata={"nbgrader": {
                 "solution": False, "grade": True, "locked": True, "points": 1, "grade_id": "double_check",
                 "schema_version": 3}})]
    lab.solution.parent.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}), lab.solution)
    lab.checks.parent.mkdir(parents=True)
    lab.checks.write_text(HIDDEN.replace("EXPECTED", expected))
    shutil.copy(REPO / "course.toml", root / "course.toml")
    release(lab)
    return lab


@pytest.mark.slow
def test_selftest_passes_a_sound_lab_and_names_what_rejects_a_solution(tmp_path):
    sound = selftest(_tiny_lab(tmp_path / "sound"), tmp_path / "work1", limits=sandbox.Limits())
    assert sound.ok, sound.problems
    planted = selftest(_tiny_lab(tmp_path / "planted", public=PUBLIC.replace("== 6", "== 7"), expected="9"),
                       tmp_path / "work2", limits=sandbox.Limits())
    assert not planted.ok
    text = "\n".join(planted.problems)
    assert "hidden check double_check/double rejects the solution: double(x) is not twice x" in text
    assert "public check cell double_check of the solution printed: FAILED double: 3 should give 6" in text


def test_smoke_run_fails_on_a_check_cell_that_prints_failed(tmp_path):
    assert run_solution(_tiny_lab(tmp_path / "sound"), timeout=60) > 0
    with pytest.raises(PublicCheckFailed, match="check cell double_check printed: FAILED double"):
        run_solution(_tiny_lab(tmp_path / "planted", public=PUBLIC.replace("== 6", "== 7")), timeout=60)
