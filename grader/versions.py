"""Versions of a released lab: which release a submission came from, and the earlier releases kept.

Every released notebook records ``metadata.course = {"lab", "version", "tag", "release"}``.
``version`` is a hash of what grading depends on (code cells, answer cells' stubs, grading
settings), not of the instruction text: a release that only rewords the instructions keeps its
version, and a submission with the older wording is reconciled with the current release (the text
is only noted). When a release changes the version, the replaced notebook is kept in
``grader/releases/<lab>/<version>.ipynb`` (the newest ``keep_releases`` of them, by ``release``
number), and a submission made from it is checked for tampering against it, then graded with the
current release's cells and hidden checks.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from grader.integrity import Reconciled, grade_id, is_instruction_text, is_locked, reconcile, reconcile_release
from grader.labs import Lab

VERSION = re.compile(r"[0-9a-f]{12}")


def release_version(notebook: NotebookNode) -> str:
    """12 hex digits that change whenever a cell that grading depends on changes."""
    cells = []
    for cell in notebook.cells:
        gid = grade_id(cell)
        if gid is None or is_instruction_text(cell):
            continue
        meta = cell.metadata["nbgrader"]
        settings = [meta.get(key) for key in ("grade", "solution", "locked", "points")]
        source = "\n".join(line.rstrip() for line in cell.source.strip().splitlines())
        cells.append([gid, cell.cell_type, settings, source])
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()[:12]


def course_metadata(notebook: NotebookNode) -> dict:
    """The notebook's ``metadata.course`` if it is a well-formed dict, else ``{}`` (submissions are untrusted)."""
    meta = notebook.get("metadata", {}).get("course")
    return meta if isinstance(meta, dict) else {}


def archive_dir(lab: Lab) -> Path:
    return lab.root / "grader" / "releases" / lab.name


def archived(lab: Lab) -> dict[str, NotebookNode]:
    """The kept earlier releases of ``lab`` by version."""
    found = {}
    for path in sorted(archive_dir(lab).glob("*.ipynb")):
        if VERSION.fullmatch(path.stem):
            found[path.stem] = nbformat.read(path, as_version=4)
    return found


def archive(lab: Lab, previous: NotebookNode, keep: int) -> Path:
    """Keep ``previous`` (a release being replaced) and drop all but the newest ``keep`` kept releases."""
    folder = archive_dir(lab)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{release_version(previous)}.ipynb"
    nbformat.write(previous, str(path))
    kept = sorted(folder.glob("*.ipynb"), key=lambda p: course_metadata(nbformat.read(p, as_version=4))
                  .get("release", 0), reverse=True)
    for old in kept[keep:]:
        old.unlink()
    return path


def _matching_locked_cells(submitted: NotebookNode, release: NotebookNode) -> int:
    ours = {grade_id(c): c.source.strip() for c in submitted.cells if grade_id(c)}
    return sum(1 for c in release.cells if grade_id(c) and is_locked(c) and c.cell_type == "code"
               and ours.get(grade_id(c)) == c.source.strip())


def origin_release(lab: Lab, submitted: NotebookNode, current: NotebookNode) -> tuple[NotebookNode | None, list[str]]:
    """The earlier release ``submitted`` was made from (``None``: the current one), and notes on the choice.

    The version in the notebook's metadata names it; without one (an editor that drops notebook
    metadata), the kept release whose locked code cells the submission matches best, if it matches
    better than the current release.
    """
    meta, notes = course_metadata(submitted), []
    version = meta.get("version")
    if meta.get("lab") not in (None, lab.name):
        notes.append(f"the notebook's metadata names lab {str(meta.get('lab'))[:40]!r}, not {lab.name}")
    if version == release_version(current):
        return None, notes
    earlier = archived(lab)
    if isinstance(version, str) and VERSION.fullmatch(version):
        if version in earlier:
            return earlier[version], notes + [f"made from an earlier release of the lab ({version})"]
        return None, notes + [f"made from release {version}, which the grader does not keep: "
                              "compared with the current release"]
    if version is not None:
        notes.append("the notebook's release version is malformed: compared with the current release")
        return None, notes
    best = max(earlier.items(), key=lambda item: _matching_locked_cells(submitted, item[1]), default=None)
    if best and _matching_locked_cells(submitted, best[1]) > _matching_locked_cells(submitted, current):
        return best[1], notes + [f"no release version in the notebook: its cells match the earlier release {best[0]}"]
    return None, notes


def reconcile_submission(lab: Lab, submitted: NotebookNode) -> Reconciled:
    """Reconcile ``submitted`` with the release it came from and the current release of ``lab``."""
    current = nbformat.read(lab.release, as_version=4)
    origin, notes = origin_release(lab, submitted, current)
    result = reconcile(submitted, current) if origin is None else reconcile_release(submitted, origin, current)
    result.notes[:0] = notes
    return result
