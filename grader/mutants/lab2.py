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
    wrong("build_cnn_impl", "first convolution without ReLU", says="relu",
          edits=[('keras.layers.Conv2D(32, kernel_size=3, activation="relu")', "keras.layers.Conv2D(32, 3)")]),

    # train_step
    wrong("train_step_impl", "training=True left out", says="training=True",
          edits=[("probs = model(x, training=True)", "probs = model(x)")]),
    wrong("train_step_impl", "summed loss", says="sum",
          edits=[("loss = tf.reduce_mean(keras", "loss = tf.reduce_sum(keras")]),
    wrong("train_step_impl", "gradients never applied", says="apply_gradients",
          edits=[("    optimizer.apply_gradients(zip(grads, model.trainable_variables))\n", "")]),
    right("train_step_impl", "log-probabilities picked by hand, optimizer.apply",
          source='''def train_step(model, optimizer, x, y):
    """One gradient step on a batch; returns the batch loss (before the update) as a scalar tensor."""
    with tf.GradientTape() as tape:
        probs = model(x, training=True)
        picked = tf.gather(probs, tf.cast(y, tf.int32), axis=1, batch_dims=1)
        loss = -tf.reduce_mean(tf.math.log(picked))
    optimizer.apply(tape.gradient(loss, model.trainable_weights), model.trainable_weights)
    return loss
'''),

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
    right("confusion_matrix_impl", "bincount of flat indices",
          source=_CONFUSION + "    flat = np.asarray(y_true) * num_classes + np.asarray(y_pred)\n"
                              "    return np.bincount(flat, minlength=num_classes ** 2).reshape(num_classes, -1)\n"),

    # shuffle_labels
    wrong("shuffle_labels_impl", "shuffled in place", says="input",
          source=_SHUFFLE + "    np.random.default_rng(seed).shuffle(labels)\n    return labels\n"),
    wrong("shuffle_labels_impl", "seed ignored", says="seed",
          source=_SHUFFLE + "    return np.random.default_rng().permutation(labels)\n"),
    right("shuffle_labels_impl", "permuted indices",
          source=_SHUFFLE + "    order = np.random.default_rng(seed).permutation(len(labels))\n"
                            "    return labels[order]\n"),
]
