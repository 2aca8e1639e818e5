"""Where each lab's pieces live in the repository."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Lab:
    """One lab: ``name`` is its folder (``lab1_perceptron``), ``short`` its number (``lab1``)."""

    name: str
    root: Path = REPO

    @property
    def short(self) -> str:
        return self.name.split("_", 1)[0]

    @property
    def notebook_name(self) -> str:
        return f"{self.name}.ipynb"

    @property
    def solution(self) -> Path:
        return self.root / "solutions" / self.name / self.notebook_name

    @property
    def release(self) -> Path:
        return self.root / "labs" / self.name / self.notebook_name

    @property
    def checks(self) -> Path:
        return self.root / "grader" / "checks" / f"test_{self.short}.py"


def all_labs(root: Path = REPO) -> list[Lab]:
    """Every lab that has a solution notebook, in lab order."""
    folders = [p.name for p in (root / "solutions").glob("lab*_*") if (p / f"{p.name}.ipynb").is_file()]
    return [Lab(name, root) for name in sorted(folders, key=lambda n: int(re.match(r"lab(\d+)", n).group(1)))]


def find_lab(name: str, root: Path = REPO) -> Lab:
    """Resolve ``lab1`` or ``lab1_perceptron`` to a :class:`Lab`; a clear error otherwise."""
    for lab in all_labs(root):
        if name in (lab.name, lab.short):
            return lab
    known = ", ".join(lab.short for lab in all_labs(root)) or "none"
    raise SystemExit(f"unknown lab {name!r}; known labs: {known}")


def run_cell(source: str, filename: str, namespace: dict) -> None:
    """Execute a notebook cell's ``source`` in ``namespace`` as IPython does: compiled under ``filename`` and
    registered with linecache under it, so tracebacks, checks that read an answer's source and ``tf.function``
    (AutoGraph reads a function's source through linecache) see the cell."""
    import linecache

    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)


def solution_namespace(lab_name: str, cells: tuple[str, ...] | None = None, *, given: tuple[str, ...] = (),
                       root: Path = REPO, **preset) -> dict:
    """Run cells of a lab's solution notebook in a fresh namespace and return it.

    ``cells``: the grade_ids to run, in that order; without it, every solution cell and the given cells named
    in ``given`` (imports, constants, helpers), in notebook order. ``preset`` seeds the namespace. Each cell runs
    with :func:`run_cell` under the name ``<grade_id>``.
    """
    import nbformat

    notebook = nbformat.read(Lab(lab_name, root).solution, as_version=4)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in notebook.cells}
    if cells:
        chosen = [by_id[name] for name in cells]
    else:
        chosen = [c for c in notebook.cells if c.cell_type == "code" and (
            c.metadata.get("nbgrader", {}).get("solution") or c.metadata.get("nbgrader", {}).get("grade_id") in given)]
    namespace = dict(preset)
    for cell in chosen:
        run_cell(cell.source, f"<{cell.metadata['nbgrader']['grade_id']}>", namespace)
    return namespace
