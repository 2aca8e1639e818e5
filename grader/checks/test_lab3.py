"""Hidden checks of lab 3 (debiasing a face detector with a DB-VAE).

They judge the exercise's specification: differential tests against the NumPy references over generated
inputs (Hypothesis through ``generated``: batch size 1, odd shapes, variances that underflow or are huge,
confident logits, faces exactly on bin edges, every argument varied), and the contract the notebook's later
cells rely on (losses that run inside ``tf.function`` with the gradients of their formula, noise drawn anew
at every call of a traced step, probabilities ``rng.choice`` accepts, a training step that works compiled).
A function that calls an earlier exercise's function runs in the student's kernel with the reference versions
of those (``course_utils.checks.lab3.judged_with_references``), so one mistake costs points once. Points per
question match the notebook's check cells: kl 2, vae_loss 2, sampling 2, dbvae_loss 3, resampling 3,
train_step 3, dbvae_trained 2.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from course_utils.checks import lab3 as public
from course_utils.checks.lab3 import (
    debiasing_loss_gradients,
    debiasing_loss_reference,
    kl_gradients,
    kl_reference,
    sampling_probabilities_reference,
    vae_loss_gradients,
    vae_loss_reference,
)
from grader.channel import StudentError
from grader.harness import CheckFailed, expect, expect_no_problem, generated, kernel_module, points

RNG = np.random.default_rng(20260611)
KERNEL_CHECKS = kernel_module("course_utils.checks.lab3")


def _referenced(function: str, *names: str) -> str:
    """A kernel expression: the student's ``function`` with the global ``names`` bound to the references."""
    return f"{KERNEL_CHECKS}.judged_with_references({function}, *{names!r})"


VAE_LOSS = _referenced("vae_loss", "kl_divergence")
DEBIASING_LOSS = _referenced("debiasing_loss", "vae_loss", "kl_divergence")
TRAIN_STEP = _referenced("dbvae_train_step", "debiasing_loss", "vae_loss", "kl_divergence")


def f32(array) -> np.ndarray:
    return np.asarray(array, dtype=np.float32)


def _compiled(student, function: str, arrays: dict[str, np.ndarray], *, what: str, **kwargs):
    """``function`` run in the kernel inside tf.function with gradients (``public.compiled_with_gradients``)."""
    try:
        return student.call(f"lambda arrays, **k: {KERNEL_CHECKS}.compiled_with_gradients({function}, arrays, **k)",
                            {name: f32(a) for name, a in arrays.items()}, **kwargs)
    except StudentError as error:
        raise CheckFailed(f"{what} fails inside tf.function: {public.COMPILED_ADVICE} ({error})") from None


def _expect_compiled(student, function: str, arrays, expected, gradients, *, what: str, **kwargs) -> None:
    value, got = _compiled(student, function, arrays, what=what, **kwargs)
    expect_no_problem(public.array_problem(value, expected, what=f"{what} inside tf.function", atol=1e-4, rtol=1e-4))
    expect_no_problem(public.gradient_problem(got, gradients, what=what))


@st.composite
def _latent_cases(draw):
    """(mu, logvar) pairs (n, k): batch size 1, one latent dimension, means up to 30 and log-variances from -120
    (the variance underflows to 0 in float32) to 30."""
    rng, cases = np.random.default_rng(draw(st.integers(0, 2**16))), []
    for _ in range(draw(st.integers(1, 3))):
        shape = (draw(st.integers(1, 7)), draw(st.integers(1, 9)))
        mu = rng.normal(scale=draw(st.sampled_from([0.1, 1.0, 10.0])), size=shape)
        logvar = rng.normal(scale=draw(st.sampled_from([0.5, 3.0])), size=shape)
        logvar[rng.random(shape) < draw(st.sampled_from([0.0, 0.3]))] = draw(st.sampled_from([-120.0, 30.0]))
        cases.append((f32(mu), f32(logvar)))
    return cases


# ---------------------------------------------------------------- kl (2)

@points(1, question="kl")
@generated(max_examples=10)
@given(cases=_latent_cases())
def test_kl_generated(student, cases):
    outputs = student.call("lambda cases: [kl_divergence(mu, logvar) for mu, logvar in cases]", cases)
    for (mu, logvar), got in zip(cases, outputs, strict=True):
        expect_no_problem(public.mistake_problem(got, kl_reference(mu, logvar), public.kl_mistakes(mu, logvar),
                                                 what=f"kl_divergence on generated latents of shape {mu.shape}",
                                                 atol=1e-3, rtol=1e-4))


@points(1, question="kl")
def test_kl_compiled_with_gradients(student):
    mu = f32(np.array([[0.0, 0.0], [1.0, -2.0], [0.5, 3.0]]))
    logvar = f32(np.array([[0.0, 0.0], [np.log(3.0), -120.0], [2.0, -0.5]]))
    _expect_compiled(student, "kl_divergence", {"mu": mu, "logvar": logvar}, kl_reference(mu, logvar),
                     kl_gradients(mu, logvar), what="kl_divergence")


# ---------------------------------------------------------------- vae_loss (2)

@st.composite
def _vae_cases(draw):
    """(x, x_recon, mu, logvar, kl_weight): one image or a few, odd sizes, one or three channels, weights 0..5."""
    rng, cases = np.random.default_rng(draw(st.integers(0, 2**16))), []
    for _ in range(draw(st.integers(1, 3))):
        n, size, channels = draw(st.integers(1, 5)), (draw(st.integers(1, 7)), draw(st.integers(1, 7))), \
            draw(st.sampled_from([1, 3]))
        k = draw(st.integers(1, 6))
        cases.append((f32(rng.random((n, *size, channels))), f32(rng.random((n, *size, channels))),
                      f32(rng.normal(size=(n, k))), f32(rng.normal(scale=0.7, size=(n, k))),
                      draw(st.sampled_from([0.0, 1e-4, 0.3, 5.0]))))
    return cases


@points(1, question="vae_loss")
@generated(max_examples=10)
@given(cases=_vae_cases())
def test_vae_loss_generated(student, cases):
    outputs = student.call(f"lambda cases: [{VAE_LOSS}(x, r, mu, lv, kl_weight=w) for x, r, mu, lv, w in cases]",
                           cases)
    for (*arrays, weight), got in zip(cases, outputs, strict=True):
        expect_no_problem(public.mistake_problem(got, vae_loss_reference(*arrays, weight),
                                                 public.vae_loss_mistakes(*arrays, weight),
                                                 what=f"vae_loss on generated images of shape {arrays[0].shape} "
                                                      f"with kl_weight={weight}"))


@points(1, question="vae_loss")
def test_vae_loss_compiled_with_gradients(student):
    arrays = {"x": RNG.random((3, 5, 4, 3)), "x_recon": RNG.random((3, 5, 4, 3)), "mu": RNG.normal(size=(3, 4)),
              "logvar": RNG.normal(scale=0.5, size=(3, 4))}
    arrays = {name: f32(a) for name, a in arrays.items()}
    _expect_compiled(student, VAE_LOSS, arrays, vae_loss_reference(*arrays.values(), 0.7),
                     vae_loss_gradients(*arrays.values(), 0.7), what="vae_loss", kl_weight=0.7)


# ---------------------------------------------------------------- sampling (2)

@points(1, question="sampling")
def test_reparameterised_moments(student):
    n = 40000
    mu_row, logvar_row = np.array([1.5, -0.5, 0.0, 3.0]), np.array([np.log(2.0), 0.0, np.log(0.1), np.log(0.5)])
    z = np.asarray(student.call("sample_latent", f32(np.tile(mu_row, (n, 1))), f32(np.tile(logvar_row, (n, 1)))))
    expect(z.shape == (n, 4), "sample_latent must return an array with the shape of mu")
    expect_no_problem(public.sample_moments_problem(z, mu_row, logvar_row))


@points(1, question="sampling")
def test_fresh_noise_per_call_also_when_traced(student):
    mu, logvar = f32(np.zeros((3, 5))), f32(np.zeros((3, 5)))
    a, b = np.asarray(student.call("sample_latent", mu, logvar)), np.asarray(student.call("sample_latent", mu, logvar))
    expect(a.shape == (3, 5) and not np.allclose(a, b), "sample_latent must draw new noise on every call")
    try:
        first, second = student.call(f"lambda mu, lv: {KERNEL_CHECKS}.compiled_draws(sample_latent, mu, lv)",
                                     mu, logvar)
    except StudentError as error:
        raise CheckFailed(f"sample_latent fails inside tf.function: {public.COMPILED_ADVICE} ({error})") from None
    expect(not np.allclose(first, second), public.FIXED_NOISE)
    tiny = f32(np.full((3, 5), -30.0))
    expect(np.all(np.abs(np.asarray(student.call("sample_latent", mu + 2, tiny)) - 2) < 1e-4),
           "with a tiny variance the samples must equal the mean")
    _, gradients = _compiled(student, "sample_latent", {"mu": mu, "logvar": tiny}, what="sample_latent")
    expect_no_problem(public.gradient_problem(gradients, {"mu": np.ones((3, 5))}, what="sample_latent"))
    expect(gradients["logvar"] is not None, "no gradient flows from sample_latent to logvar: build z from mu, "
                                            "logvar and the noise with TensorFlow operations")


# ---------------------------------------------------------------- dbvae_loss (3)

def _loss_inputs(n, y, logit_scale=2.0):
    return (f32(RNG.random((n, 6, 6, 3))), f32(RNG.random((n, 6, 6, 3))), f32(y),
            f32(RNG.normal(scale=logit_scale, size=n)), f32(RNG.normal(size=(n, 3))),
            f32(RNG.normal(scale=0.5, size=(n, 3))))


@st.composite
def _debiasing_cases(draw):
    """DB-VAE loss inputs: one image or a few, all faces, no face or mixed, logits up to +-80, weights 0..2."""
    rng, cases = np.random.default_rng(draw(st.integers(0, 2**16))), []
    for _ in range(draw(st.integers(1, 3))):
        n, size, k = draw(st.integers(1, 8)), draw(st.integers(1, 6)), draw(st.integers(1, 4))
        y = draw(st.sampled_from([np.zeros(n), np.ones(n), rng.integers(0, 2, n)]))
        logits = rng.normal(scale=draw(st.sampled_from([1.0, 30.0])), size=n)
        logits[rng.random(n) < 0.3] = draw(st.sampled_from([-80.0, 80.0]))
        cases.append((f32(rng.random((n, size, size, 3))), f32(rng.random((n, size, size, 3))), f32(y), f32(logits),
                      f32(rng.normal(size=(n, k))), f32(rng.normal(scale=0.5, size=(n, k))),
                      draw(st.sampled_from([0.0, 0.01, 0.2, 2.0]))))
    return cases


@points(1, question="dbvae_loss")
@generated(max_examples=10)
@given(cases=_debiasing_cases())
def test_debiasing_loss_generated(student, cases):
    outputs = student.call(f"lambda cases: [{DEBIASING_LOSS}(*c[:6], kl_weight=c[6]) for c in cases]", cases)
    for (*arrays, weight), got in zip(cases, outputs, strict=True):
        expect_no_problem(public.mistake_problem(got, debiasing_loss_reference(*arrays, weight),
                                                 public.debiasing_loss_mistakes(*arrays, weight),
                                                 what=f"debiasing_loss on a generated batch of {len(arrays[2])} "
                                                      f"images with kl_weight={weight}"))


@points(1, question="dbvae_loss")
def test_mixed_batch(student):
    args = _loss_inputs(8, np.array([0, 1, 1, 0, 1, 0, 0, 1]))
    expect_no_problem(public.mistake_problem(student.call(DEBIASING_LOSS, *args, kl_weight=0.01),
                                             debiasing_loss_reference(*args, 0.01),
                                             public.debiasing_loss_mistakes(*args, 0.01),
                                             what="debiasing_loss of a mixed batch"))


@points(1, question="dbvae_loss")
def test_debiasing_loss_compiled_with_gradients(student):
    arrays = dict(zip(["x", "x_recon", "y", "y_logit", "mu", "logvar"],
                      _loss_inputs(6, np.array([1, 0, 1, 0, 1, 0]), logit_scale=20.0), strict=True))
    _expect_compiled(student, DEBIASING_LOSS, arrays, debiasing_loss_reference(*arrays.values(), 0.3),
                     debiasing_loss_gradients(*arrays.values(), 0.3), what="debiasing_loss", kl_weight=0.3)


# ---------------------------------------------------------------- resampling (3)

def _latents():
    rng = np.random.default_rng(77)
    return np.concatenate([rng.normal(scale=0.5, size=(290, 6)), rng.normal(loc=-4.0, scale=0.4, size=(10, 6))])


# Kernel-side: sampling_probabilities' value and whether it is a NumPy array of floats.
_PROBABILITIES = ("lambda mu, **k: (lambda p: (p, type(p).__module__ == 'numpy' and getattr(p, 'dtype', None) "
                  "is not None and p.dtype.kind == 'f'))(sampling_probabilities(mu, **k))")


def _probabilities(student, mu, bins, smoothing):
    try:
        p, is_float_array = student.call(_PROBABILITIES, mu, bins=bins, smoothing=smoothing)
    except StudentError as error:
        if "IndexError" in str(error):
            raise CheckFailed("sampling_probabilities raised IndexError: np.digitize puts the largest value of a "
                              "dimension past the last bin; make the outer edges open (-inf, +inf)") from None
        raise
    expect(is_float_array, "sampling_probabilities must return a NumPy array of floats (the notebook indexes it "
                           "with a mask and passes it to rng.choice)")
    return np.asarray(p)


@points(1, question="resampling")
def test_probabilities_are_a_distribution_rng_choice_accepts(student):
    p = _probabilities(student, f32(_latents()), 7, 0.01)  # float32 latents, as latent_means gives them
    expect(p.shape == (300,), "sampling_probabilities must return one probability per face")
    expect(bool(np.all(np.isfinite(p)) and np.all(p >= 0)), "probabilities must be finite and non-negative")
    expect(abs(p.sum() - 1) < 1e-6, "probabilities must sum to one")
    expect_no_problem(public.probabilities_contract_problem(p))
    expect(p[290:].mean() > 4 * p[:290].mean(),
           "faces in a sparse region of the latent space must be much more likely to be drawn")


@st.composite
def _resampling_cases(draw):
    """(mu, bins, smoothing): 2 to 80 faces, 1 to 5 dimensions, normal, heavy-tailed or integer latents (faces on
    bin edges), 1 to 25 bins, smoothing from 1e-4 to 100."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    n, k, bins = draw(st.integers(2, 80)), draw(st.integers(1, 5)), draw(st.integers(1, 25))
    kind = draw(st.sampled_from(["normal", "t", "integers"]))
    if kind == "integers":
        bins = draw(st.sampled_from([2, 4, 5, 10, 20]))
        mu = rng.integers(0, 21, size=(n, k)).astype(np.float64)
        mu[0], mu[-1] = 0.0, 20.0
    else:
        mu = rng.normal(size=(n, k)) if kind == "normal" else rng.standard_t(df=2, size=(n, k))
    return mu, bins, draw(st.sampled_from([1e-4, 1e-2, 0.5, 100.0]))


@points(1, question="resampling")
@generated(max_examples=12)
@given(case=_resampling_cases())
def test_probabilities_generated(student, case):
    mu, bins, smoothing = case
    expect_no_problem(public.mistake_problem(_probabilities(student, mu, bins, smoothing),
                                             sampling_probabilities_reference(mu, bins, smoothing),
                                             public.sampling_mistakes(mu, bins, smoothing),
                                             what=f"sampling_probabilities of {mu.shape[0]} generated faces "
                                                  f"({bins} bins, smoothing {smoothing:g})", atol=1e-8, rtol=1e-5))


@points(1, question="resampling")
def test_probabilities_match_reference(student):
    mu = np.random.default_rng(5).standard_t(df=3, size=(120, 5))
    expect_no_problem(public.mistake_problem(_probabilities(student, mu, 12, 0.05),
                                             sampling_probabilities_reference(mu, 12, 0.05),
                                             public.sampling_mistakes(mu, 12, 0.05), what="sampling_probabilities",
                                             atol=1e-8, rtol=1e-5))


# ---------------------------------------------------------------- train_step (3)

# Runs in the student's kernel: steps of the student's step on a fresh, seeded DBVAE (32x32 images).
_STEP = (f"lambda x, y, steps, compiled, kwargs: {KERNEL_CHECKS}.train_step_run({TRAIN_STEP}, "
         "(keras.utils.set_random_seed(0), DBVAE(LATENT_DIM, 32))[1], x, y, steps, compiled=compiled, **kwargs)")


def _run_steps(student, y, steps, *, compiled: bool, **kwargs) -> dict:
    x = f32(np.random.default_rng(11).random((len(y), 32, 32, 3)))
    try:
        return student.call(_STEP, x, f32(y), steps, compiled, kwargs, _timeout=120)
    except StudentError as error:
        if not compiled:
            raise
        raise CheckFailed(f"dbvae_train_step fails inside tf.function, where train_dbvae runs it: {public.TF_ONLY} "
                          f"({error})") from None


def _step_loss_problem(report: dict, y, kl_weight: float = 0.0005) -> str | None:
    """The public diagnosis of the returned loss, without the values (``: got ...``), which depend on hidden inputs."""
    problem = public.step_loss_problem(report, y, kl_weight)
    return problem and problem.split(": got")[0]


@points(0.75, question="train_step")
def test_step_returns_mean_loss_and_updates_encoder(student):
    report = _run_steps(student, np.zeros(6), 1, compiled=False)
    expect_no_problem(_step_loss_problem(report, np.zeros(6)))
    expect_no_problem(public.weights_problem(report, faces=False))


@points(0.75, question="train_step")
def test_nonfaces_leave_decoder_unchanged_when_compiled(student):
    report = _run_steps(student, np.zeros(6), 2, compiled=True)
    expect_no_problem(public.weights_problem(report, faces=False))


@points(0.75, question="train_step")
def test_faces_train_decoder_and_loss_falls(student):
    report = _run_steps(student, np.ones(6), 30, compiled=True)
    expect_no_problem(public.weights_problem(report, faces=True))
    expect(len(report["losses"]) == 30, "dbvae_train_step must return the loss of each step")
    expect(public.falling_loss_problem(report) is None, "repeated steps on one batch did not lower the loss")


@points(0.75, question="train_step")
def test_step_honours_kl_weight(student):
    y = np.array([1, 1, 0, 1, 1, 0])
    report = _run_steps(student, y, 1, compiled=True, kl_weight=20.0)
    expect_no_problem(_step_loss_problem(report, y, 20.0))


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
