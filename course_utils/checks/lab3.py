"""Public checks of lab 3 (debiasing a face detector with a DB-VAE).

Each check runs the student's function on small fixed inputs and compares it
with a NumPy reference written here, or tests a property (sample moments,
probabilities that sum to one, weights that a step must or must not change).
"""

from __future__ import annotations

import numpy as np

from course_utils.checks import public_check, require, require_close


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
    require_close(got, kl_reference(mu, logvar), what="KL divergence", atol=1e-4, rtol=1e-4)
    zero = _np(kl_divergence(*_tf_inputs(np.zeros((2, 3)), np.zeros((2, 3)))))
    require_close(zero, np.zeros(2), what="KL of N(0, I) to itself (must be 0)", atol=1e-6)


@public_check
def check_vae_loss(vae_loss) -> None:
    rng = np.random.default_rng(1)
    x, x_recon = rng.random((4, 6, 6, 3)), rng.random((4, 6, 6, 3))
    mu, logvar = rng.normal(size=(4, 5)), rng.normal(scale=0.5, size=(4, 5))
    for weight in (0.0, 0.5):
        got = _np(vae_loss(*_tf_inputs(x, x_recon, mu, logvar), kl_weight=weight))
        require(got.shape == (4,), f"expected one loss per image, shape (4,), got shape {got.shape}")
        require_close(got, vae_loss_reference(x, x_recon, mu, logvar, weight),
                      what=f"VAE loss with kl_weight={weight}", atol=1e-4, rtol=1e-4)


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
    z_np = _np(z)
    require_close(z_np.mean(axis=0), mu_row, what="mean of the samples (expected mu)", atol=0.06)
    require_close(z_np.var(axis=0), np.exp(logvar_row), what="variance of the samples (expected exp(logvar))",
                  atol=0.02, rtol=0.06)
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
    got = _np(debiasing_loss(*_tf_inputs(x, x_recon, y, y_logit, mu, logvar), kl_weight=0.1))
    require(got.shape == (6,), f"expected one loss per image, shape (6,), got shape {got.shape}")
    expected = debiasing_loss_reference(x, x_recon, y, y_logit, mu, logvar, 0.1)
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
    got = np.asarray(sampling_probabilities(mu.copy(), bins=10, smoothing=0.001), np.float64)
    require(got.shape == (100,), f"expected one probability per face, shape (100,), got shape {got.shape}")
    require(np.all(np.isfinite(got)) and np.all(got >= 0), "probabilities must be finite and non-negative")
    require(abs(got.sum() - 1) < 1e-6, f"probabilities must sum to 1, they sum to {got.sum():.6g}")
    require(got[95:].min() > 4 * np.median(got[:95]) and got[95:].mean() > 4 * got[:95].mean(),
            "faces in a sparse region of the latent space must get a much higher probability than the "
            "faces of a dense cluster (inverse density: 1 / smoothed density)")
    require_close(got, sampling_probabilities_reference(mu), what="sampling probabilities", atol=1e-8, rtol=1e-5)
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
    decoder_before, encoder_before = _weights(model.decoder.trainable_variables), \
        _weights(model.encoder.trainable_variables)
    loss = dbvae_train_step(model, optimizer, x, np.zeros(8, np.float32))
    loss = np.asarray(loss.numpy() if hasattr(loss, "numpy") else loss, np.float64)
    require(loss.shape == () and np.isfinite(loss), f"the step must return the mean loss (a finite scalar), "
                                                    f"got an array of shape {loss.shape}")
    require(_changed(encoder_before, _weights(model.encoder.trainable_variables)),
            "the encoder's weights did not change: apply the gradients with the optimizer")
    require(not _changed(decoder_before, _weights(model.decoder.trainable_variables)),
            "a batch of non-faces changed the decoder: the VAE loss must only count for faces (y = 1)")
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
