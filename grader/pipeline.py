"""Grade a class: intake, sandboxed execution, hidden checks, gradebook, resumable results.

Each submission is one task on a Dask worker (:mod:`grader.engine`; one sandbox per worker
thread, under a uid leased for it alone); this process, the trusted client, alone writes the
gradebook, the results, the autograded notebooks and the reports, as results arrive. A result
is saved per student as soon as it is known, so an interrupted run loses nothing and a rerun
skips what is done; a worker lost mid-notebook costs that notebook, which Dask runs again.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat

from grader import sandbox
from grader.engine import Engine, wants_gpu
from grader.fingerprint import fingerprint, worker_fingerprint, worker_lab
from grader.intake import Submission, collect
from grader.labs import Lab

# Severity order: the first that applies becomes the status; all appear in the reasons.
STATUSES = ("invalid notebook", "grader error", "timeout", "out of memory", "disk limit", "output limit",
            "kernel died", "tampered", "missing answer", "graded")


@dataclass
class Job:
    """Everything a worker needs to grade one submission (picklable).

    ``stamp`` is the client's :func:`fingerprint` of the lab; ``level`` and ``uid`` (the isolation
    and the sandbox user) are filled in on the worker by :func:`run_job`.
    """

    lab: Lab
    student: str
    data: bytes
    problem: str | None
    limits: sandbox.Limits
    data_dirs: list[Path]
    kernel_env: dict[str, str] = field(default_factory=dict)
    stamp: str = ""
    strict: bool = False
    level: str = "none"
    uid: int = 0


def _status(reasons: list[tuple[str, str]]) -> str:
    kinds = {kind for kind, _ in reasons}
    return next(status for status in STATUSES if status in kinds or status == "graded")


def _death_kind(reason: str) -> str:
    for kind in ("timeout", "out of memory", "disk limit", "output limit"):
        if reason.startswith(kind):
            return kind
    return "kernel died"


def _parse(job: Job) -> nbformat.NotebookNode:
    text = job.data.decode("utf-8")
    if not text.strip():
        raise ValueError("the file is empty")
    notebook = nbformat.reads(text, as_version=4)
    nbformat.validate(notebook)
    return notebook


def _run_cells(cells: list, kernel, limits: sandbox.Limits) -> tuple[list[tuple[str, str]], int | None, str]:
    """Run ``cells`` in order in ``kernel``, storing their outputs.

    Returns the problems as (kind, reason), the number of the code cell the kernel died in (None when
    it did not die in a cell) and what ended it ("" when the kernel is still alive).
    """
    problems: list[tuple[str, str]] = []
    deadline = time.monotonic() + limits.notebook_seconds
    budget = int(limits.output_mb * 1024 * 1024)
    for count, cell in enumerate(cells, start=1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            kernel.kill(f"timeout: the notebook ran longer than {limits.notebook_seconds:.0f} s")
            return problems, None, f"{kernel.describe_death()} (before code cell {count})"
        run = kernel.run_cell(cell.source, timeout=min(limits.cell_seconds, remaining), output_budget=budget)
        cell.outputs, cell.execution_count = run.outputs, count
        budget -= sum(len(json.dumps(o)) for o in run.outputs)
        if run.status == "timeout" and kernel.alive:
            problems.append(("timeout", f"a cell ran longer than {min(limits.cell_seconds, remaining):.0f} s "
                                        "and was interrupted"))
        elif run.status == "output_limit" and kernel.alive:
            problems.append(("output limit", f"a cell printed more than {limits.output_mb:g} MiB; "
                                             "the rest was dropped"))
        if not kernel.alive:
            reason = kernel.describe_death()
            if run.status == "timeout" and kernel.death_reason in (None, "timeout"):
                reason = "timeout: a cell did not stop when interrupted"
            return problems, count, reason
        if run.error_name == "MemoryError":
            problems.append(("out of memory", f"code cell {count} ran out of memory"))
    return problems, None, ""


def execute_notebook(notebook: nbformat.NotebookNode, kernel, limits: sandbox.Limits) -> list[tuple[str, str]]:
    """Run every code cell in the sandboxed ``kernel``, storing outputs; return problems as (kind, reason).

    A crash costs only what it breaks: when the kernel dies or must be killed in code cell k, a fresh
    kernel (:meth:`~grader.kernel.SandboxedKernel.restart`, same limits) runs cells 1..k-1 again, without
    k and what follows, and the checks judge that kernel. If it dies again, the notebook is graded as it
    stands (a dead kernel). The stored outputs are those of the first run, which show what happened.
    """
    from grader.kernel import KernelGone

    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    problems, died_in, reason = _run_cells(cells, kernel, limits)
    if not reason:
        return problems
    kind = _death_kind(reason)
    if died_in is None:  # the notebook as a whole ran out of time: a rerun would too
        return [*problems, (kind, f"{reason}; later cells did not run")]
    what = f"kernel {'killed' if kernel.death_reason else 'died'} in code cell {died_in} ({reason})"
    try:
        kernel.restart()
        _, again, again_reason = _run_cells(copy.deepcopy(cells[:died_in - 1]), kernel, limits)
    except KernelGone as gone:
        again, again_reason = 0, f"a fresh kernel did not start: {gone}"
    if again_reason:
        where = f" in code cell {again}" if again else ""
        return [*problems, (kind, f"{what}; rerunning cells 1-{died_in - 1} in a fresh kernel failed too "
                                  f"({again_reason}{where}): graded as it stands")]
    rerun = f"cells 1-{died_in - 1} were rerun" if died_in > 1 else "nothing before it ran"
    return [*problems, (kind, f"{what}: {rerun} in a fresh kernel and graded")]


# Where a submission's seconds go, as recorded in each result's "timings": starting the sandboxed kernel,
# running the submitted cells (with any rerun after a crash), the hidden checks, and the rest (intake,
# reconciliation with the release, closing the kernel).
TIMED_PARTS = ("kernel_start", "student_cells", "hidden_checks", "other")


@contextlib.contextmanager
def _timed(timings: dict[str, float], part: str):
    started = time.monotonic()
    try:
        yield
    finally:
        timings[part] += time.monotonic() - started


def grade(job: Job) -> dict:
    """Grade one submission end to end (on a worker, through :func:`run_job`); never raises."""
    from grader.channel import StudentKernel
    from grader.integrity import answer_sources
    from grader.judge import preload_imports, run_checks
    from grader.kernel import KernelGone, SandboxedKernel
    from grader.versions import reconcile_submission

    started, timings = time.monotonic(), dict.fromkeys(TIMED_PARTS[:-1], 0.0)
    result = {"student": job.student, "lab": job.lab.name, "sha256": hashlib.sha256(job.data).hexdigest(),
              "isolation": job.level, "reasons": [], "checks": [], "scores": {}, "missing_answers": []}
    reasons: list[tuple[str, str]] = []
    try:
        if job.problem:
            raise ValueError(job.problem)
        submitted = _parse(job)
    except (ValueError, UnicodeDecodeError, nbformat.ValidationError, KeyError, TypeError) as error:
        reasons.append(("invalid notebook", f"invalid notebook: {str(error).splitlines()[0][:300]}"))
        submitted = None
    kernel = None
    scratch = Path(tempfile.mkdtemp(prefix=f"grade-{job.student}-"))
    try:
        if submitted is not None:
            reconciled = reconcile_submission(job.lab, submitted)  # against the release it came from
            reasons += [("tampered", note) for note in reconciled.tampered]
            reasons += [("graded", note) for note in reconciled.notes]
            result["missing_answers"] = reconciled.missing_answers
            if reconciled.missing_answers:
                reasons.append(("missing answer", "unanswered: " + ", ".join(reconciled.missing_answers)))
            kernel = SandboxedKernel(scratch / "sandbox", level=job.level, uid=job.uid, limits=job.limits,
                                     data_dirs=job.data_dirs, env=job.kernel_env)
            preload_imports(job.lab.checks)  # while the kernel starts and runs the notebook
            try:
                with _timed(timings, "kernel_start"):
                    kernel.start()
                with _timed(timings, "student_cells"):
                    reasons += execute_notebook(reconciled.notebook, kernel, job.limits)
            except KernelGone as gone:
                reasons.append(("kernel died", str(gone)))
            result["notebook"] = nbformat.writes(reconciled.notebook)  # the client saves it
        student = StudentKernel(kernel) if kernel is not None and kernel.alive else None
        dead = kernel.describe_death() if kernel is not None else reasons[0][1] if reasons else "not run"
        answers = {} if submitted is None else answer_sources(reconciled.notebook)
        with _timed(timings, "hidden_checks"):
            outcomes = run_checks(job.lab.checks, student, dead, answers)
        result["checks"] = [outcome.as_dict() for outcome in outcomes]
        for outcome in outcomes:
            result["scores"][outcome.question] = result["scores"].get(outcome.question, 0.0) + outcome.points
    except Exception as error:  # a bug or an environment problem: record it, keep the batch going
        reasons.append(("grader error", f"grader error: {type(error).__name__}: {str(error)[:500]}"))
    finally:
        if kernel is not None:
            kernel.close()
        shutil.rmtree(scratch, ignore_errors=True)
    reasons.sort(key=lambda item: STATUSES.index(item[0]))  # the most serious first
    result["status"] = _status(reasons)
    result["reasons"] = [reason for _, reason in reasons]
    result["score"] = round(sum(c["points"] for c in result["checks"]), 3)
    result["max_score"] = round(sum(c["max_points"] for c in result["checks"]), 3)
    result["seconds"] = round(time.monotonic() - started, 2)
    timings["other"] = result["seconds"] - sum(timings.values())
    result["timings"] = {part: round(seconds, 2) for part, seconds in timings.items()}
    return result


def _failure(student: str, lab: Lab, sha256: str, reason: str) -> dict:
    """The result of a submission the grader could not grade (not saved as done: a rerun retries it)."""
    return {"student": student, "lab": lab.name, "sha256": sha256, "status": "grader error", "reasons": [reason],
            "checks": [], "scores": {}, "missing_answers": [], "score": 0.0, "max_score": 0.0}


def dask_setup(worker) -> None:
    """Dask's preload hook (``grader.engine.WORKER_PRELOAD``): a worker imports what :func:`grade` needs as it
    starts, while the client prepares the course, instead of in its first submission."""
    import grader.channel
    import grader.integrity
    import grader.judge
    import grader.kernel
    import grader.versions  # noqa: F401


def run_job(job: Job) -> dict:
    """The task a Dask worker runs: check that it has the client's grader, detect its isolation, lease a
    sandbox uid (``full`` only) and :func:`grade`; never raises. The result names the worker's host."""
    os.environ["COURSE_MODE"] = "smoke"  # judge in smoke mode, as the notebooks run in it
    host = socket.gethostname()
    level, why = sandbox.isolation()
    lab = worker_lab(job.lab)
    stamp = worker_fingerprint(lab.name, str(lab.root))
    refusal = ""
    if stamp != job.stamp:
        refusal = (f"grader error: worker {host} has another version of the grader or of {lab.name} "
                   f"({stamp}, the client has {job.stamp}); install the same version on every worker")
    elif job.strict and level != "full":
        refusal = f"grader error: --strict and worker {host} has isolation {level!r}: {why}"
    if refusal:
        return {**_failure(job.student, lab, hashlib.sha256(job.data).hexdigest(), refusal), "worker": host}
    job = replace(job, lab=lab, level=level)
    if level == "full":
        with sandbox.sandbox_uid() as uid:
            result = grade(replace(job, uid=uid))
    else:
        result = grade(job)
    return {**result, "worker": host}


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=1))
    os.replace(partial, path)


def _load_done(folder: Path, submissions: list[Submission], stamp: str) -> dict[str, dict]:
    done = {}
    for submission in submissions:
        path = folder / f"{submission.student}.json"
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if saved.get("sha256") == submission.sha256 and saved.get("fingerprint") == stamp:
            done[submission.student] = saved
    return done


# The thread pools a student kernel may size from the machine's core count: TensorFlow's, OpenMP's (oneDNN) and
# the BLAS libraries'. Each kernel gets its share of its host's cores instead of all of them.
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS")


def kernel_threads(facts: dict[str, dict]) -> int:
    """Each kernel's share of the cores: the fewest cores per grading process over the workers' hosts.

    ``facts`` are the workers' :func:`grader.engine.worker_facts` by address (one kernel per worker).
    """
    per_host = collections.Counter(f["host"] for f in facts.values())
    cores = {f["host"]: f["cores"] for f in facts.values()}
    return max(1, min((cores[host] // count for host, count in per_host.items()), default=1))


def thread_limits(threads: int) -> dict[str, str]:
    """The environment that limits a kernel's thread pools to ``threads``."""
    return dict.fromkeys(THREAD_VARIABLES, str(threads))


def warn_if_versioned(course: Path) -> bool:
    """Warn on stderr when ``course`` lies inside a git work tree and git does not ignore it (student data
    next to the code could be committed); True then."""
    folder = course.resolve()
    tree = next((parent for parent in (folder, *folder.parents) if (parent / ".git").exists()), None)
    if tree is None:
        return False
    try:
        ignored = subprocess.run(["git", "-C", str(tree), "check-ignore", "-q", str(folder)],
                                 capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ignored = False  # no git to ask: warn
    if ignored:
        return False
    print(f"WARNING: the course directory {course} is inside the git work tree {tree} and git does not ignore "
          "it. It will hold student submissions and grades (personal data): keep them out of version control; "
          "pass --course-dir outside the checkout or add it to .gitignore.", file=sys.stderr)
    return True


def autograde(lab: Lab, submissions_path: Path, course: Path, *, engine: Engine, limits: sandbox.Limits,
              data_dirs: list[Path], kernel_env: dict[str, str], strict: bool = False, progress: bool = True,
              on_result=None) -> list[dict]:
    """Grade every submission in ``submissions_path`` into the course directory ``course``.

    Runs on ``engine``, a :class:`grader.engine.Engine` that the caller has entered (a ``LocalCluster`` or a
    Dask cluster; it may still be starting in the background); ``strict`` refuses workers without full
    isolation. Returns one result dict per student (also saved under ``course/results/<lab>/``).
    ``on_result(result)`` runs in this process once for each new result (gradebook, feedback).
    """
    from tqdm.auto import tqdm

    warn_if_versioned(course)
    submissions = collect(submissions_path, lab.notebook_name)
    stamp = fingerprint(lab)
    results_dir = course / "results" / lab.name
    done = _load_done(results_dir, submissions, stamp)
    todo = [s for s in submissions if s.student not in done]
    for submission in todo:  # keep the original bytes, untouched
        original = course / "submitted" / submission.student / lab.name / lab.notebook_name
        original.parent.mkdir(parents=True, exist_ok=True)
        original.write_bytes(submission.data)
    results = dict(done)
    if not todo:
        return [results[s.student] for s in submissions if s.student in results]
    kernel_env = {**thread_limits(kernel_threads(engine.check_workers(lab, stamp, strict))), **kernel_env}
    gpu = wants_gpu(lab) and bool(engine.gpu_workers())
    if wants_gpu(lab) and not gpu:
        print(f"WARNING: {lab.name} asks for a GPU but no worker declares one (dask worker --resources GPU=1); "
              "grading on CPU workers.", file=sys.stderr)
    bar = tqdm(total=len(submissions), initial=len(done), desc=f"grading {lab.short}", unit="nb",
               disable=not progress)
    futures = {engine.submit(run_job, Job(lab, s.student, s.data, s.problem, limits, data_dirs, kernel_env,
                                          stamp, strict), gpu=gpu): s for s in todo}
    seen: set[tuple[str, str]] = set()
    try:
        for future in engine.as_completed(futures):
            submission = futures[future]
            if (submission.student, submission.sha256) in seen:  # never record a submission twice
                continue
            seen.add((submission.student, submission.sha256))
            try:
                result = future.result()
            except Exception as error:  # the task failed on every worker that tried it: a rerun retries
                result = _failure(submission.student, lab, submission.sha256,
                                  f"grader error: worker failed ({type(error).__name__}: {error})")
            notebook = result.pop("notebook", None)
            if notebook is not None:
                target = course / "autograded" / submission.student / lab.name / lab.notebook_name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(notebook)
            if result["status"] != "grader error":
                result["fingerprint"] = stamp
            if on_result is not None:
                on_result(result)
            _write_json(results_dir / f"{submission.student}.json", result)
            results[submission.student] = result
            bar.update()
    except KeyboardInterrupt:
        engine.cancel(futures)
        bar.close()
        print(f"\nInterrupted: {len(results)} of {len(submissions)} graded and saved. "
              "Run the same command again to grade the rest.")
        raise
    bar.close()
    return [results[s.student] for s in submissions if s.student in results]
