"""Lab 2's public checks pass on the solution notebook's code and fail on typical mistakes.

The reference implementations are the solution cells of ``solutions/lab2_cnn/lab2_cnn.ipynb``
(executed here without the rest of the notebook), so the notebook stays the one source of truth.
"""

from __future__ import annotations

import nbformat
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from course_utils.checks import lab2 as checks  # noqa: E402
from grader.mutants import lab2 as catalogue  # noqa: E402
from tests.conftest import REPO, check_failed, judge_catalogue_entry, solution_namespace  # noqa: E402

NOTEBOOK = REPO / "solutions" / "lab2_cnn" / "lab2_cnn.ipynb"


@pytest.fixture(scope="module")
def solution() -> dict:
    return solution_namespace("lab2_cnn", np=np, tf=tf, keras=keras)


# ---------------------------------------------------------------- prepare_images


def test_prepare_images(solution):
    assert checks.check_prepare_images(solution["prepare_images"]).passed
    assert check_failed(checks.check_prepare_images(lambda x: x.astype(np.float32) / 255), "shape")
    assert check_failed(checks.check_prepare_images(lambda x: (x / 255.0)[..., None]), "float32")
    assert check_failed(checks.check_prepare_images(lambda x: (x.astype(np.float32) / 256)[..., None]), "differs")


# ---------------------------------------------------------------- conv2d


def test_conv2d_reference_passes(solution):
    assert checks.check_conv2d(solution["conv2d"]).passed


def test_conv2d_flipped_filter_fails(solution):
    def flipped(x, w, stride=1, padding="valid"):
        return solution["conv2d"](x, w[::-1, ::-1], stride, padding)

    assert check_failed(checks.check_conv2d(flipped), "flipped")


def test_conv2d_symmetric_padding_fails(solution):
    def symmetric(x, w, stride=1, padding="valid"):
        if padding == "valid":
            return solution["conv2d"](x, w, stride, "valid")
        k = w.shape[0]
        x = np.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
        return solution["conv2d"](x, w, stride, "valid")

    assert check_failed(checks.check_conv2d(symmetric), "padding")


def test_conv2d_ignoring_stride_fails(solution):
    assert check_failed(
        checks.check_conv2d(lambda x, w, stride=1, padding="valid": solution["conv2d"](x, w, 1, padding)),
        "shape",
    )


# ---------------------------------------------------------------- max_pool2d


def test_max_pool_reference_passes(solution):
    assert checks.check_max_pool2d(solution["max_pool2d"]).passed


def test_max_pool_zero_padding_fails(solution):
    def zero_padded(x, pool_size=2, stride=None, padding="valid"):
        stride = pool_size if stride is None else stride
        if padding == "valid":
            return solution["max_pool2d"](x, pool_size, stride, "valid")
        height, width = x.shape[1:3]
        pad_h = max((-(-height // stride) - 1) * stride + pool_size - height, 0)
        pad_w = max((-(-width // stride) - 1) * stride + pool_size - width, 0)
        x = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
        return solution["max_pool2d"](x, pool_size, stride, "valid")

    assert check_failed(checks.check_max_pool2d(zero_padded), "-np.inf")


def test_average_pool_fails():
    def average(x, pool_size=2, stride=None, padding="valid"):
        return tf.nn.avg_pool2d(x, pool_size, stride or pool_size, padding.upper()).numpy()

    assert check_failed(checks.check_max_pool2d(average), "differs")


def test_max_pool_without_default_stride_fails(solution):
    assert check_failed(
        checks.check_max_pool2d(
            lambda x, pool_size=2, stride=1, padding="valid": solution["max_pool2d"](
                x, pool_size, stride, padding
            )
        ),
        "shape",
    )


# ---------------------------------------------------------------- build_cnn


def test_build_cnn_reference_passes(solution):
    assert checks.check_build_cnn(solution["build_cnn"]).passed


def test_build_cnn_without_softmax_fails():
    def logits(input_shape=(28, 28, 1), num_classes=10, dropout=0.5):
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
                keras.layers.Dense(num_classes),
            ]
        )

    assert check_failed(checks.check_build_cnn(logits), "probabilities")


def test_build_cnn_fixed_sizes_fail():
    def fixed(input_shape=(28, 28, 1), num_classes=10, dropout=0.5):
        return keras.Sequential(
            [
                keras.Input(shape=(28, 28, 1)),
                keras.layers.Conv2D(32, 3, activation="relu"),
                keras.layers.MaxPooling2D(2),
                keras.layers.Conv2D(64, 3, activation="relu"),
                keras.layers.MaxPooling2D(2),
                keras.layers.Flatten(),
                keras.layers.Dropout(0.5),
                keras.layers.Dense(128, activation="relu"),
                keras.layers.Dropout(0.5),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )

    assert check_failed(checks.check_build_cnn(fixed), "input_shape")


def test_build_cnn_missing_pooling_fails():
    def no_pool(input_shape=(28, 28, 1), num_classes=10, dropout=0.5):
        return keras.Sequential(
            [
                keras.Input(shape=input_shape),
                keras.layers.Conv2D(32, 3, activation="relu"),
                keras.layers.Conv2D(64, 3, activation="relu"),
                keras.layers.Flatten(),
                keras.layers.Dense(num_classes, activation="softmax"),
            ]
        )

    assert check_failed(checks.check_build_cnn(no_pool), "layers")


# ---------------------------------------------------------------- receptive_field


def test_receptive_field_reference_passes(solution):
    assert checks.check_receptive_field(solution["receptive_field"]).passed
    assert solution["receptive_field"]([3, 2, 3, 2], [1, 2, 1, 2]) == (10, 4)


def _receptive(size_jumps):
    """A receptive_field whose layer l widens the window by (k_l - 1) * size_jumps(jumps before, jumps after)."""
    def receptive_field(kernel_sizes, strides):
        size, jump = 1, 1
        for kernel, stride in zip(kernel_sizes, strides):
            size += (kernel - 1) * size_jumps(jump, jump * stride)
            jump *= stride
        return size, jump

    return receptive_field


@pytest.mark.parametrize("function, word", [
    (_receptive(lambda before, after: 1), "strides are ignored"),
    (_receptive(lambda before, after: after), "own stride"),
    (lambda k, s: _receptive(lambda before, after: before)(k[::-1], s[::-1]), "wrong order"),
    (lambda k, s: (sum(k), _receptive(lambda before, after: before)(k, s)[1]), "r_0 = 1"),
    (lambda k, s: (_receptive(lambda before, after: before)(k, s)[0], 1 + sum(x - 1 for x in s)), "not their sum"),
    (lambda k, s: tuple(float(v) for v in _receptive(lambda before, after: before)(k, s)), "ints"),
])
def test_receptive_field_mistakes_are_named(function, word):
    assert check_failed(checks.check_receptive_field(function), word)


def test_receptive_field_must_leave_its_inputs(solution):
    def popping(kernel_sizes, strides):
        kernel_sizes, strides = list(kernel_sizes), strides
        size, jump = 1, 1
        while strides:
            size, jump = size + (kernel_sizes.pop(0) - 1) * jump, jump * strides.pop(0)
        return size, jump

    assert check_failed(checks.check_receptive_field(popping), "changed the lists")


def test_build_cnn_config_names_the_setting():
    def dilated(input_shape=(28, 28, 1), num_classes=10, dropout=0.5):   # the same parameter count
        return keras.Sequential([
            keras.Input(shape=input_shape), keras.layers.Conv2D(32, 3, activation="relu", dilation_rate=2),
            keras.layers.MaxPooling2D(2), keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dropout(dropout),
            keras.layers.Dense(128, activation="relu"), keras.layers.Dropout(dropout),
            keras.layers.Dense(num_classes, activation="softmax")])

    assert check_failed(checks.check_build_cnn(dilated), "layer 1 (Conv2D): its dilation_rate")


# ---------------------------------------------------------------- confusion_matrix


def test_confusion_matrix(solution):
    reference = solution["confusion_matrix"]
    assert checks.check_confusion_matrix(reference).passed
    assert check_failed(checks.check_confusion_matrix(lambda t, p, k: reference(p, t, k)), "transposed")
    assert check_failed(
        checks.check_confusion_matrix(lambda t, p, k: reference(t, p, int(max(t.max(), p.max())) + 1)),
        "shape",
    )
    assert check_failed(checks.check_confusion_matrix(lambda t, p, k: reference(t, p, k).astype(float)), "integers")


# ---------------------------------------------------------------- shuffle_labels


def test_shuffle_labels(solution):
    assert checks.check_shuffle_labels(solution["shuffle_labels"]).passed

    def in_place(labels, seed):
        np.random.default_rng(seed).shuffle(labels)
        return labels

    assert check_failed(checks.check_shuffle_labels(in_place), "changed its input")
    assert check_failed(
        checks.check_shuffle_labels(lambda labels, seed: np.random.permutation(labels)), "same seed"
    )
    assert check_failed(
        checks.check_shuffle_labels(
            lambda labels, seed: np.random.default_rng(seed).integers(0, 10, len(labels))
        ),
        "permutation",
    )
    assert check_failed(checks.check_shuffle_labels(lambda labels, seed: labels.copy()), "kept their place")


# ---------------------------------------------------------------- named mistakes, shortcuts, stand-in model


def conv_library(x, w, stride=1, padding="valid"):
    return tf.nn.conv2d(x, w, strides=stride, padding=padding.upper()).numpy()


def conv_keras_ops(x, w, stride=1, padding="valid"):
    from keras import ops

    return np.asarray(ops.conv(x, w, strides=stride, padding=padding))


def pool_library(x, pool_size=2, stride=None, padding="valid"):
    return tf.nn.max_pool2d(x, pool_size, stride or pool_size, padding.upper()).numpy()


def pool_generic(x, pool_size=2, stride=None, padding="valid"):
    return tf.nn.pool(x, (pool_size, pool_size), "MAX", strides=(stride or pool_size,) * 2,
                      padding=padding.upper()).numpy()


def confusion_library(y_true, y_pred, num_classes):
    return tf.math.confusion_matrix(y_true, y_pred, num_classes).numpy().astype(np.int64)


def confusion_fancy_index(y_true, y_pred, num_classes):
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    counts[y_true, y_pred] += 1
    return counts


@pytest.mark.parametrize("conv", [conv_library, conv_keras_ops])
def test_conv2d_library_shortcut_fails(conv):
    assert check_failed(checks.check_conv2d(conv), "by hand")


@pytest.mark.parametrize("pool", [pool_library, pool_generic])
def test_max_pool_library_shortcut_fails(pool):
    assert check_failed(checks.check_max_pool2d(pool), "by hand")


def test_conv2d_messages_tell_stride_from_padding(solution):
    conv = solution["conv2d"]
    assert check_failed(checks.check_conv2d(lambda x, w, stride=1, padding="valid": conv(x, w, 1, padding)),
                        "ignores the stride")
    assert check_failed(checks.check_conv2d(lambda x, w, stride=1, padding="valid": conv(x, w, stride, "valid")),
                        "without padding")

    def unstrided_reads(x, w, stride=1, padding="valid"):  # right output size, filter moved by 1
        full = conv(x, w, 1, padding if stride == 1 else "valid") if padding == "valid" else None
        if padding == "valid":
            return full[:, :(x.shape[1] - w.shape[0]) // stride + 1, :(x.shape[2] - w.shape[1]) // stride + 1]
        return conv(x, w, stride, padding)

    assert check_failed(checks.check_conv2d(unstrided_reads), "instead of the stride")


def test_conv2d_padding_split_is_named(solution):
    def swapped(x, w, stride=1, padding="valid"):
        if padding == "valid":
            return solution["conv2d"](x, w, stride, padding)
        pads = [(p - p // 2, p // 2) for p in
                (max((-(-size // stride) - 1) * stride + k - size, 0) for size, k in zip(x.shape[1:3], w.shape[:2]))]
        return solution["conv2d"](np.pad(x, ((0, 0), *pads, (0, 0))), w, stride, "valid")

    assert check_failed(checks.check_conv2d(swapped), "split the wrong way")


def test_max_pool_mistakes_are_named(solution):
    pool = solution["max_pool2d"]
    assert check_failed(checks.check_max_pool2d(
        lambda x, pool_size=2, stride=None, padding="valid": pool(x, pool_size, pool_size, padding)),
        "ignores the stride")

    def average(x, pool_size=2, stride=None, padding="valid"):
        return tf.nn.avg_pool2d(x, pool_size, stride or pool_size, padding.upper()).numpy()

    assert check_failed(checks.check_max_pool2d(average), "average pooling")


def test_conv2d_stride_blind_padding_is_named(solution):
    def stride_blind(x, w, stride=1, padding="valid"):
        if padding == "valid":
            return solution["conv2d"](x, w, stride, padding)
        pads = [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in w.shape[:2]]
        out = [-(-size // stride) for size in x.shape[1:3]]
        y = solution["conv2d"](np.pad(x, ((0, 0), *pads, (0, 0))), w, stride, "valid")
        return y[:, :out[0], :out[1]]

    assert check_failed(checks.check_conv2d(stride_blind), "ignores the stride")


def test_shortcuts_reached_another_way_fail(solution):
    def conv_getattr(x, w, stride=1, padding="valid"):
        return getattr(tf.nn, "conv" + "2d")(x, w, stride, padding.upper()).numpy()

    def pool_keras_ops(x, pool_size=2, stride=None, padding="valid"):
        return np.asarray(getattr(keras.ops, "max_" + "pool")(x, pool_size, stride or pool_size, padding))

    def confusion_getattr(y_true, y_pred, num_classes):
        return getattr(tf.math, "confusion" + "_matrix")(y_true, y_pred, num_classes).numpy().astype(np.int64)

    assert check_failed(checks.check_conv2d(conv_getattr), "gen_nn_ops.conv2d")
    assert check_failed(checks.check_max_pool2d(pool_keras_ops), "gen_nn_ops.max_pool")
    assert check_failed(checks.check_confusion_matrix(confusion_getattr), "confusion_matrix")


def test_counts_that_wrap_fail(solution):
    def small_counts(y_true, y_pred, num_classes):
        return solution["confusion_matrix"](y_true, y_pred, num_classes).astype(np.uint8)

    assert check_failed(checks.check_confusion_matrix(small_counts), "wrap")


def test_global_random_state_fails():
    def global_seed(labels, seed):
        np.random.seed(seed)
        return np.random.permutation(labels)

    assert check_failed(checks.check_shuffle_labels(global_seed), "global random state")


def test_confusion_matrix_shortcut_and_fancy_index_fail():
    assert check_failed(checks.check_confusion_matrix(confusion_library), "confusion_matrix")
    assert check_failed(checks.check_confusion_matrix(confusion_fancy_index), "np.add.at")


# ---------------------------------------------------------------- the mutant catalogue

CHECK_CELLS = {cell.metadata["nbgrader"]["grade_id"]: cell.source
               for cell in nbformat.read(NOTEBOOK, as_version=4).cells
               if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")}


@pytest.mark.parametrize("mutant", catalogue.MUTANTS, ids=lambda m: f"{'right' if m.correct else 'wrong'}-{m.name}")
def test_public_checks_judge_the_catalogue(solution, mutant):
    check = CHECK_CELLS[mutant.cell.removesuffix("_impl")]
    judge_catalogue_entry("lab2", mutant, {**solution, "checks": checks}, lambda scope: eval(check, scope))
