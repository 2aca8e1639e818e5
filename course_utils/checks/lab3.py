"""Public checks of lab 3 (debiasing a face detector with a DB-VAE).

Each check runs the student's function on small fixed inputs and compares it
with a NumPy reference written here, or tests a property (sample moments,
probabilities that sum to one, weights that a step must or must not change).
A function that calls an earlier exercise (``vae_loss`` calls ``kl_divergence``...)
is judged with *reference* versions of what it calls, so one mistake fails one
check only; when a result matches a typical mistake, the message names it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np

from course_utils.checks import Problem, array_problem, public_check, require, require_close, with_references


def _np(value) -> np.ndarray:
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64)


def kl_reference(mu, logvar) -> np.ndarray:
    """Closed-form KL(N(mu, exp(logvar)) || N(0, I)) per row."""
    mu, logvar = np.asarray(mu, np.float64), np.asarray(logvar, np.float64)
    return 0.5 * np.sum(np.exp(logvar) + mu ** 2 - 1.0 - logvar, axis=-1)


def vae_loss_reference(x, x_recon, mu, logvar, kl_weight) -> np.ndarray:
    """Mean absolute reconstruction error per image + kl_weight * KL."""
    x, x_recon = np.asarray(x, np.float64), np.asarray(x_recon, np.float64)
    return np.abs(x - x_recon).mean(axis=(1, 2, 3)) + kl_weight * kl_reference(mu, logvar)


def debiasing_loss_reference(x, x_recon, y, y_logit, mu, logvar, kl_weight) -> np.ndarray:
    """Binary cross-entropy on the logit + y * VAE loss, per image."""
    y, logit = np.asarray(y, np.float64), np.asarray(y_logit, np.float64)
    bce = np.maximum(logit, 0) - logit * y + np.log1p(np.exp(-np.abs(logit)))
    return bce + y * vae_loss_reference(x, x_recon, mu, logvar, kl_weight)


def _inverse_densities(mu, bins: int, smoothing: float, *, right: bool = False, density: bool = True) -> np.ndarray:
    """The smoothed inverse density 1 / (Q_j(x) + smoothing) of every face's bin, per dimension: (k, n).

    ``mu`` (n, k); the outer bin edges are open. ``right`` and ``density=False`` compute two typical
    mistakes (faces on an inner edge put in the bin to its left; counts instead of the density).
    """
    weights = []
    for column in np.asarray(mu, np.float64).T:
        values, edges = np.histogram(column, bins=bins, density=density)
        edges[0], edges[-1] = -np.inf, np.inf
        weights.append(1.0 / (values[np.digitize(column, edges, right=right) - 1] + smoothing))
    return np.array(weights)


def _largest_normalised(weights: np.ndarray) -> np.ndarray:
    """Per face the largest of the per-dimension weights (k, n) normalised over the faces, normalised again: (n,)."""
    probabilities = (weights / weights.sum(axis=1, keepdims=True)).max(axis=0)
    return probabilities / probabilities.sum()


def sampling_probabilities_reference(mu, bins: int = 10, smoothing: float = 0.001) -> np.ndarray:
    """Per-dimension inverse smoothed histogram density, max over dimensions, normalised: (n, k) -> (n,)."""
    return _largest_normalised(_inverse_densities(mu, bins, smoothing))


def tf_kl_divergence(mu, logvar):
    """Reference ``kl_divergence`` in TensorFlow: (n, k), (n, k) -> (n,)."""
    import tensorflow as tf

    return 0.5 * tf.reduce_sum(tf.exp(logvar) + tf.square(mu) - 1.0 - logvar, axis=-1)


def tf_vae_loss(x, x_recon, mu, logvar, kl_weight=0.0005):
    """Reference ``vae_loss`` in TensorFlow: images (n, h, w, c), latents (n, k) -> (n,)."""
    import tensorflow as tf

    return tf.reduce_mean(tf.abs(x - x_recon), axis=(1, 2, 3)) + kl_weight * tf_kl_divergence(mu, logvar)


def tf_debiasing_loss(x, x_recon, y, y_logit, mu, logvar, kl_weight=0.0005):
    """Reference ``debiasing_loss`` in TensorFlow: per-image loss (n,)."""
    import tensorflow as tf

    y = tf.cast(y, tf.float32)
    return (tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=y_logit)
            + y * tf_vae_loss(x, x_recon, mu, logvar, kl_weight))


REFERENCES = {"kl_divergence": tf_kl_divergence, "vae_loss": tf_vae_loss, "debiasing_loss": tf_debiasing_loss}


def judged_with_references(function: Callable, *names: str) -> Callable:
    """``function`` with the global ``names`` bound to the references above (see :func:`with_references`)."""
    return with_references(function, **{name: REFERENCES[name] for name in names})


def mistake_problem(got, expected, mistakes: dict[str, object], *, what: str, atol: float = 1e-4,
                    rtol: float = 1e-4) -> str | None:
    """None when ``got`` matches ``expected``; else the message of the typical mistake it matches, or how it differs.

    ``mistakes`` maps a message to the value that mistake produces (shared with the hidden checks).
    """
    problem = array_problem(got, expected, what=what, atol=atol, rtol=rtol)
    if problem is None:
        return None
    for message, wrong in mistakes.items():
        if array_problem(got, wrong, atol=atol, rtol=rtol) is None:
            return f"{what}: {message}"
    return problem


def diagnose(got, expected, mistakes: dict[str, object], *, what: str, atol: float = 1e-4, rtol: float = 1e-4) -> None:
    """Stop the check unless ``got`` matches ``expected``; when it matches a typical mistake, name it."""
    require_no_problem(mistake_problem(got, expected, mistakes, what=what, atol=atol, rtol=rtol))


def kl_mistakes(mu, logvar) -> dict[str, np.ndarray]:
    """The KL divergence as typical mistakes compute it: {message: value (n,)}."""
    terms = np.exp(logvar) + mu ** 2 - 1.0 - logvar
    return {
        "the factor 1/2 is missing": terms.sum(-1),
        "you averaged over the latent dimensions; the KL divergence is their sum": 0.5 * terms.mean(-1),
        "you used sigma = exp(logvar / 2) where the formula has the variance sigma^2 = exp(logvar)":
            0.5 * np.sum(np.exp(0.5 * logvar) + mu ** 2 - 1.0 - logvar, -1),
        "a sign is wrong: the terms are sigma^2 + mu^2 - 1 - log sigma^2":
            0.5 * np.sum(np.exp(logvar) + mu ** 2 - 1.0 + logvar, -1),
    }


def vae_loss_mistakes(x, x_recon, mu, logvar, weight: float) -> dict[str, np.ndarray]:
    """The VAE loss as typical mistakes compute it: {message: value (n,)}."""
    kl = kl_reference(mu, logvar)
    mistakes = {
        "you summed the absolute errors over the pixels; the reconstruction term is their mean":
            np.abs(x - x_recon).sum(axis=(1, 2, 3)) + weight * kl,
        "you used the squared error; this lab's reconstruction term is the mean absolute error":
            ((x - x_recon) ** 2).mean(axis=(1, 2, 3)) + weight * kl,
        "the KL divergence is not multiplied by kl_weight": np.abs(x - x_recon).mean(axis=(1, 2, 3)) + kl,
    }
    if weight:
        mistakes["the KL divergence is missing"] = np.abs(x - x_recon).mean(axis=(1, 2, 3))
    return mistakes


def debiasing_loss_mistakes(x, x_recon, y, y_logit, mu, logvar, weight: float) -> dict[str, np.ndarray]:
    """The DB-VAE loss as typical mistakes compute it: {message: value (n,)}."""
    vae = vae_loss_reference(x, x_recon, mu, logvar, weight)
    bce = debiasing_loss_reference(x, x_recon, y, y_logit, mu, logvar, weight) - y * vae
    probability = 1 / (1 + np.exp(-y_logit))
    bce_of_probability = np.maximum(probability, 0) - probability * y + np.log1p(np.exp(-np.abs(probability)))
    return {
        "the VAE loss is added for every image; it must count for faces only (multiply it by y)": bce + vae,
        "the VAE loss is missing: faces need classification + VAE loss": bce,
        "the classification term got sigmoid(y_logit); sigmoid_cross_entropy_with_logits wants the raw logit":
            bce_of_probability + y * vae,
        "the classification term is missing": y * vae,
        "kl_weight is not passed on to vae_loss (it used its default 0.0005)":
            bce + y * vae_loss_reference(x, x_recon, mu, logvar, 0.0005),
    }


def sampling_mistakes(mu, bins: int, smoothing: float) -> dict[str, np.ndarray]:
    """Sampling probabilities as typical mistakes compute them: {message: value (n,)}."""
    weights = _inverse_densities(mu, bins, smoothing)
    log_product = np.log(weights).sum(axis=0)
    mistakes = {
        "the smoothing constant is not added to the density before the inverse":
            sampling_probabilities_reference(mu, bins, smoothing=0.0),
        "the weights of each dimension are not normalised to sum to one before the maximum":
            weights.max(axis=0) / weights.max(axis=0).sum(),
        "a face exactly on an inner bin edge belongs to the bin on its right, as in np.histogram (bins are "
        "[a, b)); np.digitize(..., right=True) puts it in the bin on its left":
            _largest_normalised(_inverse_densities(mu, bins, smoothing, right=True)),
        "np.histogram gave counts: the formula uses the density (density=True)":
            _largest_normalised(_inverse_densities(mu, bins, smoothing, density=False)),
        "you multiplied the weights of the dimensions (the paper's rule); this lab takes, face by face, the "
        "largest normalised weight over the dimensions": np.exp(log_product - log_product.max())
        / np.exp(log_product - log_product.max()).sum(),
        "you added up the normalised weights of the dimensions; take, face by face, their largest":
            (weights / weights.sum(axis=1, keepdims=True)).sum(axis=0) / len(weights),
    }
    if bins != 10:
        mistakes["the bins argument is ignored: you always used 10 bins"] = sampling_probabilities_reference(
            mu, 10, smoothing)
    if smoothing != 0.001:
        mistakes["the smoothing argument is ignored: you always used 0.001"] = sampling_probabilities_reference(
            mu, bins, 0.001)
    return mistakes


def kl_gradients(mu, logvar) -> dict[str, np.ndarray]:
    """Gradients of the summed KL divergence with respect to mu and logvar, each (n, k)."""
    return {"mu": np.asarray(mu, np.float64), "logvar": 0.5 * (np.exp(np.asarray(logvar, np.float64)) - 1.0)}


def vae_loss_gradients(x, x_recon, mu, logvar, kl_weight, face=1.0) -> dict[str, np.ndarray]:
    """Gradients of the summed VAE loss (each image's times ``face``, (n,) or a number) w.r.t. x_recon, mu, logvar."""
    x, x_recon = np.asarray(x, np.float64), np.asarray(x_recon, np.float64)
    face = np.broadcast_to(np.asarray(face, np.float64), (len(x),))
    kl = kl_gradients(mu, logvar)
    return {"x_recon": face[:, None, None, None] * np.sign(x_recon - x) / np.prod(x.shape[1:]),
            "mu": face[:, None] * kl_weight * kl["mu"], "logvar": face[:, None] * kl_weight * kl["logvar"]}


def debiasing_loss_gradients(x, x_recon, y, y_logit, mu, logvar, kl_weight) -> dict[str, np.ndarray]:
    """Gradients of the summed DB-VAE loss w.r.t. x_recon (n, h, w, c), y_logit (n,), mu and logvar (n, k)."""
    y, y_logit = np.asarray(y, np.float64), np.asarray(y_logit, np.float64)
    return {"y_logit": 1 / (1 + np.exp(-y_logit)) - y, **vae_loss_gradients(x, x_recon, mu, logvar, kl_weight, y)}


TF_ONLY = "only TensorFlow operations work there (no NumPy functions, no .numpy() on tensors)"
COMPILED_ADVICE = f"the training step runs it compiled, and {TF_ONLY}"


@contextlib.contextmanager
def _quiet_tracing():
    """Silence TensorFlow's retracing warning: every check traces a new function on purpose."""
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


def compiled_with_gradients(function: Callable, arrays: dict[str, object], **kwargs):
    """``function(*arrays.values(), **kwargs)`` run inside ``tf.function``, as the training step runs it.

    The arrays go in as float32 tensors. Returns the result as NumPy and, for each name in ``arrays``,
    the gradient of the result's sum with respect to that input (NumPy), or None where no gradient flows.
    """
    import tensorflow as tf

    @tf.function
    def run(*inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            value = function(*inputs, **kwargs)
            total = tf.reduce_sum(value)
        return value, tape.gradient(total, list(inputs))

    with _quiet_tracing():
        value, gradients = run(*_tf_inputs(*arrays.values()))
    return value.numpy(), {name: None if g is None else g.numpy() for name, g in zip(arrays, gradients, strict=True)}


def gradient_problem(gradients: dict[str, object], expected: dict[str, np.ndarray], *, what: str) -> str | None:
    """What is wrong with the gradients of ``what`` (name -> array or None) against the formula's, or None."""
    for name, wanted in expected.items():
        got = gradients.get(name)
        if got is None:
            return (f"no gradient flows from {what} to {name}: build it from TensorFlow operations on the tensors "
                    "(no NumPy, no tf.stop_gradient), so that training can follow it")
        problem = array_problem(got, wanted, what=f"the gradient of {what} with respect to {name}", atol=1e-4,
                                rtol=1e-3)
        if problem:
            return problem + " (the value is right, so the gradient does not come from that formula)"
    return None


def compiled_problem(function: Callable, arrays: dict[str, object], expected_value, expected_gradients, *, what: str,
                     **kwargs) -> str | None:
    """What goes wrong when ``function`` runs inside tf.function and is differentiated, or None (public checks)."""
    try:
        value, gradients = compiled_with_gradients(function, arrays, **kwargs)
    except Exception as error:  # noqa: BLE001 - the student's code failed under tracing
        return f"{what} fails inside tf.function ({type(error).__name__}): {COMPILED_ADVICE}"
    return (array_problem(value, expected_value, what=f"{what} inside tf.function", atol=1e-4, rtol=1e-4)
            or gradient_problem(gradients, expected_gradients, what=what))


def compiled_draws(function: Callable, mu, logvar) -> list[np.ndarray]:
    """Two calls of ``tf.function(function)`` on the same float32 inputs (n, k): two samples (n, k) as NumPy."""
    import tensorflow as tf

    compiled = tf.function(function)
    inputs = _tf_inputs(mu, logvar)
    with _quiet_tracing():
        return [compiled(*inputs).numpy() for _ in range(2)]


FIXED_NOISE = ("inside tf.function (as in the training step) two calls drew the same noise: it was drawn once, "
               "when the step was traced, and is reused at every step. NumPy's random numbers behave that way; "
               "draw the noise with tf.random.normal")


def require_no_problem(problem: str | None) -> None:
    """Stop the check with ``problem`` unless it is None."""
    require(problem is None, str(problem))


# Latents with a tiny (exp(-120) underflows to 0 in float32) and a huge variance: (2, 3) each.
EXTREME_LATENTS = (np.array([[0.5, -1.0, 2.0], [0.0, 3.0, -0.5]]), np.array([[-120.0, 0.0, 30.0], [5.0, -120.0, 0.5]]))


def _tf_inputs(*arrays):
    import tensorflow as tf

    return [tf.constant(np.asarray(a, np.float32)) for a in arrays]


@public_check
def check_kl_divergence(kl_divergence) -> None:
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(6, 5)), rng.normal(scale=0.7, size=(6, 5))
    got = _np(kl_divergence(*_tf_inputs(mu, logvar)))
    require(got.shape == (6,), f"expected one KL value per row, shape (6,), got shape {got.shape} "
                               "(sum over the latent axis, axis=-1, and nothing else)")
    diagnose(got, kl_reference(mu, logvar), kl_mistakes(mu, logvar), what="KL divergence")
    zero = _np(kl_divergence(*_tf_inputs(np.zeros((2, 3)), np.zeros((2, 3)))))
    require_close(zero, np.zeros(2), what="KL of N(0, I) to itself (must be 0)", atol=1e-6)
    mu, logvar = EXTREME_LATENTS
    require_close(_np(kl_divergence(*_tf_inputs(mu, logvar))), kl_reference(mu, logvar), atol=1e-3, rtol=1e-5,
                  what="KL divergence for a tiny or a huge variance (logvar = -120 or 30; use logvar itself "
                       "where the formula has log sigma^2, not the log of exp(logvar))")
    require_no_problem(compiled_problem(kl_divergence, {"mu": mu, "logvar": logvar}, kl_reference(mu, logvar),
                                        kl_gradients(mu, logvar), what="kl_divergence"))


@public_check
def check_vae_loss(vae_loss) -> None:
    rng = np.random.default_rng(1)
    x, x_recon = rng.random((4, 6, 6, 3)), rng.random((4, 6, 6, 3))
    mu, logvar = rng.normal(size=(4, 5)), rng.normal(scale=0.5, size=(4, 5))
    judged = judged_with_references(vae_loss, "kl_divergence")
    for weight in (0.0, 0.5):
        got = _np(judged(*_tf_inputs(x, x_recon, mu, logvar), kl_weight=weight))
        require(got.shape == (4,), f"expected one loss per image, shape (4,), got shape {got.shape} "
                                   "(average over the pixel axes (1, 2, 3) only)")
        diagnose(got, vae_loss_reference(x, x_recon, mu, logvar, weight),
                 vae_loss_mistakes(x, x_recon, mu, logvar, weight), what=f"VAE loss with kl_weight={weight}")
    arrays = {"x": x, "x_recon": x_recon, "mu": mu, "logvar": logvar}
    require_no_problem(compiled_problem(judged, arrays, vae_loss_reference(*arrays.values(), 0.5),
                                        vae_loss_gradients(*arrays.values(), 0.5), what="vae_loss", kl_weight=0.5))


def sample_moments_problem(z: np.ndarray, mu_row: np.ndarray, logvar_row: np.ndarray) -> str | None:
    """What is wrong with reparameterised samples ``z`` (n, k) drawn with every row's mean ``mu_row`` (k,)
    and log-variance ``logvar_row`` (k,), or None.

    The named mistakes come first; the tolerances are six standard errors of the sample mean and
    variance, so a right answer fails about once in a hundred million runs and a wrong one is named
    whatever its noise.
    """
    z = np.asarray(z, np.float64)
    n = len(z)
    mean, variance = z.mean(axis=0), z.var(axis=0)
    if np.allclose(variance, np.exp(logvar_row) ** 2, rtol=0.1):
        return ("the variance of the samples is exp(logvar)^2: you multiplied the noise by the variance exp(logvar); "
                "multiply it by the standard deviation exp(logvar / 2)")
    if variance.max() <= 1e-6:
        return "the samples do not vary (their variance is 0, not exp(logvar)): add noise from tf.random.normal"
    mean_error = 6 * np.sqrt(variance / n)
    if np.any(np.abs(mean - mu_row) > mean_error + 1e-3):
        worst = int(np.argmax(np.abs(mean - mu_row) - mean_error))
        return (f"the mean of the samples is not mu at index {worst}: got {mean[worst]:.4g}, expected "
                f"{mu_row[worst]:.4g} (tolerance {mean_error[worst] + 1e-3:.2g}); z is mu plus noise scaled by "
                "exp(logvar / 2)")
    return array_problem(variance, np.exp(logvar_row), what="variance of the samples (expected exp(logvar))",
                         atol=1e-3, rtol=6 * np.sqrt(2 / n))


@public_check
def check_sample_latent(sample_latent) -> None:
    import tensorflow as tf

    mu_row, logvar_row = np.array([0.0, 2.0, -1.0]), np.array([0.0, np.log(0.25), np.log(4.0)])
    n = 20000
    mu, logvar = _tf_inputs(np.tile(mu_row, (n, 1)), np.tile(logvar_row, (n, 1)))
    with tf.GradientTape() as tape:
        tape.watch([mu, logvar])
        z = sample_latent(mu, logvar)
        total = tf.reduce_sum(z)
    require(tuple(z.shape) == (n, 3), f"z must have the shape of mu, (n, k); got {tuple(z.shape)}")
    problem = sample_moments_problem(_np(z), mu_row, logvar_row)
    require(problem is None, problem)
    grad_mu, grad_logvar = tape.gradient(total, [mu, logvar])
    require(grad_mu is not None and grad_logvar is not None,
            "no gradient reaches mu or logvar: build z from mu, logvar and tf.random.normal noise")
    require(not np.allclose(_np(sample_latent(mu[:2], logvar[:2])), _np(sample_latent(mu[:2], logvar[:2]))),
            "two calls gave the same sample: draw fresh noise on every call")
    first, second = compiled_draws(sample_latent, mu[:4], logvar[:4])
    require(not np.allclose(first, second), FIXED_NOISE)


@public_check
def check_debiasing_loss(debiasing_loss) -> None:
    rng = np.random.default_rng(2)
    x, x_recon = rng.random((6, 5, 5, 3)), rng.random((6, 5, 5, 3))
    y = np.array([1, 0, 1, 0, 0, 1], np.float32)
    y_logit = rng.normal(scale=2, size=6)
    mu, logvar = rng.normal(size=(6, 4)), rng.normal(scale=0.5, size=(6, 4))
    judged = judged_with_references(debiasing_loss, "vae_loss", "kl_divergence")
    got = _np(judged(*_tf_inputs(x, x_recon, y, y_logit, mu, logvar), kl_weight=0.1))
    require(got.shape == (6,), f"expected one loss per image, shape (6,), got shape {got.shape}")
    expected = debiasing_loss_reference(x, x_recon, y, y_logit, mu, logvar, 0.1)
    diagnose(got, expected, debiasing_loss_mistakes(x, x_recon, y, y_logit, mu, logvar, 0.1), what="DB-VAE loss")
    faces = y == 1
    require_close(got[~faces], expected[~faces], what="loss of the non-faces (classification only)",
                  atol=1e-4, rtol=1e-4)
    require_close(got[faces], expected[faces], what="loss of the faces (classification + VAE loss)",
                  atol=1e-4, rtol=1e-4)
    arrays = {"x": x[:4], "x_recon": x_recon[:4], "y": y[:4], "y_logit": np.array([60.0, -60.0, -25.0, 25.0]),
              "mu": mu[:4], "logvar": logvar[:4]}
    require_close(_np(judged(*_tf_inputs(*arrays.values()), kl_weight=0.1)),
                  debiasing_loss_reference(*arrays.values(), 0.1), atol=1e-4, rtol=1e-4,
                  what="DB-VAE loss for confident logits (|y_logit| = 25 or 60; the cross-entropy must come "
                       "from the raw logit, as tf.nn.sigmoid_cross_entropy_with_logits computes it)")
    require_no_problem(compiled_problem(judged, arrays, debiasing_loss_reference(*arrays.values(), 0.1),
                                        debiasing_loss_gradients(*arrays.values(), 0.1), what="debiasing_loss",
                                        kl_weight=0.1))


def edge_latents(seed: int = 6) -> np.ndarray:
    """Latent means (60, 3) on the integers 0..10, each column spanning 0..10: with 5 or 10 bins many faces lie
    exactly on an inner bin edge."""
    mu = np.random.default_rng(seed).integers(0, 11, size=(60, 3)).astype(np.float64)
    mu[0], mu[1] = 0.0, 10.0
    return mu


def probabilities_contract_problem(got) -> str | None:
    """What stops the training loop from using ``got`` as face probabilities (a mask index, ``rng.choice``), or None."""
    if not isinstance(got, np.ndarray) or got.dtype.kind != "f":
        return (f"sampling_probabilities must return a NumPy array of floats (the notebook indexes it with a mask "
                f"and passes it to rng.choice), got {type(got).__name__}"
                + (f" of {got.dtype}" if isinstance(got, np.ndarray) else ""))
    try:
        np.random.default_rng(0).choice(len(got), 4, p=got)
    except ValueError as error:
        return f"rng.choice refuses these probabilities, as the training loop would: {error}"
    return None


def _call_sampling(sampling_probabilities, mu, bins: int, smoothing: float):
    try:
        return sampling_probabilities(mu.copy(), bins=bins, smoothing=smoothing)
    except IndexError as error:
        raise Problem(f"IndexError ({error}): np.digitize puts the largest value of a dimension past the last "
                      "bin; make the outer edges open (edges[0] = -inf, edges[-1] = +inf) before np.digitize") \
            from None


@public_check
def check_sampling_probabilities(sampling_probabilities) -> None:
    rng = np.random.default_rng(3)
    common = rng.normal(scale=0.3, size=(95, 4))
    rare = rng.normal(loc=3.0, scale=0.3, size=(5, 4))
    mu = np.concatenate([common, rare])
    got = _call_sampling(sampling_probabilities, mu, 10, 0.001)
    require(np.shape(got) == (100,), f"expected one probability per face, shape (100,), got shape {np.shape(got)}")
    require_no_problem(probabilities_contract_problem(got))
    require(np.all(np.isfinite(got)) and np.all(got >= 0), "probabilities must be finite and non-negative")
    require(abs(got.sum() - 1) < 1e-6, f"probabilities must sum to 1, they sum to {got.sum():.6g}")
    require(got[95:].min() > 4 * np.median(got[:95]) and got[95:].mean() > 4 * got[:95].mean(),
            "faces in a sparse region of the latent space must get a much higher probability than the "
            "faces of a dense cluster (inverse density: 1 / smoothed density)")
    diagnose(got, sampling_probabilities_reference(mu, 10, 0.001), sampling_mistakes(mu, 10, 0.001),
             what="sampling probabilities", atol=1e-8, rtol=1e-5)
    grid = edge_latents()
    for bins, smoothing in ((5, 0.01), (10, 0.001)):
        diagnose(_call_sampling(sampling_probabilities, grid, bins, smoothing),
                 sampling_probabilities_reference(grid, bins, smoothing), sampling_mistakes(grid, bins, smoothing),
                 what=f"sampling probabilities of faces on bin edges (bins={bins}, smoothing={smoothing})",
                 atol=1e-8, rtol=1e-5)
    flat = sampling_probabilities(mu.copy(), bins=10, smoothing=1e6)
    require_close(flat, np.full(100, 0.01), what="probabilities with a huge smoothing (must be uniform)",
                  atol=1e-6)


def recording_optimizer(learning_rate: float = 1e-3):
    """Adam that remembers which variables it was asked to update (``updated``: a set of ``id`` s)."""
    import keras

    class RecordingAdam(keras.optimizers.Adam):
        def apply(self, grads, trainable_variables=None):
            self.updated.update(id(v) for v in trainable_variables or ())
            return super().apply(grads, trainable_variables)

    optimizer = RecordingAdam(learning_rate)
    optimizer.updated = set()
    return optimizer


def _weights(variables) -> list[np.ndarray]:
    return [np.array(v.numpy(), copy=True) for v in variables]


def train_step_run(train_step: Callable, model, x, y, steps: int, *, compiled: bool, **kwargs) -> dict[str, object]:
    """Run ``steps`` calls of ``train_step(model, optimizer, x, y, **kwargs)`` on one batch with a fresh Adam:
    inside ``tf.function`` as ``train_dbvae`` runs it (``compiled``) or eagerly. Returns plain data for a check.

    x: (n, s, s, 3) float32 in [0, 1]; y: (n,) labels. Keys: ``logits``, ``logits_inference`` (n,): the face logits
    before the steps in training and in inference mode; ``mu``, ``logvar`` (n, k) before the steps; ``encoder``,
    ``decoder``: [weights before, weights after] (lists of arrays); ``losses``: what each step returned;
    ``decoder_updated``: whether the optimizer was asked to update every decoder variable.
    """
    import tensorflow as tf

    optimizer = recording_optimizer()
    logits, mu, logvar = (t.numpy() for t in model.encode(x, training=True))
    report = {"logits": logits, "logits_inference": model.encode(x)[0].numpy(), "mu": mu, "logvar": logvar,
              "encoder": [_weights(model.encoder.trainable_variables)],
              "decoder": [_weights(model.decoder.trainable_variables)]}

    def step(x, y):
        return train_step(model, optimizer, x, y, **kwargs)

    step = tf.function(step) if compiled else step
    with _quiet_tracing():
        report["losses"] = [np.asarray(step(x, y), np.float64) for _ in range(steps)]
    report["encoder"].append(_weights(model.encoder.trainable_variables))
    report["decoder"].append(_weights(model.decoder.trainable_variables))
    report["decoder_updated"] = all(id(v) in optimizer.updated for v in model.decoder.trainable_variables)
    return report


def _bce(logits, y) -> np.ndarray:
    logits = np.asarray(logits, np.float64)
    return np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits)))


def step_loss_problem(report: dict, y, kl_weight: float = 0.0005) -> str | None:
    """What is wrong with the loss that the first step of :func:`train_step_run` returned, or None.

    Non-faces: the loss is known exactly (classification only). Faces: each image's reconstruction term
    (from a random z) lies in [0, 1], so the mean loss lies in a window of width one above the other terms.
    """
    loss = np.asarray(report["losses"][0], np.float64)
    if loss.shape != () or not np.isfinite(loss):
        return f"the step must return the mean loss (a finite scalar), got an array of shape {loss.shape}"
    y = np.asarray(y, np.float64)
    kl = kl_reference(report["mu"], report["logvar"])

    def window(weight: float, logits=report["logits"]) -> tuple[float, float]:
        low = float(np.mean(_bce(logits, y) + y * weight * kl))
        return low, low + float(y.mean())

    def inside(bounds: tuple[float, float], value=loss) -> bool:
        tolerance = 1e-4 + 1e-3 * abs(bounds[0])
        return bounds[0] - tolerance <= value <= bounds[1] + tolerance

    low, high = window(kl_weight)
    if inside((low, high)):
        return None
    if inside((low, high), loss / len(y)):
        return "the step returned the sum of the per-image losses; average them over the batch (tf.reduce_mean)"
    if inside(window(kl_weight, report["logits_inference"])):
        return ("the model was called with training=False: call it with training=True in the training step "
                "(batch normalisation must use the batch's statistics while training)")
    if kl_weight != 0.0005 and inside(window(0.0005)):
        return f"the step ignored kl_weight={kl_weight:g}: pass it on to debiasing_loss"
    if not y.any():
        return (f"the loss returned for a batch of non-faces (classification only) is not the mean debiasing_loss "
                f"of the batch before the update: got {float(loss):.5g}, expected {low:.5g}")
    return (f"the loss returned for a batch of faces is not the mean debiasing_loss of the batch before the update: "
            f"got {float(loss):.5g}, expected between {low:.5g} and {high:.5g} (the reconstruction term of each "
            "face lies in [0, 1])")


def _changed(pair) -> bool:
    before, after = pair
    return any(not np.array_equal(np.asarray(b), np.asarray(a)) for b, a in zip(before, after, strict=True))


def weights_problem(report: dict, *, faces: bool) -> str | None:
    """What is wrong with the weights that the steps of :func:`train_step_run` changed, or None."""
    if not _changed(report["encoder"]):
        return "the encoder's weights did not change: apply the gradients with the optimizer"
    if not faces and _changed(report["decoder"]):
        return "a batch of non-faces changed the decoder: the VAE loss must only count for faces (y = 1)"
    if faces and not _changed(report["decoder"]):
        if not report["decoder_updated"]:
            return ("the optimizer was never asked to update the decoder: apply the gradients to all of "
                    "model.trainable_variables (the encoder's and the decoder's)")
        return "a batch of faces did not change the decoder: the VAE loss of faces must be in the loss"
    return None


def falling_loss_problem(report: dict) -> str | None:
    """None when repeated steps on one batch lowered the loss (:func:`train_step_run` report)."""
    losses = np.asarray(report["losses"], np.float64).reshape(-1)
    if np.mean(losses[-3:]) < losses[0]:
        return None
    return f"the loss did not go down on a fixed batch (first {losses[0]:.4f}, last {losses[-1]:.4f})"


@public_check
def check_train_step(dbvae_train_step, model_class) -> None:
    import keras

    step = judged_with_references(dbvae_train_step, "debiasing_loss", "vae_loss", "kl_divergence")

    def run(y, steps: int, compiled: bool, **kwargs) -> dict:
        keras.utils.set_random_seed(0)
        model = model_class()
        size = model.encoder.input_shape[1]
        x = np.random.default_rng(4).random((len(y), size, size, 3)).astype(np.float32)
        try:
            return train_step_run(step, model, x, y, steps, compiled=compiled, **kwargs)
        except Exception as error:
            if not compiled:
                raise
            raise Problem(f"dbvae_train_step fails inside tf.function, where train_dbvae runs it "
                          f"({type(error).__name__}): {TF_ONLY}") from None

    nonfaces, faces = np.zeros(8, np.float32), np.ones(8, np.float32)
    report = run(nonfaces, 1, compiled=False)
    require_no_problem(weights_problem(report, faces=False) or step_loss_problem(report, nonfaces))
    report = run(faces, 25, compiled=True)
    require_no_problem(weights_problem(report, faces=True) or falling_loss_problem(report))
    require_no_problem(step_loss_problem(run(faces, 1, compiled=True, kl_weight=50.0), faces, 50.0))


@public_check
def check_trained_detector(predict_logit, x_eval, y_eval, minimum: float = 0.7) -> None:
    from course_utils.faces import to_float

    def batch(i: int) -> np.ndarray:  # uint8 images become float32 in [0, 1], as the hidden check gives them
        images = np.asarray(x_eval[i:i + 256])
        return to_float(images) if images.dtype == np.uint8 else images

    logits = np.concatenate([_np(predict_logit(batch(i))).reshape(-1) for i in range(0, len(x_eval), 256)])
    accuracy = float(np.mean((logits > 0) == (np.asarray(y_eval) == 1)))
    require(accuracy >= minimum, f"the trained DB-VAE classifies only {accuracy:.1%} of the evaluation images "
                                 f"correctly (expected at least {minimum:.0%}): check the training step")
    print(f"evaluation accuracy {accuracy:.1%}")
