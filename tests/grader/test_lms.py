"""Canvas and Moodle exports from a really graded course: identities, roster, late policy that never compounds."""

import csv
import datetime
import struct
import zipfile

import pytest

from grader import intake, lms
from grader.__main__ import main
from grader.labs import REPO, find_lab
from tests.grader.hostile_corpus import ALICE, BOB

LAB = find_lab("lab1")
EXAMPLES = REPO / "grader" / "examples" / LAB.name
DEADLINE = datetime.datetime(2026, 3, 1, 23, 59, tzinfo=datetime.UTC)
# Canvas's zip: "<name key>_[LATE_]<user id>_<attachment id>_<file>"; bob handed in 30 hours late.
ENTRIES = {"alice": ("smithalice_1001_5001_lab1_perceptron.ipynb", DEADLINE - datetime.timedelta(hours=2)),
           "bob": ("jonesbob_LATE_1002_5002_lab1_perceptron.ipynb", DEADLINE + datetime.timedelta(hours=30))}
CANVAS_ROSTER = """Student,ID,SIS User ID,SIS Login ID,Section,Lab 1 (777)
    Points Possible,,,,,20
"Smith, Alice",1001,S1,asmith,Section A,
"Jones, Bob",1002,S2,bjones,Section A,
"Zed, Zoe",1003,S3,zzed,Section B,
"Student, Test",9999,,,Section A,
"""
POLICY = ["--deadline", DEADLINE.isoformat(), "--late-penalty", "10/day", "--late-cap", "50", "--grace", "15m"]


def _entry(name: str, when: datetime.datetime, data: bytes) -> tuple[zipfile.ZipInfo, bytes]:
    """A zip entry as Info-ZIP writes it: DOS local time plus the UTC extended-timestamp field."""
    info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
    info.extra = struct.pack("<HHBi", 0x5455, 5, 1, int(when.timestamp()))
    return info, data


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


# ---------- fast units: intake of LMS names and times, the policy, rosters ----------

def test_intake_reads_canvas_and_moodle_names_and_entry_times(tmp_path):
    archive = tmp_path / "class.zip"
    when = datetime.datetime(2026, 3, 2, 5, 30, tzinfo=datetime.UTC)
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(*_entry("jonesbob_LATE_1002_5002_lab1_perceptron.ipynb", when, b"{}"))
        z.writestr("Ana Díaz_4242_assignsubmission_file_/lab1_perceptron.ipynb", b"{}")
        z.writestr("Lee Wu_4243_assignsubmission_file_lab1_perceptron.ipynb", b"{}")
    found = {s.student: s for s in intake.collect(archive, LAB.notebook_name)}
    assert set(found) == {"jonesbob", "ana-diaz-4242", "lee-wu-4243"}
    assert found["jonesbob"].submitted_at == when.isoformat()
    assert datetime.datetime.fromisoformat(found["lee-wu-4243"].submitted_at).tzinfo is None  # DOS time only
    assert lms.entry_identity(found["jonesbob"].entry) == {"canvas_id": "1002", "late": "yes"}
    assert lms.entry_identity(found["ana-diaz-4242"].entry) == {"participant": "4242", "name": "Ana Díaz"}


def test_late_policy_grace_per_started_period_cap_and_marker():
    policy = lms.parse_policy("2026-03-01T23:59+01:00", "10/day", cap=25, grace="15m")
    deadline = datetime.datetime.fromisoformat("2026-03-01T23:59+01:00")
    at = lambda **delta: (deadline + datetime.timedelta(**delta)).isoformat()  # noqa: E731
    assert policy.penalty(at(minutes=-5)) == (0.0, 0.0)
    assert policy.penalty(at(minutes=14)) == (0.0, 0.23)  # within the grace period
    assert policy.penalty(at(minutes=16))[0] == 10  # past it: counted from the deadline, a started day
    assert policy.penalty(at(hours=24, minutes=1))[0] == 20
    assert policy.penalty(at(days=6))[0] == 25  # capped
    assert policy.penalty("2026-03-02T00:30")[0] == 10  # naive: in the deadline's zone (+01:00)
    assert policy.penalty(None, marked_late=True) == (10, None)
    assert lms.parse_policy("2026-03-01T12:00", "2/hour").penalty("2026-03-01T14:30+00:00")[0] == 6


def test_rosters_from_canvas_and_moodle_exports(tmp_path):
    canvas = tmp_path / "canvas.csv"
    canvas.write_text(CANVAS_ROSTER)
    people = lms.read_roster(canvas)
    assert [p["name"] for p in people] == ["Smith, Alice", "Jones, Bob", "Zed, Zoe"]
    assert people[0] == {"name": "Smith, Alice", "canvas_id": "1001", "sis_user_id": "S1", "sis_login_id": "asmith",
                         "section": "Section A"}
    moodle = tmp_path / "worksheet.csv"
    moodle.write_text("Identifier,Full name,Email address,Status,Grade\n"
                      "Participant 4242,Ana Díaz,ana@uni.example,Submitted for grading,\n")
    assert lms.read_roster(moodle) == [{"participant": "4242", "name": "Ana Díaz", "email": "ana@uni.example"}]


# ---------- a real graded class ----------

@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """alice (on time) and bob (30 h late) from Canvas's zip, graded by `python -m grader autograde`."""
    folder = tmp_path_factory.mktemp("lms")
    archive = folder / "canvas_submissions.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for student, (name, when) in ENTRIES.items():
            z.writestr(*_entry(name, when, (EXAMPLES / student / LAB.notebook_name).read_bytes()))
    (folder / "roster.csv").write_text(CANVAS_ROSTER)
    course = folder / "course"
    assert main(["autograde", "lab1", str(archive), "--course-dir", str(course), "--workers", "2",
                 "--memory-mb", "3000", "--no-progress"]) == 0
    return course


def _export(course, fmt, *extra):
    assert main(["export", "lab1", "--course-dir", str(course), "--format", fmt, *extra]) == 0
    return course / "exports" / f"{LAB.name}_{fmt}.csv", course / "exports" / f"{LAB.name}_{fmt}_review.csv"


@pytest.mark.slow
def test_canvas_export_keyed_by_canvas_ids_with_roster_and_late_penalty(course):
    exported, review = _export(course, "canvas", "--roster", str(course.parent / "roster.csv"),
                               "--assignment", "Lab 1 (777)", *POLICY)
    rows = _rows(exported)
    assert rows[0][:6] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab 1 (777)"]
    questions = [name for name, _ in lms.questions(LAB)]
    assert rows[0][6:] == [f"{LAB.name}: {q}" for q in questions]
    assert rows[1][0].strip() == "Points Possible" and float(rows[1][5]) == sum(float(p) for p in rows[1][6:])
    by_id = {row[1]: row for row in rows[2:]}
    assert set(by_id) == {"1001", "1002", "1003"}
    assert by_id["1001"][:5] == ["Smith, Alice", "1001", "S1", "asmith", "Section A"]
    assert float(by_id["1001"][5]) == ALICE  # on time; written answers still wait for hand grading
    assert float(by_id["1002"][5]) == pytest.approx(BOB * 0.8)  # 30 h late: two started days, 10 % each
    assert by_id["1002"][6 + questions.index("q_nonlinearity")] == ""  # not graded by hand yet: blank
    assert by_id["1003"][5:] == [""] * (1 + len(questions))  # on the roster, nothing handed in
    status = {row["student"]: row for row in csv.DictReader(open(review))}
    assert status["zzed"]["status"] == "no submission"
    assert (status["jonesbob"]["raw_total"], status["jonesbob"]["penalty_percent"]) == (f"{BOB:g}", "20")
    assert status["jonesbob"]["hours_late"] == "30" and "late (30 h)" in status["jonesbob"]["notes"]


@pytest.mark.slow
def test_moodle_export_with_identifier_column_feedback_and_manifest_times(course, tmp_path):
    roster = tmp_path / "people.csv"
    roster.write_text("student,name,email\nsmithalice,Alice Smith,alice@uni.example\n"
                      "jonesbob,Bob Jones,bob@uni.example\nzoe,Zoe Zed,zoe@uni.example\n")
    manifest = tmp_path / "times.csv"  # the instructor's own record: bob was on time after all
    manifest.write_text(f"student,submitted_at\njonesbob,{(DEADLINE - datetime.timedelta(minutes=1)).isoformat()}\n")
    exported, _ = _export(course, "moodle", "--roster", str(roster), "--timestamps", str(manifest), *POLICY)
    rows = _rows(exported)
    assert rows[0][:2] == ["Email address", "Full name"] and rows[0][-2:] == [f"{LAB.name}: total",
                                                                              f"Feedback: {LAB.name}"]
    by_email = {row[0]: row for row in rows[1:]}
    assert float(by_email["bob@uni.example"][-2]) == BOB
    assert by_email["zoe@uni.example"][-1] == "no submission" and by_email["zoe@uni.example"][-2] == ""
    assert "waiting for hand grading" in by_email["alice@uni.example"][-1]


@pytest.mark.slow
def test_exporting_again_or_regrading_never_compounds_the_penalty(course):
    arguments = ("--roster", str(course.parent / "roster.csv"), *POLICY)
    first = [path.read_bytes() for path in _export(course, "canvas", *arguments)]
    assert [path.read_bytes() for path in _export(course, "canvas", *arguments)] == first
    (course / "results" / LAB.name / "jonesbob.json").unlink()  # regrade bob from scratch
    assert main(["autograde", "lab1", str(course.parent / "canvas_submissions.zip"), "--course-dir", str(course),
                 "--workers", "1", "--memory-mb", "3000", "--no-progress"]) == 0
    assert [path.read_bytes() for path in _export(course, "canvas", *arguments)] == first
