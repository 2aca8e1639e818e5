"""Run a lab's hidden checks (pytest, in this trusted process) against a live student kernel."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from grader.channel import StudentError, StudentKernel
from grader.harness import CheckFailed


@dataclass
class CheckOutcome:
    """One hidden check's verdict; ``message`` is safe to show the student."""

    check: str
    question: str
    points: float
    max_points: float
    passed: bool
    message: str
    seconds: float = 0.0  # its setup and call, in this process, waiting on the student's kernel included

    def as_dict(self) -> dict:
        return asdict(self)


def student_message(error: BaseException | None) -> str:
    """What the student may read about a failed check: our message, never the check's code."""
    if error is None:
        return ""
    if isinstance(error, (CheckFailed, StudentError)):
        return str(error)
    return f"the check could not judge your answer ({type(error).__name__})"


class _Collector:
    """pytest plugin: provides the ``student`` fixture and records every check's outcome."""

    def __init__(self, student: StudentKernel | None, dead_reason: str, answers: dict[str, str]):
        self._student, self._dead_reason, self._answers = student, dead_reason, answers
        self.outcomes: dict[str, CheckOutcome] = {}
        self.collection_errors: list[str] = []  # pytest prints no traceback (--tb=no): they are kept here

    @pytest.fixture
    def answers(self) -> dict[str, str]:
        """The submitted source of each answer cell, by grade_id, read from the notebook file."""
        return dict(self._answers)

    @pytest.fixture
    def student(self) -> StudentKernel:
        if self._student is None:
            raise StudentError(f"the notebook could not be run ({self._dead_reason})")
        return self._student

    def pytest_configure(self, config) -> None:
        config.addinivalue_line("markers", "points(value, question): points a hidden check is worth")

    def pytest_collection_modifyitems(self, items) -> None:
        for item in items:
            mark = item.get_closest_marker("points")
            if mark is None:
                raise pytest.UsageError(f"{item.nodeid} has no @points(...) marker")
            self.outcomes[item.nodeid] = CheckOutcome(
                check=item.name.removeprefix("test_"), question=mark.kwargs["question"], points=0.0,
                max_points=float(mark.args[0]), passed=False, message="not run")

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.collection_errors.append(str(report.longrepr))

    def pytest_runtest_makereport(self, item, call) -> None:
        outcome = self.outcomes[item.nodeid]
        outcome.seconds = round(outcome.seconds + call.duration, 3)
        if call.when == "setup" and call.excinfo is not None:
            outcome.message = student_message(call.excinfo.value)
        elif call.when == "call":
            error = call.excinfo.value if call.excinfo is not None else None
            outcome.passed = error is None
            outcome.points = outcome.max_points if outcome.passed else 0.0
            outcome.message = "passed" if outcome.passed else student_message(error)


# The background imports of each checks file, started at most once per process (see preload_imports).
_preloads: dict[Path, threading.Thread] = {}
# The public checks import these inside their functions, to keep a student's first import of them fast: a checks
# file that uses the public checks needs them on its first call.
PUBLIC_CHECKS_LIBRARIES = ("tensorflow", "keras")


def preload_imports(checks_file: Path) -> None:
    """Start importing what ``checks_file`` imports (TensorFlow, the public checks) in a background thread, once
    per process: a worker calls it when it starts a student's kernel, so that the first submission it judges does
    not wait seconds for these imports after the notebook has run. The file runs once under another name, which
    imports what it imports however it does, and the libraries of the public checks when it uses them.
    :func:`run_checks` waits for it and then runs the file afresh, so an import that fails here fails again there,
    with its message."""
    path = checks_file.resolve()
    if path in _preloads:
        return
    libraries = PUBLIC_CHECKS_LIBRARIES if "course_utils" in path.read_text() else ()

    def load() -> None:
        spec = importlib.util.spec_from_file_location(f"_preloading_{path.stem}", path)
        with contextlib.suppress(BaseException):  # pytest.importorskip's Skipped is a BaseException
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
            for name in libraries:
                importlib.import_module(name)

    _preloads[path] = thread = threading.Thread(target=load, name=f"preload {path.name}", daemon=True)
    thread.start()


def run_checks(checks_file: Path, student: StudentKernel | None, dead_reason: str = "",
               answers: dict[str, str] | None = None) -> list[CheckOutcome]:
    """Run every test in ``checks_file`` against ``student`` (None: the kernel is gone, all fail).

    ``answers`` maps answer-cell grade_ids to their submitted source (the ``answers`` fixture).
    """
    collector = _Collector(student, dead_reason, answers or {})
    args = [str(checks_file), "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "--import-mode=importlib",
            "-c", os.devnull, "--rootdir", str(checks_file.parent), "-W", "ignore",
            # its clean-up collects garbage twice per run, about 0.5 s with TensorFlow loaded; warnings are ignored
            "-p", "no:unraisableexception", "--tb=no"]
    # pytest reuses a checks module imported by an earlier run in this process, with its module-level
    # random generator advanced: drop it, so that every submission meets the same hidden inputs.
    checks_path = checks_file.resolve()
    if checks_path in _preloads:
        _preloads[checks_path].join()  # never two threads importing the same modules
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and Path(file).name == checks_path.name and Path(file).resolve() == checks_path:
            del sys.modules[name]
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        code = pytest.main(args, plugins=[collector])
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raise RuntimeError(f"hidden checks {checks_file.name} could not run (pytest exit {code}):\n"
                           + "\n".join([*collector.collection_errors, sink.getvalue()])[-2000:])
    return list(collector.outcomes.values())
