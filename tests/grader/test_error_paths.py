"""The grader's failure paths with real processes: a notebook that fills the disk, one that runs past the
notebook limit, hidden checks that cannot be imported, and a worker that dies on every try. Each is recorded
with a reason, the rest of the batch is graded, and nothing broken is saved as done."""

import json
import os

import nbformat
import pytest

from grader import sandbox
from grader.grading import grade_lab
from tests.grader.tiny_lab import HIDDEN, make_tiny_lab, submission

LIMITS = sandbox.Limits(cell_seconds=30, notebook_seconds=20, disk_mb=200, file_size_mb=150)
SLEEP = "import time\ntime.sleep(8)"
FILL_DISK = "for n in range(6):\n    with open(f'fill{n}.bin', 'wb') as f:\n        f.write(b'x' * 100_000_000)"


@pytest.mark.slow
def test_disk_and_notebook_limits_end_only_their_own_notebook(tmp_path):
    lab = make_tiny_lab(tmp_path / "lab")
    submissions = tmp_path / "submissions"
    submission(lab, submissions, "honest", "import os\nprint('threads', os.environ.get('TF_NUM_INTRAOP_THREADS'), "
                                            "os.environ.get('OMP_NUM_THREADS'))")
    submission(lab, submissions, "sleeper", SLEEP, SLEEP, SLEEP, SLEEP)
    submission(lab, submissions, "filler", FILL_DISK)
    results = {r["student"]: r for r in grade_lab(lab, submissions, tmp_path / "course", workers=2, limits=LIMITS,
                                                   progress=False)}
    assert (results["honest"]["status"], results["honest"]["score"]) == ("graded", 1.0)
    run = nbformat.read(tmp_path / "course" / "autograded" / "honest" / lab.name / lab.notebook_name, as_version=4)
    share = max(1, len(os.sched_getaffinity(0)) // 2)  # two workers share this machine's cores
    assert f"threads {share} {share}" in run.cells[-1].outputs[0]["text"]
    sleeper = results["sleeper"]
    # the whole notebook ran out of time: a rerun of its cells would too, so its kernel is not judged
    assert sleeper["status"] == "timeout" and sleeper["score"] == 0.0, sleeper
    assert "the notebook ran longer than 20 s" in "; ".join(sleeper["reasons"]), sleeper["reasons"]
    filler = results["filler"]
    assert filler["status"] == "disk limit" and filler["score"] == 1.0, filler


@pytest.mark.slow
@pytest.mark.parametrize("checks, reason", [
    (HIDDEN + "\nthis is not python\n", "hidden checks test_lab99.py could not run"),
    ("import os\nos._exit(3)\n" + HIDDEN, "grader error: worker failed"),
], ids=["checks-that-do-not-import", "worker-that-dies-every-time"])
def test_a_broken_grader_is_a_grader_error_and_a_rerun_retries(tmp_path, checks, reason):
    lab = make_tiny_lab(tmp_path / "lab", hidden=checks)
    submissions = tmp_path / "submissions"
    submission(lab, submissions, "alice")
    submission(lab, submissions, "bob")
    course = tmp_path / "course"
    results = grade_lab(lab, submissions, course, workers=2, limits=sandbox.Limits(), progress=False)
    assert {r["status"] for r in results} == {"grader error"} and len(results) == 2
    assert all(reason in "; ".join(r["reasons"]) for r in results), [r["reasons"] for r in results]
    saved = json.loads((course / "results" / lab.name / "alice.json").read_text())
    assert saved["status"] == "grader error" and "fingerprint" not in saved  # so the next run grades it again
