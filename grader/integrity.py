"""Compare a submitted notebook with the released one: restore locked cells, flag tampering.

Cells are matched by their nbgrader ``grade_id``. Locked cells (instructions,
setup, check cells) are always graded in their released form; a changed,
deleted or duplicated code cell is reported as tampering. A locked text
(markdown) cell that differs is only noted: it cannot change a grade, and a
student who started on an earlier release of the lab has the earlier text.
Answer cells keep the student's text, with the released metadata (so nobody
edits their own points).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from nbformat import NotebookNode


@dataclass
class Reconciled:
    """The notebook to grade, plus what was wrong with the submitted one."""

    notebook: NotebookNode
    tampered: list[str] = field(default_factory=list)
    missing_answers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def is_instruction_text(cell) -> bool:
    """A locked markdown cell worth no points: the instructions, which no grade depends on."""
    return cell.cell_type == "markdown" and is_locked(cell) and not cell.metadata.get("nbgrader", {}).get("grade")


def answer_sources(notebook: NotebookNode) -> dict[str, str]:
    """The source of every answer (solution) cell of ``notebook``, by grade_id, and of every code cell the
    student added (any code cell without a grade_id), by ``(added cell N)`` (N: its index in the notebook)."""
    sources = {}
    for index, cell in enumerate(notebook.cells):
        if grade_id(cell) and cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            sources[grade_id(cell)] = cell.source
        elif grade_id(cell) is None and cell.get("cell_type") == "code":
            sources[f"(added cell {index})"] = cell.get("source", "")
    return sources


def _normalised(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _settings(cell) -> tuple:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return tuple(meta.get(key) for key in ("grade", "solution", "locked", "points"))


def is_locked(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("locked")) or (meta.get("grade", False) and not meta.get("solution", False))


def reconcile(submitted: NotebookNode, released: NotebookNode) -> Reconciled:
    """Build the notebook to grade from ``submitted``, using ``released`` as the reference."""
    reference = {grade_id(cell): cell for cell in released.cells if grade_id(cell)}
    result = Reconciled(notebook=copy.deepcopy(released))
    cells, seen = [], set()
    for cell in submitted.cells:
        gid = grade_id(cell)
        if gid is None or gid not in reference:
            if "nbgrader" in cell.get("metadata", {}):
                result.notes.append(f"a cell claiming to be nbgrader cell {gid!r} is not in the lab: "
                                    "kept as ordinary code, worth no points")
                cell = copy.deepcopy(cell)
                del cell.metadata["nbgrader"]
            cells.append(cell)
            continue
        if gid in seen:
            result.tampered.append(f"cell {gid} was duplicated: the copy was ignored")
            continue
        seen.add(gid)
        original = reference[gid]
        if is_locked(original):
            if cell.get("cell_type") != original.cell_type or _normalised(cell.get("source", "")) != \
                    _normalised(original.source):
                if is_instruction_text(original):
                    result.notes.append(f"the text of cell {gid} differs from the released lab (an earlier "
                                        "release, or an edit): the released text was used")
                else:
                    result.tampered.append(f"locked cell {gid} was changed: graded with the original")
            if _settings(cell) != _settings(original):
                result.tampered.append(f"the grading settings of cell {gid} were changed: original restored")
            cells.append(copy.deepcopy(original))
        else:
            answer = copy.deepcopy(original)
            answer.source = cell.get("source", "")
            if _settings(cell) != _settings(original):
                result.tampered.append(f"the grading settings of answer cell {gid} were changed: original restored")
            if _normalised(answer.source) == _normalised(original.source):
                result.missing_answers.append(gid)
            cells.append(answer)
    _restore_missing(cells, released, seen, result)
    result.notebook.cells = cells
    return result


def _restore_missing(cells: list, released: NotebookNode, seen: set, result: Reconciled) -> None:
    """Put back released cells the submission lacks, right after their released predecessor."""
    for index, original in enumerate(released.cells):
        gid = grade_id(original)
        if gid is None or gid in seen:
            continue
        if is_instruction_text(original):
            result.notes.append(f"text cell {gid} of the released lab is missing: restored")
        elif is_locked(original):
            result.tampered.append(f"locked cell {gid} was deleted: restored")
        else:
            result.missing_answers.append(gid)
        previous = next((grade_id(c) for c in reversed(released.cells[:index]) if grade_id(c) in seen), None)
        position = next((i + 1 for i, c in enumerate(cells) if previous and grade_id(c) == previous), 0)
        cells.insert(position, copy.deepcopy(original))
        seen.add(gid)


def reconcile_release(submitted: NotebookNode, origin: NotebookNode, current: NotebookNode) -> Reconciled:
    """Reconcile a submission made from the earlier release ``origin`` with the ``current`` release.

    Tampering is judged against ``origin``, the notebook the student was given. The notebook to grade
    is the current release's, with the student's answers: what changed between the two releases (a new
    check cell, a changed setup cell) is nobody's tampering, and an answer cell added since counts as
    a missing answer.
    """
    own = reconcile(submitted, origin)
    graded = reconcile(own.notebook, current)
    present = {grade_id(cell) for cell in current.cells}
    earlier = {grade_id(cell) for cell in origin.cells}
    added = [grade_id(c) for c in current.cells if grade_id(c) and grade_id(c) not in earlier
             and not is_instruction_text(c)]
    missing = set(graded.missing_answers) | (set(own.missing_answers) & present)
    notes = own.notes + (["cells added by the current release: " + ", ".join(added)] if added else [])
    return Reconciled(notebook=graded.notebook, tampered=own.tampered, notes=notes,
                      missing_answers=[gid for gid in (grade_id(c) for c in current.cells) if gid in missing])
