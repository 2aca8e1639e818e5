"""The Gradescope autograder zip, run for real: its run_autograder grades a submission in a /autograder layout."""

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile

import nbformat
import pytest

from grader.__main__ import main
from grader.labs import REPO, find_lab
from tests.grader.hostile_corpus import ALICE, BOB

pytestmark = pytest.mark.slow
LAB = find_lab("lab1")
HIDDEN = LAB.checks.read_text()


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    """Build the zip, lay out /autograder as Gradescope does (in a temporary folder), run run_autograder."""
    out = tmp_path_factory.mktemp("gradescope")
    assert main(["gradescope", "lab1", "--out", str(out)]) == 0
    archive = out / f"{LAB.name}_gradescope.zip"
    root = out / "autograder"
    with zipfile.ZipFile(archive) as z:
        z.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")  # Gradescope copies it to the root
    (root / "submission").mkdir()
    shutil.copy(REPO / "grader" / "examples" / LAB.name / "bob" / LAB.notebook_name, root / "submission" / "mine.ipynb")
    (root / "results").mkdir()
    (root / "submission_metadata.json").write_text(json.dumps({
        "id": 123456, "created_at": "2026-03-01T22:10:00.000000-08:00", "submission_method": "upload",
        "assignment": {"id": 777, "title": "Lab 1", "due_date": "2026-03-01T23:59:00.000000-08:00",
                       "total_points": "20.0"},
        "users": [{"email": "bob@uni.example", "id": 4242, "name": "Bob Jones"}], "previous_submissions": []}))
    # setup.sh would make a venv with `pip install -e source/repo`. The test reuses this checkout's venv, whose
    # editable course_utils is the checkout's: the zip's copy must be the same files, and stands for them.
    shipped = root / "source" / "repo" / "course_utils"
    for path in shipped.rglob("*"):
        if path.is_file():
            assert path.read_bytes() == (REPO / "course_utils" / path.relative_to(shipped)).read_bytes(), path
    shutil.rmtree(shipped)
    shipped.symlink_to(REPO / "course_utils")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    run = subprocess.run(["bash", str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True,
                         timeout=1200)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return {"archive": archive, "results": json.loads((root / "results" / "results.json").read_text()),
            "text": (root / "results" / "results.json").read_text()}


def test_zip_holds_the_scripts_and_no_solutions(autograder):
    with zipfile.ZipFile(autograder["archive"]) as z:
        names = z.namelist()
        modes = {info.filename: info.external_attr >> 16 for info in z.infolist()}
        text = b"".join(z.read(name) for name in names)
        public = b"".join(z.read(name) for name in names if name.startswith(
            ("repo/course_utils/", "repo/labs/", "repo/solutions/", "repo/grader/releases/")))
        released = z.read(f"repo/solutions/{LAB.name}/{LAB.notebook_name}")
    assert {"setup.sh", "run_autograder"} <= set(names)
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert [n for n in names if n.startswith("repo/grader/checks/")] == [f"repo/grader/checks/{LAB.checks.name}"]
    assert released == LAB.release.read_bytes()  # nbgrader's source is the student version
    answers = {line.strip() for cell in nbformat.read(LAB.solution, as_version=4).cells
               for part in cell.source.split("BEGIN SOLUTION")[1:]
               for line in part.split("END SOLUTION")[0].splitlines() if len(line.strip()) > 25}
    secret = [line for line in answers if line.encode() not in public]  # not in what students have anyway
    assert len(secret) > 10 and not [line for line in secret if line.encode() in text]
    with zipfile.ZipFile(autograder["archive"]) as z, open(os.devnull, "w") as sink:
        for script in ("setup.sh", "run_autograder"):
            check = subprocess.run(["bash", "-n"], input=z.read(script), stdout=sink, stderr=subprocess.PIPE)
            assert check.returncode == 0, check.stderr


def test_results_json_has_one_test_per_hidden_check_adding_up(autograder):
    results = autograder["results"]
    tests = results["tests"]
    assert len(tests) == len(re.findall(r"^@points\(", HIDDEN, re.M))
    assert len({t["name"] for t in tests}) == len(tests) and len({t["number"] for t in tests}) == len(tests)
    assert results["score"] == sum(t["score"] for t in tests) == BOB
    assert sum(t["max_score"] for t in tests) == ALICE
    assert all(t["visibility"] == "after_published" and t["name"].startswith(t["tags"][0] + ": ") for t in tests)
    assert (results["visibility"], results["stdout_visibility"]) == ("visible", "hidden")
    assert isinstance(results["execution_time"], int) and results["output"].startswith("Status: graded")
    failed = [t for t in tests if t["status"] == "failed"]
    assert sum(t["max_score"] for t in failed) == ALICE - BOB
    assert all(t["score"] == 0 and t["output"] and t["output"] != "passed" for t in failed)
    assert {t["tags"][0] for t in failed} == {"activations", "losses"}


def test_results_never_show_hidden_check_code(autograder):
    lines = [line.strip() for line in HIDDEN.splitlines() if len(line.strip()) > 30]
    assert not [line for line in lines if line in autograder["text"]]
    assert "student.call" not in autograder["text"] and "lambda" not in autograder["text"]


def test_setup_prefetches_the_labs_datasets_from_the_shipped_repo(autograder, tmp_path):
    """The line of setup.sh that fills the image's data cache runs in the zip's repo/ and fetches this lab's data."""
    with zipfile.ZipFile(autograder["archive"]) as z:
        setup = z.read("setup.sh").decode()
    code = re.search(r'-c\s+"(.+)"\n', setup).group(1)
    assert "find_lab('lab1_perceptron')" in code
    repo = tmp_path / "repo"
    with zipfile.ZipFile(autograder["archive"]) as z:
        z.extractall(tmp_path, [n for n in z.namelist() if n.startswith("repo/")])
    run = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(repo), "COURSE_CACHE_DIR": str(tmp_path / "data")})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "unavailable" not in run.stderr and "lab3_faces" not in run.stderr
