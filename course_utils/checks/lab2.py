"""Public checks of Lab 2 (convolutional networks, and what a network can memorise).

Each check runs the student's function on small fixed inputs and compares it with
TensorFlow or NumPy computed here (``tf.nn.conv2d``, ``tf.nn.max_pool2d``, a
``tf.GradientTape`` step...), within the tolerance it states. TensorFlow is imported
inside the checks so that importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course_utils.checks import array_problem, public_check, require, require_no_shortcut, training_call_problem

TOLERANCE = 1e-5
CNN_LAYERS = [
    "Conv2D",
    "MaxPooling2D",
    "Conv2D",
    "MaxPooling2D",
    "Flatten",
    "Dropout",
    "Dense",
    "Dropout",
    "Dense",
]


def _tf():
    import tensorflow as tf

    return tf


def _shortcuts(names: tuple[str, ...], instead: str) -> dict[str, str]:
    return {name: instead for name in names}


CONV_SHORTCUTS = _shortcuts(
    ("nn.conv2d", "nn.convolution", "nn.conv1d", "nn.conv3d", "nn.depthwise_conv2d", "nn.separable_conv2d",
     "nn.atrous_conv2d", "layers.Conv2D", "layers.Convolution2D", "layers.DepthwiseConv2D", "ops.conv",
     "ops.depthwise_conv", "signal.correlate", "signal.correlate2d", "signal.convolve", "signal.convolve2d",
     "signal.fftconvolve", "signal.oaconvolve", "ndimage.correlate", "ndimage.convolve"),
    "write the sum over the filter offsets with NumPy slices",
)
POOL_SHORTCUTS = _shortcuts(
    ("nn.max_pool2d", "nn.max_pool", "nn.pool", "nn.max_pool_with_argmax", "layers.MaxPooling2D",
     "layers.MaxPool2D", "layers.GlobalMaxPooling2D", "ops.max_pool", "ops.pool", "measure.block_reduce",
     "ndimage.maximum_filter"),
    "take the maximum over the window offsets with NumPy slices",
)
CONFUSION_SHORTCUTS = _shortcuts(
    ("metrics.confusion_matrix", "math.confusion_matrix", "tensorflow.confusion_matrix"),
    "count the (true, predicted) pairs with NumPy",
)


@public_check
def check_prepare_images(prepare_images: Callable) -> None:
    """``prepare_images(images)`` scales uint8 images to float32 in [0, 1] and adds a channel axis."""
    rng = np.random.default_rng(20)
    images = rng.integers(0, 256, size=(3, 5, 4), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    before = images.copy()
    out = prepare_images(images)
    problem = prepare_problem(out, images)
    require(problem is None, str(problem))
    require(np.array_equal(images, before), "prepare_images changed its input; return a new array instead")


def prepare_problem(out, images) -> str | None:
    """What is wrong with ``out`` = prepare_images(images), or None (shared with the hidden check)."""
    n, height, width = images.shape
    if not isinstance(out, np.ndarray):
        return f"return a NumPy array, not {type(out).__name__}"
    if out.shape == (n, 1, height, width):
        return (f"the result has shape {out.shape}: the channel axis goes last (channels-last, NHWC), "
                f"shape {(n, height, width, 1)}")
    if out.shape != (n, height, width, 1):
        return (f"for images of shape {images.shape} the result has shape {out.shape}, expected "
                f"{(n, height, width, 1)}: add one channel axis at the end")
    if out.dtype != np.float32:
        return f"the result has dtype {out.dtype}, expected float32: convert before or after dividing"
    if np.max(out) > 1.0 + 1e-6:
        return f"the values go up to {np.max(out):g}: scale the pixels into [0, 1] by dividing by 255"
    return array_problem(out, images[..., None] / 255.0, what="prepare_images(images)", atol=1e-6, rtol=0)


def _out_size(size: int, k: int, stride: int, padding: str) -> int:
    return (size - k) // stride + 1 if padding == "valid" else -(-size // stride)


def _pads(height: int, width: int, k_h: int, k_w: int, stride: int, padding: str, swap: bool = False):
    """((top, bottom), (left, right)) zero rows and columns of the rules in the notebook (``swap``: split reversed)."""
    pads = []
    for size, k in ((height, k_h), (width, k_w)):
        total = 0 if padding == "valid" else max((_out_size(size, k, stride, padding) - 1) * stride + k - size, 0)
        pads.append((total - total // 2, total // 2) if swap else (total // 2, total - total // 2))
    return pads


def _windows(x, k_h, k_w, stride, pads, out_h, out_w, fill=0.0):
    """Yield (a, b, x_pad[:, i*stride + a, j*stride + b, :] for all i < out_h, j < out_w)."""
    x_pad = np.pad(np.asarray(x, dtype=np.float64), ((0, 0), *pads, (0, 0)), constant_values=fill)
    for a in range(k_h):
        for b in range(k_w):
            yield a, b, x_pad[:, a:a + stride * (out_h - 1) + 1:stride, b:b + stride * (out_w - 1) + 1:stride, :]


def _shape_hint(shape, expected, x_shape, k_h, k_w, stride, padding, name) -> str:
    """Name the mistake when an output has the wrong shape: stride ignored, or padding ignored."""
    n, height, width = x_shape[:3]
    no_stride = (_out_size(height, k_h, 1, padding), _out_size(width, k_w, 1, padding))
    no_padding = (_out_size(height, k_h, stride, "valid"), _out_size(width, k_w, stride, "valid"))
    got = tuple(shape[1:3])
    if stride > 1 and got == no_stride and got != no_padding:
        return (f" That is the size for stride 1: {name} ignores the stride. With stride s there are "
                "out_h = floor((H - k) / s) + 1 ('valid') or ceil(H / s) ('same') output rows.")
    if padding == "same" and got == no_padding and got != no_stride:
        return (" That is the size without padding: with 'same' padding there are ceil(H / stride) output rows "
                "(pad the input first).")
    if got == no_stride == no_padding:
        return " Both the stride and the padding decide the output size: check how each is used."
    return f" Expected out_h, out_w = {tuple(expected[1:3])} from the rules above the exercise."


def conv_problem(got, x, w, stride: int, padding: str, *, what: str) -> str | None:
    """What is wrong with ``got`` as conv2d(x, w, stride, padding), or None (shared with the hidden check)."""
    tf = _tf()
    expected = tf.nn.conv2d(x, w, strides=stride, padding=padding.upper()).numpy()
    problem = array_problem(got, expected, what=what, atol=TOLERANCE, rtol=TOLERANCE)
    if problem is None:
        return None
    k_h, k_w = w.shape[:2]
    if np.shape(got) != expected.shape:
        if np.ndim(got) == 4 and np.shape(got)[0] == x.shape[0] and np.shape(got)[3] == w.shape[3]:
            return problem + "." + _shape_hint(np.shape(got), expected.shape, x.shape, k_h, k_w, stride, padding,
                                               "conv2d")
        return f"{problem}: the result is (n, out_h, out_w, c_out), summed over the input channels"
    out_h, out_w = expected.shape[1:3]

    def variant(kernel, step, pads):
        return sum(patch @ kernel[a, b] for a, b, patch in _windows(x, k_h, k_w, step, pads, out_h, out_w))

    pads = _pads(x.shape[1], x.shape[2], k_h, k_w, stride, padding)
    hints = {
        "It matches the result with the filter flipped: deep-learning convolution does not flip it.":
            variant(w[::-1, ::-1], stride, pads),
        "The filter moves by 1 pixel instead of the stride: output (i, j) reads input (i*stride + a, "
        "j*stride + b).": variant(w, 1, pads),
        "The padding is split the wrong way round: p // 2 zeros before (top, left) and the rest after.":
            variant(w, stride, _pads(x.shape[1], x.shape[2], k_h, k_w, stride, padding, swap=True)),
    }
    for hint, value in hints.items():
        if array_problem(got, value, atol=TOLERANCE, rtol=TOLERANCE) is None:
            return f"{problem}. {hint}"
    if padding == "same":
        return (f"{problem}. Check the padding: p = max((out - 1) * stride + k - size, 0) zeros in total, "
                "p // 2 before and the rest after, computed separately for rows and columns.")
    return problem


CONV_CASES = [((3, 3), 1, "valid"), ((3, 3), 2, "valid"), ((3, 3), 1, "same"), ((3, 3), 2, "same"),
              ((4, 2), 1, "same")]


@public_check
def check_conv2d(conv2d: Callable) -> None:
    """``conv2d(x, w, stride, padding)`` agrees with ``tf.nn.conv2d`` (NHWC input, HWIO filters) to 1e-5."""
    require_no_shortcut(conv2d, CONV_SHORTCUTS, "conv2d (by hand)")
    rng = np.random.default_rng(21)
    x = rng.normal(size=(2, 7, 8, 3))
    for kernel, stride, padding in CONV_CASES:
        w = rng.normal(size=(*kernel, 3, 4))
        x_before, w_before = x.copy(), w.copy()
        got = conv2d(x, w, stride=stride, padding=padding)
        problem = conv_problem(got, x, w, stride, padding, what=f"conv2d(x, w, stride={stride}, padding={padding!r}) "
                               f"with x of shape {x.shape} and w of shape {w.shape}")
        require(problem is None, str(problem))
        require(np.array_equal(x, x_before) and np.array_equal(w, w_before),
                "conv2d changed its input arrays; pad a copy (np.pad returns a new array)")


def pool_problem(got, x, pool_size: int, stride: int, padding: str, *, what: str) -> str | None:
    """What is wrong with ``got`` as max_pool2d(x, pool_size, stride, padding), or None (shared)."""
    tf = _tf()
    expected = tf.nn.max_pool2d(x, ksize=pool_size, strides=stride, padding=padding.upper()).numpy()
    problem = array_problem(got, expected, what=what, atol=TOLERANCE, rtol=TOLERANCE)
    if problem is None:
        return None
    if np.shape(got) != expected.shape:
        as_pool_size = tuple(_out_size(size, pool_size, pool_size, padding) for size in x.shape[1:3])
        if stride != pool_size and tuple(np.shape(got)[1:3]) == as_pool_size:
            return (f"{problem}. That is the size for stride = pool_size: max_pool2d ignores the stride argument "
                    "(it defaults to pool_size only when it is None).")
        if np.ndim(got) == 4 and np.shape(got)[0] == x.shape[0] and np.shape(got)[3] == x.shape[3]:
            return problem + "." + _shape_hint(np.shape(got), expected.shape, x.shape, pool_size, pool_size, stride,
                                               padding, "max_pool2d")
        return f"{problem}: pool each channel separately, the result is (n, out_h, out_w, channels)"
    out_h, out_w = expected.shape[1:3]

    def variant(step, pads, fill=-np.inf, reduce=np.maximum):
        windows = [patch for _, _, patch in _windows(x, pool_size, pool_size, step, pads, out_h, out_w, fill)]
        return reduce.reduce(windows) if reduce is np.maximum else np.mean(windows, axis=0)

    pads = _pads(x.shape[1], x.shape[2], pool_size, pool_size, stride, padding)
    hints = {
        "Some maxima are larger than every value in their window: pad with -np.inf, not zeros.": variant(
            stride, pads, fill=0.0),
        "That is the mean of each window (average pooling): take the maximum.": variant(stride, pads, reduce=np.mean),
        "The window moves by 1 pixel instead of the stride: output (i, j) reads input (i*stride + a, "
        "j*stride + b).": variant(1, pads),
        "The padding is split the wrong way round: p // 2 before (top, left) and the rest after.": variant(
            stride, _pads(x.shape[1], x.shape[2], pool_size, pool_size, stride, padding, swap=True)),
    }
    for hint, value in hints.items():
        if array_problem(got, value, atol=TOLERANCE, rtol=TOLERANCE) is None:
            return f"{problem}. {hint}"
    return problem


@public_check
def check_max_pool2d(max_pool2d: Callable) -> None:
    """``max_pool2d(x, pool_size, stride, padding)`` agrees with ``tf.nn.max_pool2d`` to 1e-5."""
    require_no_shortcut(max_pool2d, POOL_SHORTCUTS, "max_pool2d (by hand)")
    rng = np.random.default_rng(22)
    x = rng.normal(size=(2, 7, 9, 3)) - 1.0  # mostly negative: zero padding would show up
    x_before = x.copy()
    problem = pool_problem(max_pool2d(x), x, 2, 2, "valid", what="max_pool2d(x) with defaults (pool_size=2, "
                           f"stride=pool_size, 'valid') for x of shape {x.shape}")
    require(problem is None, str(problem))
    for pool_size, stride, padding in [(3, 1, "valid"), (2, 3, "valid"), (3, 2, "same"), (2, 1, "same")]:
        got = max_pool2d(x, pool_size=pool_size, stride=stride, padding=padding)
        problem = pool_problem(got, x, pool_size, stride, padding, what=f"max_pool2d(x, pool_size={pool_size}, "
                               f"stride={stride}, padding={padding!r}) for x of shape {x.shape}")
        require(problem is None, str(problem))
    require(np.array_equal(x, x_before), "max_pool2d changed its input array")


@public_check
def check_build_cnn(build_cnn: Callable) -> None:
    """``build_cnn()`` has the layers of the table, 225,034 parameters, and outputs probabilities."""
    import keras

    model = build_cnn()
    require(
        isinstance(model, keras.Model), f"build_cnn() must return a Keras model, not {type(model).__name__}"
    )
    layers = [type(layer).__name__ for layer in model.layers]
    require(
        layers == CNN_LAYERS,
        f"the model's layers are {layers}, expected {CNN_LAYERS} (keras.Input is not a layer of the list)",
    )
    for index in (0, 2, 6):
        activation = getattr(model.layers[index].activation, "__name__", "")
        require(
            activation == "relu",
            f"layer {index} ({layers[index]}) has activation {activation!r}, expected 'relu'",
        )
    require(
        model.count_params() == 225_034,
        f"build_cnn() has {model.count_params():,} parameters, expected 225,034: compare filter counts, "
        "kernel sizes, padding and the Dense sizes with the table",
    )
    x = np.random.default_rng(23).uniform(size=(4, 28, 28, 1)).astype(np.float32)
    probs = np.asarray(model(x, training=False))
    require(probs.shape == (4, 10), f"the output for 4 images has shape {probs.shape}, expected (4, 10)")
    require(
        np.all(probs >= 0) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5),
        "the outputs are not probabilities (non-negative, each row adding up to 1): "
        "end with Dense(num_classes, activation='softmax')",
    )
    require(
        np.allclose(np.asarray(model(x, training=False)), probs, atol=1e-6),
        "two calls with training=False gave different outputs",
    )
    other = build_cnn(input_shape=(32, 32, 3), num_classes=5, dropout=0.25)
    require(
        other.count_params() == 315_077,
        f"build_cnn(input_shape=(32, 32, 3), num_classes=5) has {other.count_params():,} parameters, "
        "expected 315,077: use input_shape and num_classes instead of fixed numbers",
    )
    rates = [float(layer.rate) for layer in other.layers if isinstance(layer, keras.layers.Dropout)]
    require(
        rates == [0.25, 0.25], f"build_cnn(dropout=0.25) has dropout rates {rates}, expected [0.25, 0.25]"
    )


# A small stand-in CNN that records the `training` argument of every call. The checks build it here
# for the expected values, and run the student's train_step on one (in the student's kernel, for the
# hidden checks) built from the same source.
PROBE_MODEL = '''
import keras
import numpy as np


class RecordingCNN(keras.Model):
    """Conv2D(tanh) + Flatten + Dense(softmax); remembers the `training` argument of each call."""

    def __init__(self, input_shape, filters, kernel_size, num_classes):
        super().__init__()
        self.body = keras.Sequential([keras.Input(shape=tuple(input_shape)),
                                      keras.layers.Conv2D(filters, kernel_size, activation="tanh"),
                                      keras.layers.Flatten(), keras.layers.Dense(num_classes, activation="softmax")])
        self.trainings = []

    def call(self, x, training=None):
        self.trainings.append(training)
        return self.body(x, training=training)


def probe_model(spec, weights):
    model = RecordingCNN(*spec)
    model.body.set_weights(weights)
    return model


def run_train_step(train_step, spec, weights, x, y, learning_rate):
    """One train_step with SGD on a RecordingCNN: (loss, weights after the step, training arguments seen)."""
    model = probe_model(spec, weights)
    loss = train_step(model, keras.optimizers.SGD(learning_rate=learning_rate), x, y)
    return (None if loss is None else np.asarray(loss), [np.asarray(v) for v in model.body.trainable_variables],
            [str(t) for t in model.trainings])
'''


def _softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of softmax(logits): what a loss with from_logits=True makes of probabilities."""
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return float(-np.mean(np.log(z[np.arange(len(y)), y] / z.sum(axis=1))))


def train_step_case(seed: int, spec: tuple):
    """Inputs (spec, weights, x, y, lr) for ``run_train_step`` and the expected values.

    spec: (input_shape, filters, kernel_size, num_classes). Expected: a dict with the mean loss, the
    weights after one SGD step, the summed loss and the loss with a second softmax (typical mistakes).
    """
    import keras

    tf = _tf()
    namespace: dict = {}
    exec(PROBE_MODEL, namespace)  # noqa: S102 (our own constant source)
    rng = np.random.default_rng(seed)
    shapes = [v.shape for v in namespace["RecordingCNN"](*spec).body.trainable_variables]
    weights = [rng.normal(scale=0.5, size=shape).astype(np.float32) for shape in shapes]
    x = rng.normal(size=(5, *spec[0])).astype(np.float32)
    y = rng.integers(0, spec[3], size=5).astype(np.int64)
    learning_rate = 0.1
    model = namespace["probe_model"](spec, weights)
    with tf.GradientTape() as tape:
        probs = model(x, training=True)
        per_example = keras.losses.sparse_categorical_crossentropy(y, probs)
        loss = tf.reduce_mean(per_example)
    grads = tape.gradient(loss, model.body.trainable_variables)
    expected = {"loss": float(loss), "weights": [w - learning_rate * g.numpy() for w, g in zip(weights, grads)],
                "sum": float(tf.reduce_sum(per_example)),
                "softmax twice": _softmax_cross_entropy(probs.numpy(), y)}
    return (list(spec), weights, x, y, learning_rate), expected


def train_step_problem(got, expected: dict, weights) -> str | None:
    """What is wrong with (loss, new weights, trainings) from ``run_train_step``, or None (shared)."""
    loss, new_weights, trainings = got
    problem = training_call_problem(trainings, loss)
    if problem:
        return problem
    if np.shape(loss) != ():
        return f"the returned loss has shape {np.shape(loss)}; return the mean over the batch (a scalar)"
    if abs(float(loss) - expected["sum"]) < 1e-4:
        return "the loss is the sum over the batch; return the mean"
    if abs(float(loss) - expected["softmax twice"]) < 1e-4:
        return ("the loss applies a second softmax (from_logits=True) to outputs that are already probabilities: "
                "use from_logits=False")
    problem = array_problem(loss, expected["loss"], what="the returned loss (mean sparse categorical "
                            "cross-entropy of the probabilities, computed before the update)",
                            atol=TOLERANCE, rtol=TOLERANCE)
    if problem:
        return problem
    if all(np.allclose(a, b) for a, b in zip(new_weights, weights)):
        return "the weights did not change: call optimizer.apply_gradients(zip(grads, model.trainable_variables))"
    for got_weight, want in zip(new_weights, expected["weights"]):
        problem = array_problem(got_weight, want, what="a weight after one SGD step", atol=TOLERANCE,
                                rtol=TOLERANCE)
        if problem:
            return (f"{problem}: take the gradients of the mean loss with respect to model.trainable_variables "
                    "and pass them to optimizer.apply_gradients")
    return None


@public_check
def check_train_step(train_step: Callable) -> None:
    """One ``train_step`` with SGD on a stand-in CNN: training=True, the mean loss, and -lr * gradient per weight."""
    namespace: dict = {}
    exec(PROBE_MODEL, namespace)  # noqa: S102 (our own constant source)
    inputs, expected = train_step_case(24, ((6, 6, 2), 3, 3, 4))
    got = namespace["run_train_step"](train_step, *inputs)
    problem = train_step_problem(got, expected, inputs[1])
    require(problem is None, str(problem))


@public_check
def check_confusion_matrix(confusion_matrix: Callable) -> None:
    """``confusion_matrix(y_true, y_pred, num_classes)`` counts true class i predicted as j in C[i, j]."""
    require_no_shortcut(confusion_matrix, CONFUSION_SHORTCUTS, "confusion_matrix")
    y_true = np.array([0, 1, 2, 2, 1, 0, 2, 1])
    y_pred = np.array([0, 2, 2, 1, 1, 0, 0, 2])
    expected = np.zeros((4, 4), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        expected[t, p] += 1
    got = np.asarray(confusion_matrix(y_true, y_pred, 4))
    require(
        got.shape == (4, 4),
        f"with num_classes=4 the matrix has shape {got.shape}, expected (4, 4) "
        "(class 3 never occurs, but it still gets a row and a column)",
    )
    require(
        np.issubdtype(got.dtype, np.integer), f"the matrix has dtype {got.dtype}; counts should be integers"
    )
    problem = confusion_problem(got, expected)
    require(problem is None, str(problem))


def confusion_problem(got, expected) -> str | None:
    """What is wrong with the counts ``got``, or None (shared with the hidden check)."""
    if np.array_equal(got, expected):
        return None
    if np.array_equal(got, expected.T):
        return "the matrix is transposed: rows are the true classes, columns the predictions"
    if np.array_equal(got, np.minimum(expected, 1)):
        return ("pairs that occur several times are counted once: C[y_true, y_pred] += 1 does not add up "
                "repeated index pairs; use np.add.at or a loop")
    return array_problem(got, expected, what="the confusion matrix", atol=0, rtol=0) or "wrong counts"


@public_check
def check_shuffle_labels(shuffle_labels: Callable) -> None:
    """``shuffle_labels(labels, seed)`` returns a new, reproducible random permutation of the labels."""
    labels = np.repeat(np.arange(10), 30)
    before = labels.copy()
    out = np.asarray(shuffle_labels(labels, seed=0))
    require(np.array_equal(labels, before), "shuffle_labels changed its input; return a shuffled copy")
    require(out.shape == labels.shape, f"the result has shape {out.shape}, expected {labels.shape}")
    require(
        np.array_equal(np.sort(out), np.sort(labels)),
        "the result is not a permutation of the labels: the count of each class must stay the same",
    )
    unchanged = float(np.mean(out == labels))
    require(
        unchanged < 0.3,
        f"{unchanged:.0%} of the labels kept their place; a random permutation of 10 "
        "balanced classes keeps about 10%",
    )
    require(
        np.array_equal(np.asarray(shuffle_labels(labels, seed=0)), out),
        "two calls with the same seed gave different results; use np.random.default_rng(seed)",
    )
    require(
        not np.array_equal(np.asarray(shuffle_labels(labels, seed=1)), out),
        "seeds 0 and 1 gave the same result; the permutation should depend on the seed",
    )
