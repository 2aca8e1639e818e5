"""Public checks of Lab 2 (convolutional networks, and what a network can memorise).

Each check runs the student's function on small fixed inputs and compares it with
TensorFlow or NumPy computed here (``tf.nn.conv2d``, ``tf.nn.max_pool2d``, a
``tf.GradientTape`` step...), within the tolerance it states. TensorFlow is imported
inside the checks so that importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course_utils.checks import Problem, array_problem, public_check, require, require_no_shortcut

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
# The same shortcuts seen by what runs (every alias, getattr lookup and API that reaches them): TensorFlow's
# convolution and pooling kernels are what tf.nn, tf.raw_ops, keras.ops and Keras layers all end in.
_CONV_ADVICE = "a ready-made convolution, however it is reached, is not allowed: sum over the filter offsets with NumPy"
_POOL_ADVICE = "a ready-made pooling, however it is reached, is not allowed: take the maximum over the window offsets"
CONV_CALLS = {**_shortcuts(("tensorflow.python.ops.gen_nn_ops.conv2d", "tensorflow.python.ops.gen_nn_ops.conv2d_v2",
                            "tensorflow.python.ops.gen_nn_ops.depthwise_conv2d_native", "scipy.signal.correlate",
                            "scipy.signal.convolve", "scipy.signal.correlate2d", "scipy.signal.convolve2d",
                            "scipy.signal.fftconvolve", "scipy.ndimage.correlate", "scipy.ndimage.convolve"),
                           _CONV_ADVICE)}
POOL_CALLS = _shortcuts(("tensorflow.python.ops.gen_nn_ops.max_pool", "tensorflow.python.ops.gen_nn_ops.max_pool_v2",
                         "tensorflow.python.ops.gen_nn_ops.max_pool_with_argmax", "scipy.ndimage.maximum_filter",
                         "skimage.measure.block_reduce"), _POOL_ADVICE)
CONFUSION_CALLS = _shortcuts(("tensorflow.math.confusion_matrix", "sklearn.metrics.confusion_matrix"),
                             "a ready-made confusion matrix is not allowed: count the pairs with NumPy")


def _call_watched(function: Callable, calls: dict[str, str], exercise: str, *args, **kwargs):
    """``function(*args, **kwargs)``; stop the check when it ran one of the library functions ``calls`` forbids."""
    from course_utils.checks.source import call_watched

    value, called = call_watched(function, calls, *args, **kwargs)
    for name in called:
        raise Problem(f"{exercise} must not use `{name}`: {calls[name]}")
    return value


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
    if out.shape == (n, 1, height, width) != (n, height, width, 1):
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


def _pads(height: int, width: int, k_h: int, k_w: int, stride: int, padding: str, swap: bool = False,
          stride_blind: bool = False):
    """((top, bottom), (left, right)) zero rows and columns of the rules in the notebook.

    ``swap``: the split reversed (the extra zero on top); ``stride_blind``: the total computed as for stride 1,
    k - 1, the habit of "same" padding without a stride.
    """
    pads = []
    for size, k in ((height, k_h), (width, k_w)):
        if padding == "valid":
            total = 0
        elif stride_blind:
            total = k - 1
        else:
            total = max((_out_size(size, k, stride, padding) - 1) * stride + k - size, 0)
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


_BLIND_PADDING = ("with stride s, 'same' pads p = max((ceil(H / s) - 1) * s + k - H, 0) rows in total, "
                  "not k - 1 as for stride 1 (and the same rule for columns).")
_SPLIT = "p // 2 zeros before (top, left) and the rest after."


def conv_problem(got, x, w, stride: int, padding: str, *, what: str, tolerance: float = TOLERANCE) -> str | None:
    """What is wrong with ``got`` as conv2d(x, w, stride, padding), or None (shared with the hidden check)."""
    tf = _tf()
    expected = tf.nn.conv2d(x, w, strides=stride, padding=padding.upper()).numpy()
    problem = array_problem(got, expected, what=what, atol=tolerance, rtol=tolerance)
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
    swapped = variant(w, stride, _pads(x.shape[1], x.shape[2], k_h, k_w, stride, padding, swap=True))
    blind = variant(w, stride, _pads(x.shape[1], x.shape[2], k_h, k_w, stride, padding, stride_blind=True))
    padding_hints = {"The padding ignores the stride: " + _BLIND_PADDING: blind,
                     "The padding is split the wrong way round: " + _SPLIT: swapped}
    if np.array_equal(swapped, blind):   # the unread extra row hides which of the two it is
        padding_hints = {"The padding ignores the stride, or is split the wrong way round (both give this result "
                         "here): " + _BLIND_PADDING + " And " + _SPLIT: swapped}
    hints = {
        "It matches the result with the filter flipped: deep-learning convolution does not flip it.":
            variant(w[::-1, ::-1], stride, pads),
        "The filter moves by 1 pixel instead of the stride: output (i, j) reads input (i*stride + a, "
        "j*stride + b).": variant(w, 1, pads),
        **padding_hints,
    }
    for hint, value in hints.items():
        if array_problem(got, value, atol=TOLERANCE, rtol=TOLERANCE) is None:
            return f"{problem}. {hint}"
    if padding == "same":
        return (f"{problem}. Check the padding: p = max((out - 1) * stride + k - size, 0) zeros in total, "
                "p // 2 before and the rest after, computed separately for rows and columns.")
    return problem


CONV_CASES = [((3, 3), 1, "valid"), ((3, 3), 2, "valid"), ((3, 3), 1, "same"), ((4, 2), 1, "same"),
              ((3, 3), 2, "same"), ((2, 3), 3, "same")]


@public_check
def check_conv2d(conv2d: Callable) -> None:
    """``conv2d(x, w, stride, padding)`` agrees with ``tf.nn.conv2d`` (NHWC input, HWIO filters) to 1e-5."""
    require_no_shortcut(conv2d, CONV_SHORTCUTS, "conv2d (by hand)")
    rng = np.random.default_rng(21)
    x = rng.normal(size=(2, 7, 8, 3))
    for kernel, stride, padding in CONV_CASES:
        w = rng.normal(size=(*kernel, 3, 4))
        x_before, w_before = x.copy(), w.copy()
        got = _call_watched(conv2d, CONV_CALLS, "conv2d (by hand)", x, w, stride=stride, padding=padding)
        require(isinstance(got, np.ndarray), f"conv2d returned {type(got).__name__}: return a NumPy array")
        problem = conv_problem(got, x, w, stride, padding, what=f"conv2d(x, w, stride={stride}, padding={padding!r}) "
                               f"with x of shape {x.shape} and w of shape {w.shape}")
        require(problem is None, str(problem))
        require(np.array_equal(x, x_before) and np.array_equal(w, w_before),
                "conv2d changed its input arrays; pad a copy (np.pad returns a new array)")
    x32, w32 = x[:1, :5].astype(np.float32), rng.normal(size=(2, 2, 3, 2)).astype(np.float32)
    got = conv2d(x32, w32, stride=2, padding="same")
    problem = conv_problem(got, x32.astype(np.float64), w32.astype(np.float64),
                           2, "same", what="conv2d of float32 arrays (stride 2, 'same')", tolerance=1e-3)
    require(problem is None, str(problem))


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
        "The padding ignores the stride: " + _BLIND_PADDING: variant(
            stride, _pads(x.shape[1], x.shape[2], pool_size, pool_size, stride, padding, stride_blind=True)),
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
    pooled = _call_watched(max_pool2d, POOL_CALLS, "max_pool2d (by hand)", x)
    problem = pool_problem(pooled, x, 2, 2, "valid", what="max_pool2d(x) with defaults (pool_size=2, "
                           f"stride=pool_size, 'valid') for x of shape {x.shape}")
    require(problem is None, str(problem))
    for pool_size, stride, padding in [(3, 1, "valid"), (2, 3, "valid"), (3, 2, "same"), (2, 1, "same"),
                                       (3, 3, "same")]:
        got = max_pool2d(x, pool_size=pool_size, stride=stride, padding=padding)
        problem = pool_problem(got, x, pool_size, stride, padding, what=f"max_pool2d(x, pool_size={pool_size}, "
                               f"stride={stride}, padding={padding!r}) for x of shape {x.shape}")
        require(problem is None, str(problem))
    require(np.array_equal(x, x_before), "max_pool2d changed its input array")


# Runs where the model lives (here, or in the student's kernel for the hidden check): plain data only.
CNN_PROBE = '''
def describe_cnn(model):
    """Per layer: [class name, {setting: value}] for the settings the table fixes, as plain Python data."""
    keys = ("filters", "kernel_size", "strides", "padding", "pool_size", "rate", "units", "use_bias", "dilation_rate")
    layers = []
    for layer in model.layers:
        config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in layer.get_config().items() if k in keys}
        if hasattr(layer, "activation"):
            config["activation"] = getattr(layer.activation, "__name__", str(layer.activation))
        layers.append([type(layer).__name__, config])
    return layers
'''


def cnn_table(input_shape=(28, 28, 1), num_classes: int = 10, dropout: float = 0.5) -> list:
    """The table's layers as :data:`CNN_PROBE`'s ``describe_cnn`` reports them."""
    conv = {"kernel_size": [3, 3], "strides": [1, 1], "padding": "valid", "use_bias": True, "dilation_rate": [1, 1],
            "activation": "relu"}
    pool = {"pool_size": [2, 2], "strides": [2, 2], "padding": "valid"}
    return [["Conv2D", {"filters": 32, **conv}], ["MaxPooling2D", pool], ["Conv2D", {"filters": 64, **conv}],
            ["MaxPooling2D", pool], ["Flatten", {}], ["Dropout", {"rate": dropout}],
            ["Dense", {"units": 128, "use_bias": True, "activation": "relu"}], ["Dropout", {"rate": dropout}],
            ["Dense", {"units": num_classes, "use_bias": True, "activation": "softmax"}]]


def cnn_config_problem(described: list, table: list, *, show_values: bool = True) -> str | None:
    """The first layer setting of ``described`` (``describe_cnn``'s) that differs from ``table``, or None."""
    kinds = [kind for kind, _ in described]
    if kinds != [kind for kind, _ in table]:
        return f"the model's layers are {kinds}, expected {CNN_LAYERS} (keras.Input is not a layer of the list)"
    for index, ((kind, got), (_, want)) in enumerate(zip(described, table, strict=True)):
        for key, value in want.items():
            seen = got.get(key)
            if seen != value and not (isinstance(value, float) and isinstance(seen, float)
                                      and abs(seen - value) < 1e-9):
                shown = f" is {seen!r}, the table asks for {value!r}" if show_values else " differs from the table"
                return f"layer {index + 1} ({kind}): its {key}{shown}"
    return None


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
    namespace: dict = {}
    exec(CNN_PROBE, namespace)  # noqa: S102 (our own constant source)
    problem = cnn_config_problem(namespace["describe_cnn"](model), cnn_table())
    require(problem is None, str(problem))


def receptive_field_reference(kernel_sizes, strides) -> tuple[int, int]:
    """(r_L, j_L) of the recurrence in the notebook: r_l = r_{l-1} + (k_l - 1) j_{l-1}, j_l = j_{l-1} s_l."""
    size, jump = 1, 1
    for kernel, stride in zip(kernel_sizes, strides, strict=True):
        size, jump = size + (kernel - 1) * jump, jump * stride
    return size, jump


def _sizes_with(kernel_sizes, strides, jumps) -> int:
    """1 + sum of (k_l - 1) * jumps[l]: the receptive field size for a given list of per-layer jumps."""
    return 1 + sum((k - 1) * j for k, j in zip(kernel_sizes, jumps, strict=True))


def _jumps(strides) -> list[int]:
    """j_0, ..., j_L: the running products of the strides."""
    jumps = [1]
    for stride in strides:
        jumps.append(jumps[-1] * stride)
    return jumps


RECEPTIVE_SIZE_MISTAKES = {
    "start from r_0 = 1: an empty stack sees one pixel, and each layer adds to that":
        lambda k, s: receptive_field_reference(k, s)[0] - 1,
    "the strides are ignored: layer l widens the window by (k_l - 1) times the jump j_{l-1} of the layer below":
        lambda k, s: _sizes_with(k, s, [1] * len(k)),
    "layer l's own stride is counted: it widens the window by (k_l - 1) * j_{l-1}, the jump *before* its stride":
        lambda k, s: _sizes_with(k, s, _jumps(s)[1:]),
    "each layer adds k_l - 1 pixels (times the jump), not k_l": lambda k, s: _sizes_with(k, s, _jumps(s)[:-1]) + len(k),
    "the layers are taken in the wrong order: layer 1 (the first in the lists) is the one next to the image":
        lambda k, s: receptive_field_reference(k[::-1], s[::-1])[0],
    "the jump is taken as 2 for every stride above 1: multiply by the stride itself":
        lambda k, s: receptive_field_reference(k, [min(x, 2) for x in s])[0],
}
RECEPTIVE_JUMP_MISTAKES = {
    "the jump must be the product of all the strides, the last layer's included": lambda s: _jumps(s)[-2] if s else 1,
    "the jump is the product of the strides, not their sum": lambda s: 1 + sum(x - 1 for x in s),
    "the jump never changes: multiply it by every layer's stride": lambda s: 1,
    "the jump is taken as 2 for every stride above 1: multiply by the stride itself":
        lambda s: _jumps([min(x, 2) for x in s])[-1],
}


def receptive_field_problem(got, kernel_sizes, strides) -> str | None:
    """What is wrong with ``got`` as receptive_field(kernel_sizes, strides), or None (shared with the hidden check)."""
    kernel_sizes, strides = [int(k) for k in kernel_sizes], [int(s) for s in strides]
    if not isinstance(got, (tuple, list, np.ndarray)) or len(got) != 2:
        return f"receptive_field returned {type(got).__name__}: return two numbers, (r_L, j_L)"
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in got):
        return (f"receptive_field returned {', '.join(type(v).__name__ for v in got)}: sizes and jumps are whole "
                "numbers of pixels, return ints")
    size, jump = (int(v) for v in got)
    want_size, want_jump = receptive_field_reference(kernel_sizes, strides)
    layers = f"for {len(kernel_sizes)} layer(s)"
    if size != want_size:
        hint = next((m for m, f in RECEPTIVE_SIZE_MISTAKES.items() if f(kernel_sizes, strides) == size), None)
        return f"the receptive field size {layers} is {size}, expected {want_size}" + (f": {hint}" if hint else "")
    if jump != want_jump:
        hint = next((m for m, f in RECEPTIVE_JUMP_MISTAKES.items() if f(strides) == jump), None)
        return f"the jump {layers} is {jump}, expected {want_jump}" + (f": {hint}" if hint else "")
    return None


RECEPTIVE_CASES = [((), ()), ((3,), (1,)), ((5, 3, 3), (2, 1, 2)), ((2, 3, 4), (2, 3, 1)), ((1, 7, 3, 2), (3, 1, 2, 2))]


@public_check
def check_receptive_field(receptive_field: Callable) -> None:
    """``receptive_field(kernel_sizes, strides)`` gives (r_L, j_L) as ints, for lists and tuples, inputs unchanged."""
    for kernel_sizes, strides in RECEPTIVE_CASES:
        as_lists = list(kernel_sizes), list(strides)
        got = receptive_field(*as_lists)
        require(as_lists == (list(kernel_sizes), list(strides)), "receptive_field changed the lists it was given")
        problem = receptive_field_problem(got, kernel_sizes, strides)
        require(problem is None, f"receptive_field({list(kernel_sizes)}, {list(strides)}): {problem}")
        problem = receptive_field_problem(receptive_field(kernel_sizes, strides), kernel_sizes, strides)
        require(problem is None, f"receptive_field{(kernel_sizes, strides)} with tuples: {problem}")


@public_check
def check_confusion_matrix(confusion_matrix: Callable) -> None:
    """``confusion_matrix(y_true, y_pred, num_classes)`` counts true class i predicted as j in C[i, j]."""
    require_no_shortcut(confusion_matrix, CONFUSION_SHORTCUTS, "confusion_matrix")
    y_true = np.array([0, 1, 2, 2, 1, 0, 2, 1])
    y_pred = np.array([0, 2, 2, 1, 1, 0, 0, 2])
    expected = np.zeros((4, 4), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        expected[t, p] += 1
    got = _call_watched(confusion_matrix, CONFUSION_CALLS, "confusion_matrix", y_true, y_pred, 4)
    require(isinstance(got, np.ndarray), f"confusion_matrix returned {type(got).__name__}: return a NumPy array")
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
    many = np.asarray(confusion_matrix(np.zeros(300, np.int64), np.ones(300, np.int64), 2))
    require(many.shape == (2, 2) and int(many[0, 1]) == 300,
            f"300 images of class 0 predicted as 1 give C[0, 1] = {many[0, 1] if many.shape == (2, 2) else '?'}: "
            + WRAP_HINT)


WRAP_HINT = ("the counts wrap around: a small integer type (uint8, int8...) cannot hold large counts; "
             "use int64 (NumPy's default integer)")


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


GLOBAL_RANDOM_HINT = ("shuffle_labels drew from (or reseeded) the global random state of np.random or random "
                      "instead of a generator made from seed: the same seed must give the same permutation "
                      "whatever other code drew before, and other code's randomness must not change with yours")


def global_random_state_used(function: Callable, *args, probe_seed: int = 20261207) -> tuple[object, bool]:
    """``(function(*args), whether it changed NumPy's or Python's global random state)``.

    During the call the global states start from ``probe_seed``, a state the code under test does not recreate
    by chance (reseeding with its own seed and drawing ends elsewhere), whatever ran before; they are put back
    as they were afterwards. Self-contained: the hidden check sends its source into the student's kernel.
    """
    import random

    import numpy as np

    numpy_saved, python_saved = np.random.get_state(), random.getstate()
    np.random.seed(probe_seed)
    random.seed(probe_seed)
    numpy_before, python_before = np.random.get_state(), random.getstate()
    try:
        value = function(*args)
        numpy_after = np.random.get_state()
        changed = random.getstate() != python_before or any(
            not np.array_equal(a, b) for a, b in zip(numpy_before, numpy_after, strict=True))
    finally:
        np.random.set_state(numpy_saved)
        random.setstate(python_saved)
    return value, changed


@public_check
def check_shuffle_labels(shuffle_labels: Callable) -> None:
    """``shuffle_labels(labels, seed)`` returns a new, reproducible random permutation of the labels."""
    labels = np.repeat(np.arange(10), 30)
    before = labels.copy()
    out, global_state_used = global_random_state_used(shuffle_labels, labels, 0)
    require(not global_state_used, GLOBAL_RANDOM_HINT)
    out = np.asarray(out)
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
