"""Grading cost against its floor: a plain execution of each notebook (nbclient, no sandbox, no hidden
checks), nbgrader's own autograde (serial), and this grader on Dask (1 and 2 local workers, a scheduler with
2 worker processes), in one run on the same submissions, with where this grader's time goes per submission
(kernel start, student cells, hidden checks, the rest: each result's "timings") and the Dask engine's own cost
per task.

Usage: python benchmarks/grading.py [--labs lab1 lab9 ...] [--copies N] [--no-nbgrader] [--round-trips N]
The submissions of a lab are its solution notebook and its untouched student notebook (the class that
`grader selftest` grades), N copies of each. Without --labs every lab is measured.

       python benchmarks/grading.py --course-scale 5000 [--workers W]
A large course in miniature: what the Dask path and the client add per submission, and the client's memory.
"""

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from grader import engine, sandbox  # noqa: E402
from grader.course import generate_assignment  # noqa: E402
from grader.grading import grade_lab  # noqa: E402
from grader.labs import Lab, all_labs, find_lab  # noqa: E402
from grader.pipeline import autograde, thread_limits  # noqa: E402
from grader.report import timings_text  # noqa: E402

SUBMISSIONS = ("solution", "blank")


def make_submissions(lab: Lab, folder: Path, copies: int) -> int:
    for copy in range(copies):
        for student, source in zip(SUBMISSIONS, (lab.solution, lab.release)):
            target = folder / f"{student}{copy:03d}"
            target.mkdir(parents=True)
            shutil.copy(source, target / lab.notebook_name)
    return copies * len(SUBMISSIONS)


def plain_execution(lab: Lab, submissions: Path, threads: int | None = None) -> list[float]:
    """The floor: each notebook executed once by nbclient in a plain kernel, errors allowed, nothing judged;
    the seconds of each.

    ``threads``: the kernel's thread pools limited to that many, as a grading worker limits its kernel to its
    share of the cores (None: the kernel sizes them from the machine, as with a single worker)."""
    from nbclient import NotebookClient

    os.environ["COURSE_MODE"] = "smoke"
    seconds = []
    with mock.patch.dict(os.environ, thread_limits(threads) if threads else {}):  # the kernel inherits it
        for folder in sorted(submissions.iterdir()):
            started = time.monotonic()
            notebook = nbformat.read(folder / lab.notebook_name, as_version=4)
            with tempfile.TemporaryDirectory() as work:
                NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True,
                               resources={"metadata": {"path": work}}).execute()
            seconds.append(time.monotonic() - started)
    return seconds


def makespan(seconds: list[float], workers: int) -> float:
    """The wall time of jobs taking ``seconds`` on ``workers`` workers, the longest first to the least loaded."""
    loads = [0.0] * workers
    for job in sorted(seconds, reverse=True):
        loads[loads.index(min(loads))] += job
    return max(loads)


def ours(lab: Lab, submissions: Path, workers: int, scheduler: str | None = None) -> tuple[float, list[dict]]:
    with tempfile.TemporaryDirectory() as course:
        started = time.monotonic()
        results = grade_lab(lab, submissions, Path(course), workers=workers, limits=sandbox.Limits(),
                            progress=False, scheduler=scheduler)
        return time.monotonic() - started, results


def plain_nbgrader(lab: Lab, submissions: Path) -> float:
    """nbgrader's own autograde: executes every notebook and its check cells, one after another."""
    with tempfile.TemporaryDirectory() as scratch:
        course = Path(scratch)
        generate_assignment(lab, course)
        for folder in submissions.iterdir():
            target = course / "submitted" / folder.name / lab.name
            target.mkdir(parents=True)
            shutil.copy(folder / lab.notebook_name, target)
        env = {**os.environ, "COURSE_MODE": "smoke",
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        started = time.monotonic()
        subprocess.run(["nbgrader", "autograde", lab.name, "--create", "--force",
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


def measure(lab: Lab, copies: int, nbgrader: bool) -> None:
    """One lab: every way of grading the same submissions, seconds per submission side by side."""
    with tempfile.TemporaryDirectory() as scratch:
        submissions = Path(scratch)
        count = make_submissions(lab, submissions, copies)
        print(f"\n## {lab.name}: {count} submissions ({copies} x {', '.join(SUBMISSIONS)})\n\n"
              "| setup | s per submission | vs plain execution |\n| --- | --- | --- |", flush=True)
        on_all_threads = plain_execution(lab, submissions)
        floor = sum(on_all_threads)

        def row(name: str, seconds: float) -> None:
            print(f"| {name} | {seconds / count:.1f} | {seconds / floor:.2f}x "
                  f"({(seconds - floor) / count:+.1f} s) |", flush=True)

        row("plain execution (nbclient, no sandbox, no hidden checks)", floor)
        share = max(1, (os.cpu_count() or 1) // 2)  # a kernel's threads with 2 workers
        on_share = plain_execution(lab, submissions, threads=share)
        row(f"plain execution, the kernel limited to {share} thread(s), its share with 2 workers", sum(on_share))
        if nbgrader:
            row("nbgrader autograde (serial, no sandbox)", plain_nbgrader(lab, submissions))
        one, results = ours(lab, submissions, 1)
        row("this grader, LocalCluster, 1 worker", one)
        two, _ = ours(lab, submissions, 2)
        row("this grader, LocalCluster, 2 workers", two)
        with engine.spawn(2) as cluster:
            row("this grader, dask scheduler + 2 dask workers", ours(lab, submissions, 0, cluster.address)[0])
        print(f"\nthroughput, 2 workers over 1: {one / two:.2f}x; the notebooks alone allow at most "
              f"{floor / makespan(on_share, 2):.2f}x with these submissions (plain execution, 2 kernels on {share} "
              f"thread(s) each against 1 kernel on all threads), {2 * floor / sum(on_share):.2f}x with "
              "submissions that split evenly between the workers", flush=True)
        print(f"scaling: each of the 2 workers graded {3600 * count / (2 * two):.0f} of these submissions per hour, "
              f"its kernel on {share} thread(s); a machine with a worker per {share} core(s) grades that many per "
              "worker", flush=True)
        print(f"where the time goes with 1 worker (mean s per submission): {timings_text(results)}", flush=True)


def course_scale(count: int, workers: int) -> None:
    """A large course in miniature: ``count`` submissions of the one-exercise tiny lab (a notebook that does next to
    nothing) through the real Dask path. Prints what grading adds per submission beyond a worker's own work
    (wall time x workers / count - the mean seconds a worker spent in each submission) and the client's memory
    as results arrive, which stays flat when results go to disk instead of piling up."""
    import psutil

    from tests.grader.tiny_lab import make_tiny_lab, submission

    with tempfile.TemporaryDirectory() as scratch:
        lab = make_tiny_lab(Path(scratch) / "checkout")
        folder = Path(scratch) / "submissions"
        for k in range(count):
            submission(lab, folder, f"student{k:05d}")
        client = psutil.Process()
        memory = []

        def sample(_result: dict) -> None:
            memory.append(client.memory_info().rss / 2**20)

        started = time.monotonic()
        with tempfile.TemporaryDirectory() as course:
            with engine.Engine(workers) as grid:
                results = autograde(lab, folder, Path(course), engine=grid, limits=sandbox.Limits(), data_dirs=[],
                                    kernel_env={"COURSE_MODE": "smoke"}, progress=False, on_result=sample)
        wall = time.monotonic() - started
    statuses = collections.Counter(r["status"] for r in results)
    graded = [r for r in results if "seconds" in r]  # a submission no worker could grade has no timings
    ungraded = [f"  {r['student']}: {'; '.join(r['reasons'])}\n" for r in results if "seconds" not in r]
    inside = sum(r["seconds"] for r in graded) / len(graded)
    print(f"\n## course scale: {count} tiny submissions, {workers} workers\n\n"
          f"statuses: {dict(statuses)}; not graded by a worker: {len(ungraded)}\n{''.join(ungraded[:10])}"
          f"wall {wall:.0f} s; each submission {inside:.2f} s on its worker ({timings_text(results)}); "
          f"added per submission beyond that: {wall * workers / count - inside:.3f} s\n"
          f"client memory as results arrived: {memory[0]:.0f} MiB after the first, "
          f"{memory[len(memory) // 2]:.0f} MiB at half, {memory[-1]:.0f} MiB at the end", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--labs", nargs="+", default=[lab.short for lab in all_labs()], help="labs to measure")
    parser.add_argument("--copies", type=int, default=1, help="copies of each submission")
    parser.add_argument("--no-nbgrader", action="store_true", help="skip nbgrader's autograde")
    parser.add_argument("--round-trips", type=int, default=200, help="trivial tasks for the engine's overhead")
    parser.add_argument("--course-scale", type=int, metavar="N",
                        help="instead: N tiny submissions through the Dask path (overhead per submission, memory)")
    parser.add_argument("--workers", type=int, default=2, help="workers for --course-scale")
    args = parser.parse_args()
    if args.course_scale:
        course_scale(args.course_scale, args.workers)
        return
    labs = [find_lab(name) for name in args.labs]  # unknown names fail before anything runs
    startup, trip, direct = engine_overhead(args.round_trips)
    print(f"engine: LocalCluster start {startup:.1f} s; trivial task round trip {trip * 1e3:.1f} ms "
          f"vs direct call {direct * 1e6:.2f} us ({args.round_trips} tasks)", flush=True)
    print(f"isolation: {sandbox.detect_isolation()}, {os.cpu_count()} cores", flush=True)
    for lab in labs:
        measure(lab, args.copies, not args.no_nbgrader)


if __name__ == "__main__":
    main()
