"""Public checks of Lab 6 (neural architecture search).

Each check compares the student's function with a reference computed here on
fixed inputs: parameter counts from the formula of the search space, sampling
frequencies against the controller's own probabilities (within 5 standard
errors), log-probabilities, losses and gradients against a step-by-step
TensorFlow computation on the same controller weights.
"""

from __future__ import annotations

import numpy as np

from course_utils.checks import public_check, require, require_close
from course_utils.nas import SEARCH_SPACE, architecture, space_size

ACTIVATIONS = SEARCH_SPACE["activation"]


def child_params(arch: dict) -> int:
    """Parameter count of the child network that ``arch`` describes (formula of Exercise 1)."""
    f1, k1, f2, k2 = arch["filters1"], arch["kernel1"], arch["filters2"], arch["kernel2"]
    count = (k1 * k1 * 1 + 1) * f1 + (k2 * k2 * f1 + 1) * f2
    if arch["skip"] == "residual":
        count += (f1 + 1) * f2
    features = f2 if arch["head"] == "gap" else 7 * 7 * f2
    return count + (features + 1) * 10


def model_problems(model, arch: dict) -> list[str]:
    """What is wrong with ``model`` as the child of ``arch`` (empty when nothing is)."""
    import tensorflow as tf

    problems = []
    out = model(tf.zeros((2, 28, 28, 1)))
    if tuple(out.shape) != (2, 10):
        problems.append(f"for {arch} the output has shape {tuple(out.shape)}, expected (2, 10) logits")
    if model.count_params() != child_params(arch):
        problems.append(f"for {arch} the model has {model.count_params():,} parameters, expected "
                        f"{child_params(arch):,} (check filters, kernel sizes, biases, the skip projection "
                        f"and the head)")
    used = {_activation_name(layer) for layer in model.layers} - {None, "linear"}
    if used != {arch["activation"]}:
        problems.append(f"for {arch} the layers use activations {sorted(used)}, expected only "
                        f"{arch['activation']!r} (and none on the logits)")
    return problems


def _activation_name(layer) -> str | None:
    name = layer.get_config().get("activation")
    if name is None or isinstance(name, str):
        return name
    return getattr(name, "__name__", str(name))


@public_check
def check_build_child(build_child) -> None:
    """``build_child(arch)`` matches the parameter formula, output shape and activation on 10 architectures."""
    indices = [0, 5, 47, 70, 101, 122, 190, 263, 348, space_size() - 1]
    for index in indices:
        arch = architecture(index)
        problems = model_problems(build_child(arch), arch)
        require(not problems, problems[0] if problems else "")


def _require_valid(arch, what: str) -> None:
    require(isinstance(arch, dict), f"{what} should be a dict {{decision: choice}}, got {type(arch).__name__}")
    require(list(arch) == list(SEARCH_SPACE),
            f"{what} has keys {list(arch)}, expected {list(SEARCH_SPACE)} (in this order)")
    for name, choices in SEARCH_SPACE.items():
        require(arch[name] in choices, f"{what}[{name!r}] = {arch[name]!r} is not one of {choices}")


def _require_uniform(archs: list[dict], what: str) -> None:
    n = len(archs)
    for name, choices in SEARCH_SPACE.items():
        p = 1 / len(choices)
        for choice in choices:
            count = sum(arch[name] == choice for arch in archs)
            require(abs(count - n * p) <= 5 * np.sqrt(n * p * (1 - p)) + 1,
                    f"{what}: {name}={choice!r} came up {count} times in {n} draws, expected about "
                    f"{n * p:.0f}: every choice of a decision should be equally likely")


def _require_distinct(archs: list[dict], what: str) -> None:
    keys = [tuple(arch.values()) for arch in archs]
    require(len(set(keys)) == len(keys),
            f"{what} returned {len(keys) - len(set(keys))} repeated architectures: a repeat is a cache hit and "
            f"does not count against the budget (score samples with a BudgetedEvaluator and return its result())")


@public_check
def check_random_search(sample_random_architecture, random_search, table) -> None:
    """Random architectures are valid, uniform per decision, reproducible, distinct, scored with ``evaluate``."""
    rng = np.random.default_rng(0)
    archs = [sample_random_architecture(rng) for _ in range(600)]
    for arch in archs[:50]:
        _require_valid(arch, "sample_random_architecture(rng)")
    _require_uniform(archs, "sample_random_architecture")
    require(len({tuple(a.values()) for a in archs}) > space_size() // 2,
            "600 random draws gave few distinct architectures: draw every decision with rng")

    found, rewards = random_search(table.lookup, 100, 3)
    require(len(found) == 100, f"random_search(evaluate, 100, seed) returned {len(found)} architectures")
    for arch in found:
        _require_valid(arch, "an architecture from random_search")
    _require_distinct(found, "random_search(evaluate, 100, seed)")
    require_close(rewards, [table.lookup(arch) for arch in found], what="random_search scores", atol=1e-9)
    again, _ = random_search(table.lookup, 100, 3)
    require([tuple(a.values()) for a in again] == [tuple(a.values()) for a in found],
            "random_search with the same seed gave different architectures: use np.random.default_rng(seed)")
    other, _ = random_search(table.lookup, 100, 4)
    require([tuple(a.values()) for a in other] != [tuple(a.values()) for a in found],
            "random_search with different seeds gave the same architectures")


def scaled_controller(Controller, seed: int, scale: float):
    """A controller whose initial weights are multiplied by ``scale`` (sharper, more input-dependent)."""
    controller = Controller(seed=seed)
    controller.set_weights([w * scale for w in controller.get_weights()])
    return controller


def reference_log_prob_and_entropy(controller, tokens, n_choices):
    """Teacher-forced log-probabilities (n,) and summed entropies (n,), step by step, as tensors."""
    import tensorflow as tf

    tokens = np.asarray(tokens, dtype="int32")
    inputs, states = controller.initial(len(tokens))
    log_prob = tf.zeros(len(tokens))
    entropy = tf.zeros(len(tokens))
    for t in range(len(n_choices)):
        logits, states = controller.step(t, inputs, states)
        log_p = tf.nn.log_softmax(logits)
        log_prob += tf.reduce_sum(log_p * tf.one_hot(tokens[:, t], n_choices[t]), axis=1)
        entropy -= tf.reduce_sum(tf.exp(log_p) * log_p, axis=1)
        if t < len(n_choices) - 1:
            inputs = controller.feed(t, tokens[:, t])
    return log_prob, entropy


def reference_conditionals(controller, tokens, n_choices) -> list[np.ndarray]:
    """For each step t, the controller's probabilities (n, k_t) given the tokens before t."""
    import tensorflow as tf

    tokens = np.asarray(tokens, dtype="int32")
    inputs, states = controller.initial(len(tokens))
    probs = []
    for t in range(len(n_choices)):
        logits, states = controller.step(t, inputs, states)
        probs.append(tf.nn.softmax(logits).numpy().astype(float))
        if t < len(n_choices) - 1:
            inputs = controller.feed(t, tokens[:, t])
    return probs


def sampling_problem(tokens, probs: list[np.ndarray]) -> str | None:
    """Whether ``tokens`` (n, T) look drawn from the conditionals ``probs`` (5-standard-error test)."""
    for t, p in enumerate(probs):
        hits = np.eye(p.shape[1])[tokens[:, t]]
        z = np.abs((hits - p).sum(axis=0)) / np.sqrt((p * (1 - p)).sum(axis=0) + 1e-9)
        if z.max() > 5:
            return (f"at decision {t} the sampled choices do not follow the controller's probabilities "
                    f"given the earlier choices ({z.max():.1f} standard errors off): softmax the logits, "
                    f"draw from them, and feed the drawn choice into the next step")
    return None


@public_check
def check_sample_tokens(sample_tokens, Controller, n_choices) -> None:
    """Samples have shape (n, T), valid indices, and follow the controller's conditional probabilities."""
    controller = scaled_controller(Controller, seed=1, scale=15.0)
    tokens = sample_tokens(controller, 400, np.random.default_rng(0))
    tokens = np.asarray(tokens)
    require(tokens.shape == (400, len(n_choices)),
            f"sample_tokens(controller, 400, rng) has shape {tokens.shape}, expected (400, {len(n_choices)})")
    require(np.issubdtype(tokens.dtype, np.integer), f"tokens should be integers, got dtype {tokens.dtype}")
    for t, k in enumerate(n_choices):
        require(tokens[:, t].min() >= 0 and tokens[:, t].max() < k,
                f"decision {t} has {k} choices, but a token is outside 0..{k - 1}")
    problem = sampling_problem(tokens, reference_conditionals(controller, tokens, n_choices))
    require(problem is None, problem or "")
    again = np.asarray(sample_tokens(controller, 400, np.random.default_rng(0)))
    require(np.array_equal(again, tokens), "the same rng seed gave different samples: draw only with rng")


@public_check
def check_log_prob_and_entropy(log_prob_and_entropy, Controller, n_choices) -> None:
    """Log-probabilities and entropies match a step-by-step reference on fixed weights, with gradients."""
    import tensorflow as tf

    controller = scaled_controller(Controller, seed=2, scale=6.0)
    rng = np.random.default_rng(2)
    tokens = np.stack([rng.integers(k, size=12) for k in n_choices], axis=1)
    expected_lp, expected_h = reference_log_prob_and_entropy(controller, tokens, n_choices)
    with tf.GradientTape() as tape:
        log_prob, entropy = log_prob_and_entropy(controller, tokens)
        total = tf.reduce_sum(log_prob)
    require(tf.is_tensor(log_prob), "log_prob should be a TensorFlow tensor (so it can be differentiated)")
    require_close(log_prob, expected_lp, what="log-probability", atol=1e-4, rtol=1e-4)
    require(np.all(np.asarray(log_prob) <= 1e-6), "a log-probability is positive")
    require_close(entropy, expected_h, what="summed entropy", atol=1e-4, rtol=1e-4)
    grads = tape.gradient(total, controller.trainable_variables)
    missing = [v.path for v, g in zip(controller.trainable_variables, grads) if g is None]
    require(not missing, f"no gradient reaches {missing[:3]}: compute log_prob with TensorFlow operations "
                         f"only, and feed every token but the last")


def reference_reinforce(controller, tokens, rewards, baseline, entropy_weight, n_choices):
    """Reference loss and gradients of the REINFORCE objective with entropy bonus."""
    import tensorflow as tf

    advantages = tf.constant(np.asarray(rewards, dtype="float32") - np.float32(baseline))
    with tf.GradientTape() as tape:
        log_prob, entropy = reference_log_prob_and_entropy(controller, tokens, n_choices)
        loss = -tf.reduce_mean(advantages * log_prob) - entropy_weight * tf.reduce_mean(entropy)
    return float(loss), tape.gradient(loss, controller.trainable_variables)


@public_check
def check_reinforce_step(reinforce_step, Controller, n_choices) -> None:
    """The loss and the SGD update match a reference; probability moves toward above-baseline samples."""
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(3)
    tokens = np.stack([rng.integers(k, size=6) for k in n_choices], axis=1)
    rewards = np.array([0.9, 0.2, 0.7, 0.4, 0.85, 0.1])
    baseline, entropy_weight, lr = 0.5, 0.05, 0.1

    for row, reward in zip(tokens[:2], rewards[:2]):  # one architecture per update: no interference
        single = scaled_controller(Controller, seed=3, scale=3.0)
        before_lp = float(reference_log_prob_and_entropy(single, row[None], n_choices)[0][0])
        reinforce_step(single, keras.optimizers.SGD(lr), row[None], np.array([reward]), baseline, 0.0)
        after_lp = float(reference_log_prob_and_entropy(single, row[None], n_choices)[0][0])
        if reward > baseline:
            require(after_lp > before_lp, "an update on an architecture that beat the baseline made it less "
                                          "likely: check the sign of the loss")
        else:
            require(after_lp < before_lp, "an update on an architecture below the baseline made it more "
                                          "likely: check the sign of the advantage")

    controller = scaled_controller(Controller, seed=3, scale=3.0)
    before = [w.copy() for w in controller.get_weights()]
    reference = scaled_controller(Controller, seed=3, scale=3.0)
    expected_loss, grads = reference_reinforce(reference, tokens, rewards, baseline, entropy_weight, n_choices)

    loss = reinforce_step(controller, keras.optimizers.SGD(lr), tokens, rewards, baseline, entropy_weight)
    require_close(loss, expected_loss, what="returned loss L", atol=1e-4, rtol=1e-4)
    steps = [after - b for after, b in zip(controller.get_weights(), before)]
    require(any(np.abs(s).max() > 0 for s in steps), "reinforce_step did not change the controller's weights")
    for variable, step, grad in zip(reference.trainable_variables, steps, grads):
        expected = -lr * np.asarray(tf.convert_to_tensor(grad))
        require_close(step, expected, what=f"SGD update of {variable.path}", atol=1e-5, rtol=1e-3)


@public_check
def check_controller_search(controller_search, table) -> None:
    """Budget of distinct evaluations respected, rewards from ``evaluate``, reproducible, and it learns."""
    archs, rewards = controller_search(table.lookup, 23, seed=0, batch_size=5)
    require(len(archs) == 23 and np.shape(rewards) == (23,),
            f"with budget 23 you returned {len(archs)} architectures and rewards of shape {np.shape(rewards)}; "
            f"stop as soon as the evaluator is done and return its result()")
    for arch in archs:
        _require_valid(arch, "an architecture from controller_search")
    _require_distinct(archs, "controller_search(evaluate, 23, seed)")
    require_close(rewards, [table.lookup(arch) for arch in archs], what="rewards", atol=1e-9)
    again = controller_search(table.lookup, 23, seed=0, batch_size=5)[0]
    require([tuple(a.values()) for a in again] == [tuple(a.values()) for a in archs],
            "the same seed gave a different search: seed the controller and the rng with it")
    early, late = [], []
    for seed in range(3):
        archs, rewards = controller_search(table.lookup, 60, seed=seed)
        _require_distinct(archs, "controller_search(evaluate, 60, seed)")
        early.append(rewards[:15].mean())
        late.append(rewards[-15:].mean())
    average = np.mean(list(table.accuracy.values()))  # what a controller that does not learn gets
    require(np.mean(late) > max(np.mean(early) + 0.02, average + 0.1),
            f"the mean reward of the last 15 children ({np.mean(late):.3f}) is not clearly above that of the "
            f"first 15 ({np.mean(early):.3f}) and the table's average ({average:.3f}), over 3 seeds: the "
            f"controller does not learn")


@public_check
def check_compare(best_so_far, compare, random_search, controller_search, table) -> None:
    """Best-so-far is a running maximum; ``compare`` returns both methods' curves for every seed."""
    require_close(best_so_far(np.array([0.3, 0.1, 0.5, 0.4, 0.6])), [0.3, 0.3, 0.5, 0.5, 0.6],
                  what="best_so_far([0.3, 0.1, 0.5, 0.4, 0.6])")
    curves = compare(table.lookup, 12, [5, 6])
    require(set(curves) == {"random", "controller"},
            f"compare should return the keys 'random' and 'controller', got {sorted(curves)}")
    for name, search in (("random", random_search), ("controller", controller_search)):
        got = np.asarray(curves[name])
        require(got.shape == (2, 12), f"curves[{name!r}] has shape {got.shape}, expected (len(seeds), budget)")
        for row, seed in zip(got, [5, 6]):
            expected = np.maximum.accumulate(search(table.lookup, 12, seed)[1])
            require_close(row, expected, what=f"curves[{name!r}] for seed {seed}", atol=1e-9)
