"""Grade a class: intake, sandboxed execution, hidden checks, gradebook, resumable results.

Each submission is graded in a worker process (one sandbox slot per worker);
the main process alone writes the gradebook, the results and the reports, as
results arrive. A result is saved per student as soon as it is known, so an
interrupted run loses nothing and a rerun skips what is done.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader import sandbox
from grader.intake import Submission, collect
from grader.labs import Lab

# Severity order: the first that applies becomes the status; all appear in the reasons.
STATUSES = ("invalid notebook", "grader error", "timeout", "out of memory", "disk limit", "output limit",
            "kernel died", "tampered", "missing answer", "graded")


@dataclass
class Job:
    """Everything a worker needs to grade one submission (picklable)."""

    lab: Lab
    student: str
    data: bytes
    problem: str | None
    course: Path
    limits: sandbox.Limits
    level: str
    data_dirs: list[Path]
    kernel_env: dict[str, str] = field(default_factory=dict)


_SLOT = 0


def _init_worker(slots) -> None:
    """Take a sandbox slot; judge in smoke mode, as the notebooks run in it."""
    global _SLOT
    _SLOT = slots.get()
    os.environ["COURSE_MODE"] = "smoke"


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


def execute_notebook(notebook: nbformat.NotebookNode, kernel, limits: sandbox.Limits) -> list[tuple[str, str]]:
    """Run every code cell in the sandboxed ``kernel``, storing outputs; return problems as (kind, reason)."""
    problems: list[tuple[str, str]] = []
    deadline = time.monotonic() + limits.notebook_seconds
    budget = int(limits.output_mb * 1024 * 1024)
    for count, cell in enumerate((c for c in notebook.cells if c.cell_type == "code"), start=1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            kernel.kill(f"timeout: the notebook ran longer than {limits.notebook_seconds:.0f} s")
            break
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
            if run.status == "timeout" and not kernel.death_reason:
                reason = "timeout: a cell did not stop when interrupted"
            problems.append((_death_kind(reason), f"{reason} (in code cell {count}); later cells did not run"))
            break
        if run.error_name == "MemoryError":
            problems.append(("out of memory", f"code cell {count} ran out of memory"))
    return problems


def grade(job: Job) -> dict:
    """Grade one submission end to end (runs in a worker process); never raises."""
    from grader.channel import StudentKernel
    from grader.integrity import answer_sources
    from grader.judge import run_checks
    from grader.kernel import KernelGone, SandboxedKernel
    from grader.versions import reconcile_submission

    started = time.monotonic()
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
            kernel = SandboxedKernel(scratch / "sandbox", level=job.level, slot=_SLOT, limits=job.limits,
                                     data_dirs=job.data_dirs, env=job.kernel_env)
            try:
                kernel.start()
                reasons += execute_notebook(reconciled.notebook, kernel, job.limits)
            except KernelGone as gone:
                reasons.append(("kernel died", str(gone)))
            target = job.course / "autograded" / job.student / job.lab.name / job.lab.notebook_name
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(reconciled.notebook, str(target))
        student = StudentKernel(kernel) if kernel is not None and kernel.alive else None
        dead = kernel.describe_death() if kernel is not None else reasons[0][1] if reasons else "not run"
        answers = {} if submitted is None else answer_sources(reconciled.notebook)
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
    return result


def fingerprint(lab: Lab) -> str:
    """Changes whenever what a grade depends on changes: the released notebook or the hidden checks."""
    digest = hashlib.sha256()
    for path in (lab.release, lab.checks, *sorted(Path(__file__).parent.glob("*.py"))):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


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


def autograde(lab: Lab, submissions_path: Path, course: Path, *, workers: int, limits: sandbox.Limits,
              level: str, data_dirs: list[Path], kernel_env: dict[str, str], progress: bool = True,
              on_result=None) -> list[dict]:
    """Grade every submission in ``submissions_path`` into the course directory ``course``.

    Returns one result dict per student (also saved under ``course/results/<lab>/``).
    ``on_result(result)`` runs in this process for each new result (gradebook, feedback).
    """
    from tqdm.auto import tqdm

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
    bar = tqdm(total=len(submissions), initial=len(done), desc=f"grading {lab.short}", unit="nb",
               disable=not progress)
    context = multiprocessing.get_context("spawn")
    slots = context.Queue()
    for slot in range(workers):
        slots.put(slot)
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                                   initargs=(slots,))
    try:
        futures = {executor.submit(grade, Job(lab, s.student, s.data, s.problem, course, limits, level,
                                              data_dirs, kernel_env)): s for s in todo}
        for future in as_completed(futures):
            submission = futures[future]
            try:
                result = future.result()
            except Exception as error:  # the worker itself died: record it, a rerun retries
                result = {"student": submission.student, "lab": lab.name, "sha256": submission.sha256,
                          "status": "grader error", "reasons": [f"grader error: worker failed ({error})"],
                          "checks": [], "scores": {}, "missing_answers": [], "score": 0.0, "max_score": 0.0}
            if result["status"] != "grader error":
                result["fingerprint"] = stamp
            if on_result is not None:
                on_result(result)
            _write_json(results_dir / f"{submission.student}.json", result)
            results[submission.student] = result
            bar.update()
    except KeyboardInterrupt:
        executor.shutdown(wait=False, cancel_futures=True)
        for process in list(getattr(executor, "_processes", {}).values()):
            process.kill()
        bar.close()
        print(f"\nInterrupted: {len(results)} of {len(submissions)} graded and saved. "
              "Run the same command again to grade the rest.")
        raise
    executor.shutdown()
    bar.close()
    return [results[s.student] for s in submissions if s.student in results]
