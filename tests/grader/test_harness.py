"""The hidden checks' harness against a real kernel: which library functions a student's code runs."""

import numpy as np
import pytest

from grader import sandbox
from grader.channel import StudentKernel
from grader.harness import CheckFailed, calls_made, expect_not_called, generated
from grader.kernel import SandboxedKernel

ANSWER = '''
import numpy as np
from numpy import convolve as smooth

def by_hand(x, k):
    return np.array([np.dot(x[i:i + len(k)], k[::-1]) for i in range(len(x) - len(k) + 1)])

def by_alias(x, k):
    return smooth(x, k, mode="valid")

def by_lookup(x, k):
    return getattr(np, "con" + "volve")(x, k, "valid")

def scatter(counts, index):
    counts = counts.copy()
    np.add.at(counts, index, 1)
    return counts
'''


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    kernel = SandboxedKernel(tmp_path_factory.mktemp("kernel"), level="none", uid=0, limits=sandbox.Limits(),
                             data_dirs=[], env={})
    kernel.start()
    try:
        assert kernel.run_cell(ANSWER, timeout=60, output_budget=10_000).status == "ok"
        yield StudentKernel(kernel)
    finally:
        kernel.close()


def test_a_forbidden_function_is_seen_however_it_is_reached(student):
    x, k = np.arange(6.0), np.array([1.0, -1.0])
    forbidden = {"numpy.convolve": "slide the kernel yourself", "numpy.add.at": "count with a loop"}
    assert np.allclose(expect_not_called(student, "by_hand", x, k, forbidden=forbidden, exercise="conv"),
                       np.convolve(x, k, "valid"))
    for name in ("by_alias", "by_lookup"):
        with pytest.raises(CheckFailed, match=r"conv must not use `numpy.convolve`: slide the kernel yourself"):
            expect_not_called(student, name, x, k, forbidden=forbidden, exercise="conv")
    value, called = calls_made(student, "scatter", np.zeros(3), np.array([0, 0, 2]), watch=list(forbidden))
    assert called == ["numpy.add.at"] and value.tolist() == [2.0, 0.0, 1.0]


def test_generated_inputs_are_the_same_on_every_run():
    from hypothesis import given
    from hypothesis import strategies as st

    def draws():
        seen = []

        @generated(max_examples=5)
        @given(st.integers(0, 10**9))
        def record(n):
            seen.append(n)

        record()
        return seen

    assert draws() == draws() and len(draws()) == 5


def test_a_generated_check_stops_at_the_first_failing_input():
    from hypothesis import given
    from hypothesis import strategies as st

    calls = []

    @generated(max_examples=8)
    @given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=20))
    def check(values):
        calls.append(values)
        if len(values) > 2:
            raise CheckFailed("too long")

    with pytest.raises(CheckFailed) as failed:
        check()
    assert str(failed.value) == "too long"  # what a student reads (Hypothesis puts the input in a note only)
    first_failure = next(i for i, values in enumerate(calls) if len(values) > 2)
    assert calls[-1] == calls[first_failure] and len(calls) <= first_failure + 2  # replayed once, never shrunk


def test_failure_messages_keep_the_mistake_and_drop_the_hidden_values():
    from grader.harness import expect_close, expect_no_problem

    secret = np.array([0.123456, 7.654321])
    with pytest.raises(CheckFailed) as wrong_value:
        expect_close(secret + 1, secret, what="sigmoid(z)")
    assert str(wrong_value.value) == "sigmoid(z) differs at index (0,)"
    with pytest.raises(CheckFailed, match=r"^sigmoid\(z\) has shape \(3,\), expected \(2,\)$"):
        expect_close(np.zeros(3), secret, what="sigmoid(z)")
    with pytest.raises(CheckFailed) as named:
        expect_no_problem("the sign is flipped: got -0.123456, expected 0.123456 (tolerance 1e-05); "
                          "look at the exponent")
    assert str(named.value) == "the sign is flipped; look at the exponent"
    expect_no_problem(None)


def test_inputs_reach_the_kernel_as_a_file_it_cannot_change(tmp_path):
    """A check's inputs (here 2,000 MNIST-sized images) travel as a file in the read-only ``requests`` folder,
    at the strongest isolation this machine has; the file is gone once the answer is back."""
    import contextlib

    level, _ = sandbox.isolation()
    with sandbox.sandbox_uid() if level == "full" else contextlib.nullcontext(0) as uid:
        kernel = SandboxedKernel(tmp_path / "kernel", level=level, uid=uid, limits=sandbox.Limits(), data_dirs=[],
                                 env={})
        kernel.start()
        try:
            assert kernel.run_cell(TAMPER, timeout=60, output_budget=10_000).status == "ok"
            images = np.random.default_rng(0).random((2000, 784), dtype=np.float32)
            student = StudentKernel(kernel)
            assert np.array_equal(student.call("lambda x: x", images), images)
            assert student.call("tamper") == ("refused" if level == "full" else "written")
            assert not list((tmp_path / "kernel" / "requests").iterdir())
        finally:
            kernel.close()


TAMPER = '''
import os

def tamper():
    try:
        with open(os.path.join("/sandbox" if os.path.isdir("/sandbox/requests") else os.path.dirname(os.getcwd()),
                               "requests", "planted.npz"), "wb") as file:
            file.write(b"x")
    except PermissionError:
        return "refused"
    os.remove(file.name)
    return "written"
'''
