"""Hidden checks of Lab 5 (Monte Carlo dropout and uncertainty).

Reference values are computed here, in the trusted process, with NumPy, on inputs (shapes,
seeds, scripted factors, dropout rates, numbers of bins) that the public checks do not use.
Monte Carlo functions are called on models built inside the student's kernel from
``course_utils.checks.lab5`` (a scripted model with known passes, a Keras dropout layer); the
values they return are judged here. Each function is judged with reference versions of the
functions it calls (scripted samples in ``mc_dropout_predict``, the reference entropy in
``mutual_information``), and the diagnoses that name a mistake are shared with the public checks.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from course_utils.checks.lab5 import (
    AUROC_CALLS,
    AUROC_SHORTCUTS,
    ECE_SHORTCUTS,
    ENTROPY_CALLS,
    ENTROPY_SHORTCUTS,
    LOG_2PI,
    constant_passes,
    diagnose_auroc,
    diagnose_ece,
    diagnose_entropy,
    diagnose_moments,
    diagnose_mutual_information,
    diagnose_nll,
    diagnose_samples,
    numpy_contract,
    reference_samples,
)
from grader.harness import (
    expect,
    expect_close,
    expect_no_shortcut,
    expect_not_called,
    generated,
    kernel_module,
    points,
)

LAB5 = kernel_module("course_utils.checks.lab5")
# A value with its type's name (``numpy.ndarray``...): the channel turns tensors into arrays on the way back.
TYPED = f"(lambda r: ({LAB5}.type_name(r), r))"
SCRIPTED = f"lambda x, factors, T: {TYPED}(mc_dropout_samples({LAB5}.ScriptedModel(factors), x, T))"
DROPOUT_PREDICT = f"lambda x, rate, T: mc_dropout_predict({LAB5}.dropout_model(rate, x.shape[1]), x, T)"
GRADIENTS = f"lambda y, m, s: {LAB5}.nll_gradients(gaussian_nll, y, m, s)"
NLL_TENSORS = "lambda y, m, s: gaussian_nll(*(__import__('tensorflow').constant(a) for a in (y, m, s)))"


def _rebound(function: str, references: str) -> str:
    """Expression: the student's ``function`` with the globals in the dict expression ``references`` replaced."""
    return f"{LAB5}.with_references({function}, **{references})"


# mc_dropout_predict with scripted samples in place of the student's mc_dropout_samples; the types come along.
PREDICT_TYPED = f"(lambda r: ([{LAB5}.type_name(v) for v in r] if isinstance(r, (tuple, list)) else [], r))"
SCRIPTED_PREDICT = ("lambda x, factors, T: " + PREDICT_TYPED + "(" + _rebound(
    "mc_dropout_predict", f"{{'mc_dropout_samples': lambda m, x, T: {LAB5}.reference_samples(factors, x)[:T]}}")
    + f"({LAB5}.ScriptedModel(factors), x, T))")
# ... with T identical passes, whose variance is 0 and rounds below 0 unless clamped.
CONSTANT_PREDICT = ("lambda x, T: " + _rebound(
    "mc_dropout_predict", f"{{'mc_dropout_samples': lambda m, x, T: {LAB5}.constant_passes(x, T)}}")
    + f"({LAB5}.ScriptedModel([1.0]), x, T)")
NLL_CASES = "lambda cases: [gaussian_nll(*(__import__('tensorflow').constant(a) for a in case)) for case in cases]"
# mutual_information with the reference entropy in place of the student's predictive_entropy.
MUTUAL_INFORMATION = _rebound("mutual_information", f"{{'predictive_entropy': {LAB5}.reference_entropy}}")


def _fail_unless(problem: str | None) -> None:
    expect(problem is None, problem or "")


# ---------------------------------------------------------------- gaussian_nll


@points(0.5, question="gaussian_nll")
def test_gaussian_nll_value(student):
    rng = np.random.default_rng(150)
    y = rng.normal(2.0, 3.0, size=(17, 1)).astype(np.float32)
    mean = rng.normal(2.0, 3.0, size=(17, 1)).astype(np.float32)
    log_var = (rng.uniform(0.4, 3, size=(17, 1)) * rng.choice([-1, 1], size=(17, 1))).astype(np.float32)
    got = student.call(NLL_TENSORS, y, mean, log_var)
    expect(np.ndim(got) == 0, "gaussian_nll must return a single number (the mean over all elements)")
    _fail_unless(diagnose_nll(got, y, mean, log_var))


@points(0.5, question="gaussian_nll")
def test_gaussian_nll_shapes_and_magnitudes(student):
    """One batch, one element, other shapes; residuals from 1e-3 to 1e3 and log variances from -12 to 12."""
    rng = np.random.default_rng(159)
    cases = []
    for shape in ((1, 1), (7, 1), (3, 4), (11,)):
        for scale in (1e-3, 1.0, 1e3):
            y, mean = (rng.normal(0, scale, shape).astype(np.float32) for _ in range(2))
            cases.append((y, mean, rng.uniform(-12, 12, shape).astype(np.float32)))
    for got, (y, mean, log_var) in zip(student.call(NLL_CASES, cases), cases):
        expect(np.ndim(got) == 0, "gaussian_nll must return a single number (the mean over all elements)")
        _fail_unless(diagnose_nll(got, y, mean, log_var))


@points(1, question="gaussian_nll")
def test_gaussian_nll_gradients(student):
    rng = np.random.default_rng(151)
    y = rng.normal(size=(9, 2)).astype(np.float32)
    mean = rng.normal(size=(9, 2)).astype(np.float32)
    log_var = rng.uniform(-2, 2, size=(9, 2)).astype(np.float32)
    grad_mean, grad_log_var = student.call(GRADIENTS, y, mean, log_var)
    n = y.size
    expect_close(grad_mean, -(y - mean) * np.exp(-log_var) / n, what="gradient with respect to the mean",
                 atol=1e-5, rtol=1e-3)
    expect_close(grad_log_var, 0.5 * (1 - (y - mean) ** 2 * np.exp(-log_var)) / n,
                 what="gradient with respect to the log variance", atol=1e-5, rtol=1e-3)
    # The constant term must be there (it matters for reported log-likelihoods).
    got = student.call(NLL_TENSORS, y, y, np.zeros_like(y))
    expect_close(got, 0.5 * LOG_2PI, what="gaussian_nll for a perfect mean and unit variance (the constant "
                                          "0.5*log(2*pi))", atol=1e-5)


# ---------------------------------------------------------------- mc_dropout


@points(1, question="mc_dropout")
def test_mc_samples_follow_the_passes(student):
    x = np.random.default_rng(152).normal(size=(4, 3)).astype(np.float32)
    factors = np.array([1.5, 0.0, -1.0, 2.0, 0.25, 1.0, 3.0], dtype=np.float32)
    kind, samples = student.call(SCRIPTED, x, factors, len(factors))
    _fail_unless(numpy_contract(kind, "mc_dropout_samples"))
    _fail_unless(diagnose_samples(samples, factors, x))


@points(1, question="mc_dropout")
def test_mc_mean_and_variance_formulas(student):
    x = np.random.default_rng(153).normal(size=(5, 2)).astype(np.float32)
    factors = np.array([0.5, 2.5, 1.0, -0.5, 1.5, 0.0], dtype=np.float32)
    kinds, result = student.call(SCRIPTED_PREDICT, x, factors, len(factors))
    expect(isinstance(result, (list, tuple)) and len(result) == 2, "mc_dropout_predict must return (mean, var)")
    for kind, what in zip(kinds, ("mc_dropout_predict's mean", "mc_dropout_predict's variance")):
        _fail_unless(numpy_contract(kind, what))
    _fail_unless(diagnose_moments(result[0], result[1], reference_samples(factors, x)))
    x, T = np.linspace(-2.5, 4, 15).reshape(5, 3), 5
    result = student.call(CONSTANT_PREDICT, x, T)
    expect(isinstance(result, (list, tuple)) and len(result) == 2, "mc_dropout_predict must return (mean, var)")
    _fail_unless(diagnose_moments(result[0], result[1], constant_passes(x, T)))


@points(1, question="mc_dropout")
def test_mc_dropout_keras_layer(student):
    rate, passes = 0.2, 600
    ones = np.ones((6, 5), dtype=np.float32)
    mean, var = student.call(DROPOUT_PREDICT, ones, rate, passes, _timeout=120)
    expect(np.shape(mean) == (6, 5) and np.shape(var) == (6, 5),
           "mc_dropout_predict must return a mean and a variance shaped like one model output")
    expect(float(np.mean(var)) > 0.05, "the MC variance of a dropout network is about zero: dropout is off; "
           "it must be active at prediction time (training=True)")
    expect_close(np.mean(mean), 1.0, what="average MC mean of a dropout layer", atol=0.05, rtol=0)
    expect_close(np.mean(var), rate / (1 - rate), what="average MC variance of a dropout layer",
                 atol=0.06, rtol=0)


# ---------------------------------------------------------------- entropy and mutual information


@points(0.5, question="predictive_entropy")
def test_entropy_limits(student, answers):
    expect_no_shortcut(answers, "predictive_entropy_impl", ENTROPY_SHORTCUTS, "predictive_entropy")
    k = 7
    for probs in (np.eye(k, dtype=np.float64)[[6, 2, 2, 0]], np.full((3, 2, k), 1 / k)):
        got = expect_not_called(student, "predictive_entropy", probs, forbidden=ENTROPY_CALLS,
                                exercise="predictive_entropy")
        _fail_unless(diagnose_entropy(got, probs))


@points(1, question="predictive_entropy")
@generated(max_examples=10)
@given(shape=st.lists(st.integers(1, 4), max_size=2), k=st.integers(1, 6), zeros=st.floats(0, 0.7),
       tiny=st.booleans(), seed=st.integers(0, 2**16))
def test_entropy_generated(student, shape, k, zeros, tiny, seed):
    """Any leading shape (none too), one to six classes, exact zeros and probabilities down to 1e-300."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(k, 0.5), size=tuple(shape))
    probs[rng.random(probs.shape) < zeros] = 1e-300 if tiny else 0.0
    probs[..., 0] += 1e-3
    probs /= probs.sum(axis=-1, keepdims=True)
    _fail_unless(diagnose_entropy(student.call("predictive_entropy", probs), probs))


@points(0.5, question="predictive_entropy")
def test_entropy_random(student):
    probs = np.random.default_rng(154).dirichlet(np.full(6, 0.3), size=25)
    probs[0] = [0.5, 0.5, 0, 0, 0, 0]
    _fail_unless(diagnose_entropy(student.call("predictive_entropy", probs), probs))


@points(1, question="mutual_information")
def test_mutual_information_limits(student):
    agree = np.repeat(np.random.default_rng(155).dirichlet(np.ones(4), size=(1, 3)), 9, axis=0)
    votes = np.eye(4)[[[0, 1, 2, 3], [1, 2, 3, 0], [2, 3, 0, 1], [3, 0, 1, 2]]]  # (T=4, N=4, K=4)
    for samples in (agree, votes):
        _fail_unless(diagnose_mutual_information(student.call(MUTUAL_INFORMATION, samples), samples))


@points(1, question="mutual_information")
def test_mutual_information_random(student):
    samples = np.random.default_rng(156).dirichlet(np.full(8, 0.4), size=(12, 20))
    got = student.call(MUTUAL_INFORMATION, samples)
    _fail_unless(diagnose_mutual_information(got, samples))
    expect(bool(np.all(np.asarray(got) >= -1e-6)), "mutual information must never be negative")


# ---------------------------------------------------------------- auroc


@points(0.5, question="auroc")
def test_auroc_separated_and_tied(student, answers):
    expect_no_shortcut(answers, "auroc_impl", AUROC_SHORTCUTS, "auroc")
    for scores_in, scores_out in ((np.array([-3.0, -2.0]), np.array([4.0, 5.0, 6.0])),
                                  (np.full(5, 2.0), np.full(8, 2.0))):
        got = expect_not_called(student, "auroc", scores_in, scores_out, forbidden=AUROC_CALLS, exercise="auroc")
        _fail_unless(diagnose_auroc(got, scores_in, scores_out))


@points(1, question="auroc")
@generated(max_examples=10)
@given(n_in=st.integers(1, 30), n_out=st.integers(1, 30), levels=st.integers(1, 6), shift=st.integers(-3, 3),
       seed=st.integers(0, 2**16))
def test_auroc_generated(student, n_in, n_out, levels, shift, seed):
    """Single scores on either side, integer scores with many ties, shifted either way."""
    rng = np.random.default_rng(seed)
    scores_in = rng.integers(0, levels, n_in).astype(np.float64)
    scores_out = rng.integers(0, levels, n_out).astype(np.float64) + shift
    _fail_unless(diagnose_auroc(student.call("auroc", scores_in, scores_out), scores_in, scores_out))


@points(0.5, question="auroc")
def test_auroc_large_overlapping(student):
    rng = np.random.default_rng(157)
    scores_in = rng.gamma(2.0, size=3000).round(2)
    scores_out = rng.gamma(3.0, size=2500).round(2)
    _fail_unless(diagnose_auroc(student.call("auroc", scores_in[:600], scores_out[:500]), scores_in[:600],
                                scores_out[:500]))
    got = student.call("auroc", scores_in, scores_out, _timeout=60)  # larger sets must work too
    _fail_unless(diagnose_auroc(got, scores_in, scores_out))


# ---------------------------------------------------------------- ece


@points(1, question="ece")
def test_ece_overconfident(student, answers):
    expect_no_shortcut(answers, "ece_impl", ECE_SHORTCUTS, "expected_calibration_error")
    probs = np.tile(np.array([[0.1, 0.7, 0.2]]), (20, 1))
    labels = np.array([1] * 5 + [0] * 15)  # 25% right at 70% confidence
    _fail_unless(diagnose_ece(student.call("expected_calibration_error", probs, labels, n_bins=12), probs, labels, 12))
    probs = np.array([[0.85, 0.15]] * 5 + [[0.55, 0.45]] * 5)
    labels = np.array([0, 0, 1, 1, 1] + [0] * 5)  # one bin over-, one under-confident
    _fail_unless(diagnose_ece(student.call("expected_calibration_error", probs, labels, n_bins=8), probs, labels, 8))


@points(1, question="ece")
def test_ece_random(student):
    rng = np.random.default_rng(158)
    probs = rng.dirichlet(np.full(5, 0.3), size=400)
    labels = np.where(rng.random(400) < 0.6, probs.argmax(axis=1), rng.integers(0, 5, size=400))
    for bins in (10, 20):
        got = student.call("expected_calibration_error", probs, labels, n_bins=bins)
        _fail_unless(diagnose_ece(got, probs, labels, bins))


@points(1, question="ece")
@generated(max_examples=10)
@given(n_bins=st.sampled_from([2, 4, 8, 16]), n=st.integers(1, 40), k=st.integers(2, 4), right=st.floats(0, 1),
       seed=st.integers(0, 2**16))
def test_ece_bin_edges(student, n_bins, n, k, right, seed):
    """Confidences on a grid of half bins, half of them exactly on a bin edge b/M (exact in binary): the bins are
    right-closed, (b/M, (b+1)/M]."""
    rng = np.random.default_rng(seed)
    lowest = n_bins + 1 if k == 2 else n_bins  # a confidence of 1/2 with two classes would be a tie
    confidence = rng.integers(lowest, 2 * n_bins + 1, n) / (2 * n_bins)
    predicted = rng.integers(0, k, n)
    probs = np.repeat(((1 - confidence) / (k - 1))[:, None], k, axis=1)
    probs[np.arange(n), predicted] = confidence
    labels = np.where(rng.random(n) < right, predicted, rng.integers(0, k, n))
    got = student.call("expected_calibration_error", probs, labels, n_bins=n_bins)
    _fail_unless(diagnose_ece(got, probs, labels, n_bins))
