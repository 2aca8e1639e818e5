"""Lab 5's public checks pass on the solution notebook's code and fail on typical mistakes.

The reference implementations are the solution cells of
``solutions/lab5_uncertainty/lab5_uncertainty.ipynb`` (executed here without the rest of the
notebook), so the notebook stays the one source of truth.
"""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from course_utils.checks import lab5 as checks  # noqa: E402
from grader.mutants import lab5 as catalogue  # noqa: E402
from tests.conftest import check_failed, judge_catalogue_entry, solution_namespace  # noqa: E402


@pytest.fixture(scope="module")
def solution() -> dict:
    import scipy.stats

    return solution_namespace("lab5_uncertainty", np=np, tf=tf, keras=keras, scipy=scipy)


# ---------------------------------------------------------------- gaussian_nll


def test_gaussian_nll_reference_passes(solution):
    assert checks.check_gaussian_nll(solution["gaussian_nll"]).passed


def test_gaussian_nll_mistakes_fail():
    c = np.log(2 * np.pi)
    mistakes = {
        "factor 1/2": lambda y, m, s: tf.reduce_mean(c + s + (y - m) ** 2 * tf.exp(-s)),
        "constant": lambda y, m, s: tf.reduce_mean(0.5 * (s + (y - m) ** 2 * tf.exp(-s))),
        "exp(-s)": lambda y, m, s: tf.reduce_mean(0.5 * (c + s + (y - m) ** 2 * tf.exp(s))),
        "log variance": lambda y, m, s: tf.reduce_mean(0.5 * (c + s + (y - m) ** 2 / s)),
        "log-variance term": lambda y, m, s: tf.reduce_mean(0.5 * (c + (y - m) ** 2 * tf.exp(-s))),
        "all three terms": lambda y, m, s: tf.reduce_mean(0.5 * c + s + (y - m) ** 2 * tf.exp(-s)),
        "mean": lambda y, m, s: tf.reduce_sum(0.5 * (c + s + (y - m) ** 2 * tf.exp(-s))),
        "tf.function": lambda y, m, s: (tf.reduce_sum(0.5 * (c + s + (y - m) ** 2 * tf.exp(-s)))
                                        / int(tf.size(y).numpy())),
        "float32": lambda y, m, s: tf.cast(tf.reduce_mean(0.5 * (c + s + (y - m) ** 2 * tf.exp(-s))), tf.float64),
        "TensorFlow": lambda y, m, s: np.mean(0.5 * (c + np.asarray(s) + (np.asarray(y) - np.asarray(m)) ** 2
                                                      * np.exp(-np.asarray(s)))),
    }
    for word, wrong in mistakes.items():
        result = checks.check_gaussian_nll(wrong)
        assert check_failed(result, word), (word, result.message)


# ---------------------------------------------------------------- mc_dropout


def test_mc_dropout_reference_passes(solution):
    assert checks.check_mc_dropout(solution["mc_dropout_samples"], solution["mc_dropout_predict"]).passed


def test_vectorised_mc_dropout_passes(solution):
    """One call on the batch tiled T times, with dropout on, is as right as a loop of T calls."""
    def tiled(model, x, T):
        x = np.asarray(x)
        out = np.asarray(model(np.tile(x, (T,) + (1,) * (x.ndim - 1)), training=True))
        return out.reshape(T, len(x), *out.shape[1:])

    def repeated(model, x, T):
        x = np.asarray(x)
        out = np.asarray(model(np.repeat(x, T, axis=0), training=True))
        return np.swapaxes(out.reshape(len(x), T, *out.shape[1:]), 0, 1)

    for samples in (tiled, repeated):
        result = checks.check_mc_dropout(samples, solution["mc_dropout_predict"])
        assert result.passed, result.message


def mc_dropout_samples(model, x, T):
    """What the mistaken mc_dropout_predict functions below call (the check replaces it by scripted samples)."""
    return np.stack([np.asarray(model(x, training=True)) for _ in range(T)])


def test_mc_dropout_mistakes_fail(solution):
    samples, predict = solution["mc_dropout_samples"], solution["mc_dropout_predict"]

    def dropout_off(model, x, T):
        return np.stack([np.asarray(model(x, training=False)) for _ in range(T)])

    def predict_method(model, x, T):
        return np.stack([model.predict(x) for _ in range(T)])

    def one_pass_copied(model, x, T):
        return np.repeat(np.asarray(model(x, training=True))[None], T, axis=0)

    def concatenated(model, x, T):
        return np.concatenate([np.asarray(model(x, training=True)) for _ in range(T)])

    def unbiased(model, x, T):
        s = mc_dropout_samples(model, x, T)
        return s.mean(0), s.var(0, ddof=1)

    def std_not_var(model, x, T):
        s = mc_dropout_samples(model, x, T)
        return s.mean(0), s.std(0)

    def second_moment(model, x, T):
        s = mc_dropout_samples(model, x, T)
        return s.mean(0), (s**2).mean(0)

    def wrong_axis(model, x, T):
        s = mc_dropout_samples(model, x, T)
        return s.mean(1), s.var(1)

    for wrong, word in ((dropout_off, "dropout is off"), (predict_method, "training=True"),
                        (one_pass_copied, "copies of one pass"), (concatenated, "new first axis")):
        result = checks.check_mc_dropout(wrong, predict)
        assert check_failed(result, word), (wrong.__name__, result.message)
    for wrong, word in ((unbiased, "T-1"), (std_not_var, "standard deviation"), (second_moment, "subtract"),
                        (wrong_axis, "axis 0")):
        result = checks.check_mc_dropout(samples, wrong)
        assert check_failed(result, word), (wrong.__name__, result.message)


# ---------------------------------------------------------------- entropy, mutual information


def test_entropy_reference_passes(solution):
    assert checks.check_predictive_entropy(solution["predictive_entropy"]).passed


def test_entropy_mistakes_fail():
    import scipy.stats

    mistakes = {
        "NaN": lambda p: -np.sum(p * np.log(p), axis=-1),
        "natural logarithm": lambda p: -np.sum(p * np.log2(np.clip(p, 1e-12, 1)), axis=-1),
        "shape": lambda p: -np.sum(p * np.log(np.clip(p, 1e-12, 1)), axis=0),
        "sign": lambda p: np.sum(p * np.log(np.clip(p, 1e-12, 1)), axis=-1),
        "sum p log p over the K classes": lambda p: -np.mean(p * np.log(np.clip(p, 1e-12, 1)), axis=-1),
    }
    for word, wrong in mistakes.items():
        result = checks.check_predictive_entropy(wrong)
        assert check_failed(result, word), (word, result.message)

    def library(p):
        return scipy.stats.entropy(p, axis=-1)

    assert check_failed(checks.check_predictive_entropy(library), "stats.entropy")


def test_mutual_information_reference_passes(solution):
    assert checks.check_mutual_information(solution["mutual_information"]).passed


def test_mutual_information_mistakes_fail(solution):
    entropy = solution["predictive_entropy"]
    mistakes = {
        "sign": lambda s: entropy(s).mean(0) - entropy(s.mean(0)),
        "subtract the mean entropy": lambda s: entropy(s.mean(0)),
        "shape": lambda s: entropy(s.mean(1)) - entropy(s).mean(1),
        "one pass": lambda s: entropy(s.mean(0)) - entropy(s[0]),
    }
    for word, wrong in mistakes.items():
        result = checks.check_mutual_information(wrong)
        assert check_failed(result, word), (word, result.message)


def test_mutual_information_is_judged_with_a_reference_entropy(solution):
    """A wrong predictive_entropy (log2) in the notebook does not fail mutual_information a second time."""
    import types

    mi = solution["mutual_information"]
    log2_entropy = lambda p: -np.sum(p * np.log2(np.clip(p, 1e-12, 1)), axis=-1)  # noqa: E731
    notebook_mi = types.FunctionType(mi.__code__, {**mi.__globals__, "predictive_entropy": log2_entropy})
    assert checks.check_mutual_information(notebook_mi).passed


# ---------------------------------------------------------------- auroc


def test_auroc_reference_passes(solution):
    assert checks.check_auroc(solution["auroc"]).passed


def test_auroc_pairwise_passes():
    def pairs(a, b):
        a, b = np.asarray(a)[None, :], np.asarray(b)[:, None]
        return float((b > a).mean() + 0.5 * (b == a).mean())

    assert checks.check_auroc(pairs).passed


def test_auroc_mistakes_fail():
    from sklearn.metrics import roc_auc_score

    swapped = lambda a, b: float((np.asarray(a)[:, None] > np.asarray(b)[None]).mean())  # noqa: E731
    strict = lambda a, b: float((np.asarray(b)[:, None] > np.asarray(a)[None]).mean())  # noqa: E731

    def library(a, b):
        return roc_auc_score(np.r_[np.zeros(len(a)), np.ones(len(b))], np.r_[a, b])

    assert check_failed(checks.check_auroc(swapped), "positive class")
    assert check_failed(checks.check_auroc(strict), "ties")
    assert check_failed(checks.check_auroc(library), "roc_auc_score")


# ---------------------------------------------------------------- ece


def test_ece_reference_passes(solution):
    assert checks.check_expected_calibration_error(solution["expected_calibration_error"]).passed


def test_ece_mistakes_fail(solution):
    def unweighted(probs, labels, n_bins=15):
        confidence, correct = probs.max(1), probs.argmax(1) == labels
        bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
        gaps = [abs(correct[bins == b].mean() - confidence[bins == b].mean())
                for b in range(n_bins) if (bins == b).any()]
        return float(np.mean(gaps))

    def signed(probs, labels, n_bins=15):
        confidence, correct = probs.max(1), probs.argmax(1) == labels
        bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
        return float(sum((bins == b).mean() * (correct[bins == b].mean() - confidence[bins == b].mean())
                         for b in range(n_bins) if (bins == b).any()))

    def fixed_bins(probs, labels, n_bins=15):
        return solution["expected_calibration_error"](probs, labels, 15)

    def global_gap(probs, labels, n_bins=15):
        return float(abs((probs.argmax(1) == labels).mean() - probs.max(1).mean()))

    for wrong, word in ((unweighted, "|B_b| / N"), (signed, "absolute"), (fixed_bins, "n_bins"),
                        (global_gap, "per bin")):
        result = checks.check_expected_calibration_error(wrong)
        assert check_failed(result, word), (wrong.__name__, result.message)


PUBLIC_CHECKS = {
    "gaussian_nll_impl": lambda ns: checks.check_gaussian_nll(ns["gaussian_nll"]),
    "mc_dropout_impl": lambda ns: checks.check_mc_dropout(ns["mc_dropout_samples"], ns["mc_dropout_predict"]),
    "predictive_entropy_impl": lambda ns: checks.check_predictive_entropy(ns["predictive_entropy"]),
    "mutual_information_impl": lambda ns: checks.check_mutual_information(ns["mutual_information"]),
    "auroc_impl": lambda ns: checks.check_auroc(ns["auroc"]),
    "ece_impl": lambda ns: checks.check_expected_calibration_error(ns["expected_calibration_error"]),
}


@pytest.mark.parametrize("mutant", catalogue.MUTANTS, ids=lambda m: f"{'right' if m.correct else 'wrong'}-{m.name}")
def test_public_checks_judge_the_catalogue(solution, mutant):
    judge_catalogue_entry("lab5", mutant, solution, PUBLIC_CHECKS[mutant.cell])
