"""Lab 7 (music generation): the public checks pass right answers written several ways and fail the
typical mistakes with a message that names them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import course_utils
from course_utils.checks import lab7 as checks
from grader.labs import find_lab, run_cell
from grader.mutants import catalogue as lab_catalogue
from tests.conftest import fails, judge_catalogue_entry, solution_namespace

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def ns():
    """The notebook's imports, the model class and the solutions (no data, no training)."""
    return solution_namespace("lab7_music", ("imports", "vectorize_impl", "batch_impl", "rnn_step_impl",
                                             "rnn_forward_impl", "gradients_impl", "defs_model", "loss_impl",
                                             "train_step_impl", "sample_impl", "generate_impl"),
                              course_utils=course_utils)


VARIANTS = itertools.count()


def variant(ns, source: str, name: str):
    """Define ``name`` from ``source`` in a copy of the notebook's namespace (so it sees the solutions).

    It runs as IPython runs a cell (:func:`grader.labs.run_cell`), so checks can read its source.
    """
    scope = dict(ns)
    run_cell(source, f"<variant {next(VARIANTS)}>", scope)
    return scope[name]


def test_vectorize(ns):
    assert checks.check_vectorize(ns["vectorize"]).passed
    assert checks.check_vectorize(lambda text, c2i: np.fromiter((c2i[c] for c in text), dtype=int)).passed
    fails(checks.check_vectorize(lambda text, c2i: [c2i[c] for c in text]), "returned a list")
    fails(checks.check_vectorize(lambda text, c2i: np.array(list(text))), "integers")
    fails(checks.check_vectorize(lambda text, c2i: np.array([sorted(c2i).index(c) for c in text])), "char2idx")


BATCH = """
def get_batch(ids, seq_length, batch_size, rng):
    starts = {starts}
    x = np.stack([ids[s:s + seq_length] for s in starts])
    y = np.stack([ids[s + {shift}:s + {shift} + seq_length] for s in starts])
    return x, y
"""


def test_get_batch(ns):
    assert checks.check_get_batch(ns["get_batch"]).passed
    fancy = variant(ns, """
def get_batch(ids, seq_length, batch_size, rng):
    index = rng.integers(len(ids) - seq_length, size=(batch_size, 1)) + np.arange(seq_length)
    return ids[index], ids[index + 1]
""", "get_batch")
    assert checks.check_get_batch(fancy).passed
    good = "rng.integers(0, len(ids) - seq_length, size=batch_size)"
    fails(checks.check_get_batch(variant(ns, BATCH.format(starts=good, shift=0), "get_batch")), "inputs themselves")
    fails(checks.check_get_batch(variant(ns, BATCH.format(starts=good.replace("0,", "1,"), shift=-1), "get_batch")),
          "wrong way")
    off_by_one = "rng.integers(0, len(ids) - seq_length - 1, size=batch_size)"
    fails(checks.check_get_batch(variant(ns, BATCH.format(starts=off_by_one, shift=1), "get_batch")), "off-by-one")
    overflow = "rng.integers(0, len(ids) - seq_length + 1, size=batch_size)"
    assert not checks.check_get_batch(variant(ns, BATCH.format(starts=overflow, shift=1), "get_batch")).passed
    global_rng = "np.random.randint(0, len(ids) - seq_length, size=batch_size)"
    fails(checks.check_get_batch(variant(ns, BATCH.format(starts=global_rng, shift=1), "get_batch")), "rng")


STEP = """
def rnn_step(x_t, h_prev, W_xh, W_hh, b):
    return {body}
"""


@pytest.mark.parametrize("body, fragment", [
    ("tf.matmul(x_t, W_xh) + tf.matmul(h_prev, W_hh) + b", "tanh is missing"),
    ("tf.tanh(tf.matmul(x_t, W_hh) + tf.matmul(h_prev, W_xh) + b)", "swapped"),
    ("tf.tanh(tf.matmul(x_t, W_xh) + tf.matmul(h_prev, W_hh, transpose_b=True) + b)", "W_hh is transposed"),
    ("tf.tanh(tf.matmul(x_t, W_xh)) + tf.matmul(h_prev, W_hh) + b", "whole sum"),
    ("tf.tanh(tf.matmul(x_t, W_xh) + tf.matmul(h_prev, W_hh))", "bias"),
    ("tf.tanh(tf.matmul(x_t, W_xh) + b)", "h_prev is ignored"),
    ("keras.layers.SimpleRNNCell(W_hh.shape[0])(x_t, [h_prev])[0]", "must not use `SimpleRNNCell`"),
])
def test_rnn_step_mistakes(ns, body, fragment):
    fails(checks.check_rnn_step(variant(ns, STEP.format(body=body), "rnn_step")), fragment)


def test_rnn_step_right_answers(ns):
    assert checks.check_rnn_step(ns["rnn_step"]).passed
    assert checks.check_rnn_step(variant(ns, STEP.format(body="np.tanh(x_t @ W_xh + h_prev @ W_hh + b)"),
                                         "rnn_step")).passed
    column_form = "tf.transpose(tf.tanh(tf.matmul(W_hh, h_prev, transpose_a=True, transpose_b=True) " \
                  "+ tf.matmul(W_xh, x_t, transpose_a=True, transpose_b=True) + b[:, None]))"
    assert checks.check_rnn_step(variant(ns, STEP.format(body=column_form), "rnn_step")).passed


FORWARD = """
def rnn_forward(x_seq, h0, W_xh, W_hh, b):
    states, h = [], h0
    for t in range(x_seq.shape[1]):
        h = rnn_step(x_seq[:, t, :], {state}, W_xh, W_hh, b)
        states.append(h)
    return {result}
"""


@pytest.mark.parametrize("state, result, fragment", [
    ("h0", "tf.stack(states, axis=1)", "not carried"),
    ("h", "h", "not only the last"),
    ("h", "tf.stack(states, axis=0)", "time axis"),
    ("h", "tf.stack([h0] + states[:-1], axis=1)", "without the initial state"),
])
def test_rnn_forward_mistakes(ns, state, result, fragment):
    fails(checks.check_rnn_forward(variant(ns, FORWARD.format(state=state, result=result), "rnn_forward")), fragment)


def test_rnn_forward_right_answers_and_shortcut(ns):
    assert checks.check_rnn_forward(ns["rnn_forward"]).passed
    numpy_loop = variant(ns, FORWARD.format(state="h", result="np.stack([np.asarray(s) for s in states], 1)"),
                         "rnn_forward")
    assert checks.check_rnn_forward(numpy_loop).passed
    keras_layer = variant(ns, """
def rnn_forward(x_seq, h0, W_xh, W_hh, b):
    layer = keras.layers.SimpleRNN(W_hh.shape[0], return_sequences=True)
    layer.build((None, None, W_xh.shape[0]))
    layer.set_weights([W_xh, W_hh, b])
    return layer(x_seq, initial_state=[h0])
""", "rnn_forward")
    fails(checks.check_rnn_forward(keras_layer), "must not use `SimpleRNN`")


def test_rnn_forward_is_judged_with_the_reference_step(ns):
    broken_step = variant(ns, STEP.format(body="tf.matmul(x_t, W_xh) + tf.matmul(h_prev, W_hh) + b"), "rnn_step")
    scope = dict(ns, rnn_step=broken_step)
    exec(FORWARD.format(state="h", result="tf.stack(states, axis=1)"), scope)
    assert checks.check_rnn_forward(scope["rnn_forward"]).passed


GRADIENTS = """
def gradient_norms(rnn_layer, x):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum({outputs})
    gradient = tape.gradient(loss, x)
    return {reduce}
"""


def test_gradient_norms(ns):
    assert checks.check_gradient_norms(ns["gradient_norms"]).passed
    numpy_norms = GRADIENTS.format(outputs="rnn_layer(x)[:, -1]",
                                   reduce="np.linalg.norm(gradient.numpy(), axis=2).mean(axis=0)")
    assert checks.check_gradient_norms(variant(ns, numpy_norms, "gradient_norms")).passed
    every_step = GRADIENTS.format(outputs="rnn_layer(x)", reduce="tf.reduce_mean(tf.norm(gradient, axis=-1), 0)")
    fails(checks.check_gradient_norms(variant(ns, every_step, "gradient_norms")), "LAST time step")
    summed = GRADIENTS.format(outputs="rnn_layer(x)[:, -1]", reduce="tf.reduce_sum(tf.norm(gradient, axis=-1), 0)")
    fails(checks.check_gradient_norms(variant(ns, summed, "gradient_norms")), "average")
    per_example = GRADIENTS.format(outputs="rnn_layer(x)[:, -1]", reduce="tf.norm(gradient, axis=-1)")
    fails(checks.check_gradient_norms(variant(ns, per_example, "gradient_norms")), "shape (T,)")
    as_tensor = GRADIENTS.format(outputs="rnn_layer(x)[:, -1]", reduce="tf.reduce_mean(tf.norm(gradient, axis=-1), 0)")
    fails(checks.check_gradient_norms(variant(ns, as_tensor, "gradient_norms")), "NumPy array")
    unwatched = GRADIENTS.format(outputs="rnn_layer(x)[:, -1]", reduce="tf.norm(gradient, axis=-1)").replace(
        "tape.watch(x)", "pass")
    assert not checks.check_gradient_norms(variant(ns, unwatched, "gradient_norms")).passed


@pytest.mark.parametrize("body, fragment", [
    ("tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, logits))", "from_logits=True"),
    ("tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, tf.nn.softmax(logits), from_logits=True))",
     "softmax applied twice"),
    ("tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))", "not the sum"),
    ("keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)", "scalar"),
])
def test_compute_loss_mistakes(ns, body, fragment):
    fails(checks.check_compute_loss(variant(ns, f"def compute_loss(labels, logits):\n    return {body}\n",
                                            "compute_loss")), fragment)


def test_compute_loss_right_answers(ns):
    assert checks.check_compute_loss(ns["compute_loss"]).passed
    nn = "tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))"
    assert checks.check_compute_loss(variant(ns, f"def compute_loss(labels, logits):\n    return {nn}\n",
                                             "compute_loss")).passed


TRAIN = """
def train_step(model, optimizer, x, y):
    with tf.GradientTape() as tape:
        loss = compute_loss(y, model(x, training=True))
    gradients = tape.gradient(loss, model.trainable_variables)
    {apply}
    return {result}
"""
APPLY = "optimizer.apply_gradients(zip(gradients, model.trainable_variables))"


def test_train_step(ns):
    assert checks.check_train_step(ns["train_step"], ns["MusicRNN"]).passed
    fails(checks.check_train_step(variant(ns, TRAIN.format(apply="pass", result="loss"), "train_step"),
                                  ns["MusicRNN"]), "apply_gradients")
    after = TRAIN.format(apply=APPLY, result="compute_loss(y, model(x))")
    fails(checks.check_train_step(variant(ns, after, "train_step"), ns["MusicRNN"]), "before the update")
    ascent = TRAIN.format(apply="optimizer.apply_gradients(zip([-g for g in gradients], model.trainable_variables))",
                          result="loss").replace("[-g for g in gradients]", "[-tf.convert_to_tensor(g) for g in "
                                                                              "gradients]")
    fails(checks.check_train_step(variant(ns, ascent, "train_step"), ns["MusicRNN"]), "uphill")


def test_trained_model_threshold():
    margin = checks.trained_margin()
    assert checks.check_trained_model(3.4 - margin - 0.05, 3.4).passed
    fails(checks.check_trained_model(3.4 - margin + 0.05, 3.4), "unigram baseline")
    fails(checks.check_trained_model(float("nan"), 3.4), "not finite")


SAMPLE = """
def sample_next(logits, temperature, rng):
    logits = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return np.argmax(logits, axis=-1)
    scaled = {scaled}
    p = np.exp(scaled - {shift})
    p /= p.sum(axis=-1, keepdims=True)
    return {draw}
"""
ROWS = "np.array([rng.choice(p.shape[1], p=row) for row in p])"


@pytest.mark.parametrize("scaled, shift, draw, fragment", [
    ("logits * temperature", "scaled.max(axis=-1, keepdims=True)", ROWS, "multiplied"),
    ("logits", "scaled.max(axis=-1, keepdims=True)", ROWS, "no effect"),
    ("logits / temperature", "0", ROWS, "tiny temperature"),
    ("logits / temperature", "scaled.max(axis=-1, keepdims=True)",
     "np.array([np.random.choice(p.shape[1], p=row) for row in p])", "rng argument"),
    ("logits / temperature", "scaled.max(axis=-1, keepdims=True)",
     "np.full(len(p), rng.choice(p.shape[1], p=p[0]))", "its own logits"),
])
def test_sample_next_mistakes(ns, scaled, shift, draw, fragment):
    wrong = variant(ns, SAMPLE.format(scaled=scaled, shift=shift, draw=draw), "sample_next")
    fails(checks.check_sample_next(wrong), fragment)


def test_sample_next_right_answers(ns):
    assert checks.check_sample_next(ns["sample_next"]).passed
    per_row = SAMPLE.format(scaled="logits / temperature", shift="scaled.max(axis=-1, keepdims=True)", draw=ROWS)
    assert checks.check_sample_next(variant(ns, per_row, "sample_next")).passed


GENERATE = """
def generate_text(model, vocab, start_string, length, temperature=1.0, seed=0, n=1):
    rng = {rng}
    char2idx = {{c: i for i, c in enumerate(vocab)}}
    x = np.tile([[char2idx[c] for c in start_string]], (n, 1))
    states, rows = None, [[] for _ in range(n)]
    for _ in range(length):
        logits, {states} = model(x, states=states, return_state=True)
        x = sample_next(np.asarray(logits[:, {position}, :]), temperature, rng)[:, None]
        for row, index in zip(rows, x[:, 0]):
            row.append(vocab[index])
    return [start_string + "".join(row) for row in rows]
"""


@pytest.mark.parametrize("rng, states, position, fragment", [
    ("np.random.default_rng(seed)", "_", "-1", "not carried"),
    ("np.random.default_rng(seed)", "states", "0", "differs from the reference"),
    ("np.random.default_rng()", "states", "-1", "same seed"),
])
def test_generate_text_mistakes(ns, rng, states, position, fragment):
    wrong = variant(ns, GENERATE.format(rng=rng, states=states, position=position), "generate_text")
    fails(checks.check_generate_text(wrong, ns["MusicRNN"]), fragment)


def test_generate_text_right_answers(ns):
    assert checks.check_generate_text(ns["generate_text"], ns["MusicRNN"]).passed
    rows = GENERATE.format(rng="np.random.default_rng(seed)", states="states", position="-1")
    assert checks.check_generate_text(variant(ns, rows, "generate_text"), ns["MusicRNN"]).passed
    whole_prefix = variant(ns, """
def generate_text(model, vocab, start_string, length, temperature=1.0, seed=0, n=1):
    rng = np.random.default_rng(seed)
    ids = np.tile([[vocab.index(c) for c in start_string]], (n, 1))
    for _ in range(length):
        logits = model(ids)
        ids = np.concatenate([ids, sample_next(np.asarray(logits)[:, -1], temperature, rng)[:, None]], axis=1)
    return ["".join(vocab[i] for i in row) for row in ids]
""", "generate_text")
    assert checks.check_generate_text(whole_prefix, ns["MusicRNN"]).passed


def test_generate_text_is_judged_with_the_reference_sampler(ns):
    scope = dict(ns, sample_next=lambda logits, temperature, rng: np.zeros(len(logits), dtype=int))
    exec(GENERATE.format(rng="np.random.default_rng(seed)", states="states", position="-1"), scope)
    assert checks.check_generate_text(scope["generate_text"], ns["MusicRNN"]).passed


CATALOGUE = lab_catalogue(find_lab("lab7"))


@pytest.mark.parametrize("mutant", CATALOGUE, ids=lambda m: f"{'right' if m.correct else 'wrong'}-{m.name}")
def test_public_checks_judge_the_catalogue(ns, mutant):
    judge_catalogue_entry("lab7", mutant, ns)
