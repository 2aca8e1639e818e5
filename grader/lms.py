"""Grades out to an LMS: Canvas and Moodle gradebook CSVs, keyed by the LMS's own student identity.

Scores are read from the course folder's nbgrader gradebook, per question, so written answers count
once they are graded in formgrader (blank until then); each student's status comes from ``results/``.
Who is who comes from the LMS zip's file names (recorded at intake in ``intake/<lab>.json``) and,
when given, a roster: the LMS's own gradebook export (Canvas: ``Student, ID, SIS User ID, SIS Login ID,
Section``; Moodle: the grading worksheet's ``Identifier`` and ``Email address``) or a CSV with a
``student`` column and any of ``name, email, username, idnumber``. A roster student with no submission
gets a row with the status ``no submission``.

A late penalty is applied here only, to a copy: it is computed from the raw gradebook scores on every
export, so exporting again or regrading never compounds it.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader.intake import MOODLE_ENTRY, collect
from grader.integrity import grade_id
from grader.labs import Lab

# Canvas names each file "<name key>_[LATE_]<user id>_<attachment id>_<file name>".
CANVAS_ENTRY = re.compile(r"^(?P<key>[^_/]+)_(?:(?P<late>LATE)_)?(?P<user_id>\d+)_(?P<attachment>\d+)_", re.I)
PERIODS = {"day": datetime.timedelta(days=1), "hour": datetime.timedelta(hours=1)}
UNITS = {"m": 60, "h": 3600, "d": 86400}
NOT_GRADED = ("grader error",)  # our failure, not the student's: no score is exported


@dataclass(frozen=True)
class LatePolicy:
    """``percent`` off per started ``period`` after ``deadline``, at most ``cap`` percent in all.

    A submission within ``grace`` of the deadline is on time; past it, lateness counts from the deadline.
    """

    deadline: datetime.datetime
    percent: float
    period: datetime.timedelta = PERIODS["day"]
    cap: float = 100.0
    grace: datetime.timedelta = datetime.timedelta(0)

    def localise(self, when: str) -> datetime.datetime:
        """An ISO time as an aware datetime; a naive one is taken in the deadline's time zone."""
        moment = datetime.datetime.fromisoformat(when)
        return moment if moment.tzinfo else moment.replace(tzinfo=self.deadline.tzinfo)

    def penalty(self, submitted_at: str | None, marked_late: bool = False) -> tuple[float, float | None]:
        """(percent deducted, hours late) for a submission; ``marked_late`` (the LMS says late, with no
        time known) costs one period."""
        if submitted_at is None:
            return (min(self.cap, self.percent), None) if marked_late else (0.0, None)
        late = self.localise(submitted_at) - self.deadline
        hours = round(max(late.total_seconds(), 0.0) / 3600, 2)
        if late <= self.grace:
            return 0.0, hours
        return min(self.cap, math.ceil(late / self.period) * self.percent), hours


def parse_policy(deadline: str, penalty: str, cap: float = 100.0, grace: str = "0") -> LatePolicy:
    """``deadline`` ISO 8601 (naive: UTC), ``penalty`` like ``10/day`` or ``2/hour`` (percent per period),
    ``grace`` like ``15m``, ``2h``, ``1d`` (a bare number is minutes)."""
    try:
        moment = datetime.datetime.fromisoformat(deadline)
        percent, unit = penalty.replace("%", "").split("/")
        amount = re.fullmatch(r"(\d+(?:\.\d+)?)([mhd]?)", grace.strip())
        seconds = float(amount[1]) * UNITS[amount[2] or "m"]
        return LatePolicy(moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC), float(percent),
                          PERIODS[unit.strip()], float(cap), datetime.timedelta(seconds=seconds))
    except (ValueError, KeyError, TypeError) as error:
        raise SystemExit(f"late policy: need --deadline ISO-8601, --late-penalty PERCENT/day|hour, --grace like "
                         f"15m ({error})") from None


def entry_identity(entry: str) -> dict[str, str]:
    """What an LMS zip's file name says about its student: ``canvas_id`` and ``late`` ("yes") for Canvas,
    ``participant`` and ``name`` for Moodle; empty for other names."""
    name = entry.split("/")[0] if MOODLE_ENTRY.match(entry.split("/")[0]) else entry.rsplit("/", 1)[-1]
    if match := MOODLE_ENTRY.match(name):
        return {"participant": match["participant"], "name": match["name"]}
    if match := CANVAS_ENTRY.match(name):
        return {"canvas_id": match["user_id"], "late": "yes" if match["late"] else ""}
    return {}


def record_intake(course: Path, lab: Lab, submissions: Path) -> Path:
    """Save each submission's zip entry and time in ``course/intake/<lab>.json`` (merged with earlier runs)."""
    path = course / "intake" / f"{lab.name}.json"
    known = json.loads(path.read_text()) if path.is_file() else {}
    for submission in collect(submissions, lab.notebook_name):
        known[submission.student] = {"entry": submission.entry, "submitted_at": submission.submitted_at,
                                     "sha256": submission.sha256}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(known, indent=1, sort_keys=True))
    return path


def questions(lab: Lab) -> list[tuple[str, float]]:
    """(grade_id, points) of every graded cell of the released notebook, in notebook order."""
    notebook = nbformat.read(lab.release, as_version=4)
    return [(grade_id(c), float(c.metadata["nbgrader"]["points"])) for c in notebook.cells
            if c.get("metadata", {}).get("nbgrader", {}).get("grade")]


def gradebook_scores(course: Path, lab: Lab) -> dict[str, dict[str, float | None]]:
    """Each student's score per question from ``course/gradebook.db``: the hand-given score when there
    is one, else the autograder's; None while a written answer waits for hand grading."""
    from nbgrader.api import Gradebook

    from grader.course import _tools_on_path

    _tools_on_path()
    scores: dict[str, dict[str, float | None]] = {}
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{course.resolve() / 'gradebook.db'}") as gradebook:
        warnings.simplefilter("ignore")
        for submission in gradebook.assignment_submissions(lab.name):
            scores[submission.student_id] = {
                grade.name: None if grade.auto_score is None and grade.manual_score is None else float(grade.score)
                for notebook in submission.notebooks for grade in notebook.grades}
    return scores


@dataclass
class Row:
    """One student's line in an export. ``identity`` holds the LMS fields (``name``, ``canvas_id``,
    ``sis_user_id``, ``sis_login_id``, ``section``, ``participant``, ``email``, ``username``, ``idnumber``)."""

    student: str
    status: str
    identity: dict[str, str] = field(default_factory=dict)
    scores: dict[str, float | None] = field(default_factory=dict)
    submitted_at: str | None = None
    hours_late: float | None = None
    penalty: float = 0.0
    notes: list[str] = field(default_factory=list)

    def raw_total(self) -> float | None:
        return round(sum(s for s in self.scores.values() if s is not None), 3) if self.scores else None

    def final(self, score: float | None) -> float | None:
        """``score`` after the late penalty (computed from the raw score, never stored)."""
        return None if score is None else round(score * (1 - self.penalty / 100), 2)


ROSTER_FIELDS = {  # roster column (lower case) -> identity field; Canvas's "Student" column is the name
    "student": "student", "name": "name", "full name": "name", "id": "canvas_id", "sis user id": "sis_user_id",
    "sis login id": "sis_login_id", "section": "section", "email": "email", "email address": "email",
    "username": "username", "idnumber": "idnumber", "id number": "idnumber", "identifier": "participant",
}


def read_roster(path: Path) -> list[dict[str, str]]:
    """The roster's students as identity dicts; Canvas's "Points Possible" row and test student are skipped."""
    people = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        fields = dict(ROSTER_FIELDS)
        if "SIS Login ID" in (reader.fieldnames or []):
            fields["student"] = "name"
        for row in reader:
            person = {fields[k.strip().lower()]: v.strip() for k, v in row.items()
                      if k and k.strip().lower() in fields and v and v.strip()}
            if "points possible" in person.get("name", "").lower() or person.get("name") == "Student, Test":
                continue
            if "participant" in person:
                person["participant"] = re.sub(r"\D", "", person["participant"])
            people.append(person)
    return people


def _matches(person: dict[str, str], student: str, identity: dict[str, str]) -> bool:
    if person.get("student") == student:
        return True
    if identity.get("canvas_id") and person.get("canvas_id") == identity["canvas_id"]:
        return True
    if identity.get("participant") and person.get("participant") == identity["participant"]:
        return True
    logins = {person.get(k, "").lower() for k in ("sis_login_id", "username", "email")} - {""}
    return student.lower() in logins


def build_rows(course: Path, lab: Lab, roster: list[dict[str, str]] | None = None, policy: LatePolicy | None = None,
               manifest: dict[str, str] | None = None) -> list[Row]:
    """One row per graded student (and per roster student without a submission), penalties applied."""
    results = {}
    for path in sorted((course / "results" / lab.name).glob("*.json")):
        result = json.loads(path.read_text())
        results[result["student"]] = result
    if not results:
        raise SystemExit(f"no results in {course / 'results' / lab.name}: run `python -m grader autograde` first")
    intake_file = course / "intake" / f"{lab.name}.json"
    intake = json.loads(intake_file.read_text()) if intake_file.is_file() else {}
    scores = gradebook_scores(course, lab)
    cells = [name for name, _ in questions(lab)]
    rows, matched = [], set()
    for student, result in results.items():
        record = intake.get(student, {})
        row = Row(student, result["status"], identity=entry_identity(record.get("entry", "")))
        if result["status"] not in NOT_GRADED:
            row.scores = {cell: scores.get(student, {}).get(cell, 0.0) for cell in cells}
        row.submitted_at = (manifest or {}).get(student) or record.get("submitted_at")
        people = [i for i, person in enumerate(roster or []) if _matches(person, student, row.identity)]
        if people:
            matched.update(people)
            row.identity = {**row.identity, **roster[people[0]]}
        elif roster is not None:
            row.notes.append("not on the roster")
        waiting = [cell for cell, score in row.scores.items() if score is None]
        if waiting:
            row.notes.append("waiting for hand grading: " + ", ".join(waiting))
        if policy is not None:
            row.penalty, row.hours_late = policy.penalty(row.submitted_at, row.identity.get("late") == "yes")
            if row.penalty:
                late = f"{row.hours_late:g} h" if row.hours_late is not None else "per the LMS's late marker"
                row.notes.append(f"late ({late}): -{row.penalty:g}%")
        rows.append(row)
    for i, person in enumerate(roster or []):
        if i not in matched:
            key = person.get("student") or person.get("sis_login_id") or person.get("username") or \
                person.get("email") or person.get("canvas_id") or person.get("participant", "")
            rows.append(Row(key, "no submission", identity=person))
    return rows


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def write_canvas(rows: list[Row], lab: Lab, path: Path, assignment: str, per_question: bool = True) -> Path:
    """Canvas's gradebook import layout: ``Student, ID, SIS User ID, SIS Login ID, Section``, a
    "Points Possible" row, then ``assignment`` (the total; write it as Canvas shows it, ``Lab 1 (1234)``,
    to fill an existing assignment) and, with ``per_question``, one column per question."""
    cells = questions(lab)
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment]
    possible = ["Points Possible", "", "", "", "", _number(sum(p for _, p in cells))]
    if per_question:
        header += [f"{lab.name}: {name}" for name, _ in cells]
        possible += [_number(points) for _, points in cells]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerow(possible)
        for row in rows:
            who = row.identity
            line = [who.get("name", row.student), who.get("canvas_id", ""), who.get("sis_user_id", ""),
                    who.get("sis_login_id", "" if who.get("canvas_id") else row.student), who.get("section", ""),
                    _number(row.final(row.raw_total()))]
            if per_question:
                line += [_number(row.final(row.scores.get(name))) for name, _ in cells]
            writer.writerow(line)
    return path


def write_moodle(rows: list[Row], lab: Lab, path: Path) -> Path:
    """Moodle's gradebook import layout: an identifier column (email address, username or ID number,
    whichever the roster has; else the student id as username), one column per question, the total, and a
    feedback column. Map them in Moodle's "Import grades: CSV file" page."""
    cells = questions(lab)
    key = next((k for k in ("email", "username", "idnumber") if any(r.identity.get(k) for r in rows)), None)
    column = {"email": "Email address", "username": "Username", "idnumber": "ID number", None: "Username"}[key]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([column, "Full name", *(f"{lab.name}: {name}" for name, _ in cells), f"{lab.name}: total",
                         f"Feedback: {lab.name}"])
        for row in rows:
            ident = row.identity.get(key, "") if key else row.student
            feedback = "; ".join([row.status, *row.notes])
            writer.writerow([ident, row.identity.get("name", ""),
                             *(_number(row.final(row.scores.get(name))) for name, _ in cells),
                             _number(row.final(row.raw_total())), feedback])
    return path


def write_review(rows: list[Row], lab: Lab, path: Path) -> Path:
    """Every row with its status, raw and final totals, time and penalty: what to check before importing."""
    most = sum(points for _, points in questions(lab))
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "name", "lms_id", "status", "submitted_at", "hours_late", "penalty_percent",
                         "raw_total", "total", "max_score", "notes"])
        for row in rows:
            who = row.identity
            lms_id = who.get("canvas_id") or who.get("participant") or who.get("email") or who.get("username", "")
            writer.writerow([row.student, who.get("name", ""), lms_id, row.status, row.submitted_at or "",
                             _number(row.hours_late), _number(row.penalty), _number(row.raw_total()),
                             _number(row.final(row.raw_total())), _number(most), "; ".join(row.notes)])
    return path


def cmd_export(args) -> int:
    from grader.intake import read_manifest
    from grader.labs import find_lab

    lab = find_lab(args.lab)
    course = Path(args.course_dir or f"grading/{lab.name}")
    policy = None
    if args.deadline or args.late_penalty:
        if not (args.deadline and args.late_penalty):
            raise SystemExit("a late policy needs both --deadline and --late-penalty")
        policy = parse_policy(args.deadline, args.late_penalty, args.late_cap, args.grace)
    roster = read_roster(Path(args.roster)) if args.roster else None
    manifest = read_manifest(Path(args.timestamps)) if args.timestamps else None
    rows = build_rows(course, lab, roster, policy, manifest)
    out = course / "exports"
    out.mkdir(parents=True, exist_ok=True)
    if args.format == "canvas":
        written = write_canvas(rows, lab, out / f"{lab.name}_canvas.csv", args.assignment or lab.name,
                               per_question=not args.total_only)
    else:
        written = write_moodle(rows, lab, out / f"{lab.name}_moodle.csv")
    review = write_review(rows, lab, out / f"{lab.name}_{args.format}_review.csv")
    for row in rows:
        if row.status != "graded" or row.notes:
            print(f"  {row.student:<22}{row.status:<18}{'; '.join(row.notes)}")
    print(f"{len(rows)} rows: {written}\nstatus, lateness and raw scores: {review}")
    return 0


def add_command(commands) -> None:
    """Register ``python -m grader export LAB --format canvas|moodle ...``."""
    sub = commands.add_parser("export", help="Canvas or Moodle gradebook CSV, late policy applied")
    sub.add_argument("lab")
    sub.add_argument("--course-dir", help="the course folder autograde wrote (default grading/<lab>)")
    sub.add_argument("--format", choices=("canvas", "moodle"), required=True)
    sub.add_argument("--roster", help="the LMS's gradebook export or grading worksheet, or student,email,... CSV")
    sub.add_argument("--timestamps", help="CSV student,submitted_at (ISO 8601): overrides the zip's times")
    sub.add_argument("--deadline", help="ISO 8601, e.g. 2026-03-01T23:59+01:00 (no offset: UTC)")
    sub.add_argument("--late-penalty", help="percent per started day or hour, e.g. 10/day or 2/hour")
    sub.add_argument("--late-cap", type=float, default=100.0, help="largest total penalty in percent")
    sub.add_argument("--grace", default="0", help="on time within this of the deadline: 15m, 2h, 1d")
    sub.add_argument("--assignment", help="Canvas total column, as Canvas names it: 'Lab 1 (1234)'")
    sub.add_argument("--total-only", action="store_true", help="Canvas: no per-question columns")
    sub.set_defaults(run=cmd_export)
