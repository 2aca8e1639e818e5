"""Hidden checks of Lab 2 (convolutional networks, and what a network can memorise).

Reference values are computed here, in the trusted process, with TensorFlow and NumPy,
on inputs (shapes, strides, paddings, seeds) that the public checks do not use.
"""

from __future__ import annotations

import numpy as np

from course_utils.checks.lab2 import CNN_LAYERS, TOLERANCE
from grader.harness import expect, expect_close, points


def _tf():
    import tensorflow as tf

    return tf


def _reference_cnn(input_shape, num_classes, dropout):
    import keras

    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(num_classes, activation="softmax"),
        ]
    )


# ---------------------------------------------------------------- prepare_images


@points(1, question="prepare_images")
def test_prepare_images_other_shape(student):
    images = np.random.default_rng(120).integers(0, 256, size=(4, 11, 13), dtype=np.uint8)
    got = student.call("prepare_images", images)
    expect(
        isinstance(got, np.ndarray) and got.shape == (4, 11, 13, 1),
        "prepare_images does not return an array of shape (n, height, width, 1) for non-square images",
    )
    expect(got.dtype == np.float32, "prepare_images does not return float32 values")
    expect_close(got, images[..., None] / 255.0, what="prepare_images(images)", atol=1e-6, rtol=0)


# ---------------------------------------------------------------- conv2d


def _expect_conv(student, x, w, cases, label):
    tf = _tf()
    for stride, padding in cases:
        expected = tf.nn.conv2d(x, w, strides=stride, padding=padding.upper()).numpy()
        got = student.call("conv2d", x, w, stride=stride, padding=padding)
        expect_close(
            got,
            expected,
            what=f"conv2d with {label}, stride {stride}, padding '{padding}'",
            atol=TOLERANCE,
            rtol=TOLERANCE,
        )


@points(1, question="conv2d")
def test_conv2d_valid_strides(student):
    rng = np.random.default_rng(121)
    x = rng.normal(size=(3, 10, 9, 2))
    _expect_conv(
        student, x, rng.normal(size=(2, 4, 2, 5)), [(1, "valid"), (3, "valid")], "a non-square filter"
    )
    _expect_conv(student, x, rng.normal(size=(1, 1, 2, 3)), [(2, "valid")], "a 1x1 filter")


@points(1, question="conv2d")
def test_conv2d_same_odd_filters(student):
    rng = np.random.default_rng(122)
    x = rng.normal(size=(2, 8, 11, 3))
    _expect_conv(
        student,
        x,
        rng.normal(size=(5, 3, 3, 2)),
        [(1, "same"), (2, "same"), (3, "same")],
        "an odd-sized filter",
    )


@points(1, question="conv2d")
def test_conv2d_same_even_filters(student):
    rng = np.random.default_rng(123)
    x = rng.normal(size=(1, 9, 7, 4))
    _expect_conv(
        student,
        x,
        rng.normal(size=(4, 2, 4, 3)),
        [(1, "same"), (2, "same"), (3, "same")],
        "an even-sized filter (uneven padding)",
    )


# ---------------------------------------------------------------- max_pool2d


def _expect_pool(student, x, cases):
    tf = _tf()
    for pool_size, stride, padding in cases:
        expected = tf.nn.max_pool2d(x, ksize=pool_size, strides=stride, padding=padding.upper()).numpy()
        got = student.call("max_pool2d", x, pool_size=pool_size, stride=stride, padding=padding)
        expect_close(
            got,
            expected,
            what=f"max_pool2d with pool_size {pool_size}, stride {stride}, padding '{padding}'",
            atol=TOLERANCE,
            rtol=TOLERANCE,
        )


@points(1, question="max_pool2d")
def test_max_pool_valid(student):
    tf = _tf()
    x = np.random.default_rng(124).normal(size=(2, 9, 10, 3))
    _expect_pool(student, x, [(2, 2, "valid"), (3, 1, "valid"), (3, 2, "valid")])
    expected = tf.nn.max_pool2d(x, ksize=3, strides=3, padding="VALID").numpy()
    expect_close(
        student.call("max_pool2d", x, 3),
        expected,
        what="max_pool2d(x, 3) (stride defaults to pool_size)",
        atol=TOLERANCE,
        rtol=TOLERANCE,
    )


@points(1, question="max_pool2d")
def test_max_pool_same(student):
    x = np.random.default_rng(125).normal(size=(2, 7, 11, 2)) - 2.0
    _expect_pool(student, x, [(2, 2, "same"), (3, 2, "same"), (2, 3, "same"), (4, 1, "same")])


# ---------------------------------------------------------------- build_cnn


@points(1, question="build_cnn")
def test_build_cnn_structure(student):
    layers = student.call("lambda: [type(layer).__name__ for layer in build_cnn().layers]")
    expect(
        list(layers) == CNN_LAYERS, "build_cnn() does not have the layers listed in the TODO, in that order"
    )
    for shape, classes in [((28, 28, 1), 10), ((20, 24, 2), 7)]:
        got = student.call(
            "lambda shape, classes: build_cnn(input_shape=tuple(shape), num_classes=classes).count_params()",
            list(shape),
            classes,
        )
        expected = _reference_cnn(shape, classes, 0.5).count_params()
        expect(
            int(got) == expected,
            "build_cnn has the wrong number of parameters for some input shape or number of classes",
        )
    rates = student.call(
        "lambda: [float(layer.rate) for layer in build_cnn(dropout=0.3).layers if hasattr(layer, 'rate')]"
    )
    expect(list(rates) == [0.3, 0.3], "build_cnn(dropout=...) does not set both dropout rates")


@points(1, question="build_cnn")
def test_build_cnn_outputs_probabilities(student):
    x = np.random.default_rng(126).uniform(size=(6, 20, 24, 2)).astype(np.float32)
    first, second = student.call(
        "lambda x: (lambda model: (model(x, training=False), model(x, training=False)))"
        "(build_cnn(input_shape=(20, 24, 2), num_classes=7, dropout=0.3))",
        x,
    )
    expect(np.shape(first) == (6, 7), "build_cnn's output does not have shape (batch, num_classes)")
    expect(
        np.all(first >= 0) and np.allclose(np.sum(first, axis=1), 1.0, atol=1e-5),
        "build_cnn's outputs are not probabilities (softmax)",
    )
    expect(
        np.allclose(first, second, atol=1e-6), "build_cnn's model is not deterministic with training=False"
    )


# ---------------------------------------------------------------- train_step

# Runs in the student's kernel: a fixed small model with the given weights, one train_step with
# SGD, then the returned loss and the weights after the step.
_TRAIN_PROBE = (
    "lambda weights, x, y, lr: (lambda keras: (lambda model, optimizer: ("
    "model.set_weights(weights), train_step(model, optimizer, x, y), "
    "[v.numpy() for v in model.trainable_variables])[1:])("
    "keras.Sequential([keras.Input(shape=(7, 5, 3)), keras.layers.Conv2D(2, 2, activation='tanh'), "
    "keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(3, activation='softmax')]), "
    "keras.optimizers.SGD(learning_rate=lr)))(__import__('keras'))"
)


def _train_probe_case():
    import keras

    tf = _tf()
    rng = np.random.default_rng(127)
    model = keras.Sequential(
        [
            keras.Input(shape=(7, 5, 3)),
            keras.layers.Conv2D(2, 2, activation="tanh"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    weights = [rng.normal(scale=0.6, size=v.shape).astype(np.float32) for v in model.trainable_variables]
    model.set_weights(weights)
    x = rng.normal(size=(7, 7, 5, 3)).astype(np.float32)
    y = rng.integers(0, 3, size=7).astype(np.int64)
    learning_rate = 0.05
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x, training=True)))
    grads = tape.gradient(loss, model.trainable_variables)
    expected = [w - learning_rate * g.numpy() for w, g in zip(weights, grads, strict=True)]
    return weights, x, y, learning_rate, float(loss), expected


@points(1, question="train_step")
def test_train_step_returns_mean_loss(student):
    weights, x, y, learning_rate, expected_loss, _ = _train_probe_case()
    loss, _ = student.call(_TRAIN_PROBE, weights, x, y, learning_rate)
    expect(loss is not None and np.shape(loss) == (), "train_step does not return the batch loss as a scalar")
    expect_close(loss, expected_loss, what="the loss returned by train_step", atol=TOLERANCE, rtol=TOLERANCE)


@points(1, question="train_step")
def test_train_step_applies_gradients(student):
    weights, x, y, learning_rate, _, expected = _train_probe_case()
    _, new_weights = student.call(_TRAIN_PROBE, weights, x, y, learning_rate)
    expect(len(new_weights) == len(expected), "train_step changed the model's variables")
    for got, want in zip(new_weights, expected, strict=True):
        expect_close(
            got, want, what="the weights after one train_step with SGD", atol=TOLERANCE, rtol=TOLERANCE
        )


@points(1, question="train_step")
def test_trained_cnn_beats_chance(student):
    from course_utils.datasets import load_mnist

    _, (x_test, y_test) = load_mnist()
    # Test digits the notebook's smoke run does not touch.
    x = (x_test[5000:6000].astype(np.float32) / 255.0)[..., None]
    probs = student.call("lambda x: cnn(x, training=False)", x, _timeout=120)
    expect(
        np.shape(probs) == (1000, 10), "`cnn` (trained with your train_step) does not give (n, 10) outputs"
    )
    accuracy = float(np.mean(np.argmax(probs, axis=1) == y_test[5000:6000]))
    expect(
        accuracy >= 0.5,
        f"`cnn`, trained with your train_step, reaches only {accuracy:.0%} accuracy on "
        "held-out test digits; a correct step gets well above 50% even in the short smoke run",
    )


# ---------------------------------------------------------------- confusion_matrix


@points(1, question="confusion_matrix")
def test_confusion_matrix_other_classes(student):
    rng = np.random.default_rng(128)
    y_true = rng.integers(0, 6, size=200)  # class 6 never occurs
    y_pred = np.where(rng.uniform(size=200) < 0.6, y_true, rng.integers(0, 7, size=200))
    expected = np.zeros((7, 7), dtype=np.int64)
    np.add.at(expected, (y_true, y_pred), 1)
    got = student.call("confusion_matrix", y_true, y_pred, 7)
    expect(np.shape(got) == (7, 7), "confusion_matrix does not have shape (num_classes, num_classes)")
    expect(
        np.issubdtype(np.asarray(got).dtype, np.integer), "confusion_matrix does not return integer counts"
    )
    expect(
        np.array_equal(got, expected),
        "confusion_matrix gives wrong counts (rows: true class, columns: predicted class)",
    )


# ---------------------------------------------------------------- shuffle_labels


@points(1, question="shuffle_labels")
def test_shuffle_labels_permutation(student):
    labels = np.random.default_rng(129).integers(0, 5, size=500)
    shuffled, after = student.call("lambda y: (lambda y0: (shuffle_labels(y0, 7), y0))(y.copy())", labels)
    expect(np.array_equal(after, labels), "shuffle_labels modifies its input")
    expect(
        np.shape(shuffled) == labels.shape and np.array_equal(np.sort(shuffled), np.sort(labels)),
        "shuffle_labels does not return a permutation of its input",
    )
    expect(np.mean(shuffled == labels) < 0.4, "shuffle_labels leaves too many labels in place")
    again = student.call("shuffle_labels", labels, 7)
    other = student.call("shuffle_labels", labels, 8)
    expect(np.array_equal(again, shuffled), "shuffle_labels is not reproducible for a given seed")
    expect(not np.array_equal(other, shuffled), "shuffle_labels gives the same result for different seeds")
