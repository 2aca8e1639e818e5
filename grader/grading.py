"""Grading a lab's submissions into an nbgrader course folder, and the self-test of a lab.

The one function every way in calls: the command line (``python -m grader autograde``), the Gradescope
autograder, the mutation tool, the Colab grading notebook, the Slurm recipes and the benchmarks.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader import sandbox
from grader.labs import Lab


def _data_dirs() -> list[Path]:
    from course_utils.datasets import cache_dir, data_dir

    return [p for p in (data_dir(), cache_dir()) if p is not None and p.is_dir()]


def prefetch_datasets(lab: Lab | None = None) -> None:
    """Make the datasets ``lab`` reads (every registered one without a lab) available before grading: the
    sandbox has no network."""
    from course_utils.datasets import REGISTRY, DataUnavailableError, fetch

    for dataset in REGISTRY.values():
        if lab is not None and lab.short not in dataset.labs:
            continue
        if dataset.manifest and not any((folder / dataset.name).is_dir() for folder in _data_dirs()):
            print(f"WARNING: the folder dataset {dataset.name} is neither in COURSE_DATA_DIR nor in the cache; "
                  "notebooks that read it will fail in the sandbox (its thousands of files are not prefetched).",
                  file=sys.stderr)
        for remote in dataset.files:
            try:
                fetch(dataset.name, remote.name)
            except DataUnavailableError as error:
                print(f"WARNING: {dataset.name}/{remote.name} is unavailable, notebooks that need it will fail "
                      f"in the sandbox.\n{error}", file=sys.stderr)


def grade_lab(lab: Lab, submissions: Path, course: Path, *, workers: int, limits: sandbox.Limits,
              strict: bool = False, progress: bool = True, scheduler: str | None = None) -> list[dict]:
    """Grade ``submissions`` for ``lab`` into the nbgrader course folder ``course``; write all reports.

    ``scheduler`` (``tcp://host:port``) grades on that Dask cluster instead of ``workers`` local processes.
    """
    from course_utils.datasets import cache_dir, data_dir
    from grader.course import generate_assignment, record_grades
    from grader.engine import Engine
    from grader.lms import record_intake
    from grader.pipeline import autograde
    from grader.report import write_feedback, write_summary, write_tables

    with Engine(workers, scheduler, background=True) as engine:  # the workers start while the course is prepared
        course.mkdir(parents=True, exist_ok=True)
        generate_assignment(lab, course)
        intake = json.loads(record_intake(course, lab, submissions).read_text())  # LMS entry names and times
        prefetch_datasets(lab)
        env = {"COURSE_MODE": "smoke", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
        if data_dir() is not None:
            env["COURSE_DATA_DIR"] = str(data_dir().resolve())
        env["COURSE_CACHE_DIR"] = str(cache_dir().resolve())

        def on_result(result: dict) -> None:
            if result["status"] not in ("invalid notebook", "grader error"):
                record_grades(course, lab, result["student"], result["scores"], result["missing_answers"],
                              intake.get(result["student"], {}).get("submitted_at"))
            write_feedback(course, lab, result)

        results = autograde(lab, submissions, course, engine=engine, limits=limits, data_dirs=_data_dirs(),
                            kernel_env=env, strict=strict, progress=progress, on_result=on_result)
    write_tables(course, results)
    write_summary(course, lab, results)
    return results


def print_table(results: list[dict]) -> None:
    from grader.report import timings_text

    print(f"\n{'student':<22}{'status':<18}{'score':>12}  reason")
    for r in results:
        reason = "; ".join(r["reasons"])
        print(f"{r['student']:<22}{r['status']:<18}{r['score']:>6g} / {r['max_score']:<4g}  "
              f"{reason[:90] + ('...' if len(reason) > 90 else '')}")
    if timings := timings_text(results):
        print(f"mean seconds per submission: {timings}")


@dataclass
class Selftest:
    """What :func:`selftest` found: each run's result by student (``solution``, ``blank``) and the problems."""

    results: dict[str, dict]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def public_check_outputs(notebook: nbformat.NotebookNode) -> dict[str, str]:
    """What each check cell of an executed notebook printed (stdout, and errors as ``Name: value``), by grade_id."""
    outputs = {}
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            outputs[meta["grade_id"]] = "".join(
                out.get("text", "") if out.get("output_type") == "stream" else
                f"{out.get('ename')}: {out.get('evalue')}\n" if out.get("output_type") == "error" else ""
                for out in cell.get("outputs", []))
    return outputs


def selftest(lab: Lab, work: Path, *, limits: sandbox.Limits, workers: int = 2) -> Selftest:
    """Grade the solution and the untouched student notebook of ``lab`` as a class of two, in ``work``.

    The solution must be graded (no crash, no rerun), earn every point, and every public check cell of the
    notebook as run must print PASSED and nothing FAILED; the blank lab must earn nothing.
    """
    submissions = work / "submissions"
    for student, source in (("solution", lab.solution), ("blank", lab.release)):
        (submissions / student).mkdir(parents=True, exist_ok=True)
        shutil.copy(source, submissions / student / lab.notebook_name)
    course = work / "course"
    results = {r["student"]: r for r in grade_lab(lab, submissions, course, workers=workers, limits=limits,
                                                   progress=False)}
    solution, blank, problems = results["solution"], results["blank"], []
    if solution["status"] != "graded":
        problems.append(f"the solution was not graded cleanly: {solution['status']} ({'; '.join(solution['reasons'])})")
    for check in solution["checks"]:
        if not check["passed"]:
            problems.append(f"hidden check {check['question']}/{check['check']} rejects the solution: "
                            f"{check['message']}")
    if not solution["score"] == solution["max_score"] > 0:
        problems.append(f"the solution earns {solution['score']:g} of {solution['max_score']:g} points")
    graded = course / "autograded" / "solution" / lab.name / lab.notebook_name
    for question, text in public_check_outputs(nbformat.read(graded, as_version=4)).items():
        if "FAILED" in text or "PASSED" not in text:
            problems.append(f"public check cell {question} of the solution printed: {' '.join(text.split())[:400]}")
    if blank["score"] != 0:
        problems.append(f"the blank lab earns {blank['score']:g} points")
    return Selftest(results, problems)
