"""Hidden checks for Lab 4: adversarial attacks and defences.

The student's functions run in the sandboxed kernel on small models that the notebook never used (a tanh
MLP and a tanh conv net, with weights sent from here) and on inputs of other shapes than the public checks.
Each function is judged with reference versions of the functions it calls, rebound in its globals
(``input_gradient`` in the attacks, a scripted ``pgd`` in the training step), and with scripted
stand-ins where the exercise is stochastic (gradients for PGD, a transformation with known draws for EOT).
References are computed here with TensorFlow; the diagnoses that name a mistake are shared with the
public checks. Failure messages never reveal inputs or expected values.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_utils.checks import training_call_problem
from course_utils.checks.lab4 import (
    ONES,
    ScriptedTransform,
    diagnose_eot,
    diagnose_gradient,
    diagnose_pgd,
    diagnose_pgd_call,
    diagnose_sign_step,
    diagnose_training_step,
    reference_pgd,
    scripted_gradients,
    scripted_pgd_source,
    tensor_problem,
)
from grader.harness import expect, generated, kernel_module, points

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

_LAB4 = kernel_module("course_utils.checks.lab4")
# The same source builds the model here and, from the weights sent over, in the student's kernel. The first layer
# records the training argument of every call.
_LAYERS = {
    "mlp": f"{_LAB4}.training_flags(), K.layers.Flatten(), K.layers.Dense(16, activation='tanh'), K.layers.Dense(10)",
    "conv": f"{_LAB4}.training_flags(), K.layers.Conv2D(4, 3, activation='tanh'), K.layers.Flatten(), "
            "K.layers.Dense(10)",
}
_SHAPES = {"mlp": (10, 10, 1), "conv": (9, 9, 2)}


def _build_source(kind: str) -> str:
    return f"(lambda K: K.Sequential([K.Input(tuple(shape)), {_LAYERS[kind]}]))(__import__('keras'))"


def _model_source(kind: str) -> str:
    return f"(lambda m: (m.set_weights(ws), m.layers[0].calls.clear(), m)[2])({_build_source(kind)})"


def _reference_model(kind: str, seed: int):
    """(trusted Keras model, its weights as arrays)."""
    keras.utils.set_random_seed(seed)
    shape = _SHAPES[kind]
    model = eval(_build_source(kind), {"shape": shape})
    rng = np.random.default_rng(seed)
    weights = [(w + rng.normal(0, 0.05, w.shape)).astype(np.float32) for w in model.get_weights()]
    model.set_weights(weights)
    return model, weights


def _inputs(kind: str, n: int, seed: int, interior: bool = False):
    """Images with many pixels at 0 and 1, or (interior) all in [0.25, 0.75], and labels."""
    rng = np.random.default_rng(seed)
    low, high = (0.25, 0.75) if interior else (-0.5, 1.5)
    x = np.clip(rng.uniform(low, high, (n, *_SHAPES[kind])), 0, 1).astype(np.float32)
    return x, rng.integers(0, 10, n).astype(np.int64)


def _call(student, kind: str, body: str, weights, *args):
    """Call ``lambda ws, shape, <args>: <body>`` in the student's kernel, where MODEL is the hidden model."""
    names = ", ".join(f"a{i}" for i in range(len(args)))
    expression = f"lambda ws, shape, {names}: " + body.replace("MODEL", _model_source(kind))
    return student.call(expression, weights, list(_SHAPES[kind]), *args)


def _losses(model, x, y) -> np.ndarray:
    return keras.losses.sparse_categorical_crossentropy(y, model(np.asarray(x, np.float32)), from_logits=True).numpy()


def _gradient(model, x, y) -> np.ndarray:
    x = tf.convert_to_tensor(np.asarray(x, np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, model(x), from_logits=True))
    return tape.gradient(loss, x).numpy()


def _logit_gradient(model, x) -> np.ndarray:
    x = tf.convert_to_tensor(np.asarray(x, np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(model(x))
    return tape.gradient(total, x).numpy()


def _in_box(x_adv, x, eps: float, what: str) -> None:
    x_adv = np.asarray(x_adv, dtype=np.float64)
    expect(x_adv.shape == x.shape, f"{what} does not have the shape of the input images")
    expect(bool(np.all(np.isfinite(x_adv))), f"{what} contains NaN or infinity")
    expect(x_adv.min() >= -1e-6 and x_adv.max() <= 1 + 1e-6, f"{what} leaves the valid pixel range [0, 1]: clip it")
    expect(np.abs(x_adv - x).max() <= eps + 1e-5, f"{what} leaves the epsilon-ball around the input")


# Reference versions of the functions an exercise calls, defined in the student's kernel and bound in the
# globals of the student's function for the check (so a wrong upstream function is not charged twice).
_REFERENCES = """
import keras
import tensorflow as tf

def input_gradient(model, x, y):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, model(x), from_logits=True))
    return tape.gradient(loss, x)

def fgsm(model, x, y, eps):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    return tf.clip_by_value(x + eps * tf.sign(input_gradient(model, x, y)), 0.0, 1.0)
""" + scripted_pgd_source()
_NAMESPACE = f"(lambda ns: (exec({_REFERENCES!r}, ns), ns)[1])({{}})"


def _rebound(function: str, names: tuple[str, ...], namespace: str = "REF") -> str:
    """Expression: the student's ``function`` with ``names`` bound to the references in ``namespace``."""
    refs = "{" + ", ".join(f"{name!r}: {namespace}[{name!r}]" for name in names) + "}"
    return (f"(lambda f: __import__('types').FunctionType(f.__code__, {{**f.__globals__, **{refs}}}, f.__name__, "
            f"f.__defaults__, f.__closure__) if hasattr(f, '__code__') else f)({function})")


def _with_references(body: str) -> str:
    """``body`` evaluated where REF is a fresh namespace of reference functions."""
    return f"(lambda REF: {body})({_NAMESPACE})"


def _fail_unless(problem: str | None) -> None:
    expect(problem is None, problem or "")


def _typed(body: str) -> str:
    """``body``'s value with its :func:`tensor_facts`: the channel turns tensors into arrays on the way back."""
    return f"(lambda r: ({_LAB4}.tensor_facts(r), r))({body})"


def _tensor(result, what: str) -> np.ndarray:
    """The value of a :func:`_typed` call, after requiring a float32 tensor, as the later cells use it."""
    facts, value = result
    _fail_unless(tensor_problem(facts, what))
    return np.asarray(value, np.float64)


# --- exercise 1: input gradient ----------------------------------------------------------------------

@points(1, question="input_gradient")
def test_input_gradient_matches_reference(student):
    model, weights = _reference_model("mlp", 11)
    x, y = _inputs("mlp", 7, 12)
    facts, got = _call(student, "mlp", _typed("input_gradient(MODEL, a0, a1)"), weights, x, y)
    _fail_unless(diagnose_gradient(got, _gradient(model, x, y), len(x), _logit_gradient(model, x)))
    _fail_unless(tensor_problem(facts, "input_gradient"))


@points(1, question="input_gradient")
def test_input_gradient_other_shapes(student):
    model, weights = _reference_model("conv", 13)
    x, y = _inputs("conv", 3, 14)
    for xs, ys in ((x, y), (x[:1], y[:1])):
        got = _call(student, "conv", "input_gradient(MODEL, a0, a1)", weights, xs, ys)
        _fail_unless(diagnose_gradient(got, _gradient(model, xs, ys), len(xs), _logit_gradient(model, xs)))


# --- exercise 2: FGSM (judged with the reference input_gradient) -------------------------------------

_FGSM = _with_references(_typed(_rebound("fgsm", ("input_gradient",)) + "(MODEL, a0, a1, a2)"))


@points(1, question="fgsm")
def test_fgsm_steps_along_the_sign_of_the_gradient(student):
    model, weights = _reference_model("mlp", 23)
    x, y = _inputs("mlp", 8, 24, interior=True)
    eps = 0.15
    x_adv = _tensor(_call(student, "mlp", _FGSM, weights, x, y, eps), "fgsm")
    expect(x_adv.shape == x.shape, "the FGSM image does not have the shape of the input images")
    _fail_unless(diagnose_sign_step(x_adv - x, _gradient(model, x, y), eps, targeted=False))


@points(1, question="fgsm")
def test_fgsm_clips_to_valid_images(student):
    model, weights = _reference_model("conv", 21)
    x, y = _inputs("conv", 6, 22)
    for eps in (0.05, 0.3):
        x_adv = _tensor(_call(student, "conv", _FGSM, weights, x, y, eps), "fgsm")
        _in_box(x_adv, x, eps, "the FGSM image")
        expected = np.clip(x + eps * np.sign(_gradient(model, x, y)), 0, 1)
        expect(np.mean(np.abs(np.asarray(x_adv) - expected) < 1e-5) > 0.995,
               "FGSM on images with pixels at 0 and 1 differs from clip(x + eps * sign(gradient), 0, 1)")


@points(0.5, question="fgsm")
@generated(max_examples=8)
@given(kind=st.sampled_from(["mlp", "conv"]), n=st.integers(1, 6),
       eps=st.sampled_from([0.0, 0.01, 0.1, 0.25, 0.5, 1.0]), interior=st.booleans(), seed=st.integers(0, 2**16))
def test_fgsm_generated(student, kind, n, eps, interior, seed):
    """Batches of one and more, eps from 0 (no change) to 1 (every pixel to 0 or 1), pixels at 0 and 1 or not."""
    model, weights = _reference_model(kind, 27)
    x, y = _inputs(kind, n, seed, interior=interior)
    x_adv = _tensor(_call(student, kind, _FGSM, weights, x, y, eps), "fgsm")
    _in_box(x_adv, x, eps, "the FGSM image")
    gradient = _gradient(model, x, y)
    clear = np.abs(gradient) > 1e-6  # where the sign of the gradient does not depend on rounding
    expected = np.clip(x + eps * np.sign(gradient), 0, 1)
    expect(np.allclose(x_adv[clear], expected[clear], atol=1e-5),
           "FGSM differs from clip(x + eps * sign(gradient), 0, 1) on some inputs (eps from 0 to 1, batches of one)")


@points(0.5, question="fgsm")
def test_fgsm_raises_the_loss(student):
    model, weights = _reference_model("conv", 25)
    x, y = _inputs("conv", 10, 26)
    x_adv = _tensor(_call(student, "conv", _FGSM, weights, x, y, 0.05), "fgsm")
    raised = np.mean(_losses(model, x_adv, y) > _losses(model, x, y))
    expect(raised >= 0.9, "FGSM does not raise the loss of most images")


# --- exercise 3: targeted FGSM -----------------------------------------------------------------------

_TARGETED = _with_references(_typed(_rebound("fgsm_targeted", ("input_gradient", "fgsm")) + "(MODEL, a0, a1, a2)"))


@points(1, question="fgsm_targeted")
def test_fgsm_targeted_descends_the_target_loss(student):
    model, weights = _reference_model("mlp", 31)
    x, _ = _inputs("mlp", 8, 32, interior=True)
    target = (np.arange(8) * 7 + 3) % 10
    eps = 0.12
    x_adv = _tensor(_call(student, "mlp", _TARGETED, weights, x, target, eps), "fgsm_targeted")
    expect(x_adv.shape == x.shape, "the targeted FGSM image does not have the shape of the input images")
    _fail_unless(diagnose_sign_step(x_adv - x, -_gradient(model, x, target), eps, targeted=True))


@points(1, question="fgsm_targeted")
def test_fgsm_targeted_lowers_target_loss(student):
    model, weights = _reference_model("conv", 33)
    x, _ = _inputs("conv", 10, 34)
    target = (np.arange(10) * 3 + 1) % 10
    x_adv = _tensor(_call(student, "conv", _TARGETED, weights, x, target, 0.05), "fgsm_targeted")
    _in_box(x_adv, x, 0.05, "the targeted FGSM image")
    lowered = np.mean(_losses(model, x_adv, target) < _losses(model, x, target))
    expect(lowered >= 0.9, "targeted FGSM does not lower the target class's loss for most images: moving toward "
                           "the target means descending the target's loss")


# --- exercise 4: PGD (judged with scripted gradients and the reference input gradient) ---------------

_PGD = _typed("pgd(MODEL, a0, a1, a2, a3, a4, random_start=a5, gradient={gradient})")
_PGD_REFERENCE = _with_references(_PGD.format(gradient="REF['input_gradient']"))


@points(1, question="pgd")
def test_pgd_follows_scripted_gradients(student):
    _, weights = _reference_model("mlp", 41)
    x, y = _inputs("mlp", 5, 42)
    eps, alpha = 0.12, 0.035

    def run(source: str, steps: int, random_start: bool, eps: float = eps):
        return _tensor(_call(student, "mlp", _PGD.format(gradient=source), weights, x, y, eps, alpha, steps,
                             random_start), "pgd")

    _fail_unless(diagnose_pgd(run, x, eps, alpha, scripted_gradients(43, x.shape)))
    for other in (0.05, 0.3):
        expect(np.allclose(run(ONES, int(other / alpha) + 2, False, eps=other), np.clip(x + other, 0, 1), atol=1e-5),
               "with another eps and a gradient of ones, PGD does not end at min(x + eps, 1): use the eps argument")


@points(1, question="pgd")
def test_pgd_matches_reference_without_random_start(student):
    model, weights = _reference_model("conv", 43)
    x, y = _inputs("conv", 6, 44)
    eps, alpha, steps = 0.12, 0.025, 8
    got = _tensor(_call(student, "conv", _PGD_REFERENCE, weights, x, y, eps, alpha, steps, False), "pgd")
    _in_box(got, x, eps, "the PGD image")
    expected = reference_pgd(x, lambda x_adv: _gradient(model, x_adv, y), eps, alpha, steps)
    agree = np.mean(np.abs(np.asarray(got) - expected) < 1e-4)
    expect(agree > 0.98, "without random start, PGD does not follow the projected sign-gradient steps")


@points(1, question="pgd")
def test_pgd_raises_the_loss_step_by_step(student):
    model, weights = _reference_model("conv", 45)
    x, y = _inputs("conv", 10, 46)
    eps, alpha = 0.1, 0.02
    losses = [np.mean(_losses(model, _tensor(_call(student, "conv", _PGD_REFERENCE, weights, x, y, eps, alpha, k,
                                                   False), "pgd"), y))
              for k in (0, 1, 3, 6, 10)]
    steps = np.diff(losses)
    expect(np.mean(steps) > 0 and losses[-1] > losses[0], "the loss does not grow as PGD takes more steps")
    expect(bool(np.all(steps > -0.01 * abs(losses[0]) - 1e-6)), "the loss goes down between PGD steps")
    random = _tensor(_call(student, "conv", _PGD_REFERENCE, weights, x, y, eps, alpha, 10, True), "pgd")
    _in_box(random, x, eps, "PGD from a random start")
    expect(np.mean(_losses(model, random, y)) > losses[0], "PGD with a random start does not raise the loss")


# --- exercise 5: adversarial training step (judged with a scripted pgd) ------------------------------

_STEP = _with_references(
    "(lambda m, opt: (lambda r: (r[0], r[1], m.get_weights(), list(REF['pgd_calls']), "
    "REF['pgd'](m, a0, a1, a2, a3, a4), list(m.layers[0].calls)))("
    + _rebound("adversarial_train_step", ("pgd",)) + "(m, opt, a0, a1, a2, a3, a4)))"
    "(MODEL, __import__('keras').optimizers.SGD(a5))")


def _judge_training_step(student, kind: str, seed: int, n: int, eps: float, alpha: float, steps: int, lr: float):
    model, weights = _reference_model(kind, seed)
    x, y = _inputs(kind, n, seed + 1)
    result = _call(student, kind, _STEP, weights, x, y, eps, alpha, steps, lr)
    expect(isinstance(result, (list, tuple)) and len(result) == 6, "adversarial_train_step must return (loss, x_adv)")
    loss, x_adv, new_weights, calls, x_pgd, trainings = result
    _fail_unless(diagnose_pgd_call(calls, eps, alpha, steps))
    expect(np.shape(x_adv) == x.shape and np.allclose(np.asarray(x_adv), x_pgd, atol=1e-6),
           "the returned x_adv is not the batch that pgd made")
    expect(len(new_weights) == len(weights), "the model's weights changed structure")

    def mean_loss_and_gradients(images):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
                y, model(np.asarray(images, np.float32)), from_logits=True))
        return float(loss), [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]

    _fail_unless(diagnose_training_step(loss, new_weights, weights, lr, len(x), adv=mean_loss_and_gradients(x_pgd),
                                        clean=mean_loss_and_gradients(x)))
    _fail_unless((training_call_problem(trainings, loss) or "").replace("train_step", "adversarial_train_step") or None)


@points(1, question="adversarial_train_step")
def test_adversarial_step_update_matches_sgd(student):
    _judge_training_step(student, "mlp", 51, 12, 0.15, 0.05, 4, 0.3)


@points(1, question="adversarial_train_step")
def test_adversarial_step_on_a_conv_model(student):
    _judge_training_step(student, "conv", 53, 10, 0.1, 0.03, 5, 0.2)


# --- exercise 6: EOT gradient (judged with a transformation whose draws are known) -------------------

_EOT = f"eot_gradient(MODEL, a0, a1, {kernel_module('course_utils.checks.lab4')}.ScriptedTransform(), a2)"


def _judge_eot(student, kind: str, seed: int, n_images: int, n_samples: int) -> None:
    model, weights = _reference_model(kind, seed)
    x, y = _inputs(kind, n_images, seed + 1)
    got = _call(student, kind, _EOT, weights, x, y, n_samples)
    terms, unchained = ScriptedTransform.terms(x, lambda images: _gradient(model, images, y), n_samples)
    _fail_unless(diagnose_eot(got, terms, unchained))


@points(1, question="eot_gradient")
def test_eot_gradient_averages_the_draws(student):
    _judge_eot(student, "conv", 61, 5, 3)


@points(1, question="eot_gradient")
def test_eot_gradient_one_and_many_draws(student):
    _judge_eot(student, "mlp", 63, 6, 1)
    _judge_eot(student, "mlp", 63, 6, 5)
