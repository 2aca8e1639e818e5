"""Lab 7 mutants: typical wrong answers, and right answers written another way."""

from grader.mutants import right, wrong

_STEP = '''def rnn_step(x_t, h_prev, W_xh, W_hh, b):
    """One vanilla RNN update for a batch."""
'''
_FORWARD = '''def rnn_forward(x_seq, h0, W_xh, W_hh, b):
    """Run the vanilla RNN over a batch of sequences."""
'''
_GENERATE = '''def generate_text(model, vocab, start_string, length, temperature=1.0, seed=0, n=1):
    """n strings, each start_string followed by `length` generated characters."""
    rng = np.random.default_rng(seed)
'''
_SAMPLE = '''def sample_next(logits, temperature, rng):
    """Indices (n,) drawn from softmax(logits / temperature) row by row; argmax when temperature == 0."""
    logits = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return np.argmax(logits, axis=-1)
'''

MUTANTS = [
    # Exercise 1: vectorize
    wrong("vectorize_impl", "characters instead of indices", says="integers",
          edits=[("np.array([char2idx[char] for char in text], dtype=np.int64)", "np.array(list(text))")]),
    wrong("vectorize_impl", "a Python list returned", says="NumPy", gap=True,
          edits=[("np.array([char2idx[char] for char in text], dtype=np.int64)", "[char2idx[char] for char in text]")]),
    right("vectorize_impl", "np.fromiter", edits=[("np.array([char2idx[char] for char in text], dtype=np.int64)",
                                                   "np.fromiter((char2idx[c] for c in text), dtype=int)")]),

    # Exercise 2: get_batch
    wrong("batch_impl", "targets not shifted", says="shifted",
          edits=[("ids[s + 1:s + seq_length + 1]", "ids[s:s + seq_length]")]),
    wrong("batch_impl", "targets shifted the wrong way", says="wrong way",
          edits=[("rng.integers(0, len(ids)", "rng.integers(1, len(ids)"),
                 ("ids[s + 1:s + seq_length + 1]", "ids[s - 1:s + seq_length - 1]")]),
    wrong("batch_impl", "the last valid start is never drawn", says="off-by-one",
          edits=[("len(ids) - seq_length,", "len(ids) - seq_length - 1,")]),
    wrong("batch_impl", "a start whose target window runs past the end", says="inside the text",
          edits=[("len(ids) - seq_length,", "len(ids) - seq_length + 1,")]),
    right("batch_impl", "fancy indexing", source='''def get_batch(ids, seq_length, batch_size, rng):
    """Random windows and their targets."""
    index = rng.integers(len(ids) - seq_length, size=(batch_size, 1)) + np.arange(seq_length)
    return ids[index], ids[index + 1]
'''),

    # Exercise 3: rnn_step
    wrong("rnn_step_impl", "tanh missing", says="tanh",
          source=_STEP + "    return tf.matmul(x_t, W_xh) + tf.matmul(h_prev, W_hh) + b\n"),
    wrong("rnn_step_impl", "W_xh and W_hh swapped", says="swapped",
          source=_STEP + "    return tf.tanh(tf.matmul(x_t, W_hh) + tf.matmul(h_prev, W_xh) + b)\n"),
    wrong("rnn_step_impl", "W_hh transposed", says="transposed",
          source=_STEP + "    return tf.tanh(tf.matmul(x_t, W_xh) + tf.matmul(h_prev, tf.transpose(W_hh)) + b)\n"),
    wrong("rnn_step_impl", "Keras SimpleRNNCell", says="SimpleRNNCell",
          source=_STEP + '''    cell = keras.layers.SimpleRNNCell(W_hh.shape[0])
    cell.build((None, W_xh.shape[0]))
    cell.set_weights([W_xh, W_hh, b])
    return cell(x_t, [h_prev])[0]
'''),
    wrong("rnn_step_impl", "Keras cell reached by a name lookup", says="SimpleRNNCell", gap=True,
          source=_STEP + '''    cell = getattr(keras.layers, "Simple" + "RNNCell")(W_hh.shape[0])
    cell.build((None, W_xh.shape[0]))
    cell.set_weights([W_xh, W_hh, b])
    return cell(x_t, [h_prev])[0]
'''),
    right("rnn_step_impl", "NumPy", source=_STEP + "    return np.tanh(x_t @ W_xh + h_prev @ W_hh + b)\n"),

    # Exercise 4: rnn_forward
    wrong("rnn_forward_impl", "RNN state not carried", says="not carried",
          edits=[("rnn_step(x_seq[:, t, :], h, W_xh", "rnn_step(x_seq[:, t, :], h0, W_xh")]),
    wrong("rnn_forward_impl", "Keras SimpleRNN", says="SimpleRNN",
          source=_FORWARD + '''    layer = keras.layers.SimpleRNN(W_hh.shape[0], return_sequences=True)
    layer.build((None, None, W_xh.shape[0]))
    layer.set_weights([W_xh, W_hh, b])
    return layer(x_seq, initial_state=[h0])
'''),
    right("rnn_forward_impl", "NumPy stack of a list", source=_FORWARD + '''    h, states = h0, []
    for x_t in np.moveaxis(np.asarray(x_seq), 1, 0):
        h = rnn_step(x_t, h, W_xh, W_hh, b)
        states.append(np.asarray(h))
    return np.stack(states, axis=1)
'''),

    # Exercise 5: gradient_norms
    wrong("gradients_impl", "loss over every step", says="last",
          edits=[("tf.reduce_sum(rnn_layer(x)[:, -1, :])", "tf.reduce_sum(rnn_layer(x))")]),

    wrong("gradients_impl", "the tape does not watch x", says="watch",
          edits=[("        tape.watch(x)\n", "")]),
    wrong("gradients_impl", "a tensor returned", says="NumPy array", gap=True,
          edits=[("tf.norm(gradient, axis=-1), axis=0).numpy()", "tf.norm(gradient, axis=-1), axis=0)")]),

    # Exercise 6: compute_loss
    wrong("loss_impl", "from_logits missing", says="from_logits",
          edits=[("(labels, logits, from_logits=True)", "(labels, logits)")]),
    wrong("loss_impl", "softmax applied twice", says="twice",
          edits=[("(labels, logits, from_logits=True)", "(labels, tf.nn.softmax(logits), from_logits=True)")]),
    wrong("loss_impl", "the loss as a Python float", says="gradient", gap=True,
          edits=[("return tf.reduce_mean(", "return float(tf.reduce_mean("),
                 ("from_logits=True))", "from_logits=True)))")]),
    wrong("loss_impl", "the loss computed in NumPy", says="NumPy", gap=True,
          edits=[("return tf.reduce_mean(", "return np.mean("), ("from_logits=True))", "from_logits=True).numpy())")]),
    right("loss_impl", "tf.nn sparse softmax cross-entropy", source='''def compute_loss(labels, logits):
    """Mean cross-entropy."""
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
'''),

    # Exercise 7: train_step
    wrong("train_step_impl", "returns the loss after the update", says="before",
          edits=[("    return loss\n", "    return compute_loss(y, model(x))\n")]),
    wrong("train_step_impl", "the loss returned as a NumPy value", says="tf.function", gap=True,
          edits=[("    return loss\n", "    return loss.numpy()\n")]),

    # Exercise 8: sample_next
    wrong("sample_impl", "temperature multiplied", says="multiplied",
          edits=[("scaled = logits / temperature", "scaled = logits * temperature")]),
    wrong("sample_impl", "global NumPy generator", says="rng",
          edits=[("draws = rng.random(", "draws = np.random.random(")]),
    right("sample_impl", "rng.choice per row",
          source=_SAMPLE + '''    p = np.exp((logits - logits.max(axis=-1, keepdims=True)) / temperature)
    p /= p.sum(axis=-1, keepdims=True)
    return np.array([rng.choice(len(row), p=row) for row in p])
'''),

    # Exercise 9: generate_text
    wrong("generate_impl", "generation state not carried", says="not carried",
          edits=[("logits, states = model(x, states=states, return_state=True)",
                  "logits, _ = model(x, states=states, return_state=True)")]),
    wrong("generate_impl", "seed ignored", says="seed",
          edits=[("rng = np.random.default_rng(seed)", "rng = np.random.default_rng()")]),
    right("generate_impl", "whole prefix every step",
          source=_GENERATE + '''    ids = np.tile([[vocab.index(c) for c in start_string]], (n, 1))
    for _ in range(length):
        logits = np.asarray(model(ids))
        ids = np.concatenate([ids, sample_next(logits[:, -1], temperature, rng)[:, None]], axis=1)
    return ["".join(vocab[i] for i in row) for row in ids]
'''),
]
