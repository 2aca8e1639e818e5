"""A one-exercise lab built in a temporary folder, for tests of the grader's own failure paths.

Its answer is ``double(x)``; its public check cell prints PASSED or FAILED; its hidden checks file is
``HIDDEN`` unless a test plants another. Released with the real nbgrader, graded by the real pipeline.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from grader.labs import REPO, Lab
from grader.release import release

ANSWER = ("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
          "    raise NotImplementedError\n")
PUBLIC = 'print("PASSED double" if double(3) == 6 else "FAILED double: 3 should give 6")'
HIDDEN = '''from grader.harness import expect, points


@points(1, question="double_check")
def test_double(student):
    expect(student.call("double", 4) == 8, "double(x) is not twice x")
'''


def make_tiny_lab(root: Path, *, public: str = PUBLIC, hidden: str = HIDDEN) -> Lab:
    """Write, release and return the lab ``lab99_tiny`` under ``root`` (a checkout of its own)."""
    lab = Lab("lab99_tiny", root)
    answer = {"solution": True, "grade": False, "locked": False, "grade_id": "double_impl", "schema_version": 3}
    check = {"solution": False, "grade": True, "locked": True, "points": 1, "grade_id": "double_check",
             "schema_version": 3}
    cells = [nbformat.v4.new_code_cell(ANSWER, metadata={"nbgrader": answer}),
             nbformat.v4.new_code_cell(public, metadata={"nbgrader": check})]
    lab.solution.parent.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}), lab.solution)
    lab.checks.parent.mkdir(parents=True)
    lab.checks.write_text(hidden)
    shutil.copy(REPO / "course.toml", root / "course.toml")
    release(lab)
    return lab


def submission(lab: Lab, folder: Path, student: str, *extra_cells: str) -> Path:
    """Hand in the solution as ``student`` under ``folder``, with ``extra_cells`` added at the end."""
    notebook = nbformat.read(lab.solution, as_version=4)
    notebook.cells += [nbformat.v4.new_code_cell(code) for code in extra_cells]
    path = folder / student / lab.notebook_name
    path.parent.mkdir(parents=True)
    nbformat.write(notebook, path)
    return path
