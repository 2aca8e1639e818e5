"""Public checks of Lab 5 (Monte Carlo dropout and uncertainty).

Each check runs the student's function on small fixed inputs and compares it with
NumPy or TensorFlow computed here, within the tolerance it states. Monte Carlo
estimates are tested in two ways: exactly, on :class:`ScriptedModel` (a stand-in
model whose "random" passes follow a known script), and statistically, on a Keras
``Dropout`` layer whose mean and variance are known in closed form. TensorFlow is
imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from course_utils.checks import public_check, require, require_close, require_no_shortcut, with_references

TOLERANCE = 1e-5
LOG_2PI = float(np.log(2 * np.pi))


def _tf():
    import tensorflow as tf

    return tf


# ---------------------------------------------------------------- references


def reference_gaussian_nll(y, mean, log_var) -> float:
    """Mean over all elements of ``0.5 * (log(2 pi) + log_var + (y - mean)^2 / exp(log_var))``."""
    y, mean, log_var = (np.asarray(a, dtype=np.float64) for a in (y, mean, log_var))
    return float(np.mean(0.5 * (LOG_2PI + log_var + (y - mean) ** 2 * np.exp(-log_var))))


def reference_entropy(probs) -> np.ndarray:
    """Entropy in nats along the last axis, with ``0 log 0 = 0``."""
    p = np.asarray(probs, dtype=np.float64)
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)


def reference_mutual_information(samples) -> np.ndarray:
    """``H[mean_t p_t] - mean_t H[p_t]`` for samples of shape ``(T, N, K)``; returns ``(N,)``."""
    samples = np.asarray(samples, dtype=np.float64)
    return reference_entropy(samples.mean(axis=0)) - reference_entropy(samples).mean(axis=0)


def reference_ece(probs, labels, n_bins: int = 15) -> float:
    """Expected calibration error with ``n_bins`` equal-width confidence bins ``(b/M, (b+1)/M]``."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        members = bins == b
        if members.any():
            total += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(total)


def reference_auroc(scores_in, scores_out) -> float:
    """Probability that an out-of-distribution score beats an in-distribution one (ties count half)."""
    scores_in = np.asarray(scores_in, dtype=np.float64).reshape(-1)
    scores_out = np.asarray(scores_out, dtype=np.float64).reshape(-1)
    greater = (scores_out[:, None] > scores_in[None, :]).mean()
    ties = (scores_out[:, None] == scores_in[None, :]).mean()
    return float(greater + 0.5 * ties)


# ---------------------------------------------------------------- test models


class ScriptedModel:
    """A stand-in for a Keras dropout network whose stochastic passes follow a script.

    Called with ``training=True``, it multiplies each input row by ``factors[k]``, where k counts how many
    times it has seen that row before (cycling through ``factors``); called with ``training=False`` (the
    default) or through ``predict``, it returns the rows unchanged, like a dropout network in inference
    mode. A loop of T calls and one call on the batch tiled T times both give the rows the passes
    ``x * factors[0], ..., x * factors[T-1]``, so the Monte Carlo mean and variance over
    ``T = len(factors)`` passes are known exactly: ``x * mean(factors)`` and ``x**2 * var(factors)``.
    """

    def __init__(self, factors: Sequence[float]):
        self.factors = np.asarray(factors, dtype=np.float32)
        self.seen: dict[bytes, int] = {}

    def __call__(self, x, training: bool = False):
        tf = _tf()
        x = np.asarray(x, dtype=np.float32)
        if not training:
            return tf.convert_to_tensor(x)
        scale = np.empty(len(x), dtype=np.float32)
        for i, row in enumerate(x):
            k = self.seen.get(row.tobytes(), 0)
            self.seen[row.tobytes()] = k + 1
            scale[i] = self.factors[k % len(self.factors)]
        return tf.convert_to_tensor(x * scale.reshape(-1, *[1] * (x.ndim - 1)))

    def predict(self, x, **_) -> np.ndarray:
        """Inference mode, like ``keras.Model.predict``: dropout off."""
        return np.asarray(self(x, training=False))


def dropout_model(rate: float, features: int):
    """A Keras model that is a single ``Dropout(rate)`` layer on ``features`` inputs."""
    import keras

    return keras.Sequential([keras.Input(shape=(features,)), keras.layers.Dropout(rate)])


def nll_gradients(gaussian_nll: Callable, y, mean, log_var) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of ``gaussian_nll(y, mean, log_var)`` with respect to ``mean`` and ``log_var`` (float32 arrays of
    the shape of ``y``), computed inside ``tf.function`` as the notebook's compiled training step calls it.

    Raises ValueError naming the broken contract: code that runs only eagerly, no scalar float32 tensor, or no
    gradient.
    """
    tf = _tf()
    mean_var = tf.Variable(np.asarray(mean, dtype=np.float32))
    log_var_var = tf.Variable(np.asarray(log_var, dtype=np.float32))

    @tf.function
    def compiled_step(y):
        with tf.GradientTape() as tape:
            loss = gaussian_nll(y, mean_var, log_var_var)
        return loss, tape.gradient(loss, [mean_var, log_var_var])

    gaussian_nll(tf.constant(np.asarray(y, dtype=np.float32)), mean_var, log_var_var)  # eager errors show as they are
    try:
        loss, grads = compiled_step(tf.constant(np.asarray(y, dtype=np.float32)))
    except Exception:  # noqa: BLE001 - any error here means the function runs only eagerly
        raise ValueError("gaussian_nll fails inside tf.function, where the notebook's training step calls it: "
                         "use TensorFlow operations only (no .numpy(), float() or NumPy functions on the tensors)"
                         ) from None
    if not tf.is_tensor(loss) or loss.shape.rank != 0 or loss.dtype != tf.float32:
        raise ValueError(f"gaussian_nll returned a {getattr(loss, 'dtype', type(loss))!r} of shape "
                         f"{tuple(getattr(loss, 'shape', ()))}: return a scalar float32 tensor, the mean over all "
                         "elements")
    if any(g is None for g in grads):
        raise ValueError("no gradient flows through gaussian_nll: use TensorFlow operations (tf.exp, "
                         "tf.reduce_mean...), not NumPy, so that the network can be trained with it")
    return grads[0].numpy(), grads[1].numpy()


# ---------------------------------------------------------------- diagnoses (shared with the hidden checks)


def _near(got, expected, atol: float = 1e-4) -> bool:
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    expected = np.asarray(expected, dtype=np.float64)
    return got.shape == expected.shape and bool(np.allclose(got, expected, atol=atol, rtol=1e-4))


def diagnose_nll(got: float, y, mean, log_var) -> str | None:
    """Name the mistake when ``gaussian_nll(y, mean, log_var)`` returned ``got`` (None: right)."""
    y, mean, log_var = (np.asarray(a, dtype=np.float64) for a in (y, mean, log_var))
    r2 = (y - mean) ** 2
    expected = reference_gaussian_nll(y, mean, log_var)
    if _near(got, expected):
        return None
    if np.ndim(got) != 0 and np.size(got) == y.size:
        return "return one number, the mean over all elements, not one value per element"
    variants = [
        (2 * expected, "the result is twice the expected value: the factor 1/2 is missing"),
        (expected - 0.5 * LOG_2PI, "the constant 0.5*log(2*pi) is missing"),
        (np.mean(0.5 * LOG_2PI + log_var + r2 * np.exp(-log_var)),
         "only the constant has the factor 1/2: it multiplies all three terms"),
        (np.mean(0.5 * (LOG_2PI + r2 * np.exp(-log_var))),
         "the log-variance term s (what the network pays for a large variance) is missing"),
        (np.mean(0.5 * (LOG_2PI + log_var + r2 * np.exp(log_var))),
         "the squared error is multiplied by exp(s): divide it by the variance exp(s) (or multiply by exp(-s))"),
        (np.mean(0.5 * (LOG_2PI + log_var + r2 / log_var)),
         "the squared error is divided by s itself: s is the log variance, the variance is exp(s)"),
        (np.mean(0.5 * (LOG_2PI + 2 * log_var + r2 * np.exp(-2 * log_var))),
         "s is treated as the log standard deviation: it is the log variance, sigma^2 = exp(s)"),
        (expected * y.size, "the result is the sum over the elements: return the mean"),
        (-expected, "the sign is reversed: the negative log-likelihood is minus the log-density"),
    ]
    for value, message in variants:
        if _near(got, value):
            return message
    return ("gaussian_nll(y, mean, log_var) differs from the mean of 0.5 * (log(2 pi) + s + (y - mean)^2 / exp(s))")


def reference_samples(factors, x) -> np.ndarray:
    """What ``T = len(factors)`` passes of :class:`ScriptedModel` give: shape (T, N, ...)."""
    x = np.asarray(x, dtype=np.float32)
    return np.stack([x * np.float32(f) for f in factors])


def diagnose_samples(samples, factors, x) -> str | None:
    """Name the mistake of ``mc_dropout_samples(ScriptedModel(factors), x, len(factors))`` (None: right)."""
    expected = reference_samples(factors, x)
    try:
        samples = np.asarray(samples, dtype=np.float64)
    except (TypeError, ValueError) as error:
        return f"mc_dropout_samples did not return an array ({error}): stack the T outputs with np.stack"
    T, N = expected.shape[:2]
    if samples.shape != expected.shape:
        if samples.shape == (T * N, *expected.shape[2:]):
            return (f"the samples have shape {samples.shape}, expected {expected.shape}: stack the T outputs "
                    "along a new first axis instead of concatenating them")
        if samples.shape == (N, T, *expected.shape[2:]):
            return (f"the samples have shape {samples.shape}, expected {expected.shape}: axis 0 must be the T "
                    "passes, axis 1 the N inputs")
        return f"for T={T} passes over x of shape {np.shape(x)} the samples have shape {samples.shape}, " \
               f"expected {expected.shape}"
    if np.allclose(samples, np.asarray(x)[None], atol=1e-6):
        return ("dropout is off: every pass returned the inference-mode output (model(x) or model.predict). Call "
                "the model with training=True so that dropout stays on at prediction time")
    if np.allclose(samples, samples[:1], atol=1e-6):
        return ("all T passes are copies of one pass: call the model anew for every pass (or once on the batch "
                "repeated T times), each with training=True")
    if not np.allclose(samples, expected, atol=1e-5):
        return "mc_dropout_samples differs from the T passes of model(x, training=True), in order"
    return None


def type_name(value) -> str:
    """``module.Class`` of ``value``, e.g. ``numpy.ndarray``."""
    return f"{type(value).__module__}.{type(value).__name__}"


def numpy_contract(name: str, what: str) -> str | None:
    """The docstrings promise NumPy arrays (later cells call ``samples.mean(axis=0)``); None when the returned value's
    :func:`type_name` ``name`` is one."""
    if name == "numpy.ndarray":
        return None
    return (f"{what} returned a {name}: return a NumPy array (np.asarray or .numpy()), as the docstring says; "
            "later cells call NumPy methods on it")


def constant_passes(x, T: int) -> np.ndarray:
    """T identical float64 passes over ``x``, shape (T, *x.shape): their variance is 0, and 1/T sum f^2 - E^2
    rounds below 0 on some elements (the inputs used here are chosen so that it does)."""
    return np.stack([np.asarray(x, dtype=np.float64)] * T)


def diagnose_moments(mean, var, samples) -> str | None:
    """Name the mistake of an MC mean and variance computed from ``samples`` (T, N, D) (None: right)."""
    samples = np.asarray(samples, dtype=np.float64)
    want_mean, want_var = samples.mean(axis=0), samples.var(axis=0)
    try:
        mean, var = np.asarray(mean, dtype=np.float64), np.asarray(var, dtype=np.float64)
    except (TypeError, ValueError) as error:
        return f"mc_dropout_predict must return two arrays (mean, var) ({error})"
    if mean.shape != want_mean.shape or var.shape != want_var.shape:
        return (f"the mean and the variance have shapes {mean.shape} and {var.shape}, expected {want_mean.shape}: "
                "average over axis 0, the T passes")
    if np.any(var < 0):
        return ("the variance comes out negative where the T passes (nearly) agree: rounding in 1/T sum f^2 - E^2 "
                "can go below zero, so clamp it at 0 (np.maximum)")
    if _near(mean, want_var) and _near(var, want_mean):
        return "mean and variance are swapped: return (mean, var)"
    if not _near(mean, want_mean, atol=1e-5):
        return "the mean is not the average of the T passes (over axis 0)"
    if _near(var, want_var, atol=1e-5):
        return None
    T = len(samples)
    if T > 1 and _near(var, samples.var(axis=0, ddof=1), atol=1e-5):
        return "the variance divides by T-1; the formula 1/T sum f^2 - E^2 divides by T"
    if _near(var, np.sqrt(want_var), atol=1e-5):
        return "this is the standard deviation: return the variance (no square root)"
    if _near(var, (samples**2).mean(axis=0), atol=1e-5):
        return "the variance is the mean of the squares minus the squared mean: subtract E^2"
    return "the variance differs from 1/T sum_t f_t^2 - E^2 over the T passes"


def diagnose_entropy(got, probs) -> str | None:
    """Name the mistake of ``predictive_entropy(probs)`` (None: right)."""
    probs = np.asarray(probs, dtype=np.float64)
    expected = reference_entropy(probs)
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError) as error:
        return f"predictive_entropy did not return an array ({error})"
    if got.shape != expected.shape:
        return (f"for probabilities of shape {probs.shape} the entropy has shape {got.shape}, expected "
                f"{expected.shape}: sum over the last axis (the K classes)")
    if not np.all(np.isfinite(got)):
        return "the entropy contains NaN or infinity: 0 log 0 must count as 0 (clip p inside the log only)"
    if _near(got, expected):
        return None
    variants = [
        (expected / np.log(2), "this is the entropy in bits (log2): use the natural logarithm (nats)"),
        (expected / np.log(10), "this uses log10: use the natural logarithm (nats)"),
        (-expected, "the sign is reversed: the entropy is minus the sum of p log p, never negative"),
        (expected / probs.shape[-1], "this is the mean over the classes: sum p log p over the K classes"),
    ]
    for value, message in variants:
        if _near(got, value):
            return message
    return "predictive_entropy differs from -sum_k p_k log p_k (natural logarithm, over the last axis)"


def diagnose_mutual_information(got, samples) -> str | None:
    """Name the mistake of ``mutual_information(samples)`` for samples (T, N, K) (None: right)."""
    samples = np.asarray(samples, dtype=np.float64)
    total = reference_entropy(samples.mean(axis=0))
    expected_entropy = reference_entropy(samples).mean(axis=0)
    expected = total - expected_entropy
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError) as error:
        return f"mutual_information did not return an array ({error})"
    if got.shape != expected.shape:
        return (f"for samples of shape {samples.shape} the result has shape {got.shape}, expected {expected.shape}: "
                "one value per input; average over axis 0 (the T passes)")
    if not np.all(np.isfinite(got)):
        return "the mutual information contains NaN or infinity (0 log 0 must count as 0)"
    if _near(got, expected):
        return None
    variants = [
        (-expected, "the sign is reversed: it is H[mean of the passes] minus the mean of the passes' entropies"),
        (total, "this is the predictive entropy of the mean: subtract the mean entropy of the T passes"),
        (expected_entropy, "this is the mean entropy of the passes (the aleatoric part): the mutual information "
                           "is H[mean] minus it"),
        (total - reference_entropy(samples[0]), "subtract the entropy averaged over all T passes, not the "
                                                "entropy of one pass"),
        (expected / np.log(2), "this is in bits (log2): use the natural logarithm (nats)"),
    ]
    for value, message in variants:
        if _near(got, value):
            return message
    return "mutual_information differs from H[1/T sum_t p_t] - 1/T sum_t H[p_t]"


def diagnose_auroc(got, scores_in, scores_out) -> str | None:
    """Name the mistake of ``auroc(scores_in, scores_out)`` (None: right)."""
    scores_in = np.asarray(scores_in, dtype=np.float64).reshape(-1)
    scores_out = np.asarray(scores_out, dtype=np.float64).reshape(-1)
    try:
        got = float(np.asarray(got, dtype=np.float64))
    except (TypeError, ValueError) as error:
        return f"auroc must return one number ({error})"
    greater = float((scores_out[:, None] > scores_in[None, :]).mean())
    ties = float((scores_out[:, None] == scores_in[None, :]).mean())
    expected = greater + 0.5 * ties
    if abs(got - expected) < 1e-6:
        return None
    if abs(got - (1 - expected)) < 1e-6:
        return ("the result is 1 - AUROC: the out-of-distribution inputs are the positive class, flagged by a "
                "higher score")
    if ties > 0 and (abs(got - greater) < 1e-6 or abs(got - (greater + ties)) < 1e-6):
        return "ties count half: AUROC = P(out > in) + 0.5 P(out = in) (average ranks for tied scores)"
    return "auroc differs from P(score_out > score_in) + 0.5 P(score_out = score_in)"


def _ece_variant(probs, labels, n_bins: int, *, weighted=True, absolute=True, true_class=False,
                 left_closed=False) -> float:
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    confidence = probs[np.arange(len(probs)), labels] if true_class else probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    first = np.floor(confidence * n_bins) if left_closed else np.ceil(confidence * n_bins) - 1
    bins = np.clip(first.astype(int), 0, n_bins - 1)
    gaps, sizes = [], []
    for b in range(n_bins):
        members = bins == b
        if members.any():
            gap = correct[members].mean() - confidence[members].mean()
            gaps.append(abs(gap) if absolute else gap)
            sizes.append(members.mean())
    return float(np.dot(sizes, gaps) if weighted else np.mean(gaps))


def edge_problem(n_bins: int = 8) -> tuple[np.ndarray, np.ndarray, int]:
    """(probs (10, 3), labels (10,), n_bins): four confidences exactly on the edge 1/2, between bins of different
    accuracy, so that left-closed bins give another ECE than the right-closed ones (all values exact in binary)."""
    confidence = np.array([0.5] * 4 + [0.5625] * 4 + [0.4375] * 2)
    probs = np.stack([confidence, (1 - confidence) / 2, (1 - confidence) / 2], axis=1)
    return probs, np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0]), n_bins


def diagnose_ece(got, probs, labels, n_bins: int) -> str | None:
    """Name the mistake of ``expected_calibration_error(probs, labels, n_bins)`` (None: right)."""
    try:
        got = float(np.asarray(got, dtype=np.float64))
    except (TypeError, ValueError) as error:
        return f"expected_calibration_error must return one number ({error})"
    expected = reference_ece(probs, labels, n_bins)
    if abs(got - expected) < 1e-6:
        return None
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    variants = [
        (_ece_variant(probs, labels, n_bins, left_closed=True),
         "a confidence exactly on a bin edge b/M lands in the bin above it: the bins are right-closed, (b/M, (b+1)/M], "
         "so it belongs to bin b - 1"),
        (reference_ece(probs, labels, 15), "the result does not depend on n_bins: use the argument n_bins"),
        (_ece_variant(probs, labels, n_bins, weighted=False),
         "every bin counts the same: weight each bin's gap by its share of the predictions, |B_b| / N"),
        (_ece_variant(probs, labels, n_bins, absolute=False),
         "gaps of opposite signs cancel: take the absolute gap |acc - conf| in each bin"),
        (_ece_variant(probs, labels, n_bins, true_class=True),
         "the confidence is the largest predicted probability (of the predicted class), not the true class's"),
        (abs((probs.argmax(1) == labels).mean() - probs.max(1).mean()),
         "this compares accuracy and confidence over all predictions at once: compare them per bin"),
    ]
    for value, message in variants:
        if abs(got - value) < 1e-6:
            return message
    return "the ECE differs from sum_b |B_b|/N |acc(B_b) - conf(B_b)| with bins (b/M, (b+1)/M]"


ENTROPY_SHORTCUTS = {"stats.entropy": "write -sum p log p yourself with np.log and np.sum",
                     "special.entr": "write -sum p log p yourself with np.log and np.sum"}
AUROC_SHORTCUTS = {"roc_auc_score": "compute it from pairs or ranks yourself",
                   "metrics.auc": "compute it from pairs or ranks yourself",
                   "mannwhitneyu": "compute it from ranks yourself (scipy.stats.rankdata is allowed)"}
ECE_SHORTCUTS = {"stats.expected_calibration_error": "bin the predictions yourself"}
# The same library functions, recognised when they run, whatever name or API reached them.
ENTROPY_CALLS = {"scipy.stats.entropy": ENTROPY_SHORTCUTS["stats.entropy"]}
AUROC_CALLS = {"sklearn.metrics.roc_auc_score": AUROC_SHORTCUTS["roc_auc_score"],
               "sklearn.metrics.auc": AUROC_SHORTCUTS["metrics.auc"],
               "scipy.stats.mannwhitneyu": AUROC_SHORTCUTS["mannwhitneyu"]}


# ---------------------------------------------------------------- checks


def _fail_unless(problem: str | None) -> None:
    require(problem is None, problem or "")


def _watched(function: Callable, forbidden: dict[str, str], exercise: str) -> Callable:
    """``function``, failing the check when a call of it runs one of the ``forbidden`` library functions."""
    from course_utils.checks.source import call_watched

    def run(*args, **kwargs):
        value, called = call_watched(function, forbidden, *args, **kwargs)
        for name in called:
            require(False, f"{exercise} must not use `{name}`: {forbidden[name]}")
        return value

    return run


@public_check
def check_gaussian_nll(gaussian_nll: Callable) -> None:
    """``gaussian_nll(y, mean, log_var)``: mean Gaussian negative log-likelihood, differentiable in TF."""
    tf = _tf()
    rng = np.random.default_rng(50)
    y = rng.normal(size=(6, 1)).astype(np.float32)
    mean = rng.normal(size=(6, 1)).astype(np.float32)
    log_var = (rng.uniform(0.3, 1.5, size=(6, 1)) * rng.choice([-1, 1], size=(6, 1))).astype(np.float32)
    got = np.asarray(gaussian_nll(tf.constant(y), tf.constant(mean), tf.constant(log_var)))
    require(np.issubdtype(got.dtype, np.number), f"return a number, got {type(got).__name__}")
    _fail_unless(diagnose_nll(got, y, mean, log_var))
    # With log_var = 0 it is 0.5*log(2 pi) + half the mean squared error.
    zero = np.zeros_like(y)
    got_zero = np.asarray(gaussian_nll(tf.constant(y), tf.constant(mean), tf.constant(zero)))
    require_close(got_zero, 0.5 * LOG_2PI + 0.5 * np.mean((y - mean) ** 2),
                  what="gaussian_nll with log_var = 0", atol=1e-4, rtol=1e-4)
    grad_mean, grad_log_var = nll_gradients(gaussian_nll, y, mean, log_var)
    n = y.size
    require_close(grad_mean, -(y - mean) * np.exp(-log_var) / n, what="d nll / d mean", atol=1e-5, rtol=1e-3)
    require_close(grad_log_var, 0.5 * (1 - (y - mean) ** 2 * np.exp(-log_var)) / n,
                  what="d nll / d log_var", atol=1e-5, rtol=1e-3)


@public_check
def check_mc_dropout(mc_dropout_samples: Callable, mc_dropout_predict: Callable) -> None:
    """Samples come from T passes with dropout on; the mean and variance follow the formulas.

    ``mc_dropout_predict`` is judged with scripted samples in place of ``mc_dropout_samples``.
    """
    x = np.arange(1, 7, dtype=np.float32).reshape(3, 2)
    factors = [0.0, 2.0, 1.0, 3.0, 0.5]
    samples = mc_dropout_samples(ScriptedModel(factors), x, len(factors))
    _fail_unless(numpy_contract(type_name(samples), "mc_dropout_samples"))
    _fail_unless(diagnose_samples(samples, factors, x))

    for scripted in (reference_samples(factors, x), constant_passes(np.linspace(0.1, 3.0, 12).reshape(4, 3), 7)):
        predict = with_references(mc_dropout_predict, mc_dropout_samples=lambda model, x, T, s=scripted: s[:T])
        result = predict(ScriptedModel(factors), scripted[0], len(scripted))
        require(isinstance(result, (tuple, list)) and len(result) == 2, "mc_dropout_predict must return (mean, var)")
        for value, what in zip(result, ("mc_dropout_predict's mean", "mc_dropout_predict's variance")):
            _fail_unless(numpy_contract(type_name(value), what))
        _fail_unless(diagnose_moments(result[0], result[1], scripted))

    # A real Keras dropout layer on ones: each output is 0 or 1/(1-p), so E = 1 and Var = p/(1-p).
    rate, passes = 0.5, 400
    ones = np.ones((4, 3), dtype=np.float32)
    mean, var = (np.asarray(a) for a in mc_dropout_predict(dropout_model(rate, 3), ones, passes))
    require(mean.shape == (4, 3) and var.shape == (4, 3),
            f"with a Keras model, mean and var have shapes {mean.shape} and {var.shape}, expected (4, 3)")
    require(float(var.mean()) > 0.1, "the variance over passes of a Keras dropout layer is about zero: dropout is "
            "off; call the model with training=True in every pass")
    require_close(mean.mean(), 1.0, what="average MC mean of Dropout(0.5) on ones", atol=0.1, rtol=0)
    require_close(var.mean(), rate / (1 - rate), what="average MC variance of Dropout(0.5) on ones",
                  atol=0.15, rtol=0)


@public_check
def check_predictive_entropy(predictive_entropy: Callable) -> None:
    """Entropy in nats along the last axis: 0 for one-hot rows, log K for uniform rows."""
    require_no_shortcut(predictive_entropy, ENTROPY_SHORTCUTS, "predictive_entropy")
    predictive_entropy = _watched(predictive_entropy, ENTROPY_CALLS, "predictive_entropy")
    k = 10
    rng = np.random.default_rng(51)
    for probs in (np.eye(k, dtype=np.float32)[[3, 0, 9]], np.full((2, k), 1 / k, dtype=np.float32),
                  rng.dirichlet(np.ones(4), size=(2, 5)).astype(np.float32)):
        _fail_unless(diagnose_entropy(predictive_entropy(probs), probs))


@public_check
def check_mutual_information(mutual_information: Callable) -> None:
    """MI = H[mean_t p_t] - mean_t H[p_t]: 0 when all passes agree, log 2 for two confident opposite votes.

    Judged with the reference entropy in place of ``predictive_entropy``.
    """
    mutual_information = with_references(mutual_information, predictive_entropy=reference_entropy)
    rng = np.random.default_rng(52)
    same = np.repeat(rng.dirichlet(np.ones(5), size=(1, 4)), 6, axis=0).astype(np.float32)
    disagree = np.stack([np.eye(3)[[0, 1]], np.eye(3)[[1, 2]]]).astype(np.float32)  # (2, 2, 3)
    for samples in (same, disagree, rng.dirichlet(np.full(5, 0.5), size=(7, 3)).astype(np.float32)):
        _fail_unless(diagnose_mutual_information(mutual_information(samples), samples))


@public_check
def check_auroc(auroc: Callable) -> None:
    """AUROC = P(score_out > score_in) + 0.5 P(tie), for OOD inputs as the positive class."""
    require_no_shortcut(auroc, AUROC_SHORTCUTS, "auroc")
    auroc = _watched(auroc, AUROC_CALLS, "auroc")
    rng = np.random.default_rng(53)
    cases = [(np.array([0.1, 0.2, 0.3]), np.array([0.5, 0.9])), (np.array([0.5, 0.9]), np.array([0.1, 0.2, 0.3])),
             (np.ones(4), np.ones(3)), (rng.normal(size=200).round(1), rng.normal(1.0, size=150).round(1))]
    for scores_in, scores_out in cases:
        _fail_unless(diagnose_auroc(auroc(scores_in, scores_out), scores_in, scores_out))


@public_check
def check_expected_calibration_error(expected_calibration_error: Callable) -> None:
    """ECE = sum_b |B_b|/N * |acc(B_b) - conf(B_b)| over equal-width confidence bins."""
    require_no_shortcut(expected_calibration_error, ECE_SHORTCUTS, "expected_calibration_error")
    rng = np.random.default_rng(54)
    # Perfect calibration: in each bin the accuracy equals the confidence exactly.
    calibrated = (np.tile(np.array([[0.75, 0.25]]), (8, 1)), np.array([0, 0, 0, 1, 0, 0, 0, 1]), 10)
    # Over-confident: always 0.9 sure, right half of the time.
    over = (np.tile(np.array([[0.9, 0.05, 0.05]]), (10, 1)), np.array([0, 1] * 5), 10)
    # Two bins, one over- and one under-confident: their gaps must not cancel.
    mixed = (np.array([[0.9, 0.1]] * 4 + [[0.6, 0.4]] * 4), np.array([0, 0, 1, 1, 0, 0, 0, 1]), 10)
    probs = rng.dirichlet(np.full(4, 0.4), size=300)
    labels = rng.integers(0, 4, size=300)
    for probs_, labels_, bins in (calibrated, over, mixed, (probs, labels, 15), (probs, labels, 5), edge_problem()):
        _fail_unless(diagnose_ece(expected_calibration_error(probs_, labels_, n_bins=bins), probs_, labels_, bins))
