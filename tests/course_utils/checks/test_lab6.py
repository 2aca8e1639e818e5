"""Lab 6 (neural architecture search): the public checks accept the solution and reject typical mistakes.

The reference implementation is the solution notebook itself: its definition cells are executed
into a namespace once per session.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.lab6 import DEFINITIONS
from course_utils.checks import lab6 as checks
from course_utils.nas import SEARCH_SPACE, BudgetedEvaluator, arch_key, architecture, load_nas_table, space_size
from grader import mutants
from grader.labs import find_lab
from tests.conftest import judge_catalogue_entry, solution_namespace


@pytest.fixture(scope="module")
def lab():
    """The solution notebook's imports, Controller, hyperparameters and exercise solutions."""
    return solution_namespace("lab6_nas", given=DEFINITIONS)


@pytest.fixture(scope="module")
def table():
    return load_nas_table()


def test_table_covers_the_space(table):
    assert len(table) == space_size() == 432
    assert set(table.accuracy) == {arch_key(architecture(i)) for i in range(space_size())}
    assert all(0.0 <= value <= 1.0 for value in table.accuracy.values())
    for key, count in table.params.items():
        assert count == checks.child_params(dict(zip(SEARCH_SPACE, key)))


def test_budgeted_evaluator_charges_distinct_architectures_only():
    calls = []
    evaluator = BudgetedEvaluator(lambda arch: calls.append(arch) or len(calls) / 10, 3)
    a, b, c, d = (architecture(i) for i in (0, 1, 2, 3))
    assert list(evaluator([a, a, b])) == [0.1, 0.1, 0.2]
    assert not evaluator.done and evaluator.samples == 3
    assert list(evaluator([b, c, d])) == [0.2, 0.3]
    assert evaluator.done and len(calls) == 3
    archs, scores = evaluator.result()
    assert archs == [a, b, c] and list(scores) == [0.1, 0.2, 0.3]
    stuck = BudgetedEvaluator(lambda arch: 0.5, 2)
    with pytest.raises(RuntimeError, match="keeps drawing the same few"):
        stuck([a] * (2 * BudgetedEvaluator.MAX_SAMPLES_PER_EVALUATION + 1))
    with pytest.raises(ValueError):
        BudgetedEvaluator(lambda arch: 0.5, space_size() + 1)


def test_build_child(lab):
    assert checks.check_build_child(lab["build_child"]).passed

    def no_skip(arch):
        return lab["build_child"]({**arch, "skip": "none"})

    def always_flatten(arch):
        return lab["build_child"]({**arch, "head": "flatten"})

    def relu_everywhere(arch):
        return lab["build_child"]({**arch, "activation": "relu"})

    for wrong in (no_skip, always_flatten, relu_everywhere):
        result = checks.check_build_child(wrong)
        assert not result.passed and result.problems


def test_build_child_mistakes_are_named():
    residual_flatten = {"filters1": 8, "kernel1": 3, "filters2": 16, "kernel2": 5, "activation": "relu",
                        "skip": "residual", "head": "flatten"}
    assert checks.parameter_count_problem(checks.child_params(residual_flatten), residual_flatten) is None
    named = {"pooling is missing": checks.child_params(residual_flatten, side=14),
             "reads the input image": checks.child_params(residual_flatten, projection_in=1),
             "1x1 projection is missing": checks.child_params({**residual_flatten, "skip": "none"}),
             "swapped": checks.child_params({**residual_flatten, "kernel1": 5, "kernel2": 3}),
             "head is 'gap'": checks.child_params({**residual_flatten, "head": "gap"}),
             "check filters": checks.child_params(residual_flatten) + 1}
    for words, count in named.items():
        assert words in checks.parameter_count_problem(count, residual_flatten)

    equal = {**residual_flatten, "filters1": 16}
    assert "identity shortcut" in checks.parameter_count_problem(checks.child_params({**equal, "skip": "none"}), equal)
    assert "identity shortcut" not in checks.parameter_count_problem(
        checks.child_params({**residual_flatten, "skip": "none"}), residual_flatten)

    gap = {**residual_flatten, "head": "gap"}
    x = np.random.default_rng(1).uniform(size=(2, 28, 28, 1)).astype("float32")
    weights = checks.weights_by_shape([(3, 3, 1, 8), (8,), (5, 5, 8, 16), (16,), (1, 1, 8, 16), (16, 10), (10,)], 0)
    assert checks.forward_problem(checks.child_forward(gap, weights, x), gap, weights, x) is None
    for mistake, message in checks.FORWARD_MISTAKES.items():
        logits = checks.child_forward(gap, weights, x, mistake)
        assert message in checks.forward_problem(logits, gap, weights, x), mistake


def test_layers_problem_reads_the_configuration():
    arch = {"filters1": 8, "kernel1": 3, "filters2": 16, "kernel2": 5, "activation": "tanh", "skip": "none",
            "head": "gap"}
    right = [("InputLayer", None), ("Conv2D", "tanh"), ("MaxPooling2D", None), ("Conv2D", "linear"),
             ("Activation", "tanh"), ("MaxPooling2D", None), ("GlobalAveragePooling2D", None), ("Dense", "linear")]
    assert checks.layers_problem(right, arch) is None
    mistakes = {"Dropout": right[:-1] + [("Dropout", None), ("Dense", "linear")],
                "no softmax": right[:-1] + [("Dense", "softmax")],
                "expected only 'tanh'": right[:4] + [("Activation", "relu")] + right[5:]}
    for words, summary in mistakes.items():
        assert words in checks.layers_problem(summary, arch)


def test_uniform_problem_names_a_choice_never_drawn():
    rng = np.random.default_rng(0)
    archs = [{name: choices[rng.integers(len(choices))] for name, choices in SEARCH_SPACE.items()}
             for _ in range(600)]
    assert checks.uniform_problem(archs, "draws") is None
    last = {name: choices[-1] for name, choices in SEARCH_SPACE.items()}
    without_last = [arch for arch in archs if arch["filters1"] != last["filters1"]]
    problem = checks.uniform_problem(without_last, "draws")
    assert "equally likely" in problem and "never drawn" in problem


def test_random_search(lab, table):
    assert checks.check_random_search(lab["sample_random_architecture"], lab["random_search"], table).passed

    def first_choices(rng):
        return {name: choices[0] for name, choices in SEARCH_SPACE.items()}

    def global_rng(evaluate, budget, seed):
        return lab["random_search"](evaluate, budget, None)

    def with_repeats(evaluate, budget, seed):
        rng = np.random.default_rng(seed)
        archs = [lab["sample_random_architecture"](rng) for _ in range(budget)]
        return archs, np.array([evaluate(arch) for arch in archs])

    result = checks.check_random_search(first_choices, lab["random_search"], table)
    assert not result.passed and "equally likely" in result.problems[0]
    result = checks.check_random_search(lab["sample_random_architecture"], with_repeats, table)
    assert not result.passed and "repeated" in result.problems[0]
    result = checks.check_random_search(lab["sample_random_architecture"], global_rng, table)
    assert not result.passed and "seed" in result.problems[0]


def test_sample_tokens(lab):
    Controller, n_choices = lab["Controller"], lab["N_CHOICES"]
    assert checks.check_sample_tokens(lab["sample_tokens"], Controller, n_choices).passed

    def greedy(controller, n, rng):
        inputs, states = controller.initial(n)
        tokens = np.zeros((n, len(n_choices)), dtype=int)
        for t in range(len(n_choices)):
            logits, states = controller.step(t, inputs, states)
            tokens[:, t] = np.argmax(logits.numpy(), axis=1)
            if t < len(n_choices) - 1:
                inputs = controller.feed(t, tokens[:, t])
        return tokens

    def feeds_nothing(controller, n, rng):
        inputs, states = controller.initial(n)
        tokens = np.zeros((n, len(n_choices)), dtype=int)
        for t, k in enumerate(n_choices):
            logits, states = controller.step(t, inputs, states)
            p = lab["tf"].nn.softmax(logits).numpy().astype(float)
            tokens[:, t] = np.minimum((rng.random((n, 1)) < p.cumsum(axis=1)).argmax(axis=1), k - 1)
            if t < len(n_choices) - 1:
                inputs = controller.feed(t, np.zeros(n, dtype=int))
        return tokens

    for wrong in (greedy, feeds_nothing):
        result = checks.check_sample_tokens(wrong, Controller, n_choices)
        assert not result.passed and "probabilities" in result.problems[0]


def test_log_prob_and_entropy(lab):
    Controller, n_choices, tf = lab["Controller"], lab["N_CHOICES"], lab["tf"]
    assert checks.check_log_prob_and_entropy(lab["log_prob_and_entropy"], Controller, n_choices).passed

    def raw_logits(controller, tokens):
        inputs, states = controller.initial(len(tokens))
        log_prob, entropy = 0.0, 0.0
        for t in range(len(n_choices)):
            logits, states = controller.step(t, inputs, states)
            log_prob += tf.gather(logits, tokens[:, t], axis=1, batch_dims=1)
            entropy += -tf.reduce_sum(tf.nn.softmax(logits) * tf.nn.log_softmax(logits), axis=1)
            if t < len(n_choices) - 1:
                inputs = controller.feed(t, tokens[:, t])
        return log_prob, entropy

    def numpy_values(controller, tokens):
        log_prob, entropy = lab["log_prob_and_entropy"](controller, tokens)
        return log_prob.numpy(), entropy.numpy()

    def last_step_only(controller, tokens):
        log_prob, entropy = lab["log_prob_and_entropy"](controller, tokens)
        return log_prob, entropy / len(n_choices)

    for wrong in (raw_logits, numpy_values, last_step_only):
        result = checks.check_log_prob_and_entropy(wrong, Controller, n_choices)
        assert not result.passed and result.problems


def test_reinforce_step(lab):
    Controller, n_choices = lab["Controller"], lab["N_CHOICES"]
    assert checks.check_reinforce_step(lab["reinforce_step"], Controller, n_choices).passed

    def ascent(controller, optimizer, tokens, rewards, baseline, entropy_weight):
        return lab["reinforce_step"](controller, optimizer, tokens, -np.asarray(rewards), -baseline,
                                     -entropy_weight)

    def no_baseline(controller, optimizer, tokens, rewards, baseline, entropy_weight):
        return lab["reinforce_step"](controller, optimizer, tokens, rewards, 0.0, entropy_weight)

    def no_entropy(controller, optimizer, tokens, rewards, baseline, entropy_weight):
        return lab["reinforce_step"](controller, optimizer, tokens, rewards, baseline, 0.0)

    result = checks.check_reinforce_step(ascent, Controller, n_choices)
    assert not result.passed and "less likely" in result.problems[0]
    result = checks.check_reinforce_step(no_baseline, Controller, n_choices)
    assert not result.passed and "baseline" in result.problems[0]
    result = checks.check_reinforce_step(no_entropy, Controller, n_choices)
    assert not result.passed and "entropy bonus is missing" in result.problems[0]


def _variant(lab: dict, cell: str, old: str, new: str) -> dict:
    """The solution's namespace with answer cell ``cell`` edited, as a student's notebook would define it."""
    notebook = mutants.student_notebook(find_lab("lab6"))
    source = next(c.source for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == cell)
    namespace = dict(lab)
    exec(mutants.wrong(cell, "variant", edits=[(old, new)]).apply(source), namespace)
    return namespace


def test_controller_search(lab, table):
    assert checks.check_controller_search(lab["controller_search"], table).passed
    whole_batches = _variant(lab, "controller_search_impl", "BudgetedEvaluator(evaluate, budget)",
                             "BudgetedEvaluator(evaluate, -(-budget // batch_size) * batch_size)")
    never_learns = _variant(lab, "controller_search_impl", "keras.optimizers.Adam(learning_rate)",
                            "keras.optimizers.Adam(0.0)")
    repeats_first = _variant(lab, "controller_search_impl", "    return evaluator.result()",
                             "    archs, rewards = evaluator.result()\n"
                             "    return [archs[0], *archs[:-1]], np.r_[rewards[:1], rewards[:-1]]")

    result = checks.check_controller_search(whole_batches["controller_search"], table)
    assert not result.passed and "budget" in result.problems[0]
    result = checks.check_controller_search(repeats_first["controller_search"], table)
    assert not result.passed and "repeated" in result.problems[0]
    result = checks.check_controller_search(never_learns["controller_search"], table)
    assert not result.passed and "learning rate" in result.problems[0]
    for old, new, words in (("Controller(seed=seed)", "Controller(seed=0)", "Controller(seed=seed)"),
                            ("baseline, entropy_weight)", "baseline, ENTROPY_WEIGHT)", "entropy_weight"),
                            ("keras.optimizers.Adam(learning_rate)", "keras.optimizers.SGD(learning_rate)", "Adam"),
                            ("progress.update(reward=rewards.mean(), baseline=baseline)", "progress.update(baseline)",
                             "progress.update")):
        result = checks.check_controller_search(_variant(lab, "controller_search_impl", old, new)["controller_search"],
                                                table)
        assert not result.passed and words in result.problems[0], (old, result.problems)


def test_compare(lab, table):
    random_search, controller_search = lab["random_search"], lab["controller_search"]
    assert checks.check_compare(lab["best_so_far"], lab["compare"], random_search, controller_search, table).passed

    def running_mean(rewards):
        return np.cumsum(rewards) / np.arange(1, len(rewards) + 1)

    def one_seed(evaluate, budget, seeds):
        return lab["compare"](evaluate, budget, [seeds[0]] * len(seeds))

    result = checks.check_compare(running_mean, lab["compare"], random_search, controller_search, table)
    assert not result.passed and "best_so_far" in result.problems[0]
    result = checks.check_compare(lab["best_so_far"], one_seed, random_search, controller_search, table)
    assert not result.passed and "seed" in result.problems[0]


CATALOGUE = mutants.catalogue(find_lab("lab6"))


@pytest.mark.parametrize("mutant", CATALOGUE, ids=[m.name for m in CATALOGUE])
def test_catalogue_judge_catalogue_entry(lab, table, mutant):
    """Each catalogued answer, run in the solution's namespace: wrong ones fail their own check and say why."""
    judge_catalogue_entry("lab6", mutant, {**lab, "checks": checks, "table": table})
