"""Lab 9's public checks pass on the solution notebook's code and fail on typical mistakes.

The reference implementations are the solution cells of ``solutions/lab9_gcn/lab9_gcn.ipynb``
(executed here without the rest of the notebook), so the notebook stays the one source of truth.
Every entry of the mutation catalogue is judged here by its public check; the grader's mutation run
judges them by the hidden checks too.
"""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from course_utils.checks import lab9 as checks  # noqa: E402
from grader.mutants import lab9 as catalogue  # noqa: E402
from tests.conftest import judge_catalogue_entry, solution_namespace  # noqa: E402


@pytest.fixture(scope="module")
def solution() -> dict:
    return solution_namespace("lab9_gcn", np=np, tf=tf, keras=keras)


def test_random_graph_lists_what_it_promises():
    edges = checks.random_graph(10, 12, 0, self_links=2, repeats=3, isolated=2)
    assert edges.shape == (2, 17) and edges.max() < 8
    assert (edges[0] == edges[1]).sum() == 2
    pairs = [tuple(sorted(p)) for p in edges.T if p[0] != p[1]]
    assert len(pairs) - len(set(pairs)) == 3


def test_reference_adjacency_by_hand():
    # A path 0 - 1 - 2 and an isolated node 3: degrees of A + I are 2, 3, 2, 1.
    expected = np.array([[1 / 2, 1 / np.sqrt(6), 0, 0], [1 / np.sqrt(6), 1 / 3, 1 / np.sqrt(6), 0],
                         [0, 1 / np.sqrt(6), 1 / 2, 0], [0, 0, 0, 1]])
    np.testing.assert_allclose(checks.reference_adjacency(np.array([[0, 2, 1], [1, 1, 0]]), 4), expected)


def test_adjacency_eigenvalues_lie_in_minus_one_one(solution):
    operator = tf.sparse.to_dense(solution["normalized_adjacency"](checks.random_graph(30, 60, 3, isolated=3), 30))
    eigenvalues = np.linalg.eigvalsh(operator.numpy().astype(np.float64))
    assert eigenvalues.max() == pytest.approx(1.0, abs=1e-5) and eigenvalues.min() > -1


def test_expected_stop_counts_patience():
    assert checks.expected_stop([1.0, 0.9, 0.95, 0.8, 0.85, 0.84], patience=2, epochs=6) == (6, 4)
    assert checks.expected_stop([1.0, 1.1, 1.2], patience=2, epochs=3) == (3, 1)
    assert checks.expected_stop([1.0, 0.9], patience=5, epochs=2) == (2, 2)


def test_diagnoses_accept_the_references():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(9, 4))
    assert checks.diagnose_mean_cosine(checks.reference_mean_cosine(h), h) is None
    assert checks.diagnose_pca(-checks.reference_pca(h), h) is None
    problem = checks.small_problem(1)
    logits = rng.normal(size=(9, 3))
    got = checks.reference_masked_cross_entropy(problem["labels"], logits, problem["mask"])
    assert checks.diagnose_masked_cross_entropy(got, problem["labels"], logits, problem["mask"]) is None


def test_solution_passes_every_check(solution):
    s = solution
    assert checks.check_normalized_adjacency(s["normalized_adjacency"]).passed
    assert checks.check_graph_conv(s["GraphConv"]).passed
    assert checks.check_gcn(s["GCN"]).passed
    assert checks.check_training(s["masked_cross_entropy"], s["train_step"]).passed
    assert checks.check_early_stopping(s["evaluate"], s["fit_gcn"]).passed
    assert checks.check_label_propagation(s["label_propagation"]).passed
    assert checks.check_smoothing_and_pca(s["mean_cosine_similarity"], s["pca_2d"]).passed


def test_a_crash_is_a_failure_not_an_exception():
    def broken(edges, num_nodes):
        raise NotImplementedError()

    result = checks.check_normalized_adjacency(broken)
    assert not result.passed and "not written yet" in result.message


PUBLIC_CHECKS = {
    "adjacency_impl": lambda ns: checks.check_normalized_adjacency(ns["normalized_adjacency"]),
    "graph_conv_impl": lambda ns: checks.check_graph_conv(ns["GraphConv"]),
    "gcn_impl": lambda ns: checks.check_gcn(ns["GCN"]),
    "training_impl": lambda ns: checks.check_training(ns["masked_cross_entropy"], ns["train_step"]),
    "fit_impl": lambda ns: checks.check_early_stopping(ns["evaluate"], ns["fit_gcn"]),
    "label_propagation_impl": lambda ns: checks.check_label_propagation(ns["label_propagation"]),
    "smoothing_impl": lambda ns: checks.check_smoothing_and_pca(ns["mean_cosine_similarity"], ns["pca_2d"]),
}


@pytest.mark.parametrize("mutant", catalogue.MUTANTS, ids=lambda m: f"{'right' if m.correct else 'wrong'}-{m.name}")
def test_public_checks_judge_the_catalogue(solution, mutant):
    judge_catalogue_entry("lab9", mutant, solution, PUBLIC_CHECKS[mutant.cell])
