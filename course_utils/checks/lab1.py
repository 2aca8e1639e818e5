"""Public checks for Lab 1: the perceptron and training basics.

Each check compares the student's function with a NumPy/Keras reference on
fixed inputs and prints PASSED or what to fix.
"""

from __future__ import annotations

import numpy as np

from course_utils.checks import public_check, require, require_close
from course_utils.runtime import budget


def _x(shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype(np.float32)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@public_check
def check_tape_gradient(tape_gradient):
    """d/dx sum(x**3 - 2x) = 3x**2 - 2, elementwise, same shape as x."""
    x = _x((5,))
    got = tape_gradient(x)
    require(got is not None, "tape_gradient returned None: did you watch x (tape.watch(x)) inside the tape?")
    require_close(got, 3 * x**2 - 2, what="gradient", atol=1e-4)


@public_check
def check_activations(sigmoid, relu):
    """sigmoid and relu agree with their definitions, including large |z| (no NaN)."""
    z = np.linspace(-20, 20, 41, dtype=np.float32)
    require_close(sigmoid(z), _sigmoid(z), what="sigmoid(z)", atol=1e-6)
    require_close(relu(z), np.maximum(z, 0), what="relu(z)", atol=1e-6)


@public_check
def check_perceptron(perceptron_forward):
    """y_hat = sigmoid(x @ w + b) with x: (n, d), w: (d,), b: scalar -> (n,)."""
    x, w, b = _x((4, 3)), _x((3,), seed=1), np.float32(0.5)
    got = perceptron_forward(x, w, b)
    require_close(got, _sigmoid(x @ w + b), what="perceptron output", atol=1e-5)


@public_check
def check_dense_layer(DenseLayer):  # noqa: N803 (a class is passed)
    """A DenseLayer(units) builds W: (d_in, units), b: (units,) and returns activation(x @ W + b)."""
    x = _x((2, 4))
    layer = DenseLayer(3, activation="sigmoid")
    layer.build(x.shape)
    require(hasattr(layer, "W") and hasattr(layer, "b"), "build() must create self.W and self.b")
    require(tuple(layer.W.shape) == (4, 3), f"W has shape {tuple(layer.W.shape)}, expected (d_in, units) = (4, 3)")
    require(tuple(layer.b.shape) == (3,), f"b has shape {tuple(layer.b.shape)}, expected (units,) = (3,)")
    require(len(layer.trainable_weights) == 2, "W and b must be created with self.add_weight(..., trainable=True)")
    w, b = _x((4, 3), seed=2), _x((3,), seed=3)
    layer.W.assign(w)
    layer.b.assign(b)
    require_close(layer(x), _sigmoid(x @ w + b), what="layer output", atol=1e-5)


@public_check
def check_losses(binary_cross_entropy, mean_squared_error):
    """Hand-written losses agree with Keras' BinaryCrossentropy and MeanSquaredError."""
    import keras

    y_true = np.array([1, 0, 1, 1, 0], dtype=np.float32)
    y_pred = np.array([0.9, 0.2, 0.6, 0.3, 0.4], dtype=np.float32)
    require_close(binary_cross_entropy(y_true, y_pred), keras.losses.BinaryCrossentropy()(y_true, y_pred),
                  what="binary cross-entropy", atol=1e-5)
    require_close(mean_squared_error(y_true, y_pred), keras.losses.MeanSquaredError()(y_true, y_pred),
                  what="mean squared error", atol=1e-6)


@public_check
def check_gradient_step(gradient_step):
    """One gradient-descent step moves (w, b) by -learning_rate * gradient of the mean BCE."""
    x, y = _x((6, 2)), np.array([1, 0, 1, 0, 1, 1], dtype=np.float32)
    w, b, lr = np.array([0.3, -0.2], dtype=np.float32), np.float32(0.1), 0.5
    new_w, new_b, loss = gradient_step(w, b, x, y, lr)
    p = _sigmoid(x @ w + b)
    require_close(new_w, w - lr * x.T @ (p - y) / len(y), what="new w", atol=1e-5)
    require_close(new_b, b - lr * np.mean(p - y), what="new b", atol=1e-5)
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    require_close(loss, expected, what="loss (before the step)", atol=1e-5)


@public_check
def check_mlp(build_mlp):
    """build_mlp() maps a batch of 28x28 images to 10 logits per image."""
    model = build_mlp()
    out = np.asarray(model(np.zeros((3, 28, 28), np.float32), training=False))
    require(out.shape == (3, 10), f"the model's output has shape {out.shape}, expected (batch, 10) = (3, 10)")
    require(model.count_params() < 2_000_000, f"{model.count_params():,} parameters: keep the MLP small")


@public_check
def check_train_step(train_step, build_mlp):
    """Repeated train_step calls on one batch lower its loss and return it as a scalar."""
    import keras

    model, optimizer = build_mlp(), keras.optimizers.Adam(1e-3)
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 28, 28), dtype=np.float32), rng.integers(0, 10, 32)
    losses = [float(train_step(model, optimizer, x, y)) for _ in range(15)]
    require(np.all(np.isfinite(losses)), "the loss became NaN or infinite")
    require(losses[-1] < 0.7 * losses[0],
            f"the loss went from {losses[0]:.3f} to {losses[-1]:.3f} in 15 steps on one batch: "
            "are the gradients applied with optimizer.apply_gradients?")


def mnist_accuracy_threshold() -> float:
    """Test accuracy a correct solution reaches with this run mode's training budget."""
    return budget(full=0.975, smoke=0.75)


@public_check
def check_mnist_accuracy(model, x_test, y_test):
    """The trained MLP's accuracy on the test images reaches this run mode's threshold."""
    logits = np.asarray(model(x_test, training=False))
    accuracy = float(np.mean(np.argmax(logits, axis=1) == y_test))
    print(f"test accuracy: {accuracy:.4f}")
    threshold = mnist_accuracy_threshold()
    require(accuracy >= threshold, f"test accuracy {accuracy:.4f} is below {threshold}: "
            "check the learning rate, the number of epochs and that x is scaled to [0, 1]")
