"""Hidden checks of Lab 6 (neural architecture search).

References are computed here: parameter counts from the search space's formula,
the controller's forward pass re-implemented in TensorFlow from the weights that
the student's (locked) ``Controller`` class holds, the REINFORCE loss and its
gradient from that re-implementation, and table lookups from the trusted copy of
the tabular benchmark.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_utils.checks import lab6 as public
from course_utils.nas import SEARCH_SPACE, arch_key, architecture, load_nas_table, space_size
from grader.harness import expect, expect_close, expect_no_problem, generated, kernel_module, points

N_CHOICES = [len(choices) for choices in SEARCH_SPACE.values()]
OFFSETS = [int(offset) for offset in np.cumsum([0] + N_CHOICES)]
# Sets the weights of a fresh Controller(seed=s) to its initial weights times k, inside the student's kernel.
SCALED = "(lambda c: (c.set_weights([w * {k} for w in c.get_weights()]), c)[1])(Controller(seed={s}))"


@pytest.fixture(scope="module")
def table():
    return load_nas_table()


def _plain(arch: dict) -> tuple:
    """An architecture as it comes back from the student's kernel, as a comparable tuple."""
    return tuple(value.item() if isinstance(value, np.ndarray) else value for value in arch.values())


def _rows(archs) -> list[tuple]:
    """Architectures as comparable tuples of plain values, whatever types came back."""
    return [tuple(np.asarray(value).item() for value in arch) for arch in archs]


def _valid(arch) -> bool:
    return (isinstance(arch, dict) and list(arch) == list(SEARCH_SPACE)
            and all(value in SEARCH_SPACE[name] for name, value in zip(SEARCH_SPACE, _plain(arch))))


def _weights(student, seed: int, scale: float) -> list[np.ndarray]:
    weights = student.call(f"lambda: {SCALED.format(s=seed, k=scale)}.get_weights()")
    shapes = [tuple(np.shape(w)) for w in weights]
    expect(len(weights) == 7 and shapes[1] == (OFFSETS[-1], shapes[0][1]),
           "the Controller class was changed: it is a locked cell, restore it")
    return [np.asarray(w, dtype=np.float32) for w in weights]


def _forward(weights, tokens):
    """Teacher-forced log-probabilities (n,), entropies (n,) and conditionals [(n, k_t)], as tensors."""
    import tensorflow as tf

    start, embedding, kernel, recurrent, bias, head_kernel, head_bias = weights
    tokens = np.asarray(tokens, dtype=np.int32)
    n, hidden = len(tokens), recurrent.shape[0]
    inputs = tf.tile(start, [n, 1])
    h = c = tf.zeros((n, hidden))
    log_prob, entropy, conditionals = tf.zeros(n), tf.zeros(n), []
    for t, k in enumerate(N_CHOICES):
        i, f, g, o = tf.split(tf.matmul(inputs, kernel) + tf.matmul(h, recurrent) + bias, 4, axis=1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        log_p = tf.nn.log_softmax((tf.matmul(h, head_kernel) + head_bias)[:, OFFSETS[t]:OFFSETS[t + 1]])
        log_prob += tf.reduce_sum(log_p * tf.one_hot(tokens[:, t], k), axis=1)
        entropy -= tf.reduce_sum(tf.exp(log_p) * log_p, axis=1)
        conditionals.append(tf.exp(log_p).numpy().astype(float))
        inputs = tf.gather(embedding, OFFSETS[t] + tokens[:, t])
    return log_prob, entropy, conditionals


# Runs in the student's kernel: the student's function with reference versions of what it calls
# (course_utils' public references, which the sandbox can import), returning plain data only.
_WITH_REFERENCES = """
import keras
import numpy as np
from course_utils.checks import lab6 as ref
from course_utils.checks import with_references

N = [len(choices) for choices in ref.SEARCH_SPACE.values()]


def reinforce(reinforce_step, Controller, seed, scale, tokens, rewards, baseline, beta, lr):
    log_prob = lambda c, t: ref.reference_log_prob_and_entropy(c, t, N)  # noqa: E731
    step = with_references(reinforce_step, log_prob_and_entropy=log_prob)
    controller = ref.scaled_controller(Controller, seed, scale)
    loss = step(controller, keras.optimizers.SGD(lr), tokens, rewards, baseline, beta)
    return float(loss), controller.get_weights()


def search(controller_search, table, budget, seed, **options):
    run, recorder = ref.with_reference_steps(controller_search, N)
    archs, rewards = run(table.lookup, budget, seed=seed, **options)
    return recorder.calls, [list(arch.values()) for arch in archs], rewards


def search_options(controller_search, table, budget, seed, **options):
    run, recorder = ref.with_reference_steps(controller_search, N)
    progress = ref.RecordingProgress()
    run(table.lookup, budget, seed=seed, progress=progress, **options)
    return (recorder.calls, [list(option) for option in recorder.options], recorder.first_weights,
            progress.updates)


def gradients(log_prob_and_entropy, Controller, seed, scale, tokens):
    import tensorflow as tf

    controller = ref.scaled_controller(Controller, seed, scale)
    with tf.GradientTape() as tape:
        log_prob, entropy = log_prob_and_entropy(controller, tokens)
        total = tf.reduce_sum(log_prob) + 0.5 * tf.reduce_sum(entropy)
    grads = tape.gradient(total, controller.trainable_variables)
    return [None if g is None else tf.convert_to_tensor(g).numpy() for g in grads]
"""


def _with_references(function: str, *student_names: str) -> str:
    """A kernel expression calling ``function`` of :data:`_WITH_REFERENCES` with the student's ``student_names``."""
    names = "".join(f"{name}, " for name in student_names)
    return (f"lambda *a, **k: (lambda ns: (exec({_WITH_REFERENCES!r}, ns), ns[{function!r}]({names}*a, **k))[1])"
            f"({{}})")


def _random_tokens(rng, n: int) -> np.ndarray:
    return np.stack([rng.integers(k, size=n) for k in N_CHOICES], axis=1)


# ---------------------------------------------------------------- Exercise 1: build_child

@points(0.5, question="build_child")
def test_build_child_parameter_counts(student):
    for index in (3, 22, 64, 89, 118, 131, 217, 302, 389, 430):
        arch = architecture(index)
        got = student.call("lambda a: build_child(a).count_params()", arch)
        expect_no_problem(public.parameter_count_problem(got, arch))


def _generated_architectures(seed: int, n: int) -> list[dict]:
    """``n`` architectures drawn with a fixed seed, always including residual ones with filters1 == filters2
    (where an identity shortcut has the right output shape) and both heads."""
    rng = np.random.default_rng(seed)
    equal = [i for i in range(space_size()) if architecture(i)["skip"] == "residual"
             and architecture(i)["filters1"] == architecture(i)["filters2"]]
    chosen = list(rng.choice(equal, size=2, replace=False)) + list(rng.choice(space_size(), size=n - 2, replace=False))
    return [architecture(int(i)) for i in chosen]


@points(0.5, question="build_child")
def test_build_child_specification_from_configuration(student):
    archs = _generated_architectures(61, 10)
    models = student.call(f"lambda archs: [(m := build_child(a), (m.count_params(), tuple(m(np.zeros((3, 28, 28, 1), "
                          f"'float32')).shape), {kernel_module('course_utils.checks.lab6')}.layer_summary(m)))[1] "
                          f"for a in archs]", archs, _timeout=120)
    for arch, (count, shape, summary) in zip(archs, models, strict=True):
        expect(tuple(shape) == (3, 10), f"build_child({arch}) maps a batch of 3 images to shape {tuple(shape)}, "
                                        f"expected (3, 10)")
        expect_no_problem(public.parameter_count_problem(count, arch))
        expect_no_problem(public.layers_problem([(str(kind), activation) for kind, activation in summary], arch))


@points(1, question="build_child")
def test_build_child_forward_pass(student):
    x = np.random.default_rng(60).uniform(size=(2, 28, 28, 1)).astype(np.float32)
    for index in (29, 151, 215, 287, 359, 407):
        arch = architecture(index)
        shapes = student.call("lambda a: [tuple(v.shape) for v in build_child(a).weights]", arch)
        weights = public.weights_by_shape([tuple(int(d) for d in shape) for shape in shapes], seed=index)
        expected = {str(shape) for shape in public.child_weight_shapes(arch)}
        expect(set(weights) == expected, f"build_child({arch}) has weights of shapes {sorted(weights)}, which is not "
                                         f"what the layer recipe gives")
        logits = student.call("lambda a, x, w: [m := build_child(a), [v.assign(w[str(tuple(v.shape))]) "
                              "for v in m.weights], m(x).numpy()][-1]", arch, x, weights)
        expect_no_problem(public.forward_problem(logits, arch, weights, x))


# ---------------------------------------------------------------- Exercise 2: random search

@points(0.5, question="random_search")
def test_random_architectures_valid_and_uniform(student):
    archs = student.call("lambda s, n: (lambda rng: [sample_random_architecture(rng) for _ in range(n)])"
                         "(np.random.default_rng(s))", 17, 900)
    expect(len(archs) == 900 and all(_valid(arch) for arch in archs),
           "sample_random_architecture returned something that is not an architecture of the search space")
    expect_no_problem(public.uniform_problem([dict(zip(SEARCH_SPACE, _plain(arch))) for arch in archs],
                                             "sample_random_architecture"))


# Kernel-side: draws of sample_random_architecture with one seeded generator, the global NumPy and TensorFlow
# generators reseeded differently before each run, and the type names of the choices.
_ARCH_DRAWS = ("lambda seed, n: [(np.random.seed(g), tf.random.set_seed(g), (lambda rng: [(list(a.values()), "
               "[type(v).__name__ for v in a.values()]) for a in (sample_random_architecture(rng) for _ in range(n))])"
               "(np.random.default_rng(seed)))[2] for g in (1, 2)]")


@points(0.5, question="random_search")
def test_random_architectures_draw_only_from_rng(student):
    first, second = student.call(_ARCH_DRAWS, 23, 40)
    expect([values for values, _ in first] == [values for values, _ in second],
           "sample_random_architecture gave different architectures for the same generator state: draw only "
           "with rng (no np.random, random or tf.random)")
    expected = [type(choices[0]).__name__ for choices in SEARCH_SPACE.values()]
    for _, names in first:
        for name, got, want in zip(SEARCH_SPACE, names, expected, strict=True):
            expect(got == want or (want == "str" and got == "str_"),
                   f"sample_random_architecture returns {name} as a {got}: a choice keeps its own type ({want}); "
                   f"take it from the tuple of choices by a drawn index")
    other = student.call(_ARCH_DRAWS, 24, 40)[0]
    expect([values for values, _ in other] != [values for values, _ in first],
           "sample_random_architecture gave the same architectures for generators of different seeds: draw with rng")


@points(1, question="random_search")
def test_random_search_scores_and_seeds(student, table):
    call = "lambda s: (lambda r: ([list(a.values()) for a in r[0]], r[1]))(random_search(table.lookup, 97, s))"
    archs, rewards = student.call(call, 21)
    expect(len(archs) == 97 and np.shape(rewards) == (97,),
           "random_search(evaluate, budget, seed) must return `budget` architectures and scores")
    expect(all(row in table.accuracy for row in _rows(archs)),
           "random_search returned an architecture that is not in the search space")
    expect(len(set(_rows(archs))) == 97, "random_search counted a repeated architecture against the budget")
    expect_close(rewards, [table.accuracy[row] for row in _rows(archs)], what="random_search scores", atol=1e-9)
    expect(_rows(student.call(call, 21)[0]) == _rows(archs), "random_search is not reproducible for a fixed seed")
    expect(_rows(student.call(call, 22)[0]) != _rows(archs),
           "random_search gives the same architectures for different seeds")


# ---------------------------------------------------------------- Exercise 3: sampling

@points(1, question="sample_tokens")
def test_sample_tokens_shape_and_range(student):
    for n in (1, 13):
        tokens = np.asarray(student.call(f"lambda: sample_tokens({SCALED.format(s=4, k=1.0)}, {n}, "
                                         f"np.random.default_rng(5))"))
        expect(tokens.shape == (n, len(N_CHOICES)), f"sample_tokens(controller, {n}, rng) has shape "
                                                    f"{tokens.shape}, expected ({n}, {len(N_CHOICES)})")
        expect(np.issubdtype(tokens.dtype, np.integer), "sample_tokens should return integer tokens")
        expect(all(0 <= tokens[:, t].min() and tokens[:, t].max() < k for t, k in enumerate(N_CHOICES)),
               "a sampled token is outside the choices of its decision")


@points(0.5, question="sample_tokens")
def test_sample_tokens_draw_only_from_rng(student):
    runs = student.call(f"lambda: [(np.random.seed(g), tf.random.set_seed(g), sample_tokens("
                        f"{SCALED.format(s=4, k=6.0)}, 50, np.random.default_rng(s)))[2] for g, s in ((1, 3), (2, 3), "
                        f"(1, 4))]")
    same, again, other = (np.asarray(run) for run in runs)
    expect(np.array_equal(same, again), "sample_tokens gave different tokens for the same generator state: draw "
                                        "only with rng (no np.random or tf.random)")
    expect(not np.array_equal(same, other), "sample_tokens gave the same tokens for generators of different seeds: "
                                            "draw with rng")


@points(0.5, question="sample_tokens")
def test_sample_tokens_follow_the_conditionals(student):
    weights = _weights(student, seed=8, scale=12.0)
    tokens = np.asarray(student.call(f"lambda: sample_tokens({SCALED.format(s=8, k=12.0)}, 600, "
                                     f"np.random.default_rng(9))"))
    expect(tokens.shape == (600, len(N_CHOICES)), "sample_tokens returned the wrong shape")
    _, _, conditionals = _forward(weights, tokens)
    expect_no_problem(public.sampling_problem(tokens, conditionals))


# ---------------------------------------------------------------- Exercise 4: log-probability

@points(1, question="log_prob")
def test_log_prob_matches_reference(student):
    rng = np.random.default_rng(31)
    for seed, scale, n in ((5, 4.0, 9), (6, 9.0, 1)):
        weights = _weights(student, seed, scale)
        tokens = _random_tokens(rng, n)
        got = student.call(f"lambda x: log_prob_and_entropy({SCALED.format(s=seed, k=scale)}, x)[0]", tokens)
        expected, _, _ = _forward(weights, tokens)
        expect_close(got, expected.numpy(), what="log-probability", atol=1e-4, rtol=1e-4)


@points(1, question="log_prob")
def test_log_prob_gradients_and_stability(student):
    import tensorflow as tf

    tokens = _random_tokens(np.random.default_rng(33), 6)
    seed, scale = 9, 3.0
    variables = [tf.Variable(w) for w in _weights(student, seed, scale)]
    with tf.GradientTape() as tape:
        log_prob, entropy, _ = _forward(variables, tokens)
        total = tf.reduce_sum(log_prob) + 0.5 * tf.reduce_sum(entropy)
    expected = tape.gradient(total, variables)
    got = student.call(_with_references("gradients", "log_prob_and_entropy", "Controller"), seed, scale, tokens)
    expect(all(g is not None for g in got), "no gradient reaches some of the controller's weights: compute the "
                                            "log-probability and the entropy with TensorFlow operations only")
    for g, e in zip(got, expected, strict=True):
        expect_close(g, tf.convert_to_tensor(e).numpy(), what="the gradient of the log-probability and the entropy",
                     atol=1e-4, rtol=1e-3)
    sharp = _weights(student, 10, public.SHARP_SCALE)
    got_lp, got_h = student.call(f"lambda x: [np.asarray(v) for v in log_prob_and_entropy("
                                 f"{SCALED.format(s=10, k=public.SHARP_SCALE)}, x)]", tokens)
    expect(np.all(np.isfinite(got_lp)) and np.all(np.isfinite(got_h)), public.UNSTABLE)
    expected_lp, expected_h, _ = _forward(sharp, tokens)
    expect_close(got_lp, expected_lp.numpy(), what="log-probability of a sharply peaked controller", atol=1e-3,
                 rtol=1e-4)
    expect_close(got_h, expected_h.numpy(), what="entropy of a sharply peaked controller", atol=1e-3, rtol=1e-4)


@points(1, question="log_prob")
def test_entropy_matches_reference(student):
    weights = _weights(student, 7, 5.0)
    tokens = _random_tokens(np.random.default_rng(32), 7)
    got = student.call(f"lambda x: log_prob_and_entropy({SCALED.format(s=7, k=5.0)}, x)[1]", tokens)
    _, expected, _ = _forward(weights, tokens)
    expect_close(got, expected.numpy(), what="summed entropy", atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------- Exercise 5: REINFORCE

def _student_update(student, seed, scale, tokens, rewards, baseline, beta, lr):
    """The loss and the weights after one student update, run with the reference log_prob_and_entropy."""
    return student.call(_with_references("reinforce", "reinforce_step", "Controller"), seed, scale, tokens, rewards,
                        baseline, beta, lr)


@points(1.5, question="reinforce")
def test_reinforce_loss_and_gradient(student):
    import tensorflow as tf

    seed, scale, lr, baseline, beta = 11, 2.0, 0.05, 0.62, 0.03
    tokens = _random_tokens(np.random.default_rng(40), 8)
    rewards = np.random.default_rng(41).uniform(0.3, 0.9, size=8)
    weights = _weights(student, seed, scale)
    variables = [tf.Variable(w) for w in weights]
    advantages = tf.constant((rewards - baseline).astype(np.float32))
    with tf.GradientTape() as tape:
        log_prob, entropy, _ = _forward(variables, tokens)
        loss = -tf.reduce_mean(advantages * log_prob) - beta * tf.reduce_mean(entropy)
    grads = tape.gradient(loss, variables)
    got_loss, after = _student_update(student, seed, scale, tokens, rewards, baseline, beta, lr)
    expect(np.ndim(got_loss) == 0, "reinforce_step should return the loss L as one number")
    expect_no_problem(public.loss_mistake(float(got_loss), log_prob.numpy(), entropy.numpy(), rewards, baseline,
                                          beta))
    expect_close(got_loss, float(loss), what="the returned loss", atol=1e-4, rtol=1e-4)
    for w, a, g in zip(weights, after, grads):
        expect_close(np.asarray(a) - w, -lr * tf.convert_to_tensor(g).numpy(), what="the SGD update of the weights",
                     atol=1e-5, rtol=1e-3)


@points(1.5, question="reinforce")
def test_reinforce_moves_probability_toward_good_architectures(student):
    seed, scale, baseline = 12, 3.0, 0.5
    tokens = _random_tokens(np.random.default_rng(42), 4)
    weights = _weights(student, seed, scale)
    for row, reward in zip(tokens, (0.2, 0.9, 0.35, 0.8)):
        _, after = _student_update(student, seed, scale, row[None], np.array([reward]), baseline, 0.0, 0.05)
        before_lp = float(_forward(weights, row[None])[0].numpy()[0])
        after_lp = float(_forward([np.asarray(a, dtype=np.float32) for a in after], row[None])[0].numpy()[0])
        if reward > baseline:
            expect(after_lp > before_lp, "an update on an architecture that beat the baseline made it less likely")
        else:
            expect(after_lp < before_lp, "an update on an architecture below the baseline made it more likely")


# ---------------------------------------------------------------- Exercise 6: the search loop

def _search(student, budget: int, seed: int, **options):
    """(calls to reinforce_step, architectures as lists, rewards) of the student's search with reference steps."""
    return student.call(_with_references("search", "controller_search", "table"), budget, seed, _timeout=120,
                        **options)


@points(0.5, question="controller_search")
def test_controller_search_budget_and_rewards(student, table):
    _, archs, rewards = _search(student, 17, 13, batch_size=4)
    expect(len(archs) == 17 and np.shape(rewards) == (17,),
           "controller_search does not return exactly `budget` architectures and rewards")
    expect(all(row in table.accuracy for row in _rows(archs)),
           "controller_search returned an architecture that is not in the search space")
    expect(len(set(_rows(archs))) == 17, "controller_search counted a repeated architecture against the budget")
    expect_close(rewards, [table.accuracy[row] for row in _rows(archs)], what="controller_search rewards",
                 atol=1e-9)
    expect(_rows(_search(student, 17, 13, batch_size=4)[1]) == _rows(archs),
           "controller_search is not reproducible for a fixed seed")


@points(0.5, question="controller_search")
def test_controller_search_baseline(student, table):
    for seed, batch, decay in ((17, 3, 0.6), (18, 5, 0.9)):
        calls, _, _ = _search(student, 19, seed, batch_size=batch, decay=decay)
        calls = [(np.asarray(tokens), np.asarray(rewards, dtype=float), baseline) for tokens, rewards, baseline in
                 calls]
        expect_no_problem(public.baseline_problem(calls, decay))
        for tokens, rewards, _ in calls:
            archs = [{name: SEARCH_SPACE[name][int(i)] for name, i in zip(SEARCH_SPACE, row)} for row in tokens]
            expect_close(rewards, [table.accuracy[arch_key(arch)] for arch in archs],
                         what="the rewards passed to reinforce_step (the scores of its tokens)", atol=1e-9)


@points(0.5, question="controller_search")
def test_controller_search_honours_its_arguments(student, table):
    seed, learning_rate, beta = 19, 0.045, 0.013
    calls, options, first_weights, updates = student.call(
        _with_references("search_options", "controller_search", "table"), 14, seed, batch_size=3,
        learning_rate=learning_rate, entropy_weight=beta, _timeout=120)
    expect(bool(options), "controller_search never called reinforce_step")
    calls = [(np.asarray(tokens), np.asarray(rewards, dtype=float), baseline) for tokens, rewards, baseline in calls]
    expect_no_problem(public.search_options_problem([tuple(option) for option in options], first_weights,
                                                    _weights(student, seed, 1.0), learning_rate, beta))
    expect_no_problem(public.progress_problem(updates, calls))


@points(0.5, question="controller_search")
def test_controller_search_learns(student, table):
    early, late = [], []
    for seed in (14, 15, 16):
        rewards = np.asarray(_search(student, 60, seed)[2])
        expect(rewards.shape == (60,), "controller_search does not return `budget` rewards")
        early.append(rewards[:15].mean())
        late.append(rewards[-15:].mean())
    average = np.mean(list(table.accuracy.values()))  # what a controller that does not learn gets
    expect(np.mean(late) > max(np.mean(early) + 0.02, average + 0.1),
           "over several seeds, the rewards at the end of a search are not clearly higher than at the start "
           "and than the average architecture's")


# ---------------------------------------------------------------- Exercise 7: the comparison

_REWARDS = st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32), min_size=1, max_size=40)


@points(1, question="compare")
@generated(max_examples=6)
@given(cases=st.lists(_REWARDS, min_size=3, max_size=5))
def test_best_so_far(student, cases):
    outputs = student.call("lambda cases: [(lambda y: (y, type(y).__name__))(best_so_far(np.asarray(r))) "
                           "for r in cases]", [np.asarray(r, dtype=np.float64) for r in cases])
    for rewards, (got, kind) in zip(cases, outputs, strict=True):
        expect(kind == "ndarray", f"best_so_far returned a {kind}: return a NumPy array")
        expect_close(got, np.maximum.accumulate(rewards), what=f"best_so_far of {len(rewards)} rewards", atol=0,
                     rtol=0)


@points(1, question="compare")
def test_compare_curves(student):
    curves = student.call("lambda: compare(table.lookup, 9, [3, 4, 5])", _timeout=120)
    expect(isinstance(curves, dict) and set(curves) == {"random", "controller"},
           "compare must return a dict with the keys 'random' and 'controller'")
    for name, search in (("random", "random_search"), ("controller", "controller_search")):
        got = np.asarray(curves[name])
        expect(got.shape == (3, 9), f"curves[{name!r}] should have shape (len(seeds), budget)")
        for position, (row, seed) in enumerate(zip(got, (3, 4, 5)), start=1):
            rewards = np.asarray(student.call(f"lambda: {search}(table.lookup, 9, {seed})[1]"))
            expect_close(row, np.maximum.accumulate(rewards), what=f"curves[{name!r}] for the seed in position "
                         f"{position} (each row must come from its own seed)", atol=1e-9)
