"""The Colab glue (grader/colab.py) and the instructor's grading notebook, run by a real kernel."""

import csv
import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader import colab
from grader.colab_runtime import write_stand_in
from grader.labs import REPO, find_lab
from tests.grader.hostile_corpus import EXAMPLE_GRADES

LAB = find_lab("lab1")
NOTEBOOK = REPO / "grader" / "grade_in_colab.ipynb"
EXAMPLES = REPO / "grader" / "examples" / LAB.name

@pytest.fixture
def fake_colab(tmp_path, monkeypatch):
    """google.colab importable in this process, with an upload of ``tmp_path/upload/<name>``."""
    monkeypatch.syspath_prepend(str(write_stand_in(tmp_path / "stand_in")))
    for name in [m for m in sys.modules if m.startswith("google.colab")]:
        monkeypatch.delitem(sys.modules, name)
    (tmp_path / "upload").mkdir()
    (tmp_path / "downloads").mkdir()
    monkeypatch.setenv("FAKE_COLAB_DOWNLOADS", str(tmp_path / "downloads"))
    return tmp_path


def _class_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for notebook in sorted(EXAMPLES.glob("*/*.ipynb")):
            archive.write(notebook, f"{notebook.parent.name}_{notebook.name}")
    return path


def test_isolation_report_names_the_level_and_warns_below_full():
    assert colab.isolation_report("full").startswith("Isolation: FULL")
    partial, none = colab.isolation_report("namespaces"), colab.isolation_report("none")
    assert "Isolation: PARTIAL" in partial and "process limit" in partial
    assert "Isolation: NONE" in none and "NO SANDBOX" in none and none.startswith("!" * 78)


def test_gpu_report_names_what_nvidia_smi_lists(tmp_path, monkeypatch):
    fake = tmp_path / "nvidia-smi"
    fake.write_text('#!/bin/sh\n[ "$1 $2" = "--query-gpu=name --format=csv,noheader" ] && echo "NVIDIA H200"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert colab.gpu_names() == ["NVIDIA H200"] and colab.gpu_report().startswith("GPU: NVIDIA H200. Passed")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert colab.gpu_names() == [] and colab.gpu_report().startswith("GPU: none")


def test_bubblewrap_is_only_installed_where_it_can_be(monkeypatch):
    if colab.shutil.which("bwrap"):
        assert colab.ensure_bubblewrap() == "bubblewrap: installed"
    monkeypatch.setattr(colab.shutil, "which", lambda name: None)
    assert "cannot be installed" in colab.ensure_bubblewrap()


def test_submissions_come_from_the_upload_widget_or_drive(fake_colab, monkeypatch):
    upload = _class_zip(fake_colab / "upload" / "class.zip")
    monkeypatch.setenv("FAKE_COLAB_UPLOAD", str(upload))
    received = colab.receive_submissions(fake_colab / "uploads")
    assert received == fake_colab / "uploads" / "class.zip" and received.read_bytes() == upload.read_bytes()
    assert colab.receive_submissions(fake_colab / "x", drive_path=str(upload), mount_point=str(fake_colab / "d")) \
        == upload and (fake_colab / "d").is_dir()
    with pytest.raises(FileNotFoundError):
        colab.receive_submissions(fake_colab / "x", drive_path=str(fake_colab / "missing.zip"),
                                  mount_point=str(fake_colab / "d"))
    monkeypatch.setenv("FAKE_COLAB_UPLOAD", str(EXAMPLES / "alice" / LAB.notebook_name))
    with pytest.raises(ValueError, match="upload one .zip"):
        colab.receive_submissions(fake_colab / "uploads")


def test_results_archive_holds_reports_and_exports_never_solutions_or_notebooks(tmp_path):
    course = tmp_path / "course"
    files = ["grades.csv", "checks.csv", "canvas_grades.csv", "exports/moodle/grades.csv", "exports/gradescope.json",
             f"feedback/alice/{LAB.name}/{LAB.name}.html", f"report/{LAB.name}/report.html",
             f"report/{LAB.name}/scores.png", f"source/{LAB.name}/{LAB.notebook_name}", "gradebook.db",
             f"submitted/alice/{LAB.name}/{LAB.notebook_name}", f"autograded/alice/{LAB.name}/{LAB.notebook_name}",
             f"results/{LAB.name}/alice.json", "nbgrader_config.py"]
    for name in files:
        (course / name).parent.mkdir(parents=True, exist_ok=True)
        (course / name).write_text(name)
    archive = colab.results_archive(course, LAB, tmp_path / "out")
    assert sorted(zipfile.ZipFile(archive).namelist()) == sorted(files[:8])


def _run(client, index: int) -> str:
    cell = client.nb.cells[index]
    client.execute_cell(cell, index)
    return "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in cell.outputs)


@pytest.mark.slow
def test_grading_notebook_runs_top_to_bottom_and_resumes(tmp_path):
    """Upload the example class as an LMS zip, grade it, download the archive; rerun the grading cell.

    The kernel imports the grader from a copy of the repository, as the notebook's install cell does in
    Colab, so edits made to this checkout while the test runs cannot change the grader's fingerprint."""
    from nbclient import NotebookClient

    work, downloads, checkout = tmp_path / "work", tmp_path / "downloads", tmp_path / "course"
    work.mkdir()
    downloads.mkdir()
    for part in ("grader", f"labs/{LAB.name}", f"solutions/{LAB.name}"):  # a checkout nobody edits meanwhile
        shutil.copytree(REPO / part, checkout / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "course.toml", checkout)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(write_stand_in(tmp_path / "stand_in")), str(checkout)]),
           "FAKE_COLAB_UPLOAD": str(_class_zip(tmp_path / "lab1_submissions.zip")),
           "FAKE_COLAB_DOWNLOADS": str(downloads)}
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    form = next(cell for cell in notebook.cells if 'LMS_FORMAT = ""' in cell.source)
    form.source = form.source.replace('LMS_FORMAT = ""', 'LMS_FORMAT = "canvas"')  # the instructor fills the form
    install = next(cell for cell in notebook.cells if "colab.install_grader(" in cell.source)
    install.source = install.source.replace('CHECKOUT = "/content/course"', f'CHECKOUT = "{checkout}"').replace(
        "colab.install_grader(Path(CHECKOUT), Path(GRADER_VENV))", "Path(sys.executable)")  # installed already
    client = NotebookClient(notebook, timeout=1500, kernel_name="python3", resources={"metadata": {"path": str(work)}})
    with client.setup_kernel(env=env, cwd=str(work)):
        outputs = [_run(client, index) for index in range(len(notebook.cells))
                   if notebook.cells[index].cell_type == "code"]
        grading = next(i for i, c in enumerate(notebook.cells) if "\"autograde\"" in c.source)
        results = sorted((work / "grading" / LAB.name / "results" / LAB.name).glob("*.json"))
        stamps = [p.stat().st_mtime_ns for p in results]
        rerun = _run(client, grading)
    text = "\n".join(outputs)
    assert f"grader from {checkout} running on {sys.executable}" in text and "Isolation: " in text and "GPU: " in text
    summary = next(o for o in notebook.cells[grading + 2].outputs if "text/html" in o.get("data", {}))
    assert "class summary" in summary["data"]["text/html"] and "data:image/png;base64," in summary["data"]["text/html"]
    assert len(results) == len(EXAMPLE_GRADES) and [p.stat().st_mtime_ns for p in results] == stamps, "rerun regraded"
    assert all(student in rerun for student in EXAMPLE_GRADES)
    archive = zipfile.ZipFile(downloads / f"{LAB.name}_results.zip")
    names = set(archive.namelist())
    assert {"grades.csv", "checks.csv", f"report/{LAB.name}/report.html", f"report/{LAB.name}/scores.png"} <= names
    assert {f"feedback/{s}/{LAB.name}/{LAB.name}.html" for s in EXAMPLE_GRADES} <= names
    assert {f"exports/{LAB.name}_canvas.csv", f"exports/{LAB.name}_canvas_review.csv"} <= names
    assert not [n for n in names if n.endswith(".ipynb") or n.startswith(("source/", "submitted/"))]
    grades = {row["student_id"]: (row["status"], float(row["score"]))
              for row in csv.DictReader(io.TextIOWrapper(archive.open("grades.csv")))}
    assert grades == EXAMPLE_GRADES


def test_grader_goes_into_its_own_environment_beside_the_running_pythons_packages(tmp_path):
    """install_grader: a virtual environment that sees the running Python's packages, the checkout installed
    (editable) and on its path, and nothing installed or changed for the running Python."""
    from grader.colab_runtime import installed

    checkout = tmp_path / "course"
    (checkout / "tinypkg").mkdir(parents=True)
    (checkout / "tinypkg" / "__init__.py").write_text("")
    (checkout / "tinygrader").mkdir()
    (checkout / "tinygrader" / "__init__.py").write_text("")
    (checkout / "pyproject.toml").write_text('[project]\nname = "tinypkg"\nversion = "1.0"\n\n'
                                             '[tool.setuptools]\npackages = ["tinypkg"]\n')
    before = installed(Path(sys.executable))
    python = colab.install_grader(checkout, tmp_path / "venv", extras="")
    assert "include-system-site-packages = true" in (tmp_path / "venv" / "pyvenv.cfg").read_text()
    code = "import tinypkg, tinygrader, sys; print(sys.prefix)"
    assert subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          check=True).stdout.strip() == str(tmp_path / "venv")
    assert installed(Path(sys.executable)) == before
    colab.install_grader(checkout, tmp_path / "venv", extras="")  # a rerun reuses the environment
