"""Hidden checks of lab 3 (debiasing a face detector with a DB-VAE).

Inputs differ from the public checks (shapes, seeds, weights); references are
computed here with NumPy. A function that calls an earlier exercise's function runs in the student's
kernel with the reference versions of those (``course_utils.checks.lab3.judged_with_references``),
so one mistake costs points once. Points per question match the notebook's check cells:
kl 2, vae_loss 2, sampling 2, dbvae_loss 3, resampling 3, train_step 3, dbvae_trained 2.
"""

from __future__ import annotations

import numpy as np

from course_utils.checks import lab3 as public
from course_utils.checks.lab3 import (
    debiasing_loss_reference,
    kl_reference,
    sampling_probabilities_reference,
    vae_loss_reference,
)
from grader.channel import StudentError
from grader.harness import CheckFailed, expect, expect_close, expect_no_problem, kernel_module, points

RNG = np.random.default_rng(20260611)
KERNEL_CHECKS = kernel_module("course_utils.checks.lab3")


def _referenced(function: str, *names: str) -> str:
    """A kernel expression: the student's ``function`` with the global ``names`` bound to the references."""
    return f"lambda *a, **k: {KERNEL_CHECKS}.judged_with_references({function}, *{names!r})(*a, **k)"


VAE_LOSS = _referenced("vae_loss", "kl_divergence")
DEBIASING_LOSS = _referenced("debiasing_loss", "vae_loss", "kl_divergence")


def f32(array) -> np.ndarray:
    return np.asarray(array, dtype=np.float32)


# ---------------------------------------------------------------- kl (2)

@points(1, question="kl")
def test_kl_matches_closed_form(student):
    mu, logvar = f32(RNG.normal(size=(7, 9))), f32(RNG.normal(scale=0.8, size=(7, 9)))
    expect_no_problem(public.mistake_problem(student.call("kl_divergence", mu, logvar), kl_reference(mu, logvar),
                                             public.kl_mistakes(mu, logvar), what="kl_divergence(mu, logvar)",
                                             atol=1e-3, rtol=1e-4))


@points(1, question="kl")
def test_kl_properties(student):
    mu = f32(np.array([[0.0], [1.0], [-2.0], [0.0]]))
    logvar = f32(np.array([[0.0], [0.0], [0.0], [np.log(3.0)]]))
    got = np.asarray(student.call("kl_divergence", mu, logvar), np.float64)
    expect(got.shape == (4,), "kl_divergence must return one value per row (sum over the latent axis only)")
    expect(abs(got[0]) < 1e-5, "the KL divergence of N(0, 1) from the prior must be 0")
    expect(np.all(got >= -1e-6), "the KL divergence must never be negative")
    expect_no_problem(public.mistake_problem(got, kl_reference(mu, logvar), public.kl_mistakes(mu, logvar),
                                             what="kl_divergence on one-dimensional latents"))


# ---------------------------------------------------------------- vae_loss (2)

@points(1, question="vae_loss")
def test_vae_loss_reconstruction(student):
    x, recon = f32(RNG.random((3, 9, 7, 1))), f32(RNG.random((3, 9, 7, 1)))
    mu, logvar = f32(RNG.normal(size=(3, 2))), f32(RNG.normal(size=(3, 2)))
    expect_no_problem(public.mistake_problem(
        student.call(VAE_LOSS, x, recon, mu, logvar, kl_weight=0.0), vae_loss_reference(x, recon, mu, logvar, 0.0),
        public.vae_loss_mistakes(x, recon, mu, logvar, 0.0), what="vae_loss with kl_weight=0", rtol=0))


@points(1, question="vae_loss")
def test_vae_loss_with_kl(student):
    x, recon = f32(RNG.random((5, 4, 4, 3))), f32(RNG.random((5, 4, 4, 3)))
    mu, logvar = f32(RNG.normal(size=(5, 6))), f32(RNG.normal(scale=0.5, size=(5, 6)))
    expect_no_problem(public.mistake_problem(
        student.call(VAE_LOSS, x, recon, mu, logvar, kl_weight=0.3), vae_loss_reference(x, recon, mu, logvar, 0.3),
        public.vae_loss_mistakes(x, recon, mu, logvar, 0.3), what="vae_loss with a KL weight"))


# ---------------------------------------------------------------- sampling (2)

@points(1, question="sampling")
def test_reparameterised_moments(student):
    n = 40000
    mu_row, logvar_row = np.array([1.5, -0.5, 0.0, 3.0]), np.array([np.log(2.0), 0.0, np.log(0.1), np.log(0.5)])
    z = np.asarray(student.call("sample_latent", f32(np.tile(mu_row, (n, 1))), f32(np.tile(logvar_row, (n, 1)))))
    expect(z.shape == (n, 4), "sample_latent must return an array with the shape of mu")
    expect_no_problem(public.sample_moments_problem(z, mu_row, logvar_row))


@points(1, question="sampling")
def test_fresh_noise_per_call(student):
    mu, logvar = f32(np.zeros((3, 5))), f32(np.zeros((3, 5)))
    a, b = np.asarray(student.call("sample_latent", mu, logvar)), np.asarray(student.call("sample_latent", mu, logvar))
    expect(a.shape == (3, 5) and not np.allclose(a, b), "sample_latent must draw new noise on every call")
    expect(np.all(np.abs(np.asarray(student.call("sample_latent", mu, f32(np.full((3, 5), -30.0))))) < 1e-4),
           "with a tiny variance the samples must equal the mean")


# ---------------------------------------------------------------- dbvae_loss (3)

def _loss_inputs(n, y):
    return (f32(RNG.random((n, 6, 6, 3))), f32(RNG.random((n, 6, 6, 3))), f32(y), f32(RNG.normal(scale=2, size=n)),
            f32(RNG.normal(size=(n, 3))), f32(RNG.normal(scale=0.5, size=(n, 3))))


def _expect_debiasing_loss(student, args, weight, what):
    expect_no_problem(public.mistake_problem(student.call(DEBIASING_LOSS, *args, kl_weight=weight),
                                             debiasing_loss_reference(*args, weight),
                                             public.debiasing_loss_mistakes(*args, weight), what=what))


@points(1, question="dbvae_loss")
def test_nonfaces_get_classification_only(student):
    args = _loss_inputs(5, np.zeros(5))
    _expect_debiasing_loss(student, args, 0.2, "debiasing_loss of non-faces")


@points(1, question="dbvae_loss")
def test_faces_get_vae_term(student):
    args = _loss_inputs(4, np.ones(4))
    _expect_debiasing_loss(student, args, 0.2, "debiasing_loss of faces")


@points(1, question="dbvae_loss")
def test_mixed_batch(student):
    args = _loss_inputs(8, np.array([0, 1, 1, 0, 1, 0, 0, 1]))
    _expect_debiasing_loss(student, args, 0.01, "debiasing_loss of a mixed batch")


# ---------------------------------------------------------------- resampling (3)

def _latents():
    rng = np.random.default_rng(77)
    return np.concatenate([rng.normal(scale=0.5, size=(290, 6)), rng.normal(loc=-4.0, scale=0.4, size=(10, 6))])


def _probabilities(student, mu, bins, smoothing):
    try:
        return np.asarray(student.call("sampling_probabilities", mu, bins=bins, smoothing=smoothing), np.float64)
    except StudentError as error:
        if "IndexError" in str(error):
            raise CheckFailed("sampling_probabilities raised IndexError: np.digitize puts the largest value of a "
                              "dimension past the last bin; make the outer edges open (-inf, +inf)") from None
        raise


@points(1, question="resampling")
def test_probabilities_are_a_distribution(student):
    p = _probabilities(student, _latents(), 7, 0.01)
    expect(p.shape == (300,), "sampling_probabilities must return one probability per face")
    expect(bool(np.all(np.isfinite(p)) and np.all(p >= 0)), "probabilities must be finite and non-negative")
    expect(abs(p.sum() - 1) < 1e-6, "probabilities must sum to one")


@points(1, question="resampling")
def test_sparse_faces_more_likely(student):
    p = _probabilities(student, _latents(), 7, 0.01)
    expect(p.shape == (300,) and p[290:].mean() > 4 * p[:290].mean(),
           "faces in a sparse region of the latent space must be much more likely to be drawn")


@points(1, question="resampling")
def test_probabilities_match_reference(student):
    mu = np.random.default_rng(5).standard_t(df=3, size=(120, 5))
    expect_no_problem(public.mistake_problem(_probabilities(student, mu, 12, 0.05),
                                             sampling_probabilities_reference(mu, 12, 0.05),
                                             public.sampling_mistakes(mu, 12, 0.05), what="sampling_probabilities",
                                             atol=1e-8, rtol=1e-5))


# ---------------------------------------------------------------- train_step (3)

# Runs in the student's kernel: a fresh DBVAE (32x32 images): face logits and weights before, losses, weights after.
_STEP = ("lambda x, y, steps: (lambda m, o, step: ("
         "m(x, training=True)[0].numpy(), "
         "[v.numpy().copy() for v in m.encoder.trainable_variables], "
         "[v.numpy().copy() for v in m.decoder.trainable_variables], "
         "[np.asarray(step(m, o, x, y)).tolist() for _ in range(steps)], "
         "[v.numpy().copy() for v in m.encoder.trainable_variables], "
         "[v.numpy().copy() for v in m.decoder.trainable_variables]))"
         f"(DBVAE(LATENT_DIM, 32), keras.optimizers.Adam(1e-3), {KERNEL_CHECKS}.judged_with_references("
         "dbvae_train_step, 'debiasing_loss', 'vae_loss', 'kl_divergence'))")


def _changed(before, after) -> bool:
    return any(not np.array_equal(np.asarray(b), np.asarray(a)) for b, a in zip(before, after, strict=True))


def _run_steps(student, y, steps):
    x = f32(np.random.default_rng(11).random((len(y), 32, 32, 3)))
    return student.call(_STEP, x, f32(y), steps, _timeout=120)


@points(1, question="train_step")
def test_step_returns_mean_loss_and_updates_encoder(student):
    logits, enc0, _, losses, enc1, _ = _run_steps(student, np.zeros(6), 1)
    expect(np.asarray(losses[0]).shape == () and np.isfinite(losses[0]),
           "dbvae_train_step must return the mean loss over the batch (one finite number)")
    logits = np.asarray(logits, np.float64)
    expected = np.mean(np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits))))
    expect(not np.isclose(losses[0], len(logits) * expected, rtol=1e-3),
           "dbvae_train_step returned the sum of the per-image losses; average them over the batch")
    expect_close(losses[0], expected,
                 what="the loss returned for a batch of non-faces (the mean over the batch, before the update)",
                 atol=1e-4, rtol=1e-3)
    expect(_changed(enc0, enc1), "dbvae_train_step did not update the encoder's weights")


@points(1, question="train_step")
def test_nonfaces_leave_decoder_unchanged(student):
    _, _, dec0, _, _, dec1 = _run_steps(student, np.zeros(6), 2)
    expect(not _changed(dec0, dec1), "a batch without faces changed the decoder: the VAE loss must only "
                                     "count for faces")


@points(1, question="train_step")
def test_faces_train_decoder_and_loss_falls(student):
    _, _, dec0, losses, _, dec1 = _run_steps(student, np.ones(6), 30)
    losses = np.asarray(losses, np.float64).reshape(-1)
    expect(_changed(dec0, dec1), "a batch of faces did not change the decoder")
    expect(losses.shape == (30,) and np.mean(losses[-3:]) < losses[0],
           "repeated steps on one batch did not lower the loss")


# ---------------------------------------------------------------- dbvae_trained (2)

@points(2, question="dbvae_trained")
def test_trained_dbvae_detects_faces(student):
    from course_utils import faces

    size = int(student.value("IMG_SIZE"))
    used = str(student.value("data.source")).split()[0]  # the same source as the notebook, never a download
    if used == "utkface":
        data = faces.load_faces(size, source="utkface", download=False, max_train=200, eval_per_group=25)
        x_eval, y_eval, group_eval = data.x_eval, data.y_eval, data.group_eval
    elif used == "mit":
        x_eval, y_eval, group_eval = faces.load_eval_set(size, per_group=25, download=False)
    else:
        data = faces.load_faces(size, source="synthetic", download=False)
        x_eval, y_eval, group_eval = data.x_eval, data.y_eval, data.group_eval
    rng = np.random.default_rng(3)
    face_rows = np.concatenate([rng.choice(np.flatnonzero(group_eval == g), 25, replace=False)
                                for g in range(len(faces.GROUPS))])
    rows = np.concatenate([face_rows, rng.choice(np.flatnonzero(y_eval == 0), 100, replace=False)])
    logits = np.asarray(student.call("lambda x: dbvae.predict_logit(x)", faces.to_float(x_eval[rows]))).reshape(-1)
    expect(logits.shape == (200,), "dbvae.predict_logit must return one logit per image")
    accuracy = np.mean((logits > 0) == (y_eval[rows] == 1))
    expect(accuracy >= 0.7, f"the trained DB-VAE classifies {accuracy:.0%} of held-out images correctly; "
                            "at least 70% is expected")
