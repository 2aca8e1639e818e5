"""Hidden checks of Lab 2 (convolutional networks, and what a network can memorise).

Reference values are computed here, in the trusted process, with TensorFlow and NumPy,
on inputs (shapes, strides, paddings, seeds) that the public checks do not use.
"""

from __future__ import annotations

import inspect

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from course_utils.checks import lab2 as public
from course_utils.checks.lab2 import CNN_LAYERS
from grader.harness import (
    expect,
    expect_no_problem,
    expect_no_shortcut,
    expect_not_called,
    generated,
    points,
)


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
def test_prepare_images_other_shapes(student):
    rng = np.random.default_rng(120)
    batches = [rng.integers(0, 256, size=shape, dtype=np.uint8) for shape in [(4, 11, 13), (1, 1, 1), (2, 28, 28)]]
    batches[1][:] = 255
    batches[2][0] = 0
    for images, (got, after) in zip(batches, student.call("lambda xs: [(prepare_images(x), x) for x in xs]", batches),
                                    strict=True):
        expect_no_problem(public.prepare_problem(got, images))
        expect(np.array_equal(after, images), "prepare_images changed its input; return a new array")


# ---------------------------------------------------------------- conv2d


def _expect_conv(student, answers, x, w, cases, label):
    expect_no_shortcut(answers, "conv2d_impl", public.CONV_SHORTCUTS, "conv2d (by hand)")
    for stride, padding in cases:
        got = expect_not_called(student, "lambda x, w, s, p: conv2d(x, w, stride=s, padding=p)", x, w, stride,
                                padding, forbidden=public.CONV_CALLS, exercise="conv2d (by hand)")
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
def test_conv2d_same_padding(student, answers):
    rng = np.random.default_rng(122)
    _expect_conv(student, answers, rng.normal(size=(2, 8, 11, 3)), rng.normal(size=(5, 3, 3, 2)),
                 [(1, "same"), (2, "same"), (3, "same")], "an odd-sized filter")
    _expect_conv(student, answers, rng.normal(size=(1, 9, 7, 4)), rng.normal(size=(4, 2, 4, 3)),
                 [(1, "same"), (2, "same"), (3, "same")], "an even-sized filter (uneven padding)")


@st.composite
def _conv_cases(draw, pool: bool = False):
    """(x, w or pool_size, stride, padding) cases: batch 1, one-pixel images, windows larger than the image
    ('same'), strides above the size, float32 inputs and magnitudes from 2**-60 to 2**60 (exact scalings)."""
    seed, cases = draw(st.integers(0, 2**16)), []
    rng = np.random.default_rng(seed)
    for _ in range(draw(st.integers(1, 4))):
        n, height, width, channels = (draw(st.integers(1, top)) for top in (3, 9, 9, 3))
        padding = draw(st.sampled_from(["valid", "same"]))
        limit = (min(height, width) if padding == "valid" else 6)
        k_h, k_w = draw(st.integers(1, min(limit, 5))), draw(st.integers(1, min(limit, 5)))
        stride = draw(st.integers(1, 4))
        scale = 2.0 ** draw(st.sampled_from([0, -60, 60, 7]))
        dtype = draw(st.sampled_from([np.float64, np.float32]))
        x = (rng.normal(size=(n, height, width, channels)) * scale).astype(dtype)
        if pool:
            x[rng.random(x.shape) < 0.3] = -scale   # ties inside windows
            cases.append((x, k_h, stride, padding))
        else:
            cases.append((x, rng.normal(size=(k_h, k_w, channels, draw(st.integers(1, 3)))).astype(dtype), stride,
                          padding))
    return cases


# Kernel-side: a value and the top-level package of its type ("numpy", "tensorflow", "builtins"...).
_WITH_TYPE = "(lambda y: (y, type(y).__module__.split('.')[0]))"


def _unscaled(got, x):
    """``got`` divided by the power of two that scaled ``x`` (exact), so one tolerance fits every magnitude."""
    scale = 2.0 ** np.round(np.log2(np.max(np.abs(x)) + 1e-300))
    return np.asarray(got, dtype=np.float64) / scale, x.astype(np.float64) / scale


@points(1, question="conv2d")
@generated(max_examples=8)
@given(cases=_conv_cases())
def test_conv2d_generated(student, cases):
    outputs = student.call(f"lambda cases: [{_WITH_TYPE}(conv2d(x, w, stride=s, padding=p)) for x, w, s, p in cases]",
                           cases)
    for (x, w, stride, padding), (got, module) in zip(cases, outputs, strict=True):
        expect(module == "numpy", f"conv2d returned a {module} value: return a NumPy array (NumPy only)")
        expect(np.issubdtype(got.dtype, np.floating), f"conv2d returned dtype {got.dtype}: compute in floating point")
        tolerance = 1e-5 if x.dtype == w.dtype == np.float64 else 1e-3
        got, x = _unscaled(got, x)
        expect_no_problem(public.conv_problem(got, x, w.astype(np.float64), stride, padding, tolerance=tolerance,
                                              what=f"conv2d with stride {stride}, padding '{padding}' "
                                                   f"on generated inputs"))


# ---------------------------------------------------------------- max_pool2d


def _expect_pool(student, answers, x, cases):
    expect_no_shortcut(answers, "max_pool2d_impl", public.POOL_SHORTCUTS, "max_pool2d (by hand)")
    for pool_size, stride, padding in cases:
        got = expect_not_called(student, "lambda x, k, s, p: max_pool2d(x, pool_size=k, stride=s, padding=p)", x,
                                pool_size, stride, padding, forbidden=public.POOL_CALLS,
                                exercise="max_pool2d (by hand)")
        expect_no_problem(public.pool_problem(got, x, pool_size, stride, padding,
                                             what=f"max_pool2d with pool_size {pool_size}, stride {stride}, "
                                                  f"padding '{padding}'"))


@points(1, question="max_pool2d")
def test_max_pool_valid(student, answers):
    x = np.random.default_rng(124).normal(size=(2, 9, 10, 3))
    _expect_pool(student, answers, x, [(2, 2, "valid"), (3, 1, "valid"), (3, 2, "valid")])
    expect_no_problem(public.pool_problem(student.call("max_pool2d", x, 3), x, 3, 3, "valid",
                                what="max_pool2d(x, 3) (stride defaults to pool_size)"))


@points(0.5, question="max_pool2d")
def test_max_pool_same(student, answers):
    x = np.random.default_rng(125).normal(size=(2, 7, 11, 2)) - 2.0
    _expect_pool(student, answers, x, [(2, 2, "same"), (3, 2, "same"), (2, 3, "same"), (4, 1, "same")])


@points(0.5, question="max_pool2d")
@generated(max_examples=8)
@given(cases=_conv_cases(pool=True))
def test_max_pool_generated(student, cases):
    outputs = student.call(f"lambda cases: [{_WITH_TYPE}(max_pool2d(x, k, stride=s, padding=p)) "
                           "for x, k, s, p in cases]", cases)
    for (x, pool_size, stride, padding), (got, module) in zip(cases, outputs, strict=True):
        expect(module == "numpy", f"max_pool2d returned a {module} value: return a NumPy array (NumPy only)")
        got, x = _unscaled(got, x)
        expect_no_problem(public.pool_problem(got, x, pool_size, stride, padding,
                                              what=f"max_pool2d with pool_size {pool_size}, stride {stride}, "
                                                   f"padding '{padding}' on generated inputs"))


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
    for shape, classes, dropout in [((28, 28, 1), 10, 0.5), ((20, 24, 2), 7, 0.3)]:
        described = student.call(f"lambda *a: (lambda ns: (exec({public.CNN_PROBE!r}, ns), ns['describe_cnn']("
                                 "build_cnn(input_shape=tuple(a[0]), num_classes=a[1], dropout=a[2])))[1])({})",
                                 list(shape), classes, dropout)
        expect_no_problem(public.cnn_config_problem(described, public.cnn_table(shape, classes, dropout),
                                                    show_values=False))


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


# ---------------------------------------------------------------- receptive_field


def _plain(value):
    """A kernel reply as Python data: 0-d arrays (NumPy scalars on the student's side) become their items."""
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value


def _expect_receptive(cases, outputs, what):
    for (kernel_sizes, strides), got in zip(cases, outputs, strict=True):
        problem = public.receptive_field_problem(_plain(got), kernel_sizes, strides)
        # Keep the layer count, drop the sizes: they would tell the hidden stack.
        expect_no_problem(problem and f"{what}: " + problem.split(" is ")[0] + " is wrong"
                          + (": " + problem.split(": ", 1)[1] if ": " in problem else ""))


@points(1, question="receptive_field")
@generated(max_examples=10)
@given(st.lists(st.lists(st.tuples(st.integers(1, 9), st.integers(1, 4)), max_size=9), min_size=1, max_size=6))
def test_receptive_field_generated(student, stacks):
    """Stacks of zero to nine layers, windows 1-9 (1 x 1 convolutions too), strides 1-4."""
    cases = [([k for k, _ in stack], [s for _, s in stack]) for stack in stacks]
    outputs = student.call("lambda cases: [receptive_field(k, s) for k, s in cases]", cases)
    _expect_receptive(cases, outputs, "receptive_field on a generated stack")


@points(1, question="receptive_field")
def test_receptive_field_contract(student):
    """Tuples, lists and NumPy ints (as read from a model) in; two ints out; the inputs left unchanged."""
    cases = [([3, 2, 3, 2], [1, 2, 1, 2]), ((7, 3, 3, 3), (2, 2, 1, 1)), ([11], [4]), ([], [])]
    got, after = student.call("lambda cases: (lambda copies: ([receptive_field(k, s) for k, s in copies], copies))("
                              "[(list(k), list(s)) for k, s in cases])", cases)
    expect(all(list(a) == list(k) and list(b) == list(s) for (a, b), (k, s) in zip(after, cases, strict=True)),
           "receptive_field changed the lists it was given")
    _expect_receptive(cases, got, "receptive_field on lists")
    types = student.call("lambda: [type(v).__name__ for v in receptive_field((3, 2), (1, 2))]")
    expect(all(name in ("int", "int64", "int32") for name in types),
           f"receptive_field returned {', '.join(types)}: return two ints")
    from_numpy = student.call("lambda k, s: receptive_field(list(k), list(s))", np.array([5, 3, 2]),
                              np.array([1, 3, 2]))
    _expect_receptive([([5, 3, 2], [1, 3, 2])], [from_numpy], "receptive_field on NumPy integers")


@points(1, question="receptive_field")
def test_receptive_field_every_argument(student):
    """Changing one layer's window or stride changes (r, j) exactly as the recurrence does."""
    base = ([3, 5, 2, 3], [2, 1, 2, 3])
    cases = [base]
    for layer in range(4):
        for which, delta in ((0, 2), (1, 1)):
            changed = [list(base[0]), list(base[1])]
            changed[which][layer] += delta
            cases.append((changed[0], changed[1]))
    outputs = student.call("lambda cases: [receptive_field(k, s) for k, s in cases]", cases)
    _expect_receptive(cases, outputs, "receptive_field with one layer's window or stride changed")


# ---------------------------------------------------------------- confusion_matrix


@points(1, question="confusion_matrix")
def test_confusion_matrix_other_classes(student, answers):
    expect_no_shortcut(answers, "confusion_matrix_impl", public.CONFUSION_SHORTCUTS, "confusion_matrix")
    rng = np.random.default_rng(128)
    y_true = rng.integers(0, 6, size=200)  # class 6 never occurs
    y_pred = np.where(rng.uniform(size=200) < 0.6, y_true, rng.integers(0, 7, size=200))
    expected = np.zeros((7, 7), dtype=np.int64)
    np.add.at(expected, (y_true, y_pred), 1)
    got, module = expect_not_called(student, f"lambda *a: {_WITH_TYPE}(confusion_matrix(*a))", y_true, y_pred, 7,
                                    forbidden=public.CONFUSION_CALLS, exercise="confusion_matrix")
    expect(module == "numpy", f"confusion_matrix returned a {module} value: return a NumPy array")
    expect(np.shape(got) == (7, 7), "confusion_matrix does not have shape (num_classes, num_classes)")
    expect(
        np.issubdtype(np.asarray(got).dtype, np.integer), "confusion_matrix does not return integer counts"
    )
    expect_no_problem(public.confusion_problem(np.asarray(got), expected))
    many = student.call("confusion_matrix", np.full(70_000, 2), np.r_[np.full(69_999, 1), 0], 3)
    expect(np.shape(many) == (3, 3) and int(many[2, 1]) == 69_999 and int(many[2, 0]) == 1,
           "confusion_matrix with many images of one class: " + public.WRAP_HINT)


# ---------------------------------------------------------------- shuffle_labels


# Sent as source (the kernel's copy of course_utils may have been changed by the student's code).
_GLOBAL_STATE = ("(lambda ns: (exec(" + repr("from __future__ import annotations\nimport numpy as np\n"
                                             + inspect.getsource(public.global_random_state_used))
                 + ", ns), ns['global_random_state_used'])[1])({})")


@points(1, question="shuffle_labels")
def test_shuffle_labels_permutation(student):
    labels = np.random.default_rng(129).integers(0, 5, size=500).astype(np.int32)
    shuffled, after, global_used = student.call(
        "lambda y: (lambda y0: (lambda out: (out[0], y0, out[1]))("
        f"{_GLOBAL_STATE}(shuffle_labels, y0, 7)))(y.copy())", labels)
    expect(not global_used, public.GLOBAL_RANDOM_HINT)
    expect(np.array_equal(after, labels), "shuffle_labels modifies its input")
    expect(
        np.shape(shuffled) == labels.shape and np.array_equal(np.sort(shuffled), np.sort(labels)),
        "shuffle_labels does not return a permutation of its input",
    )
    expect(np.mean(shuffled == labels) < 0.4, "shuffle_labels leaves too many labels in place")
    expect(np.asarray(shuffled).dtype == labels.dtype, "shuffle_labels changed the labels' dtype")
    again = student.call("shuffle_labels", labels, 7)
    other = student.call("shuffle_labels", labels, 8)
    expect(np.array_equal(again, shuffled), "shuffle_labels is not reproducible for a given seed")
    expect(not np.array_equal(other, shuffled), "shuffle_labels gives the same result for different seeds")
