"""Repository invariants: clean notebooks, fresh labs/, no leaked solutions, consistent points and deps."""

import ast
import json
import re
import subprocess
import sys
import tomllib
import zipfile
from collections import defaultdict

import nbformat
import pytest

from grader.labs import REPO, all_labs
from grader.release import COLAB_LINK, NBGRADER_SECRETS, install_sources, student_notebook

LABS = all_labs()
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def _notebooks():
    return sorted((REPO / "labs").glob("*/*.ipynb")) + sorted((REPO / "solutions").glob("*/*.ipynb"))


def test_there_are_labs():
    assert [lab.short for lab in LABS][:1] == ["lab1"]


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: str(p.relative_to(REPO)))
def test_notebooks_are_committed_clean(path):
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name}: clear outputs"


def _comparable(notebook):
    return [(c.cell_type, c.source, {k: v for k, v in c.metadata.get("nbgrader", {}).items() if k != "checksum"})
            for c in notebook.cells]


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.name)
def test_released_lab_is_fresh_and_free_of_solutions(lab):
    assert lab.release.is_file(), f"{lab.release} is missing: run make release"
    released = nbformat.read(lab.release, as_version=4)
    assert _comparable(released) == _comparable(student_notebook(lab)), "labs/ is stale: run make release"
    text = lab.release.read_text()
    assert not [marker for marker in NBGRADER_SECRETS if marker in text]
    # The answer cell's released lines, and every comment with its '#' taken off: a TODO must not spell out
    # the answer (demo code elsewhere may show a line the answer also uses).
    comments = [line.strip().lstrip("#").strip() for c in released.cells if c.cell_type == "code"
                for line in c.source.splitlines() if line.strip().startswith("#")]
    released_lines = {c.metadata.get("nbgrader", {}).get("grade_id"): [line.strip() for line in c.source.splitlines()]
                      for c in released.cells}
    for cell in nbformat.read(lab.solution, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            continue
        for region in cell.source.split("### BEGIN SOLUTION")[1:]:
            answer = [line.strip() for line in region.split("### END SOLUTION")[0].splitlines() if line.strip()]
            leaked = [line for line in answer if len(line) >= 12 and (
                line in released_lines[meta["grade_id"]] or any(line in comment for comment in comments))]
            assert not leaked, f"solution text of {lab.name}/{meta['grade_id']} reaches the student notebook: {leaked}"


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.name)
def test_solution_notebook_anatomy(lab):
    """Cell ids are unique, the set-up cell seeds with the lab's number, every answer cell has a TODO and a solution,
    every check cell is worth points (the points themselves are checked against the hidden checks below)."""
    notebook = nbformat.read(lab.solution, as_version=4)
    meta = [(c, c.metadata["nbgrader"]) for c in notebook.cells if "nbgrader" in c.metadata]
    ids = [m["grade_id"] for _, m in meta]
    assert len(ids) == len(set(ids)), f"repeated grade_ids in {lab.name}"
    assert f"course_utils.setup(seed={lab.short.removeprefix('lab')})" in notebook.cells[1].source
    for cell, m in meta:
        if m.get("solution") and cell.cell_type == "code":
            assert "# TODO" in cell.source and "### BEGIN SOLUTION" in cell.source, f"{lab.name}/{m['grade_id']}"
        if m.get("grade"):
            assert m.get("points", 0) > 0, f"{lab.name}/{m['grade_id']} is graded but worth no points"


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.name)
def test_lab_header_links_to_itself_and_pins_the_release(lab):
    """The header has a Colab badge and a pinned install line for release to stamp (tests/grader/test_release.py)."""
    notebook = nbformat.read(lab.solution, as_version=4)
    link = COLAB_LINK.search(notebook.cells[0].source)
    assert link and notebook.cells[0].source[link.end():].startswith(f"labs/{lab.name}/{lab.notebook_name}")
    setup = notebook.cells[1].source
    assert "@" in install_sources(setup)[0] and "course_utils.setup(seed=" in setup


def _hidden_points(lab):
    totals = defaultdict(float)
    tree = ast.parse(lab.checks.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            marks = [d for d in node.decorator_list
                     if isinstance(d, ast.Call) and getattr(d.func, "id", "") == "points"]
            assert len(marks) == 1, f"{lab.checks.name}::{node.name} needs exactly one @points(...)"
            question = next(k.value.value for k in marks[0].keywords if k.arg == "question")
            totals[question] += float(ast.literal_eval(marks[0].args[0]))
    return dict(totals)


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.name)
def test_hidden_points_match_the_notebook(lab):
    notebook = nbformat.read(lab.solution, as_version=4)
    cells = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in notebook.cells
             if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}
    assert cells and _hidden_points(lab) == pytest.approx(cells)
    written = [c for c in notebook.cells if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade")]
    assert len(written) >= 2, "each lab has at least two written questions"
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            assert "# TODO" in cell.source and "### BEGIN SOLUTION" in cell.source


def _requirement_names(requirements):
    return {re.split(r"[<>=!~\[ ]", r)[0].lower().replace("_", "-"): r for r in requirements}


def test_environment_yml_matches_pyproject():
    import yaml

    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    declared = PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["dev"] \
        + PYPROJECT["project"]["optional-dependencies"]["tf-cpu"]
    assert _requirement_names([p for p in pip if not p.startswith("-e")]) == _requirement_names(declared)


@pytest.mark.slow
def test_wheel_holds_only_course_utils(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True)
    names = zipfile.ZipFile(next(tmp_path.glob("*.whl"))).namelist()
    packages = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert packages == {"course_utils"}
    assert not [n for n in names if "test_" in n or "solutions" in n or "grader" in n]
