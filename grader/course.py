"""The nbgrader side: generate student notebooks, keep a course directory and its gradebook.

A grading run's output folder is an ordinary nbgrader course directory
(``nbgrader_config.py``, ``source/``, ``release/``, ``submitted/``,
``autograded/``, ``feedback/``, ``gradebook.db``), so ``nbgrader formgrader``
and ``nbgrader export`` work in it as instructors know them.
"""

from __future__ import annotations

import datetime
import os
import shutil
import sys
import warnings
from pathlib import Path

from grader.labs import Lab

CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"

CONFIG_TEMPLATE = '''c = get_config()  # noqa: F821
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = "sqlite:///" + {db!r}
c.ClearSolutions.code_stub = {{"python": {stub!r}}}
c.ClearSolutions.text_stub = {text!r}
'''


def _tools_on_path() -> None:
    """nbgrader runs ``alembic`` by name: make this interpreter's scripts folder findable."""
    scripts = str(Path(sys.executable).parent)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")


def _config(course: Path):
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.db_url = f"sqlite:///{course / 'gradebook.db'}"
    config.ClearSolutions.code_stub = {"python": CODE_STUB}
    config.ClearSolutions.text_stub = TEXT_STUB
    config.Exchange.root = str(course / ".exchange")
    return config


def generate_assignment(lab: Lab, course: Path) -> Path:
    """Run nbgrader's generate_assignment for ``lab`` in ``course``; return the student notebook.

    Copies the solution notebook to ``course/source/<lab>/``, registers the
    assignment and its cells in ``course/gradebook.db`` and writes the student
    version to ``course/release/<lab>/``.
    """
    from nbgrader.apps import NbGraderAPI

    _tools_on_path()
    course = course.resolve()
    source = course / "source" / lab.name
    source.mkdir(parents=True, exist_ok=True)
    shutil.copy2(lab.solution, source / lab.notebook_name)
    (course / "nbgrader_config.py").write_text(CONFIG_TEMPLATE.format(
        root=str(course), db=str(course / "gradebook.db"), stub=CODE_STUB, text=TEXT_STUB))
    api = NbGraderAPI(config=_config(course))
    result = api.generate_assignment(lab.name, force=True, create=True)
    if not result["success"]:
        details = result.get("error") or result.get("log")
        raise RuntimeError(f"nbgrader generate_assignment failed for {lab.name}:\n{details}")
    return course / "release" / lab.name / lab.notebook_name


def _as_gradebook_time(submitted_at: str | None) -> datetime.datetime | None:
    """An ISO 8601 submission time as nbgrader stores it (naive UTC); a naive time (a zip's DOS time) as it is."""
    if not submitted_at:
        return None
    moment = datetime.datetime.fromisoformat(submitted_at)
    return moment.astimezone(datetime.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def record_grades(course: Path, lab: Lab, student: str, scores: dict[str, float | None],
                  missing_answers: list[str], submitted_at: str | None = None) -> None:
    """Store one student's per-question scores in the gradebook (idempotent).

    ``scores`` maps each autograded cell's grade_id to its points; written-answer
    cells are left for manual grading unless unanswered (then 0, as nbgrader does).
    ``submitted_at`` is when the student handed the notebook in (the LMS zip's time, ISO 8601), which a
    late policy needs; None when the intake does not say (a folder of files), never the grading time.
    """
    from nbgrader.api import Gradebook

    _tools_on_path()
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{course.resolve() / 'gradebook.db'}") as gradebook:
        warnings.simplefilter("ignore")  # nbgrader's SQLAlchemy usage warns on every new submission
        gradebook.update_or_create_student(student)
        gradebook.update_or_create_submission(lab.name, student, timestamp=_as_gradebook_time(submitted_at))
        notebook = gradebook.find_notebook(lab.notebook_name.removesuffix(".ipynb"), lab.name)
        for cell in notebook.grade_cells:
            grade = gradebook.find_grade(cell.name, notebook.name, lab.name, student)
            if cell.cell_type == "code" and cell.name in scores:
                grade.auto_score = scores[cell.name]
                grade.needs_manual_grade = False
            elif cell.name in missing_answers:
                grade.auto_score = 0.0
                grade.needs_manual_grade = False
            else:
                grade.auto_score = None
                grade.needs_manual_grade = True
        gradebook.db.commit()
