"""Grading speed: this grader (sandboxed, 1 and 2 workers) against plain `nbgrader autograde` (serial).

Usage: python benchmarks/grading.py [--copies N]
Grades N copies of each Lab 1 example submission (correct, partly wrong, untouched) three ways, in the
same run, and prints seconds per submission and the speed-up over nbgrader.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from grader import sandbox  # noqa: E402
from grader.__main__ import grade_lab  # noqa: E402
from grader.course import generate_assignment  # noqa: E402
from grader.labs import REPO, find_lab  # noqa: E402

LAB = find_lab("lab1")
EXAMPLES = ("alice", "bob", "carol")


def make_submissions(folder: Path, copies: int) -> int:
    for copy in range(copies):
        for example in EXAMPLES:
            target = folder / f"{example}{copy:03d}"
            target.mkdir(parents=True)
            shutil.copy(REPO / "grader" / "examples" / LAB.name / example / LAB.notebook_name, target)
    return copies * len(EXAMPLES)


def ours(submissions: Path, workers: int) -> float:
    with tempfile.TemporaryDirectory() as course:
        started = time.monotonic()
        grade_lab(LAB, submissions, Path(course), workers=workers, limits=sandbox.Limits(), progress=False)
        return time.monotonic() - started


def plain_nbgrader(submissions: Path) -> float:
    """nbgrader's own autograde: executes every notebook and its check cells, one after another."""
    with tempfile.TemporaryDirectory() as scratch:
        course = Path(scratch)
        generate_assignment(LAB, course)
        for folder in submissions.iterdir():
            target = course / "submitted" / folder.name / LAB.name
            target.mkdir(parents=True)
            shutil.copy(folder / LAB.notebook_name, target)
        env = {**os.environ, "COURSE_MODE": "smoke",
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        started = time.monotonic()
        subprocess.run(["nbgrader", "autograde", LAB.name, "--create", "--force",
                        "--ExecutePreprocessor.timeout=600"], cwd=course, env=env, check=True, capture_output=True)
        return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=2, help="copies of each example submission")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        count = make_submissions(Path(scratch), args.copies)
        print(f"{count} Lab 1 submissions, isolation: {sandbox.detect_isolation()}, {os.cpu_count()} cores")
        baseline = plain_nbgrader(Path(scratch))
        print(f"nbgrader autograde (serial, no sandbox): {baseline / count:6.1f} s per submission")
        for workers in (1, 2):
            seconds = ours(Path(scratch), workers)
            print(f"this grader, {workers} worker(s), sandboxed: {seconds / count:6.1f} s per submission "
                  f"({baseline / seconds:.2f}x nbgrader's speed)")


if __name__ == "__main__":
    main()
