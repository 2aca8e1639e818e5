"""Lab 5's public checks pass on the solution notebook's code and fail on typical mistakes.

The reference implementations are the solution cells of
``solutions/lab5_uncertainty/lab5_uncertainty.ipynb`` (executed here without the rest of the
notebook), so the notebook stays the one source of truth.
"""

from __future__ import annotations

import nbformat
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from course_utils.checks import lab5 as checks  # noqa: E402
from tests.conftest import REPO, check_failed, solution_namespace  # noqa: E402

NOTEBOOK = REPO / "solutions" / "lab5_uncertainty" / "lab5_uncertainty.ipynb"


@pytest.fixture(scope="module")
def solution() -> dict:
    import scipy.stats

    return solution_namespace("lab5_uncertainty", np=np, tf=tf, keras=keras, scipy=scipy)


def test_notebook_structure():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids))
    graded = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"]
              for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}
    assert graded == {"gaussian_nll": 2, "mc_dropout": 3, "predictive_entropy": 2, "mutual_information": 2,
                      "auroc": 2, "ece": 3, "q_softmax": 1, "q_reducible": 2, "q_passes": 2, "q_ensemble": 2}
    assert "course_utils.setup(seed=5)" in nb.cells[1].source
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            assert "# TODO" in cell.source and "### BEGIN SOLUTION" in cell.source


# ---------------------------------------------------------------- gaussian_nll


def test_gaussian_nll_reference_passes(solution):
    assert checks.check_gaussian_nll(solution["gaussian_nll"]).passed


def test_gaussian_nll_mistakes_fail():
    no_half = lambda y, m, s: tf.reduce_mean(np.log(2 * np.pi) + s + (y - m) ** 2 * tf.exp(-s))  # noqa: E731
    no_constant = lambda y, m, s: tf.reduce_mean(0.5 * (s + (y - m) ** 2 * tf.exp(-s)))  # noqa: E731
    times_var = lambda y, m, s: tf.reduce_mean(0.5 * (np.log(2 * np.pi) + s + (y - m) ** 2 * tf.exp(s)))  # noqa: E731
    numpy_only = lambda y, m, s: np.mean(0.5 * (np.log(2 * np.pi) + np.asarray(s)  # noqa: E731
                                                + (np.asarray(y) - np.asarray(m)) ** 2 * np.exp(-np.asarray(s))))
    summed = lambda y, m, s: tf.reduce_sum(0.5 * (np.log(2 * np.pi) + s + (y - m) ** 2 * tf.exp(-s)))  # noqa: E731
    assert check_failed(checks.check_gaussian_nll(no_half), "factor 1/2")
    assert check_failed(checks.check_gaussian_nll(no_constant), "constant")
    assert check_failed(checks.check_gaussian_nll(times_var), "gaussian_nll")
    assert check_failed(checks.check_gaussian_nll(numpy_only), "no gradient")
    assert check_failed(checks.check_gaussian_nll(summed), "gaussian_nll")


# ---------------------------------------------------------------- mc_dropout


def test_mc_dropout_reference_passes(solution):
    assert checks.check_mc_dropout(solution["mc_dropout_samples"], solution["mc_dropout_predict"]).passed


def test_mc_dropout_mistakes_fail(solution):
    def no_dropout(model, x, T):
        return np.stack([np.asarray(model(x)) for _ in range(T)])

    def unbiased(model, x, T):
        samples = solution["mc_dropout_samples"](model, x, T)
        return samples.mean(0), samples.var(0, ddof=1)

    def std_not_var(model, x, T):
        samples = solution["mc_dropout_samples"](model, x, T)
        return samples.mean(0), samples.std(0)

    def wrong_axis(model, x, T):
        return np.concatenate([np.asarray(model(x, training=True)) for _ in range(T)])

    predict = solution["mc_dropout_predict"]
    assert check_failed(checks.check_mc_dropout(no_dropout, predict), "training=True")
    assert check_failed(checks.check_mc_dropout(wrong_axis, predict), "shape")
    assert check_failed(checks.check_mc_dropout(solution["mc_dropout_samples"], unbiased), "T-1")
    assert check_failed(checks.check_mc_dropout(solution["mc_dropout_samples"], std_not_var), "variance")


# ---------------------------------------------------------------- entropy, mutual information


def test_entropy_reference_passes(solution):
    assert checks.check_predictive_entropy(solution["predictive_entropy"]).passed


def test_entropy_mistakes_fail():
    naive = lambda p: -np.sum(p * np.log(p), axis=-1)  # noqa: E731  (0 log 0 = NaN)
    base2 = lambda p: -np.sum(p * np.log2(np.clip(p, 1e-12, 1)), axis=-1)  # noqa: E731
    wrong_axis = lambda p: -np.sum(p * np.log(np.clip(p, 1e-12, 1)), axis=0)  # noqa: E731
    assert check_failed(checks.check_predictive_entropy(naive), "NaN")
    assert check_failed(checks.check_predictive_entropy(base2), "natural logarithm")
    assert check_failed(checks.check_predictive_entropy(wrong_axis), "shape")


def test_mutual_information_reference_passes(solution):
    assert checks.check_mutual_information(solution["mutual_information"]).passed


def test_mutual_information_mistakes_fail(solution):
    entropy = solution["predictive_entropy"]
    reversed_sign = lambda s: entropy(s).mean(0) - entropy(s.mean(0))  # noqa: E731
    entropy_only = lambda s: entropy(s.mean(0))  # noqa: E731
    wrong_axis = lambda s: entropy(s.mean(1)) - entropy(s).mean(1)  # noqa: E731
    assert check_failed(checks.check_mutual_information(reversed_sign), "sign")
    assert check_failed(checks.check_mutual_information(entropy_only), "agree")
    assert check_failed(checks.check_mutual_information(wrong_axis), "shape")


# ---------------------------------------------------------------- auroc


def test_auroc_reference_passes(solution):
    assert checks.check_auroc(solution["auroc"]).passed


def test_auroc_mistakes_fail():
    swapped = lambda a, b: float((np.asarray(a)[:, None] > np.asarray(b)[None]).mean())  # noqa: E731
    strict = lambda a, b: float((np.asarray(b)[:, None] > np.asarray(a)[None]).mean())  # noqa: E731
    assert check_failed(checks.check_auroc(swapped), "positive class")
    assert check_failed(checks.check_auroc(strict), "ties")


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

    def fixed_bins(probs, labels, n_bins=15):
        return solution["expected_calibration_error"](probs, labels, 15)

    def global_gap(probs, labels, n_bins=15):
        return float(abs((probs.argmax(1) == labels).mean() - probs.max(1).mean()))

    assert check_failed(checks.check_expected_calibration_error(unweighted), "ECE")
    assert check_failed(checks.check_expected_calibration_error(fixed_bins), "n_bins")
    assert check_failed(checks.check_expected_calibration_error(global_gap), "ECE")
