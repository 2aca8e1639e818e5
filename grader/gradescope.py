"""Gradescope: an autograder zip that grades with this repository's pipeline and hidden checks.

``python -m grader gradescope LAB [--out DIR]`` writes ``DIR/<lab>_gradescope.zip``: ``setup.sh`` and
``run_autograder`` at its root, and ``repo/``: ``course_utils``, ``grader`` (this lab's hidden checks
and kept earlier releases only), the released notebook and what installing them needs. No solution
notebook is shipped: the released notebook stands in as nbgrader's source (its answer cells become
stubs, its grade cells and points are the same), which is all grading reads.

On Gradescope ``run_autograder`` runs ``python -m grader.gradescope run``: the submitted
``submission/*.ipynb`` is graded by :func:`grader.__main__.grade_lab`, exactly as ``autograde`` does,
and ``results/results.json`` is written per Gradescope's autograder specification: one test per hidden
check, its student-safe message as output (never the check's code or inputs). ``AUTOGRADER_ROOT``
(default ``/autograder``) moves the whole layout, so a test can run the real script in a folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from grader.labs import REPO, Lab
from grader.versions import archive_dir

ROOT_ENV = "AUTOGRADER_ROOT"
# Per-check results appear once the instructor publishes grades: a student cannot probe the hidden
# checks by resubmitting, as with the feedback pages of `autograde`, which go out after grading.
CHECK_VISIBILITY = "after_published"
STUDENT = "submission"  # the one student of a Gradescope run

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu 22.04 or later).
set -euo pipefail
SOURCE="${{{root}:-/autograder}}/source"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3 python3-venv python3-pip
PYTHON=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  apt-get install -y -qq python3.11 python3.11-venv
  PYTHON=python3.11
fi
# The sandbox, when the container lets bubblewrap create namespaces; grading works without it.
apt-get install -y -qq bubblewrap || echo "bubblewrap not installed: the container is the only isolation"
"$PYTHON" -m venv "$SOURCE/venv"
"$SOURCE/venv/bin/pip" install --quiet --upgrade pip
"$SOURCE/venv/bin/pip" install --quiet -e "$SOURCE/repo[dev,tf-cpu]"
# Datasets into the image, so that grading a submission downloads nothing.
cd "$SOURCE/repo"
COURSE_CACHE_DIR="$SOURCE/data" "$SOURCE/venv/bin/python" -c \
  "from grader.grading import prefetch_datasets; from grader.labs import find_lab; prefetch_datasets(find_lab('{lab}'))"
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission, as root, in a fresh container of setup.sh's image.
set -euo pipefail
ROOT="${{{root}:-/autograder}}"
export {root}="$ROOT"
SOURCE="$ROOT/source"
export COURSE_CACHE_DIR="${{COURSE_CACHE_DIR:-$SOURCE/data}}"
cd "$SOURCE/repo"
exec "${{AUTOGRADER_PYTHON:-$SOURCE/venv/bin/python}}" -m grader.gradescope run {lab}
"""


def _files(lab: Lab) -> list[tuple[Path, str]]:
    """(file, path in the zip) of everything the autograder needs from the repository."""
    root = lab.root
    wanted = [(root / "pyproject.toml", "pyproject.toml"), (root / "README.md", "README.md"),
              (lab.release, f"labs/{lab.name}/{lab.notebook_name}"),
              (lab.release, f"solutions/{lab.name}/{lab.notebook_name}"),  # nbgrader's source: no solutions
              (lab.checks, f"grader/checks/{lab.checks.name}")]
    wanted += [(path, path.relative_to(root).as_posix()) for path in sorted((root / "grader").glob("*.py"))]
    # Earlier releases of the lab: a student who started on one is graded against it, as by `autograde`.
    wanted += [(path, path.relative_to(root).as_posix()) for path in sorted(archive_dir(lab).glob("*.ipynb"))]
    wanted += [(path, path.relative_to(root).as_posix()) for path in sorted((root / "course_utils").rglob("*"))
               if path.is_file() and "__pycache__" not in path.parts]
    return wanted


def build(lab: Lab, out: Path) -> Path:
    """Write ``out/<lab>_gradescope.zip`` (setup.sh and run_autograder at the root); return its path."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{lab.name}_gradescope.zip"
    scripts = {"setup.sh": SETUP.format(root=ROOT_ENV, lab=lab.name),
               "run_autograder": RUN.format(root=ROOT_ENV, lab=lab.name)}
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in scripts.items():
            info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
            info.external_attr = (stat.S_IFREG | 0o755) << 16
            archive.writestr(info, text)
        for path, name in _files(lab):
            archive.write(path, f"repo/{name}")
    return target


def results_json(result: dict, seconds: float) -> dict:
    """Gradescope's results for one graded submission: a test per hidden check, in the checks' order.

    Scores are the checks' points, so the tests add up to ``score``; ``output`` is the message the
    student's feedback page shows. stdout (the grader's log) is for the instructor only.
    """
    counts: dict[str, int] = {}  # checks so far per question, in order of first appearance
    tests = []
    for check in result["checks"]:
        counts[check["question"]] = counts.get(check["question"], 0) + 1
        number = f"{list(counts).index(check['question']) + 1}.{counts[check['question']]}"
        tests.append({"score": check["points"], "max_score": check["max_points"], "number": number,
                      "name": f"{check['question']}: {check['check'].replace('_', ' ')}",
                      "status": "passed" if check["passed"] else "failed",
                      "output": "passed" if check["passed"] else check["message"],
                      "visibility": CHECK_VISIBILITY, "tags": [check["question"]]})
    summary = [f"Status: {result['status']}."] + [f"- {reason}" for reason in result["reasons"]]
    summary.append("Each hidden check's result appears here when grades are published. Written answers are "
                   "graded by hand and are not part of this score.")
    return {"score": round(sum(t["score"] for t in tests), 3), "execution_time": round(seconds),
            "output": "\n".join(summary), "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


def run(lab: Lab, root: Path) -> dict:
    """Grade ``root/submission`` with the pipeline; write and return ``root/results/results.json``."""
    from grader import sandbox
    from grader.grading import grade_lab

    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "submissions" / STUDENT
        folder.mkdir(parents=True)
        for notebook in sorted((root / "submission").rglob("*.ipynb")):
            if not any(part.startswith(".") for part in notebook.relative_to(root / "submission").parts):
                shutil.copy(notebook, folder / notebook.name)
        result = grade_lab(lab, folder.parent, Path(scratch) / "course", workers=1, limits=sandbox.Limits(),
                           progress=False)[0]
    results = results_json(result, time.monotonic() - started)
    (root / "results").mkdir(parents=True, exist_ok=True)
    (root / "results" / "results.json").write_text(json.dumps(results, indent=1))
    print(f"{lab.name}: {result['status']}, {result['score']:g} / {result['max_score']:g} "
          f"(isolation: {result.get('isolation')})")
    return results


def cmd_gradescope(args) -> int:
    from grader.labs import find_lab

    lab = find_lab(args.lab)
    print(f"Gradescope autograder: {build(lab, Path(args.out))}\nUpload it as the assignment's autograder "
          "(Ubuntu 22.04 or later; set the autograder timeout above the grader's notebook limit).")
    return 0


def add_command(commands) -> None:
    """Register ``python -m grader gradescope LAB [--out DIR]``."""
    sub = commands.add_parser("gradescope", help="build the Gradescope autograder zip for a lab")
    sub.add_argument("lab")
    sub.add_argument("--out", default="build/gradescope", help="folder for <lab>_gradescope.zip")
    sub.set_defaults(run=cmd_gradescope)


def main(argv: list[str] | None = None) -> int:
    """Inside Gradescope's container: ``python -m grader.gradescope run LAB``."""
    parser = argparse.ArgumentParser(prog="python -m grader.gradescope")
    parser.add_argument("action", choices=("run",))
    parser.add_argument("lab", help="the lab's folder name, as built into the zip")
    args = parser.parse_args(argv)
    root = Path(os.environ.get(ROOT_ENV, "/autograder"))
    try:
        run(Lab(args.lab, REPO), root)
    except BaseException as error:  # still tell Gradescope something; the traceback goes to stdout (staff only)
        (root / "results").mkdir(parents=True, exist_ok=True)
        (root / "results" / "results.json").write_text(json.dumps(
            {"score": 0.0, "output": f"The autograder failed ({type(error).__name__}); course staff will grade "
                                     "this submission.", "visibility": "visible", "stdout_visibility": "hidden",
             "tests": []}))
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
