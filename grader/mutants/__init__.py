"""Mutation testing for the checks: do they catch the mistakes students make, and only those?

Each lab keeps a catalogue, ``grader/mutants/<lab>.py`` (``lab1.py``...), with a list ``MUTANTS``
of typical wrong answers (:func:`wrong`) and of right answers written another way (:func:`right`),
each a change to one answer cell of the solution notebook::

    MUTANTS = [
        wrong("perceptron_impl", "bias left out", edits=[("x @ w + b", "x @ w")], says="bias"),
        right("activations_impl", "sigmoid via tanh", source="def sigmoid(z): ..."),
    ]

:func:`run` turns the solution into a student's notebook (solution markers removed), applies each
mutant to a copy, and grades all of them, plus the unchanged solution as a baseline, as a class of
submissions through the real pipeline (sandbox, smoke mode, hidden checks). A wrong answer is
*killed* by the hidden checks when it scores below full marks, and by the public checks when a
check cell of its notebook prints a failure; a right answer is a *false reject* when it loses points
or a public check fails. ``says`` is the word that names the mistake: the report tells whether the
failure messages contain it.

Public and hidden verdicts must agree: an entry whose public checks all print PASSED but which loses hidden
points, or whose notebook breaks in a later given cell, is a *silent penalty* (a student who saw PASSED is
misled), a defect of the checks counted apart (target 0). Entries marked ``gap=True`` were found by reading
the public checks (answers wrong by the exercise's text that a public check might let through); the report
gives their rates apart.
"""

from __future__ import annotations

import copy
import importlib
import json
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from grader.integrity import grade_id
from grader.labs import Lab

_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)


@dataclass(frozen=True)
class Mutant:
    """One changed answer cell. ``correct``: a right answer written another way, else a typical mistake."""

    cell: str
    name: str
    correct: bool
    edits: tuple[tuple[str, str], ...] = ()
    source: str | None = None
    says: str = ""
    gap: bool = False

    def apply(self, solution_source: str) -> str:
        """The answer cell's new source, from the solution's (markers already removed)."""
        if self.source is not None:
            return self.source
        text = solution_source
        for old, new in self.edits:
            count = text.count(old)
            if count != 1:
                raise ValueError(f"mutant {self.name!r}: {old!r} occurs {count} times in cell {self.cell}, not once")
            text = text.replace(old, new)
        return text


def wrong(cell: str, name: str, *, edits=(), source: str | None = None, says: str = "", gap: bool = False) -> Mutant:
    """A typical mistake in answer cell ``cell``: the checks must fail it (``says``: the word naming it).

    ``gap``: found by reading the public check, a mistake it might let through.
    """
    return Mutant(cell, name, False, tuple(tuple(e) for e in edits), source, says, gap)


def right(cell: str, name: str, *, edits=(), source: str | None = None) -> Mutant:
    """A correct answer written another way: the checks must pass it."""
    return Mutant(cell, name, True, tuple(tuple(e) for e in edits), source)


def catalogue(lab: Lab) -> list[Mutant]:
    """The lab's ``MUTANTS``; a clear error when it has none or two share a name."""
    try:
        module = importlib.import_module(f"grader.mutants.{lab.short}")
    except ModuleNotFoundError:
        raise SystemExit(f"{lab.short} has no mutant catalogue (grader/mutants/{lab.short}.py)") from None
    mutants = list(module.MUTANTS)
    names = [m.name for m in mutants]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SystemExit(f"grader/mutants/{lab.short}.py: duplicate mutant names {duplicates}")
    return mutants


def student_notebook(lab: Lab) -> nbformat.NotebookNode:
    """The solution as a student would hand it in: answers filled, solution markers gone, no outputs."""
    notebook = nbformat.read(lab.solution, as_version=4)
    for cell in notebook.cells:
        cell.source = _MARKER.sub("", cell.source)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return notebook


def mutate(notebook: nbformat.NotebookNode, mutant: Mutant) -> nbformat.NotebookNode:
    """A copy of ``notebook`` with ``mutant`` applied to its answer cell."""
    changed = copy.deepcopy(notebook)
    cell = next((c for c in changed.cells if grade_id(c) == mutant.cell), None)
    if cell is None:
        raise ValueError(f"mutant {mutant.name!r}: the lab has no cell {mutant.cell!r}")
    if not cell.metadata.get("nbgrader", {}).get("solution"):
        raise ValueError(f"mutant {mutant.name!r}: cell {mutant.cell!r} is not an answer cell")
    cell.source = mutant.apply(cell.source)
    return changed


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def given_cell_errors(notebook: nbformat.NotebookNode) -> dict[str, str]:
    """The errors raised by given code cells (neither answer nor check cell), by cell id or position."""
    errors = {}
    for index, cell in enumerate(notebook.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade") or meta.get("solution"):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                errors[meta.get("grade_id") or f"code cell {index}"] = f"{out.get('ename')}: {out.get('evalue')}"[:300]
    return errors


def public_failures(notebook: nbformat.NotebookNode) -> dict[str, str]:
    """What each failing public check cell printed, by check cell grade_id (graded, executed notebook)."""
    failures = {}
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        text = "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream")
        errors = [f"{out.get('ename')}: {out.get('evalue')}" for out in cell.get("outputs", [])
                  if out.get("output_type") == "error"]
        if "FAILED" in text or errors:
            failures[grade_id(cell)] = (text[text.find("FAILED"):] if "FAILED" in text else "; ".join(errors))[:600]
    return failures


@dataclass
class Verdict:
    """How the checks judged one mutant (or the baseline)."""

    name: str
    cell: str
    correct: bool
    says: str
    status: str
    score: float
    max_score: float
    hidden_messages: list[str] = field(default_factory=list)
    public_messages: dict[str, str] = field(default_factory=dict)
    given_errors: dict[str, str] = field(default_factory=dict)
    gap: bool = False

    @property
    def broken(self) -> bool:
        """The grader could not judge this notebook at all: the run tells nothing about the checks."""
        return self.status == "grader error" or self.max_score == 0

    @property
    def hidden_failed(self) -> bool:
        return not self.broken and self.score < self.max_score

    @property
    def public_failed(self) -> bool:
        return bool(self.public_messages)

    @property
    def silent_penalty(self) -> bool:
        """Every public check printed PASSED, yet the answer loses hidden points or breaks a later given cell."""
        return not self.broken and not self.public_failed and (self.hidden_failed or bool(self.given_errors))

    @property
    def named(self) -> bool | None:
        """Whether the hidden and the public failures (each, where it fired) name the mistake (None: no ``says``)."""
        if not self.says:
            return None
        word = self.says.lower()
        hidden = any(word in t.lower() for t in self.hidden_messages)
        public = any(word in t.lower() for t in self.public_messages.values())
        return (hidden or not self.hidden_failed) and (public or not self.public_failed) and \
            (self.hidden_failed or self.public_failed)

    @property
    def ok(self) -> bool:
        if self.broken or self.silent_penalty:
            return False
        if self.correct:
            return not self.hidden_failed and not self.public_failed
        return self.hidden_failed and self.public_failed


def _verdict(mutant: Mutant | None, result: dict, graded: Path) -> Verdict:
    notebook = nbformat.read(graded, as_version=4) if graded.is_file() else None
    return Verdict(
        name=mutant.name if mutant else "baseline (the solution)", cell=mutant.cell if mutant else "",
        correct=mutant.correct if mutant else True, says=mutant.says if mutant else "", status=result["status"],
        score=result["score"], max_score=result["max_score"],
        hidden_messages=[f"{c['question']}: {c['message']}" for c in result["checks"] if not c["passed"]]
        + [r for r in result["reasons"] if result["status"] not in ("graded", "missing answer")],
        public_messages=public_failures(notebook) if notebook else {},
        given_errors=given_cell_errors(notebook) if notebook else {}, gap=bool(mutant and mutant.gap))


def run(lab: Lab, mutants: list[Mutant], *, workers: int, limits, work: Path | None = None) -> list[Verdict]:
    """Grade the baseline and every mutant through the real pipeline; verdicts in catalogue order."""
    from grader.grading import grade_lab

    base = student_notebook(lab)
    with tempfile.TemporaryDirectory(prefix=f"mutants-{lab.short}-") as scratch:
        root = Path(work or scratch)
        submissions, ids = root / "submissions", {}
        for index, mutant in enumerate([None, *mutants]):
            student = "m00-baseline" if mutant is None else \
                f"m{index:02d}-{'right' if mutant.correct else 'wrong'}-{_slug(mutant.name)}"
            ids[student] = mutant
            notebook = base if mutant is None else mutate(base, mutant)
            (submissions / student).mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, str(submissions / student / lab.notebook_name))
        course = root / "course"
        results = grade_lab(lab, submissions, course, workers=workers, limits=limits, progress=True)
        return [_verdict(ids[r["student"]], r, course / "autograded" / r["student"] / lab.name / lab.notebook_name)
                for r in sorted(results, key=lambda r: r["student"])]


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 3) if total else None


def _kill_rates(wrong_ones: list[Verdict]) -> dict:
    named = [v.named for v in wrong_ones if v.named is not None]
    return {"hidden_kill_rate": _rate(sum(v.hidden_failed for v in wrong_ones), len(wrong_ones)),
            "public_kill_rate": _rate(sum(v.public_failed for v in wrong_ones), len(wrong_ones)),
            "messages_name_mistake": _rate(sum(named), len(named))}


def summary(verdicts: list[Verdict]) -> dict:
    """Kill rates, false rejects and silent penalties over the mutants (the baseline excluded); ``gap``: the
    same rates over the entries found by reading the public checks."""
    mutants = verdicts[1:]
    wrong_ones = [v for v in mutants if not v.correct]
    right_ones = [v for v in mutants if v.correct]
    gaps = [v for v in wrong_ones if v.gap]
    return {"wrong": len(wrong_ones), "right": len(right_ones), **_kill_rates(wrong_ones),
            "false_rejects": sum(v.hidden_failed or v.public_failed for v in right_ones),
            "silent_penalties": sum(v.silent_penalty for v in mutants),
            "gap": {"wrong": len(gaps), **_kill_rates(gaps)},
            "baseline_ok": verdicts[0].ok and verdicts[0].max_score > 0}


def report(lab: Lab, verdicts: list[Verdict]) -> str:
    """A plain-text table: one line per mutant, then the lab's rates."""
    lines = [f"{lab.name}: mutation run", f"{'':2}{'mutant':<46}{'cell':<24}{'hidden':>14}{'public':>8}  named"]
    for v in verdicts:
        mark = "ok" if v.ok else "!!"
        hidden = f"{v.score:g}/{v.max_score:g}"
        named = {None: "-", True: "yes", False: "NO"}[v.named]
        kind = "right" if v.correct else ("wrong (gap)" if v.gap else "wrong")
        lines.append(f"{mark:<2}{(kind + ': ' + v.name)[:45]:<46}{v.cell[:23]:<24}{hidden:>14}"
                     f"{'FAILED' if v.public_failed else 'passed':>8}  {named}"
                     + ("  SILENT PENALTY" if v.silent_penalty else ""))
        if not v.ok or v.named is False:
            for message in v.hidden_messages[:3]:
                lines.append(f"{'':6}hidden: {message[:150]}")
            for check, message in list(v.public_messages.items())[:2]:
                lines.append(f"{'':6}public {check}: {' '.join(message.split())[:150]}")
            for cell, error in list(v.given_errors.items())[:2]:
                lines.append(f"{'':6}given cell {cell} broke: {error[:150]}")
    s = summary(verdicts)
    lines.append(f"{lab.short}: {s['wrong']} wrong, {s['right']} right; hidden kill rate {s['hidden_kill_rate']}, "
                 f"public kill rate {s['public_kill_rate']}, false rejects {s['false_rejects']}, "
                 f"silent penalties {s['silent_penalties']}, "
                 f"messages naming the mistake {s['messages_name_mistake']}; found by reading the public checks: "
                 f"{s['gap']['wrong']} wrong, hidden kill rate {s['gap']['hidden_kill_rate']}, "
                 f"public kill rate {s['gap']['public_kill_rate']}; baseline "
                 f"{'full marks, no public failure' if s['baseline_ok'] else 'NOT CLEAN'}")
    return "\n".join(lines)


def save(lab: Lab, verdicts: list[Verdict], out: Path) -> Path:
    """Write ``<out>/<lab>.json`` (verdicts and summary) and ``<out>/<lab>.txt`` (the report)."""
    out.mkdir(parents=True, exist_ok=True)
    data = {"lab": lab.name, "summary": summary(verdicts),
            "verdicts": [{**asdict(v), "hidden_failed": v.hidden_failed, "public_failed": v.public_failed,
                          "silent_penalty": v.silent_penalty, "named": v.named, "ok": v.ok} for v in verdicts]}
    (out / f"{lab.short}.json").write_text(json.dumps(data, indent=1))
    (out / f"{lab.short}.txt").write_text(report(lab, verdicts) + "\n")
    return out / f"{lab.short}.txt"
