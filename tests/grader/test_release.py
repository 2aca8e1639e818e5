"""The course's address (course.toml) reaches every link, and releases are versioned for grading."""

import os
import re
import shutil
import tomllib
from pathlib import Path

import nbformat
import pytest

import course_utils
from grader import sandbox, versions
from grader.integrity import grade_id, is_instruction_text, reconcile
from grader.labs import REPO, Lab, all_labs, find_lab
from grader.release import (
    COLAB_LINK,
    CourseSettings,
    install_sources,
    read_settings,
    release,
    stamp,
    stamp_project,
    stamped_files,
)

SETTINGS = read_settings()
RELEASED = sorted(p for p in (REPO / "labs").glob("lab*_*/*.ipynb") if p.stem == p.parent.name)
FORK = 'repository = "https://github.com/fork-org/dl-labs"\ntag = "v2.0.0"\nkeep_releases = 2\n'


def _links(text: str) -> list[str]:
    return re.findall(r"https://colab\.research\.google\.com/github/[^\s)\"']+", text)


def test_every_lab_is_released_and_nothing_else():
    assert [p.parent.name for p in RELEASED] == [lab.name for lab in all_labs()]


@pytest.mark.parametrize("path", RELEASED, ids=lambda p: p.stem)
def test_released_notebook_agrees_with_the_setting(path):
    notebook = nbformat.read(path, as_version=4)
    text = "\n".join(cell.source for cell in notebook.cells)
    assert _links(notebook.cells[0].source)[0] == SETTINGS.colab_url(str(path.relative_to(REPO)))
    assert all(link.startswith(SETTINGS.colab_url("")) for link in _links(text))
    installs = install_sources(text)
    assert installs and set(installs) == {SETTINGS.pip_source}
    number = notebook.metadata["course"].get("release")
    assert notebook.metadata["course"] == {"lab": path.stem, "version": versions.release_version(notebook),
                                           "tag": SETTINGS.tag, "release": number}
    earlier = [old.metadata["course"]["release"] for old in versions.archived(find_lab(path.stem)).values()]
    assert isinstance(number, int) and number >= 1 and all(n < number for n in earlier), (number, earlier)


@pytest.mark.parametrize("path", sorted((REPO / "grader").glob("*.ipynb")), ids=lambda p: p.stem)
def test_instructor_notebook_agrees_with_the_setting(path):
    text = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
    assert _links(text) == [SETTINGS.colab_url(str(path.relative_to(REPO)))]
    assert set(install_sources(text)) == {SETTINGS.pip_source}


def test_readme_badges_and_package_metadata_agree_with_the_setting():
    readme = (REPO / "README.md").read_text()
    for link in _links(readme):
        assert link.startswith(SETTINGS.colab_url("")), link
        assert (REPO / link.removeprefix(SETTINGS.colab_url(""))).is_file(), f"{link} names no notebook"
    assert set(install_sources(readme)) == {SETTINGS.pip_source}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["urls"]["Repository"] == SETTINGS.repository
    assert project["version"] == SETTINGS.version == course_utils.__version__


@pytest.mark.parametrize("path", RELEASED, ids=lambda p: p.stem)
def test_every_released_lab_has_a_readme_badge(path):
    assert SETTINGS.colab_url(str(path.relative_to(REPO))) in _links((REPO / "README.md").read_text()), \
        f"add {path.stem} to README.md's table of labs, with its Colab badge"


def test_stamp_rewrites_the_course_address_only():
    settings = CourseSettings("https://github.com/fork-org/dl-labs", "v2.0.0")
    others = ("[MIT](https://colab.research.google.com/github/aamini/introtodeeplearning/blob/master/lab1/a.ipynb) "
              "pip install git+https://github.com/openai/gym@v1 ")
    text = ("[x](https://colab.research.google.com/github/a/b/blob/main/labs/l/l.ipynb) "
            '"course-utils @ git+https://github.com/a/b@v0.1.0" course_utils[tf,faces]@git+https://github.com/a/b.git')
    assert stamp(others + text, settings) == others + (
        "[x](https://colab.research.google.com/github/fork-org/dl-labs/blob/v2.0.0/labs/l/l.ipynb) "
        '"course-utils @ git+https://github.com/fork-org/dl-labs@v2.0.0" '
        "course_utils[tf,faces]@git+https://github.com/fork-org/dl-labs@v2.0.0")


@pytest.mark.parametrize("bad", ['repository = "https://gitlab.com/a/b"\ntag = "v1"',
                                 'repository = "https://github.com/a/b"\ntag = "latest"'])
def test_settings_are_checked(tmp_path, bad):
    (tmp_path / "course.toml").write_text(bad)
    with pytest.raises(ValueError, match="must be"):
        read_settings(tmp_path)


def test_a_fork_changes_one_file_and_release_stamps_the_rest(tmp_path):
    for path in stamped_files():
        if path.is_file():
            (tmp_path / path.relative_to(REPO)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, tmp_path / path.relative_to(REPO))
    (tmp_path / "course.toml").write_text(FORK)
    changed = stamp_project(tmp_path)
    assert {p.name for p in changed} >= {"README.md", "pyproject.toml", "__init__.py"}
    for path in changed:
        text = path.read_text()
        assert "course-labs/deep-learning-labs" not in text and ("fork-org/dl-labs" in text or "2.0.0" in text)
    assert stamp_project(tmp_path) == []


# Versioned releases: release v1, a student works on it, release v2 adds an exercise and changes a check cell.

NEW_ANSWER = "# TODO: softplus\n### BEGIN SOLUTION\ndef softplus(z):\n    return np.log1p(np.exp(z))\n### END SOLUTION"


def _nbgrader(grade_id, **settings):
    return {"nbgrader": {"grade_id": grade_id, "schema_version": 3, "task": False, "grade": False,
                         "solution": False, "locked": False, **settings}}


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A fork of lab 1 released twice, and a submission made from the first release (alice's answers)."""
    root = tmp_path_factory.mktemp("course")
    lab = Lab("lab1_perceptron", root)
    lab.solution.parent.mkdir(parents=True)
    shutil.copy(REPO / "solutions" / lab.name / lab.notebook_name, lab.solution)
    lab.checks.parent.mkdir(parents=True)
    shutil.copy(REPO / "grader" / "checks" / lab.checks.name, lab.checks)
    (root / "course.toml").write_text(FORK)
    v1 = nbformat.read(release(lab), as_version=4)
    answers = {grade_id(c): c.source for c in nbformat.read(REPO / "grader" / "examples" / lab.name / "alice" /
                                                             lab.notebook_name, as_version=4).cells}
    submission = nbformat.read(lab.release, as_version=4)
    for cell in submission.cells:
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    solution = nbformat.read(lab.solution, as_version=4)
    check = next(i for i, c in enumerate(solution.cells) if grade_id(c) == "activations")
    solution.cells[check].source += "\n# v2: the same check, reworded"
    solution.cells[check + 1:check + 1] = [
        nbformat.v4.new_code_cell(NEW_ANSWER, metadata=_nbgrader("softplus_impl", solution=True)),
        nbformat.v4.new_code_cell("softplus(0.0)", metadata=_nbgrader("softplus", grade=True, locked=True, points=1))]
    nbformat.write(solution, str(lab.solution))
    v2 = nbformat.read(release(lab), as_version=4)
    return {"lab": lab, "v1": v1, "v2": v2, "submission": submission}


@pytest.mark.slow
def test_release_stamps_the_fork_and_records_versions(history):
    from nbgrader.utils import compute_checksum

    v1, v2, lab = history["v1"], history["v2"], history["lab"]
    settings = read_settings(lab.root)
    assert COLAB_LINK.search(v1.cells[0].source).group() == settings.colab_url("")
    assert settings.pip_source in v1.cells[1].source and "course-labs" not in nbformat.writes(v1)
    assert all(compute_checksum(c) == c.metadata.nbgrader.checksum for c in v1.cells if "checksum" in
               c.metadata.get("nbgrader", {}))
    assert v1.metadata.course["release"] == 1 and v2.metadata.course["release"] == 2
    kept = versions.archived(lab)
    assert list(kept) == [v1.metadata.course["version"]] != [v2.metadata.course["version"]]


@pytest.mark.slow
def test_submission_from_an_earlier_release_is_not_tampered(history):
    lab, submission = history["lab"], history["submission"]
    assert any("activations was changed" in t for t in reconcile(submission, history["v2"]).tampered)
    result = versions.reconcile_submission(lab, submission)
    assert result.tampered == [] and result.missing_answers == ["softplus_impl"]
    assert any("earlier release" in n for n in result.notes) and any("softplus" in n for n in result.notes)
    graded = {grade_id(c): c for c in result.notebook.cells}
    assert graded["activations"].source.endswith("reworded") and graded["softplus"].source == "softplus(0.0)"
    assert graded["perceptron_impl"].source == next(c.source for c in submission.cells
                                                    if grade_id(c) == "perceptron_impl")


@pytest.mark.slow
def test_earlier_release_still_catches_tampering_and_guesses_a_missing_version(history):
    lab = history["lab"]
    edited = nbformat.from_dict(history["submission"])
    next(c for c in edited.cells if grade_id(c) == "losses").source = "print('PASSED')"
    assert any("losses was changed" in t for t in versions.reconcile_submission(lab, edited).tampered)
    stripped = nbformat.from_dict(history["submission"])
    del stripped.metadata["course"]
    result = versions.reconcile_submission(lab, stripped)
    assert result.tampered == [] and any("match the earlier release" in n for n in result.notes)
    for claim, note in (("0123456789ab", "does not keep"), ("../../etc/passwd", "malformed")):
        forged = nbformat.from_dict(history["submission"])
        forged.metadata.course["version"] = claim
        assert any(note in n for n in versions.reconcile_submission(lab, forged).notes)


@pytest.mark.slow
def test_grading_a_submission_from_an_earlier_release(history):
    """The real grading path (a kernel runs the notebook, the hidden checks judge it): the new exercise is
    missing, nothing is tampered. Isolation is beside the point here, so the kernel runs unsandboxed."""
    from grader.pipeline import Job, grade

    lab = history["lab"]
    data = [Path(os.environ["COURSE_DATA_DIR"]).resolve()] if os.environ.get("COURSE_DATA_DIR") else []
    env = {"COURSE_MODE": "smoke", **({"COURSE_DATA_DIR": str(data[0])} if data else {})}
    limits = sandbox.Limits(memory_mb=3000, cell_seconds=120, notebook_seconds=480)
    result = grade(Job(lab, "alice", nbformat.writes(history["submission"]).encode(), None, limits, data, env,
                       level="none"))
    assert result["status"] == "missing answer", result["reasons"]
    assert not any("tamper" in r or "changed" in r for r in result["reasons"])
    assert result["score"] > 0 and result["missing_answers"] == ["softplus_impl"]


def test_version_changes_with_what_grading_depends_on_not_with_instruction_text():
    notebook = nbformat.read(RELEASED[0], as_version=4)
    version = versions.release_version(notebook)
    text = next(c for c in notebook.cells if is_instruction_text(c))
    text.source += "\nReworded."
    assert versions.release_version(notebook) == version
    check = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code")
    check.metadata.nbgrader.points += 1
    assert versions.release_version(notebook) != version


def test_archive_keeps_the_newest_releases(tmp_path):
    lab = Lab(RELEASED[0].stem, tmp_path)
    notebook = nbformat.read(RELEASED[0], as_version=4)
    made = []
    for number in range(1, 5):
        notebook.cells[1].source += f"\n# release {number}"
        notebook.metadata["course"] = {"lab": lab.name, "release": number}
        made.append(versions.archive(lab, nbformat.from_dict(notebook), keep=2).stem)
    assert sorted(versions.archived(lab)) == sorted(made[2:])
