"""Hidden checks of Lab 8 (deep reinforcement learning, from CartPole to Pong).

Inputs differ from the public checks (seeds, policies, reward sequences, logits, frames);
references are computed here, in the trusted process: episodes replayed with the same seed,
returns, normalisation and the loss in NumPy, the SGD step with TensorFlow, Pong frames from
the emulator. Functions that call other exercises run with the reference versions of those
(``with_references`` inside the kernel). Points per question match the notebook's check cells:
play_episode 2, discounted_returns 3, normalize_returns 1, sample_action 2, reinforce_loss 2,
train_step 2, preprocess 2, frame_difference 1.
"""

from __future__ import annotations

import numpy as np

from course_utils.checks.lab8 import (
    difference_problem,
    gradient_problem,
    loss_problem,
    normalize_problem,
    play_problem,
    pong_frames,
    preprocess_problem,
    returns_problem,
    sampling_problem,
    train_step_problem,
)
from grader.harness import expect, expect_no_problem, kernel_module, points

RNG = np.random.default_rng(20261202)
# The public checks module, as the student's kernel imports it (its helpers run the student's code there).
KERNEL_CHECKS = kernel_module("course_utils.checks.lab8")
POLICIES = {  # deterministic CartPole policies, as source for the kernel and as functions here
    "lean": "lambda o: int(o[2] + 0.5 * o[3] > 0.01)",
    "drift": "lambda o: int(o[1] < 0.3)",
}


def _play(student, policy: str, seed: int, max_steps, capacity: int, what: str) -> None:
    got = student.call(f"lambda *a: {KERNEL_CHECKS}.record_play(play_episode, {POLICIES[policy]}, *a)",
                       seed, max_steps, capacity)
    expect_no_problem(play_problem(got, eval(POLICIES[policy]), seed, max_steps, capacity, what))


# ---------------------------------------------------------------- play_episode (2)

@points(1, question="play_episode")
def test_play_episode_stores_whole_episodes(student):
    _play(student, "lean", 31, None, 600, "an episode with another policy")
    _play(student, "drift", 32, None, 600, "a short episode")


@points(1, question="play_episode")
def test_play_episode_stops_at_limits(student):
    _play(student, "lean", 33, 5, 600, "a 5-step limit")
    _play(student, "lean", 34, None, 3, "a memory of 3 steps")
    _play(student, "lean", 35, 1, 600, "a 1-step limit")


# ---------------------------------------------------------------- discounted_returns (3)

def _returns(student, rewards, gamma, ends, what):
    rewards = np.asarray(rewards, np.float32)
    got = student.call("discounted_returns", rewards, gamma, ends)
    expect_no_problem(returns_problem(got, rewards, gamma, ends, what))


@points(1, question="discounted_returns")
def test_returns_of_one_episode(student):
    _returns(student, RNG.normal(size=12), 0.97, None, "discounted returns of one episode (ends=None)")
    _returns(student, [0.0, 0.0, 0.0, 5.0], 0.5, None, "discounted returns of a delayed reward")


@points(1, question="discounted_returns")
def test_returns_restart_at_every_pong_point(student):
    rewards = np.zeros(40, np.float32)
    rewards[[6, 13, 14, 27, 39]] = [-1, 1, -1, 1, -1]
    _returns(student, rewards, 0.99, rewards != 0, "discounted returns of Pong rallies (a point ends a rally)")


@points(1, question="discounted_returns")
def test_returns_of_episodes_back_to_back(student):
    ends = np.zeros(15, bool)
    ends[[2, 3, 9, 14]] = True
    _returns(student, np.ones(15), 0.8, ends, "discounted returns of four CartPole episodes in one memory")
    _returns(student, [1.0, 2.0, 3.0], 1.0, np.array([False, False, True]), "discounted returns with gamma = 1")
    _returns(student, [1.0, 2.0, 3.0], 0.0, np.array([False, True, True]), "discounted returns with gamma = 0")


# ---------------------------------------------------------------- normalize_returns (1)

@points(1, question="normalize_returns")
def test_normalize_returns(student):
    returns = (RNG.normal(size=50) * 7 + 30).astype(np.float32)
    expect_no_problem(normalize_problem(student.call("normalize_returns", returns), returns, "normalised returns"))
    skewed = np.array([0.1, 0.1, 0.1, 0.1, 9.0], np.float32)
    expect_no_problem(normalize_problem(student.call("normalize_returns", skewed), skewed, "normalised skewed returns"))
    flat = np.asarray(student.call("normalize_returns", np.full(3, -4.0, np.float32)), np.float64)
    expect(flat.shape == (3,) and np.all(np.isfinite(flat)) and np.allclose(flat, 0, atol=1e-4),
           "normalising returns that are all equal must give zeros, not NaN (the epsilon)")


# ---------------------------------------------------------------- sample_action (2)

@points(1, question="sample_action")
def test_sampled_actions_follow_the_policy(student):
    logits = np.array([[0.5, -1.0, 2.0, 0.0], [-3.0, 1.0, 1.0, 0.2], [0.0, 0.0, 0.0, 0.0], [4.0, 3.0, -2.0, 3.5],
                       [-0.3, -0.6, -0.9, -1.2]], np.float32)
    draws = student.call("lambda z: sample_action(np.tile(z, (3000, 1)), np.random.default_rng())", logits)
    expect_no_problem(sampling_problem(np.asarray(draws).reshape(3000, 5), logits, "sampled actions (4 actions)"))


@points(1, question="sample_action")
def test_sample_action_rows_and_extremes(student):
    logits = np.array([[60.0, 0.0, 0.0], [0.0, 0.0, 60.0], [0.0, 60.0, 0.0], [1000.0, 999.0, -1000.0]], np.float32)
    draws = np.asarray(student.call("lambda z: sample_action(np.tile(z, (500, 1)), np.random.default_rng())", logits))
    expect(draws.shape == (2000,) and np.issubdtype(draws.dtype, np.integer),
           "sample_action must return one integer action per row of logits")
    draws = draws.reshape(500, 4)
    expect(np.all(draws[:, :3] == [0, 2, 1]), "an action with (almost) all the probability was not the one drawn: "
                                              "each row of logits gives the action of that row")
    share = np.mean(draws[:, 3] == 0)
    expect(np.all(draws[:, 3] < 2) and 0.6 < share < 0.84,
           "logits of about 1000 must give the probabilities softmax gives (no overflow: subtract the row maximum)")


# ---------------------------------------------------------------- reinforce_loss (2)

def _loss_case(seed: int, steps: int, actions: int):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(steps, actions)).astype(np.float32) * 2, rng.integers(0, actions, steps),
            rng.normal(size=steps).astype(np.float32))


@points(1, question="reinforce_loss")
def test_reinforce_loss_matches_reference(student):
    for seed, steps, actions in ((41, 9, 3), (42, 1, 2), (43, 30, 6)):
        logits, chosen, returns = _loss_case(seed, steps, actions)
        got = student.call("reinforce_loss", logits, chosen, returns)
        what = f"REINFORCE loss ({steps} steps, {actions} actions)"
        expect_no_problem(loss_problem(got, logits, chosen, returns, what))


@points(1, question="reinforce_loss")
def test_reinforce_loss_gradient(student):
    logits, chosen, returns = _loss_case(44, 11, 3)
    loss, gradient = student.call(f"lambda *a: {KERNEL_CHECKS}.loss_and_gradient(reinforce_loss, *a)", logits,
                                  chosen, returns)
    expect_no_problem(gradient_problem(gradient, logits, chosen, returns))


# ---------------------------------------------------------------- train_step (2)

def _train_case(seed: int, steps: int):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=shape).astype(np.float32) * 0.6 for shape in ((3, 5), (5,), (5, 2), (2,))]
    return (weights, rng.normal(size=(steps, 3)).astype(np.float32), rng.integers(0, 2, steps).astype(np.int32),
            rng.normal(size=steps).astype(np.float32))


@points(1, question="train_step")
def test_train_step_is_one_sgd_step(student):
    weights, observations, actions, returns = _train_case(51, 10)
    loss, after = student.call(f"lambda *a: {KERNEL_CHECKS}.run_train_step(train_step, *a)", weights, observations,
                               actions, returns, 0.05)
    expect_no_problem(train_step_problem(loss, after, weights, observations, actions, returns, 0.05, "train_step"))


@points(1, question="train_step")
def test_train_step_inside_tf_function(student):
    weights, observations, actions, returns = _train_case(52, 4)
    loss, after = student.call(f"lambda *a: {KERNEL_CHECKS}.run_train_step(train_step, *a, compiled=True)", weights,
                               observations, actions, returns, 0.2)
    expect_no_problem(train_step_problem(loss, after, weights, observations, actions, returns, 0.2,
                                    "train_step compiled with tf.function"))


# ---------------------------------------------------------------- preprocess (2)

@points(1, question="preprocess")
def test_preprocess_real_frames(student):
    for index, frame in enumerate(pong_frames(seed=7, steps=(0, 33, 260))):
        expect_no_problem(preprocess_problem(student.call("preprocess", frame), frame, f"preprocess(frame {index})"))


@points(1, question="preprocess")
def test_preprocess_every_colour(student):
    frame = RNG.choice(np.array([0, 109, 144, 1, 92, 213, 236, 255], np.uint8), size=(210, 160, 3))
    got = student.call("preprocess", frame)
    expect_no_problem(preprocess_problem(got, frame, "preprocess of a many-coloured frame"))


# ---------------------------------------------------------------- frame_difference (1)

@points(1, question="frame_difference")
def test_frame_difference(student):
    call = f"lambda *a: {KERNEL_CHECKS}.with_references(frame_difference, preprocess={KERNEL_CHECKS}" \
           f".preprocess_reference)(*a)"
    previous, frame = pong_frames(seed=9, steps=(90, 91))
    expect_no_problem(difference_problem(student.call(call, frame, previous), frame, previous,
                                    "frame_difference(frame, previous)"))
    expect_no_problem(difference_problem(student.call(call, previous, None), previous, None,
                                    "frame_difference(frame, None)"))
