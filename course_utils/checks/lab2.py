"""Public checks of Lab 2 (convolutional networks, and what a network can memorise).

Each check runs the student's function on small fixed inputs and compares it with
TensorFlow or NumPy computed here (``tf.nn.conv2d``, ``tf.nn.max_pool2d``, a
``tf.GradientTape`` step...), within the tolerance it states. TensorFlow is imported
inside the checks so that importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course_utils.checks import array_problem, public_check, require, require_close

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


@public_check
def check_prepare_images(prepare_images: Callable) -> None:
    """``prepare_images(images)`` scales uint8 images to float32 in [0, 1] and adds a channel axis."""
    rng = np.random.default_rng(20)
    images = rng.integers(0, 256, size=(3, 5, 4), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    before = images.copy()
    out = prepare_images(images)
    require(isinstance(out, np.ndarray), f"return a NumPy array, not {type(out).__name__}")
    require(
        out.shape == (3, 5, 4, 1),
        f"for images of shape (3, 5, 4) the result has shape {out.shape}, expected (3, 5, 4, 1): "
        "add one channel axis at the end",
    )
    require(out.dtype == np.float32, f"the result has dtype {out.dtype}, expected float32")
    require(np.array_equal(images, before), "prepare_images changed its input; return a new array instead")
    require_close(out, images[..., None] / 255.0, what="prepare_images(images)", atol=1e-6, rtol=0)


def _conv_hint(x, w, stride, padding, got) -> str:
    """A guess at a common mistake, or an empty string."""
    tf = _tf()
    flipped = tf.nn.conv2d(x, w[::-1, ::-1], strides=stride, padding=padding.upper()).numpy()
    if array_problem(got, flipped) is None:
        return " It matches the result with the filter flipped: deep-learning convolution does not flip it."
    if padding == "same":
        return (
            " Check the padding: p = max((out - 1) * stride + k - size, 0) zeros in total, "
            "p // 2 before and the rest after, computed separately for rows and columns."
        )
    return ""


@public_check
def check_conv2d(conv2d: Callable) -> None:
    """``conv2d(x, w, stride, padding)`` agrees with ``tf.nn.conv2d`` (NHWC input, HWIO filters) to 1e-5."""
    tf = _tf()
    rng = np.random.default_rng(21)
    x = rng.normal(size=(2, 7, 8, 3))
    w = rng.normal(size=(3, 3, 3, 4))
    x_before, w_before = x.copy(), w.copy()
    for stride, padding in [(1, "valid"), (2, "same")]:
        expected = tf.nn.conv2d(x, w, strides=stride, padding=padding.upper()).numpy()
        got = conv2d(x, w, stride=stride, padding=padding)
        problem = array_problem(
            got,
            expected,
            what=f"conv2d(x, w, stride={stride}, padding={padding!r}) "
            f"with x of shape {x.shape} and w of shape {w.shape}",
            atol=TOLERANCE,
            rtol=TOLERANCE,
        )
        require(problem is None, f"{problem}.{_conv_hint(x, w, stride, padding, got) if problem else ''}")
        require(
            np.array_equal(x, x_before) and np.array_equal(w, w_before),
            "conv2d changed its input arrays; pad a copy (np.pad returns a new array)",
        )


@public_check
def check_max_pool2d(max_pool2d: Callable) -> None:
    """``max_pool2d(x, pool_size, stride, padding)`` agrees with ``tf.nn.max_pool2d`` to 1e-5."""
    tf = _tf()
    rng = np.random.default_rng(22)
    x = rng.normal(size=(2, 7, 9, 3)) - 1.0  # mostly negative: zero padding would show up
    x_before = x.copy()
    expected = tf.nn.max_pool2d(x, ksize=2, strides=2, padding="VALID").numpy()
    require_close(
        max_pool2d(x),
        expected,
        what=f"max_pool2d(x) with defaults (pool_size=2, stride=pool_size, 'valid') for x of shape {x.shape}",
        atol=TOLERANCE,
        rtol=TOLERANCE,
    )
    for pool_size, stride, padding in [(3, 1, "valid"), (3, 2, "same")]:
        expected = tf.nn.max_pool2d(x, ksize=pool_size, strides=stride, padding=padding.upper()).numpy()
        got = max_pool2d(x, pool_size=pool_size, stride=stride, padding=padding)
        problem = array_problem(
            got,
            expected,
            what=f"max_pool2d(x, pool_size={pool_size}, stride={stride}, "
            f"padding={padding!r}) for x of shape {x.shape}",
            atol=TOLERANCE,
            rtol=TOLERANCE,
        )
        if (
            problem
            and padding == "same"
            and np.shape(got) == expected.shape
            and np.any(np.asarray(got, dtype=float) > expected + TOLERANCE)
        ):
            problem += (
                ". Some maxima are larger than every value in their window: pad with -np.inf, not zeros"
            )
        require(problem is None, str(problem))
    require(np.array_equal(x, x_before), "max_pool2d changed its input array")


@public_check
def check_build_cnn(build_cnn: Callable) -> None:
    """``build_cnn()`` has the layers listed in the TODO, 225,034 parameters, and outputs probabilities."""
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
        "kernel sizes and the Dense sizes with the TODO",
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


@public_check
def check_train_step(train_step: Callable) -> None:
    """One ``train_step`` with SGD returns the mean cross-entropy and moves each weight by -lr * gradient."""
    import keras

    tf = _tf()
    rng = np.random.default_rng(24)

    def tiny_model():
        return keras.Sequential(
            [
                keras.Input(shape=(6, 6, 2)),
                keras.layers.Conv2D(3, 3, activation="relu"),
                keras.layers.Flatten(),
                keras.layers.Dense(4, activation="softmax"),
            ]
        )

    reference = tiny_model()
    weights = [rng.normal(scale=0.5, size=v.shape).astype(np.float32) for v in reference.trainable_variables]
    reference.set_weights(weights)
    x = rng.normal(size=(5, 6, 6, 2)).astype(np.float32)
    y = np.array([0, 3, 1, 1, 2], dtype=np.int64)
    learning_rate = 0.1
    with tf.GradientTape() as tape:
        probs = reference(x, training=True)
        per_example = keras.losses.sparse_categorical_crossentropy(y, probs)
        expected_loss = tf.reduce_mean(per_example)
    grads = tape.gradient(expected_loss, reference.trainable_variables)
    expected_weights = [w - learning_rate * g.numpy() for w, g in zip(weights, grads, strict=True)]

    model = tiny_model()
    model.set_weights(weights)
    loss = train_step(
        model, keras.optimizers.SGD(learning_rate=learning_rate), tf.constant(x), tf.constant(y)
    )
    require(loss is not None, "train_step returned None; return the batch loss")
    loss = np.asarray(loss)
    require(
        loss.shape == (),
        f"the returned loss has shape {loss.shape}; return the mean over the batch (a scalar)",
    )
    if abs(float(loss) - float(tf.reduce_sum(per_example))) < 1e-4:
        require(False, "the loss is the sum over the batch; return the mean")
    require_close(
        loss,
        float(expected_loss),
        what="the returned loss (mean sparse categorical cross-entropy, computed before the update)",
        atol=TOLERANCE,
        rtol=TOLERANCE,
    )
    new_weights = [v.numpy() for v in model.trainable_variables]
    require(
        any(not np.allclose(a, b) for a, b in zip(new_weights, weights, strict=True)),
        "the weights did not change: call optimizer.apply_gradients(zip(grads, model.trainable_variables))",
    )
    for variable, got, expected in zip(model.trainable_variables, new_weights, expected_weights, strict=True):
        require_close(
            got,
            expected,
            what=f"weight {variable.path} after one SGD step (lr={learning_rate})",
            atol=TOLERANCE,
            rtol=TOLERANCE,
        )


@public_check
def check_confusion_matrix(confusion_matrix: Callable) -> None:
    """``confusion_matrix(y_true, y_pred, num_classes)`` counts true class i predicted as j in C[i, j]."""
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
    if not np.array_equal(got, expected) and np.array_equal(got, expected.T):
        require(False, "the matrix is transposed: rows are the true classes, columns the predictions")
    require_close(got, expected, what="confusion_matrix(y_true, y_pred, 4)", atol=0, rtol=0)


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
