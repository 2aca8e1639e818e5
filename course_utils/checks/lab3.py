"""Public checks of lab 3 (debiasing a face detector with a DB-VAE).

Each check runs the student's function on small fixed inputs and compares it
with a NumPy reference written here, or tests a property (sample moments,
probabilities that sum to one, weights that a step must or must not change).
A function that calls an earlier exercise (``vae_loss`` calls ``kl_divergence``...)
is judged with *reference* versions of what it calls, so one mistake fails one
check only; when a result matches a typical mistake, the message names it.
"""

from __future__ import annotations

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


def sampling_probabilities_reference(mu, bins: int = 10, smoothing: float = 0.001) -> np.ndarray:
    """Per-dimension inverse smoothed histogram density, max over dimensions, normalised."""
    mu = np.asarray(mu, np.float64)
    probabilities = np.zeros(len(mu))
    for j in range(mu.shape[1]):
        density, edges = np.histogram(mu[:, j], bins=bins, density=True)
        edges[0], edges[-1] = -np.inf, np.inf
        w = 1.0 / (density[np.digitize(mu[:, j], edges) - 1] + smoothing)
        probabilities = np.maximum(probabilities, w / w.sum())
    return probabilities / probabilities.sum()


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
    problem = mistake_problem(got, expected, mistakes, what=what, atol=atol, rtol=rtol)
    require(problem is None, str(problem))


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
    }


def sampling_mistakes(mu, bins: int, smoothing: float) -> dict[str, np.ndarray]:
    """Sampling probabilities as typical mistakes compute them: {message: value (n,)}."""
    return {
        "the smoothing constant is not added to the density before the inverse":
            sampling_probabilities_reference(mu, bins, smoothing=0.0),
        "the weights of each dimension are not normalised to sum to one before the maximum":
            _max_of_unnormalised(mu, bins, smoothing),
    }


def _max_of_unnormalised(mu, bins: int = 10, smoothing: float = 0.001) -> np.ndarray:
    """The mistake of taking the maximum of the raw inverse densities w_j (not of w_j / sum(w_j))."""
    weights = np.zeros(len(mu))
    for j in range(mu.shape[1]):
        density, edges = np.histogram(mu[:, j], bins=bins, density=True)
        edges[0], edges[-1] = -np.inf, np.inf
        weights = np.maximum(weights, 1.0 / (density[np.digitize(mu[:, j], edges) - 1] + smoothing))
    return weights / weights.sum()


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


@public_check
def check_sampling_probabilities(sampling_probabilities) -> None:
    rng = np.random.default_rng(3)
    common = rng.normal(scale=0.3, size=(95, 4))
    rare = rng.normal(loc=3.0, scale=0.3, size=(5, 4))
    mu = np.concatenate([common, rare])
    try:
        got = np.asarray(sampling_probabilities(mu.copy(), bins=10, smoothing=0.001), np.float64)
    except IndexError as error:
        raise Problem(f"IndexError ({error}): np.digitize puts the largest value of a dimension past the last "
                      "bin; make the outer edges open (edges[0] = -inf, edges[-1] = +inf) before np.digitize") \
            from None
    require(got.shape == (100,), f"expected one probability per face, shape (100,), got shape {got.shape}")
    require(np.all(np.isfinite(got)) and np.all(got >= 0), "probabilities must be finite and non-negative")
    require(abs(got.sum() - 1) < 1e-6, f"probabilities must sum to 1, they sum to {got.sum():.6g}")
    require(got[95:].min() > 4 * np.median(got[:95]) and got[95:].mean() > 4 * got[:95].mean(),
            "faces in a sparse region of the latent space must get a much higher probability than the "
            "faces of a dense cluster (inverse density: 1 / smoothed density)")
    diagnose(got, sampling_probabilities_reference(mu, 10, 0.001), sampling_mistakes(mu, 10, 0.001),
             what="sampling probabilities", atol=1e-8, rtol=1e-5)
    flat = sampling_probabilities(mu.copy(), bins=10, smoothing=1e6)
    require_close(flat, np.full(100, 0.01), what="probabilities with a huge smoothing (must be uniform)",
                  atol=1e-6)


def _weights(variables) -> list[np.ndarray]:
    return [np.array(v.numpy(), copy=True) for v in variables]


def _changed(before, after) -> bool:
    return any(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))


@public_check
def check_train_step(dbvae_train_step, model_class) -> None:
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(4)
    model = model_class()
    size = model.encoder.input_shape[1]
    x = rng.random((8, size, size, 3)).astype(np.float32)
    optimizer = keras.optimizers.Adam(1e-3)
    dbvae_train_step = judged_with_references(dbvae_train_step, "debiasing_loss", "vae_loss", "kl_divergence")
    decoder_before, encoder_before = _weights(model.decoder.trainable_variables), \
        _weights(model.encoder.trainable_variables)
    logits = _np(model(x, training=True)[0])  # non-faces: the loss is the classification term only
    expected = float(np.mean(np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits)))))
    loss = dbvae_train_step(model, optimizer, x, np.zeros(8, np.float32))
    loss = np.asarray(loss.numpy() if hasattr(loss, "numpy") else loss, np.float64)
    require(loss.shape == () and np.isfinite(loss), f"the step must return the mean loss (a finite scalar), "
                                                    f"got an array of shape {loss.shape}")
    require(_changed(encoder_before, _weights(model.encoder.trainable_variables)),
            "the encoder's weights did not change: apply the gradients with the optimizer")
    require(not _changed(decoder_before, _weights(model.decoder.trainable_variables)),
            "a batch of non-faces changed the decoder: the VAE loss must only count for faces (y = 1)")
    require(not np.isclose(loss, 8 * expected, rtol=1e-3),
            "the step returned the sum of the per-image losses; average them over the batch (tf.reduce_mean)")
    require_close(loss, expected, what="loss returned for a batch of non-faces (the mean loss before the update)",
                  atol=1e-4, rtol=1e-3)
    y = np.ones(8, np.float32)
    losses = [float(dbvae_train_step(model, optimizer, x, y)) for _ in range(25)]
    require(_changed(decoder_before, _weights(model.decoder.trainable_variables)),
            "a batch of faces did not change the decoder: the VAE loss of faces must be in the loss")
    require(np.mean(losses[-3:]) < losses[0],
            f"the loss did not go down on a fixed batch (first {losses[0]:.4f}, last {losses[-1]:.4f})")


@public_check
def check_trained_detector(predict_logit, x_eval, y_eval, minimum: float = 0.7) -> None:
    logits = np.concatenate([_np(predict_logit(x_eval[i:i + 256])).reshape(-1) for i in range(0, len(x_eval), 256)])
    accuracy = float(np.mean((logits > 0) == (np.asarray(y_eval) == 1)))
    require(accuracy >= minimum, f"the trained DB-VAE classifies only {accuracy:.1%} of the evaluation images "
                                 f"correctly (expected at least {minimum:.0%}): check the training step")
    print(f"evaluation accuracy {accuracy:.1%}")
