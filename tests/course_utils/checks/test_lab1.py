"""The Lab 1 public checks pass on correct code and fail, helpfully, on typical mistakes."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from course_utils.checks import lab1  # noqa: E402


def sigmoid(z):
    return 1 / (1 + tf.exp(-tf.convert_to_tensor(z, tf.float32)))


def relu(z):
    return tf.maximum(tf.convert_to_tensor(z, tf.float32), 0.0)


def perceptron(x, w, b):
    return sigmoid(tf.linalg.matvec(tf.convert_to_tensor(x, tf.float32), tf.cast(w, tf.float32)) + b)


def tape_gradient(x):
    x = tf.convert_to_tensor(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        f = tf.reduce_sum(x**3 - 2 * x)
    return tape.gradient(f, x)


class Dense(keras.layers.Layer):
    def __init__(self, units, activation=None):
        super().__init__()
        self.units, self.activation = units, keras.activations.get(activation)

    def build(self, shape):
        self.W = self.add_weight(shape=(shape[-1], self.units), initializer="glorot_uniform")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros")

    def call(self, x):
        return self.activation(x @ self.W + self.b)


def bce(y, p, eps=1e-7):
    p = tf.clip_by_value(tf.convert_to_tensor(p, tf.float32), eps, 1 - eps)
    return -tf.reduce_mean(y * tf.math.log(p) + (1 - y) * tf.math.log(1 - p))


def mse(y, p):
    return tf.reduce_mean((tf.convert_to_tensor(y) - p) ** 2)


def step(w, b, x, y, lr):
    w, b = tf.Variable(w), tf.Variable(b)
    with tf.GradientTape() as tape:
        loss = bce(y, perceptron(x, w, b))
    dw, db = tape.gradient(loss, [w, b])
    return w - lr * dw, b - lr * db, loss


def build_mlp():
    return keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(32, activation="relu"),
                             keras.layers.Dense(10)])


def train_step(model, optimizer, x, y):
    with tf.GradientTape() as tape:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, model(x, training=True))
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    return loss


def unfinished(*args, **kwargs):
    raise NotImplementedError()


CASES = [
    (lab1.check_tape_gradient, (tape_gradient,), [((lambda x: 3 * np.asarray(x) ** 2),), (unfinished,)]),
    (lab1.check_activations, (sigmoid, relu), [(sigmoid, tf.abs), (lambda z: 1 / (1 + tf.exp(z)), relu)]),
    (lab1.check_perceptron, (perceptron,), [(lambda x, w, b: x @ w + b,), (lambda x, w, b: sigmoid(x @ w),)]),
    (lab1.check_dense_layer, (Dense,), []),
    (lab1.check_losses, (bce, mse), [(mse, mse), (bce, lambda y, p: tf.reduce_mean(tf.abs(y - p)))]),
    (lab1.check_gradient_step, (step,), [(lambda w, b, x, y, lr: (w, b, 0.0),), (unfinished,)]),
    (lab1.check_mlp, (build_mlp,), [(lambda: keras.Sequential([keras.Input((28, 28)), keras.layers.Dense(10)]),)]),
    (lab1.check_train_step, (train_step, build_mlp),
     [(lambda model, opt, x, y: keras.losses.SparseCategoricalCrossentropy(True)(y, model(x)), build_mlp)]),
]


@pytest.mark.parametrize("check, good, wrongs", CASES, ids=[c[0].__name__ for c in CASES])
def test_public_check_verdicts(check, good, wrongs, capsys):
    assert check(*good).passed, capsys.readouterr().out
    for wrong in wrongs:
        result = check(*wrong)
        assert not result.passed and result.problems and result.problems[0].strip()
        assert "FAILED" in capsys.readouterr().out


def test_dense_layer_without_weights_is_explained():
    class NoWeights(keras.layers.Layer):
        def __init__(self, units, activation=None):
            super().__init__()

        def call(self, x):
            return x

    result = lab1.check_dense_layer(NoWeights)
    assert not result.passed and "self.W" in result.problems[0]


def test_unfinished_exercise_is_a_failed_check_not_a_crash():
    result = lab1.check_tape_gradient(unfinished)
    assert not result.passed and "not written yet" in result.problems[0]


def test_shape_mismatch_is_reported():
    result = lab1.check_perceptron(lambda x, w, b: tf.reshape(perceptron(x, w, b), (-1, 1)))
    assert "shape (4, 1), expected (4,)" in result.problems[0]
