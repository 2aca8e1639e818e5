"""Intake: find every student's submission in a folder or an LMS zip, keep the original bytes.

Nothing here parses a notebook; problems found at intake (an unsafe zip path,
an empty folder, a file too large) travel with the submission as ``problem``.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_BYTES = 20 * 1024 * 1024
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ID_IN_FILENAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9.-]{0,63})")


@dataclass
class Submission:
    """One student's file: ``data`` are the untouched bytes; ``problem`` is why it cannot be graded."""

    student: str
    filename: str
    data: bytes
    problem: str | None = None

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
    if len(entry.parts) > 1:
        return entry.parts[-2]
    match = ID_IN_FILENAME.match(entry.stem)
    return match.group(1) if match else entry.stem


def _from_zip(path: Path) -> list[Submission]:
    by_student: dict[str, Submission] = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.endswith(".ipynb"):
                continue
            entry = PurePosixPath(info.filename.replace("\\", "/"))
            student = _student_of(entry)
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
            by_student[student] = Submission(student, entry.name, data, problem)
    return list(by_student.values())


def collect(path: Path, notebook_name: str) -> list[Submission]:
    """All submissions in ``path``: a folder of ``<student_id>/<notebook>.ipynb`` or an LMS zip.

    In a zip the student id is the entry's folder, or the start of its file name up to
    the first ``_`` (``jdoe_12345_lab1.ipynb`` -> ``jdoe``); the last entry of a student wins.
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
