"""Hidden checks for Lab 4: adversarial attacks and defences.

The student's functions run in the sandboxed kernel on small models that the notebook never used (a tanh
MLP and a tanh conv net, with weights sent from here) and on inputs of other shapes than the public checks.
References are computed here with TensorFlow. Failure messages never reveal inputs or expected values.
"""

from __future__ import annotations

import numpy as np
import pytest

from grader.harness import expect, expect_close, points

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

# The same source builds the model here and, from the weights sent over, in the student's kernel.
_LAYERS = {
    "mlp": "K.layers.Flatten(), K.layers.Dense(16, activation='tanh'), K.layers.Dense(10)",
    "conv": "K.layers.Conv2D(4, 3, activation='tanh'), K.layers.Flatten(), K.layers.Dense(10)",
}
_SHAPES = {"mlp": (10, 10, 1), "conv": (9, 9, 2)}


def _build_source(kind: str) -> str:
    return f"(lambda K: K.Sequential([K.Input(tuple(shape)), {_LAYERS[kind]}]))(__import__('keras'))"


def _model_source(kind: str) -> str:
    return f"(lambda m: (m.set_weights(ws), m)[1])({_build_source(kind)})"


def _reference_model(kind: str, seed: int):
    """(trusted Keras model, its weights as arrays)."""
    keras.utils.set_random_seed(seed)
    shape = _SHAPES[kind]
    model = eval(_build_source(kind), {"shape": shape})
    rng = np.random.default_rng(seed)
    weights = [(w + rng.normal(0, 0.05, w.shape)).astype(np.float32) for w in model.get_weights()]
    model.set_weights(weights)
    return model, weights


def _inputs(kind: str, n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = np.clip(rng.uniform(-0.5, 1.5, (n, *_SHAPES[kind])), 0, 1).astype(np.float32)
    return x, rng.integers(0, 10, n).astype(np.int64)


def _call(student, kind: str, body: str, weights, *args):
    """Call ``lambda ws, shape, <args>: <body>`` in the student's kernel, where MODEL is the hidden model."""
    names = ", ".join(f"a{i}" for i in range(len(args)))
    expression = f"lambda ws, shape, {names}: " + body.replace("MODEL", _model_source(kind))
    return student.call(expression, weights, list(_SHAPES[kind]), *args)


def _losses(model, x, y) -> np.ndarray:
    return keras.losses.sparse_categorical_crossentropy(y, model(x), from_logits=True).numpy()


def _gradient(model, x, y) -> np.ndarray:
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, model(x), from_logits=True))
    return tape.gradient(loss, x).numpy()


def _in_box(x_adv, x, eps: float, what: str) -> None:
    x_adv = np.asarray(x_adv, dtype=np.float64)
    expect(x_adv.shape == x.shape, f"{what} does not have the shape of the input images")
    expect(bool(np.all(np.isfinite(x_adv))), f"{what} contains NaN or infinity")
    expect(x_adv.min() >= -1e-6 and x_adv.max() <= 1 + 1e-6, f"{what} leaves the valid pixel range [0, 1]")
    expect(np.abs(x_adv - x).max() <= eps + 1e-5, f"{what} leaves the epsilon-ball around the input")


def _sign_agreement(x_adv, x, direction, eps: float) -> tuple[float, float]:
    """Over unclipped pixels with a clear gradient: fraction moving in sign(direction), worst |step - eps|."""
    step = np.asarray(x_adv, np.float64) - x
    target = x + eps * np.sign(direction)
    mask = (np.abs(direction) > 1e-5) & (target >= 0) & (target <= 1)
    agree = float(np.mean(np.sign(step[mask]) == np.sign(direction[mask])))
    return agree, float(np.abs(np.abs(step[mask]) - eps).max())


# --- exercise 1: input gradient ----------------------------------------------------------------------

@points(1, question="input_gradient")
def test_input_gradient_matches_reference(student):
    model, weights = _reference_model("mlp", 11)
    x, y = _inputs("mlp", 7, 12)
    got = _call(student, "mlp", "input_gradient(MODEL, a0, a1)", weights, x, y)
    expect(got is not None, "input_gradient returned None")
    expect_close(got, _gradient(model, x, y), what="dJ/dx on a hidden model and batch", atol=1e-5, rtol=1e-3)


@points(1, question="input_gradient")
def test_input_gradient_other_shapes(student):
    model, weights = _reference_model("conv", 13)
    x, y = _inputs("conv", 3, 14)
    got = _call(student, "conv", "input_gradient(MODEL, a0, a1)", weights, x, y)
    expect_close(got, _gradient(model, x, y), what="dJ/dx for multi-channel images and a conv model",
                 atol=1e-5, rtol=1e-3)
    one = _call(student, "conv", "input_gradient(MODEL, a0, a1)", weights, x[:1], y[:1])
    expect_close(one, _gradient(model, x[:1], y[:1]), what="dJ/dx for a batch of one image", atol=1e-5, rtol=1e-3)


# --- exercise 2: FGSM --------------------------------------------------------------------------------

@points(1, question="fgsm")
def test_fgsm_stays_in_ball_and_pixel_range(student):
    _, weights = _reference_model("conv", 21)
    x, y = _inputs("conv", 6, 22)
    for eps in (0.05, 0.3):
        _in_box(_call(student, "conv", "fgsm(MODEL, a0, a1, a2)", weights, x, y, eps), x, eps, "the FGSM image")


@points(1, question="fgsm")
def test_fgsm_sign_pattern_matches_reference_gradient(student):
    model, weights = _reference_model("mlp", 23)
    x, y = _inputs("mlp", 8, 24)
    eps = 0.15
    x_adv = _call(student, "mlp", "fgsm(MODEL, a0, a1, a2)", weights, x, y, eps)
    _in_box(x_adv, x, eps, "the FGSM image")
    agree, size_error = _sign_agreement(x_adv, x, _gradient(model, x, y), eps)
    expect(agree > 0.995, "the FGSM perturbation's sign pattern does not match the sign of the loss gradient")
    expect(size_error < 1e-4, "pixels that are not clipped should move by exactly eps")


@points(1, question="fgsm")
def test_fgsm_raises_the_loss(student):
    model, weights = _reference_model("conv", 25)
    x, y = _inputs("conv", 10, 26)
    x_adv = _call(student, "conv", "fgsm(MODEL, a0, a1, a2)", weights, x, y, 0.05)
    raised = np.mean(_losses(model, np.asarray(x_adv, np.float32), y) > _losses(model, x, y))
    expect(raised >= 0.9, "FGSM does not raise the loss of most images")


# --- exercise 3: targeted FGSM -----------------------------------------------------------------------

@points(1, question="fgsm_targeted")
def test_fgsm_targeted_sign_pattern(student):
    model, weights = _reference_model("mlp", 31)
    x, _ = _inputs("mlp", 8, 32)
    target = (np.arange(8) * 7 + 3) % 10
    eps = 0.12
    x_adv = _call(student, "mlp", "fgsm_targeted(MODEL, a0, a1, a2)", weights, x, target, eps)
    _in_box(x_adv, x, eps, "the targeted FGSM image")
    agree, size_error = _sign_agreement(x_adv, x, -_gradient(model, x, target), eps)
    expect(agree > 0.995, "the targeted perturbation should follow minus the sign of the target's loss gradient")
    expect(size_error < 1e-4, "pixels that are not clipped should move by exactly eps")


@points(1, question="fgsm_targeted")
def test_fgsm_targeted_lowers_target_loss(student):
    model, weights = _reference_model("conv", 33)
    x, _ = _inputs("conv", 10, 34)
    target = (np.arange(10) * 3 + 1) % 10
    x_adv = _call(student, "conv", "fgsm_targeted(MODEL, a0, a1, a2)", weights, x, target, 0.05)
    lowered = np.mean(_losses(model, np.asarray(x_adv, np.float32), target) < _losses(model, x, target))
    expect(lowered >= 0.9, "targeted FGSM does not lower the target class's loss for most images")


# --- exercise 4: PGD ---------------------------------------------------------------------------------

def _reference_pgd(model, x, y, eps, alpha, steps):
    x_adv = x.copy()
    for _ in range(steps):
        x_adv = x_adv + alpha * np.sign(_gradient(model, x_adv, y))
        x_adv = np.clip(np.clip(x_adv, x - eps, x + eps), 0, 1).astype(np.float32)
    return x_adv


@points(1, question="pgd")
def test_pgd_random_start_stays_in_ball(student):
    _, weights = _reference_model("conv", 41)
    x, y = _inputs("conv", 6, 42)
    eps = 0.2
    body = "pgd(MODEL, a0, a1, a2, a3, a4, random_start=True)"
    runs = [_call(student, "conv", body, weights, x, y, eps, 0.05, steps) for steps in (0, 0, 6)]
    for run in runs:
        _in_box(run, x, eps, "the PGD image")
    expect(not np.allclose(runs[0], x), "with random_start=True, the start should be a random point of the ball")
    expect(not np.allclose(runs[0], runs[1]), "two random starts were identical")


@points(1, question="pgd")
def test_pgd_matches_reference_without_random_start(student):
    model, weights = _reference_model("mlp", 43)
    x, y = _inputs("mlp", 6, 44)
    eps, alpha, steps = 0.12, 0.025, 8
    got = _call(student, "mlp", "pgd(MODEL, a0, a1, a2, a3, a4, random_start=False)", weights, x, y, eps, alpha, steps)
    _in_box(got, x, eps, "the PGD image")
    agree = np.mean(np.abs(np.asarray(got) - _reference_pgd(model, x, y, eps, alpha, steps)) < 1e-4)
    expect(agree > 0.98, "without random start, PGD does not follow the projected sign-gradient steps")


@points(1, question="pgd")
def test_pgd_loss_does_not_decrease_across_steps(student):
    model, weights = _reference_model("conv", 45)
    x, y = _inputs("conv", 10, 46)
    eps, alpha = 0.1, 0.02
    body = "pgd(MODEL, a0, a1, a2, a3, a4, random_start=False)"
    losses = [np.mean(_losses(model, np.asarray(_call(student, "conv", body, weights, x, y, eps, alpha, k),
                                                  np.float32), y)) for k in (0, 1, 3, 6, 10)]
    steps = np.diff(losses)
    expect(np.mean(steps) > 0 and losses[-1] > losses[0], "the loss does not grow as PGD takes more steps")
    expect(bool(np.all(steps > -0.01 * abs(losses[0]) - 1e-6)), "the loss goes down between PGD steps")
    random = _call(student, "conv", "pgd(MODEL, a0, a1, a2, a3, a4)", weights, x, y, eps, alpha, 10)
    expect(np.mean(_losses(model, np.asarray(random, np.float32), y)) > losses[0],
           "PGD with a random start does not raise the loss")


# --- exercise 5: adversarial training step -----------------------------------------------------------

_STEP = ("(lambda m, opt: (lambda r: (r[0], r[1], m.get_weights()))("
         "adversarial_train_step(m, opt, a0, a1, a2, a3, a4)))(MODEL, __import__('keras').optimizers.SGD(a5))")


@points(1, question="adversarial_train_step")
def test_adversarial_step_update_matches_sgd(student):
    model, weights = _reference_model("mlp", 51)
    x, y = _inputs("mlp", 12, 52)
    lr = 0.3
    result = _call(student, "mlp", _STEP, weights, x, y, 0.15, 0.05, 4, lr)
    loss, x_adv, new_weights = result
    x_adv = np.asarray(x_adv, np.float32)
    expect(x_adv.shape == x.shape, "x_adv does not have the shape of the input images")
    with tf.GradientTape() as tape:
        reference_loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x_adv), from_logits=True))
    grads = tape.gradient(reference_loss, model.trainable_variables)
    expect_close(float(np.asarray(loss)), float(reference_loss), what="the returned loss", atol=1e-4, rtol=1e-3)
    expect(len(new_weights) == len(weights), "the model's weights changed structure")
    for old, grad, new in zip(weights, grads, new_weights):
        expect_close(new, old - lr * grad.numpy(), what="the weights after one optimizer step on the PGD batch",
                     atol=1e-4, rtol=1e-3)


@points(1, question="adversarial_train_step")
def test_adversarial_step_trains_on_pgd_examples(student):
    model, weights = _reference_model("conv", 53)
    x, y = _inputs("conv", 10, 54)
    eps = 0.1
    _, x_adv, _ = _call(student, "conv", _STEP, weights, x, y, eps, 0.03, 5, 0.01)
    _in_box(x_adv, x, eps, "x_adv")
    expect(np.mean(_losses(model, np.asarray(x_adv, np.float32), y)) > np.mean(_losses(model, x, y)),
           "the training batch is not adversarial: its loss is not higher than the clean batch's")


# --- exercise 6: EOT gradient ------------------------------------------------------------------------

@points(1, question="eot_gradient")
def test_eot_gradient_averages_over_samples(student):
    model, weights = _reference_model("conv", 61)
    x, y = _inputs("conv", 5, 62)
    got = _call(student, "conv", "eot_gradient(MODEL, a0, a1, lambda t: t * 1.0, a2)", weights, x, y, 4)
    expect_close(got, _gradient(model, x, y), what="the EOT gradient with the identity transformation",
                 atol=1e-5, rtol=1e-3)


@points(1, question="eot_gradient")
def test_eot_gradient_flows_through_the_transformation(student):
    model, weights = _reference_model("mlp", 63)
    x, y = _inputs("mlp", 6, 64)
    body = "eot_gradient(MODEL, a0, a1, lambda t: __import__('tensorflow').roll(t, 2, axis=2), a2)"
    got = _call(student, "mlp", body, weights, x, y, 2)
    expected = np.roll(_gradient(model, np.roll(x, 2, axis=2), y), -2, axis=2)
    expect_close(got, expected, what="the EOT gradient through a shift (with respect to the original image)",
                 atol=1e-5, rtol=1e-3)
