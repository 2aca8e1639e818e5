"""Intake: find every student's submission in a folder or an LMS zip, keep the original bytes.

Nothing here parses a notebook; problems found at intake (an unsafe zip path,
an empty folder, a file too large) travel with the submission as ``problem``.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import re
import struct
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_BYTES = 20 * 1024 * 1024
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ID_IN_FILENAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9.-]{0,63})")
# Moodle: "<Full name>_<participant id>_assignsubmission_file_<file>", or that prefix as a folder.
MOODLE_ENTRY = re.compile(r"^(?P<name>.+?)_(?P<participant>\d+)_assignsubmission_file")


@dataclass
class Submission:
    """One student's file: ``data`` are the untouched bytes; ``problem`` is why it cannot be graded.

    ``entry`` is the file's path in a zip (an LMS names it after the student) and ``submitted_at``
    the time the zip gives it: ISO 8601, ``+00:00`` when the zip stores UTC, naive when it holds only
    the DOS local time.
    """

    student: str
    filename: str
    data: bytes
    problem: str | None = None
    entry: str = ""
    submitted_at: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _from_folder(root: Path, notebook_name: str) -> list[Submission]:
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        notebooks = sorted(folder.glob("*.ipynb"))
        preferred = [p for p in notebooks if p.name == notebook_name]
        if not notebooks:
            found.append(Submission(folder.name, "", b"", "no .ipynb file in the submission folder"))
            continue
        chosen = (preferred or notebooks)[0]
        note = f"several notebooks; graded {chosen.name}" if len(notebooks) > 1 and not preferred else None
        found.append(_read(folder.name, chosen, note))
    return found


def _read(student: str, path: Path, note: str | None) -> Submission:
    if path.stat().st_size > MAX_BYTES:
        return Submission(student, path.name, b"", f"file too large ({path.stat().st_size:,} bytes)")
    return Submission(student, f"{path.name} ({note})" if note else path.name, path.read_bytes())


def _student_of(entry: PurePosixPath) -> str:
    named = entry.parts[-2] if len(entry.parts) > 1 else entry.name
    moodle = MOODLE_ENTRY.match(named)
    if moodle:
        return moodle_student_id(moodle["name"], moodle["participant"])
    if len(entry.parts) > 1:
        return named
    match = ID_IN_FILENAME.match(entry.stem)
    return match.group(1) if match else entry.stem


def moodle_student_id(name: str, participant: str) -> str:
    """A safe id for a Moodle entry: ``Jane Doe_123_...`` -> ``jane-doe-123``."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", plain).strip("-")
    return f"{slug[:40]}-{participant}" if slug else f"participant-{participant}"


def entry_time(info: zipfile.ZipInfo) -> str:
    """The entry's modification time: the UTC time of the extended-timestamp field when present,
    else the naive local time of the DOS header."""
    extra = info.extra
    while len(extra) >= 4:
        kind, size = struct.unpack("<HH", extra[:4])
        body = extra[4:4 + size]
        if kind == 0x5455 and size >= 5 and body[0] & 1:
            seconds = struct.unpack("<i", body[1:5])[0]
            return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat()
        extra = extra[4 + size:]
    return datetime.datetime(*info.date_time).isoformat()


def read_manifest(path: Path) -> dict[str, str]:
    """``student,submitted_at`` rows of a CSV (ISO 8601 times) as a dict; a clear error on a bad row."""
    times = {}
    with open(path, newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            try:
                student, when = row["student"].strip(), row["submitted_at"].strip()
                datetime.datetime.fromisoformat(when)
            except (KeyError, AttributeError, ValueError) as error:
                raise SystemExit(f"{path}, line {number}: need columns student,submitted_at with an ISO 8601 "
                                 f"time ({error})") from None
            times[student] = when
    return times


def _from_zip(path: Path) -> list[Submission]:
    by_student: dict[str, Submission] = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.endswith(".ipynb"):
                continue
            entry = PurePosixPath(info.filename.replace("\\", "/"))
            student = _student_of(entry)
            when = entry_time(info)
            if entry.is_absolute() or ".." in entry.parts:
                student = student if STUDENT_ID.match(student) else "unsafe-entry"
                by_student[student] = Submission(student, info.filename, b"",
                                                 f"unsafe path in zip ({info.filename!r}): not extracted")
                continue
            if info.file_size > MAX_BYTES:
                by_student[student] = Submission(student, entry.name, b"",
                                                 f"file too large ({info.file_size:,} bytes)")
                continue
            with archive.open(info) as handle:
                data = handle.read(MAX_BYTES + 1)
            problem = f"file too large (over {MAX_BYTES:,} bytes)" if len(data) > MAX_BYTES else None
            by_student[student] = Submission(student, entry.name, data, problem, str(entry), when)
    return list(by_student.values())


def collect(path: Path, notebook_name: str) -> list[Submission]:
    """All submissions in ``path``: a folder of ``<student_id>/<notebook>.ipynb`` or an LMS zip.

    In a zip the student id is the entry's folder, or the start of its file name up to
    the first ``_`` (``jdoe_12345_lab1.ipynb`` -> ``jdoe``), or for Moodle's names the full name and
    participant id (``Jane Doe_123_assignsubmission_file_lab1.ipynb`` -> ``jane-doe-123``); the last
    entry of a student wins.
    Student ids that are unsafe as folder names are rejected with a reason.
    """
    if not path.exists():
        raise SystemExit(f"no submissions at {path}")
    found = _from_zip(path) if path.is_file() and zipfile.is_zipfile(path) else _from_folder(path, notebook_name)
    for submission in found:
        if not STUDENT_ID.match(submission.student):
            submission.problem = f"student id {submission.student!r} is not a safe name"
            submission.student = "invalid-" + hashlib.sha256(submission.student.encode()).hexdigest()[:8]
    return sorted(found, key=lambda s: s.student)
