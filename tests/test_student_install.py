"""A student's path: install course_utils from the repository's git URL, then run a completed lab."""

import os
import subprocess
import sys
import tempfile

import nbformat
import pytest
from nbclient import NotebookClient

from grader.labs import REPO, find_lab


@pytest.mark.slow
def test_completed_lab_runs_with_course_utils_installed_from_git(tmp_path, monkeypatch):
    if subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True).returncode:
        pytest.skip("needs a git checkout")
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), f"course-utils @ git+file://{REPO}"], check=True)
    assert (target / "course_utils" / "checks" / "lab1.py").is_file()
    assert not (target / "grader").exists() and not (target / "solutions").exists()
    lab = find_lab("lab1")
    notebook = nbformat.read(REPO / "grader" / "examples" / lab.name / "alice" / lab.notebook_name, as_version=4)
    notebook.cells.insert(2, nbformat.v4.new_code_cell(
        "import course_utils, os\nassert course_utils.__file__.startswith(os.environ['STUDENT_SITE'])"))
    monkeypatch.setenv("COURSE_MODE", "smoke")
    monkeypatch.setenv("STUDENT_SITE", str(target))
    monkeypatch.setenv("PYTHONPATH", f"{target}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    with tempfile.TemporaryDirectory() as work:
        NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": work}}).execute()
    printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert printed.count("PASSED") == 9 and "FAILED" not in printed
