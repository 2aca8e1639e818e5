"""Lab 2 mutants: typical wrong answers, and right answers written another way."""

from grader.mutants import right, wrong

_SLICE = "x_pad[:, a:a + stride * (out_h - 1) + 1:stride, b:b + stride * (out_w - 1) + 1:stride, :]"
_CONV = '''def conv2d(x: np.ndarray, w: np.ndarray, stride: int = 1, padding: str = "valid") -> np.ndarray:
    """2-D convolution (no filter flip, no bias), like tf.nn.conv2d."""
'''
_POOL = '''def max_pool2d(x: np.ndarray, pool_size: int = 2, stride: int | None = None, padding: str = "valid"):
    """Max pooling over pool_size x pool_size windows, like tf.nn.max_pool2d."""
    stride = pool_size if stride is None else stride
'''
_RECEPTIVE = '''def receptive_field(kernel_sizes, strides):
    """Receptive field size and jump of the last layer of a stack of convolutions and poolings."""
'''
_CONFUSION = '''def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts C[i, j] of samples with true class i predicted as class j."""
'''
_SHUFFLE = '''def shuffle_labels(labels: np.ndarray, seed: int) -> np.ndarray:
    """A new array holding a random permutation of `labels` (shape (n,)); the input is not modified."""
'''

MUTANTS = [
    # prepare_images
    wrong("prepare_images_impl", "no channel axis", says="channel axis",
          edits=[("return (images.astype(np.float32) / 255.0)[..., None]",
                  "return images.astype(np.float32) / 255.0")]),
    wrong("prepare_images_impl", "channel axis first", says="last",
          edits=[("[..., None]", "[:, None]")]),
    wrong("prepare_images_impl", "float64 from the division", says="float32",
          edits=[("return (images.astype(np.float32) / 255.0)[..., None]", "return (images / 255)[..., None]")]),
    right("prepare_images_impl", "expand_dims then divide",
          edits=[("return (images.astype(np.float32) / 255.0)[..., None]",
                  "out = np.expand_dims(images, axis=-1).astype('float32')\n    return out / 255")]),

    # conv2d
    wrong("conv2d_impl", "tf.nn.conv2d inside the by-hand convolution", says="must not use",
          source=_CONV + "    return tf.nn.conv2d(x, w, strides=stride, padding=padding.upper()).numpy()\n"),
    wrong("conv2d_impl", "stride ignored everywhere", says="ignores the stride",
          edits=[("    n, height, width, _ = x.shape\n", "    stride = 1\n    n, height, width, _ = x.shape\n")]),
    wrong("conv2d_impl", "filter moved by one pixel", says="instead of the stride",
          edits=[("patch = " + _SLICE, "patch = x_pad[:, a:a + out_h, b:b + out_w, :]")]),
    wrong("conv2d_impl", "'same' handled like 'valid'", says="without padding",
          edits=[('    if padding == "valid":\n', '    if padding in ("valid", "same"):\n')]),
    wrong("conv2d_impl", "padding split the wrong way round", says="split",
          edits=[("(pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2)",
                  "(pad_h - pad_h // 2, pad_h // 2), (pad_w - pad_w // 2, pad_w // 2)")]),
    wrong("conv2d_impl", "filter flipped (true convolution)", says="flipped",
          edits=[("y += patch @ w[a, b]", "y += patch @ w[k_h - 1 - a, k_w - 1 - b]")]),
    wrong("conv2d_impl", "'same' padding of k - 1 whatever the stride", says="ignores the stride",
          edits=[("        pad_h = max((out_h - 1) * stride + k_h - height, 0)\n"
                  "        pad_w = max((out_w - 1) * stride + k_w - width, 0)\n",
                  "        pad_h, pad_w = k_h - 1, k_w - 1\n")]),
    wrong("conv2d_impl", "tf.nn.conv2d reached through getattr", says="must not use", gap=True,
          source=_CONV + "    conv = getattr(tf.nn, 'conv' + '2d')\n"
                         "    return conv(x, w, strides=stride, padding=padding.upper()).numpy()\n"),
    wrong("conv2d_impl", "a TensorFlow tensor returned", says="NumPy array", gap=True,
          edits=[("    return y\n", "    return tf.constant(y)\n")]),
    right("conv2d_impl", "sliding windows and einsum",
          source=_CONV + '''    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    k_h, k_w = w.shape[:2]
    if padding == "same":
        sizes = x.shape[1:3]
        outs = [-(-size // stride) for size in sizes]
        pads = [max((o - 1) * stride + k - size, 0) for o, k, size in zip(outs, (k_h, k_w), sizes)]
        x = np.pad(x, [(0, 0), *[(p // 2, p - p // 2) for p in pads], (0, 0)])
    windows = np.lib.stride_tricks.sliding_window_view(x, (k_h, k_w), axis=(1, 2))[:, ::stride, ::stride]
    return np.einsum("nijcab,abco->nijo", windows, w)
'''),
    right("conv2d_impl", "loops over output positions with tensordot",
          source=_CONV + '''    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    n, H, W, c_in = x.shape
    kh, kw, _, c_out = w.shape
    if padding == "same":
        oh, ow = int(np.ceil(H / stride)), int(np.ceil(W / stride))
        ph, pw = max((oh - 1) * stride + kh - H, 0), max((ow - 1) * stride + kw - W, 0)
        x = np.pad(x, [(0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)])
    else:
        oh, ow = (H - kh) // stride + 1, (W - kw) // stride + 1
    out = np.zeros((n, oh, ow, c_out))
    for i in range(oh):
        for j in range(ow):
            window = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(window, w, axes=([1, 2, 3], [0, 1, 2]))
    return out
'''),

    # max_pool2d
    wrong("max_pool2d_impl", "tf.nn.max_pool2d inside the by-hand pooling", says="must not use",
          source=_POOL + "    return tf.nn.max_pool2d(x, pool_size, stride, padding.upper()).numpy()\n"),
    wrong("max_pool2d_impl", "zero padding", says="-np.inf",
          edits=[("constant_values=-np.inf", "constant_values=0")]),
    wrong("max_pool2d_impl", "window moved by one pixel", says="instead of the stride",
          edits=[("y = np.maximum(y, " + _SLICE + ")", "y = np.maximum(y, x_pad[:, a:a + out_h, b:b + out_w, :])")]),
    wrong("max_pool2d_impl", "default stride of 1", says="ignores the stride",
          edits=[("stride = pool_size if stride is None else stride", "stride = 1 if stride is None else stride")]),
    wrong("max_pool2d_impl", "pooling: 'same' padding of k - 1 whatever the stride", says="ignores the stride",
          gap=True,
          edits=[("        pad_h = max((out_h - 1) * stride + pool_size - height, 0)\n"
                  "        pad_w = max((out_w - 1) * stride + pool_size - width, 0)\n",
                  "        pad_h = pad_w = pool_size - 1\n")]),
    wrong("max_pool2d_impl", "keras.ops.max_pool reached through getattr", says="must not use", gap=True,
          source=_POOL + "    pool = getattr(keras.ops, 'max_' + 'pool')\n"
                         "    return np.asarray(pool(x, pool_size, stride, padding))\n"),
    right("max_pool2d_impl", "stack the window views and take the max",
          source=_POOL + '''    x = np.asarray(x)
    n, h, w, c = x.shape
    if padding == "same":
        out_h, out_w = -(-h // stride), -(-w // stride)
        ph = max((out_h - 1) * stride + pool_size - h, 0)
        pw = max((out_w - 1) * stride + pool_size - w, 0)
        x = np.pad(x.astype(float), ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)),
                   constant_values=-np.inf)
    else:
        out_h, out_w = (h - pool_size) // stride + 1, (w - pool_size) // stride + 1
    views = [x[:, a::stride, b::stride, :][:, :out_h, :out_w, :] for a in range(pool_size) for b in range(pool_size)]
    return np.max(np.stack(views), axis=0)
'''),

    # build_cnn
    wrong("build_cnn_impl", "no softmax at the end", says="softmax",
          edits=[('keras.layers.Dense(num_classes, activation="softmax")', "keras.layers.Dense(num_classes)")]),
    wrong("build_cnn_impl", "10 classes fixed", says="num_classes",
          edits=[('keras.layers.Dense(num_classes, activation="softmax")',
                  'keras.layers.Dense(10, activation="softmax")')]),
    wrong("build_cnn_impl", "'same' padding in the first convolution", says="parameters",
          edits=[('keras.layers.Conv2D(32, kernel_size=3, activation="relu")',
                  'keras.layers.Conv2D(32, kernel_size=3, activation="relu", padding="same")')]),
    wrong("build_cnn_impl", "dilated first convolution (same parameter count)", says="dilation_rate", gap=True,
          edits=[('keras.layers.Conv2D(32, kernel_size=3, activation="relu")',
                  'keras.layers.Conv2D(32, kernel_size=3, activation="relu", dilation_rate=2)')]),
    right("build_cnn_impl", "every setting spelled out, ReLU as a function",
          edits=[('keras.layers.Conv2D(32, kernel_size=3, activation="relu")',
                  'keras.layers.Conv2D(filters=32, kernel_size=(3, 3), strides=(1, 1), padding="valid", '
                  'activation=keras.activations.relu)'),
                 ("keras.layers.MaxPooling2D(pool_size=2),\n        keras.layers.Flatten()",
                  "keras.layers.MaxPooling2D(pool_size=(2, 2), strides=(2, 2)),\n        keras.layers.Flatten()")]),
    wrong("build_cnn_impl", "first convolution without ReLU", says="relu",
          edits=[('keras.layers.Conv2D(32, kernel_size=3, activation="relu")', "keras.layers.Conv2D(32, 3)")]),

    # receptive_field
    wrong("receptive_field_impl", "strides ignored", says="strides are ignored",
          edits=[("size += (int(kernel) - 1) * jump", "size += int(kernel) - 1")]),
    wrong("receptive_field_impl", "a layer's own stride counted", says="own stride",
          edits=[("        size += (int(kernel) - 1) * jump\n        jump *= int(stride)\n",
                  "        jump *= int(stride)\n        size += (int(kernel) - 1) * jump\n")]),
    wrong("receptive_field_impl", "jump left at 1", says="jump never changes",
          edits=[("    return size, jump", "    return size, 1")]),
    wrong("receptive_field_impl", "layers taken from the top down", says="wrong order",
          edits=[("zip(kernel_sizes, strides, strict=True)", "zip(kernel_sizes[::-1], strides[::-1], strict=True)")]),
    wrong("receptive_field_impl", "float results from np.prod", says="ints", gap=True,
          source=_RECEPTIVE + "    size = 1 + sum((k - 1) * np.prod(strides[:l]) for l, k in enumerate(kernel_sizes))\n"
                              "    return size, np.prod(strides)\n"),
    wrong("receptive_field_impl", "strides above 2 taken as 2", says="taken as 2", gap=True,
          edits=[("jump *= int(stride)", "jump *= min(int(stride), 2)")]),
    wrong("receptive_field_impl", "pops the lists it was given", says="changed the lists", gap=True,
          source=_RECEPTIVE + "    size, jump = 1, 1\n    while kernel_sizes:\n"
                              "        size += (kernel_sizes.pop(0) - 1) * jump\n        jump *= strides.pop(0)\n"
                              "    return size, jump\n"),
    right("receptive_field_impl", "closed form with math.prod",
          source=_RECEPTIVE + "    import math\n    k, s = list(kernel_sizes), list(strides)\n"
                              "    size = 1 + sum((k[l] - 1) * math.prod(s[:l]) for l in range(len(k)))\n"
                              "    return int(size), int(math.prod(s))\n"),

    # confusion_matrix
    wrong("confusion_matrix_impl", "rows and columns swapped", says="transposed",
          edits=[("(np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64))",
                  "(np.asarray(y_pred, dtype=np.int64), np.asarray(y_true, dtype=np.int64))")]),
    wrong("confusion_matrix_impl", "fancy-index increment", says="np.add.at",
          source=_CONFUSION + "    C = np.zeros((num_classes, num_classes), dtype=int)\n"
                              "    C[y_true, y_pred] += 1\n    return C\n"),
    wrong("confusion_matrix_impl", "tf.math.confusion_matrix", says="must not use",
          source=_CONFUSION + "    counts = tf.math.confusion_matrix(y_true, y_pred, num_classes)\n"
                              "    return counts.numpy().astype(np.int64)\n"),
    wrong("confusion_matrix_impl", "uint8 counts", says="wrap", gap=True,
          edits=[("dtype=np.int64)\n    np.add.at", "dtype=np.uint8)\n    np.add.at")]),
    wrong("confusion_matrix_impl", "tf.math.confusion_matrix through getattr", says="must not use", gap=True,
          source=_CONFUSION + "    counts = getattr(tf.math, 'confusion' + '_matrix')(y_true, y_pred, num_classes)\n"
                              "    return counts.numpy().astype(np.int64)\n"),
    right("confusion_matrix_impl", "bincount of flat indices",
          source=_CONFUSION + "    flat = np.asarray(y_true) * num_classes + np.asarray(y_pred)\n"
                              "    return np.bincount(flat, minlength=num_classes ** 2).reshape(num_classes, -1)\n"),

    # shuffle_labels
    wrong("shuffle_labels_impl", "shuffled in place", says="input",
          source=_SHUFFLE + "    np.random.default_rng(seed).shuffle(labels)\n    return labels\n"),
    wrong("shuffle_labels_impl", "seed ignored", says="seed",
          source=_SHUFFLE + "    return np.random.default_rng().permutation(labels)\n"),
    wrong("shuffle_labels_impl", "global seed and np.random.permutation", says="global random state", gap=True,
          source=_SHUFFLE + "    np.random.seed(seed)\n    return np.random.permutation(labels)\n"),
    wrong("shuffle_labels_impl", "python's random module with a global seed", says="global random state", gap=True,
          source=_SHUFFLE + "    import random\n    random.seed(seed)\n"
                            "    return np.array(random.sample(list(labels), len(labels)), dtype=labels.dtype)\n"),
    right("shuffle_labels_impl", "permuted indices",
          source=_SHUFFLE + "    order = np.random.default_rng(seed).permutation(len(labels))\n"
                            "    return labels[order]\n"),
]
