"""Public checks for Lab 4: adversarial attacks and defences.

Every check runs the student's function on a small fixed model (flatten, a tanh hidden layer, 10 logits)
with fixed inputs, and compares with gradients written out by hand in NumPy (float64), so that the
reference does not depend on the code being checked. Each function is judged with *reference* versions
of the functions it calls (``input_gradient`` inside ``fgsm``, ``pgd`` inside the training step, scripted
gradients inside ``pgd``, a scripted transformation inside ``eot_gradient``), so one mistake fails one
check and the message names the function that is wrong.

The ``diagnose_*`` functions turn a wrong result into the name of the mistake; the hidden checks use
them too.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course_utils.checks import (
    Problem,
    public_check,
    require,
    require_close,
    training_call_problem,
    with_references,
)

__all__ = ["check_input_gradient", "check_fgsm", "check_fgsm_targeted", "check_pgd",
           "check_adversarial_train_step", "check_eot_gradient"]

_SHAPE = (6, 6, 1)
_HIDDEN = 12


class _TanhNet:
    """The check model in NumPy: logits = tanh(flatten(x) W1 + b1) W2 + b2, with hand-written gradients."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        d = int(np.prod(_SHAPE))
        self.weights = [rng.normal(0, 1.5 / np.sqrt(d), (d, _HIDDEN)), rng.normal(0, 0.1, _HIDDEN),
                        rng.normal(0, 1.5 / np.sqrt(_HIDDEN), (_HIDDEN, 10)), rng.normal(0, 0.1, 10)]
        self.weights = [w.astype(np.float32).astype(np.float64) for w in self.weights]

    def keras(self):
        """A Keras model with the same weights (float32); its first layer is a :func:`training_flags` recorder."""
        import keras

        model = keras.Sequential([keras.Input(_SHAPE), training_flags(), keras.layers.Flatten(),
                                  keras.layers.Dense(_HIDDEN, activation="tanh"), keras.layers.Dense(10)])
        model.set_weights([w.astype(np.float32) for w in self.weights])
        model.layers[0].calls.clear()
        return model

    def _forward(self, x):
        w1, b1, w2, b2 = self.weights
        flat = np.asarray(x, np.float64).reshape(len(x), -1)
        hidden = np.tanh(flat @ w1 + b1)
        logits = hidden @ w2 + b2
        probs = np.exp(logits - logits.max(1, keepdims=True))
        return flat, hidden, probs / probs.sum(1, keepdims=True)

    def losses(self, x, y) -> np.ndarray:
        """Per-example cross-entropy, shape (N,)."""
        _, _, probs = self._forward(x)
        return -np.log(probs[np.arange(len(x)), y])

    def input_gradient(self, x, y) -> np.ndarray:
        """d(sum of losses)/dx, shape of x."""
        w1, _, w2, _ = self.weights
        _, hidden, probs = self._forward(x)
        delta = probs.copy()
        delta[np.arange(len(x)), y] -= 1
        return (((delta @ w2.T) * (1 - hidden**2)) @ w1.T).reshape(np.shape(x))

    def logit_gradient(self, x) -> np.ndarray:
        """d(sum of all logits)/dx, shape of x: what differentiating the model's output gives."""
        w1, _, w2, _ = self.weights
        _, hidden, _ = self._forward(x)
        return (((np.ones((len(x), 10)) @ w2.T) * (1 - hidden**2)) @ w1.T).reshape(np.shape(x))

    def weight_gradients(self, x, y) -> list[np.ndarray]:
        """d(mean loss)/d(W1, b1, W2, b2)."""
        w1, _, w2, _ = self.weights
        flat, hidden, probs = self._forward(x)
        delta = probs.copy()
        delta[np.arange(len(x)), y] -= 1
        delta /= len(x)
        dz = (delta @ w2.T) * (1 - hidden**2)
        return [flat.T @ dz, dz.sum(0), hidden.T @ delta, delta.sum(0)]

    def gradient_function(self) -> Callable:
        """A reference ``input_gradient(model, x, y)`` for the Keras copy of this net (float32 tensor)."""
        import tensorflow as tf

        return lambda model, x, y: tf.constant(self.input_gradient(np.asarray(x), np.asarray(y)), tf.float32)


def training_flags():
    """A Keras layer that passes its input through and records, in ``.calls``, the ``training`` argument of every
    call as text ("True", "False", "None"): the training step's model must run in training mode."""
    import keras

    class TrainingFlags(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.calls: list[str] = []

        def call(self, x, training=None):
            self.calls.append(repr(training))
            return x

    return TrainingFlags()


def tensor_facts(value) -> tuple[bool, str]:
    """(is it a TensorFlow tensor, its dtype's name or its type's name): what :func:`tensor_problem` judges."""
    import tensorflow as tf

    if tf.is_tensor(value):
        return True, value.dtype.name
    return False, f"{type(value).__module__}.{type(value).__name__}"


def tensor_problem(facts, what: str) -> str | None:
    """Name a broken contract of an attack's result: a float32 TensorFlow tensor (later cells call ``.numpy()``)."""
    is_tensor, kind = facts
    if is_tensor and kind == "float32":
        return None
    if is_tensor:
        return f"{what} returned a {kind} tensor: return float32 (work on a float32 tensor of x)"
    return (f"{what} returned a {kind}, not a TensorFlow tensor: later cells call .numpy() on its result, so keep "
            "to TensorFlow operations and return a float32 tensor")


def _inputs(n: int = 8, seed: int = 1, interior: bool = False):
    """Images in [0, 1] with many pixels exactly 0 or 1 (like MNIST), or all in [0.3, 0.7], and labels."""
    rng = np.random.default_rng(seed)
    low, high = (0.3, 0.7) if interior else (-0.4, 1.4)
    x = np.clip(rng.uniform(low, high, (n, *_SHAPE)), 0, 1).astype(np.float32)
    return x, rng.integers(0, 10, n)


def _tensor(value, what: str) -> np.ndarray:
    """``value`` as a float64 array, after requiring the contract of :func:`tensor_problem`."""
    require(value is not None, f"{what} returned None: did you forget `return`?")
    problem = tensor_problem(tensor_facts(value), what)
    require(problem is None, problem or "")
    return _array(value, what)


def _array(value, what: str) -> np.ndarray:
    require(value is not None, f"{what} returned None: did you forget `return`?")
    if isinstance(value, (tuple, list)) and len(value) and not np.isscalar(value[0]):
        require(False, f"{what} returned a {type(value).__name__}; return one array or tensor")
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        require(False, f"{what} did not return an array or tensor ({error})")


def _close(a, b, atol: float = 1e-5) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol, rtol=1e-3))


def _check_box(x_adv, x, eps: float, what: str) -> None:
    require(x_adv.shape == x.shape, f"{what} has shape {x_adv.shape}, expected {x.shape} (the input's shape)")
    require(np.all(np.isfinite(x_adv)), f"{what} contains NaN or infinity")
    require(x_adv.min() >= -1e-6 and x_adv.max() <= 1 + 1e-6,
            f"{what} leaves the pixel range [0, 1] (min {x_adv.min():.3g}, max {x_adv.max():.3g}): clip it")
    worst = np.abs(x_adv - x).max()
    require(worst <= eps + 1e-5,
            f"{what} moves a pixel by {worst:.4g}, more than eps = {eps}: stay inside the epsilon-ball around x")


# --- diagnoses shared with the hidden checks ---------------------------------------------------------

def diagnose_gradient(got, expected, batch: int, logit_gradient=None) -> str | None:
    """Name the mistake when an input gradient ``got`` differs from ``expected`` (None: they agree)."""
    if got is None:
        return ("input_gradient returned None: the tape saw no path from x to the loss. Watch x "
                "(tape.watch) and keep every step inside TensorFlow (no .numpy(), no model.predict)")
    got = np.asarray(got, np.float64)
    if got.shape != np.shape(expected):
        return f"the gradient has shape {got.shape}, expected {np.shape(expected)} (the shape of x)"
    if _close(got, expected):
        return None
    if batch > 1 and _close(got, expected / batch, atol=1e-6):
        return ("the gradient is the true one divided by the batch size: sum the per-example losses, "
                "do not average them (each row must be the gradient of its own image's loss)")
    if _close(got, -expected):
        return "the gradient has the wrong sign: differentiate the loss itself, not its negative"
    if logit_gradient is not None and _close(got, logit_gradient):
        return ("this is the gradient of the model's outputs (logits), not of the loss: differentiate the "
                "cross-entropy of the true labels")
    return ("the gradient dJ/dx differs from the gradient of the summed cross-entropy: the model outputs "
            "logits, so the loss needs from_logits=True, and the labels are the given y")


def diagnose_sign_step(step, direction, eps: float, targeted: bool) -> str | None:
    """Name the mistake in an FGSM step ``x_adv - x`` computed on pixels far from 0 and 1 (no clipping).

    ``direction`` is the gradient the step should follow the sign of (minus the target's gradient for a
    targeted attack); pixels where it is ~0 are ignored.
    """
    step = np.asarray(step, np.float64)
    clear = np.abs(direction) > 1e-5
    step, direction = step[clear], direction[clear]
    wanted = eps * np.sign(direction)
    if np.allclose(step, wanted, atol=1e-5):
        return None
    if np.allclose(step, -wanted, atol=1e-5):
        if targeted:
            return ("targeted FGSM moves up the gradient of the target's loss, which pushes the image away "
                    "from the target: moving toward the target means descending the target's loss, a step of "
                    "minus eps times the sign of its gradient (check the sign)")
        return ("FGSM moves every pixel against the gradient, which lowers the loss: an untargeted attack "
                "raises the loss of the true label, so step along plus the sign of the gradient (check the sign)")
    if np.all(np.abs(step) < 1e-7):
        return "the image did not change: add the perturbation eps * sign(gradient)"
    same_sign = np.mean(np.sign(step) == np.sign(wanted))
    if same_sign > 0.99 and np.std(np.abs(step)) > 1e-4:
        return ("the pixels move by different amounts: FGSM uses the sign of the gradient (tf.sign), not the "
                "gradient itself, so every pixel moves by exactly eps")
    if same_sign > 0.99:
        return (f"every pixel should move by exactly eps = {eps}; yours move by {np.abs(step).mean():.4g} "
                "(the step is eps * sign(gradient))")
    if same_sign < 0.01 and targeted:
        return "targeted FGSM steps the wrong way: descend the target's loss (check the sign)"
    return (f"{1 - same_sign:.0%} of the pixels move in the wrong direction: the step is eps times the sign of "
            "the gradient of the loss " + ("for the target labels, with a minus sign" if targeted else
                                           "for the true labels y"))


def diagnose_training_step(loss, new_weights, weights, lr: float, batch: int, adv: tuple, clean: tuple) -> str | None:
    """Name the mistake of an adversarial training step (None: right).

    ``loss`` and ``new_weights`` are what the student's step returned and left behind; ``adv`` and ``clean``
    are (mean loss, mean-loss gradients) at the original ``weights`` on the adversarial and the clean batch.
    """
    (adv_loss, adv_grads), (clean_loss, clean_grads) = adv, clean
    loss = float(np.asarray(loss, np.float64).sum()) if np.size(loss) else float("nan")

    def updated_by(grads, factor=1.0):
        return all(_close(new, old - factor * lr * g, atol=1e-4)
                   for new, old, g in zip(new_weights, weights, grads))

    if all(_close(new, old, atol=1e-7) for new, old in zip(new_weights, weights)):
        return "the weights did not change: apply the gradient with optimizer.apply_gradients"
    if updated_by(clean_grads) or (not updated_by(adv_grads) and abs(loss - clean_loss) < 1e-4 * (1 + clean_loss)):
        return "the step trains on the clean batch x: compute the loss and its gradient on x_adv from pgd"
    if updated_by(adv_grads, -1.0):
        return "the update goes up the loss: the optimizer minimises, give it the gradient of the loss itself"
    if updated_by(adv_grads, batch):
        return "the update is batch-size times too large: use the mean cross-entropy over the batch, not the sum"
    if not updated_by(adv_grads):
        return ("the weights after the step differ from one optimizer step on the mean cross-entropy of "
                "model(x_adv, training=True)")
    if abs(loss - adv_loss) > 1e-4 * (1 + adv_loss):
        if abs(loss - adv_loss * batch) < 1e-3 * (1 + adv_loss * batch):
            return "the returned loss is the sum over the batch: return the mean cross-entropy"
        return ("the returned loss is not the mean cross-entropy of x_adv before the update: return the loss "
                "computed on the tape")
    return None


def diagnose_eot(got, terms: np.ndarray, unchained: np.ndarray) -> str | None:
    """Name the mistake of an EOT gradient (None: right).

    ``terms`` (n, *x.shape): the gradient with respect to x of the loss under draw j of the scripted
    transformation; ``unchained`` (n, *x.shape): the same taken with respect to the transformed images.
    """
    if got is None:
        return "eot_gradient returned None: the tape must watch x, and transform(x) must be computed on it"
    got = np.asarray(got, np.float64)
    n = len(terms)
    expected = terms.mean(0)
    if got.shape != expected.shape:
        return f"eot_gradient has shape {got.shape}, expected {expected.shape} (the shape of x)"
    if _close(got, expected):
        return None
    if n > 1 and _close(got, terms.sum(0)):
        return f"you return the sum of the {n} gradients: divide by n_samples to average them"
    if n > 1 and _close(got, terms[0]):
        return (f"all your {n} samples used the same draw (or you took one draw and ignored n_samples): call "
                "transform anew for every sample and average the n_samples gradients")
    if n > 1 and _close(got, terms[-1]):
        return "you keep only the last sample's gradient: add up the n_samples gradients and average them"
    if _close(got, unchained.mean(0)) or _close(got, unchained.sum(0)):
        return ("you return the gradient with respect to the transformed image; take it with respect to x "
                "(the tape must watch x and see the transformation)")
    return ("eot_gradient differs from the average over n_samples draws of d(summed cross-entropy of "
            "model(transform(x))) / dx")


# --- the checks --------------------------------------------------------------------------------------

@public_check
def check_input_gradient(input_gradient) -> None:
    """``input_gradient(model, x, y)`` returns d(sum_i J(x_i, y_i))/dx with x's shape."""
    net = _TanhNet()
    x, y = _inputs()
    for xs, ys in ((x, y), (x[:1], y[:1])):
        got = input_gradient(net.keras(), xs, ys)
        problem = diagnose_gradient(None if got is None else _tensor(got, "input_gradient"),
                                    net.input_gradient(xs, ys), len(xs), net.logit_gradient(xs))
        require(problem is None, problem or "")


@public_check
def check_fgsm(fgsm) -> None:
    """``fgsm(model, x, y, eps)``: inside the eps-ball and [0, 1], steps eps*sign(dJ/dx), raises the loss.

    Judged with a reference ``input_gradient``.
    """
    net = _TanhNet()
    fgsm = with_references(fgsm, input_gradient=net.gradient_function())
    x, y = _inputs(interior=True)
    for eps in (0.1, 0.17):
        x_adv = _tensor(fgsm(net.keras(), x, y, eps), "fgsm")
        require(x_adv.shape == x.shape, f"the FGSM image has shape {x_adv.shape}, expected {x.shape}")
        problem = diagnose_sign_step(x_adv - x, net.input_gradient(x, y), eps, targeted=False)
        require(problem is None, problem or "")
    x, y = _inputs()
    x_adv = _tensor(fgsm(net.keras(), x, y, eps), "fgsm")
    _check_box(x_adv, x, eps, "the FGSM image")
    require_close(x_adv, np.clip(x + eps * np.sign(net.input_gradient(x, y)), 0, 1), atol=1e-5,
                  what="FGSM on images with pixels at 0 and 1 (clip to [0, 1] after the step)")
    require(np.mean(net.losses(x_adv, y)) > np.mean(net.losses(x, y)), "FGSM should raise the loss; it does not")


@public_check
def check_fgsm_targeted(fgsm_targeted) -> None:
    """``fgsm_targeted(model, x, target, eps)``: steps -eps*sign(dJ(x, target)/dx), lowers the target's loss.

    Judged with reference ``input_gradient`` and ``fgsm``.
    """
    net = _TanhNet()
    gradient = net.gradient_function()
    fgsm_targeted = with_references(fgsm_targeted, input_gradient=gradient, fgsm=_reference_fgsm(gradient))
    x, _ = _inputs(interior=True)
    target = (np.arange(len(x)) * 3) % 10
    for eps in (0.1, 0.17):
        x_adv = _tensor(fgsm_targeted(net.keras(), x, target, eps), "fgsm_targeted")
        require(x_adv.shape == x.shape, f"the targeted FGSM image has shape {x_adv.shape}, expected {x.shape}")
        problem = diagnose_sign_step(x_adv - x, -net.input_gradient(x, target), eps, targeted=True)
        require(problem is None, problem or "")
    x, _ = _inputs()
    x_adv = _tensor(fgsm_targeted(net.keras(), x, target, eps), "fgsm_targeted")
    _check_box(x_adv, x, eps, "the targeted FGSM image")
    require(np.mean(net.losses(x_adv, target)) < np.mean(net.losses(x, target)),
            "targeted FGSM should lower the loss of the target class; it does not")


def _reference_fgsm(gradient: Callable) -> Callable:
    import tensorflow as tf

    def fgsm(model, x, y, eps):
        x = tf.convert_to_tensor(x, tf.float32)
        return tf.clip_by_value(x + eps * tf.sign(gradient(model, x, y)), 0.0, 1.0)

    return fgsm


def reference_pgd(x, gradient: Callable, eps: float, alpha: float, steps: int, start=None) -> np.ndarray:
    """NumPy PGD from ``start`` (default x) with ``gradient(x_adv) -> array``: the exercise's iteration."""
    x = np.asarray(x, np.float64)
    x_adv = x.copy() if start is None else np.asarray(start, np.float64)
    for _ in range(steps):
        x_adv = np.clip(np.clip(x_adv + alpha * np.sign(gradient(x_adv)), x - eps, x + eps), 0, 1)
    return x_adv


def scripted_gradients(seed: int, shape) -> dict[str, tuple[str, Callable]]:
    """Stand-ins for PGD's ``gradient`` argument: (source of ``lambda model, x, y: ...``, NumPy twin).

    "pattern": a fixed gradient with mixed signs and magnitudes from 0.001 to 5; "pull": a gradient that
    depends on where the iterate is (towards a fixed image c), so that evaluating it at x instead of at
    x_adv, or taking one step too many, changes the result.
    """
    rng = np.random.default_rng(seed)
    pattern = (rng.choice([-1.0, 1.0], shape) * np.exp(rng.uniform(np.log(1e-3), np.log(5), shape)))
    pattern = pattern.astype(np.float32)
    centre = rng.uniform(0, 1, shape).astype(np.float32)
    return {
        "pattern": (f"lambda model, x, y: __import__('tensorflow').constant({pattern.tolist()!r}, 'float32')",
                    lambda x_adv: pattern),
        "pull": (f"lambda model, x, y: __import__('tensorflow').constant({centre.tolist()!r}, 'float32') - "
                 "__import__('tensorflow').cast(x, 'float32')",
                 lambda x_adv: centre - x_adv),
    }


ONES = "lambda model, x, y: __import__('tensorflow').ones_like(x)"
"""Source of a gradient stand-in that is 1 everywhere: PGD's iterate climbs to the corner min(x + eps, 1)."""


def diagnose_pgd(run: Callable, x, eps: float, alpha: float, scripted: dict) -> str | None:
    """Name the mistake of a PGD implementation from runs with scripted gradients (None: right).

    ``run(gradient_source, steps, random_start) -> x_adv`` runs the student's pgd with the gradient
    stand-in whose ``lambda`` source is given; ``scripted`` is :func:`scripted_gradients`' result.
    """
    x = np.asarray(x, np.float64)
    ones = ONES
    box = _box_problem(run(ones, 0, True), x, eps, "the random start (steps=0)")
    if box:
        return box
    got = run(ones, 2, False)
    if _close(got, x) and not _close(np.clip(x + 2 * alpha, 0, 1), x):
        return ("with a gradient of ones, PGD did not move the image: use the `gradient` argument "
                "(call gradient(model, x_adv, y)), not input_gradient")
    if not _close(got, np.clip(x + 2 * alpha, 0, 1)):
        if _close(got, np.clip(x - 2 * alpha, 0, 1)):
            return "PGD steps down the gradient, which lowers the loss: step along plus alpha * sign (check the sign)"
        for k in (1, 3):
            if _close(got, np.clip(x + k * alpha, 0, 1)):
                return f"asked for 2 steps, PGD took {k}: loop exactly `steps` times"
        return ("with a gradient of ones and no random start, 2 steps should add 2 * alpha to every pixel (then "
                "clip to [0, 1]); use the `gradient` argument and step alpha * sign(gradient)")
    steps = int(np.ceil(2 * eps / alpha)) + 1
    for random_start in (False, True):
        got = run(ones, steps, random_start)
        if np.abs(got - x).max() > eps + 1e-5 and got.min() >= -1e-6 and got.max() <= 1 + 1e-6:
            if random_start and np.abs(run(ones, steps, False) - x).max() <= eps + 1e-5:
                return ("from a random start PGD leaves the epsilon-ball around x: project around the original "
                        "x (clip to [x - eps, x + eps]), not around the random start")
            return ("PGD leaves the epsilon-ball around x: after every step project around the original x "
                    "(clip to [x - eps, x + eps], then to [0, 1]), not around the previous iterate, and "
                    "never skip the projection")
        box = _box_problem(got, x, eps, "the PGD image")
        if box:
            return box
        if not _close(got, np.clip(x + eps, 0, 1)):
            return ("with a gradient of ones, enough steps should take every pixel to min(x + eps, 1), the corner "
                    "of the allowed set: project onto [x - eps, x + eps] and [0, 1] after every step")
    source, twin = scripted["pattern"]
    got = run(source, 3, False)
    if not _close(got, reference_pgd(x, twin, eps, alpha, 3)):
        if _close(got, np.clip(np.clip(x + 3 * alpha * twin(x), x - eps, x + eps), 0, 1), atol=1e-4):
            return "PGD steps along the gradient itself: use its sign, so that every pixel moves by alpha per step"
        return "with a fixed gradient, 3 PGD steps should move each pixel by alpha * sign(gradient) each time"
    source, twin = scripted["pull"]
    got = run(source, 5, False)
    if not _close(got, reference_pgd(x, twin, eps, alpha, 5)):
        if _close(got, reference_pgd(x, lambda _: twin(x), eps, alpha, 5)):
            return "PGD evaluates the gradient at x every time: evaluate it at the current iterate x_adv"
        return ("with a gradient that depends on the iterate, PGD's steps differ from the projected "
                "sign-gradient iteration: x_adv <- clip(clip(x_adv + alpha * sign(gradient(model, x_adv, y)), "
                "x - eps, x + eps), 0, 1)")
    return _start_problem(run(ones, 0, True), run(ones, 0, True), x, eps)


def _box_problem(x_adv, x, eps: float, what: str) -> str | None:
    try:
        _check_box(np.asarray(x_adv, np.float64), x, eps, what)
    except Problem as problem:
        return str(problem)
    return None


def _start_problem(start, again, x, eps: float) -> str | None:
    """The random start must be uniform in the ball (both signs, up to eps), clipped, new on every call."""
    if _close(start, x):
        return "with random_start=True and 0 steps, x_adv should be a random point of the ball, not x itself"
    if _close(start, again):
        return "two random starts are identical: draw new noise on every call"
    inside = (x > eps) & (x < 1 - eps)
    noise = (np.asarray(start, np.float64) - x)[inside]
    if np.mean(noise > 0) > 0.9 or np.mean(noise < 0) > 0.9:
        return "the random start moves the pixels one way only: draw the noise uniformly in [-eps, eps]"
    if np.abs(noise).max() < 0.6 * eps or np.mean(np.abs(noise) > eps - 1e-6) > 0.05:
        return "the random start is not uniform in [-eps, eps] (tf.random.uniform with minval -eps, maxval eps)"
    return None


@public_check
def check_pgd(pgd) -> None:
    """``pgd(model, x, y, eps, alpha, steps, random_start=True, gradient=input_gradient)``.

    Judged with scripted gradients (passed as ``gradient``) and with the reference input gradient.
    """
    net = _TanhNet()
    model = net.keras()
    x, y = _inputs()
    eps, alpha = 0.1, 0.03

    def run(source: str, steps: int, random_start: bool, eps: float = eps):
        gradient = eval(source)  # noqa: S307 - a lambda written above, not user input
        return _tensor(pgd(model, x, y, eps, alpha, steps, random_start=random_start, gradient=gradient), "pgd")

    problem = diagnose_pgd(run, x, eps, alpha, scripted_gradients(7, x.shape))
    require(problem is None, problem or "")
    require_close(run(ONES, 8, False, eps=0.17), np.clip(x + 0.17, 0, 1), atol=1e-5,
                  what="PGD with eps = 0.17 and a gradient of ones after 8 steps: min(x + eps, 1), the corner of the "
                       "allowed set (use the eps argument)")
    reference = net.gradient_function()
    got = _tensor(pgd(model, x, y, eps, alpha, 10, random_start=False, gradient=reference), "pgd")
    expected = reference_pgd(x, lambda x_adv: net.input_gradient(x_adv, y), eps, alpha, 10)
    agree = np.mean(np.abs(got - expected) < 1e-4)
    require(agree > 0.98, f"with the input gradient, PGD (10 steps, no random start) agrees with the reference on "
                          f"only {agree:.0%} of the pixels")
    losses = [np.mean(net.losses(_array(pgd(model, x, y, eps, alpha, k, random_start=False, gradient=reference),
                                        "pgd"), y)) for k in (0, 1, 2, 4, 8)]
    require(all(b >= a - 1e-6 for a, b in zip(losses, losses[1:])),
            "the loss should not go down as PGD takes more steps; got mean losses "
            + ", ".join(f"{value:.3f}" for value in losses) + " after 0, 1, 2, 4, 8 steps")


def scripted_pgd_source() -> str:
    """Source of a stand-in ``pgd`` for judging the training step: deterministic, records its arguments.

    Defines ``pgd`` and ``pgd_calls`` (a list of [eps, alpha, steps, random_start]); its images are
    clip(x + eps * pattern, 0, 1) with a fixed +-1 pattern, inside the ball like a real attack's.
    """
    return '''
import numpy as _np
import tensorflow as _tf
pgd_calls = []
def pgd(model, x, y, eps, alpha, steps, random_start=True, gradient=None):
    pgd_calls.append([float(eps), float(alpha), int(steps), bool(random_start)])
    x = _tf.convert_to_tensor(x, _tf.float32)
    n = int(_np.prod(x.shape[1:]))
    pattern = _tf.reshape(_tf.constant(_np.where(_np.arange(n) * 7 % 3 == 0, -1.0, 1.0), _tf.float32), x.shape[1:])
    return _tf.clip_by_value(x + eps * pattern, 0.0, 1.0)
'''


def scripted_pgd() -> tuple[Callable, list]:
    namespace: dict = {}
    exec(scripted_pgd_source(), namespace)  # noqa: S102 - our own source, above
    return namespace["pgd"], namespace["pgd_calls"]


def diagnose_pgd_call(calls: list, eps: float, alpha: float, steps: int) -> str | None:
    """The training step must make its batch with one call pgd(model, x, y, eps, alpha, steps) (random start)."""
    if not calls:
        return "adversarial_train_step must make its adversarial batch with pgd(model, x, y, eps, alpha, steps)"
    got = calls[0]
    if not np.allclose(got[:3], [eps, alpha, steps]):
        return (f"pgd was called with eps, alpha, steps = {got[0]:g}, {got[1]:g}, {got[2]}; pass the step's own "
                f"eps, alpha and steps ({eps:g}, {alpha:g}, {steps})")
    if not got[3]:
        return "keep PGD's random start (random_start=True) when making the training batch"
    return None


@public_check
def check_adversarial_train_step(adversarial_train_step) -> None:
    """``adversarial_train_step(model, optimizer, x, y, eps, alpha, steps)`` returns (loss, x_adv) and updates.

    Judged with a scripted, deterministic ``pgd``.
    """
    import keras

    net = _TanhNet()
    model = net.keras()
    x, y = _inputs()
    eps, alpha, steps, lr = 0.1, 0.04, 3, 0.5
    pgd, calls = scripted_pgd()
    step = with_references(adversarial_train_step, pgd=pgd)
    result = step(model, keras.optimizers.SGD(lr), x, y, eps, alpha, steps)
    require(isinstance(result, (tuple, list)) and len(result) == 2, "return a pair (loss, x_adv)")
    problem = diagnose_pgd_call(calls, eps, alpha, steps)
    require(problem is None, problem or "")
    x_pgd = _array(pgd(model, x, y, eps, alpha, steps), "pgd")
    require_close(_array(result[1], "x_adv"), x_pgd, atol=1e-6, what="the returned x_adv (pgd's images)")

    problem = diagnose_training_step(result[0], model.get_weights(), net.weights, lr, len(x),
                                     adv=(float(np.mean(net.losses(x_pgd, y))), net.weight_gradients(x_pgd, y)),
                                     clean=(float(np.mean(net.losses(x, y))), net.weight_gradients(x, y)))
    require(problem is None, problem or "")
    problem = training_call_problem(model.layers[0].calls, result[0])
    require(problem is None, (problem or "").replace("train_step", "adversarial_train_step"))


class ScriptedTransform:
    """A stand-in for ``random_transform`` whose draws are known: EOT averaging becomes checkable exactly.

    The k-th time it sees an image (k = 0, 1, ...), it applies draw k to it:
    ``t_k(image) = a_k * roll(image, k, width axis) + b_k``. Calls in a loop and one call on the batch
    tiled n times give the same draws, so both ways of writing EOT are judged alike.
    """

    def __init__(self):
        self.seen: dict[bytes, int] = {}

    @staticmethod
    def draw(k: int) -> tuple[float, int, float]:
        """(a_k, shift_k, b_k) of draw k."""
        return 0.5 + (0.37 * k) % 1.0, k, 0.02 * k

    def __call__(self, x):
        import tensorflow as tf

        x = tf.convert_to_tensor(x, tf.float32)
        out = []
        for i, image in enumerate(x.numpy()):
            key = image.tobytes()
            k = self.seen.get(key, 0)
            self.seen[key] = k + 1
            a, shift, b = self.draw(k)
            out.append(a * tf.roll(x[i], shift, axis=1) + b)
        return tf.stack(out)

    @classmethod
    def terms(cls, x, gradient: Callable, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(gradient with respect to x under draw k, gradient with respect to the transformed image), k < n.

        ``gradient(images) -> d(summed loss)/d(images)``, NumPy.
        """
        x = np.asarray(x, np.float64)
        chained, unchained = [], []
        for k in range(n):
            a, shift, b = cls.draw(k)
            g = gradient(a * np.roll(x, shift, axis=2) + b)
            unchained.append(g)
            chained.append(a * np.roll(g, -shift, axis=2))
        return np.array(chained), np.array(unchained)


@public_check
def check_eot_gradient(eot_gradient) -> None:
    """``eot_gradient(model, x, y, transform, n_samples)``: average gradient through the transformation.

    Judged with a scripted transformation whose draws are known.
    """
    net = _TanhNet()
    model = net.keras()
    x, y = _inputs()
    for n in (1, 4):
        got = eot_gradient(model, x, y, ScriptedTransform(), n)
        terms, unchained = ScriptedTransform.terms(x, lambda images: net.input_gradient(images, y), n)
        problem = diagnose_eot(None if got is None else _array(got, "eot_gradient"), terms, unchained)
        require(problem is None, problem or "")
