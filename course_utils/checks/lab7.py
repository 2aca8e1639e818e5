"""Public checks for Lab 7: music generation with a recurrent network.

Each check runs the student's function on small fixed inputs and compares it with a reference
written here (NumPy or TensorFlow). When the answer is wrong in a typical way (targets not shifted,
tanh missing, weights swapped, state not carried, temperature multiplied...) the message names the
mistake. A function that calls an earlier exercise is run with the reference version of that
exercise (:func:`judged`), so one mistake costs points once.
"""

from __future__ import annotations

import types
from collections.abc import Callable

import numpy as np

from course_utils.checks import public_check, require, require_close, require_no_shortcut
from course_utils.runtime import budget

FORBIDDEN_RNN = {
    "SimpleRNN": "write the update with matrix products and tanh",
    "SimpleRNNCell": "write the update with matrix products and tanh",
    "layers.RNN": "write the loop over time steps yourself",
}
# The same, seen by what runs (every Keras recurrent layer builds its cell, so the cell's and RNN's
# constructors cover SimpleRNN, RNN(SimpleRNNCell) and any alias or lookup that reaches them).
FORBIDDEN_RNN_CALLS = {
    "keras.layers.SimpleRNNCell": "write the update with matrix products and tanh",
    "keras.layers.RNN": "write the loop over time steps yourself",
}


def _np(value) -> np.ndarray:
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _f32(array) -> np.ndarray:
    return np.asarray(array, dtype=np.float32)


def _matches(got, expected, atol: float = 1e-4) -> bool:
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return got.shape == expected.shape and bool(np.all(np.abs(got - expected) <= atol + 1e-4 * np.abs(expected)))


def diagnose(got, expected, mistakes: dict[str, object], *, what: str, atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """Stop the check unless ``got`` matches ``expected``; name the mistake whose result ``got`` matches.

    ``mistakes`` maps a message to the value that mistake produces.
    """
    from course_utils.checks import array_problem

    if array_problem(got, expected, what=what, atol=atol, rtol=rtol) is None:
        return
    for message, wrong in mistakes.items():
        if _matches(got, wrong):
            require(False, message)
    require_close(got, expected, what=what, atol=atol, rtol=rtol)


# ---------------------------------------------------------------- references

def reference_rnn_step(x_t, h_prev, W_xh, W_hh, b):  # noqa: N803 (the lecture's names)
    """tanh(x_t W_xh + h_prev W_hh + b) for row vectors: (n, d), (n, u) -> (n, u), as a tf tensor."""
    import tensorflow as tf

    x_t, h_prev = tf.cast(x_t, tf.float32), tf.cast(h_prev, tf.float32)
    return tf.tanh(tf.matmul(x_t, tf.cast(W_xh, tf.float32)) + tf.matmul(h_prev, tf.cast(W_hh, tf.float32))
                   + tf.cast(b, tf.float32))


def reference_compute_loss(labels, logits):
    """Mean sparse categorical cross-entropy from logits, a scalar tf tensor."""
    import keras
    import tensorflow as tf

    return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))


def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of logits / temperature (NumPy, numerically safe)."""
    scaled = np.asarray(logits, np.float64) / temperature
    e = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def reference_sample_next(logits, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """One index per row from softmax(logits / temperature) drawn with rng; argmax at temperature 0."""
    logits = np.asarray(logits, np.float64)
    if temperature == 0:
        return np.argmax(logits, axis=-1)
    p = softmax(logits, temperature)
    return np.minimum((p.cumsum(axis=-1) < rng.random((len(p), 1))).sum(axis=-1), p.shape[-1] - 1)


REFERENCES = {"rnn_step": reference_rnn_step, "compute_loss": reference_compute_loss,
              "sample_next": reference_sample_next}


def judged(function: Callable, *names: str) -> Callable:
    """``function`` with the global names ``names`` (earlier exercises) bound to this module's references."""
    if not isinstance(function, types.FunctionType):
        return function
    namespace = dict(function.__globals__)
    namespace.update({name: REFERENCES[name] for name in names})
    return types.FunctionType(function.__code__, namespace, function.__name__, function.__defaults__,
                              function.__closure__)


def rnn_forward_numpy(x_seq, h0, W_xh, W_hh, b, carry: bool = True) -> np.ndarray:  # noqa: N803
    """All states (n, T, u) of the vanilla RNN; ``carry=False`` restarts every step from h0 (a mistake)."""
    h, states = np.asarray(h0, np.float64), []
    for t in range(np.shape(x_seq)[1]):
        h = np.tanh(np.asarray(x_seq, np.float64)[:, t] @ W_xh + (h if carry else h0) @ W_hh + b)
        states.append(h)
    return np.stack(states, axis=1)


def greedy_continuation(logits_of: Callable[[np.ndarray], np.ndarray], start: list[int], length: int,
                        carry: bool = True) -> list[int]:
    """Greedy indices after ``start``; ``logits_of(ids (1, L)) -> logits (1, L, V)`` sees the whole prefix.

    ``carry=False`` sees only the last character after the first step (the state was not carried).
    """
    ids = list(start)
    for _ in range(length):
        context = ids if carry or len(ids) == len(start) else ids[-1:]
        ids.append(int(np.argmax(np.asarray(logits_of(np.array([context])))[0, -1])))
    return ids[len(start):]


def not_numpy(function: str, kind: str) -> str:
    """What to tell a student whose ``function`` returned a ``kind`` (a type name) instead of a NumPy array."""
    promised = {"vectorize": "a NumPy integer array of shape (len(text),)",
                "gradient_norms": "a NumPy array of shape (T,) (a tensor has .numpy())"}[function]
    return f"{function} returned a {kind}: the docstring promises {promised}"


# ---------------------------------------------------------------- checks

@public_check
def check_vectorize(vectorize) -> None:
    """Indices of a string under a shuffled vocabulary, an integer array of shape (len(text),)."""
    text = "X:1\nT:Reel\nK:D\n|:A2 dB|"
    chars = sorted(set(text))
    order = _rng(0).permutation(len(chars))
    char2idx = {c: int(i) for c, i in zip(chars, order, strict=True)}
    got = vectorize(text, char2idx)
    require(isinstance(got, np.ndarray), not_numpy("vectorize", type(got).__name__))
    require(got.shape == (len(text),), f"expected one index per character, shape ({len(text)},), got {got.shape}")
    require(got.dtype.kind in "iu", f"the indices must be integers, got dtype {got.dtype}")
    require(np.array_equal(got, [char2idx[c] for c in text]), "the indices must come from char2idx, in text order")


def batch_error_message(error: str, n_ids: int, seq_length: int) -> str:
    """What to tell a student whose get_batch raised ``error`` on a text of ``n_ids`` characters."""
    return (f"get_batch raised {error} with {n_ids} characters and seq_length {seq_length}: a start near the end "
            f"cuts a target window that runs past the end of the text, so the windows differ in length. Only "
            f"starts whose target window ends inside the text are valid")


def _batch(get_batch, ids, seq_length: int, batch_size: int, rng):
    """``get_batch(...)``, with an error raised by it turned into the message that names the likely cause."""
    try:
        return get_batch(ids, seq_length, batch_size, rng)
    except (ValueError, IndexError) as error:
        require(False, batch_error_message(f"{type(error).__name__} ({error})", len(ids), seq_length))


def _not_watched(function, forbidden: dict[str, str], exercise: str, *args):
    """``function(*args)``; stop the check when it runs a forbidden library function, whatever the spelling."""
    from course_utils.checks.source import call_watched

    value, called = call_watched(function, forbidden, *args)
    for name in called:
        require(False, f"{exercise} must not use `{name}`: {forbidden[name]}")
    return value


def _check_batch_pairs(get_batch) -> None:
    ids = np.arange(1000, dtype=np.int64)
    x, y = _batch(get_batch, ids, 20, 8, _rng(0))
    x, y = np.asarray(x), np.asarray(y)
    require(x.shape == (8, 20) and y.shape == (8, 20),
            f"x and y must have shape (batch_size, seq_length) = (8, 20), got {x.shape} and {y.shape}")
    require(np.all(np.diff(x, axis=1) == 1), "each row of x must be a contiguous window of the text")
    require(not np.array_equal(y, x), "the targets are the inputs themselves: y must be the window shifted by one "
                                      "character (the next character at every position)")
    require(not np.array_equal(y, x - 1), "the targets are shifted the wrong way: y[t] must be the character "
                                          "AFTER x[t], not before")
    require(np.array_equal(y, x + 1), "y must be x shifted by one character: y[i, t] = ids[s_i + t + 1]")


@public_check
def check_get_batch(get_batch) -> None:
    """Targets are the inputs shifted by one; starts cover every valid position; rng makes it reproducible."""
    _check_batch_pairs(get_batch)
    ids = np.arange(100, 108, dtype=np.int64)  # 8 characters, windows of 5: starts 0, 1, 2
    starts = set()
    for k in range(150):
        x, y = _batch(get_batch, ids, 5, 4, _rng(k))
        require(np.asarray(x).shape == (4, 5) and np.asarray(y).shape == (4, 5),
                "with 8 characters and seq_length 5 a batch must still have shape (4, 5): the target "
                "window must end inside the text")
        starts.update(int(s) - 100 for s in np.asarray(x)[:, 0])
    require(starts <= {0, 1, 2}, f"starts {sorted(starts - {0, 1, 2})} leave no room for the target window")
    require(starts == {0, 1, 2}, f"with 8 characters and seq_length 5 the starts 0, 1 and 2 are all valid; "
                                 f"only {sorted(starts)} ever appear (an off-by-one in the range of starts?)")
    first, again = get_batch(np.arange(500), 10, 6, _rng(5)), get_batch(np.arange(500), 10, 6, _rng(5))
    require(np.array_equal(first[0], again[0]), "draw the starts with the rng argument (rng.integers), so that "
                                                "the same generator state gives the same batch")


def _rnn_weights(d: int, u: int, seed: int):
    rng = _rng(seed)
    return (_f32(rng.normal(0, 0.6, (d, u))), _f32(rng.normal(0, 0.6, (u, u))), _f32(rng.normal(0, 0.3, u)))


def rnn_step_mistakes(x, h, w_xh, w_hh, b) -> dict[str, np.ndarray]:
    """What the typical mistakes of the RNN step produce (square weights, so that every one runs)."""
    x, h = np.asarray(x, np.float64), np.asarray(h, np.float64)
    return {
        "tanh is missing: the new state is tanh of the whole sum": x @ w_xh + h @ w_hh + b,
        "tanh must be applied to the whole sum x_t W_xh + h_prev W_hh + b, not to a part of it":
            np.tanh(x @ w_xh) + h @ w_hh + b,
        "tanh must include the bias: tanh(x_t W_xh + h_prev W_hh + b)": np.tanh(x @ w_xh + h @ w_hh) + b,
        "W_xh and W_hh are swapped: the input goes through W_xh, the previous state through W_hh":
            np.tanh(x @ w_hh + h @ w_xh + b),
        "W_hh is transposed: with row vectors the state goes through h_prev @ W_hh":
            np.tanh(x @ w_xh + h @ w_hh.T + b),
        "W_xh is transposed: with row vectors the input goes through x_t @ W_xh":
            np.tanh(x @ w_xh.T + h @ w_hh + b),
        "the weights are applied on the wrong side: with row vectors write x_t @ W_xh and h_prev @ W_hh":
            np.tanh(x @ w_xh.T + h @ w_hh.T + b),
        "the bias b is missing": np.tanh(x @ w_xh + h @ w_hh),
        "the previous state h_prev is ignored": np.tanh(x @ w_xh + b),
    }


@public_check
def check_rnn_step(rnn_step) -> None:
    """One vanilla RNN step against NumPy, with square and non-square weights; no Keras recurrent layer."""
    require_no_shortcut(rnn_step, FORBIDDEN_RNN, "rnn_step")
    rng = _rng(1)
    w_xh, w_hh, b = _rnn_weights(4, 4, 2)
    x, h = _f32(rng.normal(size=(3, 4))), _f32(rng.uniform(-1, 1, (3, 4)))
    expected = np.tanh(x @ w_xh + h @ w_hh + b)
    got = _np(_not_watched(rnn_step, FORBIDDEN_RNN_CALLS, "rnn_step", x, h, w_xh, w_hh, b))
    diagnose(got, expected, rnn_step_mistakes(x, h, w_xh, w_hh, b),
             what="h_t", atol=1e-5)
    w_xh, w_hh, b = _rnn_weights(5, 3, 3)
    x, h = _f32(rng.normal(size=(2, 5))), _f32(rng.uniform(-1, 1, (2, 3)))
    require_close(_np(rnn_step(x, h, w_xh, w_hh, b)), np.tanh(x @ w_xh + h @ w_hh + b),
                  what="h_t with d=5 inputs and u=3 units", atol=1e-5)


def keras_simple_rnn(x_seq, h0, w_xh, w_hh, b) -> np.ndarray:
    """Keras' SimpleRNN (tanh, return_sequences) with the given weights and initial state: (n, T, u)."""
    import keras

    layer = keras.layers.SimpleRNN(w_hh.shape[0], return_sequences=True)
    layer.build((None, None, w_xh.shape[0]))
    layer.set_weights([w_xh, w_hh, b])
    return np.asarray(layer(_f32(x_seq), initial_state=[_f32(h0)]), np.float64)


def loss_mistakes(labels, logits) -> tuple[float, dict[str, float]]:
    """The mean sparse cross-entropy from ``logits`` (..., V) for ``labels`` (...), and what typical mistakes give."""
    import keras
    import tensorflow as tf

    def loss(targets, outputs, from_logits):
        return keras.losses.sparse_categorical_crossentropy(targets, outputs, from_logits=from_logits).numpy()

    per_position = loss(labels, logits, True)
    return float(per_position.mean()), {
        "the model outputs logits: tell the loss so (from_logits=True), do not treat them as probabilities":
            float(np.mean(loss(labels, logits, False))),
        "softmax applied twice: the loss applies the softmax itself when from_logits=True":
            float(np.mean(loss(labels, tf.nn.softmax(logits), True))),
        "take the mean over positions, not the sum": float(per_position.sum()),
    }


def rnn_forward_mistakes(x_seq, h0, w_xh, w_hh, b) -> dict[str, np.ndarray]:
    """What the typical mistakes of unrolling produce."""
    states = rnn_forward_numpy(x_seq, h0, w_xh, w_hh, b)
    return {
        "the state is not carried: every step must start from the state of the step before, not from h0":
            rnn_forward_numpy(x_seq, h0, w_xh, w_hh, b, carry=False),
        "return every state h_1..h_T stacked on axis 1 (shape (n, T, u)), not only the last one": states[:, -1],
        "stack the states on the time axis (axis 1): the result must have shape (n, T, u), not (T, n, u)":
            states.transpose(1, 0, 2),
        "return h_1..h_T, without the initial state h0":
            np.concatenate([np.asarray(h0, np.float64)[:, None], states[:, :-1]], axis=1),
    }


@public_check
def check_rnn_forward(rnn_forward) -> None:
    """The unrolled RNN agrees with keras.layers.SimpleRNN (same weights, same h0) to 1e-5."""
    require_no_shortcut(rnn_forward, FORBIDDEN_RNN, "rnn_forward")
    rng = _rng(4)
    w_xh, w_hh, b = _rnn_weights(3, 4, 5)
    x_seq, h0 = _f32(rng.normal(size=(2, 7, 3))), _f32(rng.uniform(-0.5, 0.5, (2, 4)))
    got = _np(_not_watched(judged(rnn_forward, "rnn_step"), FORBIDDEN_RNN_CALLS, "rnn_forward", x_seq, h0, w_xh, w_hh,
                           b))
    diagnose(got, keras_simple_rnn(x_seq, h0, w_xh, w_hh, b), rnn_forward_mistakes(x_seq, h0, w_xh, w_hh, b),
             what="states compared with keras.layers.SimpleRNN", atol=1e-5)


NO_GRADIENT = ("the tape gave no gradient (None) for x: a tape records operations on trainable variables only, "
               "unless it is told to watch a tensor")


def reference_gradient_norms(layer, x, *, last_only: bool = True, mean: bool = True) -> np.ndarray:
    """Norm over features of d(sum of outputs at the last step, or at all steps)/dx_t, mean or sum over batch."""
    import tensorflow as tf

    x = tf.convert_to_tensor(_f32(x))
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = layer(x)
        loss = tf.reduce_sum(outputs[:, -1] if last_only else outputs)
    norms = tf.norm(tape.gradient(loss, x), axis=-1).numpy().astype(np.float64)
    return norms.mean(axis=0) if mean else norms.sum(axis=0)


def probe_layer(kind: str, units: int, d: int, seed: int):
    """A Keras SimpleRNN or LSTM (return_sequences) built for d features with seeded random weights."""
    import keras

    keras.utils.set_random_seed(seed)
    layer = (keras.layers.SimpleRNN if kind == "rnn" else keras.layers.LSTM)(units, return_sequences=True)
    layer.build((None, None, d))
    return layer


@public_check
def check_gradient_norms(gradient_norms) -> None:
    """Gradient norms of the last-step loss w.r.t. each input step, for a SimpleRNN, against a reference."""
    layer = probe_layer("rnn", 6, 4, 7)
    x = _f32(_rng(8).normal(size=(3, 12, 4)))
    try:
        returned = gradient_norms(layer, x)
    except (ValueError, TypeError) as error:
        require("None" not in str(error), NO_GRADIENT + f" (your code raised {type(error).__name__})")
        raise
    got = _np(returned)
    mistakes = {
        "the loss must be the sum of the outputs at the LAST time step only, not at every step":
            reference_gradient_norms(layer, x, last_only=False),
        "average the norms over the batch (mean), do not sum them": reference_gradient_norms(layer, x, mean=False),
    }
    if got.shape == (3, 12):
        require(False, "reduce over the batch too: one value per time step, shape (T,), averaged over the batch")
    diagnose(got, reference_gradient_norms(layer, x), mistakes, what="gradient norms", atol=1e-5, rtol=1e-3)
    require(isinstance(returned, np.ndarray), not_numpy("gradient_norms", type(returned).__name__))


@public_check
def check_compute_loss(compute_loss) -> None:
    """Mean sparse categorical cross-entropy from logits, against a reference; names the usual mistakes."""
    import tensorflow as tf

    rng = _rng(9)
    labels = rng.integers(0, 7, (3, 5))
    logits = tf.constant(_f32(rng.normal(0, 3, (3, 5, 7))))
    got = _np(compute_loss(labels, logits))
    require(got.shape != (3, 5), "return the mean over all positions (a scalar), not one loss per position")
    expected, mistakes = loss_mistakes(labels, logits)
    diagnose(got, expected, mistakes, what="loss", atol=1e-5)
    require_close(_np(_compiled(tf.function(compute_loss), "compute_loss", labels, logits)), expected,
                  what="loss inside tf.function", atol=1e-5)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = compute_loss(labels, logits)
    require(tf.is_tensor(loss) and tape.gradient(loss, logits) is not None, LOSS_WITHOUT_GRADIENT)


LOSS_WITHOUT_GRADIENT = ("compute_loss returns no gradient with respect to the logits: the training step "
                         "differentiates it, so return a TensorFlow tensor computed with TensorFlow operations (no "
                         "float(), NumPy or .numpy())")


def compiled_failure(function_name: str, error: str) -> str:
    """What to tell a student whose function failed inside ``tf.function`` with ``error``."""
    return (f"{function_name} fails with tf.function, as the notebook compiles it ({error}): inside a compiled "
            f"function values are symbolic tensors, so keep to TensorFlow operations and calls (no float(), "
            f".numpy() or NumPy on tensors)")


def _compiled(compiled, function_name: str, *args):
    """``compiled(*args)`` (a ``tf.function``), a failure turned into the message that says why it matters."""
    try:
        return compiled(*args)
    except Exception as error:  # noqa: BLE001 (any failure while tracing is the student's code)
        message = str(error).strip().splitlines()[-1] if str(error).strip() else ""
        require(False, compiled_failure(function_name, f"{type(error).__name__}: {message}"[:200]))


def _copy_model(model_class, model, vocab_size: int, x):
    twin = model_class(vocab_size, 8, 16)
    twin(x)
    twin.set_weights(model.get_weights())
    return twin


@public_check
def check_train_step(train_step, model_class) -> None:
    """One step equals a reference SGD step (loss before the update); repeated steps fit one batch."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(10)
    rng = _rng(10)
    x, y = rng.integers(0, 11, (4, 9)), rng.integers(0, 11, (4, 9))
    model = model_class(11, 8, 16)
    model(x)
    reference = _copy_model(model_class, model, 11, x)
    with tf.GradientTape() as tape:
        expected_loss = reference_compute_loss(y, reference(x, training=True))
    gradients = [tf.convert_to_tensor(g) for g in tape.gradient(expected_loss, reference.trainable_variables)]
    before = [np.asarray(w, np.float64) for w in model.get_weights()]
    step = judged(train_step, "compute_loss")
    loss = _np(step(model, keras.optimizers.SGD(0.5), x, y))
    after = [np.asarray(w, np.float64) for w in model.get_weights()]
    require(loss.shape == (), f"train_step must return the loss as a scalar, got shape {loss.shape}")
    require(any(not np.allclose(a, b) for a, b in zip(before, after, strict=True)),
            "the weights did not change: apply the gradients with optimizer.apply_gradients")
    expected = [b - 0.5 * g.numpy() for b, g in zip(before, gradients, strict=True)]
    ascent = [b + 0.5 * g.numpy() for b, g in zip(before, gradients, strict=True)]
    require(not all(np.allclose(a, e, atol=1e-5) for a, e in zip(after, ascent, strict=True)),
            "the weights moved uphill: apply the gradients of the loss, not of -loss")
    for got, want in zip(after, expected, strict=True):
        require_close(got, want, what="weights after one SGD step (lr 0.5)", atol=1e-4, rtol=1e-3)
    require_close(loss, float(expected_loss), what="returned loss (computed before the update)", atol=1e-5)
    optimizer = keras.optimizers.Adam(3e-2)
    compiled = tf.function(step)
    _compiled(compiled, "train_step", model, optimizer, x[:2], y[:2])
    losses = [float(_np(compiled(model, optimizer, x[:2], y[:2]))) for _ in range(15)]
    require(losses[-1] < 0.7 * losses[0], f"15 steps on one batch took the loss only from {losses[0]:.3f} "
                                          f"to {losses[-1]:.3f}")


def trained_margin() -> float:
    """How far (nats/char) below the unigram baseline a trained model's validation loss must be, per run mode."""
    return budget(full=1.0, smoke=0.3)


@public_check
def check_trained_model(val_loss: float, unigram: float) -> None:
    """The validation cross-entropy beats the unigram baseline by this run mode's margin."""
    val_loss, unigram = float(val_loss), float(unigram)
    require(np.isfinite(val_loss), "the validation loss is not finite")
    margin = trained_margin()
    require(val_loss < unigram - margin, f"validation loss {val_loss:.3f} nats/char is not {margin} below the "
                                         f"unigram baseline {unigram:.3f}: train longer or check the learning rate")


@public_check
def check_sample_next(sample_next) -> None:
    """Greedy at temperature 0 and near 0, frequencies of softmax(logits / T) otherwise, reproducible with rng."""
    rng = _rng(11)
    logits = rng.normal(0, 2, (6, 9))
    got = np.asarray(sample_next(logits, 0.0, _rng(0)))
    require(got.shape == (6,), f"expected one index per row, shape (6,), got {got.shape}")
    require(np.array_equal(got, logits.argmax(-1)), "at temperature 0 return the most likely index of each row")
    rows = np.array([[2.0, 1.0, 0.2, -1.0, 0.5], [-1.0, 0.0, 1.5, 0.3, 0.3]])
    batch = np.tile(rows, (10000, 1))
    draws = np.asarray(sample_next(batch, 1.0, _rng(1)))
    require(draws.dtype.kind in "iu" and draws.min() >= 0 and draws.max() < 5,
            "sample_next must return integer indices into the vocabulary")
    first, again = sample_next(batch[:50], 1.0, _rng(3)), sample_next(batch[:50], 1.0, _rng(3))
    require(np.array_equal(first, again), "draw with the rng argument (not np.random or tf.random), so that the "
                                          "same seed gives the same characters")
    first_row = np.bincount(draws[0::2], minlength=5) / 10000
    second_row = np.bincount(draws[1::2], minlength=5) / 10000
    require(np.abs(first_row - softmax(rows[0])).max() < 0.03 and np.abs(second_row - softmax(rows[1])).max() < 0.03,
            "at temperature 1 each row must be drawn from the softmax of its own logits")
    draws = np.asarray(sample_next(batch, 0.5, _rng(2)))
    frequencies = np.bincount(draws[0::2], minlength=5) / 10000
    require(np.abs(frequencies - softmax(rows[0] * 0.5)).max() > 0.02,
            "the logits were multiplied by the temperature: divide them by it (low temperature = sharper)")
    require(np.abs(frequencies - softmax(rows[0])).max() > 0.02, "the temperature has no effect: divide the logits "
                                                                 "by it before the softmax")
    require(np.abs(frequencies - softmax(rows[0], 0.5)).max() < 0.03,
            "at temperature 0.5 the frequencies must follow softmax(logits / 0.5)")
    big = logits * 40
    try:
        with np.errstate(all="ignore"):
            tiny = np.asarray(sample_next(big, 1e-6, _rng(0)))
    except Exception as error:  # an overflowing softmax makes NaN probabilities, which rng.choice rejects
        tiny = f"{type(error).__name__}: {error}"
    require(np.array_equal(tiny, big.argmax(-1)), "at a tiny temperature sampling must be greedy; subtract the row "
                                                  "maximum before np.exp so that the softmax does not overflow"
                                                  + (f" (your code raised {tiny})" if isinstance(tiny, str) else ""))


def toy_model(model_class, vocab_size: int, seed: int):
    """A small untrained model whose greedy continuation depends on the whole prefix."""
    import keras

    keras.utils.set_random_seed(seed)
    model = model_class(vocab_size, 8, 16)
    model(np.zeros((1, 1), np.int64))
    model.set_weights([w * 3 for w in model.get_weights()])
    return model


@public_check
def check_generate_text(generate_text, model_class) -> None:
    """Greedy generation carries the state; a fixed seed reproduces; temperature -> 0 is greedy.

    generate_text runs with the reference sample_next.
    """
    import tensorflow as tf

    vocab = list("abcdefgh|\n")
    model = toy_model(model_class, len(vocab), 12)
    generate = judged(generate_text, "sample_next")
    out = generate(model, vocab, "ab", 10, temperature=0.0, seed=0, n=2)
    require(isinstance(out, (list, tuple)) and len(out) == 2, "return a list of n strings")
    require(all(isinstance(s, str) and len(s) == 12 and s.startswith("ab") for s in out),
            "each string must be start_string followed by `length` generated characters")
    start = [vocab.index(c) for c in "ab"]
    logits_of = lambda ids: model(ids)  # noqa: E731
    greedy = "ab" + "".join(vocab[i] for i in greedy_continuation(logits_of, start, 10))
    stateless = "ab" + "".join(vocab[i] for i in greedy_continuation(logits_of, start, 10, carry=False))
    require(out[0] != stateless, "the state was not carried between steps: feed the states the model returned "
                                 "back into the next call")
    require(out[0] == greedy and out[1] == greedy,
            "greedy generation (temperature 0) differs from the reference: feed each drawn character with the "
            "carried states and sample from the logits of the last position")
    first = generate(model, vocab, "a", 12, temperature=1.0, seed=3, n=3)
    require(first == generate(model, vocab, "a", 12, temperature=1.0, seed=3, n=3),
            "the same seed must give the same text: draw with np.random.default_rng(seed)")
    compiled = _compiled(lambda *args: generate(*args, temperature=0.0, seed=0, n=2), "generate_text",
                         tf.function(model, reduce_retracing=True), vocab, "ab", 10)
    require(list(compiled) == [greedy, greedy], "with the compiled model (tf.function(model), as the notebook passes "
                                                "it) greedy generation differs from the reference")
    near_zero = generate(model, vocab, "ab", 10, temperature=1e-4, seed=0, n=1)
    require(near_zero[0] == greedy, "with temperature -> 0 generation must become greedy")
    require(first != generate(model, vocab, "a", 12, temperature=1.0, seed=4, n=3),
            "different seeds give the same text: the seed must drive the sampling")
    require(len(set(first)) > 1, "the n rows are identical: each row must be sampled on its own")
