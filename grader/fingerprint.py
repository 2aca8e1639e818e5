"""Which version of a lab and of the grader a grade comes from.

A saved result is kept only while its fingerprint matches (else the submission is graded again), and every
worker of a cluster must have the client's fingerprint (else it is refused), so the fingerprint covers what
decides a grade and nothing else: an edit to a report, an LMS export or the command line regrades no one.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from grader.labs import REPO, Lab

# What decides a grade, besides the lab's released notebook and hidden checks: the code that runs and judges
# the student's notebook (sandbox, kernel, channel, judge, the checks' harness, the pipeline, the tamper and
# release checks) and the checks' shared diagnoses in course_utils. A change to any of these regrades a class
# and must be the same on every worker; the command line, reports, LMS exports, similarity, the mutation tool
# and the rest can change without either. ``{lab}`` is the lab's short name.
GRADE_SOURCES = ("grader/pipeline.py", "grader/judge.py", "grader/harness.py", "grader/channel.py",
                 "grader/kernel.py", "grader/sandbox.py", "grader/integrity.py", "grader/versions.py",
                 "course_utils/checks/__init__.py", "course_utils/checks/source.py", "course_utils/checks/{lab}.py")


def grade_sources(lab: Lab) -> list[Path]:
    """The files of :data:`GRADE_SOURCES` for ``lab`` in this process's checkout that exist, in a fixed order."""
    paths = (REPO / pattern.format(lab=lab.short) for pattern in GRADE_SOURCES)
    return [path for path in paths if path.is_file()]


def fingerprint(lab: Lab) -> str:
    """Changes whenever what a grade depends on changes: the released notebook, the hidden checks, or one of
    :data:`GRADE_SOURCES`."""
    digest = hashlib.sha256()
    for path in (lab.release, lab.checks, *grade_sources(lab)):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def worker_lab(lab: Lab) -> Lab:
    """The lab as this worker has it: the client's folder when this host sees it (one machine, a shared file
    system), else the worker's own checkout's copy."""
    return lab if lab.release.is_file() else Lab(lab.name)


@functools.cache
def worker_fingerprint(lab_name: str, root: str = str(REPO)) -> str:
    """:func:`fingerprint` of this process's copy of a lab, taken once: the grader it started with."""
    try:
        return fingerprint(Lab(lab_name, Path(root)))
    except OSError as error:
        return f"unavailable ({error})"
