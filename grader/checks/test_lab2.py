"""Hidden checks of Lab 2 (convolutional networks, and what a network can memorise).

Reference values are computed here, in the trusted process, with TensorFlow and NumPy,
on inputs (shapes, strides, paddings, seeds) that the public checks do not use.
"""

from __future__ import annotations

import numpy as np

from course_utils.checks import lab2 as public
from course_utils.checks.lab2 import CNN_LAYERS
from grader.harness import expect, expect_no_problem, expect_no_shortcut, points


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
    got, after = student.call("lambda x: (prepare_images(x), x)", images)
    expect_no_problem(public.prepare_problem(got, images))
    expect(np.array_equal(after, images), "prepare_images changed its input; return a new array")


# ---------------------------------------------------------------- conv2d


def _expect_conv(student, answers, x, w, cases, label):
    expect_no_shortcut(answers, "conv2d_impl", public.CONV_SHORTCUTS, "conv2d (by hand)")
    for stride, padding in cases:
        got = student.call("conv2d", x, w, stride=stride, padding=padding)
        expect_no_problem(public.conv_problem(got, x, w, stride, padding,
                                    what=f"conv2d with {label}, stride {stride}, padding '{padding}'"))


@points(1, question="conv2d")
def test_conv2d_valid_strides(student, answers):
    rng = np.random.default_rng(121)
    x = rng.normal(size=(3, 10, 9, 2))
    _expect_conv(student, answers, x, rng.normal(size=(2, 4, 2, 5)), [(1, "valid"), (3, "valid")],
                 "a non-square filter")
    _expect_conv(student, answers, x, rng.normal(size=(1, 1, 2, 3)), [(2, "valid")], "a 1x1 filter")


@points(1, question="conv2d")
def test_conv2d_same_odd_filters(student, answers):
    rng = np.random.default_rng(122)
    x = rng.normal(size=(2, 8, 11, 3))
    _expect_conv(student, answers, x, rng.normal(size=(5, 3, 3, 2)), [(1, "same"), (2, "same"), (3, "same")],
                 "an odd-sized filter")


@points(1, question="conv2d")
def test_conv2d_same_even_filters(student, answers):
    rng = np.random.default_rng(123)
    x = rng.normal(size=(1, 9, 7, 4))
    _expect_conv(student, answers, x, rng.normal(size=(4, 2, 4, 3)), [(1, "same"), (2, "same"), (3, "same")],
                 "an even-sized filter (uneven padding)")


# ---------------------------------------------------------------- max_pool2d


def _expect_pool(student, answers, x, cases):
    expect_no_shortcut(answers, "max_pool2d_impl", public.POOL_SHORTCUTS, "max_pool2d (by hand)")
    for pool_size, stride, padding in cases:
        got = student.call("max_pool2d", x, pool_size=pool_size, stride=stride, padding=padding)
        expect_no_problem(public.pool_problem(got, x, pool_size, stride, padding,
                                             what=f"max_pool2d with pool_size {pool_size}, stride {stride}, "
                                                  f"padding '{padding}'"))


@points(1, question="max_pool2d")
def test_max_pool_valid(student, answers):
    x = np.random.default_rng(124).normal(size=(2, 9, 10, 3))
    _expect_pool(student, answers, x, [(2, 2, "valid"), (3, 1, "valid"), (3, 2, "valid")])
    expect_no_problem(public.pool_problem(student.call("max_pool2d", x, 3), x, 3, 3, "valid",
                                what="max_pool2d(x, 3) (stride defaults to pool_size)"))


@points(1, question="max_pool2d")
def test_max_pool_same(student, answers):
    x = np.random.default_rng(125).normal(size=(2, 7, 11, 2)) - 2.0
    _expect_pool(student, answers, x, [(2, 2, "same"), (3, 2, "same"), (2, 3, "same"), (4, 1, "same")])


# ---------------------------------------------------------------- build_cnn


@points(1, question="build_cnn")
def test_build_cnn_structure(student):
    layers = student.call("lambda: [type(layer).__name__ for layer in build_cnn().layers]")
    expect(
        list(layers) == CNN_LAYERS, "build_cnn() does not have the layers of the table, in that order"
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
            "build_cnn has the wrong number of parameters for some input shape or number of classes: "
            "use input_shape and num_classes, not fixed numbers",
        )
    activations = student.call(
        "lambda: [getattr(getattr(layer, 'activation', None), '__name__', '') for layer in build_cnn().layers]"
    )
    expect(
        [activations[i] for i in (0, 2, 6)] == ["relu"] * 3,
        "build_cnn: both convolutions and the hidden Dense layer need the ReLU activation",
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

# The student's train_step runs on a stand-in CNN built in their kernel from the public module's source.
_TRAIN_PROBE = (f"lambda *a: (lambda ns: (exec({public.PROBE_MODEL!r}, ns), ns['run_train_step'](train_step, *a))[1])"
                "({})")


def _train_step(student, seed, spec):
    inputs, expected = public.train_step_case(seed, spec)
    return public.train_step_problem(student.call(_TRAIN_PROBE, *inputs), expected, inputs[1])


@points(1, question="train_step")
def test_train_step_returns_mean_loss(student):
    expect_no_problem(_train_step(student, 127, ((7, 5, 3), 2, 2, 3)))


@points(1, question="train_step")
def test_train_step_applies_gradients(student):
    expect_no_problem(_train_step(student, 128, ((5, 6, 1), 4, 3, 5)))


@points(1, question="train_step")
def test_train_step_other_batch(student):
    expect_no_problem(_train_step(student, 129, ((6, 6, 2), 3, 2, 2)))


# ---------------------------------------------------------------- confusion_matrix


@points(1, question="confusion_matrix")
def test_confusion_matrix_other_classes(student, answers):
    expect_no_shortcut(answers, "confusion_matrix_impl", public.CONFUSION_SHORTCUTS, "confusion_matrix")
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
    expect_no_problem(public.confusion_problem(np.asarray(got), expected))


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
