"""Public checks: run right after a ``# TODO`` cell, print a clear verdict, return a result.

Each lab has a module here (``course_utils.checks.lab1``...). A check never
raises because the student's code is wrong: it prints what was expected,
what came back and how far apart they are, and returns a :class:`CheckResult`
that tests (and curious students) can read.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class CheckResult:
    """Outcome of one public check: ``passed`` plus the human-readable ``problems``."""

    name: str
    passed: bool
    problems: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:
        """Show nothing as a cell's value: the check has already printed its verdict."""

    @property
    def message(self) -> str:
        if self.passed:
            return f"PASSED {self.name}"
        return f"FAILED {self.name}:\n" + "\n".join(f"  - {problem}" for problem in self.problems)


class Problem(Exception):
    """Raised inside a check to stop it with one message for the student."""


def array_problem(got, expected, *, what: str = "result", atol: float = 1e-5, rtol: float = 1e-5) -> str | None:
    """Describe how ``got`` differs from ``expected``, or return None when they agree.

    Compares shapes first, then values within ``atol + rtol * |expected|``, and
    reports the worst element (index, got, expected) so the student knows where to look.
    """
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError) as error:
        return f"{what} could not be turned into a numeric array ({error}); got {type(got).__name__}"
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        return f"{what} has shape {got.shape}, expected {expected.shape}"
    if not np.all(np.isfinite(got)):
        return f"{what} contains NaN or infinity (check for log(0), division by zero or overflow)"
    excess = np.abs(got - expected) - (atol + rtol * np.abs(expected))
    if np.all(excess <= 0):
        return None
    worst = np.unravel_index(np.argmax(excess), got.shape) if got.shape else ()
    index = f" at index {tuple(int(i) for i in worst)}" if worst else ""
    return (f"{what} differs{index}: got {got[worst]:.6g}, expected {expected[worst]:.6g} "
            f"(tolerance {atol:g} + {rtol:g}*|expected|)")


def require(condition: bool, message: str) -> None:
    """Stop the check with ``message`` unless ``condition`` holds."""
    if not condition:
        raise Problem(message)


def require_close(got, expected, *, what: str = "result", atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """Stop the check unless ``got`` matches ``expected`` in shape and within tolerance."""
    problem = array_problem(got, expected, what=what, atol=atol, rtol=rtol)
    if problem:
        raise Problem(problem)


def training_call_problem(trainings: list[str], loss) -> str | None:
    """What is wrong with how a ``train_step`` called a recording stand-in model, or None.

    ``trainings``: the ``training`` argument of each call, as text; ``loss``: what train_step returned.
    """
    if not trainings:
        return "train_step never called the model"
    if any(t != "True" for t in trainings):
        return (f"the model was called with training={', '.join(sorted(set(trainings)))}: call it with "
                "training=True inside train_step, so that dropout is on while training")
    if loss is None:
        return "train_step returned None: return the batch loss"
    return None


def require_no_shortcut(function: Callable, forbidden: dict[str, str], exercise: str) -> None:
    """Stop the check when ``function``'s source uses a name the exercise forbids, also under an alias
    imported in another cell of the notebook.

    ``forbidden`` maps a dotted name (matched as in :func:`course_utils.checks.source.forbidden_uses`)
    to what to use instead, e.g. ``{"nn.sigmoid": "write 1 / (1 + exp(-z)) with tf.exp"}``.
    """
    from course_utils.checks.source import forbidden_uses, function_source, imports_of, kernel_cells

    source = function_source(function)
    for name in forbidden_uses(source or "", forbidden, imports_of(kernel_cells())):
        raise Problem(f"{exercise} must not use `{name}`: {forbidden[name]}")


def with_references(function: Callable, **references) -> Callable:
    """``function`` with the global names in ``references`` bound to reference implementations.

    A check calls the student's ``fgsm`` this way with a correct ``input_gradient`` even if theirs is
    wrong, so a mistake upstream is charged once, to the function that has it.
    """
    import types

    if not isinstance(function, types.FunctionType):
        return function
    rebound = types.FunctionType(function.__code__, {**function.__globals__, **references}, function.__name__,
                                 function.__defaults__, function.__closure__)
    rebound.__kwdefaults__ = function.__kwdefaults__
    return rebound


def _cell_line(error: BaseException) -> str:
    """``line N`` of the innermost frame that ran in a notebook cell, or ''.

    Notebook cells are compiled under names like ``<ipython-input-3-...>`` or, with ipykernel 6.x/7,
    ``/tmp/ipykernel_1234/567.py``; library frames are real files elsewhere.
    """
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        name = frame.filename
        if name.startswith("<") or "/ipykernel_" in name:
            return f"line {frame.lineno}"
    return ""


def public_check(function: Callable[..., None]) -> Callable[..., CheckResult]:
    """Turn a function that raises :class:`Problem` into a check that prints and returns a result.

    An unfinished exercise (``NotImplementedError``) and any error raised by the
    student's code are reported as a failed check with the error, never as a crash.
    """
    name = function.__name__.removeprefix("check_").replace("_", " ")

    @functools.wraps(function)
    def run(*args, **kwargs) -> CheckResult:
        try:
            function(*args, **kwargs)
            result = CheckResult(name, True)
        except Problem as problem:
            result = CheckResult(name, False, [str(problem)])
        except NotImplementedError:
            result = CheckResult(name, False, ["not written yet: replace `raise NotImplementedError()` "
                                               "with your code and run that cell again"])
        except Exception as error:  # the student's code raised: show where, not a crash
            where = _cell_line(error)
            result = CheckResult(name, False, [f"your code raised {type(error).__name__}: {error}"
                                               + (f" ({where} of your cell)" if where else "")])
        print(result.message)
        return result

    return run
