"""Lab 1 mutants: typical wrong answers, and right answers written another way."""

from grader.mutants import right, wrong

_TAPE = '''def tape_gradient(f, x):
    """Gradient of the scalar function f at x, by automatic differentiation."""
    x = tf.convert_to_tensor(x, dtype=tf.float32)
'''

MUTANTS = [
    # Exercise 1: tape_gradient
    wrong("tape_gradient_impl", "formula instead of GradientTape", says="GradientTape",
          source=_TAPE + "    return 3 * x**2 - 2\n"),
    wrong("tape_gradient_impl", "tape without watching x", says="watch",
          source=_TAPE + "    with tf.GradientTape() as tape:\n        y = f(x)\n    return tape.gradient(y, x)\n"),
    wrong("tape_gradient_impl", "f computed before the tape starts", says="inside",
          source=_TAPE + "    y = f(x)\n    with tf.GradientTape() as tape:\n        tape.watch(x)\n"
                         "    return tape.gradient(y, x)\n"),
    wrong("tape_gradient_impl", "finite differences next to an unused tape", says="finite-difference",
          source=_TAPE + "    h = 1e-2\n    with tf.GradientTape() as tape:\n        tape.watch(x)\n"
                         "    flat = tf.reshape(x, [-1])\n    grads = []\n"
                         "    for i in range(flat.shape[0]):\n"
                         "        e = tf.one_hot(i, flat.shape[0])\n"
                         "        up, down = tf.reshape(flat + h * e, x.shape), tf.reshape(flat - h * e, x.shape)\n"
                         "        grads.append((f(up) - f(down)) / (2 * h))\n"
                         "    return tf.reshape(tf.stack(grads), x.shape)\n"),
    wrong("tape_gradient_impl", "float64 central differences next to an unused tape", says="custom_gradient", gap=True,
          source=_TAPE + "    with tf.GradientTape():\n        pass\n"
                         "    base = np.asarray(x, dtype=np.float64)\n    grads = np.zeros_like(base)\n"
                         "    for i in np.ndindex(base.shape):\n"
                         "        e = np.zeros_like(base)\n        e[i] = 1e-5\n"
                         "        up, down = f(tf.constant(base + e)), f(tf.constant(base - e))\n"
                         "        grads[i] = (float(up) - float(down)) / 2e-5\n"
                         "    return tf.constant(grads, tf.float32)\n"),
    right("tape_gradient_impl", "a tf.Variable instead of tape.watch",
          source=_TAPE + "    v = tf.Variable(x)\n    with tf.GradientTape() as tape:\n        loss = f(v)\n"
                         "    return tape.gradient(loss, v)\n"),

    # Exercise 2: activations
    wrong("activations_impl", "tf.nn.sigmoid", says="nn.sigmoid",
          edits=[("return 1.0 / (1.0 + tf.exp(-z))", "return tf.nn.sigmoid(z)")]),
    wrong("activations_impl", "tf.math.sigmoid", says="math.sigmoid",
          edits=[("return 1.0 / (1.0 + tf.exp(-z))", "return tf.math.sigmoid(z)")]),
    wrong("activations_impl", "tf.nn.relu", says="nn.relu",
          edits=[("return tf.maximum(z, 0.0)", "return tf.nn.relu(z)")]),
    wrong("activations_impl", "sigmoid with the exponent's sign flipped", says="sign",
          edits=[("return 1.0 / (1.0 + tf.exp(-z))", "return 1 / (1 + tf.exp(z))")]),
    wrong("activations_impl", "relu as absolute value", says="|z|",
          edits=[("return tf.maximum(z, 0.0)", "return tf.abs(z)")]),
    wrong("activations_impl", "sigmoid in NumPy", says="numpy",
          edits=[("return 1.0 / (1.0 + tf.exp(-z))", "return 1 / (1 + np.exp(-z.numpy()))")]),
    wrong("activations_impl", "sigmoid as exp(z) / (1 + exp(z))", says="overflows", gap=True,
          edits=[("return 1.0 / (1.0 + tf.exp(-z))", "return tf.exp(z) / (1.0 + tf.exp(z))")]),
    wrong("activations_impl", "sigmoid through keras.activations.get", says="must not use", gap=True,
          edits=[("return 1.0 / (1.0 + tf.exp(-z))", 'return keras.activations.get("sig" + "moid")(z)')]),
    wrong("activations_impl", "relu through getattr", says="must not use", gap=True,
          edits=[("return tf.maximum(z, 0.0)", 'return getattr(tf.nn, "re" + "lu")(z)')]),
    wrong("activations_impl", "a stable sigmoid through |z| (slope 0 at z = 0)", says="z = 0", gap=True,
          edits=[("return 1.0 / (1.0 + tf.exp(-z))",
                  "e = tf.exp(-tf.abs(z))\n    return tf.where(z >= 0, 1 / (1 + e), e / (1 + e))")]),
    right("activations_impl", "a stable sigmoid for both signs, each branch fed its own side",
          edits=[("return 1.0 / (1.0 + tf.exp(-z))",
                  "pos = tf.where(z >= 0, z, tf.zeros_like(z))\n    neg = tf.where(z < 0, z, tf.zeros_like(z))\n"
                  "    return tf.where(z >= 0, 1 / (1 + tf.exp(-pos)), tf.exp(neg) / (1 + tf.exp(neg)))")]),
    right("activations_impl", "sigmoid via tanh, relu via tf.where",
          edits=[("return 1.0 / (1.0 + tf.exp(-z))", "return 0.5 * (1 + tf.tanh(z / 2))"),
                 ("return tf.maximum(z, 0.0)", "return tf.where(z > 0, z, tf.zeros_like(z))")]),

    # Exercise 3: perceptron_forward
    wrong("perceptron_impl", "bias left out", says="bias",
          edits=[("return sigmoid(tf.linalg.matvec(x, w) + b)", "return sigmoid(tf.linalg.matvec(x, w))")]),
    wrong("perceptron_impl", "x @ w with a 1-D w", says="matvec",
          edits=[("return sigmoid(tf.linalg.matvec(x, w) + b)", "return sigmoid(x @ w + b)")]),
    wrong("perceptron_impl", "(n, 1) column kept", says="(n,)",
          edits=[("return sigmoid(tf.linalg.matvec(x, w) + b)",
                  "return sigmoid(tf.matmul(x, tf.reshape(w, (-1, 1))) + b)")]),
    wrong("perceptron_impl", "tf.nn.sigmoid instead of own sigmoid", says="sigmoid",
          edits=[("return sigmoid(tf.linalg.matvec(x, w) + b)", "return tf.nn.sigmoid(tf.linalg.matvec(x, w) + b)")]),
    wrong("perceptron_impl", "a NumPy array returned", says="tensor", gap=True,
          edits=[("return sigmoid(tf.linalg.matvec(x, w) + b)", "return sigmoid(tf.linalg.matvec(x, w) + b).numpy()")]),
    wrong("perceptron_impl", "the product computed in NumPy", says="differentiate", gap=True,
          edits=[("return sigmoid(tf.linalg.matvec(x, w) + b)",
                  "return sigmoid(tf.constant(x.numpy() @ w.numpy()) + b)")]),
    right("perceptron_impl", "column vector and squeeze",
          edits=[("return sigmoid(tf.linalg.matvec(x, w) + b)",
                  "z = tf.squeeze(x @ tf.reshape(w, [-1, 1]), axis=1) + b\n    return sigmoid(z)")]),

    # Exercise 4: DenseLayer
    wrong("dense_layer_impl", "activation not applied", says="activation",
          edits=[("return self.activation(tf.matmul(x, self.W) + self.b)", "return tf.matmul(x, self.W) + self.b")]),
    wrong("dense_layer_impl", "W initialised with zeros", says="glorot",
          edits=[('initializer="glorot_uniform"', 'initializer="zeros"')]),
    wrong("dense_layer_impl", "bias not trainable", says="trainable",
          edits=[('initializer="zeros", trainable=True', 'initializer="zeros", trainable=False')]),
    wrong("dense_layer_impl", "W from random_normal", says="glorot_uniform", gap=True,
          edits=[('initializer="glorot_uniform"', 'initializer="random_normal"')]),
    right("dense_layer_impl", "x @ W with tensordot",
          edits=[("return self.activation(tf.matmul(x, self.W) + self.b)",
                  "z = tf.tensordot(x, self.W, axes=1) + self.b\n        return self.activation(z)")]),

    # Exercise 5: losses
    wrong("losses_impl", "no clipping", says="clip",
          edits=[("    y_pred = tf.clip_by_value(y_pred, eps, 1 - eps)\n", "")]),
    wrong("losses_impl", "sum instead of mean", says="mean",
          edits=[("return -tf.reduce_mean(y_true", "return -tf.reduce_sum(y_true")]),
    wrong("losses_impl", "mean absolute error", says="square",
          edits=[("return tf.reduce_mean(tf.square(y_true - y_pred))",
                  "return tf.reduce_mean(tf.abs(y_true - y_pred))")]),
    wrong("losses_impl", "keras.losses for the cross-entropy", says="binary_crossentropy",
          edits=[("return -tf.reduce_mean(y_true * tf.math.log(y_pred) + (1 - y_true) * tf.math.log(1 - y_pred))",
                  "return tf.reduce_mean(keras.losses.binary_crossentropy(y_true[:, None], y_pred[:, None]))")]),
    wrong("losses_impl", "cross-entropy computed in NumPy", says="differentiate", gap=True,
          edits=[("return -tf.reduce_mean(y_true * tf.math.log(y_pred) + (1 - y_true) * tf.math.log(1 - y_pred))",
                  "t, q = y_true.numpy(), y_pred.numpy()\n"
                  "    return tf.constant(-np.mean(t * np.log(q) + (1 - t) * np.log(1 - q)), tf.float32)")]),
    right("losses_impl", "eps added inside the logs",
          edits=[("    y_pred = tf.clip_by_value(y_pred, eps, 1 - eps)\n", ""),
                 ("tf.math.log(y_pred) + (1 - y_true) * tf.math.log(1 - y_pred)",
                  "tf.math.log(y_pred + eps) + (1 - y_true) * tf.math.log(1 - y_pred + eps)")]),
    right("losses_impl", "clip with minimum/maximum and a sum divided by n",
          edits=[("y_pred = tf.clip_by_value(y_pred, eps, 1 - eps)",
                  "y_pred = tf.minimum(tf.maximum(y_pred, eps), 1 - eps)"),
                 ("return tf.reduce_mean(tf.square(y_true - y_pred))",
                  "diff = y_true - y_pred\n"
                  "    return tf.reduce_sum(diff * diff) / tf.cast(tf.size(diff), tf.float32)")]),

    # Exercise 6: gradient_step
    wrong("gradient_step_impl", "step uphill", says="uphill",
          edits=[("return w - learning_rate * dw, b - learning_rate * db, loss",
                  "return w + learning_rate * dw, b + learning_rate * db, loss")]),
    wrong("gradient_step_impl", "loss returned after the step", says="before",
          edits=[("return w - learning_rate * dw, b - learning_rate * db, loss",
                  "w.assign_sub(learning_rate * dw)\n    b.assign_sub(learning_rate * db)\n"
                  "    loss = binary_cross_entropy(y, perceptron_forward(x, w, b))\n    return w, b, loss")]),
    wrong("gradient_step_impl", "bias never updated", says="did not move",
          edits=[("b - learning_rate * db, loss", "b, loss")]),
    wrong("gradient_step_impl", "gradient written by hand instead of the tape", says="tape",
          edits=[("    with tf.GradientTape() as tape:\n"
                  "        loss = binary_cross_entropy(y, perceptron_forward(x, w, b))\n"
                  "    dw, db = tape.gradient(loss, [w, b])\n",
                  "    p = perceptron_forward(x, w, b)\n    loss = binary_cross_entropy(y, p)\n"
                  "    dw = tf.linalg.matvec(tf.transpose(tf.constant(x, tf.float32)), p - y) / len(y)\n"
                  "    db = tf.reduce_mean(p - y)\n")]),
    wrong("gradient_step_impl", "NumPy arrays returned", says="tensors", gap=True,
          edits=[("return w - learning_rate * dw, b - learning_rate * db, loss",
                  "return (w - learning_rate * dw).numpy(), (b - learning_rate * db).numpy(), loss")]),
    right("gradient_step_impl", "one tape.gradient call per parameter",
          edits=[("    with tf.GradientTape() as tape:", "    with tf.GradientTape(persistent=True) as tape:"),
                 ("    dw, db = tape.gradient(loss, [w, b])",
                  "    dw = tape.gradient(loss, w)\n    db = tape.gradient(loss, b)")]),
    right("gradient_step_impl", "assign_sub on the variables",
          edits=[("return w - learning_rate * dw, b - learning_rate * db, loss",
                  "w.assign_sub(learning_rate * dw)\n    b.assign_sub(learning_rate * db)\n    return w, b, loss")]),

    # Exercise 7: build_mlp
    wrong("mlp_impl", "softmax output layer", says="softmax",
          edits=[("keras.layers.Dense(10)]", 'keras.layers.Dense(10, activation="softmax")]')]),
    wrong("mlp_impl", "no hidden activation", says="linear",
          edits=[('keras.layers.Dense(256, activation="relu")', "keras.layers.Dense(256)")]),
    wrong("mlp_impl", "dropout left out", says="dropout",
          edits=[(" keras.layers.Dropout(0.2),", "")]),
    wrong("mlp_impl", "dropout on the logits", says="after the output layer", gap=True,
          edits=[(" keras.layers.Dropout(0.2),\n", "\n"),
                 ("keras.layers.Dense(10)]", "keras.layers.Dense(10), keras.layers.Dropout(0.2)]")]),
    wrong("mlp_impl", "ReLU on the output layer", says="logits", gap=True,
          edits=[("keras.layers.Dense(10)]", 'keras.layers.Dense(10, activation="relu")]')]),
    right("mlp_impl", "Reshape and a separate ReLU layer",
          source='''def build_mlp():
    """A Keras model mapping images (batch, 28, 28) to logits (batch, 10)."""
    model = keras.Sequential()
    model.add(keras.Input(shape=(28, 28)))
    model.add(keras.layers.Reshape((28 * 28,)))
    model.add(keras.layers.Dense(256))
    model.add(keras.layers.ReLU())
    model.add(keras.layers.Dropout(rate=0.2))
    model.add(keras.layers.Dense(10))
    return model
'''),

    # Exercise 8: train_step
    wrong("train_step_impl", "training=True left out", says="training=True",
          edits=[("model(x, training=True)", "model(x)")]),
    wrong("train_step_impl", "gradients never applied", says="apply_gradients",
          edits=[("    optimizer.apply_gradients(zip(grads, model.trainable_variables))\n", "")]),
    wrong("train_step_impl", "loss on logits as if they were probabilities", says="from_logits",
          edits=[("loss = loss_fn(y, model(x, training=True))",
                  "loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x, training=True)))")]),
    wrong("train_step_impl", "loss returned as a NumPy number", says="tf.function", gap=True,
          edits=[("    return loss\n", "    return loss.numpy()\n")]),
    right("train_step_impl", "optimizer.apply with the trainable weights",
          edits=[("grads = tape.gradient(loss, model.trainable_variables)",
                  "grads = tape.gradient(loss, model.trainable_weights)"),
                 ("optimizer.apply_gradients(zip(grads, model.trainable_variables))",
                  "optimizer.apply(grads, model.trainable_weights)")]),
]
