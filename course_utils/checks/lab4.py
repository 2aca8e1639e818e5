"""Public checks for Lab 4: adversarial attacks and defences.

Every check runs the student's function on a small fixed model (flatten, a tanh hidden layer, 10 logits)
with fixed inputs, and compares with gradients written out by hand in NumPy (float64), so that the
reference does not depend on the code being checked. Properties, not magic numbers: the gradient's
values, the epsilon-ball and the pixel range, sign patterns, and that an attack raises the loss.
"""

from __future__ import annotations

import numpy as np

from course_utils.checks import public_check, require, require_close

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
        """A Keras model with the same weights (float32)."""
        import keras

        model = keras.Sequential([keras.Input(_SHAPE), keras.layers.Flatten(),
                                  keras.layers.Dense(_HIDDEN, activation="tanh"), keras.layers.Dense(10)])
        model.set_weights([w.astype(np.float32) for w in self.weights])
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

    def weight_gradients(self, x, y) -> list[np.ndarray]:
        """d(mean loss)/d(W1, b1, W2, b2)."""
        w1, _, w2, _ = self.weights
        flat, hidden, probs = self._forward(x)
        delta = probs.copy()
        delta[np.arange(len(x)), y] -= 1
        delta /= len(x)
        dz = (delta @ w2.T) * (1 - hidden**2)
        return [flat.T @ dz, dz.sum(0), hidden.T @ delta, delta.sum(0)]


def _inputs(n: int = 8, seed: int = 1):
    """Images in [0, 1] with many pixels exactly 0 or 1 (like MNIST), and labels."""
    rng = np.random.default_rng(seed)
    x = np.clip(rng.uniform(-0.4, 1.4, (n, *_SHAPE)), 0, 1).astype(np.float32)
    return x, rng.integers(0, 10, n)


def _array(value, what: str) -> np.ndarray:
    require(value is not None, f"{what} returned None: did you forget `return`, or `tape.watch(x)`?")
    if isinstance(value, (tuple, list)) and len(value) and not np.isscalar(value[0]):
        require(False, f"{what} returned a {type(value).__name__}; return one array or tensor")
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        require(False, f"{what} did not return an array or tensor ({error})")


def _check_box(x_adv, x, eps: float, what: str) -> None:
    require(x_adv.shape == x.shape, f"{what} has shape {x_adv.shape}, expected {x.shape} (the input's shape)")
    require(np.all(np.isfinite(x_adv)), f"{what} contains NaN or infinity")
    require(x_adv.min() >= -1e-6 and x_adv.max() <= 1 + 1e-6,
            f"{what} leaves the pixel range [0, 1] (min {x_adv.min():.3g}, max {x_adv.max():.3g}): clip it")
    worst = np.abs(x_adv - x).max()
    require(worst <= eps + 1e-5,
            f"{what} moves a pixel by {worst:.4g}, more than eps = {eps}: stay inside the epsilon-ball")


@public_check
def check_input_gradient(input_gradient) -> None:
    """``input_gradient(model, x, y)`` returns d(sum_i J(x_i, y_i))/dx with x's shape."""
    net = _TanhNet()
    x, y = _inputs()
    expected = net.input_gradient(x, y)
    got = _array(input_gradient(net.keras(), x, y), "input_gradient")
    require(got.shape == x.shape, f"the gradient has shape {got.shape}, expected {x.shape} (the shape of x)")
    if np.allclose(got, expected / len(x), atol=1e-6, rtol=1e-3) and not np.allclose(got, expected, atol=1e-6):
        require(False, "the gradient is the true one divided by the batch size: sum the per-example losses "
                       "(tf.reduce_sum), do not average them")
    if np.allclose(got, -expected, atol=1e-6, rtol=1e-3):
        require(False, "the gradient has the wrong sign: differentiate the loss itself, not its negative")
    require_close(got, expected, what="the gradient dJ/dx", atol=1e-5, rtol=1e-3)
    single = _array(input_gradient(net.keras(), x[:1], y[:1]), "input_gradient on one image")
    require_close(single, expected[:1], what="the gradient of a batch of one image", atol=1e-5, rtol=1e-3)


def _check_sign_step(x_adv, x, direction, eps: float, what: str) -> None:
    """Unclipped pixels with a clear gradient must move by exactly eps in the sign of ``direction``."""
    step = x_adv - x
    interior = (np.abs(direction) > 1e-6) & (x + eps * np.sign(direction) >= 0) & (x + eps * np.sign(direction) <= 1)
    moved = np.sign(step[interior])
    wanted = np.sign(direction[interior])
    if np.mean(moved == -wanted) > 0.9:
        require(False, f"{what} moves the pixels against the direction it should: check the sign of the step")
    mismatch = np.mean(moved != wanted)
    require(mismatch == 0, f"{what}: {mismatch:.1%} of the pixels that are not clipped move in the wrong "
                           "direction (or not at all); the step is eps * sign(gradient)")
    require_close(np.abs(step[interior]), np.full(interior.sum(), eps), what=f"{what}: size of each pixel's step",
                  atol=1e-5, rtol=0)


@public_check
def check_fgsm(fgsm) -> None:
    """``fgsm(model, x, y, eps)``: inside the eps-ball and [0, 1], steps eps*sign(dJ/dx), raises the loss."""
    net = _TanhNet()
    x, y = _inputs()
    eps = 0.1
    x_adv = _array(fgsm(net.keras(), x, y, eps), "fgsm")
    _check_box(x_adv, x, eps, "the FGSM image")
    _check_sign_step(x_adv, x, net.input_gradient(x, y), eps, "FGSM")
    require(np.mean(net.losses(x_adv, y)) > np.mean(net.losses(x, y)), "FGSM should raise the loss; it does not")


@public_check
def check_fgsm_targeted(fgsm_targeted) -> None:
    """``fgsm_targeted(model, x, target, eps)``: steps -eps*sign(dJ(x, target)/dx), lowers the target's loss."""
    net = _TanhNet()
    x, _ = _inputs()
    target = (np.arange(len(x)) * 3) % 10
    eps = 0.1
    x_adv = _array(fgsm_targeted(net.keras(), x, target, eps), "fgsm_targeted")
    _check_box(x_adv, x, eps, "the targeted FGSM image")
    _check_sign_step(x_adv, x, -net.input_gradient(x, target), eps, "targeted FGSM")
    require(np.mean(net.losses(x_adv, target)) < np.mean(net.losses(x, target)),
            "targeted FGSM should lower the loss of the target class; it does not")


def _reference_pgd(net: _TanhNet, x, y, eps: float, alpha: float, steps: int) -> np.ndarray:
    x_adv = x.astype(np.float64)
    for _ in range(steps):
        x_adv = x_adv + alpha * np.sign(net.input_gradient(x_adv, y))
        x_adv = np.clip(np.clip(x_adv, x - eps, x + eps), 0, 1)
    return x_adv


@public_check
def check_pgd(pgd) -> None:
    """``pgd(model, x, y, eps, alpha, steps, random_start=True, gradient=input_gradient)``."""
    net = _TanhNet()
    model = net.keras()
    x, y = _inputs()
    eps, alpha = 0.1, 0.03
    x_adv = _array(pgd(model, x, y, eps, alpha, 10, random_start=False), "pgd")
    _check_box(x_adv, x, eps, "the PGD image")
    expected = _reference_pgd(net, x, y, eps, alpha, 10)
    agree = np.mean(np.abs(x_adv - expected) < 1e-4)
    require(agree > 0.98, f"without random start, PGD (10 steps) agrees with the reference on only {agree:.0%} of "
                          "the pixels: each step adds alpha * sign(gradient), then clips to [x - eps, x + eps] "
                          "and to [0, 1]")
    losses = [np.mean(net.losses(_array(pgd(model, x, y, eps, alpha, k, random_start=False), "pgd"), y))
              for k in (0, 1, 2, 4, 8)]
    require(all(b >= a - 1e-6 for a, b in zip(losses, losses[1:])),
            "the loss should not go down as PGD takes more steps; got mean losses "
            + ", ".join(f"{value:.3f}" for value in losses) + " after 0, 1, 2, 4, 8 steps")
    starts = [_array(pgd(model, x, y, eps, alpha, 0, random_start=True), "pgd") for _ in range(2)]
    for start in starts:
        _check_box(start, x, eps, "the random start")
    require(not np.allclose(starts[0], x), "with random_start=True and 0 steps, x_adv should be a random point of "
                                           "the ball, not x itself")
    require(not np.allclose(starts[0], starts[1]), "two random starts are identical: draw new noise every call")
    ones = _array(pgd(model, x, y, eps, alpha, 2, random_start=False,
                      gradient=lambda model, x, y: np.ones(np.shape(x), np.float32)), "pgd")
    require_close(ones, np.clip(x + 2 * alpha, 0, 1), atol=1e-5,
                  what="PGD with a gradient function that returns ones (use the `gradient` argument)")


@public_check
def check_adversarial_train_step(adversarial_train_step) -> None:
    """``adversarial_train_step(model, optimizer, x, y, eps, alpha, steps)`` returns (loss, x_adv) and updates."""
    import keras

    net = _TanhNet()
    model = net.keras()
    x, y = _inputs()
    eps, alpha, lr = 0.1, 0.04, 0.5
    result = adversarial_train_step(model, keras.optimizers.SGD(lr), x, y, eps, alpha, 3)
    require(isinstance(result, (tuple, list)) and len(result) == 2, "return a pair (loss, x_adv)")
    loss, x_adv = float(np.asarray(result[0])), _array(result[1], "x_adv")
    _check_box(x_adv, x, eps, "x_adv")
    require(np.mean(net.losses(x_adv, y)) > np.mean(net.losses(x, y)),
            "the loss on x_adv is not higher than on x: x_adv should come from pgd(model, x, y, ...)")
    require_close(loss, np.mean(net.losses(x_adv, y)), atol=1e-4, rtol=1e-3,
                  what="the returned loss (mean cross-entropy on x_adv, with the weights before the update)")
    updated = model.get_weights()
    for name, w, g, new in zip(["W1", "b1", "W2", "b2"], net.weights, net.weight_gradients(x_adv, y), updated):
        require(not np.allclose(new, w), f"the weights ({name}) did not change: apply the optimizer step")
        require_close(new, w - lr * g, atol=1e-4, rtol=1e-3,
                      what=f"{name} after one SGD step on the mean loss of x_adv")


@public_check
def check_eot_gradient(eot_gradient) -> None:
    """``eot_gradient(model, x, y, transform, n_samples)``: average gradient through the transformation."""
    net = _TanhNet()
    model = net.keras()
    x, y = _inputs()
    plain = net.input_gradient(x, y)
    same = _array(eot_gradient(model, x, y, lambda t: t, 3), "eot_gradient")
    require(same.shape == x.shape, f"eot_gradient has shape {same.shape}, expected {x.shape}")
    if np.allclose(same, 3 * plain, atol=1e-5, rtol=1e-3):
        require(False, "with the identity transformation and 3 samples you return 3 times the gradient: "
                       "divide the total by n_samples")
    require_close(same, plain, atol=1e-5, rtol=1e-3,
                  what="eot_gradient with the identity transformation (should equal input_gradient)")

    def flip(t):
        import tensorflow as tf

        return tf.reverse(t, axis=[2])

    flipped = x[:, :, ::-1]
    expected = net.input_gradient(flipped, y)[:, :, ::-1]
    got = _array(eot_gradient(model, x, y, flip, 2), "eot_gradient")
    if np.allclose(got, expected[:, :, ::-1], atol=1e-5, rtol=1e-3):
        require(False, "you return the gradient with respect to the transformed image; take it with respect to "
                       "x (the tape must watch x and see the transformation)")
    require_close(got, expected, atol=1e-5, rtol=1e-3,
                  what="eot_gradient with a left-right flip as the transformation")
