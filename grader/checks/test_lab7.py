"""Hidden checks for Lab 7 (music generation with a recurrent network).

Inputs differ from the public checks (shapes, seeds, vocabularies, weights, the held-out text);
references are computed here with NumPy, TensorFlow and Keras. A function that calls an earlier
exercise runs with the reference of that exercise (``judged``), so one mistake costs points once.
Points per question match the notebook's check cells: vectorize 1, batch 2, rnn_step 2,
rnn_forward 2, gradients 2, loss 1, train_step 2, trained 2, sample 2, generate 3.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_utils.checks.lab7 import (
    FORBIDDEN_RNN,
    FORBIDDEN_RNN_CALLS,
    LOSS_WITHOUT_GRADIENT,
    NO_GRADIENT,
    batch_error_message,
    compiled_failure,
    greedy_continuation,
    keras_simple_rnn,
    loss_mistakes,
    not_numpy,
    reference_compute_loss,
    reference_gradient_norms,
    rnn_forward_mistakes,
    rnn_forward_numpy,
    rnn_step_mistakes,
    softmax,
    trained_margin,
)
from course_utils.datasets import load_irish_folk_tunes
from grader.channel import StudentError
from grader.harness import (
    CheckFailed,
    expect,
    expect_close,
    expect_no_shortcut,
    expect_not_called,
    generated,
    kernel_module,
    points,
)

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

RNG = np.random.default_rng(20261202)
CHECKS = kernel_module("course_utils.checks.lab7")
NUMPY_RNG = "__import__('numpy').random.default_rng"


def f32(array) -> np.ndarray:
    return np.asarray(array, dtype=np.float32)


def _diagnose(got, expected, mistakes: dict[str, np.ndarray], *, what: str, atol: float = 1e-5,
              rtol: float = 1e-5) -> None:
    """Fail naming the typical mistake ``got`` matches, else on any difference from ``expected``."""
    got = np.asarray(got, dtype=np.float64)
    for message, wrong in mistakes.items():
        wrong = np.asarray(wrong, dtype=np.float64)
        if got.shape == wrong.shape and np.allclose(got, wrong, atol=1e-4, rtol=1e-4) and \
                not (got.shape == np.shape(expected) and np.allclose(got, expected, atol=atol, rtol=rtol)):
            expect(False, message)
    expect_close(got, expected, what=what, atol=atol, rtol=rtol)



def _kernel_error(error: StudentError) -> str:
    """The error the student's code raised, as its type and its last line (a traced function's error spans lines)."""
    text = str(error).split(" raised ", 1)[-1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    kind = text.split(":", 1)[0]
    return (lines[-1] if lines[-1].startswith(kind) else f"{kind}: {lines[-1]}")[:200] if lines else text[:200]



# ---------------------------------------------------------------- vectorize (1)

_ABC = "ABCDEFGabcdefgz|:2/\n XTMK,'^_=()[]"


@points(0.5, question="vectorize")
@generated(max_examples=5)
@given(texts=st.lists(st.text(alphabet=_ABC, min_size=1, max_size=60), min_size=2, max_size=4))
def test_vectorize_generated(student, texts):
    char2idx = {c: int(i) for c, i in zip(_ABC, np.random.default_rng(len(texts)).permutation(len(_ABC)) + 1,
                                          strict=True)}
    outputs = student.call("lambda texts, c2i: [(lambda y: (y, type(y).__name__))(vectorize(t, c2i)) for t in texts]",
                           texts, char2idx)
    for text, (got, kind) in zip(texts, outputs, strict=True):
        expect(kind == "ndarray", not_numpy("vectorize", kind))
        got = np.asarray(got)
        expect(got.dtype.kind in "iu", f"vectorize returned dtype {got.dtype}: the indices must be integers")
        expect(np.array_equal(got, [char2idx[c] for c in text]), "the indices must come from char2idx, in text order")


@points(0.5, question="vectorize")
def test_vectorize_other_vocabulary(student):
    text = "X:12\nT:Jig\nM:6/8\nK:G\n|:GAB c2d|e>fg (3fed|]\n\n"
    chars = sorted(set(text))
    char2idx = {c: int(i) for c, i in zip(chars, RNG.permutation(len(chars)) + 3, strict=True)}
    got = np.asarray(student.call("vectorize", text, char2idx))
    expect(got.shape == (len(text),), f"vectorize must return one index per character, got shape {got.shape}")
    expect(got.dtype.kind in "iu", "vectorize must return integer indices")
    expect(np.array_equal(got, [char2idx[c] for c in text]), "the indices must come from char2idx, in text order")


# ---------------------------------------------------------------- batch (2)

def _batches(student, expression: str, argument, n_ids: int, seq_length: int):
    """``expression(argument)`` in the kernel; an error of get_batch (on ``n_ids`` characters, windows of
    ``seq_length``) becomes the message that names its likely cause."""
    try:
        return student.call(expression, argument)
    except StudentError as error:
        if "low >= high" in str(error):
            raise CheckFailed(f"get_batch drew its starts from an empty range with {n_ids} characters and "
                              f"seq_length {seq_length}, where one start is valid: an off-by-one in the range of "
                              f"starts?") from None
        if "ValueError" in str(error) or "IndexError" in str(error):
            raise CheckFailed(batch_error_message(str(error).split(" raised ")[-1], n_ids, seq_length)) from None
        raise


@points(1, question="batch")
def test_targets_are_next_characters(student):
    ids = np.arange(50, 350, dtype=np.int64)
    x, y = _batches(student, f"lambda ids: get_batch(ids, 13, 5, {NUMPY_RNG}(7))", ids, len(ids), 13)
    x, y = np.asarray(x), np.asarray(y)
    expect(x.shape == (5, 13) and y.shape == (5, 13), f"x and y must have shape (5, 13), got {x.shape}, {y.shape}")
    expect(np.all(np.diff(x, axis=1) == 1), "each row of x must be a contiguous window of the text")
    expect(not np.array_equal(y, x), "the targets are the inputs themselves: y must be shifted by one character")
    expect(not np.array_equal(y, x - 1), "the targets are shifted the wrong way: y[t] must be the character after x[t]")
    expect(np.array_equal(y, x + 1), "y must be x shifted by one character")


@st.composite
def _batch_cases(draw):
    """(number of characters, seq_length, batch_size, seed): batch size 1, windows that leave one start only."""
    seq_length = draw(st.integers(1, 30))
    return (seq_length + draw(st.integers(1, 40)), seq_length, draw(st.integers(1, 9)), draw(st.integers(0, 99)))


@points(0.5, question="batch")
@generated(max_examples=4)
@given(cases=st.lists(_batch_cases(), min_size=4, max_size=6))
def test_batches_of_generated_shapes(student, cases):
    texts = [np.arange(1000, 1000 + n, dtype=np.int64) for n, _, _, _ in cases]
    n, seq_length = min((n - L, n, L) for n, L, _, _ in cases)[1:]  # the tightest case, for the message
    batches = _batches(student, f"lambda cases: [get_batch(ids, L, B, {NUMPY_RNG}(s)) for ids, (_, L, B, s) in cases]",
                       list(zip(texts, cases, strict=True)), n, seq_length)
    for (n, seq_length, batch_size, _), (x, y) in zip(cases, batches, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        expect(x.shape != (batch_size, seq_length) or y.shape[1:] >= (seq_length,),
               f"get_batch(ids, seq_length={seq_length}, batch_size={batch_size}, rng) on {n} characters returned a "
               f"target window shorter than seq_length: its start lets the target window run past the end of the "
               f"text; only starts whose target window ends inside the text are valid")
        expect(x.shape == y.shape == (batch_size, seq_length),
               f"get_batch(ids, seq_length={seq_length}, batch_size={batch_size}, rng) on {n} characters returned "
               f"shapes {x.shape} and {y.shape}")
        starts = x[:, 0] - 1000
        expect(np.all(x == starts[:, None] + np.arange(seq_length) + 1000) and np.array_equal(y, x + 1),
               "y must be x shifted by one character, both contiguous windows of the text")
        expect(starts.min() >= 0 and starts.max() <= n - seq_length - 1,
               f"a start leaves no room for the target window ({n} characters, seq_length {seq_length})")


@points(0.5, question="batch")
def test_every_valid_start_is_drawn(student):
    ids = np.arange(200, 211, dtype=np.int64)  # 11 characters, windows of 7: starts 0..3
    batches = _batches(student, f"lambda ids: [get_batch(ids, 7, 3, {NUMPY_RNG}(k))[0] for k in range(120)]", ids,
                       len(ids), 7)
    shapes = {np.shape(b) for b in batches}
    expect(shapes == {(3, 7)}, "every batch must have shape (batch_size, seq_length), even near the end of the text")
    starts = {int(s) - 200 for b in batches for s in np.asarray(b)[:, 0]}
    expect(starts <= {0, 1, 2, 3}, "some starts leave no room for the target window")
    expect(starts == {0, 1, 2, 3}, "not every valid start is ever drawn (an off-by-one in the range of starts?)")


# ---------------------------------------------------------------- rnn_step (2)

def _weights(d: int, u: int):
    return f32(RNG.normal(0, 0.5, (d, u))), f32(RNG.normal(0, 0.5, (u, u))), f32(RNG.normal(0, 0.3, u))


@points(1, question="rnn_step")
def test_rnn_step_square_weights(student, answers):
    expect_no_shortcut(answers, "rnn_step_impl", FORBIDDEN_RNN, "rnn_step")
    w_xh, w_hh, b = _weights(6, 6)
    x, h = f32(RNG.normal(size=(4, 6))), f32(RNG.uniform(-1, 1, (4, 6)))
    got = expect_not_called(student, "rnn_step", x, h, w_xh, w_hh, b, forbidden=FORBIDDEN_RNN_CALLS,
                            exercise="rnn_step")
    _diagnose(got, np.tanh(x @ w_xh + h @ w_hh + b), rnn_step_mistakes(x, h, w_xh, w_hh, b), what="h_t")


@points(1, question="rnn_step")
def test_rnn_step_other_shapes(student):
    w_xh, w_hh, b = _weights(7, 2)
    x, h = f32(RNG.normal(size=(5, 7))), f32(RNG.uniform(-1, 1, (5, 2)))
    expect_close(student.call("rnn_step", x, h, w_xh, w_hh, b), np.tanh(x @ w_xh + h @ w_hh + b),
                 what="h_t with 7 inputs and 2 units")


# ---------------------------------------------------------------- rnn_forward (2)

@points(1, question="rnn_forward")
def test_rnn_forward_matches_simple_rnn(student, answers):
    expect_no_shortcut(answers, "rnn_forward_impl", FORBIDDEN_RNN, "rnn_forward")
    w_xh, w_hh, b = _weights(2, 5)
    x, h0 = f32(RNG.normal(size=(3, 11, 2))), f32(RNG.uniform(-0.5, 0.5, (3, 5)))
    got = expect_not_called(student, f"{CHECKS}.judged(rnn_forward, 'rnn_step')", x, h0, w_xh, w_hh, b,
                            forbidden=FORBIDDEN_RNN_CALLS, exercise="rnn_forward")
    _diagnose(got, keras_simple_rnn(x, h0, w_xh, w_hh, b), rnn_forward_mistakes(x, h0, w_xh, w_hh, b),
              what="states compared with keras.layers.SimpleRNN")


@points(1, question="rnn_forward")
def test_rnn_forward_single_step_and_carry(student):
    w_xh, w_hh, b = _weights(3, 3)
    x, h0 = f32(RNG.normal(size=(1, 1, 3))), f32(RNG.uniform(-1, 1, (1, 3)))
    got = student.call(f"{CHECKS}.judged(rnn_forward, 'rnn_step')", x, h0, w_xh, w_hh, b)
    expect_close(got, rnn_forward_numpy(x, h0, w_xh, w_hh, b), what="states of a one-step sequence")
    x = f32(RNG.normal(size=(2, 6, 3)))
    h0 = f32(RNG.uniform(-1, 1, (2, 3)))
    got = student.call(f"{CHECKS}.judged(rnn_forward, 'rnn_step')", x, h0, w_xh, w_hh, b)
    _diagnose(got, rnn_forward_numpy(x, h0, w_xh, w_hh, b), rnn_forward_mistakes(x, h0, w_xh, w_hh, b),
              what="states with square weights")


# ---------------------------------------------------------------- gradients (2)

_LAYER = ("lambda ws, x: (lambda g: (g, type(g).__name__))(gradient_norms("
          "(lambda l: (l.build((None, None, x.shape[-1])), l.set_weights(ws), l)[2])"
          "(__import__('keras').layers.{kind}(ws[1].shape[0], return_sequences=True)), x))")


def _gradient_case(student, kind: str, units: int, shape: tuple[int, int, int]):
    keras.utils.set_random_seed(int(RNG.integers(1 << 30)))
    layer = getattr(keras.layers, kind)(units, return_sequences=True)
    layer.build((None, None, shape[-1]))
    x = f32(RNG.normal(size=shape))
    try:
        got, returned = student.call(_LAYER.format(kind=kind), layer.get_weights(), x, _timeout=120)
    except StudentError as error:
        expect("None" not in str(error), NO_GRADIENT)
        raise
    mistakes = {"the loss must be the sum of the outputs at the last time step only":
                reference_gradient_norms(layer, x, last_only=False),
                "average the norms over the batch, do not sum them": reference_gradient_norms(layer, x, mean=False)}
    _diagnose(got, reference_gradient_norms(layer, x), mistakes, what=f"gradient norms through a {kind}",
              atol=1e-5, rtol=1e-3)
    expect(returned == "ndarray", not_numpy("gradient_norms", returned))


@points(1, question="gradients")
def test_gradient_norms_simple_rnn(student):
    _gradient_case(student, "SimpleRNN", 3, (5, 9, 2))


@points(1, question="gradients")
def test_gradient_norms_lstm(student):
    _gradient_case(student, "LSTM", 4, (2, 15, 3))


# ---------------------------------------------------------------- loss (1)

@points(0.5, question="loss")
def test_loss_compiled_with_gradient(student):
    labels = RNG.integers(0, 6, (3, 4))
    logits = f32(RNG.normal(0, 2, (3, 4, 6)))
    try:
        got = student.call("lambda l, z: __import__('tensorflow').function(compute_loss)(l, z)", labels, logits)
    except StudentError as error:
        raise CheckFailed(compiled_failure("compute_loss", _kernel_error(error))) from None
    expect_close(got, loss_mistakes(labels, logits)[0], what="the loss inside tf.function")
    has_gradient = student.call("lambda l, z: (lambda tf, z: [tape := tf.GradientTape(), tape.__enter__(), "
                                "tape.watch(z), loss := compute_loss(l, z), tape.__exit__(None, None, None), "
                                "tf.is_tensor(loss) and tape.gradient(loss, z) is not None][-1])"
                                "(__import__('tensorflow'), __import__('tensorflow').constant(z))", labels, logits)
    expect(has_gradient is True, LOSS_WITHOUT_GRADIENT)


@points(0.5, question="loss")
def test_loss_against_reference(student):
    labels = RNG.integers(0, 13, (2, 9))
    logits = f32(RNG.normal(0, 4, (2, 9, 13)))
    got = student.call("compute_loss", labels, logits)
    expect(np.shape(got) != (2, 9), "compute_loss must return the mean over all positions, a scalar")
    expected, mistakes = loss_mistakes(labels, logits)
    _diagnose(got, expected, mistakes, what="loss")


# ---------------------------------------------------------------- models sent to the kernel

def _reference_model(vocab_size: int, embedding: int, units: int, scale: float = 1.0):
    """A Keras model with MusicRNN's layers and weight order, and its (scaled, random) weights."""
    keras.utils.set_random_seed(int(RNG.integers(1 << 30)))
    model = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(vocab_size, embedding),
                              keras.layers.LSTM(units, return_sequences=True), keras.layers.Dense(vocab_size)])
    weights = [f32(w * scale) for w in model.get_weights()]
    model.set_weights(weights)
    return model, weights


def _kernel_model(vocab_size: int, embedding: int, units: int) -> str:
    """An expression building the student's MusicRNN with the weights ``ws`` sent along."""
    return (f"(lambda m: (m(__import__('numpy').zeros((1, 1), 'int64')), m.set_weights(ws), m)[2])"
            f"(MusicRNN({vocab_size}, {embedding}, {units}))")


# ---------------------------------------------------------------- train_step (2)

@points(1, question="train_step")
def test_train_step_is_one_gradient_step(student):
    reference, weights = _reference_model(9, 6, 10)
    x, y = RNG.integers(0, 9, (3, 7)), RNG.integers(0, 9, (3, 7))
    loss, after = student.call(
        f"lambda ws, x, y: [m := {_kernel_model(9, 6, 10)}, "
        f"loss := {CHECKS}.judged(train_step, 'compute_loss')(m, __import__('keras').optimizers.SGD(0.3), x, y), "
        f"(loss, m.get_weights())][-1]", weights, x, y, _timeout=120)
    with tf.GradientTape() as tape:
        expected_loss = reference_compute_loss(y, reference(x, training=True))
    gradients = [tf.convert_to_tensor(g).numpy() for g in tape.gradient(expected_loss, reference.trainable_variables)]
    expect(any(not np.allclose(a, w) for a, w in zip(after, weights, strict=True)),
           "train_step did not change the weights: apply the gradients with the optimiser")
    for got, w, g in zip(after, weights, gradients, strict=True):
        expect_close(got, w - 0.3 * g, what="weights after one SGD step", atol=1e-4, rtol=1e-3)
    expect_close(loss, float(expected_loss), what="the returned loss (before the update)", atol=1e-5)


@points(1, question="train_step")
def test_train_step_fits_a_batch(student):
    _, weights = _reference_model(12, 8, 12)
    x, y = RNG.integers(0, 12, (2, 8)), RNG.integers(0, 12, (2, 8))
    try:
        losses = student.call(
            f"lambda ws, x, y: [m := {_kernel_model(12, 8, 12)}, opt := __import__('keras').optimizers.Adam(3e-2), "
            f"step := __import__('tensorflow').function({CHECKS}.judged(train_step, 'compute_loss')), "
            f"[float(step(m, opt, x, y)) for _ in range(20)]][-1]", weights, x, y, _timeout=180)
    except StudentError as error:
        if " raised " not in str(error):
            raise
        raise CheckFailed(compiled_failure("train_step", _kernel_error(error))) from None
    losses = np.asarray(losses, dtype=np.float64)
    expect(losses.shape == (20,) and np.all(np.isfinite(losses)), "train_step must return a finite scalar loss")
    expect(losses[-1] < 0.7 * losses[0], "20 train_step calls with Adam did not lower the loss of one batch by 30%")


# ---------------------------------------------------------------- trained (2)

@points(2, question="trained")
def test_trained_model_on_held_out_tunes(student):
    tunes = load_irish_folk_tunes()
    order = np.random.default_rng(0).permutation(len(tunes))
    val_text = "\n\n".join(tunes[i] for i in order[:len(tunes) // 10]) + "\n\n"
    train_text = "\n\n".join(tunes[i] for i in order[len(tunes) // 10:]) + "\n\n"
    vocab = sorted(set("\n\n".join(tunes)))
    index = {c: i for i, c in enumerate(vocab)}
    piece = val_text[5000:6200]
    ids = np.array([[index[c] for c in piece]])
    logits = np.asarray(student.call("lambda x: __import__('tensorflow').function(model)(x)", ids, _timeout=180),
                        np.float64)
    expect(logits.shape == (1, len(piece), len(vocab)),
           f"model gives logits of shape {logits.shape} for one sequence of {len(piece)} characters; "
           f"expected (1, {len(piece)}, {len(vocab)})")
    log_p = logits - logits.max(-1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
    loss = -np.mean(log_p[0, np.arange(len(piece) - 1), ids[0, 1:]])
    counts = np.bincount([index[c] for c in train_text], minlength=len(vocab)) + 1.0
    unigram = -np.mean(np.log(counts[ids[0, 1:]] / counts.sum()))
    expect(np.isfinite(loss) and loss < unigram - trained_margin(),
           f"the trained model's cross-entropy on held-out tunes ({loss:.2f} nats/char) does not beat the "
           f"unigram baseline by {trained_margin()}")


# ---------------------------------------------------------------- sample (2)

_SAMPLE = f"lambda logits, temperature, seed: sample_next(logits, temperature, {NUMPY_RNG}(seed))"


@points(1, question="sample")
def test_sample_greedy_limits(student):
    logits = RNG.normal(0, 3, (11, 17))
    got = np.asarray(student.call(_SAMPLE, logits, 0.0, 1))
    expect(got.shape == (11,), f"sample_next must return one index per row, got shape {got.shape}")
    expect(np.array_equal(got, logits.argmax(-1)), "at temperature 0 sample_next must return the argmax of each row")
    big = logits * 100
    tiny = np.asarray(student.call(_SAMPLE, big, 1e-7, 2))
    expect(np.array_equal(tiny, big.argmax(-1)), "at a tiny temperature sampling must be greedy and must not "
                                                 "overflow (subtract the row maximum before exp)")


@points(1, question="sample")
def test_sample_frequencies_follow_temperature(student):
    rows = np.array([[0.5, -1.0, 2.0, 1.0], [1.0, 1.0, -2.0, 0.0], [-0.5, 0.3, 0.2, 1.2]])
    batch = np.tile(rows, (8000, 1))
    again = student.call(f"lambda logits: [(np.random.seed(g), tf.random.set_seed(g), sample_next(logits, 1.0, "
                         f"{NUMPY_RNG}(9)))[2] for g in (1, 2)]", batch[:60])
    expect(np.array_equal(again[0], again[1]), "sample_next must draw only with the rng it is given (no np.random "
                                               "or tf.random): the same rng state must give the same draws")
    for temperature in (0.7, 1.6):
        draws = np.asarray(student.call(_SAMPLE, batch, temperature, 3))
        expect(draws.shape == (24000,) and draws.dtype.kind in "iu", "sample_next must return integer indices (n,)")
        frequencies = np.stack([np.bincount(draws[r::3], minlength=4) / 8000 for r in range(3)])
        expect(np.abs(frequencies - softmax(rows * temperature)).max() > 0.025,
               "the logits were multiplied by the temperature: divide them by it")
        expect(np.abs(frequencies - softmax(rows, temperature)).max() < 0.035,
               f"at temperature {temperature} the frequencies of each row must follow softmax(logits / temperature)")


# ---------------------------------------------------------------- generate (3)

_VOCAB = list("ABCDEFGabcdefg|:2\n ")


def _generate(student, weights, start: str, length: int, temperature: float, seed: int, n: int,
              compiled: bool = False):
    """The student's generate_text (with the reference sample_next) on a MusicRNN holding ``weights``;
    ``compiled``: the model wrapped in tf.function, as the notebook passes it."""
    model = _kernel_model(len(_VOCAB), 8, 16)
    if compiled:
        model = f"__import__('tensorflow').function({model}, reduce_retracing=True)"
    expression = (f"lambda ws, vocab, start, length, temperature, seed, n: "
                  f"{CHECKS}.judged(generate_text, 'sample_next')({model}, vocab, start, "
                  f"length, temperature, seed=seed, n=n)")
    return student.call(expression, weights, _VOCAB, start, length, temperature, seed, n, _timeout=180)


def _greedy(model, start: str, length: int, carry: bool = True) -> str:
    ids = greedy_continuation(lambda x: model(x), [_VOCAB.index(c) for c in start], length, carry=carry)
    return start + "".join(_VOCAB[i] for i in ids)


@points(1, question="generate")
def test_greedy_generation_carries_the_state(student):
    model, weights = _reference_model(len(_VOCAB), 8, 16, scale=3.0)
    out = _generate(student, weights, "A:", 9, 0.0, 0, 2)
    expect(isinstance(out, (list, tuple)) and len(out) == 2 and all(isinstance(s, str) for s in out),
           "generate_text must return a list of n strings")
    expect(all(len(s) == 11 and s.startswith("A:") for s in out),
           "each string must be start_string followed by `length` generated characters")
    greedy, stateless = _greedy(model, "A:", 9), _greedy(model, "A:", 9, carry=False)
    expect(greedy == stateless or out[0] != stateless,
           "the state was not carried between steps: feed the returned states into the next call")
    expect(out[0] == greedy and out[1] == greedy, "greedy generation (temperature 0) differs from the reference")


@points(1, question="generate")
def test_low_temperature_is_greedy(student):
    model, weights = _reference_model(len(_VOCAB), 8, 16, scale=3.0)
    out = _generate(student, weights, "ab|", 8, 1e-8, 5, 1, compiled=True)
    expect(out[0] == _greedy(model, "ab|", 8), "with temperature -> 0 generation must become greedy (with the "
                                               "model compiled by tf.function, as the notebook passes it)")


@points(1, question="generate")
def test_seeded_generation_is_reproducible(student):
    _, weights = _reference_model(len(_VOCAB), 8, 16, scale=2.0)
    first = _generate(student, weights, "G2", 10, 1.0, 21, 3)
    expect(first == _generate(student, weights, "G2", 10, 1.0, 21, 3), "the same seed must give the same text")
    expect(first != _generate(student, weights, "G2", 10, 1.0, 22, 3), "different seeds give the same text")
    expect(len(set(first)) > 1, "the n rows are identical: each row must be sampled on its own")
