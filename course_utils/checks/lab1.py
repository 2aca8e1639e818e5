"""Public checks for Lab 1: the perceptron and training basics.

Each check compares the student's function with a NumPy/TensorFlow reference on
fixed inputs and prints PASSED or what to fix. A function that calls an earlier
exercise's function (``gradient_step`` calls ``perceptron_forward``...) is run
with the reference versions of those, so one mistake is reported once, at the
exercise where it was made. The by-hand exercises are also read for the
ready-made shortcuts they forbid.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course_utils.checks import (
    Problem,
    array_problem,
    public_check,
    require,
    require_close,
    require_no_shortcut,
    training_call_problem,
    with_references,
)
from course_utils.runtime import budget

SIGMOID_SHORTCUTS = {
    "nn.sigmoid": "write 1 / (1 + exp(-z)) with tf.exp",
    "math.sigmoid": "write 1 / (1 + exp(-z)) with tf.exp",
    "tensorflow.sigmoid": "write 1 / (1 + exp(-z)) with tf.exp",
    "activations.sigmoid": "write 1 / (1 + exp(-z)) with tf.exp",
    "ops.sigmoid": "write 1 / (1 + exp(-z)) with tf.exp",
    "special.expit": "write 1 / (1 + exp(-z)) with tf.exp",
}
RELU_SHORTCUTS = {
    "nn.relu": "write max(0, z) with tf.maximum or tf.where",
    "activations.relu": "write max(0, z) with tf.maximum or tf.where",
    "ops.relu": "write max(0, z) with tf.maximum or tf.where",
    "layers.ReLU": "write max(0, z) with tf.maximum or tf.where",
}
BCE_SHORTCUTS = {name: "write the cross-entropy formula with tf.math.log" for name in (
    "losses.binary_crossentropy", "losses.BinaryCrossentropy", "metrics.binary_crossentropy",
    "ops.binary_crossentropy", "backend.binary_crossentropy", "nn.sigmoid_cross_entropy_with_logits",
    "losses.log_loss")}
MSE_SHORTCUTS = {name: "write the mean of the squared differences with TensorFlow math" for name in (
    "losses.mean_squared_error", "losses.MeanSquaredError", "losses.mse", "losses.MSE",
    "metrics.mean_squared_error", "ops.mean_squared_error", "losses.MeanSquaredLogarithmicError")}
MLP_PARAMETERS = 784 * 256 + 256 + 256 * 10 + 10
# The same shortcuts seen by what runs: every alias, getattr lookup and Keras route ends in these.
SIGMOID_CALLS = {name: "a ready-made sigmoid, however it is reached, is not allowed: write 1 / (1 + exp(-z))"
                 for name in ("tensorflow.python.ops.gen_math_ops.sigmoid", "tensorflow.nn.sigmoid",
                              "scipy.special.expit")}
RELU_CALLS = {name: "a ready-made ReLU, however it is reached, is not allowed: write max(0, z) with tf.maximum"
              for name in ("tensorflow.python.ops.gen_nn_ops.relu", "tensorflow.nn.relu")}
LOSS_CALLS = {name: "a ready-made loss, however it is reached, is not allowed: write the formula with TensorFlow math"
              for name in ("keras.losses.binary_crossentropy", "keras.losses.mean_squared_error",
                           "tensorflow.nn.sigmoid_cross_entropy_with_logits", "keras.ops.binary_crossentropy",
                           "sklearn.metrics.log_loss", "sklearn.metrics.mean_squared_error")}


def _call_watched(function: Callable, calls: dict[str, str], exercise: str, *args):
    """``function(*args)``; stop the check when it ran one of the library functions ``calls`` forbids."""
    from course_utils.checks.source import call_watched

    value, called = call_watched(function, calls, *args)
    for name in called:
        raise Problem(f"{exercise} must not use `{name}`: {calls[name]}")
    return value


def is_tensor(value) -> bool:
    """Whether ``value`` is a TensorFlow tensor or variable (what later cells call ``.numpy()`` on)."""
    import tensorflow as tf

    return isinstance(value, (tf.Tensor, tf.Variable))


def _x(shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype(np.float32)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def _bce(y, p, eps=1e-7):
    p = np.clip(np.asarray(p, np.float64), eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


# Reference versions of the functions the later exercises call, written like a student would
# (TensorFlow, differentiable); hidden checks send the same source into the student's kernel.
REFERENCES = '''
import tensorflow as tf


def sigmoid(z):
    return 1.0 / (1.0 + tf.exp(-tf.convert_to_tensor(z, dtype=tf.float32)))


def perceptron_forward(x, w, b):
    x, w = tf.convert_to_tensor(x, dtype=tf.float32), tf.convert_to_tensor(w, dtype=tf.float32)
    return sigmoid(tf.linalg.matvec(x, w) + b)


def binary_cross_entropy(y_true, y_pred, eps=1e-7):
    y_true = tf.convert_to_tensor(y_true, dtype=tf.float32)
    y_pred = tf.clip_by_value(tf.convert_to_tensor(y_pred, dtype=tf.float32), eps, 1 - eps)
    return -tf.reduce_mean(y_true * tf.math.log(y_pred) + (1 - y_true) * tf.math.log(1 - y_pred))


def squared_error(y_true, y_pred, eps=1e-7):
    y_true = tf.convert_to_tensor(y_true, dtype=tf.float32)
    return tf.reduce_mean((y_true - tf.convert_to_tensor(y_pred, dtype=tf.float32)) ** 2)
'''


def reference_names(names: tuple[str, ...] | dict[str, str]) -> dict[str, str]:
    """{global name: name of its reference in REFERENCES}: a tuple binds each name to its namesake."""
    return dict(names) if isinstance(names, dict) else {name: name for name in names}


def judged_with_references(function: Callable, names: tuple[str, ...] | dict[str, str]) -> Callable:
    """``function`` with the global ``names`` bound to this module's reference versions (see REFERENCES)."""
    namespace: dict = {}
    exec(REFERENCES, namespace)  # noqa: S102 (our own constant source)
    return with_references(function, **{name: namespace[ref] for name, ref in reference_names(names).items()})


def _first_match(got, candidates: dict[str, np.ndarray], atol: float = 1e-5) -> str | None:
    """The message of the first wrong-answer candidate that ``got`` reproduces, or None."""
    for message, value in candidates.items():
        if array_problem(got, value, atol=atol, rtol=1e-5) is None:
            return message
    return None


def _uses(function: Callable, name: str) -> bool:
    """Whether ``function``'s source reads a name equal to or ending in ``name`` (True when it is unavailable)."""
    from course_utils.checks.source import forbidden_uses, function_source

    source = function_source(function)
    return source is None or bool(forbidden_uses(source, [name]))


# ---------------------------------------------------------------- Exercise 1

def tape_problem(got, x, expected, formula) -> str | None:
    """What is wrong with ``got`` as the gradient ``expected`` at ``x``, or None."""
    if got is None:
        return ("tape_gradient returned None: the tape did not record f(x) as a function of x. "
                "x is a constant tensor, so tell the tape to watch it, and compute f(x) inside the `with` block")
    problem = array_problem(got, expected, what="gradient", atol=1e-5, rtol=1e-5)
    if problem is None:
        return None
    if formula is not None and array_problem(got, formula, atol=1e-4, rtol=1e-4) is None:
        return ("tape_gradient returned 3x**2 - 2, the gradient of the example function, for another f: "
                "compute the gradient of the f you are given with the GradientTape, not a formula")
    if array_problem(got, expected, atol=5e-2, rtol=5e-2) is None:
        return (f"{problem}. It is close but not exact, like a finite-difference estimate: "
                "let the GradientTape compute the exact gradient")
    return problem


@public_check
def check_tape_gradient(tape_gradient):
    """tape_gradient(f, x) is the gradient of f at x, for the example f and for another one."""
    import tensorflow as tf

    x = _x((5,))
    got = tape_gradient(lambda v: tf.reduce_sum(v**3 - 2 * v), x)
    require(_uses(tape_gradient, "GradientTape"),
            "tape_gradient does not use tf.GradientTape: the exercise is to let the tape compute the gradient")
    problem = tape_problem(got, x, 3 * x**2 - 2, None)
    require(problem is None, str(problem))
    x = _x((2, 3), seed=1)
    got = tape_gradient(lambda v: tf.reduce_sum(tf.sin(v) * v), x)
    expected = np.sin(x) + x * np.cos(x)
    problem = tape_problem(got, x, expected, 3 * x**2 - 2)
    require(problem is None, f"for f(x) = sum(sin(x) * x) on a (2, 3) input: {problem}")
    namespace: dict = {}
    exec(DECLARED_GRADIENT, namespace)  # noqa: S102 (our own constant source)
    x = _x((4,), seed=2)
    got = tape_gradient(namespace["declared"], x)
    require(array_problem(got, declared_gradient(x), atol=1e-5) is None,
            "for a function whose gradient TensorFlow is told (tf.custom_gradient), tape_gradient does not return "
            "what the tape computes: it estimates the gradient some other way (finite differences?). Return "
            "tape.gradient of f(x)")
    require(is_tensor(got), f"tape_gradient returned {type(got).__name__}: return the tape's tensor")


# A function whose gradient is declared (tf.custom_gradient) as 3 * x, not its derivative 2 * x: only an
# answer that returns what the tape computes gets 3 * x. Runs here or in the student's kernel.
DECLARED_GRADIENT = '''
import tensorflow as tf


@tf.custom_gradient
def declared(v):
    return tf.reduce_sum(v * v), lambda upstream: upstream * 3.0 * v
'''


def declared_gradient(x: np.ndarray) -> np.ndarray:
    """What the tape gives for :data:`DECLARED_GRADIENT`'s function at ``x``."""
    return 3.0 * np.asarray(x, dtype=np.float64)


# ---------------------------------------------------------------- Exercise 2

SIGMOID_MISTAKES = {
    "the sign of the exponent is flipped, it should be exp(-z)": lambda z: _sigmoid(-z),
    "that is tanh(z), not the sigmoid": np.tanh,
    "that is exp(-z) / (1 + exp(-z)) = 1 - sigmoid(z): check the numerator": lambda z: 1 - _sigmoid(z)}
RELU_MISTAKES = {
    "that is |z|; negative inputs must give 0": np.abs,
    "that is min(z, 0); ReLU keeps the positive part": lambda z: np.minimum(z, 0)}
ACTIVATIONS = {"sigmoid": (_sigmoid, SIGMOID_MISTAKES), "relu": (lambda z: np.maximum(z, 0), RELU_MISTAKES)}


def activation_value_problem(got, z: np.ndarray, name: str, what: str) -> str | None:
    """What is wrong with ``got`` as ``name`` ("sigmoid" or "relu") of ``z``, or None (shared with the hidden check)."""
    reference, mistakes = ACTIVATIONS[name]
    problem = array_problem(got, reference(z), what=what, atol=1e-6, rtol=1e-6)
    if problem:
        hint = _first_match(got, {message: mistake(z) for message, mistake in mistakes.items()}, atol=1e-6)
        return f"{problem}: {hint}" if hint else problem
    return None


def activation_gradient_problem(gradient, z: np.ndarray, derivative: np.ndarray, name: str) -> str | None:
    """What is wrong with ``gradient``, the tape's gradient of ``name`` at ``z``, against the true ``derivative``,
    or None (shared with the hidden checks)."""
    problem = array_problem(gradient, derivative, what=f"the gradient of your {name}", atol=1e-5)
    if problem is None or np.shape(gradient) != np.shape(derivative):
        return problem
    wrong = ~np.isclose(np.asarray(gradient, dtype=np.float64), derivative, atol=1e-5, rtol=1e-5)
    if np.all(np.asarray(z)[wrong] == 0):
        return (f"{problem}: it is wrong only where z = 0: tf.abs and tf.sign have gradient 0 at 0, so a formula "
                "written through |z| loses the slope there")
    return problem


def _tape_gradient(function: Callable, z: np.ndarray):
    """The GradientTape's gradient of sum(function(z)) with respect to z (None when it cannot differentiate)."""
    import tensorflow as tf

    t = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(t)
        out = tf.reduce_sum(function(t))
    return tape.gradient(out, t)


def _activation_problem(function: Callable, name: str, shortcuts: dict[str, str], calls: dict[str, str]) -> None:
    """Stop the check when ``function`` uses a shortcut, is wrong, or cannot be differentiated."""
    require_no_shortcut(function, shortcuts, name)
    z = np.concatenate([np.linspace(-20, 20, 41), [-100.0, 100.0, -1e4, 1e4]]).astype(np.float32)
    got = _call_watched(function, calls, name, z)
    problem = activation_value_problem(got, z, name, f"{name}(z) for z from -1e4 to 1e4")
    if problem and "NaN" in problem:
        problem += (": the formula overflows for large |z|: in float32 exp(z) is infinite beyond z = 88, and "
                    "inf / inf is NaN, while 1 / (1 + exp(-z)) never divides two infinities")
    require(problem is None, str(problem))
    matrix = _x((3, 4), seed=5, scale=3.0)
    require_close(function(matrix), ACTIVATIONS[name][0](matrix), what=f"{name} on a (3, 4) input", atol=1e-6)
    require(_tape_gradient(function, matrix) is not None,
            f"the GradientTape cannot differentiate your {name}: compute it with TensorFlow operations "
            "(tf.exp, tf.maximum...), not NumPy")
    if name == "sigmoid":  # the slope that training follows, z = 0 included
        z = np.linspace(-6, 6, 13).astype(np.float32)
        problem = activation_gradient_problem(_tape_gradient(function, z), z, _sigmoid(z) * (1 - _sigmoid(z)), name)
        require(problem is None, str(problem))
    require(is_tensor(got), f"{name} returned {type(got).__name__}: return a TensorFlow tensor")


@public_check
def check_activations(sigmoid, relu):
    """sigmoid and relu agree with their definitions elementwise, have gradients, and are written by hand."""
    _activation_problem(sigmoid, "sigmoid", SIGMOID_SHORTCUTS, SIGMOID_CALLS)
    _activation_problem(relu, "relu", RELU_SHORTCUTS, RELU_CALLS)


# ---------------------------------------------------------------- Exercise 3

def perceptron_problem(got, x, w, b) -> str | None:
    """What is wrong with ``got`` as the perceptron's output, or None (shared with the hidden check)."""
    expected = _sigmoid(x @ w + b)
    problem = array_problem(got, expected, what="perceptron output", atol=1e-5)
    if problem is None:
        return None
    if np.shape(got) == (len(x), 1):
        return (f"{problem}: keep one number per example, shape (n,), "
                "e.g. by multiplying with tf.linalg.matvec, or by dropping the last axis of an (n, 1) result")
    hint = _first_match(got, {
        "the bias b is missing": _sigmoid(x @ w),
        "the sigmoid is missing: the output must be a probability": x @ w + b,
        "add the bias before the sigmoid, not after it": _sigmoid(x @ w) + b,
    })
    return f"{problem}: {hint}" if hint else problem


PERCEPTRON_GRADIENT_HINT = ("the GradientTape cannot differentiate perceptron_forward with respect to w and b "
                            "(Exercise 6 needs it): compute it with TensorFlow operations, not NumPy")


def _has_gradients(forward: Callable, x, w, b) -> bool:
    """Whether a tape through ``forward(x, w, b)`` gives gradients for the variables w and b."""
    import tensorflow as tf

    w, b = tf.Variable(w), tf.Variable(b)
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(forward(x, w, b))
    return all(g is not None for g in tape.gradient(out, [w, b]))


def matmul_of_a_vector(message: str) -> bool:
    """Whether TensorFlow's error ``message`` is tf.matmul refusing a vector operand. Its words change across
    versions: "ndims must be >= 2" (2.20), "In[0] and In[1] has different ndims" (2.21)."""
    return "ndims" in message or "rank" in message.lower()


MATMUL_OF_A_VECTOR = ("`@` (tf.matmul) multiplies two matrices, but w is a vector of shape (d,): "
                      "use tf.linalg.matvec(x, w), or make w a (d, 1) column and turn the (n, 1) result back into (n,)")


def _explain_matmul(error: Exception) -> None:
    """Turn TensorFlow's rank error of ``x @ w`` (w a vector) into an explanation."""
    if matmul_of_a_vector(str(error)):
        raise Problem(MATMUL_OF_A_VECTOR) from None
    raise error


@public_check
def check_perceptron(perceptron_forward):
    """y_hat = sigmoid(x @ w + b) with x: (n, d), w: (d,), b: scalar -> (n,), with the reference sigmoid."""
    require_no_shortcut(perceptron_forward, SIGMOID_SHORTCUTS, "perceptron_forward (use your sigmoid)")
    forward = judged_with_references(perceptron_forward, ("sigmoid",))
    for x, w, b in [(_x((4, 3)), _x((3,), seed=1), np.float32(0.5)), (_x((1, 1), seed=2), _x((1,), seed=3),
                                                                       np.float32(-1.5))]:
        try:
            got = _call_watched(forward, SIGMOID_CALLS, "perceptron_forward (use your sigmoid)", x, w, b)
        except Problem:
            raise
        except Exception as error:  # noqa: BLE001 (explained or re-raised)
            _explain_matmul(error)
        problem = perceptron_problem(got, x, w, b)
        require(problem is None, f"for x of shape {x.shape}: {problem}")
    require(is_tensor(got), f"perceptron_forward returned {type(got).__name__}: return a TensorFlow tensor (the "
                            "cells below call .numpy() on it)")
    require(_has_gradients(forward, x, w, b), PERCEPTRON_GRADIENT_HINT)


# ---------------------------------------------------------------- Exercise 4

def dense_problem(got, x, w, b, activation: Callable) -> str | None:
    """What is wrong with ``got`` as the dense layer's output, or None (shared with the hidden check)."""
    problem = array_problem(got, activation(x @ w + b), what="layer output", atol=1e-5)
    if problem is None:
        return None
    hint = _first_match(got, {
        "self.activation is not applied": x @ w + b,
        "the bias b is not added": activation(x @ w),
        "add b before the activation, not after it": activation(x @ w) + b,
    })
    return f"{problem}: {hint}" if hint else problem


def glorot_problem(w: np.ndarray) -> str | None:
    """Whether initial weights ``w`` (d_in, units) look drawn from glorot_uniform: U(-limit, limit) with
    limit = sqrt(6 / (d_in + units)), so every |w| <= limit and the standard deviation is limit / sqrt(3)."""
    limit = np.sqrt(6.0 / sum(w.shape))
    spread = float(np.std(w)) / (limit / np.sqrt(3.0))
    if np.max(np.abs(w)) <= limit * (1 + 1e-5) and abs(spread - 1) < 0.1 and abs(float(np.mean(w))) < 0.05 * limit:
        return None
    return (f"W's initial values (a layer with {w.shape[0]} inputs and {w.shape[1]} units) do not look like "
            f"glorot_uniform's U(-limit, limit) with limit = sqrt(6 / (d_in + units)) = {limit:.3f} (largest |W| "
            f"{np.max(np.abs(w)):.3f}, standard deviation {spread:.2f} times the expected one): use "
            "initializer='glorot_uniform'")


@public_check
def check_dense_layer(DenseLayer):  # noqa: N803 (a class is passed)
    """A DenseLayer(units) builds W: (d_in, units), b: (units,) and returns activation(x @ W + b)."""
    x = _x((2, 4))
    layer = DenseLayer(3, activation="sigmoid")
    layer.build(x.shape)
    require(hasattr(layer, "W") and hasattr(layer, "b"), "build() must create self.W and self.b")
    require(tuple(layer.W.shape) == (4, 3), f"W has shape {tuple(layer.W.shape)}, expected (d_in, units) = (4, 3)")
    require(tuple(layer.b.shape) == (3,), f"b has shape {tuple(layer.b.shape)}, expected (units,) = (3,)")
    require(len(layer.trainable_weights) == 2,
            f"the layer has {len(layer.trainable_weights)} trainable weights, expected 2: create W and b with "
            "self.add_weight(..., trainable=True)")
    w0 = np.asarray(layer.W)
    require(np.ptp(w0) > 0, "W starts with all entries equal: every unit would compute and learn the same "
                            "thing; use the glorot_uniform initializer")
    require(np.all(np.asarray(layer.b) == 0), "b must start at zero (initializer 'zeros')")
    wide = DenseLayer(96)
    wide.build((None, 160))
    problem = glorot_problem(np.asarray(wide.W))
    require(problem is None, str(problem))
    w, b = _x((4, 3), seed=2), _x((3,), seed=3)
    layer.W.assign(w)
    layer.b.assign(b)
    problem = dense_problem(layer(x), x, w, b, _sigmoid)
    require(problem is None, f"DenseLayer(3, activation='sigmoid'): {problem}")
    linear = DenseLayer(2)
    linear.build((None, 4))
    linear.W.assign(w[:, :2])
    linear.b.assign(b[:2])
    problem = dense_problem(linear(x), x, w[:, :2], b[:2], lambda z: z)
    require(problem is None, f"DenseLayer(2) without activation: {problem}")


# ---------------------------------------------------------------- Exercise 5

def bce_problem(binary_cross_entropy: Callable) -> str | None:
    """What is wrong with ``binary_cross_entropy`` on fixed inputs, or None (public check)."""
    y = np.array([1, 0, 1, 1, 0], dtype=np.float32)
    p = np.array([0.9, 0.2, 0.6, 0.3, 0.4], dtype=np.float32)
    got = binary_cross_entropy(y, p)
    problem = array_problem(got, _bce(y, p), what="binary cross-entropy", atol=1e-5)
    if problem:
        terms = y * np.log(p) + (1 - y) * np.log(1 - p)
        hint = _first_match(got, {
            "the minus sign is missing: log of a probability is negative, the loss is positive": np.mean(terms),
            "that is the sum over the examples; take the mean": -np.sum(terms),
            "the (1 - y) log(1 - y_hat) term is missing": -np.mean(y * np.log(p)),
            "y_true and y_pred are swapped": -np.mean(p * np.log(np.clip(y, 1e-7, 1)) +
                                                     (1 - p) * np.log(np.clip(1 - y, 1e-7, 1))),
        }, atol=1e-4)
        return f"{problem}: {hint}" if hint else problem
    y, p = np.array([1, 0, 1, 0], np.float32), np.array([0, 1, 1, 0], np.float32)
    extreme = np.asarray(binary_cross_entropy(y, p), dtype=np.float64)
    if not np.all(np.isfinite(extreme)):
        return ("for predictions of exactly 0 and 1 the binary cross-entropy is infinite or NaN: clip y_pred "
                "into [eps, 1 - eps] before taking the log")
    problem = array_problem(extreme, _bce(y, p), what="binary cross-entropy for predictions of exactly 0 and 1",
                            atol=0, rtol=0.05)
    if problem:
        return f"{problem}: clip y_pred into [eps, 1 - eps], both ends, before taking the log"
    larger = np.asarray(binary_cross_entropy(y, p, eps=0.01), dtype=np.float64)
    problem = array_problem(larger, _bce(y, p, eps=0.01), what="binary_cross_entropy(..., eps=0.01)",
                            atol=0, rtol=0.05)
    return f"{problem}: clip with the eps argument, not a fixed number" if problem else None


def mse_problem(got, y, p) -> str | None:
    """What is wrong with ``got`` as the mean squared error of ``y`` and ``p``, or None."""
    problem = array_problem(got, np.mean((y - p) ** 2), what="mean squared error", atol=1e-5)
    if problem is None:
        return None
    hint = _first_match(got, {
        "that is the mean absolute error: square the differences": np.mean(np.abs(y - p)),
        "that is the sum of the squared differences; take the mean": np.sum((y - p) ** 2),
        "that is the root of the mean squared error; do not take the square root": np.sqrt(np.mean((y - p) ** 2)),
    }, atol=1e-4)
    return f"{problem}: {hint}" if hint else problem


def loss_has_gradient(loss: Callable, y: np.ndarray, p: np.ndarray) -> bool:
    """Whether a tape gives a gradient of ``loss(y, p)`` with respect to the predictions ``p``."""
    import tensorflow as tf

    p = tf.constant(p)
    with tf.GradientTape() as tape:
        tape.watch(p)
        value = loss(y, p)
    return tape.gradient(value, p) is not None


@public_check
def check_losses(binary_cross_entropy, mean_squared_error):
    """The hand-written losses give the mean BCE (clipped with eps) and the mean squared error."""
    require_no_shortcut(binary_cross_entropy, BCE_SHORTCUTS, "binary_cross_entropy")
    require_no_shortcut(mean_squared_error, MSE_SHORTCUTS, "mean_squared_error")
    problem = bce_problem(lambda *a, **k: _call_watched(lambda: binary_cross_entropy(*a, **k), LOSS_CALLS,
                                                        "binary_cross_entropy"))
    require(problem is None, str(problem))
    y, p = _x((6,), seed=6), _x((6,), seed=7)
    problem = mse_problem(_call_watched(mean_squared_error, LOSS_CALLS, "mean_squared_error", y, p), y, p)
    require(problem is None, str(problem))
    y = np.array([1, 0, 1], np.float32)
    for name, loss in [("binary_cross_entropy", binary_cross_entropy), ("mean_squared_error", mean_squared_error)]:
        require(loss_has_gradient(loss, y, np.array([0.2, 0.6, 0.9], np.float32)),
                f"the GradientTape cannot differentiate your {name} with respect to y_pred (gradient descent "
                "needs it): compute it with TensorFlow operations, not NumPy")


# ---------------------------------------------------------------- Exercise 6

UPSTREAM = ("sigmoid", "perceptron_forward", "binary_cross_entropy")
# The same with binary_cross_entropy swapped for a squared error: a step taken from the tape follows
# the swap, a gradient formula written by hand does not.
SWAPPED_LOSS = {"sigmoid": "sigmoid", "perceptron_forward": "perceptron_forward",
                "binary_cross_entropy": "squared_error"}


def _bce_gradients(x, y, p) -> tuple[np.ndarray, float]:
    """dJ/dw (d,) and dJ/db of the mean BCE J for inputs x (n, d), labels y (n,) and predictions p (n,)."""
    return x.T @ (p - y) / len(y), float(np.mean(p - y))


def gradient_step_problem(result, w, b, x, y, lr) -> str | None:
    """What is wrong with ``gradient_step``'s ``result`` = (new_w, new_b, loss), or None."""
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        return "gradient_step must return three values: (new_w, new_b, loss)"
    new_w, new_b, loss = (np.asarray(v, dtype=np.float64) for v in result)
    p = _sigmoid(x @ w + b)
    dw, db = _bce_gradients(x, y, p)
    for got, start, grad, name in [(new_w, w, dw, "new w"), (new_b, b, db, "new b")]:
        problem = array_problem(got, start - lr * grad, what=name, atol=1e-5)
        if problem:
            hint = _first_match(got, {
                "the step goes uphill: subtract learning_rate * gradient": start + lr * grad,
                "the parameter did not move: apply the step to it": start,
                "the step ignores learning_rate": start - grad,
            })
            return f"{problem}: {hint}" if hint else problem
    problem = array_problem(loss, _bce(y, p), what="loss", atol=1e-5)
    if problem and array_problem(loss, _bce(y, _sigmoid(x @ new_w + new_b)), atol=1e-5) is None:
        return f"{problem}: return the loss computed before the step, not after it"
    return problem


def tape_step_problem(result, w, b, x, y, lr) -> str | None:
    """What is wrong with ``gradient_step``'s result when it runs with SWAPPED_LOSS, or None.

    The step must follow the loss it records: -lr times the squared error's gradient.
    """
    new_w, new_b = (np.asarray(v, dtype=np.float64) for v in result[:2])
    p = _sigmoid(x @ w + b)
    dz = -2 * (y - p) * p * (1 - p) / len(y)   # d mean((y - p)^2) / dz
    expected_w, expected_b = w - lr * (x.T @ dz), b - lr * np.sum(dz)
    if np.allclose(new_w, expected_w, atol=1e-5) and np.allclose(new_b, expected_b, atol=1e-5):
        return None
    if np.allclose(new_w, w - lr * _bce_gradients(x, y, p)[0], atol=1e-5):
        return ("the step does not follow the loss on the tape: with binary_cross_entropy replaced by another "
                "loss it still moves along the cross-entropy's gradient. Take dJ/dw and dJ/db from "
                "tape.gradient of the J you computed, not from a formula written by hand")
    return ("the step does not follow the loss on the tape: compute J with your perceptron_forward and "
            "binary_cross_entropy inside the GradientTape block and step along tape.gradient of that J")


STEP_TYPES_HINT = ("gradient_step must return TensorFlow tensors or variables (the cells below call .numpy() on "
                   "them and feed them back in)")


@public_check
def check_gradient_step(gradient_step):
    """One step moves (w, b) by -learning_rate * gradient of the mean BCE (upstream functions: references)."""
    step = judged_with_references(gradient_step, UPSTREAM)
    x, y = _x((6, 2)), np.array([1, 0, 1, 0, 1, 1], dtype=np.float32)
    w, b, lr = np.array([0.3, -0.2], dtype=np.float32), np.float32(0.1), 0.5
    try:
        result = step(w, b, x, y, lr)
    except TypeError as error:
        if "NoneType" in str(error):
            raise Problem("a gradient is None: compute the loss from the variables w and b inside the "
                          "GradientTape block, then call tape.gradient outside it") from None
        raise
    problem = gradient_step_problem(result, w, b, x, y, lr)
    require(problem is None, str(problem))
    require(all(is_tensor(v) for v in result), STEP_TYPES_HINT + ", not " + ", ".join(type(v).__name__ for v in result))
    problem = tape_step_problem(judged_with_references(gradient_step, SWAPPED_LOSS)(w, b, x, y, lr), w, b, x, y, lr)
    require(problem is None, str(problem))


# ---------------------------------------------------------------- Exercise 7

def mlp_problem(layers: list[tuple[str, str, float]], params: int, outputs: np.ndarray, training_a: np.ndarray,
                training_b: np.ndarray) -> str | None:
    """What is wrong with the MLP, or None (shared with the hidden check).

    layers: (class name, activation name or '', dropout rate or 0) per layer; outputs: (13, 10), the
    model's outputs for :func:`mlp_inputs`; training_a, training_b: two calls with training=True.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    training_differs = np.shape(training_a) != np.shape(training_b) or not np.allclose(training_a, training_b)
    if np.shape(outputs)[1:] != (10,):
        return f"the model's output has shape (batch,) + {np.shape(outputs)[1:]}, expected (batch, 10)"
    if params != MLP_PARAMETERS:
        return (f"the model has {params:,} parameters, expected {MLP_PARAMETERS:,} "
                "(784 -> 256 hidden units -> 10 outputs): check the layer sizes")
    activations = [act for _, act, _ in layers if act and act != "linear"]
    probabilities = np.all(outputs >= 0) and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-4)
    if probabilities or (activations and activations[-1] in ("softmax", "sigmoid")):
        return ("the outputs are probabilities (softmax): the output layer must give logits, "
                "without activation; the loss applies the softmax itself")
    a, b, c = outputs[:4], outputs[4:8], outputs[8:12]   # f(u), f(v), f(u + v) with a linear map's f(0) = 0
    zero = outputs[12:13]
    if np.allclose(c - a - b + zero, 0, atol=1e-4):
        return "the model is linear in its input: the hidden layer needs the ReLU activation"
    if "relu" not in activations:
        return f"the hidden layer's activation is {activations or 'missing'}, expected ReLU"
    rates = [rate for _, _, rate in layers if rate]
    if not training_differs or not rates:
        return "the model has no dropout: add a Dropout(0.2) layer after the hidden layer"
    if rates != [0.2]:
        return f"dropout rates {rates}: use one Dropout layer with rate 0.2, after the hidden layer"
    kinds = [kind for kind, _, _ in layers]
    dense = [i for i, kind in enumerate(kinds) if "Dense" in kind]
    if dense and kinds.index("Dropout") < dense[0]:
        return "the Dropout layer comes before the hidden layer: it must drop hidden units, so put it after"
    if dense and kinds.index("Dropout") > dense[-1]:
        return ("the Dropout layer comes after the output layer: dropout on the logits zeroes class scores; "
                "it belongs between the hidden layer and the output layer")
    if dense and (layers[dense[-1]][1] not in ("", "linear") or dense[-1] != len(layers) - 1):
        return (f"the output layer has an activation ({layers[-1][1] or kinds[-1]}): the outputs must be logits, "
                "those of a Dense(10) layer without activation, with nothing after it")
    return None


def mlp_inputs(seed: int) -> np.ndarray:
    """Images u (4), v (4), u + v (4) and a black image (1): (13, 28, 28), to test linearity."""
    rng = np.random.default_rng(seed)
    u, v = rng.random((4, 28, 28), dtype=np.float32), rng.random((4, 28, 28), dtype=np.float32)
    return np.concatenate([u, v, u + v, np.zeros((1, 28, 28), np.float32)])


# Runs where the model lives (here, or in the student's kernel for the hidden check).
MLP_PROBE = '''
import numpy as np


def describe_mlp(model, x):
    """(layers as (class, activation, dropout rate), parameter count, outputs for x, two with training=True)."""
    layers = []
    for layer in model.layers:
        activation = getattr(getattr(layer, "activation", None), "__name__", "")
        if type(layer).__name__ == "ReLU":
            activation = "relu"
        layers.append((type(layer).__name__, activation, float(getattr(layer, "rate", 0.0) or 0.0)))
    return (layers, int(model.count_params()), np.asarray(model(x, training=False)),
            np.asarray(model(x, training=True)), np.asarray(model(x, training=True)))
'''


@public_check
def check_mlp(build_mlp):
    """build_mlp() maps 28x28 images to 10 logits: 256 ReLU hidden units, dropout 0.2, no output softmax."""
    namespace: dict = {}
    exec(MLP_PROBE, namespace)  # noqa: S102 (our own constant source)
    problem = mlp_problem(*namespace["describe_mlp"](build_mlp(), mlp_inputs(0)))
    require(problem is None, str(problem))


# ---------------------------------------------------------------- Exercise 8

# A small stand-in model that records the `training` argument of every call; its logits are
# 4x5 "images" times a fixed (20, 3) matrix. Hidden checks build the same model in the student's kernel.
PROBE_MODEL = '''
import keras


class RecordingModel(keras.Model):
    """Flatten + Dense(3) on (batch, 4, 5) inputs; remembers the `training` argument of each call."""

    def __init__(self):
        super().__init__()
        self.flatten, self.dense = keras.layers.Flatten(), keras.layers.Dense(3)
        self.trainings = []

    def call(self, x, training=None):
        self.trainings.append(training)
        return self.dense(self.flatten(x))


def run_train_step(train_step, kernel, bias, x, y, learning_rate):
    """One train_step with SGD on a RecordingModel; returns (loss, kernel, bias, trainings)."""
    model = RecordingModel()
    model(x[:1])
    model.dense.kernel.assign(kernel)
    model.dense.bias.assign(bias)
    model.trainings.clear()
    loss = train_step(model, keras.optimizers.SGD(learning_rate), x, y)
    return (None if loss is None else float(loss), model.dense.kernel.numpy(), model.dense.bias.numpy(),
            [str(t) for t in model.trainings])


def compiled_error(train_step, kernel, bias, x, y, learning_rate):
    """The error that train_step raises when compiled with tf.function, as the training loop runs it, or None."""
    import tensorflow as tf

    model = RecordingModel()
    model(x[:1])
    try:
        tf.function(train_step)(model, keras.optimizers.SGD(learning_rate), tf.constant(x), tf.constant(y))
    except Exception as error:  # noqa: BLE001 (reported to the student)
        return f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    return None
'''


def train_step_case(seed: int):
    """Inputs (kernel, bias, x, y, lr) for :data:`PROBE_MODEL` and the expected (loss, kernel, bias)."""
    rng = np.random.default_rng(seed)
    kernel, bias = rng.normal(0, 0.5, (20, 3)).astype(np.float32), rng.normal(0, 0.1, 3).astype(np.float32)
    x, y, lr = rng.normal(size=(6, 4, 5)).astype(np.float32), rng.integers(0, 3, 6), 0.3
    flat = x.reshape(6, 20).astype(np.float64)
    logits = flat @ kernel + bias
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    delta = (p - np.eye(3)[y]) / 6
    expected = (_mean_cross_entropy(logits, y), kernel - lr * flat.T @ delta, bias - lr * delta.sum(0), flat, y)
    return (kernel, bias, x, y, lr), expected


def _mean_cross_entropy(logits, y) -> float:
    p = np.exp(logits - logits.max(1, keepdims=True))
    return float(-np.mean(np.log(p[np.arange(len(y)), y] / p.sum(1))))


def train_step_problem(got, expected) -> str | None:
    """What is wrong with (loss, kernel, bias, trainings) from ``run_train_step``, or None."""
    loss, kernel, bias, trainings = got
    want_loss, want_kernel, want_bias, flat, y = expected
    problem = training_call_problem(trainings, loss)
    if problem:
        return problem
    problem = array_problem(loss, want_loss, what="returned loss", atol=1e-5)
    if problem:
        hint = _first_match(loss, {
            "that is the sum over the batch; return the mean (loss_fn gives it)": want_loss * len(y),
            "return the loss computed before the step, not after it":
                _mean_cross_entropy(flat @ want_kernel + want_bias, y),
        }, atol=1e-4)
        return f"{problem}: {hint or 'compute loss_fn(y, logits) on the logits (from_logits=True)'}"
    for got_value, want, name in [(kernel, want_kernel, "kernel"), (bias, want_bias, "bias")]:
        problem = array_problem(got_value, want, what=f"the output layer's {name} after one SGD step", atol=1e-5)
        if problem:
            return (f"{problem}: compute the gradients of the loss with respect to model.trainable_variables "
                    "and pass them to optimizer.apply_gradients")
    return None


def compiled_problem(error: str | None) -> str | None:
    """What to tell a student whose train_step fails under tf.function with ``error``, or None."""
    if error is None:
        return None
    return (f"train_step fails when compiled with tf.function, as the training loop below runs it ({error}): "
            "inside a compiled step the loss is a symbolic tensor, so keep it a tensor (no .numpy() or NumPy "
            "functions on it) and return it")


@public_check
def check_train_step(train_step):
    """One train_step on a stand-in model: training=True, the mean loss, and an SGD update of every weight."""
    namespace: dict = {}
    exec(PROBE_MODEL, namespace)  # noqa: S102 (our own constant source)
    inputs, expected = train_step_case(0)
    problem = train_step_problem(namespace["run_train_step"](train_step, *inputs), expected)
    require(problem is None, str(problem))
    problem = compiled_problem(namespace["compiled_error"](train_step, *inputs))
    require(problem is None, str(problem))


def mnist_accuracy_threshold() -> float:
    """Test accuracy a correct solution reaches with this run mode's training budget."""
    return budget(full=0.975, smoke=0.75)


@public_check
def check_mnist_accuracy(model, x_test, y_test):
    """The trained MLP's accuracy on the test images reaches this run mode's threshold."""
    logits = np.asarray(model(x_test, training=False))
    accuracy = float(np.mean(np.argmax(logits, axis=1) == y_test))
    print(f"test accuracy: {accuracy:.4f}")
    threshold = mnist_accuracy_threshold()
    require(accuracy >= threshold, f"test accuracy {accuracy:.4f} is below {threshold}: "
            "check the learning rate, the number of epochs and that x is scaled to [0, 1]")
