"""Public checks of Lab 5 (Monte Carlo dropout and uncertainty).

Each check runs the student's function on small fixed inputs and compares it with
NumPy or TensorFlow computed here, within the tolerance it states. Monte Carlo
estimates are tested in two ways: exactly, on :class:`ScriptedModel` (a stand-in
model whose "random" passes follow a known script), and statistically, on a Keras
``Dropout`` layer whose mean and variance are known in closed form. TensorFlow is
imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from course_utils.checks import array_problem, public_check, require, require_close

TOLERANCE = 1e-5
LOG_2PI = float(np.log(2 * np.pi))


def _tf():
    import tensorflow as tf

    return tf


# ---------------------------------------------------------------- references


def reference_gaussian_nll(y, mean, log_var) -> float:
    """Mean over all elements of ``0.5 * (log(2 pi) + log_var + (y - mean)^2 / exp(log_var))``."""
    y, mean, log_var = (np.asarray(a, dtype=np.float64) for a in (y, mean, log_var))
    return float(np.mean(0.5 * (LOG_2PI + log_var + (y - mean) ** 2 * np.exp(-log_var))))


def reference_entropy(probs) -> np.ndarray:
    """Entropy in nats along the last axis, with ``0 log 0 = 0``."""
    p = np.asarray(probs, dtype=np.float64)
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)


def reference_mutual_information(samples) -> np.ndarray:
    """``H[mean_t p_t] - mean_t H[p_t]`` for samples of shape ``(T, N, K)``; returns ``(N,)``."""
    samples = np.asarray(samples, dtype=np.float64)
    return reference_entropy(samples.mean(axis=0)) - reference_entropy(samples).mean(axis=0)


def reference_ece(probs, labels, n_bins: int = 15) -> float:
    """Expected calibration error with ``n_bins`` equal-width confidence bins ``(b/M, (b+1)/M]``."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        members = bins == b
        if members.any():
            total += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(total)


def reference_auroc(scores_in, scores_out) -> float:
    """Probability that an out-of-distribution score beats an in-distribution one (ties count half)."""
    scores_in = np.asarray(scores_in, dtype=np.float64).reshape(-1)
    scores_out = np.asarray(scores_out, dtype=np.float64).reshape(-1)
    greater = (scores_out[:, None] > scores_in[None, :]).mean()
    ties = (scores_out[:, None] == scores_in[None, :]).mean()
    return float(greater + 0.5 * ties)


# ---------------------------------------------------------------- test models


class ScriptedModel:
    """A stand-in for a Keras model whose stochastic passes follow a script.

    Called with ``training=True`` it returns ``x * factors[t]`` on its t-th such call
    (cycling through ``factors``); called with ``training=False`` (the default) it
    returns ``x`` unchanged, like a dropout network in inference mode. So the Monte
    Carlo mean and variance over ``T = len(factors)`` passes are known exactly:
    ``x * mean(factors)`` and ``x**2 * var(factors)``.
    """

    def __init__(self, factors: Sequence[float]):
        self.factors = np.asarray(factors, dtype=np.float32)
        self.calls = 0

    def __call__(self, x, training: bool = False):
        tf = _tf()
        x = tf.convert_to_tensor(np.asarray(x, dtype=np.float32))
        if not training:
            return x
        factor = self.factors[self.calls % len(self.factors)]
        self.calls += 1
        return x * factor


def dropout_model(rate: float, features: int):
    """A Keras model that is a single ``Dropout(rate)`` layer on ``features`` inputs."""
    import keras

    return keras.Sequential([keras.Input(shape=(features,)), keras.layers.Dropout(rate)])


def nll_gradients(gaussian_nll: Callable, y, mean, log_var) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of ``gaussian_nll(y, mean, log_var)`` with respect to ``mean`` and ``log_var``."""
    tf = _tf()
    mean_var = tf.Variable(np.asarray(mean, dtype=np.float32))
    log_var_var = tf.Variable(np.asarray(log_var, dtype=np.float32))
    with tf.GradientTape() as tape:
        loss = gaussian_nll(tf.constant(np.asarray(y, dtype=np.float32)), mean_var, log_var_var)
    grads = tape.gradient(loss, [mean_var, log_var_var]) if tf.is_tensor(loss) else [None]
    if any(g is None for g in grads):
        raise ValueError("no gradient flows through gaussian_nll: use TensorFlow operations (tf.exp, "
                         "tf.reduce_mean...), not NumPy, so that the network can be trained with it")
    return grads[0].numpy(), grads[1].numpy()


# ---------------------------------------------------------------- checks


@public_check
def check_gaussian_nll(gaussian_nll: Callable) -> None:
    """``gaussian_nll(y, mean, log_var)``: mean Gaussian negative log-likelihood, differentiable in TF."""
    tf = _tf()
    rng = np.random.default_rng(50)
    y = rng.normal(size=(6, 1)).astype(np.float32)
    mean = rng.normal(size=(6, 1)).astype(np.float32)
    log_var = rng.normal(scale=0.7, size=(6, 1)).astype(np.float32)
    got = gaussian_nll(tf.constant(y), tf.constant(mean), tf.constant(log_var))
    got = np.asarray(got)
    require(np.issubdtype(got.dtype, np.number), f"return a number, got {type(got).__name__}")
    require(got.shape == (), f"return one number (the mean over all points), got shape {got.shape}")
    expected = reference_gaussian_nll(y, mean, log_var)
    without_const = expected - 0.5 * LOG_2PI
    if abs(float(got) - 2 * expected) < 1e-4:
        require(False, "the result is twice the expected value: did you forget the factor 1/2?")
    if abs(float(got) - without_const) < 1e-4:
        require(False, "the constant 0.5*log(2*pi) is missing")
    require_close(got, expected, what="gaussian_nll(y, mean, log_var)", atol=1e-4, rtol=1e-4)
    # With log_var = 0 it is 0.5*log(2 pi) + half the mean squared error.
    zero = np.zeros_like(y)
    got_zero = np.asarray(gaussian_nll(tf.constant(y), tf.constant(mean), tf.constant(zero)))
    require_close(got_zero, 0.5 * LOG_2PI + 0.5 * np.mean((y - mean) ** 2),
                  what="gaussian_nll with log_var = 0", atol=1e-4, rtol=1e-4)
    grad_mean, grad_log_var = nll_gradients(gaussian_nll, y, mean, log_var)
    n = y.size
    require_close(grad_mean, -(y - mean) * np.exp(-log_var) / n, what="d nll / d mean", atol=1e-5, rtol=1e-3)
    require_close(grad_log_var, 0.5 * (1 - (y - mean) ** 2 * np.exp(-log_var)) / n,
                  what="d nll / d log_var", atol=1e-5, rtol=1e-3)


@public_check
def check_mc_dropout(mc_dropout_samples: Callable, mc_dropout_predict: Callable) -> None:
    """Samples come from T passes with dropout on; the mean and variance follow the formulas."""
    x = np.arange(1, 7, dtype=np.float32).reshape(3, 2)
    factors = [0.0, 2.0, 1.0, 3.0, 0.5]
    samples = np.asarray(mc_dropout_samples(ScriptedModel(factors), x, len(factors)))
    require(samples.shape == (5, 3, 2), f"for T=5 passes over x of shape (3, 2) the samples have shape "
            f"{samples.shape}, expected (5, 3, 2): stack the T outputs along a new first axis")
    require(not np.allclose(samples, samples[0]),
            "all T passes gave the same output: call the model with training=True so dropout stays on")
    require_close(samples, np.stack([x * f for f in factors]), what="mc_dropout_samples(model, x, T)",
                  atol=1e-6, rtol=1e-6)

    mean, var = (np.asarray(a) for a in mc_dropout_predict(ScriptedModel(factors), x, len(factors)))
    f = np.asarray(factors)
    require_close(mean, x * f.mean(), what="mean E = 1/T sum_t f_t", atol=1e-5, rtol=1e-5)
    if array_problem(var, x**2 * f.var(ddof=1), atol=1e-4, rtol=1e-4) is None:
        require(False, "the variance divides by T-1; the formula 1/T sum f^2 - E^2 divides by T")
    require_close(var, x**2 * f.var(), what="variance 1/T sum_t f_t^2 - E^2", atol=1e-4, rtol=1e-4)

    # A real Keras dropout layer on ones: each output is 0 or 1/(1-p), so E = 1 and Var = p/(1-p).
    rate, passes = 0.5, 400
    ones = np.ones((4, 3), dtype=np.float32)
    mean, var = (np.asarray(a) for a in mc_dropout_predict(dropout_model(rate, 3), ones, passes))
    require(mean.shape == (4, 3) and var.shape == (4, 3),
            f"with a Keras model, mean and var have shapes {mean.shape} and {var.shape}, expected (4, 3)")
    require(float(var.mean()) > 0.1, "the variance over passes is about zero: is dropout active "
            "(model(x, training=True)) in every pass?")
    require_close(mean.mean(), 1.0, what="average MC mean of Dropout(0.5) on ones", atol=0.1, rtol=0)
    require_close(var.mean(), rate / (1 - rate), what="average MC variance of Dropout(0.5) on ones",
                  atol=0.15, rtol=0)


@public_check
def check_predictive_entropy(predictive_entropy: Callable) -> None:
    """Entropy in nats along the last axis: 0 for one-hot rows, log K for uniform rows."""
    k = 10
    one_hot = np.eye(k, dtype=np.float32)[[3, 0, 9]]
    got = np.asarray(predictive_entropy(one_hot))
    require(got.shape == (3,), f"for probabilities of shape (3, {k}) the result has shape {got.shape}, "
            "expected (3,): sum over the last axis")
    require_close(got, np.zeros(3), what="entropy of one-hot predictions (0 log 0 counts as 0)", atol=1e-5)
    uniform = np.full((2, k), 1 / k, dtype=np.float32)
    got = np.asarray(predictive_entropy(uniform))
    if array_problem(got, np.full(2, np.log2(k)), atol=1e-4) is None:
        require(False, "the entropy of a uniform row is log2(K): use the natural logarithm (nats)")
    require_close(got, np.full(2, np.log(k)), what="entropy of uniform predictions", atol=1e-4, rtol=1e-4)
    probs = np.random.default_rng(51).dirichlet(np.ones(4), size=(2, 5)).astype(np.float32)
    require_close(predictive_entropy(probs), reference_entropy(probs),
                  what="entropy of random predictions of shape (2, 5, 4)", atol=1e-4, rtol=1e-4)


@public_check
def check_mutual_information(mutual_information: Callable) -> None:
    """MI = H[mean_t p_t] - mean_t H[p_t]: 0 when all passes agree, log 2 for two confident opposite votes."""
    rng = np.random.default_rng(52)
    same = np.repeat(rng.dirichlet(np.ones(5), size=(1, 4)), 6, axis=0).astype(np.float32)
    got = np.asarray(mutual_information(same))
    require(got.shape == (4,), f"for samples of shape (6, 4, 5) the result has shape {got.shape}, "
            "expected (4,): one value per input")
    require_close(got, np.zeros(4), what="mutual information when all passes agree", atol=1e-4)
    disagree = np.stack([np.eye(3)[[0, 1]], np.eye(3)[[1, 2]]]).astype(np.float32)  # (2, 2, 3)
    got = np.asarray(mutual_information(disagree))
    if array_problem(got, -np.full(2, np.log(2)), atol=1e-4) is None:
        require(False, "the sign is reversed: it is H[mean] minus the mean of H")
    require_close(got, np.full(2, np.log(2)), what="mutual information of two confident, opposite passes",
                  atol=1e-4)
    samples = rng.dirichlet(np.full(5, 0.5), size=(7, 3)).astype(np.float32)
    got = mutual_information(samples)
    require_close(got, reference_mutual_information(samples), what="mutual information of random samples",
                  atol=1e-4, rtol=1e-4)


@public_check
def check_auroc(auroc: Callable) -> None:
    """AUROC = P(score_out > score_in) + 0.5 P(tie), for OOD inputs as the positive class."""
    got = float(auroc(np.array([0.1, 0.2, 0.3]), np.array([0.5, 0.9])))
    if abs(got) < 1e-6:
        require(False, "got 0 for perfectly separated scores where out-of-distribution scores are "
                "higher: the out-of-distribution inputs are the positive class")
    require_close(got, 1.0, what="AUROC of perfectly separated scores", atol=1e-6)
    require_close(auroc(np.array([0.5, 0.9]), np.array([0.1, 0.2, 0.3])), 0.0,
                  what="AUROC when every OOD score is lower", atol=1e-6)
    require_close(auroc(np.ones(4), np.ones(3)), 0.5, what="AUROC when all scores tie (ties count half)",
                  atol=1e-6)
    rng = np.random.default_rng(53)
    scores_in = rng.normal(size=200).round(1)
    scores_out = rng.normal(1.0, size=150).round(1)
    require_close(auroc(scores_in, scores_out), reference_auroc(scores_in, scores_out),
                  what="AUROC of overlapping scores with ties", atol=1e-6)


@public_check
def check_expected_calibration_error(expected_calibration_error: Callable) -> None:
    """ECE = sum_b |B_b|/N * |acc(B_b) - conf(B_b)| over equal-width confidence bins."""
    rng = np.random.default_rng(54)
    # Perfect calibration: in each bin the accuracy equals the confidence exactly.
    probs = np.tile(np.array([[0.75, 0.25]]), (8, 1))
    labels = np.array([0, 0, 0, 1, 0, 0, 0, 1])  # 6 of 8 correct = 0.75
    require_close(expected_calibration_error(probs, labels, n_bins=10), 0.0,
                  what="ECE of perfectly calibrated predictions", atol=1e-6)
    # Over-confident: always 0.9 sure, right half of the time.
    probs = np.tile(np.array([[0.9, 0.05, 0.05]]), (10, 1))
    labels = np.array([0, 1] * 5)
    got = float(expected_calibration_error(probs, labels, n_bins=10))
    require_close(got, 0.4, what="ECE of predictions 90% sure but right half of the time", atol=1e-6)
    probs = rng.dirichlet(np.full(4, 0.4), size=300)
    labels = rng.integers(0, 4, size=300)
    got = float(expected_calibration_error(probs, labels, n_bins=15))
    require_close(got, reference_ece(probs, labels, 15), what="ECE of random predictions (15 bins)",
                  atol=1e-6)
    got5 = float(expected_calibration_error(probs, labels, n_bins=5))
    require_close(got5, reference_ece(probs, labels, 5), what="ECE with n_bins=5 (use the argument)",
                  atol=1e-6)
