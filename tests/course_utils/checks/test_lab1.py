"""The Lab 1 public checks pass right answers (however written) and fail typical mistakes, naming them."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from course_utils.checks import lab1  # noqa: E402
from grader.mutants import lab1 as catalogue  # noqa: E402
from tests.conftest import REPO, judge_catalogue_entry, solution_namespace  # noqa: E402


def sigmoid(z):
    return 1 / (1 + tf.exp(-tf.convert_to_tensor(z, tf.float32)))


def relu(z):
    return tf.maximum(tf.convert_to_tensor(z, tf.float32), 0.0)


def perceptron(x, w, b):
    return sigmoid(tf.linalg.matvec(tf.convert_to_tensor(x, tf.float32), tf.cast(w, tf.float32)) + b)


def tape_gradient(f, x):
    x = tf.convert_to_tensor(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    return tape.gradient(y, x)


def tape_gradient_variable(f, x):
    v = tf.Variable(tf.convert_to_tensor(x, tf.float32))
    with tf.GradientTape() as tape:
        y = f(v)
    return tape.gradient(y, v)


def tape_formula(f, x):
    with tf.GradientTape():
        return 3 * tf.convert_to_tensor(x, tf.float32) ** 2 - 2


def formula_only(f, x):
    return 3 * np.asarray(x) ** 2 - 2


def tape_unwatched(f, x):
    x = tf.convert_to_tensor(x, tf.float32)
    with tf.GradientTape() as tape:
        y = f(x)
    return tape.gradient(y, x)


def tape_finite_differences(f, x):
    x = tf.convert_to_tensor(x, tf.float32)
    with tf.GradientTape():
        pass
    flat, h, grads = tf.reshape(x, [-1]), 1e-2, []
    for i in range(flat.shape[0]):
        e = tf.one_hot(i, flat.shape[0])
        grads.append((f(tf.reshape(flat + h * e, x.shape)) - f(tf.reshape(flat - h * e, x.shape))) / (2 * h))
    return tf.reshape(tf.stack(grads), x.shape)


def sigmoid_shortcut(z):
    return tf.nn.sigmoid(z)


def sigmoid_math_alias(z):
    from tensorflow import math as m

    return m.sigmoid(z)


def sigmoid_numpy(z):
    return 1 / (1 + np.exp(-np.asarray(z)))


def sigmoid_tanh(z):
    return 0.5 * (1 + tf.tanh(tf.convert_to_tensor(z, tf.float32) / 2))


def relu_shortcut(z):
    return tf.nn.relu(z)


def relu_where(z):
    z = tf.convert_to_tensor(z, tf.float32)
    return tf.where(z > 0, z, tf.zeros_like(z))


def perceptron_nn_sigmoid(x, w, b):
    return tf.nn.sigmoid(tf.linalg.matvec(tf.convert_to_tensor(x, tf.float32), tf.cast(w, tf.float32)) + b)


def perceptron_matmul(x, w, b):
    return sigmoid(tf.convert_to_tensor(x, tf.float32) @ tf.convert_to_tensor(w, tf.float32) + b)


def perceptron_column(x, w, b):
    return sigmoid(tf.matmul(tf.convert_to_tensor(x, tf.float32), tf.reshape(tf.cast(w, tf.float32), (-1, 1))) + b)


def perceptron_squeezed(x, w, b):
    column = tf.reshape(tf.cast(w, tf.float32), (-1, 1))
    return sigmoid(tf.squeeze(tf.convert_to_tensor(x, tf.float32) @ column, axis=1) + b)


class Dense(keras.layers.Layer):
    def __init__(self, units, activation=None, w_init="glorot_uniform", apply_activation=True, b_trainable=True):
        super().__init__()
        self.units, self.activation = units, keras.activations.get(activation)
        self.w_init, self.apply_activation, self.b_trainable = w_init, apply_activation, b_trainable

    def build(self, shape):
        self.W = self.add_weight(shape=(shape[-1], self.units), initializer=self.w_init)
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=self.b_trainable)

    def call(self, x):
        z = x @ self.W + self.b
        return self.activation(z) if self.apply_activation else z


def bce(y, p, eps=1e-7):
    p = tf.clip_by_value(tf.convert_to_tensor(p, tf.float32), eps, 1 - eps)
    return -tf.reduce_mean(y * tf.math.log(p) + (1 - y) * tf.math.log(1 - p))


def bce_unclipped(y, p, eps=1e-7):
    p = tf.convert_to_tensor(p, tf.float32)
    return -tf.reduce_mean(y * tf.math.log(p) + (1 - y) * tf.math.log(1 - p))


def bce_fixed_eps(y, p, eps=1e-7):
    return bce(y, p, 1e-7)


def bce_summed(y, p, eps=1e-7):
    return bce(y, p, eps) * len(y)


def bce_keras(y, p, eps=1e-7):
    return keras.losses.binary_crossentropy(y[:, None], p[:, None])


def bce_plus_eps(y, p, eps=1e-7):
    p = tf.convert_to_tensor(p, tf.float32)
    return -tf.reduce_mean(y * tf.math.log(p + eps) + (1 - y) * tf.math.log(1 - p + eps))


def mse(y, p):
    return tf.reduce_mean((tf.convert_to_tensor(y) - p) ** 2)


def mae(y, p):
    return tf.reduce_mean(tf.abs(tf.convert_to_tensor(y) - p))


def make_step(direction=-1, loss_after=False, variables=True):
    def gradient_step(w, b, x, y, lr):
        w, b = (tf.Variable(w), tf.Variable(b)) if variables else (tf.constant(w), tf.constant(b))
        with tf.GradientTape() as tape:
            loss = binary_cross_entropy(y, perceptron_forward(x, w, b))
        dw, db = tape.gradient(loss, [w, b])
        new_w, new_b = w + direction * lr * dw, b + direction * lr * db
        if loss_after:
            loss = binary_cross_entropy(y, perceptron_forward(x, new_w, new_b))
        return new_w, new_b, loss

    return gradient_step


def step_by_formula(w, b, x, y, lr):
    p = perceptron_forward(x, w, b)
    loss = binary_cross_entropy(y, p)
    dw, db = tf.linalg.matvec(tf.transpose(x), p - y) / len(y), tf.reduce_mean(p - y)
    return w - lr * dw, b - lr * db, loss


# Globals that gradient_step calls: deliberately wrong, so a check that used them would fail.
perceptron_forward = perceptron_nn_sigmoid
binary_cross_entropy = bce_summed


def mlp(*layers):
    return lambda: keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), *layers])


GOOD_MLP = mlp(keras.layers.Dense(256, activation="relu"), keras.layers.Dropout(0.2), keras.layers.Dense(10))


def train_step(model, optimizer, x, y, training=True, apply=True):
    with tf.GradientTape() as tape:
        logits = model(x, training=True) if training else model(x)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits)
    grads = tape.gradient(loss, model.trainable_variables)
    if apply:
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss


def train_step_probabilities(model, optimizer, x, y):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x, training=True)))
    optimizer.apply(tape.gradient(loss, model.trainable_weights), model.trainable_weights)
    return loss


def train_step_apply(model, optimizer, x, y):
    with tf.GradientTape() as tape:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, model(x, training=True))
    optimizer.apply(tape.gradient(loss, model.trainable_weights), model.trainable_weights)
    return loss


def unfinished(*args, **kwargs):
    raise NotImplementedError()


RIGHT = [
    (lab1.check_tape_gradient, (tape_gradient,)),
    (lab1.check_tape_gradient, (tape_gradient_variable,)),
    (lab1.check_activations, (sigmoid, relu)),
    (lab1.check_activations, (sigmoid_tanh, relu_where)),
    (lab1.check_perceptron, (perceptron,)),
    (lab1.check_perceptron, (perceptron_squeezed,)),
    (lab1.check_dense_layer, (Dense,)),
    (lab1.check_losses, (bce, mse)),
    (lab1.check_losses, (bce_plus_eps, mse)),
    (lab1.check_gradient_step, (make_step(),)),
    (lab1.check_mlp, (GOOD_MLP,)),
    (lab1.check_mlp, (mlp(keras.layers.Dense(256), keras.layers.ReLU(), keras.layers.Dropout(0.2),
                          keras.layers.Dense(10)),)),
    (lab1.check_train_step, (train_step,)),
    (lab1.check_train_step, (train_step_apply,)),
]

WRONG = [  # (check, arguments, a word the message must contain)
    (lab1.check_tape_gradient, (formula_only,), "GradientTape"),
    (lab1.check_tape_gradient, (tape_formula,), "formula"),
    (lab1.check_tape_gradient, (tape_unwatched,), "watch"),
    (lab1.check_tape_gradient, (tape_finite_differences,), "finite-difference"),
    (lab1.check_tape_gradient, (unfinished,), "not written yet"),
    (lab1.check_activations, (sigmoid_shortcut, relu), "nn.sigmoid"),
    (lab1.check_activations, (sigmoid_math_alias, relu), "math.sigmoid"),
    (lab1.check_activations, (sigmoid, relu_shortcut), "nn.relu"),
    (lab1.check_activations, (lambda z: 1 / (1 + tf.exp(z)), relu), "sign"),
    (lab1.check_activations, (sigmoid, tf.abs), "|z|"),
    (lab1.check_activations, (sigmoid_numpy, relu), "differentiate"),
    (lab1.check_perceptron, (lambda x, w, b: sigmoid(tf.linalg.matvec(x, w)),), "bias"),
    (lab1.check_perceptron, (lambda x, w, b: tf.linalg.matvec(x, w) + b,), "sigmoid is missing"),
    (lab1.check_perceptron, (perceptron_matmul,), "matvec"),
    (lab1.check_perceptron, (perceptron_column,), "(n,)"),
    (lab1.check_perceptron, (perceptron_nn_sigmoid,), "your sigmoid"),
    (lab1.check_dense_layer, (lambda units, activation=None: Dense(units, activation, apply_activation=False),),
     "activation"),
    (lab1.check_dense_layer, (lambda units, activation=None: Dense(units, activation, w_init="zeros"),), "glorot"),
    (lab1.check_dense_layer, (lambda units, activation=None: Dense(units, activation, b_trainable=False),),
     "trainable"),
    (lab1.check_losses, (bce_unclipped, mse), "clip"),
    (lab1.check_losses, (bce_fixed_eps, mse), "eps argument"),
    (lab1.check_losses, (bce_summed, mse), "mean"),
    (lab1.check_losses, (bce_keras, mse), "losses.binary_crossentropy"),
    (lab1.check_losses, (lambda y, p, eps=1e-7: -bce(y, p, eps), mse), "minus sign"),
    (lab1.check_losses, (bce, mae), "square"),
    (lab1.check_gradient_step, (make_step(direction=1),), "uphill"),
    (lab1.check_gradient_step, (make_step(loss_after=True),), "before"),
    (lab1.check_gradient_step, (make_step(variables=False),), "None"),
    (lab1.check_gradient_step, (lambda w, b, x, y, lr: (w, b, 0.0),), "did not move"),
    (lab1.check_gradient_step, (step_by_formula,), "tape.gradient"),
    (lab1.check_mlp, (mlp(keras.layers.Dense(256, activation="relu"), keras.layers.Dropout(0.2),
                          keras.layers.Dense(10, activation="softmax")),), "softmax"),
    (lab1.check_mlp, (mlp(keras.layers.Dense(256), keras.layers.Dropout(0.2), keras.layers.Dense(10)),), "linear"),
    (lab1.check_mlp, (mlp(keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10)),), "dropout"),
    (lab1.check_mlp, (mlp(keras.layers.Dense(128, activation="relu"), keras.layers.Dropout(0.2),
                          keras.layers.Dense(10)),), "parameters"),
    (lab1.check_train_step, (lambda *a: train_step(*a, training=False),), "training=True"),
    (lab1.check_train_step, (lambda *a: train_step(*a, apply=False),), "apply_gradients"),
    (lab1.check_train_step, (train_step_probabilities,), "from_logits"),
]


@pytest.mark.parametrize("check, arguments", RIGHT, ids=[f"{c.__name__}-{i}" for i, (c, _) in enumerate(RIGHT)])
def test_right_answers_pass(check, arguments, capsys):
    assert check(*arguments).passed, capsys.readouterr().out


@pytest.mark.parametrize("check, arguments, word", WRONG, ids=[w for _, _, w in WRONG])
def test_wrong_answers_fail_naming_the_mistake(check, arguments, word, capsys):
    result = check(*arguments)
    assert not result.passed and word.lower() in result.problems[0].lower(), result.problems
    assert "FAILED" in capsys.readouterr().out


def test_later_exercises_use_the_reference_upstream_functions():
    # This module's perceptron_forward and binary_cross_entropy are wrong; step calls them by name.
    assert lab1.check_gradient_step(make_step()).passed


def tape_finite_differences_float64(f, x):
    """Central differences in float64, accurate to about 1e-9, next to a tape that does nothing."""
    x = np.asarray(x, dtype=np.float64)
    with tf.GradientTape():
        pass
    grads = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = 1e-5
        up, down = (float(f(tf.constant(x + s))) for s in (step, -step))
        grads[index] = (up - down) / 2e-5
    return tf.constant(grads, tf.float32)


def sigmoid_exp_ratio(z):
    e = tf.exp(tf.convert_to_tensor(z, tf.float32))
    return e / (1 + e)


def sigmoid_keras_get(z):
    return keras.activations.get("sig" + "moid")(tf.convert_to_tensor(z, tf.float32))


def bce_numpy(y, p, eps=1e-7):
    p = np.clip(np.asarray(p, np.float64), eps, 1 - eps)
    return tf.constant(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), tf.float32)


def train_step_numpy(model, optimizer, x, y):
    return train_step(model, optimizer, x, y).numpy()


def step_numpy(w, b, x, y, lr):
    w, b = tf.Variable(w), tf.Variable(b)
    with tf.GradientTape() as tape:
        loss = binary_cross_entropy(y, perceptron_forward(x, w, b))
    dw, db = tape.gradient(loss, [w, b])
    return (w - lr * dw).numpy(), (b - lr * db).numpy(), loss


CONTRACTS = [  # (check, arguments, a word the message must contain): answers that read the old checks' gaps
    (lab1.check_tape_gradient, (tape_finite_differences_float64,), "custom_gradient"),
    (lab1.check_activations, (sigmoid_exp_ratio, relu), "overflows"),
    (lab1.check_activations, (sigmoid_keras_get, relu), "must not use"),
    (lab1.check_perceptron, (lambda x, w, b: perceptron(x, w, b).numpy(),), "tensor"),
    (lab1.check_perceptron, (lambda x, w, b: sigmoid(np.asarray(x) @ np.asarray(w) + b),), "differentiate"),
    (lab1.check_dense_layer, (lambda units, activation=None: Dense(units, activation, w_init="random_normal"),),
     "glorot_uniform"),
    (lab1.check_losses, (bce_numpy, mse), "differentiate"),
    (lab1.check_gradient_step, (step_numpy,), "tensors"),
    (lab1.check_mlp, (mlp(keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10),
                          keras.layers.Dropout(0.2)),), "after the output layer"),
    (lab1.check_mlp, (mlp(keras.layers.Dense(256, activation="relu"), keras.layers.Dropout(0.2),
                          keras.layers.Dense(10, activation="relu")),), "logits"),
    (lab1.check_train_step, (train_step_numpy,), "tf.function"),
]


@pytest.mark.parametrize("check, arguments, word", CONTRACTS, ids=[w for _, _, w in CONTRACTS])
def test_contracts_and_hidden_shortcuts_fail_publicly(check, arguments, word, capsys):
    result = check(*arguments)
    assert not result.passed and word.lower() in result.problems[0].lower(), result.problems


def _check_after_each_answer() -> dict[str, str]:
    """{answer cell grade_id: source of the check cell that follows it} in the solution notebook."""
    import nbformat

    cells = nbformat.read(REPO / "solutions" / "lab1_perceptron" / "lab1_perceptron.ipynb", as_version=4).cells
    checks, answer = {}, None
    for cell in cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            answer = meta["grade_id"]
        elif meta.get("grade") and cell.cell_type == "code" and answer:
            checks[answer], answer = cell.source, None
    return checks


CHECK_AFTER = _check_after_each_answer()


@pytest.fixture(scope="module")
def solution() -> dict:
    return solution_namespace("lab1_perceptron", np=np, tf=tf, keras=keras, checks=lab1)


@pytest.mark.parametrize("mutant", catalogue.MUTANTS, ids=lambda m: f"{'right' if m.correct else 'wrong'}-{m.name}")
def test_public_checks_judge_the_catalogue(solution, mutant):
    judge_catalogue_entry("lab1", mutant, solution, lambda scope: eval(CHECK_AFTER[mutant.cell], scope))
