"""Hidden checks of Lab 5 (Monte Carlo dropout and uncertainty).

Reference values are computed here, in the trusted process, with NumPy, on inputs (shapes,
seeds, scripted factors, dropout rates, numbers of bins) that the public checks do not use.
Monte Carlo functions are called on models built inside the student's kernel from
``course_utils.checks.lab5`` (a scripted model with known passes, a Keras dropout layer); the
values they return are judged here.
"""

from __future__ import annotations

import numpy as np

from course_utils.checks.lab5 import (
    LOG_2PI,
    reference_auroc,
    reference_ece,
    reference_entropy,
    reference_gaussian_nll,
    reference_mutual_information,
)
from grader.harness import expect, expect_close, points

LAB5 = "__import__('course_utils.checks.lab5', fromlist=['lab5'])"
SCRIPTED = f"lambda x, factors, T: mc_dropout_samples({LAB5}.ScriptedModel(factors), x, T)"
SCRIPTED_PREDICT = f"lambda x, factors, T: mc_dropout_predict({LAB5}.ScriptedModel(factors), x, T)"
DROPOUT_PREDICT = f"lambda x, rate, T: mc_dropout_predict({LAB5}.dropout_model(rate, x.shape[1]), x, T)"
GRADIENTS = f"lambda y, m, s: {LAB5}.nll_gradients(gaussian_nll, y, m, s)"
NLL_TENSORS = "lambda y, m, s: gaussian_nll(*(__import__('tensorflow').constant(a) for a in (y, m, s)))"

# ---------------------------------------------------------------- gaussian_nll


@points(1, question="gaussian_nll")
def test_gaussian_nll_value(student):
    rng = np.random.default_rng(150)
    y = rng.normal(2.0, 3.0, size=(17, 1)).astype(np.float32)
    mean = rng.normal(2.0, 3.0, size=(17, 1)).astype(np.float32)
    log_var = rng.uniform(-3, 3, size=(17, 1)).astype(np.float32)
    got = student.call(NLL_TENSORS, y, mean, log_var)
    expect(np.ndim(got) == 0, "gaussian_nll must return a single number (the mean over all elements)")
    expect_close(got, reference_gaussian_nll(y, mean, log_var), what="gaussian_nll", atol=1e-4, rtol=1e-4)


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
    expect_close(got, 0.5 * LOG_2PI, what="gaussian_nll for a perfect mean and unit variance", atol=1e-5)


# ---------------------------------------------------------------- mc_dropout


@points(1, question="mc_dropout")
def test_mc_samples_follow_the_passes(student):
    x = np.random.default_rng(152).normal(size=(4, 3)).astype(np.float32)
    factors = np.array([1.5, 0.0, -1.0, 2.0, 0.25, 1.0, 3.0], dtype=np.float32)
    got = student.call(SCRIPTED, x, factors, len(factors))
    expect(np.shape(got) == (7, 4, 3), "mc_dropout_samples must return T outputs stacked on a new first axis")
    expect(not np.allclose(got, got[0]), "mc_dropout_samples gave identical passes: is dropout on "
           "(model(x, training=True)) in every pass?")
    expect_close(got, factors[:, None, None] * x[None], what="mc_dropout_samples", atol=1e-5, rtol=1e-5)


@points(1, question="mc_dropout")
def test_mc_mean_and_variance_formulas(student):
    x = np.random.default_rng(153).normal(size=(5, 2)).astype(np.float32)
    factors = np.array([0.5, 2.5, 1.0, -0.5, 1.5, 0.0], dtype=np.float32)
    mean, var = student.call(SCRIPTED_PREDICT, x, factors, len(factors))
    f = factors.astype(np.float64)
    expect_close(mean, x * f.mean(), what="MC mean", atol=1e-5, rtol=1e-5)
    expect_close(var, x.astype(np.float64) ** 2 * f.var(), what="MC variance (1/T sum f^2 - mean^2)",
                 atol=1e-4, rtol=1e-4)


@points(1, question="mc_dropout")
def test_mc_dropout_keras_layer(student):
    rate, passes = 0.2, 600
    ones = np.ones((6, 5), dtype=np.float32)
    mean, var = student.call(DROPOUT_PREDICT, ones, rate, passes, _timeout=120)
    expect(np.shape(mean) == (6, 5) and np.shape(var) == (6, 5),
           "mc_dropout_predict must return a mean and a variance shaped like one model output")
    expect(float(np.mean(var)) > 0.05, "the MC variance of a dropout network is about zero: dropout must "
           "be active at prediction time")
    expect_close(np.mean(mean), 1.0, what="average MC mean of a dropout layer", atol=0.05, rtol=0)
    expect_close(np.mean(var), rate / (1 - rate), what="average MC variance of a dropout layer",
                 atol=0.06, rtol=0)


# ---------------------------------------------------------------- entropy and mutual information


@points(1, question="predictive_entropy")
def test_entropy_limits(student):
    k = 7
    one_hot = np.eye(k, dtype=np.float64)[[6, 2, 2, 0]]
    expect_close(student.call("predictive_entropy", one_hot), np.zeros(4), what="entropy of one-hot rows",
                 atol=1e-5)
    uniform = np.full((3, 2, k), 1 / k)
    expect_close(student.call("predictive_entropy", uniform), np.full((3, 2), np.log(k)),
                 what="entropy of uniform rows", atol=1e-4, rtol=1e-4)


@points(1, question="predictive_entropy")
def test_entropy_random(student):
    probs = np.random.default_rng(154).dirichlet(np.full(6, 0.3), size=25)
    probs[0] = [0.5, 0.5, 0, 0, 0, 0]
    expect_close(student.call("predictive_entropy", probs), reference_entropy(probs),
                 what="predictive entropy", atol=1e-4, rtol=1e-4)


@points(1, question="mutual_information")
def test_mutual_information_limits(student):
    agree = np.repeat(np.random.default_rng(155).dirichlet(np.ones(4), size=(1, 3)), 9, axis=0)
    expect_close(student.call("mutual_information", agree), np.zeros(3),
                 what="mutual information when all passes agree", atol=1e-4)
    votes = np.eye(4)[[[0, 1, 2, 3], [1, 2, 3, 0], [2, 3, 0, 1], [3, 0, 1, 2]]]  # (T=4, N=4, K=4)
    expect_close(student.call("mutual_information", votes), np.full(4, np.log(4)),
                 what="mutual information of confident passes that all disagree", atol=1e-4)


@points(1, question="mutual_information")
def test_mutual_information_random(student):
    samples = np.random.default_rng(156).dirichlet(np.full(8, 0.4), size=(12, 20))
    got = student.call("mutual_information", samples)
    expect_close(got, reference_mutual_information(samples), what="mutual information", atol=1e-4, rtol=1e-4)
    expect(bool(np.all(np.asarray(got) >= -1e-6)), "mutual information must never be negative")


# ---------------------------------------------------------------- auroc


@points(1, question="auroc")
def test_auroc_separated_and_tied(student):
    expect_close(student.call("auroc", np.array([-3.0, -2.0]), np.array([4.0, 5.0, 6.0])), 1.0,
                 what="AUROC when OOD scores are higher", atol=1e-6)
    expect_close(student.call("auroc", np.full(5, 2.0), np.full(8, 2.0)), 0.5,
                 what="AUROC when every score ties", atol=1e-6)


@points(1, question="auroc")
def test_auroc_large_overlapping(student):
    rng = np.random.default_rng(157)
    scores_in = rng.gamma(2.0, size=3000).round(2)
    scores_out = rng.gamma(3.0, size=2500).round(2)
    expected = reference_auroc(scores_in[:600], scores_out[:500])
    expect_close(student.call("auroc", scores_in[:600], scores_out[:500]), expected,
                 what="AUROC of overlapping scores", atol=1e-6)
    got = student.call("auroc", scores_in, scores_out, _timeout=60)  # larger sets must work too
    expect_close(got, reference_auroc(scores_in, scores_out), what="AUROC of larger sets of scores", atol=1e-6)


# ---------------------------------------------------------------- ece


@points(1, question="ece")
def test_ece_overconfident(student):
    probs = np.tile(np.array([[0.1, 0.7, 0.2]]), (20, 1))
    labels = np.array([1] * 5 + [0] * 15)  # 25% right at 70% confidence
    expect_close(student.call("expected_calibration_error", probs, labels, n_bins=12), 0.45,
                 what="ECE of constant, over-confident predictions", atol=1e-6)


@points(2, question="ece")
def test_ece_random(student):
    rng = np.random.default_rng(158)
    probs = rng.dirichlet(np.full(5, 0.3), size=400)
    labels = np.where(rng.random(400) < 0.6, probs.argmax(axis=1), rng.integers(0, 5, size=400))
    for bins in (10, 20):
        expect_close(student.call("expected_calibration_error", probs, labels, n_bins=bins),
                     reference_ece(probs, labels, bins), what=f"ECE with {bins} bins", atol=1e-6)
