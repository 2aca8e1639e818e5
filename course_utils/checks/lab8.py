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
_KINDS = {"ndarray": "a NumPy array", "tensor": "a TensorFlow tensor", "list": "a Python list",
          "tuple": "a Python tuple", "float": "a Python float", "int": "a Python int"}


# ---------------------------------------------------------------- contracts

def kind_of(value) -> str:
    """What a contract needs to know of a returned value: 'ndarray', 'tensor', or the name of its type."""
    if isinstance(value, np.ndarray):
        return "ndarray"
    if hasattr(value, "dtype") and type(value).__module__.startswith("tensorflow"):
        return "tensor"
    if isinstance(value, np.generic):
        return f"NumPy {type(value).__name__}"
    return type(value).__name__


def _kind_words(kind: str) -> str:
    return _KINDS.get(kind, f"a {kind}")


def returned(function: Callable, *args) -> tuple:
    """``(function(*args), kind_of(it))``: the value and its kind, for checks on the other side of a channel."""
    value = function(*args)
    return value, kind_of(value)


def outcomes(function: Callable, cases: list[tuple]) -> list[dict]:
    """``function(*case)`` for each case: ``{"value": ..., "kind": ...}``, or ``{"error": "Type: message"}``
    where the student's code raised (so that a check can say which case it raised on)."""
    results = []
    for case in cases:
        try:
            value, kind = returned(function, *case)
            results.append({"value": value, "kind": kind})
        except Exception as error:  # noqa: BLE001 (the student's code)
            results.append({"error": f"{type(error).__name__}: {str(error)[:120]}"})
    return results


def contract_problem(value, kind: str, *, want: str, dtype: str, what: str) -> str | None:
    """None when ``value`` (of kind ``kind``, see :func:`kind_of`) is a ``want`` of dtype ``dtype``; else why not.

    ``want`` is 'ndarray' or 'tensor'.
    """
    if kind != want:
        advice = "return a NumPy array" if want == "ndarray" else \
            "compute it with TensorFlow operations (no NumPy, .numpy() or float()), so that the gradient flows"
        return f"{what} is {_kind_words(kind)}, not {_KINDS[want]}: {advice}"
    got = np.asarray(value).dtype
    if got != np.dtype(dtype):
        return f"{what} has dtype {got}; it must be {dtype}"
    return None


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


def scored_cartpole(seed: int, max_steps: int | None):
    """CartPole whose reward is 1 - 3 |pole angle| instead of 1, so that a step count is not the total reward."""
    import gymnasium

    from course_utils.rl import make_env

    class AngleReward(gymnasium.Wrapper):
        def step(self, action):
            observation, _, terminated, truncated, info = self.env.step(action)
            return observation, round(1 - 3 * abs(float(observation[2])), 4), terminated, truncated, info

    return AngleReward(make_env("CartPole-v1", seed=seed, max_steps=max_steps))


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
        if np.isclose(float(got["total"]), m):
            return f"{what}: play_episode returned the number of steps ({m}); return the sum of the rewards " \
                   "(here the rewards are not all 1)"
        return f"{what}: play_episode returned {float(got['total'])}, the total reward was {expected['total']}"
    return None


def record_play(play_episode, policy: Callable, seed: int, max_steps: int | None, capacity: int) -> dict:
    """Run the student's ``play_episode`` on CartPole (rewards of :func:`scored_cartpole`); the memory's arrays,
    the total, its kind (:func:`kind_of`) and the policy's calls."""
    from course_utils.rl import EpisodeMemory

    calls = []

    def counted(observation):
        calls.append(1)
        return policy(observation)

    memory = EpisodeMemory(capacity)
    total = play_episode(scored_cartpole(seed, max_steps), counted, memory)
    return {"observations": memory.observations, "actions": memory.actions, "rewards": memory.rewards,
            "dones": memory.dones, "total": np.nan if total is None else float(total), "kind": kind_of(total),
            "calls": len(calls)}


def play_problem(got: dict, policy: Callable, seed: int, max_steps: int | None, capacity: int,
                 what: str) -> str | None:
    """None when ``got`` (from :func:`record_play`) is the episode the reference loop plays; else the mistake."""
    if np.isnan(got["total"]):
        return f"{what}: play_episode returned None: return the episode's total reward"
    if got["kind"] not in ("float", "NumPy float32", "NumPy float64"):
        return f"{what}: play_episode returned {_kind_words(got['kind'])}; return the total reward as a float"
    if got["calls"] != len(got["rewards"]):
        return f"{what}: the policy was called {got['calls']} times for {len(got['rewards'])} stored steps: " \
               "once per step"
    return episode_problem(got, replay(scored_cartpole(seed, max_steps), policy, capacity), what)


@public_check
def check_play_episode(play_episode):
    """One CartPole episode with a fixed policy is stored step by step; the step limit and a full memory stop it."""
    for seed, max_steps, capacity, what in ((3, None, 600, "a whole episode"), (4, 12, 600, "a 12-step limit"),
                                            (5, None, 7, "a memory of 7 steps")):
        got = record_play(play_episode, tilting_policy, seed, max_steps, capacity)
        problem = play_problem(got, tilting_policy, seed, max_steps, capacity, what)
        require(problem is None, problem or "")


# ---------------------------------------------------------------- returns

def returns_outcome_problem(outcome: dict, rewards, gamma, ends, what: str) -> str | None:
    """Judge one of :func:`outcomes` of ``discounted_returns(rewards, gamma[, ends])``: values, then the contract."""
    if "error" in outcome:
        hint = ": ends=None means one episode, with no boundary inside" if ends is None else ""
        return f"{what}: discounted_returns raised {outcome['error']}{hint}"
    return returns_problem(outcome["value"], rewards, gamma, ends, what) or \
        contract_problem(outcome["value"], outcome["kind"], want="ndarray", dtype="float32", what=what)


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
    if any(np.allclose(got, discounted_returns_reference(rewards, other, ends), atol=1e-4)
           for other in (0.9, 0.95, 0.97, 0.98, 0.99) if other != gamma):
        return f"{what}: the returns were discounted with another gamma than the gamma argument"
    return problem


def _array_problem(got, expected, what: str) -> str | None:
    return array_problem(got, expected, what=what, atol=1e-4, rtol=1e-4)


@public_check
def check_discounted_returns(discounted_returns):
    """Two episodes back to back (gamma 0.9), then one episode without ``ends`` (gamma 0.5): returns restart at
    the boundary and discount backwards; a float32 NumPy array."""
    two = np.array([1.0, 0.0, 2.0, 1.0, 0.5, 1.0, 0.0, -1.0], np.float32)
    boundary = np.array([False, False, False, True, False, False, False, True])
    cases = [(two, 0.9, boundary, "discounted returns of two episodes"),
             (two[:5], 0.5, None, "discounted returns of one episode (ends=None, the default)")]
    got = outcomes(discounted_returns, [(r, g) if e is None else (r, g, e) for r, g, e, _ in cases])
    for outcome, case in zip(got, cases):
        problem = returns_outcome_problem(outcome, *case)
        require(problem is None, problem or "")


def normalize_problem(got, returns, what: str) -> str | None:
    """None when ``got`` is the standardised ``returns``; else a message naming the mistake."""
    returns = np.asarray(returns, np.float64)
    expected = normalize_reference(returns)
    problem = _array_problem(got, expected, what)
    if problem is None or np.shape(got) != expected.shape:
        return problem
    got = np.asarray(got, np.float64)
    centred, std = returns - returns.mean(), returns.std()
    sample_std = returns.std(ddof=1) if returns.size > 1 else np.nan  # NaN for one return, as NumPy gives
    named = [
        (returns, "the returns were not normalised at all"),
        (centred, "only the mean was subtracted: divide by the standard deviation too"),
        (returns / (std + 1e-8), "the mean was not subtracted"),
        (centred / (returns.var() + 1e-8), "divided by the variance instead of the standard deviation"),
        (centred / (sample_std + 1e-8), "used the sample standard deviation (ddof=1); the formula "
                                                 "divides by T (population standard deviation, NumPy's default)"),
        ((returns - returns.min()) / (returns.max() - returns.min() + 1e-8), "min-max scaling is not "
                                                                            "standardisation"),
        ((returns - np.median(returns)) / (std + 1e-8), "subtracted the median instead of the mean"),
    ]
    for wrong, message in named:
        if np.allclose(got, wrong, atol=1e-4, equal_nan=True):
            return f"{what}: {message}"
    return problem


@public_check
def check_normalize_returns(normalize_returns):
    """Standardised with this array's mean and population std; a constant array gives zeros, not NaN."""
    returns = np.array([4.0, 3.5, 2.0, 1.0, 0.0, 8.0, 6.5, 3.0], np.float32)
    got, kind = returned(normalize_returns, returns)
    for problem in (normalize_problem(got, returns, "normalised returns"),
                    contract_problem(got, kind, want="ndarray", dtype="float32", what="normalize_returns's result")):
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
        possible = expected > 0  # an action of probability 0 (underflow) must never be drawn
        statistic = np.inf if counts[~possible].any() else \
            float(((counts - expected)[possible] ** 2 / expected[possible]).sum())
        if stats.chi2.sf(statistic, max(possible.sum() - 1, 1)) < level:
            flat = softmax(probabilities[row])
            if ((counts - flat * len(draws)) ** 2 / (flat * len(draws))).sum() < statistic / 10:
                return f"{what}: the actions follow softmax(softmax(logits)): you passed probabilities where " \
                       "logits are expected (tf.random.categorical takes logits)"
            overflow = " (logits this large overflow np.exp: subtract the row's maximum first)" \
                if np.abs(logits[row]).max() > 80 else ""
            return f"{what}: for the logits {np.round(logits[row], 2).tolist()} the actions were drawn " \
                   f"{np.round(counts / len(draws), 3).tolist()} of the time, the policy's probabilities are " \
                   f"{np.round(probabilities[row], 3).tolist()} (chi-square test, p < {level:.0e}){overflow}"
    return None


def seeded_draws(sample_action, logits, seeds) -> dict:
    """The student's actions for ``logits`` with ``np.random.default_rng(seed)`` per seed, and their kind.

    Returns {"draws": [(batch,) per seed], "kind": kind of the first result}.
    """
    draws = [sample_action(logits, np.random.default_rng(seed)) for seed in seeds]
    return {"draws": draws, "kind": kind_of(draws[0])}


def generator_problem(got: dict, seeds, what: str) -> str | None:
    """Judge :func:`seeded_draws`: an integer NumPy array per call, equal draws for equal seeds, independent rows.

    The logits must be rows of equal logits (every action equally likely) and ``seeds`` hold a repeated seed.
    """
    kind = got["kind"]
    if kind != "ndarray" or not np.issubdtype(np.asarray(got["draws"][0]).dtype, np.integer):
        return f"{what}: the actions are {_kind_words(kind)} of {np.asarray(got['draws'][0]).dtype}; " \
               "return a NumPy array of integer actions"
    draws = [np.asarray(d) for d in got["draws"]]
    for seed in set(seeds):
        same = [d for d, s in zip(draws, seeds) if s == seed]
        if any(not np.array_equal(same[0], d) for d in same[1:]):
            return f"{what}: two generators with the same seed gave different actions: draw every random number " \
                   "from rng (not from np.random, tf.random or a generator of your own)"
    if all(np.all(d == d[0]) for d in draws):
        if len({int(d[0]) for d in draws}) > 1:
            return f"{what}: every row of a batch got the same action: one random number was drawn for the whole " \
                   "batch; draw one per row (each row is its own independent draw)"
        return f"{what}: always the same action where all actions are equally likely (argmax?); sample from the " \
               "softmax probabilities"
    if any(np.array_equal(draws[0], d) for d, s in zip(draws, seeds) if s != seeds[0]):
        return f"{what}: generators with different seeds gave the same actions: draw the random numbers from the " \
               "rng argument"
    return None


GENERATOR_SEEDS = (5, 5, *range(6, 26))


@public_check
def check_sample_action(sample_action):
    """2,000 draws per row follow softmax(logits) (chi-square test), also for logits near 1000; an integer NumPy
    array (batch,); every random number comes from rng, one draw per row."""
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0], [-1.0, 2.5, 0.5], [1.2, 1.0, -2.0],
                       [1000.0, 999.0, -1000.0]], np.float32)
    problem = generator_problem(seeded_draws(sample_action, np.zeros((64, 3), np.float32), GENERATOR_SEEDS),
                                GENERATOR_SEEDS, "sample_action")
    require(problem is None, problem or "")
    rng = np.random.default_rng()  # fresh entropy: the test must hold for any draw, not one seed
    draws = np.asarray(sample_action(np.tile(logits, (2000, 1)), rng)).reshape(2000, len(logits))
    single = np.asarray(sample_action(logits[:1], rng))
    require(single.shape == (1,), f"sample_action on one row of logits returned shape {single.shape}, expected (1,)")
    problem = sampling_problem(draws, logits, "sampled actions")
    require(problem is None, problem or "")


# ---------------------------------------------------------------- the loss

def loss_problem(got, logits, actions, returns, what: str) -> str | None:
    """None when ``got`` is the REINFORCE loss; else a message naming the mistake.

    The tolerance is 1e-4 of the sum of the terms' sizes (float32 rounding of large logits), at least 1e-4.
    """
    expected = reinforce_loss_reference(logits, actions, returns)
    try:
        value = float(np.asarray(got, np.float64).reshape(()))
    except (TypeError, ValueError):
        return f"{what}: the loss must be a scalar (sum over the steps), got shape {np.shape(got)}"
    logits64 = np.asarray(logits, np.float64)
    actions = np.asarray(actions).astype(int)
    returns64 = np.asarray(returns, np.float64)
    picked = np.arange(len(actions)), actions
    scale = 1e-4 * max(1.0, float(np.abs(log_softmax_reference(logits64)[picked] * returns64).sum()))
    if abs(value - expected) <= scale:
        return None
    if not np.isfinite(value):
        return f"{what} is {value} for logits far apart: the log of a softmax underflows to log(0); " \
               "use tf.nn.log_softmax, which computes it stably"
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
        if abs(value - wrong) <= scale:
            return f"{what}: {message}"
    return f"{what} is {value:.6g}, expected {expected:.6g}"


def loss_and_gradient(reinforce_loss, logits, actions, returns) -> dict:
    """The student's loss on ``logits`` (a ``tf.Variable``, as the network's output), its kind, its gradient
    with respect to the logits (None when none flows) and the error, if any, of the loss inside ``tf.function``.
    """
    import tensorflow as tf

    variable = tf.Variable(np.asarray(logits, np.float32))
    with tf.GradientTape() as tape:
        loss = reinforce_loss(variable, actions, returns)
    kind = kind_of(loss)
    gradient = tape.gradient(loss, variable) if kind == "tensor" else None
    try:
        tf.function(reinforce_loss)(tf.constant(logits, tf.float32), tf.constant(actions), tf.constant(returns))
        compiled = None
    except Exception as error:  # noqa: BLE001 (the student's code, compiled)
        compiled = type(error).__name__
    return {"loss": np.asarray(loss), "kind": kind, "gradient": None if gradient is None else np.asarray(gradient),
            "compiled": compiled}


def loss_contract_problem(got: dict) -> str | None:
    """What :func:`loss_and_gradient` says is wrong with the loss as the training step uses it, or None."""
    problem = contract_problem(got["loss"], got["kind"], want="tensor", dtype="float32", what="the REINFORCE loss")
    if problem is None and got["compiled"]:
        problem = f"reinforce_loss fails inside tf.function ({got['compiled']}): the training loop compiles " \
                  "train_step, which calls it; use TensorFlow operations only"
    return problem


def gradient_problem(gradient, logits, actions, returns) -> str | None:
    if gradient is None:
        return "no gradient flows from the loss to the logits: use TensorFlow operations (tf.nn.log_softmax, " \
               "tf.gather...), not NumPy"
    k = np.shape(logits)[1]
    expected = -(np.eye(k)[np.asarray(actions).astype(int)] - softmax(logits)) * np.asarray(returns)[:, None]
    return _array_problem(gradient, expected, "the gradient of the loss with respect to the logits")


@public_check
def check_reinforce_loss(reinforce_loss):
    """The loss on fixed logits (one pair 100 apart) agrees with -sum log softmax(z)[a] G; it is a float32 tensor,
    works inside tf.function, and its gradient reaches the logits."""
    logits = np.array([[1.0, -0.5], [0.2, 0.3], [-1.5, 2.0], [0.0, 0.0], [3.0, 1.0], [30.0, -70.0]], np.float32)
    actions = np.array([0, 1, 1, 0, 1, 1])
    returns = np.array([1.2, -0.4, 0.9, -1.5, 0.3, 0.05], np.float32)
    got = loss_and_gradient(reinforce_loss, logits, actions, returns)
    for problem in (loss_problem(got["loss"], logits, actions, returns, "REINFORCE loss"), loss_contract_problem(got),
                    gradient_problem(got["gradient"], logits, actions, returns)):
        require(problem is None, problem or "")


# ---------------------------------------------------------------- one training step

def small_policy(weights: list[np.ndarray], *, tape: bool = True):
    """A 3-input, 5-hidden, 2-logit MLP with the given weights (a fresh Keras model).

    Its hidden activation is tanh(x) + 0.3 x with the 0.3 x under ``stop_gradient``: the tape's gradient
    sees tanh only, a gradient by finite differences sees the whole slope, so the two differ.
    ``tape=False`` lets the gradient through the whole activation (what finite differences measure).
    """
    import keras

    class TanhPlusConstant(keras.layers.Layer):
        def call(self, x):
            linear = 0.3 * x
            return keras.ops.tanh(x) + (keras.ops.stop_gradient(linear) if tape else linear)

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5), TanhPlusConstant(), keras.layers.Dense(2)])
    model.set_weights(weights)
    return model


def policy_weights(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype(np.float32) * 0.7 for shape in ((3, 5), (5,), (5, 2), (2,))]


def expected_update(weights, observations, actions, returns, lr, *, tape: bool = True) -> tuple:
    """The reference loss before the step and the weights after one SGD step of ``lr`` (see :func:`small_policy`
    for ``tape``): (float, list of arrays)."""
    import tensorflow as tf

    model = small_policy(weights, tape=tape)
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
    numeric = [e - w for e, w in zip(expected_update(weights, observations, actions, returns, lr, tape=False)[1],
                                     weights)]
    if all(np.allclose(m, n, atol=1e-4, rtol=1e-2) for m, n in zip(moved, numeric)):
        return f"{what}: the weights moved along the slope of the loss measured numerically (finite differences), " \
               "not along the gradient the tape computes through the model: use tape.gradient"
    ratio = float(np.vdot(moved[0], step[0]) / max(np.vdot(step[0], step[0]), 1e-30))
    if ratio > 0 and abs(ratio - 1) > 1e-2 and all(np.allclose(m, ratio * s, atol=1e-5, rtol=1e-3)
                                                   for m, s in zip(moved, step)):
        return f"{what}: the weights moved {ratio:.3g} times as far as one step of the optimizer passed in: apply " \
               "the gradients with the optimizer argument (its learning rate), not an optimizer of your own"
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
    loss, after = run_train_step(train_step, weights, observations, actions, returns, 0.3, compiled=True)
    problem = train_step_problem(loss, after, weights, observations, actions, returns, 0.3,
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


def preprocess_problem(got, frame, what: str, kind: str = "ndarray") -> str | None:
    """None when ``got`` (of kind ``kind``, see :func:`kind_of`) is the preprocessed ``frame``; else a message
    naming the mistake."""
    expected = preprocess_reference(frame)
    got = np.asarray(got)
    if got.shape != expected.shape:
        hints = {(80, 80): "add a channel axis: (80, 80, 1)", (160, 160, 1): "downsample by 2 in both directions",
                 (105, 80, 1): "crop to rows 35..194 before downsampling", (210, 160, 1): "crop and downsample",
                 (80, 80, 3): "keep only the red channel (index 0)"}
        hint = hints.get(got.shape, "crop rows 35..194, every second row and column, one channel")
        return f"{what} has shape {got.shape}, expected (80, 80, 1): {hint}"
    problem = contract_problem(got, kind, want="ndarray", dtype="float32", what=what)
    if problem:
        return problem
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
        got, kind = returned(preprocess, copy)
        problem = preprocess_problem(got, frame, f"preprocess(frame {index})", kind)
        require(problem is None, problem or "")
        require(np.array_equal(copy, frame), "preprocess changed the frame it was given: work on a copy")


def difference_problem(got, frame, previous, what: str, kind: str = "ndarray") -> str | None:
    """None when ``got`` (of kind ``kind``) is ``frame``'s difference from ``previous``; else the mistake."""
    expected = frame_difference_reference(frame, previous)
    got = np.asarray(got)
    if got.shape != expected.shape:
        return f"{what} has shape {got.shape}, expected {expected.shape}"
    problem = contract_problem(got, kind, want="ndarray", dtype="float32", what=what)
    if problem:
        return problem
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
        got, kind = returned(difference, *args)
        problem = difference_problem(got, *args, what, kind)
        require(problem is None, problem or "")
