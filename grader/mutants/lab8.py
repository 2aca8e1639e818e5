"""Lab 8 mutants: typical wrong answers, and right answers written another way."""

from grader.mutants import right, wrong

_RETURNS = '''def discounted_returns(rewards, gamma, ends=None):
    """Discounted returns G (T,) float32 of rewards (T,), restarting after every step where ends (T,) is True."""
    rewards = np.asarray(rewards, np.float32)
    ends = np.zeros(len(rewards), bool) if ends is None else np.asarray(ends, bool)
    returns = np.zeros(len(rewards), np.float32)
'''

_SAMPLE = '''def sample_action(logits, rng):
    """One action per row of logits (batch, n_actions), drawn from softmax(logits) with rng: int array (batch,)."""
    logits = np.asarray(logits, np.float64)
'''

MUTANTS = [
    # Exercise 1: play_episode
    wrong("play_episode_impl", "stores the observation after the step", says="after each step",
          edits=[("memory.add(observation, action", "memory.add(next_observation, action")]),
    wrong("play_episode_impl", "ignores truncation (step limit)", says="terminated or truncated",
          edits=[("memory.add(observation, action, reward, terminated or truncated)",
                  "memory.add(observation, action, reward, terminated)"),
                 ("if terminated or truncated or memory.full:", "if terminated or memory.full:")]),
    wrong("play_episode_impl", "keeps adding to a full memory", says="holds at most",
          edits=[("if terminated or truncated or memory.full:", "if terminated or truncated:")]),
    wrong("play_episode_impl", "counts the steps instead of summing the rewards", says="number of steps", gap=True,
          edits=[("total += float(reward)", "total += 1.0")]),
    right("play_episode_impl", "a for loop bounded by the capacity, done flag set afterwards",
          source='''def play_episode(env, policy, memory):
    """Play one episode of ``env`` with ``policy``, storing every step in ``memory``; returns the total reward."""
    observation, _ = env.reset()
    rewards = []
    for _ in range(memory.capacity - len(memory)):
        action = policy(observation)
        following, reward, terminated, truncated, _ = env.step(action)
        memory.add(observation, action, reward)
        rewards.append(reward)
        observation = following
        if terminated or truncated:
            break
    memory.mark_done()
    return float(sum(rewards))
'''),

    # Exercise 2: discounted_returns
    wrong("discounted_returns_impl", "discounts forwards in time", says="forwards",
          source=_RETURNS + '''    running = 0.0
    for t in range(len(rewards)):
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns
'''),
    wrong("discounted_returns_impl", "never resets at an episode's end", says="not reset",
          edits=[("running = rewards[t] + (0.0 if ends[t] else gamma * running)",
                  "running = rewards[t] + gamma * running")]),
    wrong("discounted_returns_impl", "resets after the boundary step", says="too early",
          edits=[("running = rewards[t] + (0.0 if ends[t] else gamma * running)\n        returns[t] = running",
                  "running = rewards[t] + gamma * running\n        returns[t] = running\n"
                  "        if ends[t]:\n            running = 0.0")]),
    wrong("discounted_returns_impl", "gamma left out", says="gamma is missing",
          edits=[("(0.0 if ends[t] else gamma * running)", "(0.0 if ends[t] else running)")]),
    wrong("discounted_returns_impl", "ends=None not handled", says="ends=None", gap=True,
          edits=[("ends = np.zeros(len(rewards), bool) if ends is None else np.asarray(ends, bool)",
                  "ends = np.asarray(ends, bool)")]),
    wrong("discounted_returns_impl", "gamma argument ignored (0.9 written in)", says="gamma argument", gap=True,
          edits=[("else gamma * running", "else 0.9 * running")]),
    wrong("discounted_returns_impl", "returns as a Python list", says="Python list", gap=True,
          edits=[("    return returns\n", "    return returns.tolist()\n")]),
    right("discounted_returns_impl", "vectorised: a matrix of discounts within each episode",
          source=_RETURNS + '''    episode = np.concatenate([[0], np.cumsum(ends[:-1])])
    steps = np.arange(len(rewards))
    same = (episode[:, None] == episode[None, :]) & (steps[None, :] >= steps[:, None])
    powers = np.where(same, float(gamma) ** np.maximum(steps[None, :] - steps[:, None], 0), 0.0)
    returns[:] = powers @ rewards
    return returns
'''),

    # Exercise 3: normalize_returns
    wrong("normalize_returns_impl", "not normalised", says="not normalised",
          source="def normalize_returns(returns):\n    return np.asarray(returns, np.float32)\n"),
    wrong("normalize_returns_impl", "sample standard deviation", says="ddof",
          edits=[("returns.std()", "returns.std(ddof=1)")]),
    wrong("normalize_returns_impl", "divides by the variance", says="variance",
          edits=[("returns.std()", "returns.var()")]),
    wrong("normalize_returns_impl", "float64 normalised returns", says="float32", gap=True,
          edits=[("returns = np.asarray(returns, np.float32)", "returns = np.asarray(returns, np.float64)")]),
    right("normalize_returns_impl", "statistics written out",
          source='''def normalize_returns(returns):
    """Standardised returns (T,) float32."""
    g = np.asarray(returns, np.float64)
    mean = g.sum() / len(g)
    std = np.sqrt(((g - mean) ** 2).sum() / len(g))
    return ((g - mean) / (std + 1e-8)).astype(np.float32)
'''),

    # Exercise 4: sample_action
    wrong("sample_action_impl", "argmax instead of sampling", says="argmax",
          source=_SAMPLE + "    return np.argmax(logits, axis=1)\n"),
    wrong("sample_action_impl", "probabilities passed as logits", says="probabilities where logits",
          source=_SAMPLE + '''    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return np.argmax(probabilities + rng.gumbel(size=logits.shape), axis=1)
'''),
    wrong("sample_action_impl", "logits used as probabilities, clipped", says="chi-square",
          source=_SAMPLE + '''    weights = np.clip(logits, 1e-3, None)
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    return np.minimum((rng.random((len(logits), 1)) > cumulative).sum(axis=1), logits.shape[1] - 1)
'''),
    wrong("sample_action_impl", "one uniform number for the whole batch", says="whole batch",
          edits=[("uniform = rng.random((len(logits), 1))", "uniform = rng.random()")]),
    wrong("sample_action_impl", "global np.random instead of rng", says="same seed", gap=True,
          edits=[("uniform = rng.random((len(logits), 1))", "uniform = np.random.random((len(logits), 1))")]),
    wrong("sample_action_impl", "softmax without subtracting the maximum", says="overflow", gap=True,
          edits=[("np.exp(logits - logits.max(axis=1, keepdims=True))", "np.exp(logits)")]),
    wrong("sample_action_impl", "actions as a Python list", says="NumPy array", gap=True,
          edits=[("return np.minimum(", "return list(np.minimum("), ("shape[1] - 1)", "shape[1] - 1))")]),
    right("sample_action_impl", "Gumbel-max trick",
          source=_SAMPLE + "    return np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)\n"),
    right("sample_action_impl", "rng.choice row by row",
          source=_SAMPLE + '''    actions = []
    for row in logits:
        p = np.exp(row - row.max())
        actions.append(rng.choice(len(row), p=p / p.sum()))
    return np.array(actions, dtype=np.int64)
'''),

    # Exercise 5: reinforce_loss
    wrong("reinforce_loss_impl", "sign flipped", says="sign",
          edits=[("return -tf.reduce_sum(chosen", "return tf.reduce_sum(chosen")]),
    wrong("reinforce_loss_impl", "mean instead of sum", says="mean",
          edits=[("return -tf.reduce_sum(chosen", "return -tf.reduce_mean(chosen")]),
    wrong("reinforce_loss_impl", "logits taken as log-probabilities", says="log_softmax",
          edits=[("log_probs = tf.nn.log_softmax(logits)", "log_probs = tf.convert_to_tensor(logits)")]),
    wrong("reinforce_loss_impl", "log_softmax of the probabilities", says="softmax(logits)",
          edits=[("log_probs = tf.nn.log_softmax(logits)", "log_probs = tf.nn.log_softmax(tf.nn.softmax(logits))")]),
    wrong("reinforce_loss_impl", "computed in NumPy", says="NumPy",
          source='''def reinforce_loss(logits, actions, returns):
    """-sum_t log pi(a_t | s_t) * G_t."""
    z = np.asarray(logits, np.float32)
    log_probs = z - z.max(axis=1, keepdims=True)
    log_probs = log_probs - np.log(np.exp(log_probs).sum(axis=1, keepdims=True))
    return -np.sum(log_probs[np.arange(len(z)), np.asarray(actions)] * np.asarray(returns))
'''),
    wrong("reinforce_loss_impl", "log of a softmax", says="log of a softmax", gap=True,
          edits=[("log_probs = tf.nn.log_softmax(logits)", "log_probs = tf.math.log(tf.nn.softmax(logits))")]),
    wrong("reinforce_loss_impl", "a float64 loss", says="float32", gap=True,
          edits=[("return -tf.reduce_sum(chosen * tf.cast(returns, log_probs.dtype))",
                  "return -tf.reduce_sum(tf.cast(chosen, tf.float64) * tf.cast(returns, tf.float64))")]),
    right("reinforce_loss_impl", "sparse softmax cross-entropy weighted by the returns",
          source='''def reinforce_loss(logits, actions, returns):
    """-sum_t log pi(a_t | s_t) * G_t."""
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(actions, tf.int32), logits=logits)
    return tf.reduce_sum(nll * tf.cast(returns, nll.dtype))
'''),

    # Exercise 6: train_step
    wrong("train_step_impl", "gradient ascent", says="wrong way",
          edits=[("zip(gradients, model", "zip([-g for g in gradients], model")]),
    wrong("train_step_impl", "gradients never applied", says="apply_gradients",
          edits=[("    optimizer.apply_gradients(zip(gradients, model.trainable_variables))\n", "")]),
    wrong("train_step_impl", "NumPy inside the step", says="tf.function",
          edits=[("loss = reinforce_loss(model(observations, training=True), actions, returns)",
                  "loss = reinforce_loss(model(observations, training=True), actions, returns.numpy())")]),
    wrong("train_step_impl", "an optimizer of its own instead of the argument", says="optimizer argument", gap=True,
          edits=[("    optimizer.apply_gradients(zip(gradients, model.trainable_variables))\n",
                  "    for gradient, variable in zip(gradients, model.trainable_variables):\n"
                  "        variable.assign_sub(0.1 * gradient)\n")]),
    wrong("train_step_impl", "a decoy tape around finite differences", says="finite differences", gap=True,
          source='''def train_step(model, optimizer, observations, actions, returns):
    """One REINFORCE update; returns the loss before the update."""
    with tf.GradientTape() as tape:
        loss = reinforce_loss(model(observations, training=True), actions, returns)
    gradients = tape.gradient(loss, model.trainable_variables)  # kept only for the large variables
    for number, variable in enumerate(model.trainable_variables):
        if int(np.prod(variable.shape)) > 64:
            continue
        slopes = []
        for index in range(int(np.prod(variable.shape))):
            delta = tf.reshape(tf.one_hot(index, int(np.prod(variable.shape))) * 1e-3, variable.shape)
            variable.assign_add(delta)
            up = reinforce_loss(model(observations, training=True), actions, returns)
            variable.assign_sub(2 * delta)
            down = reinforce_loss(model(observations, training=True), actions, returns)
            variable.assign_add(delta)
            slopes.append((up - down) / 2e-3)
        gradients[number] = tf.reshape(tf.stack(slopes), variable.shape)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    return loss
'''),
    right("train_step_impl", "logits first, trainable_weights, optimizer.apply",
          source='''def train_step(model, optimizer, observations, actions, returns):
    """One REINFORCE update; returns the loss before the update."""
    with tf.GradientTape() as tape:
        logits = model(observations, training=True)
        loss = reinforce_loss(logits, actions, returns)
    optimizer.apply(tape.gradient(loss, model.trainable_weights), model.trainable_weights)
    return loss
'''),

    # Exercise 7: preprocess
    wrong("preprocess_impl", "not binarised (values up to 255)", says="value range",
          edits=[("    image[image != 0] = 1\n", "")]),
    wrong("preprocess_impl", "no channel axis", says="channel axis",
          edits=[("return image[..., None]", "return image")]),
    wrong("preprocess_impl", "not downsampled", says="downsample",
          edits=[("frame[35:195:2, ::2, 0]", "frame[35:195, :, 0]")]),
    wrong("preprocess_impl", "background kept", says="background",
          edits=[("    image[(image == 144) | (image == 109)] = 0\n", "")]),
    wrong("preprocess_impl", "a float64 frame", says="float32", gap=True,
          edits=[("dtype=np.float32)", "dtype=np.float64)")]),
    right("preprocess_impl", "np.isin and np.where on the red channel",
          source='''def preprocess(frame):
    """Pong frame (210, 160, 3) uint8 -> (80, 80, 1) float32 in {0, 1}."""
    red = np.asarray(frame)[35:195][::2, ::2, :1]
    return np.where(np.isin(red, [0, 109, 144]), 0, 1).astype(np.float32)
'''),

    # Exercise 8: frame_difference
    wrong("frame_difference_impl", "previous minus current", says="reversed",
          edits=[("return current - preprocess(previous_frame)", "return preprocess(previous_frame) - current")]),
    wrong("frame_difference_impl", "the frame itself at the start", says="zeros",
          edits=[("return np.zeros_like(current)", "return current")]),
    wrong("frame_difference_impl", "float64 zeros at the start", says="float32", gap=True,
          edits=[("return np.zeros_like(current)", "return np.zeros((80, 80, 1))")]),
    right("frame_difference_impl", "one expression with a zero frame",
          source='''def frame_difference(frame, previous_frame):
    """preprocess(frame) - preprocess(previous_frame), zeros without a previous frame."""
    current = preprocess(frame)
    return current - (current if previous_frame is None else preprocess(previous_frame))
'''),
]
