"""Grading speed: this grader on Dask (1 and 2 local workers, a scheduler with 2 worker processes) against
plain `nbgrader autograde` (serial), and the Dask engine's own cost per task.

Usage: python benchmarks/grading.py [--copies N] [--examples alice bob carol] [--no-nbgrader] [--round-trips N]
Grades N copies of each Lab 1 example submission (correct, partly wrong, untouched) every way, in the
same run, and prints seconds per submission side by side. The engine's overhead: starting and stopping
the embedded LocalCluster, and a trivial task's round trip through the scheduler against a direct call.
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
from grader import engine, sandbox  # noqa: E402
from grader.course import generate_assignment  # noqa: E402
from grader.grading import grade_lab  # noqa: E402
from grader.labs import REPO, find_lab  # noqa: E402

LAB = find_lab("lab1")
EXAMPLES = ("alice", "bob", "carol")


def make_submissions(folder: Path, copies: int, examples: list[str]) -> int:
    for copy in range(copies):
        for example in examples:
            target = folder / f"{example}{copy:03d}"
            target.mkdir(parents=True)
            shutil.copy(REPO / "grader" / "examples" / LAB.name / example / LAB.notebook_name, target)
    return copies * len(examples)


def ours(submissions: Path, workers: int, scheduler: str | None = None) -> float:
    with tempfile.TemporaryDirectory() as course:
        started = time.monotonic()
        grade_lab(LAB, submissions, Path(course), workers=workers, limits=sandbox.Limits(), progress=False,
                  scheduler=scheduler)
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


def engine_overhead(round_trips: int) -> tuple[float, float, float]:
    """Seconds to start a 1-worker LocalCluster; seconds per trivial task round trip; per direct call."""
    started = time.monotonic()
    with engine.Engine(1) as grid:
        startup = time.monotonic() - started
        grid.submit(abs, -1).result()  # warm
        started = time.monotonic()
        for _ in range(round_trips):
            grid.submit(abs, -1).result()
        trip = (time.monotonic() - started) / round_trips
    started = time.monotonic()
    for _ in range(round_trips):
        abs(-1)
    return startup, trip, (time.monotonic() - started) / round_trips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=2, help="copies of each example submission")
    parser.add_argument("--no-nbgrader", action="store_true", help="skip plain nbgrader (the slowest)")
    parser.add_argument("--examples", nargs="+", choices=EXAMPLES, default=list(EXAMPLES),
                        help="which example submissions make up the batch")
    parser.add_argument("--round-trips", type=int, default=200, help="trivial tasks for the engine's overhead")
    args = parser.parse_args()
    startup, trip, direct = engine_overhead(args.round_trips)
    print(f"engine: LocalCluster start {startup:.1f} s; trivial task round trip {trip * 1e3:.1f} ms "
          f"vs direct call {direct * 1e6:.2f} us ({args.round_trips} tasks)", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        count = make_submissions(Path(scratch), args.copies, args.examples)
        print(f"{count} Lab 1 submissions, isolation: {sandbox.detect_isolation()}, {os.cpu_count()} cores",
              flush=True)
        baseline = None
        print("\n| setup | s per submission | speed-up vs nbgrader |\n| --- | --- | --- |", flush=True)

        def row(name: str, seconds: float) -> None:
            speed = f"{baseline / seconds:.2f}x" if baseline else "-"
            print(f"| {name} | {seconds / count:.1f} | {speed} |", flush=True)

        if not args.no_nbgrader:
            baseline = plain_nbgrader(Path(scratch))
            row("nbgrader autograde (serial, no sandbox)", baseline)
        for workers in (1, 2):
            row(f"this grader, LocalCluster, {workers} worker(s)", ours(Path(scratch), workers))
        with engine.spawn(2) as cluster:
            row("this grader, dask scheduler + 2 dask workers", ours(Path(scratch), 0, cluster.address))


if __name__ == "__main__":
    main()
