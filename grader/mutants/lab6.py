"""Lab 6 mutants: typical wrong answers, and right answers written another way."""

from grader.mutants import right, wrong

MUTANTS = [
    # Exercise 1: build_child
    wrong("build_child_impl", "activation before the residual add", says="residual",
          edits=[('z = keras.layers.Conv2D(arch["filters2"], arch["kernel2"], padding="same")(h)',
                  'z = keras.layers.Conv2D(arch["filters2"], arch["kernel2"], padding="same", '
                  'activation=arch["activation"])(h)'),
                 ('    z = keras.layers.Activation(arch["activation"])(z)\n', '')]),
    wrong("build_child_impl", "second pooling forgotten", says="pool",
          edits=[("    z = keras.layers.MaxPooling2D(2)(z)\n", "")]),
    wrong("build_child_impl", "projection of the input image", says="projection",
          edits=[('keras.layers.Conv2D(arch["filters2"], 1)(h)',
                  'keras.layers.Conv2D(arch["filters2"], 1, strides=2)(inputs)')]),
    wrong("build_child_impl", "first pooling forgotten", says="pool",
          edits=[("    h = keras.layers.MaxPooling2D(2)(h)\n", "")]),
    wrong("build_child_impl", "kernel sizes swapped", says="swapped",
          edits=[('arch["filters1"], arch["kernel1"]', 'arch["filters1"], arch["kernel2"]'),
                 ('arch["filters2"], arch["kernel2"]', 'arch["filters2"], arch["kernel1"]')]),
    wrong("build_child_impl", "softmax on the logits", says="activation",
          edits=[("keras.layers.Dense(10)(z)", 'keras.layers.Dense(10, activation="softmax")(z)')]),
    wrong("build_child_impl", "identity shortcut when the filters match", says="projection", gap=True,
          edits=[('z = keras.layers.Add()([z, keras.layers.Conv2D(arch["filters2"], 1)(h)])',
                  'z = keras.layers.Add()([z, h if arch["filters1"] == arch["filters2"] else '
                  'keras.layers.Conv2D(arch["filters2"], 1)(h)])')]),
    wrong("build_child_impl", "dropout on the logits", says="Dropout", gap=True,
          edits=[("keras.layers.Dense(10)(z)", "keras.layers.Dropout(0.2)(keras.layers.Dense(10)(z))")]),
    # Exercise 2: random search
    wrong("random_search_impl", "never draws the last choice", says="equally likely",
          edits=[("choices[rng.integers(len(choices))]", "choices[rng.integers(max(len(choices) - 1, 1))]")]),
    wrong("random_search_impl", "a fresh generator for every draw", says="same few",
          edits=[("        evaluator([sample_random_architecture(rng)])",
                  "        evaluator([sample_random_architecture(np.random.default_rng(seed))])")]),
    wrong("random_search_impl", "unseeded generator", says="seed",
          edits=[("    rng = np.random.default_rng(seed)\n    evaluator", "    rng = np.random.default_rng()\n"
                  "    evaluator")]),
    wrong("random_search_impl", "rng.choice turns ints into NumPy integers", says="own type", gap=True,
          edits=[("choices[rng.integers(len(choices))]", "rng.choice(choices)")]),
    wrong("random_search_impl", "the global NumPy generator", says="only with rng", gap=True,
          edits=[("choices[rng.integers(len(choices))]", "choices[np.random.randint(len(choices))]")]),
    # Exercise 3: sampling
    wrong("sample_tokens_impl", "argmax instead of a draw", says="probabilities",
          edits=[("draws = (rng.random((n, 1)) < probs.cumsum(axis=1)).argmax(axis=1)",
                  "draws = probs.argmax(axis=1)")]),
    wrong("sample_tokens_impl", "the draw is not fed back", says="feed",
          edits=[("inputs = controller.feed(t, tokens[:, t])", "inputs = controller.feed(t, np.zeros(n, int))")]),
    wrong("sample_tokens_impl", "tokens drawn with the global NumPy generator", says="only with rng", gap=True,
          edits=[("draws = (rng.random((n, 1))", "draws = (np.random.random((n, 1))")]),
    # Exercise 4: log-probability and entropy
    wrong("log_prob_impl", "entropy with the wrong sign", says="entropy",
          edits=[("entropy += -tf.reduce_sum(tf.exp(log_p) * log_p, axis=1)",
                  "entropy += tf.reduce_sum(tf.exp(log_p) * log_p, axis=1)")]),
    wrong("log_prob_impl", "the model's own samples instead of the given tokens", says="log-probability",
          edits=[("inputs = controller.feed(t, tokens[:, t])",
                  "inputs = controller.feed(t, tf.argmax(logits, axis=1).numpy())")]),
    wrong("log_prob_impl", "log of the softmax", says="log_softmax", gap=True,
          edits=[("log_p = tf.nn.log_softmax(logits)", "log_p = tf.math.log(tf.nn.softmax(logits))")]),
    wrong("log_prob_impl", "values computed in NumPy, wrapped in a tensor", says="gradient", gap=True,
          edits=[("        log_p = tf.nn.log_softmax(logits)\n",
                  "        log_p = tf.constant(tf.nn.log_softmax(logits).numpy())\n")]),
    # Exercise 5: REINFORCE
    wrong("reinforce_impl", "entropy bonus with the wrong sign", says="entropy",
          edits=[("- entropy_weight * tf.reduce_mean(entropy)", "+ entropy_weight * tf.reduce_mean(entropy)")]),
    wrong("reinforce_impl", "sum over the batch instead of the mean", says="mean",
          edits=[("loss = -tf.reduce_mean(advantages * log_prob) - entropy_weight * tf.reduce_mean(entropy)",
                  "loss = -tf.reduce_sum(advantages * log_prob) - entropy_weight * tf.reduce_sum(entropy)")]),
    wrong("reinforce_impl", "gradient ascent on L", says="sign",
          edits=[("loss = -tf.reduce_mean(advantages * log_prob)", "loss = tf.reduce_mean(advantages * log_prob)"),
                 ("- entropy_weight * tf.reduce_mean(entropy)", "+ entropy_weight * tf.reduce_mean(entropy)")]),
    # Exercise 6: the search loop
    wrong("controller_search_impl", "baseline never updated", says="baseline",
          edits=[("        baseline = decay * baseline + (1 - decay) * rewards.mean()\n", "")]),
    wrong("controller_search_impl", "decay swapped", says="decay",
          edits=[("baseline = decay * baseline + (1 - decay) * rewards.mean()",
                  "baseline = (1 - decay) * baseline + decay * rewards.mean()")]),
    wrong("controller_search_impl", "baseline starts at zero", says="baseline",
          edits=[("    baseline = None\n", "    baseline = 0.0\n")]),
    wrong("controller_search_impl", "baseline updated before the step", says="before",
          edits=[("        reinforce_step(controller, optimizer, tokens, rewards, baseline, entropy_weight)\n"
                  "        baseline = decay * baseline + (1 - decay) * rewards.mean()\n",
                  "        baseline = decay * baseline + (1 - decay) * rewards.mean()\n"
                  "        reinforce_step(controller, optimizer, tokens, rewards, baseline, entropy_weight)\n")]),
    wrong("controller_search_impl", "unscored tokens kept", says="scored",
          edits=[("        tokens = tokens[:len(rewards)]\n", "")]),
    wrong("controller_search_impl", "learning_rate ignored", says="learning rate", gap=True,
          edits=[("keras.optimizers.Adam(learning_rate)", "keras.optimizers.Adam()")]),
    wrong("controller_search_impl", "entropy_weight ignored", says="entropy_weight", gap=True,
          edits=[("baseline, entropy_weight)", "baseline, ENTROPY_WEIGHT)")]),
    wrong("controller_search_impl", "controller not seeded", says="Controller(seed=seed)", gap=True,
          edits=[("controller = Controller(seed=seed)", "controller = Controller()")]),
    wrong("controller_search_impl", "progress given the baseline only", says="progress.update", gap=True,
          edits=[("progress.update(reward=rewards.mean(), baseline=baseline)", "progress.update(baseline=baseline)")]),
    # Exercise 7: comparison
    wrong("compare_impl", "running mean instead of running maximum", says="best_so_far",
          edits=[("return np.maximum.accumulate(np.asarray(rewards, dtype=float))",
                  "rewards = np.asarray(rewards, dtype=float)\n"
                  "    return np.cumsum(rewards) / np.arange(1, len(rewards) + 1)")]),
    wrong("compare_impl", "one seed for every run", says="seed",
          edits=[('curves["random"].append(best_so_far(random_search(evaluate, budget, seed)[1]))',
                  'curves["random"].append(best_so_far(random_search(evaluate, budget, seeds[0])[1]))')]),
    # Right answers written another way
    right("build_child_impl", "separate activation layers and a Sequential-style chain",
          source='''def build_child(arch: dict) -> keras.Model:
    """Keras model of ``arch``: inputs (batch, 28, 28, 1) -> logits (batch, 10)."""
    inputs = keras.Input(shape=(28, 28, 1))
    x = keras.layers.Conv2D(arch["filters1"], (arch["kernel1"], arch["kernel1"]), padding="same")(inputs)
    x = keras.layers.Activation(arch["activation"])(x)
    block_input = keras.layers.MaxPooling2D(pool_size=(2, 2))(x)
    y = keras.layers.Conv2D(arch["filters2"], arch["kernel2"], padding="same")(block_input)
    if arch["skip"] == "residual":
        shortcut = keras.layers.Conv2D(arch["filters2"], kernel_size=1)(block_input)
        y = keras.layers.add([shortcut, y])
    y = keras.layers.Activation(arch["activation"])(y)
    y = keras.layers.MaxPooling2D()(y)
    if arch["head"] == "gap":
        y = keras.layers.GlobalAveragePooling2D()(y)
    else:
        y = keras.layers.Flatten()(y)
    logits = keras.layers.Dense(10)(y)
    return keras.Model(inputs=inputs, outputs=logits)
'''),
    right("sample_tokens_impl", "rng.choice per row",
          edits=[("draws = (rng.random((n, 1)) < probs.cumsum(axis=1)).argmax(axis=1)",
                  "draws = np.array([rng.choice(k, p=row / row.sum()) for row in probs])")]),
    right("log_prob_impl", "logits minus their log-sum-exp and a one-hot sum",
          edits=[("log_p = tf.nn.log_softmax(logits)",
                  "log_p = logits - tf.reduce_logsumexp(logits, axis=1, keepdims=True)"),
                 ("log_prob += tf.gather(log_p, tokens[:, t], axis=1, batch_dims=1)",
                  "log_prob += tf.reduce_sum(log_p * tf.one_hot(tokens[:, t], N_CHOICES[t]), axis=1)")]),
    right("controller_search_impl", "baseline kept as a list of values",
          edits=[("    baseline = None\n", "    history = []\n"),
                 ("        if baseline is None:\n            baseline = rewards.mean()\n",
                  "        baseline = rewards.mean() if not history else history[-1]\n"),
                 ("        baseline = decay * baseline + (1 - decay) * rewards.mean()\n",
                  "        history.append(decay * baseline + (1 - decay) * rewards.mean())\n"
                  "        baseline = history[-1]\n")]),
    right("random_search_impl", "one draw of every index at once",
          edits=[("return {name: choices[rng.integers(len(choices))] for name, choices in SEARCH_SPACE.items()}",
                  "indices = rng.integers([len(c) for c in SEARCH_SPACE.values()])\n"
                  "    return {name: choices[int(i)] for (name, choices), i in zip(SEARCH_SPACE.items(), indices)}")]),
    right("compare_impl", "best so far with a loop",
          edits=[("return np.maximum.accumulate(np.asarray(rewards, dtype=float))",
                  "best, out = -np.inf, []\n    for r in rewards:\n        best = max(best, float(r))\n"
                  "        out.append(best)\n    return np.array(out)")]),
]
