"""Pairs of submissions whose answer code is unusually alike, for a person to judge.

Each student's code answer cells are joined into one document and fingerprinted with copydetect
(tokenised: names, strings and comments do not count, so renaming variables hides nothing; winnowed
k-grams). The released notebook's answer cells (signatures, docstrings, the stub) are the starter
code: their fingerprints are discarded first, so an untouched notebook matches nothing. A pair is
flagged when the shared code covers at least ``threshold`` of either student's own code. Nothing
here changes a grade: the pairs appear in the class summary with the matching code side by side.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader.integrity import grade_id
from grader.labs import Lab

NOISE = 25  # shortest match that counts, in characters of tokenised code (copydetect's noise threshold)
GUARANTEE = 30  # any match at least this long is found (copydetect's guarantee threshold)
THRESHOLD = 0.6  # flag a pair when shared code is at least this share of one student's own code
MIN_SHARED = 100  # and at least this many characters of tokenised code are shared


@dataclass
class Pair:
    """Two students and what they share: ``share`` is the shared part of each one's own code (0-1);
    ``first_html`` and ``second_html`` are their code with the shared spans in ``<mark>``."""

    first: str
    second: str
    share: tuple[float, float]
    first_html: str
    second_html: str


def answer_cell_ids(released: nbformat.NotebookNode) -> list[str]:
    """The grade_ids of the released notebook's code answer cells, in notebook order."""
    return [grade_id(c) for c in released.cells if c.cell_type == "code"
            and c.get("metadata", {}).get("nbgrader", {}).get("solution")]


def answer_code(notebook: nbformat.NotebookNode, cell_ids: list[str]) -> str:
    """The notebook's code answer cells ``cell_ids`` as one Python document, each under a comment
    naming the cell; cells the notebook lacks are left out."""
    by_id = {grade_id(c): c.source for c in notebook.cells if c.cell_type == "code" and grade_id(c)}
    return "".join(f"# --- {gid}\n{by_id[gid]}\n\n" for gid in cell_ids if gid in by_id)


def _fingerprint(code: str, boilerplate):
    from copydetect import CodeFingerprint

    return CodeFingerprint("answers.py", NOISE, GUARANTEE - NOISE + 1, boilerplate=boilerplate,
                           fp=io.StringIO(code))


def similar_pairs(codes: dict[str, str], starter: str, threshold: float = THRESHOLD) -> list[Pair]:
    """Every pair of ``codes`` (student -> answer code) sharing more than the ``starter`` code.

    Returns the flagged pairs, most alike first.
    """
    import numpy as np
    from copydetect import CodeFingerprint, compare_files
    from copydetect.utils import highlight_overlap

    boilerplate = np.array(list(CodeFingerprint("starter.py", NOISE, 1, fp=io.StringIO(starter)).hashes))
    prints = {student: _fingerprint(code, boilerplate) for student, code in sorted(codes.items())}
    pairs = []
    for (a, first), (b, second) in itertools.combinations(prints.items(), 2):
        shared, share, slices = compare_files(first, second)
        if shared < MIN_SHARED or max(share) < threshold:
            continue
        marked = [highlight_overlap(doc.raw_code, spans, "<mark>", "</mark>", truncate=8, escape_html=True)[0]
                  for doc, spans in ((first, slices[0]), (second, slices[1]))]
        pairs.append(Pair(a, b, (float(share[0]), float(share[1])), *marked))
    return sorted(pairs, key=lambda p: -max(p.share))


def course_pairs(course: Path, lab: Lab, students: list[str], threshold: float = THRESHOLD) -> list[Pair]:
    """The flagged pairs among ``students``' submitted notebooks in the course folder ``course``.

    Reads ``course/submitted/<student>/<lab>/<notebook>`` (the original bytes); files that are not
    notebooks are skipped (their status already says why).
    """
    released = nbformat.read(lab.release, as_version=4)
    cell_ids = answer_cell_ids(released)
    codes = {}
    for student in students:
        path = course / "submitted" / student / lab.name / lab.notebook_name
        try:
            codes[student] = answer_code(nbformat.read(path, as_version=4), cell_ids)
        except (OSError, ValueError, UnicodeDecodeError, nbformat.ValidationError, AttributeError):
            continue
    return similar_pairs(codes, answer_code(released, cell_ids), threshold)
