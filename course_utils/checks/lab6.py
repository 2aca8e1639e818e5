"""Public checks of Lab 6 (neural architecture search).

Each check compares the student's function with a reference computed here on
fixed inputs: parameter counts from the formula of the search space, sampling
frequencies against the controller's own probabilities (within 5 standard
errors), log-probabilities, losses and gradients against a step-by-step
TensorFlow computation on the same controller weights.
"""

from __future__ import annotations

import numpy as np

from course_utils.checks import public_check, require, require_close, with_references
from course_utils.nas import SEARCH_SPACE, architecture, space_size

ACTIVATIONS = SEARCH_SPACE["activation"]


def child_weight_shapes(arch: dict, *, side: int = 7, projection_in: int | None = None) -> list[tuple[int, ...]]:
    """Shapes of the weights of the child network that ``arch`` describes, in layer order: first and second
    convolution (kernel, bias), the 1x1 skip projection when residual (kernel, bias), the dense head (kernel, bias).

    ``side`` (the feature map's side before a flatten head) and ``projection_in`` (the channels the
    1x1 skip projection reads, ``filters1`` by default) give the shapes of typical mistakes instead.
    """
    f1, k1, f2, k2 = arch["filters1"], arch["kernel1"], arch["filters2"], arch["kernel2"]
    skip_in = f1 if projection_in is None else projection_in
    skip = [(1, 1, skip_in, f2), (f2,)] if arch["skip"] == "residual" else []
    features = f2 if arch["head"] == "gap" else side * side * f2
    return [(k1, k1, 1, f1), (f1,), (k2, k2, f1, f2), (f2,), *skip, (features, 10), (10,)]


def child_params(arch: dict, **mistake) -> int:
    """Parameter count of the child network that ``arch`` describes (formula of Exercise 1); ``mistake``
    takes the keywords of :func:`child_weight_shapes`."""
    return sum(int(np.prod(shape)) for shape in child_weight_shapes(arch, **mistake))


def parameter_count_problem(count: int, arch: dict) -> str | None:
    """What a child with ``count`` parameters gets wrong for ``arch`` (None when the count is right)."""
    expected = child_params(arch)
    if count == expected:
        return None
    message = f"for {arch} the model has {count:,} parameters, expected {expected:,}"
    if count == child_params(arch, side=14) or count == child_params(arch, side=28):
        return (f"{message}: a 2x2 max pooling is missing. Each of the two blocks ends with one, so the flatten "
                f"head sees 7 x 7 x filters2 features")
    if arch["skip"] == "residual" and count == child_params(arch, projection_in=1):
        return (f"{message}: the 1x1 skip projection reads the input image (1 channel). It should read the first "
                f"block's pooled output (filters1 channels), the input of the second convolution")
    if arch["skip"] == "residual" and count == child_params({**arch, "skip": "none"}):
        identity = " (an identity shortcut, the ResNet habit when filters1 == filters2, is not the recipe)" \
            if arch["filters1"] == arch["filters2"] else ""
        return (f"{message}: the residual connection's 1x1 projection is missing{identity}. Add a 1x1 "
                f"convolution of the first block's output to the second convolution's output")
    swapped = {**arch, "kernel1": arch["kernel2"], "kernel2": arch["kernel1"]}
    if arch["kernel1"] != arch["kernel2"] and count == child_params(swapped):
        return f"{message}: kernel1 and kernel2 are swapped (kernel1 belongs to the first convolution)"
    head = {**arch, "head": "flatten" if arch["head"] == "gap" else "gap"}
    if count == child_params(head):
        return f"{message}: the head is {head['head']!r} where the architecture says {arch['head']!r}"
    return f"{message} (check filters, kernel sizes, biases, the skip projection and the head)"


def model_problems(model, arch: dict) -> list[str]:
    """What is wrong with ``model`` as the child of ``arch`` (empty when nothing is)."""
    import tensorflow as tf

    problems = []
    out = model(tf.zeros((2, 28, 28, 1)))
    if tuple(out.shape) != (2, 10):
        problems.append(f"for {arch} the output has shape {tuple(out.shape)}, expected (2, 10) logits")
    count_problem = parameter_count_problem(model.count_params(), arch)
    if count_problem:
        problems.append(count_problem)
    layer_problem = layers_problem(layer_summary(model), arch)
    if layer_problem:
        problems.append(layer_problem)
    return problems


# The layer types the recipe of Exercise 1 can be written with (activations as arguments or as layers).
RECIPE_LAYERS = {"InputLayer", "Conv2D", "MaxPooling2D", "Activation", "ReLU", "Add", "GlobalAveragePooling2D",
                 "Flatten", "Dense"}


def layer_summary(model) -> list[tuple[str, str | None]]:
    """The model's layers, nested models unrolled, as plain data: (class name, activation name or None) each."""
    summary = []
    for layer in model.layers:
        if hasattr(layer, "layers"):
            summary.extend(layer_summary(layer))
        else:
            summary.append((type(layer).__name__, _activation_name(layer)))
    return summary


def layers_problem(summary: list[tuple[str, str | None]], arch: dict) -> str | None:
    """What the layer list ``summary`` (see :func:`layer_summary`) gets wrong for ``arch``, or None.

    Judged from the configuration, not from outputs: a layer outside the recipe (a dropout, a batch
    normalisation), an activation other than the chosen one, or an activation on the logits.
    """
    extra = sorted({kind for kind, _ in summary} - RECIPE_LAYERS)
    if extra:
        return (f"for {arch} the model has layers {extra} that the recipe does not have: only the convolutions, "
                f"poolings, the activation, the residual Add, the head and Dense(10)")
    if summary and summary[-1][1] not in (None, "linear"):
        return (f"for {arch} the last layer applies the activation {summary[-1][1]!r}: the output must be the 10 "
                f"logits of Dense(10), with no activation (no softmax)")
    used = {"relu" if kind == "ReLU" else name for kind, name in summary} - {None, "linear"}
    if used != {arch["activation"]}:
        return f"for {arch} the layers use activations {sorted(used)}, expected only {arch['activation']!r}"
    return None


def _activation_name(layer) -> str | None:
    name = layer.get_config().get("activation")
    if name is None or isinstance(name, str):
        return name
    return getattr(name, "__name__", str(name))


def weights_by_shape(shapes, seed: int) -> dict[str, np.ndarray]:
    """One fixed float32 array per distinct weight shape, keyed by ``str(shape)``.

    Setting a child's weights from this by shape needs no layer names or order: the three kernels
    have distinct shapes, and biases of one shape share values, so any order gives the same network.
    """
    rng = np.random.default_rng(seed)
    return {str(tuple(shape)): rng.normal(0, 0.3, size=tuple(shape)).astype("float32")
            for shape in sorted({tuple(shape) for shape in shapes})}


# Typical wrong forward passes that keep the parameter count (see child_forward) and what to tell the student.
FORWARD_MISTAKES = {
    "activation_before_add": "the activation is applied inside the residual branch: add the 1x1 projection to the "
                             "second convolution's *linear* output, then apply the activation to the sum",
    "no_second_pool": "the second block has no 2x2 max pooling: the head should see 7 x 7 feature maps",
    "no_first_pool": "the first block has no 2x2 max pooling: the second convolution should see 14 x 14 maps",
}


def child_forward(arch: dict, weights: dict[str, np.ndarray], x, mistake: str | None = None):
    """Logits (n, 10) of Exercise 1's network for images ``x`` (n, 28, 28, 1), weights from :func:`weights_by_shape`.

    ``mistake`` (a key of :data:`FORWARD_MISTAKES`) computes that typical wrong network instead.
    """
    import tensorflow as tf

    f1, k1, f2, k2 = arch["filters1"], arch["kernel1"], arch["filters2"], arch["kernel2"]
    act = {"relu": tf.nn.relu, "tanh": tf.tanh, "sigmoid": tf.sigmoid}[arch["activation"]]

    def w(*shape):
        return weights[str(shape)]

    def conv(h, kernel, bias):
        return tf.nn.conv2d(h, kernel, 1, "SAME") + bias

    def pool(h, skipped: str):
        return h if mistake == skipped else tf.nn.max_pool2d(h, 2, 2, "VALID")

    h = pool(act(conv(tf.constant(x, tf.float32), w(k1, k1, 1, f1), w(f1))), "no_first_pool")
    z = conv(h, w(k2, k2, f1, f2), w(f2))
    inside = mistake == "activation_before_add" and arch["skip"] == "residual"
    if arch["skip"] == "residual":
        z = (act(z) if inside else z) + conv(h, w(1, 1, f1, f2), w(f2))
    z = pool(z if inside else act(z), "no_second_pool")
    z = tf.reduce_mean(z, axis=(1, 2)) if arch["head"] == "gap" else tf.reshape(z, (len(x), -1))
    return (tf.matmul(z, w(*child_weight_shapes(arch)[-2])) + w(10)).numpy()


def forward_problem(logits, arch: dict, weights: dict[str, np.ndarray], x) -> str | None:
    """What is wrong with the logits a child computed with ``weights`` on ``x``, or None.

    ``logits`` come from the student's model with its weights set from ``weights`` by shape.
    """
    if array_close(logits, child_forward(arch, weights, x)):
        return None
    for mistake, message in FORWARD_MISTAKES.items():
        if arch["head"] == "flatten" and mistake != "activation_before_add":
            continue  # a flatten head fixes the map size, so a missing pooling shows in the parameter count
        if array_close(logits, child_forward(arch, weights, x, mistake)):
            return f"for {arch} {message}"
    return (f"for {arch} the model has the right parameters but computes something else from the same weights: "
            f"check the order conv -> activation -> pool in each block, the padding, where the projection "
            f"branch starts (the first block's pooled output) and the head")


def array_close(got, expected) -> bool:
    got = np.asarray(got, dtype=float)
    return got.shape == np.shape(expected) and np.allclose(got, expected, atol=1e-4, rtol=1e-3)


def set_weights_by_shape(model, weights: dict[str, np.ndarray]) -> None:
    for variable in model.weights:
        variable.assign(weights[str(tuple(variable.shape))])


@public_check
def check_build_child(build_child) -> None:
    """``build_child(arch)`` matches the parameter formula, output shape, activation and forward pass."""
    indices = [0, 5, 47, 70, 101, 122, 150, 190, 263, 348, space_size() - 1]
    x = np.random.default_rng(6).uniform(size=(3, 28, 28, 1)).astype("float32")
    for index in indices:
        arch = architecture(index)
        model = build_child(arch)
        problems = model_problems(model, arch)
        require(not problems, problems[0] if problems else "")
        weights = weights_by_shape([v.shape for v in model.weights], seed=index)
        set_weights_by_shape(model, weights)
        problem = forward_problem(model(x).numpy(), arch, weights, x)
        require(problem is None, problem or "")


def _require_valid(arch, what: str) -> None:
    require(isinstance(arch, dict), f"{what} should be a dict {{decision: choice}}, got {type(arch).__name__}")
    require(list(arch) == list(SEARCH_SPACE),
            f"{what} has keys {list(arch)}, expected {list(SEARCH_SPACE)} (in this order)")
    for name, choices in SEARCH_SPACE.items():
        require(arch[name] in choices, f"{what}[{name!r}] = {arch[name]!r} is not one of {choices}")
        require(isinstance(arch[name], type(choices[0])),
                f"{what}[{name!r}] is a {type(arch[name]).__name__}: a choice keeps its own type "
                f"({type(choices[0]).__name__}); take it from the tuple of choices by a drawn index")


def uniform_problem(archs: list[dict], what: str) -> str | None:
    """Which choice the architectures ``archs`` (plain dicts) draw too rarely or too often, or None if none.

    A choice that never comes up is reported first: it is the most specific clue.
    """
    n = len(archs)
    uneven = []
    for name, choices in SEARCH_SPACE.items():
        p = 1 / len(choices)
        for choice in choices:
            count = sum(arch[name] == choice for arch in archs)
            if abs(count - n * p) > 5 * np.sqrt(n * p * (1 - p)) + 1:
                uneven.append((count > 0, name, choice, count, n * p))
    if not uneven:
        return None
    drawn, name, choice, count, expected = min(uneven, key=lambda entry: entry[0])
    never = "" if drawn else (f" {name}={choice!r} was never drawn: is the last choice out of reach? "
                              f"rng.integers(k) already draws from 0..k-1")
    return (f"{what}: {name}={choice!r} came up {count} times in {n} draws, expected about {expected:.0f}: "
            f"every choice of a decision should be equally likely.{never}")


def _require_distinct(archs: list[dict], what: str) -> None:
    keys = [tuple(arch.values()) for arch in archs]
    require(len(set(keys)) == len(keys),
            f"{what} returned {len(keys) - len(set(keys))} repeated architectures: a repeat is a cache hit and "
            f"does not count against the budget (score samples with a BudgetedEvaluator and return its result())")


def _draws_with_global_seed(sample_random_architecture, global_seed: int) -> list[tuple]:
    """30 draws with a generator of seed 0 after seeding NumPy's and TensorFlow's global generators."""
    import tensorflow as tf

    np.random.seed(global_seed)
    tf.random.set_seed(global_seed)
    rng = np.random.default_rng(0)
    return [tuple(sample_random_architecture(rng).values()) for _ in range(30)]


@public_check
def check_random_search(sample_random_architecture, random_search, table) -> None:
    """Random architectures are valid, uniform per decision, reproducible, distinct, scored with ``evaluate``."""
    rng = np.random.default_rng(0)
    archs = [sample_random_architecture(rng) for _ in range(600)]
    for arch in archs[:50]:
        _require_valid(arch, "sample_random_architecture(rng)")
    problem = uniform_problem(archs, "sample_random_architecture")
    require(problem is None, problem or "")
    require(len({tuple(a.values()) for a in archs}) > space_size() // 2,
            "600 random draws gave few distinct architectures: draw every decision with rng")
    draws = [_draws_with_global_seed(sample_random_architecture, global_seed) for global_seed in (1, 2)]
    require(draws[0] == draws[1],
            "sample_random_architecture gave different architectures for the same generator state: draw only with "
            "rng (no np.random, random or tf.random)")

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


# A controller whose initial weights are scaled this much puts probabilities below float32's range on some
# choices: log(softmax) gives -inf there (and 0 * -inf = NaN in the entropy), log_softmax stays finite.
SHARP_SCALE = 200.0
UNSTABLE = ("with a sharply peaked controller the log-probability or the entropy is not finite (-inf or NaN): "
            "the log of a softmax underflows; take tf.nn.log_softmax of the logits, which is stable")


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
    sharp = scaled_controller(Controller, seed=2, scale=SHARP_SCALE)
    expected_lp, expected_h = reference_log_prob_and_entropy(sharp, tokens, n_choices)
    log_prob, entropy = log_prob_and_entropy(sharp, tokens)
    require(np.all(np.isfinite(log_prob)) and np.all(np.isfinite(entropy)), UNSTABLE)
    require_close(log_prob, expected_lp, what="log-probability of a sharply peaked controller", atol=1e-3, rtol=1e-4)
    require_close(entropy, expected_h, what="summed entropy of a sharply peaked controller", atol=1e-3, rtol=1e-4)


def reference_reinforce(controller, tokens, rewards, baseline, entropy_weight, n_choices):
    """Reference loss and gradients of the REINFORCE objective with entropy bonus."""
    import tensorflow as tf

    advantages = tf.constant(np.asarray(rewards, dtype="float32") - np.float32(baseline))
    with tf.GradientTape() as tape:
        log_prob, entropy = reference_log_prob_and_entropy(controller, tokens, n_choices)
        loss = -tf.reduce_mean(advantages * log_prob) - entropy_weight * tf.reduce_mean(entropy)
    return float(loss), tape.gradient(loss, controller.trainable_variables)


def loss_mistake(loss: float, log_prob, entropy, rewards, baseline, entropy_weight) -> str | None:
    """Name the typical mistake whose loss equals ``loss``, or None (also when no known mistake fits).

    ``log_prob`` and ``entropy`` (n,) are the reference values of the batch, before the update.
    """
    log_prob, entropy = np.asarray(log_prob, dtype=float), np.asarray(entropy, dtype=float)
    advantage = np.asarray(rewards, dtype=float) - baseline
    right = -np.mean(advantage * log_prob) - entropy_weight * np.mean(entropy)
    mistakes = {
        "the loss has the wrong sign: gradient *descent* on L must raise log pi(a) of architectures that beat the "
        "baseline, so L = -mean(advantage * log pi(a)) - beta * mean(entropy)":
            np.mean(advantage * log_prob) + entropy_weight * np.mean(entropy),
        "the entropy bonus has the wrong sign: minimising L must *raise* the entropy, so subtract beta * mean(H)":
            -np.mean(advantage * log_prob) + entropy_weight * np.mean(entropy),
        "the baseline is not subtracted: the advantage is R - b, not R":
            -np.mean(np.asarray(rewards) * log_prob) - entropy_weight * np.mean(entropy),
        "the loss sums over the batch where the formula takes the mean (1/n)":
            -np.sum(advantage * log_prob) - entropy_weight * np.sum(entropy),
        "the entropy bonus is missing (- beta * mean of the summed entropies)": -np.mean(advantage * log_prob),
    }
    if abs(loss - right) <= 1e-4 + 1e-4 * abs(right):
        return None
    return next((message for message, value in mistakes.items() if abs(loss - value) <= 1e-4 + 1e-4 * abs(value)),
                None)


@public_check
def check_reinforce_step(reinforce_step, Controller, n_choices) -> None:
    """The loss and the SGD update match a reference; probability moves toward above-baseline samples.

    ``reinforce_step`` runs with the reference ``log_prob_and_entropy``, so a mistake there is charged to
    Exercise 4 only.
    """
    import keras
    import tensorflow as tf

    reinforce_step = with_references(reinforce_step, log_prob_and_entropy=lambda controller, tokens:
                                     reference_log_prob_and_entropy(controller, tokens, n_choices))

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
    require(loss is not None and np.ndim(loss) == 0, f"reinforce_step should return the loss L as one number, "
                                                     f"got {type(loss).__name__} of shape {np.shape(loss)}")
    log_prob, entropy = reference_log_prob_and_entropy(scaled_controller(Controller, seed=3, scale=3.0), tokens,
                                                       n_choices)
    mistake = loss_mistake(float(loss), log_prob.numpy(), entropy.numpy(), rewards, baseline, entropy_weight)
    require(mistake is None, mistake or "")
    require_close(loss, expected_loss, what="returned loss L", atol=1e-4, rtol=1e-4)
    steps = [after - b for after, b in zip(controller.get_weights(), before)]
    require(any(np.abs(s).max() > 0 for s in steps), "reinforce_step did not change the controller's weights")
    for variable, step, grad in zip(reference.trainable_variables, steps, grads):
        expected = -lr * np.asarray(tf.convert_to_tensor(grad))
        require_close(step, expected, what=f"SGD update of {variable.path}", atol=1e-5, rtol=1e-3)


def reference_sample_tokens(controller, n: int, rng: np.random.Generator, n_choices) -> np.ndarray:
    """Tokens (n, T) drawn from the controller step by step with ``rng``, each draw fed back in."""
    import tensorflow as tf

    inputs, states = controller.initial(n)
    tokens = np.zeros((n, len(n_choices)), dtype=int)
    for t, k in enumerate(n_choices):
        logits, states = controller.step(t, inputs, states)
        probs = tf.nn.softmax(logits).numpy().astype(float)
        tokens[:, t] = np.minimum((rng.random((n, 1)) < probs.cumsum(axis=1)).argmax(axis=1), k - 1)
        if t < len(n_choices) - 1:
            inputs = controller.feed(t, tokens[:, t])
    return tokens


class RecordingReinforce:
    """A reference ``reinforce_step`` that also records each call's tokens, rewards and baseline.

    ``options`` holds, per call, what the search handed over besides the batch: the controller's and the
    optimizer's identities, the optimizer's class name and learning rate, the entropy weight;
    ``first_weights`` the controller's weights at the first call (before any update).
    """

    def __init__(self, n_choices):
        self.n_choices, self.calls, self.options, self.first_weights = n_choices, [], [], None

    def __call__(self, controller, optimizer, tokens, rewards, baseline, entropy_weight) -> float:
        self.calls.append((np.asarray(tokens), np.asarray(rewards, dtype=float),
                           None if baseline is None else float(baseline)))
        if self.first_weights is None:
            self.first_weights = [np.asarray(w) for w in controller.get_weights()]
        self.options.append((id(controller), id(optimizer), type(optimizer).__name__,
                             _learning_rate(optimizer), float(entropy_weight)))
        if len(tokens) != len(rewards) or baseline is None:  # reported by baseline_problem afterwards
            return 0.0
        loss, grads = reference_reinforce(controller, tokens, rewards, baseline, entropy_weight, self.n_choices)
        optimizer.apply_gradients(zip(grads, controller.trainable_variables))
        return loss


def _learning_rate(optimizer) -> float | None:
    try:
        return float(np.asarray(optimizer.learning_rate))
    except (AttributeError, TypeError, ValueError):  # a schedule, or no optimizer at all
        return None


def search_options_problem(options: list[tuple], first_weights, seed_weights, learning_rate: float,
                           entropy_weight: float) -> str | None:
    """Whether a search honoured its arguments (see :class:`RecordingReinforce` for ``options``), or None.

    ``first_weights``: the controller's weights at the first update; ``seed_weights``: those of a fresh
    ``Controller(seed=seed)``.
    """
    if len({option[0] for option in options}) > 1:
        return "controller_search made a new controller during the search: make one Controller(seed=seed) and keep it"
    if len({option[1] for option in options}) > 1:
        return ("controller_search made a new optimizer during the search: make one Adam optimizer and keep it "
                "(it carries the moment estimates from one update to the next)")
    _, _, kind, rate, beta = options[0]
    if kind != "Adam":
        return f"the controller is trained with {kind}: the exercise asks for keras.optimizers.Adam"
    if rate is None or not np.isclose(rate, learning_rate, rtol=1e-5):
        return (f"the optimizer's learning rate is {rate}, but the search was called with learning_rate="
                f"{learning_rate}: pass the argument to Adam")
    if not np.isclose(beta, entropy_weight, rtol=1e-6, atol=0):
        return (f"reinforce_step got entropy_weight={beta}, but the search was called with entropy_weight="
                f"{entropy_weight}: pass the argument on")
    if len(first_weights) != len(seed_weights) or not all(
            np.shape(a) == np.shape(b) and np.allclose(a, b) for a, b in zip(first_weights, seed_weights)):
        return ("the controller does not start from Controller(seed=seed): the seed argument must make the "
                "controller as well as the generator")
    return None


def progress_problem(updates: list[dict], calls) -> str | None:
    """Whether ``progress.update`` got, once per controller update, the batch's mean reward and the new baseline."""
    if len(updates) != len(calls):
        return (f"progress.update was called {len(updates)} times for {len(calls)} controller updates: call it "
                f"once per update, progress.update(reward=batch mean, baseline=b)")
    for update, (_, rewards, _) in zip(updates, calls):
        if set(update) != {"reward", "baseline"} or not np.isclose(float(update["reward"]), rewards.mean()):
            return ("progress.update must get the batch's mean reward and the baseline, as "
                    "progress.update(reward=..., baseline=...)")
    return None


class RecordingProgress:
    """A stand-in for the live plot: records the keyword values of every ``update``."""

    def __init__(self):
        self.updates: list[dict] = []

    def update(self, *values, **named) -> None:
        self.updates.append({**{f"argument {i}": value for i, value in enumerate(values)},
                             **{name: float(np.asarray(value)) for name, value in named.items()}})


def with_reference_steps(controller_search, n_choices):
    """``controller_search`` run with the reference sampler and update; returns (search, recorder)."""
    recorder = RecordingReinforce(n_choices)
    search = with_references(
        controller_search, reinforce_step=recorder,
        sample_tokens=lambda controller, n, rng: reference_sample_tokens(controller, n, rng, n_choices),
        log_prob_and_entropy=lambda controller, tokens: reference_log_prob_and_entropy(controller, tokens,
                                                                                       n_choices))
    return search, recorder


def baseline_problem(calls, decay: float) -> str | None:
    """Whether the baselines passed to reinforce_step follow b <- decay*b + (1-decay)*mean(batch rewards).

    ``calls``: (tokens, rewards, baseline) per update, in order. None when they do.
    """
    if not calls:
        return "controller_search never called reinforce_step"
    for tokens, rewards, _ in calls:
        if len(tokens) != len(rewards):
            return (f"reinforce_step got {len(tokens)} token rows but {len(rewards)} rewards: when the budget runs "
                    f"out mid-batch, keep only the tokens that were scored")
    means = [rewards.mean() for _, rewards, _ in calls]
    got = np.array([np.nan if baseline is None else baseline for _, _, baseline in calls])

    def sequence(first, keep):
        out = [first]
        for mean in means[:-1]:
            out.append(keep * out[-1] + (1 - keep) * mean)
        return np.array(out)

    if np.allclose(got, sequence(means[0], decay), atol=1e-6):
        return None
    if np.isnan(got).any() or abs(got[0]) < 1e-12 and means[0] != 0:
        return ("the first update got no baseline (or 0): before the first step set the baseline to the first "
                "batch's mean reward")
    if len(got) > 2 and np.allclose(got, got[0]):
        return ("the baseline passed to reinforce_step never changes: after each update move it toward the "
                "batch's mean reward, b <- decay * b + (1 - decay) * mean(R)")
    if np.allclose(got, sequence(means[0], 1 - decay), atol=1e-6):
        return ("the baseline's decay is swapped: the old baseline keeps the share `decay` and the new batch's "
                "mean gets 1 - decay, b <- decay * b + (1 - decay) * mean(R)")
    updated_first = [means[0]]
    for mean in means[1:]:
        updated_first.append(decay * updated_first[-1] + (1 - decay) * mean)
    if np.allclose(got, updated_first, atol=1e-6):
        return ("the baseline is updated with a batch's rewards before that batch's update: take the step with "
                "the old baseline, then update it")
    return "the baselines passed to reinforce_step do not follow b <- decay * b + (1 - decay) * mean(R)"


@public_check
def check_controller_search(controller_search, table) -> None:
    """Budget of distinct evaluations respected, rewards from ``evaluate``, baseline, reproducible, and it learns.

    The search runs with the reference ``sample_tokens`` and ``reinforce_step``, so mistakes there are
    charged to their own exercises; the reference update also records the baselines it is given.
    """
    from course_utils.nas import arch_key

    n_choices = [len(choices) for choices in SEARCH_SPACE.values()]
    search, recorder = with_reference_steps(controller_search, n_choices)
    progress = RecordingProgress()
    search(table.lookup, 21, seed=1, batch_size=4, decay=0.7, learning_rate=0.07, entropy_weight=0.02,
           progress=progress)
    problem = baseline_problem(recorder.calls, 0.7)
    require(problem is None, problem or "")
    controller_class = getattr(search, "__globals__", {}).get("Controller")
    seed_weights = controller_class(seed=1).get_weights() if controller_class else recorder.first_weights
    problem = search_options_problem(recorder.options, recorder.first_weights, seed_weights, 0.07, 0.02) \
        or progress_problem(progress.updates, recorder.calls)
    require(problem is None, problem or "")
    for tokens, rewards, _ in recorder.calls:
        expected = [table.accuracy[arch_key({name: SEARCH_SPACE[name][int(i)] for name, i in
                                             zip(SEARCH_SPACE, row)})] for row in tokens]
        require_close(rewards, expected, what="the rewards passed to reinforce_step (the scores of its tokens)",
                      atol=1e-9)

    controller_search, _ = with_reference_steps(controller_search, n_choices)
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
    best = best_so_far(np.array([0.3, 0.1, 0.5, 0.4, 0.6]))
    require(isinstance(best, np.ndarray), f"best_so_far returned a {type(best).__name__}: return a NumPy array")
    require_close(best, [0.3, 0.3, 0.5, 0.5, 0.6], what="best_so_far([0.3, 0.1, 0.5, 0.4, 0.6])")
    require_close(best_so_far(np.array([-2.0, -3.0, -1.0])), [-2.0, -2.0, -1.0], what="best_so_far([-2, -3, -1])")
    curves = compare(table.lookup, 12, [5, 6])
    require(set(curves) == {"random", "controller"},
            f"compare should return the keys 'random' and 'controller', got {sorted(curves)}")
    for name, search in (("random", random_search), ("controller", controller_search)):
        got = np.asarray(curves[name])
        require(got.shape == (2, 12), f"curves[{name!r}] has shape {got.shape}, expected (len(seeds), budget)")
        for row, seed in zip(got, [5, 6]):
            expected = np.maximum.accumulate(search(table.lookup, 12, seed)[1])
            require_close(row, expected, what=f"curves[{name!r}] for seed {seed}", atol=1e-9)
