"""Public checks for Lab 8: deep reinforcement learning, from CartPole to Pong.

Each check compares the student's function with a reference on fixed, hand-made inputs (or on
real frames and episodes of the environments) and names the typical mistake when it sees one.
A function that calls another exercise is judged with the reference version of that exercise
(:func:`with_references`), so one bug costs points once. Sampled actions are judged with a
chi-square test over many draws, never against a fixed seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course_utils.checks import array_problem, public_check, require, with_references

POINT_ENDS_NOTE = "the return must restart at every step marked in `ends` (an episode's or a rally's last step)"


# ---------------------------------------------------------------- references

def discounted_returns_reference(rewards, gamma: float, ends=None) -> np.ndarray:
    """G_t = r_t + gamma * G_{t+1}, with G_t = r_t where ``ends[t]``: (T,) float64."""
    rewards = np.asarray(rewards, np.float64)
    ends = np.zeros(len(rewards), bool) if ends is None else np.asarray(ends, bool)
    out, following = np.zeros(len(rewards)), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        following = rewards[t] + gamma * following * (not ends[t])
        out[t] = following
    return out


def normalize_reference(returns) -> np.ndarray:
    """(G - mean) / (population std + 1e-8), float64."""
    returns = np.asarray(returns, np.float64)
    return (returns - returns.mean()) / (returns.std() + 1e-8)


def log_softmax_reference(logits) -> np.ndarray:
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def reinforce_loss_reference(logits, actions, returns) -> float:
    """-sum_t log softmax(logits_t)[a_t] * G_t, float64."""
    log_probs = log_softmax_reference(logits)
    actions = np.asarray(actions).astype(int)
    return float(-(log_probs[np.arange(len(actions)), actions] * np.asarray(returns, np.float64)).sum())


def reinforce_loss_tf(logits, actions, returns):
    """The same loss as a differentiable TensorFlow scalar (used as the reference inside ``train_step``)."""
    import tensorflow as tf

    logits = tf.convert_to_tensor(logits)
    mask = tf.one_hot(tf.cast(actions, tf.int32), tf.shape(logits)[-1], dtype=logits.dtype)
    return -tf.reduce_sum(tf.reduce_sum(mask * tf.nn.log_softmax(logits), axis=-1) * tf.cast(returns, logits.dtype))


def preprocess_reference(frame) -> np.ndarray:
    """Pong frame (210, 160, 3) -> (80, 80, 1) float32: crop 35..194, every 2nd pixel, red channel, binarised."""
    red = np.asarray(frame)[35:195, :, 0][::2, ::2]
    return np.where(np.isin(red, (144, 109)) | (red == 0), 0.0, 1.0).astype(np.float32)[:, :, None]


def frame_difference_reference(frame, previous_frame) -> np.ndarray:
    current = preprocess_reference(frame)
    return current * 0 if previous_frame is None else current - preprocess_reference(previous_frame)


# ---------------------------------------------------------------- episodes

def tilting_policy(observation) -> int:
    """A deterministic CartPole policy that pushes towards the pole's lean, with a twist (episodes of 30-100 steps)."""
    return int(observation[2] + 0.3 * observation[3] - 0.02 * observation[0] > 0)


def replay(env, policy: Callable, capacity: int) -> dict[str, np.ndarray]:
    """Play one episode the reference way: the steps (observations, actions, rewards, dones) and the total."""
    observations, actions, rewards, dones = [], [], [], []
    observation, _ = env.reset()
    while True:
        action = policy(observation)
        following, reward, terminated, truncated, _ = env.step(action)
        observations.append(observation)
        actions.append(action)
        rewards.append(reward)
        dones.append(terminated or truncated or len(rewards) == capacity)
        if dones[-1]:
            break
        observation = following
    return {"observations": np.array(observations), "actions": np.array(actions), "rewards": np.array(rewards),
            "dones": np.array(dones), "total": float(np.sum(rewards))}


def episode_problem(got: dict, expected: dict, what: str) -> str | None:
    """Name the mistake in a stored episode (``got`` holds the memory's arrays and the returned total)."""
    n, m = len(got["rewards"]), len(expected["rewards"])
    if n != m:
        if n == m - 1:
            return f"{what}: the memory holds {n} steps, the episode had {m}: the last step (the one that ends it) " \
                   "must be stored too"
        if n > m:
            return f"{what}: the memory holds {n} steps, the episode had {m}: stop when terminated or truncated " \
                   "(or when the memory is full), and reset only once"
        return f"{what}: the memory holds {n} steps, the episode had {m}: keep playing until terminated or " \
               "truncated (or until the memory is full)"
    if n > 1 and np.allclose(got["observations"][:-1], expected["observations"][1:]):
        return f"{what}: the stored observations are the ones after each step; store the observation the " \
               "action was chosen from"
    if not np.allclose(got["observations"], expected["observations"], atol=1e-6):
        return f"{what}: the stored observations differ from the episode's: store the observation the " \
               "action was chosen from, then move on to the new one"
    if not np.array_equal(got["actions"], expected["actions"]):
        return f"{what}: the stored actions are not the policy's actions"
    if not np.allclose(got["rewards"], expected["rewards"]):
        return f"{what}: the stored rewards are not the environment's rewards"
    if not np.array_equal(got["dones"], expected["dones"]):
        return f"{what}: done must be True at the last step of the episode (terminated, truncated or memory " \
               "full) and False elsewhere"
    if not np.isclose(float(got["total"]), expected["total"]):
        return f"{what}: play_episode returned {float(got['total'])}, the total reward was {expected['total']}"
    return None


def record_play(play_episode, policy: Callable, seed: int, max_steps: int | None, capacity: int) -> dict:
    """Run the student's ``play_episode`` on CartPole; the memory's arrays, the total and the policy's calls."""
    from course_utils.rl import EpisodeMemory, make_env

    calls = []

    def counted(observation):
        calls.append(1)
        return policy(observation)

    memory = EpisodeMemory(capacity)
    total = play_episode(make_env("CartPole-v1", seed=seed, max_steps=max_steps), counted, memory)
    return {"observations": memory.observations, "actions": memory.actions, "rewards": memory.rewards,
            "dones": memory.dones, "total": np.nan if total is None else float(total), "calls": len(calls)}


def play_problem(got: dict, policy: Callable, seed: int, max_steps: int | None, capacity: int,
                 what: str) -> str | None:
    """None when ``got`` (from :func:`record_play`) is the episode the reference loop plays; else the mistake."""
    from course_utils.rl import make_env

    if np.isnan(got["total"]):
        return f"{what}: play_episode returned None: return the episode's total reward"
    if got["calls"] != len(got["rewards"]):
        return f"{what}: the policy was called {got['calls']} times for {len(got['rewards'])} stored steps: " \
               "once per step"
    return episode_problem(got, replay(make_env("CartPole-v1", seed=seed, max_steps=max_steps), policy, capacity),
                           what)


@public_check
def check_play_episode(play_episode):
    """One CartPole episode with a fixed policy is stored step by step; the step limit and a full memory stop it."""
    for seed, max_steps, capacity, what in ((3, None, 600, "a whole episode"), (4, 12, 600, "a 12-step limit"),
                                            (5, None, 7, "a memory of 7 steps")):
        got = record_play(play_episode, tilting_policy, seed, max_steps, capacity)
        problem = play_problem(got, tilting_policy, seed, max_steps, capacity, what)
        require(problem is None, problem or "")


# ---------------------------------------------------------------- returns

def returns_problem(got, rewards, gamma, ends, what: str) -> str | None:
    """None when ``got`` are the discounted returns; else a message naming the mistake."""
    expected = discounted_returns_reference(rewards, gamma, ends)
    problem = _array_problem(got, expected, what)
    if problem is None:
        return None
    if np.shape(got) != expected.shape:
        return problem
    got = np.asarray(got, np.float64)
    rewards = np.asarray(rewards, np.float64)
    forward = [discounted_returns_reference(rewards[::-1], gamma)[::-1]]
    if ends is not None:  # forwards, restarting at the first step of each episode
        forward.append(discounted_returns_reference(rewards[::-1], gamma, np.roll(ends, 1)[::-1])[::-1])
    if any(np.allclose(got, wrong, atol=1e-4) for wrong in forward):
        return f"{what}: the rewards were discounted forwards in time; G_t sums the rewards from t onwards, " \
               "so walk the steps backwards"
    if ends is not None and np.allclose(got, discounted_returns_reference(rewards, gamma), atol=1e-4):
        return f"{what}: the running return was not reset at the episode boundaries: {POINT_ENDS_NOTE}"
    if ends is not None:  # reset after G_t of the boundary step was computed, so the step before it restarts
        early = np.append(np.asarray(ends, bool)[1:], True)
        if np.allclose(got, discounted_returns_reference(rewards, gamma, early), atol=1e-4):
            return f"{what}: the running return was reset one step too early (after the boundary step instead of " \
                   f"at it): {POINT_ENDS_NOTE}, so that G_t = r_t there"
    if gamma != 1 and any(np.allclose(got, discounted_returns_reference(rewards, 1.0, e), atol=1e-4)
                          for e in (ends, None)):
        return f"{what}: gamma is missing: each step further away must be discounted once more"
    return problem


def _array_problem(got, expected, what: str) -> str | None:
    return array_problem(got, expected, what=what, atol=1e-4, rtol=1e-4)


@public_check
def check_discounted_returns(discounted_returns):
    """Two episodes back to back, gamma 0.9: returns restart at the boundary and discount backwards."""
    rewards = np.array([1.0, 0.0, 2.0, 1.0, 0.5, 1.0, 0.0, -1.0], np.float32)
    ends = np.array([False, False, False, True, False, False, False, True])
    got = discounted_returns(rewards, 0.9, ends)
    problem = returns_problem(got, rewards, 0.9, ends, "discounted returns")
    require(problem is None, problem or "")
    require(np.asarray(got).dtype == np.float32, f"return float32 returns, not {np.asarray(got).dtype}")


def normalize_problem(got, returns, what: str) -> str | None:
    """None when ``got`` is the standardised ``returns``; else a message naming the mistake."""
    returns = np.asarray(returns, np.float64)
    expected = normalize_reference(returns)
    problem = _array_problem(got, expected, what)
    if problem is None or np.shape(got) != expected.shape:
        return problem
    got = np.asarray(got, np.float64)
    centred, std = returns - returns.mean(), returns.std()
    named = [
        (returns, "the returns were not normalised at all"),
        (centred, "only the mean was subtracted: divide by the standard deviation too"),
        (returns / (std + 1e-8), "the mean was not subtracted"),
        (centred / (returns.var() + 1e-8), "divided by the variance instead of the standard deviation"),
        (centred / (returns.std(ddof=1) + 1e-8), "used the sample standard deviation (ddof=1); the formula "
                                                 "divides by T (population standard deviation, NumPy's default)"),
        ((returns - returns.min()) / (returns.max() - returns.min() + 1e-8), "min-max scaling is not "
                                                                            "standardisation"),
        ((returns - np.median(returns)) / (std + 1e-8), "subtracted the median instead of the mean"),
    ]
    for wrong, message in named:
        if np.allclose(got, wrong, atol=1e-4):
            return f"{what}: {message}"
    return problem


@public_check
def check_normalize_returns(normalize_returns):
    """Standardised with this array's mean and population std; a constant array gives zeros, not NaN."""
    returns = np.array([4.0, 3.5, 2.0, 1.0, 0.0, 8.0, 6.5, 3.0], np.float32)
    problem = normalize_problem(normalize_returns(returns), returns, "normalised returns")
    require(problem is None, problem or "")
    flat = np.asarray(normalize_returns(np.full(5, 2.5, np.float32)), np.float64)
    require(flat.shape == (5,) and np.all(np.isfinite(flat)) and np.allclose(flat, 0, atol=1e-4),
            "returns that are all equal must give zeros, not NaN: add the epsilon 1e-8 to the standard deviation")


# ---------------------------------------------------------------- sampling

def softmax(logits) -> np.ndarray:
    return np.exp(log_softmax_reference(logits))


def sampling_problem(draws, logits, what: str) -> str | None:
    """Chi-square test of sampled actions against softmax(logits), per distinct row; names the mistake.

    ``draws``: (repeats, rows) actions, ``logits``: (rows, k). The nominal level is 1e-7 per check, so a
    correct sampler fails below 1e-5 of the time even where an expected count is a few draws, where the
    chi-square approximation's tail is up to about 15 times too light.
    """
    from scipy import stats

    draws = np.asarray(draws)
    logits = np.asarray(logits, np.float64)
    rows, k = logits.shape
    if draws.shape[1:] != (rows,) or not np.issubdtype(draws.dtype, np.integer):
        return f"{what}: sample_action must return one integer action per row of logits, shape ({rows},)"
    if draws.min() < 0 or draws.max() >= k:
        return f"{what}: an action is outside 0..{k - 1}"
    probabilities = softmax(logits)
    if np.all(draws == np.argmax(logits, axis=1)):
        return f"{what}: always the most likely action (argmax); sample from the softmax probabilities instead"
    level = 1e-7 / rows
    for row in range(rows):
        counts = np.bincount(draws[:, row], minlength=k)
        expected = probabilities[row] * len(draws)
        statistic = float(((counts - expected) ** 2 / expected).sum())
        if stats.chi2.sf(statistic, k - 1) < level:
            flat = softmax(probabilities[row])
            if ((counts - flat * len(draws)) ** 2 / (flat * len(draws))).sum() < statistic / 10:
                return f"{what}: the actions follow softmax(softmax(logits)): you passed probabilities where " \
                       "logits are expected (tf.random.categorical takes logits)"
            return f"{what}: for the logits {np.round(logits[row], 2).tolist()} the actions were drawn " \
                   f"{np.round(counts / len(draws), 3).tolist()} of the time, the policy's probabilities are " \
                   f"{np.round(probabilities[row], 3).tolist()} (chi-square test, p < {level:.0e})"
    return None


@public_check
def check_sample_action(sample_action):
    """2,000 draws per row follow softmax(logits) (chi-square test); shape (batch,), integer actions."""
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0], [-1.0, 2.5, 0.5], [1.2, 1.0, -2.0]], np.float32)
    rng = np.random.default_rng()  # fresh entropy: the test must hold for any draw, not one seed
    draws = np.asarray(sample_action(np.tile(logits, (2000, 1)), rng)).reshape(2000, 4)
    single = np.asarray(sample_action(logits[:1], rng))
    require(single.shape == (1,), f"sample_action on one row of logits returned shape {single.shape}, expected (1,)")
    problem = sampling_problem(draws, logits, "sampled actions")
    require(problem is None, problem or "")


# ---------------------------------------------------------------- the loss

def loss_problem(got, logits, actions, returns, what: str) -> str | None:
    """None when ``got`` is the REINFORCE loss; else a message naming the mistake."""
    expected = reinforce_loss_reference(logits, actions, returns)
    try:
        value = float(np.asarray(got, np.float64).reshape(()))
    except (TypeError, ValueError):
        return f"{what}: the loss must be a scalar (sum over the steps), got shape {np.shape(got)}"
    if np.isclose(value, expected, rtol=1e-4, atol=1e-4):
        return None
    logits64 = np.asarray(logits, np.float64)
    actions = np.asarray(actions).astype(int)
    returns64 = np.asarray(returns, np.float64)
    picked = np.arange(len(actions)), actions
    named = [
        (-expected, "the sign is flipped: minimise -sum log pi(a_t|s_t) G_t (gradient descent on it makes good "
                    "actions more likely)"),
        (expected / len(actions), "the mean over the steps; the formula sums over them"),
        (-(logits64[picked] * returns64).sum(), "the logits were used as log-probabilities: apply "
                                                "tf.nn.log_softmax first"),
        (-(softmax(logits64)[picked] * returns64).sum(), "probabilities were used instead of log-probabilities"),
        (reinforce_loss_reference(softmax(logits64), actions, returns), "log_softmax of probabilities: "
                                                                        "pass the logits, not softmax(logits)"),
        (-(np.log(np.abs(logits64[picked]) + 1e-12) * returns64).sum(), "the log of the logits is not a "
                                                                        "log-probability: use tf.nn.log_softmax"),
        (-log_softmax_reference(logits64)[picked].sum(), "the returns G_t are missing from the loss"),
    ]
    for wrong, message in named:
        if np.isclose(value, wrong, rtol=1e-4, atol=1e-4):
            return f"{what}: {message}"
    return f"{what} is {value:.6g}, expected {expected:.6g}"


def loss_and_gradient(reinforce_loss, logits, actions, returns) -> tuple:
    """The student's loss on ``logits`` and its gradient with respect to them (None when none flows)."""
    import tensorflow as tf

    variable = tf.Variable(np.asarray(logits, np.float32))
    with tf.GradientTape() as tape:
        loss = reinforce_loss(variable, actions, returns)
    gradient = tape.gradient(loss, variable)
    return np.asarray(loss), None if gradient is None else np.asarray(gradient)


def gradient_problem(gradient, logits, actions, returns) -> str | None:
    if gradient is None:
        return "no gradient flows from the loss to the logits: use TensorFlow operations (tf.nn.log_softmax, " \
               "tf.gather...), not NumPy"
    k = np.shape(logits)[1]
    expected = -(np.eye(k)[np.asarray(actions).astype(int)] - softmax(logits)) * np.asarray(returns)[:, None]
    return _array_problem(gradient, expected, "the gradient of the loss with respect to the logits")


@public_check
def check_reinforce_loss(reinforce_loss):
    """The loss on fixed logits agrees with -sum log softmax(z)[a] G, and its gradient reaches the logits."""
    logits = np.array([[1.0, -0.5], [0.2, 0.3], [-1.5, 2.0], [0.0, 0.0], [3.0, 1.0]], np.float32)
    actions = np.array([0, 1, 1, 0, 1])
    returns = np.array([1.2, -0.4, 0.9, -1.5, 0.3], np.float32)
    loss, gradient = loss_and_gradient(reinforce_loss, logits, actions, returns)
    for problem in (loss_problem(loss, logits, actions, returns, "REINFORCE loss"),
                    gradient_problem(gradient, logits, actions, returns)):
        require(problem is None, problem or "")


# ---------------------------------------------------------------- one training step

def small_policy(weights: list[np.ndarray]):
    """A 3-input, 5-hidden, 2-logit MLP with the given weights (a fresh Keras model)."""
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5, activation="tanh"), keras.layers.Dense(2)])
    model.set_weights(weights)
    return model


def policy_weights(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype(np.float32) * 0.7 for shape in ((3, 5), (5,), (5, 2), (2,))]


def expected_update(weights, observations, actions, returns, lr) -> tuple[float, list[np.ndarray]]:
    """The reference loss before the step and the weights after one SGD step of ``lr``."""
    import tensorflow as tf

    model = small_policy(weights)
    with tf.GradientTape() as tape:
        loss = reinforce_loss_tf(model(observations), actions, returns)
    gradients = tape.gradient(loss, model.trainable_variables)
    return float(loss), [w - lr * g.numpy() for w, g in zip(weights, gradients)]


def train_step_problem(loss, after, weights, observations, actions, returns, lr, what: str) -> str | None:
    expected_loss, expected_after = expected_update(weights, observations, actions, returns, lr)
    moved = [np.asarray(a, np.float64) - w for a, w in zip(after, weights)]
    if all(np.allclose(m, 0) for m in moved):
        return f"{what}: the weights did not change: apply the gradients with optimizer.apply_gradients"
    step = [e - w for e, w in zip(expected_after, weights)]
    if all(np.allclose(m, -s, atol=1e-5, rtol=1e-3) for m, s in zip(moved, step)):
        return f"{what}: the weights moved the wrong way (gradient ascent on the loss): apply the gradient of " \
               "the loss as it is"
    for m, s in zip(moved, step):
        problem = _array_problem(m, s, "the change of the weights")
        if problem:
            return f"{what}: {problem} (one SGD step on the gradient of reinforce_loss)"
    try:
        value = float(np.asarray(loss, np.float64).reshape(()))
    except (TypeError, ValueError):
        return f"{what}: train_step must return the loss, a scalar"
    if not np.isclose(value, expected_loss, rtol=1e-4, atol=1e-4):
        return f"{what}: returned loss {value:.6g}, expected {expected_loss:.6g} (the loss before the update)"
    return None


def run_train_step(train_step, weights, observations, actions, returns, lr: float, compiled: bool = False):
    """One call of the student's ``train_step`` (with the reference loss) on a fresh small policy with SGD(lr).

    Returns the loss it returned and the weights after the step; ``compiled`` runs it inside ``tf.function``.
    """
    import keras
    import tensorflow as tf

    step = with_references(train_step, reinforce_loss=reinforce_loss_tf)
    model = small_policy([np.asarray(w, np.float32) for w in weights])
    inputs = (tf.constant(observations, tf.float32), tf.constant(actions), tf.constant(returns, tf.float32))
    if not compiled:
        return np.asarray(step(model, keras.optimizers.SGD(lr), *inputs)), model.get_weights()
    try:
        loss = tf.function(step, reduce_retracing=True)(model, keras.optimizers.SGD(lr), *inputs)
    except NotImplementedError:
        raise
    except Exception as error:  # noqa: BLE001 (the student's code, compiled)
        raise RuntimeError(f"train_step fails inside tf.function ({type(error).__name__}): use TensorFlow "
                           "operations only, no .numpy() or NumPy on tensors") from None
    return np.asarray(loss), model.get_weights()


@public_check
def check_train_step(train_step):
    """One SGD step moves a small policy's weights by -lr * gradient of the reference loss; works in tf.function."""
    rng = np.random.default_rng(7)
    observations = rng.normal(size=(6, 3)).astype(np.float32)
    actions = np.array([0, 1, 1, 0, 1, 0], np.int32)
    returns = np.array([1.0, -0.5, 0.8, -1.2, 0.4, -0.5], np.float32)
    weights = policy_weights(1)
    loss, after = run_train_step(train_step, weights, observations, actions, returns, 0.1)
    problem = train_step_problem(loss, after, weights, observations, actions, returns, 0.1, "train_step")
    require(problem is None, problem or "")
    loss, after = run_train_step(train_step, weights, observations, actions, returns, 0.1, compiled=True)
    problem = train_step_problem(loss, after, weights, observations, actions, returns, 0.1,
                                 "train_step compiled with tf.function")
    require(problem is None, problem or "")


# ---------------------------------------------------------------- Pong

def pong_frames(seed: int, steps: tuple[int, ...]) -> list[np.ndarray]:
    """Raw Pong frames (210, 160, 3) after the given numbers of steps of a fixed action pattern."""
    from course_utils.rl import make_env

    env = make_env("ALE/Pong-v5", seed=seed)
    frame, _ = env.reset()
    frames = []
    for step in range(max(steps) + 1):
        if step in steps:
            frames.append(frame)
        frame, *_ = env.step((0, 2, 3)[(step // 7) % 3])
    return frames


def preprocess_problem(got, frame, what: str) -> str | None:
    """None when ``got`` is the preprocessed ``frame``; else a message naming the mistake."""
    expected = preprocess_reference(frame)
    got = np.asarray(got)
    if got.shape != expected.shape:
        hints = {(80, 80): "add a channel axis: (80, 80, 1)", (160, 160, 1): "downsample by 2 in both directions",
                 (105, 80, 1): "crop to rows 35..194 before downsampling", (210, 160, 1): "crop and downsample",
                 (80, 80, 3): "keep only the red channel (index 0)"}
        hint = hints.get(got.shape, "crop rows 35..194, every second row and column, one channel")
        return f"{what} has shape {got.shape}, expected (80, 80, 1): {hint}"
    if not np.issubdtype(got.dtype, np.floating):
        return f"{what} has dtype {got.dtype}; return float32"
    values = np.unique(got)
    if not np.all(np.isin(values, (0.0, 1.0))):
        if values.max() > 1:
            return f"{what}: values up to {values.max():g}; the value range must be 0 and 1: set every pixel that " \
                   "is not background to 1"
        return f"{what}: the values must be exactly 0 (background) and 1 (paddles, ball)"
    if np.array_equal(got, expected):
        return None
    if np.mean(got) > 0.5:
        return f"{what}: most pixels are 1: erase the background (red values 144 and 109) before binarising"
    if np.array_equal(got[..., 0], expected[..., 0].T):
        return f"{what} is transposed"
    problem = _array_problem(got, expected, what)
    if problem:
        return f"{problem} (crop rows 35..194 of the frame, then every second row and column starting at 0)"
    return None


@public_check
def check_preprocess(preprocess):
    """Real Pong frames: (80, 80, 1) float32 of 0 and 1, equal to the reference pixel for pixel."""
    frames = pong_frames(seed=1, steps=(0, 40, 150))
    for index, frame in enumerate(frames):
        copy = frame.copy()
        got = preprocess(copy)
        problem = preprocess_problem(got, frame, f"preprocess(frame {index})")
        require(problem is None, problem or "")
        require(np.array_equal(copy, frame), "preprocess changed the frame it was given: work on a copy")


def difference_problem(got, frame, previous, what: str) -> str | None:
    expected = frame_difference_reference(frame, previous)
    got = np.asarray(got)
    if got.shape != expected.shape:
        return f"{what} has shape {got.shape}, expected {expected.shape}"
    if previous is None:
        return None if np.allclose(got, 0) else f"{what}: without a previous frame the difference is all zeros"
    if np.allclose(got, -expected) and not np.allclose(expected, 0):
        return f"{what}: the order is reversed: current frame minus previous frame"
    if np.allclose(got, preprocess_reference(frame)):
        return f"{what}: that is the current frame alone; subtract the previous one"
    return _array_problem(got, expected, what)


@public_check
def check_frame_difference(frame_difference):
    """preprocess(frame) - preprocess(previous), zeros without a previous frame (judged with the reference
    preprocess)."""
    difference = with_references(frame_difference, preprocess=preprocess_reference)
    previous, frame = pong_frames(seed=2, steps=(60, 61))
    for args, what in (((frame, previous), "frame_difference(frame, previous)"),
                       ((frame, None), "frame_difference(frame, None)")):
        problem = difference_problem(difference(*args), *args, what)
        require(problem is None, problem or "")
