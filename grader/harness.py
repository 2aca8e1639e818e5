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
from pathlib import Path

import pytest

from course_utils.checks import array_problem, source
from course_utils.checks.source import forbidden_uses, imports_of

# watch_calls and what it needs, sent into the student's kernel as source: the kernel's own copy of
# course_utils may have been changed by the student's code.
_WATCHER_SOURCE = Path(source.__file__).read_text()


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


def generated(max_examples: int = 25):
    """Hypothesis settings for a hidden check with generated inputs: the same examples for every student.

    Derandomized (the examples depend only on the test), no example database written anywhere, no deadline
    (a kernel round trip is slow), health checks that assume fast local code turned off, and only the first
    failure reported (one :class:`CheckFailed`, not a group whose text would show the generated inputs), as it
    was found: no shrinking, which would call a wrong answer dozens of times more (seconds per check) only to
    report a smaller input that the message does not show. Use it above ``@given``; keep ``max_examples`` small,
    each example costs kernel round trips.
    """
    from hypothesis import HealthCheck, Phase, settings

    return settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck), print_blob=False, report_multiple_bugs=False,
                    phases=(Phase.explicit, Phase.generate))


def calls_made(student, expression: str, *args, watch) -> tuple[object, list[str]]:
    """Call ``expression(*args)`` in the student's kernel; return its value and which ``watch`` functions ran.

    ``watch`` lists dotted names of library functions (``tf.nn.sigmoid``, ``numpy.add.at``); a call counts
    whatever name, alias or API reached it (see :func:`course_utils.checks.source.watch_calls`).
    """
    watcher = f"(lambda ns: (exec({_WATCHER_SOURCE!r}, ns), ns['call_watched'])[1])({{}})"
    value, called = student.call(f"lambda names, *a: {watcher}({expression}, names, *a)", list(watch), *args)
    return value, list(called)


def expect_not_called(student, expression: str, *args, forbidden: dict[str, str], exercise: str):
    """Call ``expression(*args)`` in the kernel and fail when it runs a forbidden library function; else its value.

    ``forbidden`` maps dotted names to what to use instead; the message is :func:`expect_no_shortcut`'s.
    """
    value, called = calls_made(student, expression, *args, watch=forbidden)
    for name in called:
        raise CheckFailed(f"{exercise} must not use `{name}`: {forbidden[name]}")
    return value
