"""Hidden checks for Lab 1. Inputs differ from the public checks; references are computed here."""

import numpy as np

from course_utils.checks.lab1 import mnist_accuracy_threshold
from course_utils.datasets import load_mnist
from grader.harness import expect, expect_close, points

RNG = np.random.default_rng(20261123)


def _normal(*shape, scale=1.0):
    return (RNG.normal(size=shape) * scale).astype(np.float32)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z.astype(np.float64)))


@points(1, question="tape_gradient")
def test_tape_gradient_on_a_matrix(student):
    x = _normal(3, 4, scale=2.0)
    expect_close(student.call("tape_gradient", x), 3 * x.astype(np.float64) ** 2 - 2, what="gradient",
                 atol=1e-3, rtol=1e-5)


@points(1, question="activations")
def test_sigmoid_far_from_zero(student):
    z = np.concatenate([np.linspace(-60, 60, 97), [0.0]]).astype(np.float32).reshape(7, 14)
    expect_close(student.call("sigmoid", z), _sigmoid(z), what="sigmoid on large |z| (a 7x14 input)", atol=1e-6)


@points(1, question="activations")
def test_relu_keeps_shape(student):
    z = _normal(2, 3, 5)
    expect_close(student.call("relu", z), np.maximum(z, 0), what="relu on a (2, 3, 5) input", atol=0)


@points(1, question="perceptron")
def test_perceptron_batch(student):
    x, w, b = _normal(9, 6), _normal(6), np.float32(-0.7)
    expect_close(student.call("perceptron_forward", x, w, b), _sigmoid(x @ w + b), what="perceptron output",
                 atol=1e-5)


@points(1, question="perceptron")
def test_perceptron_single_feature(student):
    x, w, b = _normal(1, 1), _normal(1), np.float32(2.0)
    expect_close(student.call("perceptron_forward", x, w, b), _sigmoid(x @ w + b),
                 what="perceptron output for one example with one feature", atol=1e-5)


_RUN_LAYER = ("lambda x, W, b, act: [layer := DenseLayer(W.shape[1], activation=act), layer.build(x.shape), "
              "layer.W.assign(W), layer.b.assign(b), layer(x)][-1]")


@points(1, question="dense_layer")
def test_dense_layer_relu_output(student):
    x, w, b = _normal(5, 7), _normal(7, 4), _normal(4)
    expect_close(student.call(_RUN_LAYER, x, w, b, "relu"), np.maximum(x @ w + b, 0),
                 what="DenseLayer(4, activation='relu') output", atol=1e-5)


@points(1, question="dense_layer")
def test_dense_layer_linear_and_weights(student):
    x, w, b = _normal(3, 2), _normal(2, 6), _normal(6)
    expect_close(student.call(_RUN_LAYER, x, w, b, None), x @ w + b,
                 what="DenseLayer(6) output without activation", atol=1e-5)
    shapes = student.call("lambda: [layer := DenseLayer(6), layer.build((None, 2)), "
                          "sorted(tuple(v.shape) for v in layer.trainable_weights)][-1]")
    expect(sorted(tuple(s) for s in shapes) == [(2, 6), (6,)],
           "DenseLayer(6) built for 2 inputs must have exactly two trainable weights, W (2, 6) and b (6,)")


@points(1, question="losses")
def test_binary_cross_entropy(student):
    y = (RNG.random(50) > 0.5).astype(np.float32)
    p = RNG.uniform(0.02, 0.98, 50).astype(np.float32)
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    expect_close(student.call("binary_cross_entropy", y, p), expected, what="binary cross-entropy", atol=1e-5)
    extreme = student.call("binary_cross_entropy", np.array([1.0, 0.0], np.float32),
                           np.array([0.0, 1.0], np.float32))
    expect(np.isfinite(extreme) and extreme > 10,
           "binary cross-entropy of confidently wrong predictions must be large but finite: clip y_pred")


@points(1, question="losses")
def test_mean_squared_error(student):
    y, p = _normal(40), _normal(40)
    expect_close(student.call("mean_squared_error", y, p), np.mean((y - p) ** 2), what="mean squared error",
                 atol=1e-5)


@points(1, question="gradient_step")
def test_gradient_step_moves_downhill(student):
    x, y = _normal(30, 3), (RNG.random(30) > 0.4).astype(np.float32)
    w, b, lr = _normal(3, scale=0.5), np.float32(-0.2), 0.3
    new_w, new_b, _ = student.call("gradient_step", w, b, x, y, lr)
    p = _sigmoid(x @ w + b)
    expect_close(new_w, w - lr * x.T @ (p - y) / len(y), what="new w", atol=1e-5)
    expect_close(new_b, b - lr * np.mean(p - y), what="new b", atol=1e-5)


@points(1, question="gradient_step")
def test_gradient_step_reports_loss_before_step(student):
    x, y = _normal(12, 2), (RNG.random(12) > 0.5).astype(np.float32)
    w, b = _normal(2), np.float32(0.4)
    _, _, loss = student.call("gradient_step", w, b, x, y, 0.1)
    p = _sigmoid(x @ w + b)
    expect_close(loss, -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), what="returned loss", atol=1e-5)


@points(1, question="mlp_model")
def test_mlp_output_shape(student):
    shape = student.call("lambda x: tuple(build_mlp()(x, training=False).shape)", np.zeros((7, 28, 28), np.float32))
    expect(tuple(shape) == (7, 10), f"build_mlp() gives output shape {tuple(shape)} for 7 images; expected (7, 10)")


@points(2, question="train_step")
def test_train_step_learns_a_batch(student):
    (x, y), _ = load_mnist()
    x, y = x[-64:].astype(np.float32) / 255.0, y[-64:].astype(np.int64)
    losses = student.call(
        "lambda x, y: [keras.utils.set_random_seed(3), model := build_mlp(), opt := keras.optimizers.Adam(1e-3), "
        "[float(train_step(model, opt, x, y)) for _ in range(25)]][-1]", x, y, _timeout=120)
    losses = np.asarray(losses, dtype=np.float64)
    expect(losses.shape == (25,) and np.all(np.isfinite(losses)), "train_step must return a finite scalar loss")
    expect(losses[-1] < 0.5 * losses[0], "25 train_step calls on one batch of digits did not halve its loss: "
                                         "are the gradients applied to model.trainable_variables?")


@points(2, question="mnist_accuracy")
def test_trained_mlp_accuracy(student):
    _, (x_test, y_test) = load_mnist()
    index = RNG.choice(len(x_test), 2000, replace=False)
    logits = student.call("lambda x: mlp(x, training=False)", x_test[index].astype(np.float32) / 255.0,
                          _timeout=120)
    expect(np.shape(logits) == (2000, 10), f"mlp gives outputs of shape {np.shape(logits)}, expected (n, 10)")
    accuracy = float(np.mean(np.argmax(logits, axis=1) == y_test[index]))
    threshold = mnist_accuracy_threshold()
    expect(accuracy >= threshold, f"the trained mlp's accuracy on held-out digits is {accuracy:.3f}, "
                                  f"below {threshold}")
