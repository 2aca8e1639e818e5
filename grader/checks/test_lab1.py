"""Hidden checks for Lab 1. Inputs differ from the public checks; references are computed here.

A function that calls an earlier exercise's function is run in the student's kernel with the
reference versions of those (``course_utils.checks.lab1.REFERENCES``), so one mistake costs points
once. Forbidden shortcuts are read from the submitted answer cells (the ``answers`` fixture).
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from course_utils.checks import lab1 as public
from course_utils.checks.source import forbidden_uses
from course_utils.datasets import load_mnist
from grader.channel import StudentError
from grader.harness import (
    CheckFailed,
    expect,
    expect_close,
    expect_no_problem,
    expect_no_shortcut,
    expect_not_called,
    generated,
    points,
)

RNG = np.random.default_rng(20261123)


def _normal(*shape, scale=1.0):
    return (RNG.normal(size=shape) * scale).astype(np.float32)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z.astype(np.float64)))


def _with_references(function: str, names: tuple[str, ...] | dict[str, str]) -> str:
    """A kernel expression: ``function`` with the global ``names`` bound to the reference versions
    (see ``public.reference_names``)."""
    pairs = public.reference_names(names)
    return (f"lambda *a: (lambda ns: __import__('types').FunctionType({function}.__code__, "
            f"{{**{function}.__globals__, **{{n: ns[r] for n, r in {pairs!r}.items()}}}}, {function!r}, "
            f"{function}.__defaults__, {function}.__closure__)(*a))((lambda ns: (exec(SRC, ns), ns)[1])({{}}))"
            ).replace("SRC", repr(public.REFERENCES))


# Kernel-side: a value and the top-level package of its type ("tensorflow", "numpy", "builtins"...).
_WITH_TYPE = "(lambda y: (y, type(y).__module__.split('.')[0]))"


def _expect_tensor(module: str, what: str) -> None:
    expect(module in ("tensorflow", "keras"), f"{what} returned a {module} value: return a TensorFlow tensor "
                                              "(the notebook's cells call .numpy() on it)")


def _run_source(source: str, function: str, *student_args: str) -> str:
    """A kernel expression: run ``source`` in a fresh namespace, then call its ``function`` with
    ``student_args`` (expressions evaluated in the student's namespace) and the request's arguments."""
    first = "".join(f"{arg}, " for arg in student_args)
    return f"lambda *a: (lambda ns: (exec({source!r}, ns), ns[{function!r}]({first}*a))[1])({{}})"


# ---------------------------------------------------------------- Exercise 1

@points(0.5, question="tape_gradient")
def test_tape_gradient_of_other_functions(student, answers):
    try:
        names = forbidden_uses(answers.get("tape_gradient_impl", ""), ["GradientTape"])
    except SyntaxError:
        names = []
    expect(names == ["GradientTape"], "tape_gradient does not use tf.GradientTape: the exercise is to let the "
                                      "tape compute the gradient")
    x = _normal(3, 4, scale=1.5)
    tf = "__import__('tensorflow')"
    for f, gradient, formula in [
        (f"{tf}.reduce_sum(v ** 3 - 2 * v)", 3 * x.astype(np.float64) ** 2 - 2, None),
        (f"{tf}.reduce_sum({tf}.tanh(v) * v ** 2)", (1 - np.tanh(x) ** 2) * x**2 + 2 * x * np.tanh(x),
         3 * x**2 - 2),
        (f"{tf}.reduce_logsumexp(v)", np.exp(x) / np.exp(x).sum(), 3 * x**2 - 2),
    ]:
        got = student.call(f"lambda x: tape_gradient(lambda v: {f}, x)", x)
        expect_no_problem(public.tape_problem(got, x, gradient, formula))


@points(0.5, question="tape_gradient")
@generated(max_examples=6)
@given(shape=st.lists(st.integers(1, 4), max_size=3), seed=st.integers(0, 2**16))
def test_tape_gradient_follows_the_tape(student, shape, seed):
    """A function whose gradient is declared (tf.custom_gradient) as 3x, not its derivative 2x: only what the
    tape computes matches, however accurate a finite difference is; any shape, a scalar too."""
    x = np.random.default_rng(seed).normal(size=tuple(shape)).astype(np.float32)
    got, module = student.call(f"lambda x: (lambda ns: (exec({public.DECLARED_GRADIENT!r}, ns), "
                               f"{_WITH_TYPE}(tape_gradient(ns['declared'], x)))[1])({{}})", x)
    expect(np.shape(got) == x.shape, f"tape_gradient returned shape {np.shape(got)} for an x of shape {x.shape}: "
                                     "the gradient has x's shape")
    expect(np.allclose(got, public.declared_gradient(x), atol=1e-5),
           "for a function whose gradient TensorFlow is told (tf.custom_gradient), tape_gradient does not return "
           "what the tape computes: it estimates the gradient some other way (finite differences?)")
    _expect_tensor(module, "tape_gradient")


# ---------------------------------------------------------------- Exercise 2

def _expect_gradient(student, name, z, derivative):
    gradient = student.call(
        f"lambda z: (lambda tf: (lambda t: [tape := tf.GradientTape(), tape.__enter__(), tape.watch(t), "
        f"out := tf.reduce_sum({name}(t)), tape.__exit__(None, None, None), tape.gradient(out, t)][-1])"
        "(tf.constant(z)))(__import__('tensorflow'))", z)
    expect(gradient is not None, f"the GradientTape cannot differentiate your {name}: compute it with TensorFlow "
                                 "operations, not NumPy")
    expect_no_problem(public.activation_gradient_problem(gradient, z, derivative, name))


def _expect_activation(student, name, z, what):
    forbidden = {"sigmoid": public.SIGMOID_CALLS, "relu": public.RELU_CALLS}[name]
    got, module = expect_not_called(student, f"lambda z: {_WITH_TYPE}({name}(z))", z, forbidden=forbidden,
                                    exercise=name)
    problem = public.activation_value_problem(got, z, name, what)
    if problem and "NaN" in problem:
        problem += ": the formula overflows for large |z|"
    expect_no_problem(problem)
    _expect_tensor(module, name)


@points(0.5, question="activations")
def test_sigmoid_far_from_zero(student, answers):
    expect_no_shortcut(answers, "activations_impl", public.SIGMOID_SHORTCUTS, "sigmoid")
    z = np.concatenate([np.linspace(-60, 60, 97), [0.0]]).astype(np.float32).reshape(7, 14)
    _expect_activation(student, "sigmoid", z, "sigmoid on large |z| (a 7x14 input)")
    _expect_gradient(student, "sigmoid", z, _sigmoid(z) * (1 - _sigmoid(z)))


_ACTIVATION_INPUTS = {"shape": st.lists(st.integers(1, 5), max_size=3),
                      "scale": st.sampled_from([1e-3, 1.0, 50.0, 1e3, 3e4]), "seed": st.integers(0, 2**16)}


def _generated_activation(student, name, shape, scale, seed):
    """Any shape (a scalar too), magnitudes up to 1e5 (exp overflows in float32 beyond 88), exact zeros."""
    rng = np.random.default_rng(seed)
    z = np.where(rng.random(tuple(shape)) < 0.2, 0.0, rng.normal(size=tuple(shape)) * scale).astype(np.float32)
    _expect_activation(student, name, z, f"{name} on generated inputs")


@points(0.5, question="activations")
@generated(max_examples=6)
@given(**_ACTIVATION_INPUTS)
def test_sigmoid_generated(student, shape, scale, seed):
    _generated_activation(student, "sigmoid", shape, scale, seed)


@points(0.5, question="activations")
@generated(max_examples=6)
@given(**_ACTIVATION_INPUTS)
def test_relu_generated(student, shape, scale, seed):
    _generated_activation(student, "relu", shape, scale, seed)


@points(0.5, question="activations")
def test_relu_keeps_shape(student, answers):
    expect_no_shortcut(answers, "activations_impl", public.RELU_SHORTCUTS, "relu")
    z = _normal(2, 3, 5)
    _expect_activation(student, "relu", z, "relu on a (2, 3, 5) input")
    _expect_gradient(student, "relu", z, (z > 0).astype(np.float64))


# ---------------------------------------------------------------- Exercise 3

def _perceptron(student, x, w, b):
    try:
        return student.call(_with_references("perceptron_forward", ("sigmoid",)), x, w, b)
    except StudentError as error:
        if public.matmul_of_a_vector(str(error)):
            raise CheckFailed(f"perceptron_forward: {public.MATMUL_OF_A_VECTOR}") from None
        raise


@points(1, question="perceptron")
def test_perceptron_batch(student, answers):
    expect_no_shortcut(answers, "perceptron_impl", public.SIGMOID_SHORTCUTS, "perceptron_forward (use your sigmoid)")
    x, w, b = _normal(9, 6), _normal(6), np.float32(-0.7)
    expect_no_problem(public.perceptron_problem(_perceptron(student, x, w, b), x, w, b))


@points(0.5, question="perceptron")
def test_perceptron_single_feature(student):
    x, w, b = _normal(1, 1), _normal(1), np.float32(2.0)
    problem = public.perceptron_problem(_perceptron(student, x, w, b), x, w, b)
    expect_no_problem(problem and f"for one example with one feature: {problem}")


_PERCEPTRON_CONTRACT = ("lambda x, w, b: (lambda tf, forward: (lambda wv, bv: [tape := tf.GradientTape(), "
                        "tape.__enter__(), out := forward(x, wv, bv), total := tf.reduce_sum(out), "
                        "tape.__exit__(None, None, None), (type(out).__module__.split('.')[0], "
                        "[g is not None for g in tape.gradient(total, [wv, bv])])][-1])"
                        "(tf.Variable(w), tf.Variable(b)))(__import__('tensorflow'), F)")


@points(0.5, question="perceptron")
@generated(max_examples=6)
@given(n=st.integers(1, 40), d=st.integers(1, 12), scale=st.sampled_from([0.1, 1.0, 30.0]),
       seed=st.integers(0, 2**16))
def test_perceptron_generated_contract(student, n, d, scale, seed):
    """Any batch and feature count, logits up to the sigmoid's saturation; a tensor that gradients flow through
    (Exercise 6 and the training cell differentiate it, the plots call .numpy() on it)."""
    rng = np.random.default_rng(seed)
    x, w = (rng.normal(size=(n, d)) * scale).astype(np.float32), rng.normal(size=d).astype(np.float32)
    b = np.float32(rng.normal())
    expect_no_problem(public.perceptron_problem(_perceptron(student, x, w, b), x, w, b))
    module, gradients = student.call(_PERCEPTRON_CONTRACT.replace(
        "F", _with_references("perceptron_forward", ("sigmoid",))), x, w, b)
    _expect_tensor(module, "perceptron_forward")
    expect(all(gradients), public.PERCEPTRON_GRADIENT_HINT)


# ---------------------------------------------------------------- Exercise 4

_RUN_LAYER = ("lambda x, W, b, act: [layer := DenseLayer(W.shape[1], activation=act), layer.build(x.shape), "
              "layer.W.assign(W), layer.b.assign(b), layer(x)][-1]")


@points(1, question="dense_layer")
def test_dense_layer_relu_output(student):
    x, w, b = _normal(5, 7), _normal(7, 4), _normal(4)
    problem = public.dense_problem(student.call(_RUN_LAYER, x, w, b, "relu"), x, w, b, lambda z: np.maximum(z, 0))
    expect_no_problem(problem and f"DenseLayer(4, activation='relu'): {problem}")


@points(1, question="dense_layer")
def test_dense_layer_linear_and_weights(student):
    x, w, b = _normal(3, 2), _normal(2, 6), _normal(6)
    problem = public.dense_problem(student.call(_RUN_LAYER, x, w, b, None), x, w, b, lambda z: z)
    expect_no_problem(problem and f"DenseLayer(6) without activation: {problem}")
    shapes, first_w, first_b = student.call(
        "lambda: [layer := DenseLayer(6), layer.build((None, 5)), "
        "(sorted(tuple(v.shape) for v in layer.trainable_weights), layer.W.numpy(), layer.b.numpy())][-1]")
    expect(sorted(tuple(s) for s in shapes) == [(5, 6), (6,)],
           "DenseLayer(6) built for 5 inputs must have exactly two trainable weights, W (5, 6) and b (6,)")
    expect(np.ptp(first_w) > 0, "W starts with all entries equal: every unit would compute and learn the same "
                                "thing; use the glorot_uniform initializer")
    expect(np.all(np.asarray(first_b) == 0), "b must start at zero")
    wide = student.call("lambda: [layer := DenseLayer(150), layer.build((None, 210)), layer.W.numpy()][-1]")
    expect_no_problem(public.glorot_problem(np.asarray(wide)))


# ---------------------------------------------------------------- Exercise 5

def _bce(y, p, eps=1e-7):
    p = np.clip(p.astype(np.float64), eps, 1 - eps)
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


@points(1, question="losses")
def test_binary_cross_entropy(student, answers):
    expect_no_shortcut(answers, "losses_impl", public.BCE_SHORTCUTS, "binary_cross_entropy")
    y = (RNG.random(50) > 0.5).astype(np.float32)
    p = RNG.uniform(0.02, 0.98, 50).astype(np.float32)
    got = student.call("binary_cross_entropy", y, p)
    expect(np.ndim(got) == 0, "binary_cross_entropy must return a scalar, the mean over the examples")
    expect(float(got) > 0, "binary cross-entropy must be positive: the minus sign is missing")
    expect(abs(float(got) - len(y) * _bce(y, p)) > 1e-3, "binary cross-entropy: take the mean, not the sum")
    expect_close(got, _bce(y, p), what="binary cross-entropy", atol=1e-5)
    y, p = np.array([1.0, 0.0, 1.0], np.float32), np.array([0.0, 1.0, 1.0], np.float32)
    extreme = np.asarray(student.call("binary_cross_entropy", y, p), dtype=np.float64)
    expect(np.all(np.isfinite(extreme)) and abs(float(extreme) - _bce(y, p)) < 0.05 * _bce(y, p),
           "binary cross-entropy of predictions of exactly 0 or 1 must be large but finite: clip y_pred into "
           "[eps, 1 - eps] before the log")
    expect_close(student.call("binary_cross_entropy", y, p, 0.05), _bce(y, p, 0.05),
                 what="binary cross-entropy with eps=0.05 (clip with the eps argument)", atol=0, rtol=0.05)


@points(0.5, question="losses")
def test_mean_squared_error(student, answers):
    expect_no_shortcut(answers, "losses_impl", public.MSE_SHORTCUTS, "mean_squared_error")
    y, p = _normal(40), _normal(40)
    got = expect_not_called(student, "mean_squared_error", y, p, forbidden=public.LOSS_CALLS,
                            exercise="mean_squared_error")
    expect_no_problem(public.mse_problem(got, y, p))


_LOSS_GRADIENT = ("lambda y, p: (lambda tf: (lambda pt: [tape := tf.GradientTape(), tape.__enter__(), "
                  "tape.watch(pt), out := {loss}(y, pt, *E), tape.__exit__(None, None, None), "
                  "(out, type(out).__module__.split('.')[0], tape.gradient(out, pt))][-1])"
                  "(tf.constant(p)))(__import__('tensorflow'))")


@points(0.5, question="losses")
@generated(max_examples=8)
@given(n=st.integers(1, 60), eps=st.sampled_from([None, 1e-7, 1e-5]), extreme=st.floats(0, 0.5),
       seed=st.integers(0, 2**16))
def test_losses_generated(student, n, eps, extreme, seed):
    """Batches from 1 to 60, predictions of exactly 0 and 1, eps varied; scalar tensors with a gradient."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(np.float32)
    p = rng.uniform(0.01, 0.99, n).astype(np.float32)
    p[rng.random(n) < extreme / 2] = 0.0
    p[rng.random(n) < extreme / 2] = 1.0
    extra = "" if eps is None else f", {eps!r}"
    got, module, gradient = expect_not_called(
        student, _LOSS_GRADIENT.format(loss="binary_cross_entropy").replace(", *E", extra), y, p,
        forbidden=public.LOSS_CALLS, exercise="binary_cross_entropy")
    expect(np.ndim(got) == 0, "binary_cross_entropy must return a scalar, the mean over the examples")
    expected = _bce(y, p, 1e-7 if eps is None else eps)
    expect(np.isfinite(float(got)) and abs(float(got) - expected) <= 0.02 * expected + 1e-4,
           "binary_cross_entropy differs from the clipped mean cross-entropy on generated predictions (some exactly "
           "0 or 1, eps varied): clip y_pred into [eps, 1 - eps] with the eps argument")
    _expect_tensor(module, "binary_cross_entropy")
    expect(gradient is not None, "the GradientTape cannot differentiate binary_cross_entropy: use TensorFlow "
                                 "operations, not NumPy")
    got, module, gradient = student.call(_LOSS_GRADIENT.format(loss="mean_squared_error").replace(", *E", ""), y, p)
    expect_no_problem(public.mse_problem(got, y, p))
    _expect_tensor(module, "mean_squared_error")
    expect(gradient is not None, "the GradientTape cannot differentiate mean_squared_error: use TensorFlow "
                                 "operations, not NumPy")


# ---------------------------------------------------------------- Exercise 6

def _gradient_step(student, *args, references=public.UPSTREAM):
    try:
        return student.call(_with_references("gradient_step", references), *args)
    except StudentError as error:
        if "NoneType" in str(error):
            raise CheckFailed("gradient_step: a gradient is None: compute the loss from the variables w and b "
                              "inside the GradientTape block") from None
        raise


@points(1, question="gradient_step")
def test_gradient_step_moves_downhill(student):
    x, y = _normal(30, 3), (RNG.random(30) > 0.4).astype(np.float32)
    w, b, lr = _normal(3, scale=0.5), np.float32(-0.2), 0.3
    expect_no_problem(public.gradient_step_problem(_gradient_step(student, w, b, x, y, lr), w, b, x, y, lr))
    modules = student.call(f"lambda *a: [{_WITH_TYPE}(v)[1] for v in "
                           f"({_with_references('gradient_step', public.UPSTREAM)})(*a)]", w, b, x, y, lr)
    expect(all(m in ("tensorflow", "keras") for m in modules),
           public.STEP_TYPES_HINT + ", not " + ", ".join(f"{m} values" for m in modules))


@points(1, question="gradient_step")
def test_gradient_step_other_rate(student):
    x, y = _normal(12, 2), (RNG.random(12) > 0.5).astype(np.float32)
    w, b, lr = _normal(2), np.float32(0.4), 1.7
    expect_no_problem(public.gradient_step_problem(_gradient_step(student, w, b, x, y, lr), w, b, x, y, lr))
    swapped = _gradient_step(student, w, b, x, y, lr, references=public.SWAPPED_LOSS)
    expect_no_problem(public.tape_step_problem(swapped, w, b, x, y, lr))


# ---------------------------------------------------------------- Exercise 7

@points(1, question="mlp_model")
def test_mlp_architecture(student):
    described = student.call(_run_source(public.MLP_PROBE, "describe_mlp", "build_mlp()"), public.mlp_inputs(7))
    expect_no_problem(public.mlp_problem(*described))


# ---------------------------------------------------------------- Exercise 8

def _train_step(student, seed):
    inputs, expected = public.train_step_case(seed)
    got = student.call(_run_source(public.PROBE_MODEL, "run_train_step", "train_step"), *inputs)
    return public.train_step_problem(got, expected)


@points(1, question="train_step")
def test_train_step_sgd_update(student):
    expect_no_problem(_train_step(student, 11))


@points(1, question="train_step")
def test_train_step_second_batch_compiled(student):
    expect_no_problem(_train_step(student, 12))
    inputs, _ = public.train_step_case(13)
    error = student.call(_run_source(public.PROBE_MODEL, "compiled_error", "train_step"), *inputs)
    expect_no_problem(public.compiled_problem(error))


@points(2, question="mnist_accuracy")
def test_trained_mlp_accuracy(student):
    _, (x_test, y_test) = load_mnist()
    index = RNG.choice(len(x_test), 2000, replace=False)
    logits = student.call("lambda x: mlp(x, training=False)", x_test[index].astype(np.float32) / 255.0,
                          _timeout=120)
    expect(np.shape(logits) == (2000, 10), f"mlp gives outputs of shape {np.shape(logits)}, expected (n, 10)")
    accuracy = float(np.mean(np.argmax(logits, axis=1) == y_test[index]))
    threshold = public.mnist_accuracy_threshold()
    expect(accuracy >= threshold, f"the trained mlp's accuracy on held-out digits is {accuracy:.3f}, "
                                  f"below {threshold}")
