"""Generate the student notebooks in ``labs/`` from ``solutions/`` with nbgrader."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from grader.course import generate_assignment
from grader.labs import Lab

NBGRADER_SECRETS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def student_notebook(lab: Lab) -> nbformat.NotebookNode:
    """The student version of ``lab`` as nbgrader generates it, cleaned for committing."""
    with tempfile.TemporaryDirectory() as scratch:
        generated = generate_assignment(lab, Path(scratch))
        notebook = nbformat.read(generated, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    text = nbformat.writes(notebook)
    leaked = [marker for marker in NBGRADER_SECRETS if marker in text]
    if leaked:
        raise RuntimeError(f"{lab.name}: solution markers {leaked} survived generate_assignment")
    return notebook


def release(lab: Lab) -> Path:
    """Write ``labs/<lab>/<lab>.ipynb``; return its path."""
    notebook = student_notebook(lab)
    lab.release.parent.mkdir(parents=True, exist_ok=True)
    with open(lab.release, "w") as handle:
        nbformat.write(notebook, handle)
    return lab.release


def release_all(labs: list[Lab]) -> list[Path]:
    """Regenerate every lab's student notebook; remove released labs whose solution is gone."""
    paths = [release(lab) for lab in labs]
    if labs:
        for folder in (labs[0].root / "labs").glob("lab*_*"):
            if folder.is_dir() and folder.name not in {lab.name for lab in labs}:
                shutil.rmtree(folder)
    return paths


def run_solution(lab: Lab, timeout: float = 600) -> float:
    """Execute ``lab``'s solution notebook top to bottom in smoke mode; return seconds taken."""
    from nbclient import NotebookClient

    notebook = nbformat.read(lab.solution, as_version=4)
    os.environ["COURSE_MODE"] = "smoke"
    with tempfile.TemporaryDirectory() as work:
        started = time.monotonic()
        NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": work}}).execute()
    return time.monotonic() - started
