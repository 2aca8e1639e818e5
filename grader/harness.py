"""What hidden checks import: the ``points`` marker and student-facing failures.

A hidden check is a pytest test in ``grader/checks/test_<lab>.py`` that takes
the ``student`` fixture (a :class:`grader.channel.StudentKernel`), asks the
student's sandboxed kernel for values, and judges them here, in the trusted
process, against reference values computed here::

    @points(2, question="activations")
    def test_sigmoid_matches_reference(student):
        z = np.linspace(-30, 30, 101, dtype=np.float32)
        expect_close(student.call("sigmoid", z), 1 / (1 + np.exp(-z)), what="sigmoid(z)")

``question`` is the nbgrader ``grade_id`` of the notebook's check cell; the
points of a question's hidden checks add up to that cell's points. Only the
message of a :class:`CheckFailed` (and of errors raised by the student's code)
reaches the student's feedback: never the check's code, inputs or expected values.
"""

from __future__ import annotations

import re

import pytest

from course_utils.checks import array_problem
from course_utils.checks.source import forbidden_uses, imports_of


def points(value: float, *, question: str):
    """Mark a hidden check as worth ``value`` points towards the notebook question ``question``."""
    return pytest.mark.points(value, question=question)


class CheckFailed(AssertionError):
    """A hidden check failed; its message is shown to the student as written."""


def expect(condition: bool, message: str) -> None:
    """Fail the check with ``message`` (shown to the student) unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


def expect_close(got, expected, *, what: str, atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """Fail unless ``got`` has ``expected``'s shape and values within ``atol + rtol*|expected|``.

    The message names ``what`` and the shape or the size of the error, never the values
    of hidden inputs.
    """
    problem = array_problem(got, expected, what=what, atol=atol, rtol=rtol)
    if problem:
        # Keep shapes, drop the numbers: they could reveal hidden inputs or the answer.
        raise CheckFailed(problem.split(": got")[0] if " differs" in problem else problem)


def kernel_module(module: str) -> str:
    """An expression that imports ``module`` (e.g. ``course_utils.checks.lab3``) inside the student's kernel."""
    return f"__import__({module!r}, fromlist=['_'])"


def expect_no_problem(problem: str | None) -> None:
    """Fail with ``problem``, a public check's description of a mistake, unless it is None.

    The values of the worst element (``got ..., expected ...``) are dropped: they could reveal hidden
    inputs or the answer.
    """
    if problem is not None:
        raise CheckFailed(re.sub(r": got \S+, expected \S+ \(tolerance [^)]*\)", "", problem))


def expect_no_shortcut(answers: dict[str, str], cell: str, forbidden: dict[str, str], exercise: str) -> None:
    """Fail when the submitted answer cell ``cell`` uses a name the exercise forbids.

    ``answers`` is the ``answers`` fixture (submitted cell sources, read from the notebook file, never
    from the kernel; names imported in any of them count); ``forbidden`` maps a dotted name to what to use instead (see
    :func:`course_utils.checks.source.forbidden_uses`).
    """
    for name in forbidden_uses(answers.get(cell, ""), forbidden, imports_of(answers.values())):
        raise CheckFailed(f"{exercise} must not use `{name}`: {forbidden[name]}")
