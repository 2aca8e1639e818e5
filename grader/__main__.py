"""Command line: ``python -m grader {release,smoke,autograde,selftest,demo}``.

  python -m grader release [LAB ...]           regenerate labs/ from solutions/ (nbgrader)
  python -m grader smoke [LAB ...]             run every solution notebook in smoke mode, print times
  python -m grader autograde LAB SUBMISSIONS   grade a folder or LMS zip; see --help
  python -m grader selftest LAB                grade the solution (full marks) and the blank lab (zero)
  python -m grader demo                        release, then grade the example submissions of lab1
  python -m grader export LAB --format canvas  Canvas or Moodle gradebook CSV (roster, late policy)
  python -m grader gradescope LAB              build the Gradescope autograder zip
  python -m grader similarity LAB              pairs of submissions with unusually alike code
  python -m grader mutants LAB                 grade the lab's catalogue of wrong and right answers
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from grader import sandbox
from grader.grading import grade_lab, print_table, selftest
from grader.labs import REPO, Lab, all_labs, find_lab


def _labs(names: list[str]) -> list[Lab]:
    return [find_lab(name) for name in names] if names else all_labs()


def cmd_release(args) -> int:
    from grader.release import release, release_all

    paths = [release(lab) for lab in _labs(args.labs)] if args.labs else release_all(all_labs())
    for path in paths:
        print(f"released {path.relative_to(REPO)}")
    return 0


def cmd_smoke(args) -> int:
    from grader.release import run_solution

    failed = 0
    for lab in _labs(args.labs):
        try:
            print(f"{lab.name}: ran in smoke mode in {run_solution(lab):.1f} s", flush=True)
        except Exception as error:
            failed += 1
            print(f"{lab.name}: FAILED: {type(error).__name__}: {str(error)[-1500:]}", flush=True)
    return 1 if failed else 0


def _limits(args) -> sandbox.Limits:
    return sandbox.Limits(memory_mb=args.memory_mb, cell_seconds=args.cell_seconds,
                          notebook_seconds=args.notebook_seconds)


def cmd_autograde(args) -> int:
    lab = find_lab(args.lab)
    course = Path(args.course_dir or f"grading/{lab.name}")
    try:
        results = grade_lab(lab, Path(args.submissions), course, workers=args.workers, limits=_limits(args),
                            strict=args.strict, progress=not args.no_progress, scheduler=args.scheduler)
    except KeyboardInterrupt:
        return 130
    print_table(results)
    print(f"\ngrades: {course / 'grades.csv'}  checks: {course / 'checks.csv'}  "
          f"summary: {course / 'report' / lab.name / 'report.html'}  feedback: {course / 'feedback'}/")
    return 0


def cmd_selftest(args) -> int:
    """The solution must earn every autograded point and pass every public check; the blank lab earns none."""
    with tempfile.TemporaryDirectory() as scratch:
        outcome = selftest(find_lab(args.lab), Path(scratch), limits=_limits(args), workers=min(2, args.workers))
    print_table(list(outcome.results.values()))
    for r in outcome.results.values():
        for c in r["checks"]:
            print(f"  {r['student']:<9} {'PASS' if c['passed'] else 'FAIL'} {c['question']}/{c['check']}: "
                  f"{c['message']}")
    for problem in outcome.problems:
        print(f"  problem: {problem}")
    print("selftest", "passed" if outcome.ok else "FAILED")
    return 0 if outcome.ok else 1


def cmd_demo(args) -> int:
    from grader.release import release_all

    for path in release_all(all_labs()):
        print(f"released {path.relative_to(REPO)}")
    lab = find_lab("lab1")
    course = Path(args.course_dir)
    results = grade_lab(lab, REPO / "grader" / "examples" / lab.name, course, workers=args.workers,
                        limits=_limits(args))
    print_table(results)
    print(f"\nReports in {course}/: grades.csv, checks.csv, feedback/, report/{lab.name}/report.html")
    return 0


def cmd_mutants(args) -> int:
    """Grade each catalogued mutant of the lab as a submission; print kill rates and false rejects."""
    from grader import mutants

    lab = find_lab(args.lab)
    chosen = mutants.catalogue(lab)
    if args.only:
        unknown = sorted(set(args.only) - {m.name for m in chosen})
        if unknown:
            raise SystemExit(f"no mutant named {unknown} in grader/mutants/{lab.short}.py")
        chosen = [m for m in chosen if m.name in args.only]
    verdicts = mutants.run(lab, chosen, workers=args.workers, limits=_limits(args))
    print(mutants.report(lab, verdicts))
    print(f"saved {mutants.save(lab, verdicts, Path(args.out))}")
    return 0 if all(v.ok for v in verdicts) else 1


def cmd_similarity(args) -> int:
    """Compare the submissions saved in a course folder; rewrite its summary report when it has results."""
    import json

    from grader.report import write_similarity, write_summary

    lab = find_lab(args.lab)
    course = Path(args.course_dir or f"grading/{lab.name}")
    students = sorted(p.name for p in (course / "submitted").glob("*") if (p / lab.name).is_dir())
    if not students:
        raise SystemExit(f"no submissions in {course / 'submitted'}: run `python -m grader autograde` first")
    pairs = write_similarity(course, lab, students, args.threshold)
    saved = sorted((course / "results" / lab.name).glob("*.json"))
    if saved:
        results = [json.loads(path.read_text()) for path in saved]
        print(f"summary with the similar pairs: {write_summary(course, lab, results, args.threshold, pairs)}")
    for pair in pairs:
        print(f"{pair.first:<22}{pair.second:<22}{pair.share[0]:>5.0%} {pair.share[1]:>5.0%}")
    print(f"{len(pairs)} pair(s) of {len(students)} submissions at or above {args.threshold:.0%}: "
          f"{course / 'report' / lab.name / 'similarity.csv'}")
    return 0


def _add_similarity(commands) -> None:
    """Register ``python -m grader similarity LAB [--course-dir DIR] [--threshold T]``."""
    from grader.similarity import THRESHOLD

    sub = commands.add_parser("similarity", help="pairs of submissions with unusually alike answer code")
    sub.add_argument("lab")
    sub.add_argument("--course-dir", help="the course folder autograde wrote (default grading/<lab>)")
    sub.add_argument("--threshold", type=float, default=THRESHOLD,
                     help=f"flag a pair sharing at least this share of one student's code (default {THRESHOLD})")
    sub.set_defaults(run=cmd_similarity)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    release = commands.add_parser("release", help="regenerate labs/ from solutions/")
    release.add_argument("labs", nargs="*")
    release.set_defaults(run=cmd_release)
    smoke = commands.add_parser("smoke", help="execute solution notebooks in smoke mode")
    smoke.add_argument("labs", nargs="*")
    smoke.set_defaults(run=cmd_smoke)
    auto = commands.add_parser("autograde", help="grade a class's submissions")
    auto.add_argument("lab", help="lab1 or lab1_perceptron")
    auto.add_argument("submissions", help="folder of <student_id>/<notebook>.ipynb, or an LMS zip")
    auto.add_argument("--course-dir", help="nbgrader course folder for results (default grading/<lab>)")
    auto.set_defaults(run=cmd_autograde)
    selftest = commands.add_parser("selftest", help="solution gets full marks, blank lab gets zero")
    selftest.add_argument("lab")
    selftest.set_defaults(run=cmd_selftest)
    demo = commands.add_parser("demo", help="release all labs and grade lab1's example submissions")
    demo.add_argument("--course-dir", default="build/demo")
    demo.set_defaults(run=cmd_demo)
    mutate = commands.add_parser("mutants", help="grade the lab's catalogue of wrong and right answers")
    mutate.add_argument("lab")
    mutate.add_argument("--only", nargs="+", metavar="NAME", help="only these mutants (by name)")
    mutate.add_argument("--out", default="build/mutants", help="folder for <lab>.txt and <lab>.json")
    mutate.set_defaults(run=cmd_mutants)
    for sub in (auto, selftest, demo, mutate):
        sub.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel graders")
        sub.add_argument("--memory-mb", type=int, default=sandbox.Limits.memory_mb)
        sub.add_argument("--cell-seconds", type=float, default=sandbox.Limits.cell_seconds)
        sub.add_argument("--notebook-seconds", type=float, default=sandbox.Limits.notebook_seconds)
    auto.add_argument("--strict", action="store_true", help="refuse to grade without full isolation")
    auto.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                      help="grade on this Dask cluster (default: --workers local processes)")
    auto.add_argument("--no-progress", action="store_true")
    from grader import gradescope, lms

    for module in (gradescope, lms):
        module.add_command(commands)
    _add_similarity(commands)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
