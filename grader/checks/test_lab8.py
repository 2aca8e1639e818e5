"""Hidden checks of Lab 8 (deep reinforcement learning, from CartPole to Pong).

Inputs differ from the public checks (seeds, policies, reward sequences, logits, frames) and are
partly generated (Hypothesis, derandomised: every student meets the same inputs): lengths from 1
step, every gamma from 0 to 1, ends or none, logits far apart, frames with every colour next to the
background values. References are computed here, in the trusted process: episodes replayed with the
same seed, returns, normalisation and the loss in NumPy, the SGD step with TensorFlow, Pong frames
from the emulator. Contracts are judged too: NumPy float32 arrays where the docstrings promise them,
a float32 tensor loss that works inside ``tf.function`` and passes its gradient on, actions drawn
from the generator argument only. Functions that call other exercises run with the reference
versions of those (``with_references`` inside the kernel). Points per question match the notebook's
check cells: play_episode 2, discounted_returns 3, normalize_returns 1, sample_action 2,
reinforce_loss 2, train_step 2, preprocess 2, frame_difference 1.
"""

from __future__ import annotations

import re

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from course_utils.checks.lab8 import (
    contract_problem,
    difference_problem,
    generator_problem,
    gradient_problem,
    loss_contract_problem,
    loss_problem,
    normalize_problem,
    play_problem,
    pong_frames,
    preprocess_problem,
    returns_outcome_problem,
    sampling_problem,
    train_step_problem,
)
from grader.harness import expect, expect_no_problem, generated, kernel_module, points

RNG = np.random.default_rng(20261202)
# The public checks module, as the student's kernel imports it (its helpers run the student's code there).
KERNEL_CHECKS = kernel_module("course_utils.checks.lab8")
POLICIES = {  # deterministic CartPole policies, as source for the kernel and as functions here
    "lean": "lambda o: int(o[2] + 0.5 * o[3] > 0.01)",
    "drift": "lambda o: int(o[1] < 0.3)",
}


def _judge(problem: str | None) -> None:
    """Fail with a public check's diagnosis, without the values that could reveal hidden inputs (rows of logits,
    expected losses and totals); see ``expect_no_problem``."""
    if problem:
        problem = re.sub(r"\[[^\]]*\]", "[...]", problem)
        problem = re.sub(r"(expected|was) -?[0-9][0-9.e+-]*", r"\1 another value", problem)
    expect_no_problem(problem)


def _play(student, policy: str, seed: int, max_steps, capacity: int, what: str) -> None:
    got = student.call(f"lambda *a: {KERNEL_CHECKS}.record_play(play_episode, {POLICIES[policy]}, *a)",
                       seed, max_steps, capacity)
    _judge(play_problem(got, eval(POLICIES[policy]), seed, max_steps, capacity, what))


def _outcomes(student, function: str, cases: list[tuple]) -> list[dict]:
    """``function(*case)`` for every case in one kernel round trip (see ``outcomes`` of the public checks)."""
    return student.call(f"lambda cases: {KERNEL_CHECKS}.outcomes({function}, cases)", cases)


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

def _returns(student, cases: list[tuple]) -> None:
    """Judge discounted_returns on ``cases`` of (rewards, gamma, ends or None, what), in one round trip.

    ``ends=None`` is left out of the call, so that the default is what is judged.
    """
    cases = [(np.asarray(r, np.float32), g, e, what) for r, g, e, what in cases]
    got = _outcomes(student, "discounted_returns", [(r, g) if e is None else (r, g, e) for r, g, e, _ in cases])
    for outcome, case in zip(got, cases):
        _judge(returns_outcome_problem(outcome, *case))


@st.composite
def _episodes(draw) -> tuple:
    """Rewards (T,) of 1 to 40 steps, a gamma in [0, 1] (the usual ones and any other), ends (T,) or None."""
    steps = draw(st.integers(1, 40))
    rewards = draw(st.lists(st.floats(-5, 5, width=32), min_size=steps, max_size=steps))
    gamma = draw(st.sampled_from([0.0, 0.5, 0.9, 0.97, 0.99, 1.0]) | st.floats(0, 1))
    ends = draw(st.none() | st.lists(st.booleans(), min_size=steps, max_size=steps).map(np.array))
    return rewards, gamma, ends, f"discounted returns of generated rewards ({steps} steps, " \
                                 f"{'ends=None' if ends is None else 'with ends'})"


@points(1, question="discounted_returns")
@generated(max_examples=8)
@given(cases=st.lists(_episodes(), min_size=4, max_size=4))
def test_returns_of_generated_episodes(student, cases):
    _returns(student, cases)


@points(1, question="discounted_returns")
def test_returns_restart_at_every_pong_point(student):
    rewards = np.zeros(40, np.float32)
    rewards[[6, 13, 14, 27, 39]] = [-1, 1, -1, 1, -1]
    _returns(student, [(rewards, 0.99, rewards != 0, "discounted returns of Pong rallies (a point ends a rally)"),
                       (RNG.normal(size=12), 0.97, None, "discounted returns of one episode (ends=None)"),
                       ([0.0, 0.0, 0.0, 5.0], 0.5, None, "discounted returns of a delayed reward")])


@points(1, question="discounted_returns")
def test_returns_of_episodes_back_to_back(student):
    ends = np.zeros(15, bool)
    ends[[2, 3, 9, 14]] = True
    _returns(student, [(np.ones(15), 0.8, ends, "discounted returns of four CartPole episodes in one memory"),
                       ([1.0, 2.0, 3.0], 1.0, np.array([False, False, True]), "discounted returns with gamma = 1"),
                       ([1.0, 2.0, 3.0], 0.0, np.array([False, True, True]), "discounted returns with gamma = 0"),
                       ([2.0], 0.9, None, "discounted returns of a single step")])


# ---------------------------------------------------------------- normalize_returns (1)

@st.composite
def _returns_batches(draw) -> np.ndarray:
    """Returns (T,) float32, T from 1 to 60, spread from 0.01 to 1000 around a mean of up to 10 spreads."""
    steps = draw(st.integers(1, 60))
    scale = draw(st.sampled_from([0.01, 1.0, 7.0, 1000.0]))
    values = draw(st.lists(st.floats(-3, 3, width=32), min_size=steps, max_size=steps))
    return ((np.array(values) + draw(st.floats(-10, 10))) * scale).astype(np.float32)


@points(1, question="normalize_returns")
@generated(max_examples=6)
@given(batches=st.lists(_returns_batches(), min_size=3, max_size=3))
def test_normalize_returns(student, batches):
    skewed = np.array([0.1, 0.1, 0.1, 0.1, 9.0], np.float32)
    flat = np.full(3, -4.0, np.float32)
    batches = [*batches, skewed, flat]
    for outcome, returns in zip(_outcomes(student, "normalize_returns", [(b,) for b in batches]), batches):
        expect("error" not in outcome, f"normalize_returns raised {outcome.get('error')} on {len(returns)} returns")
        _judge(normalize_problem(outcome["value"], returns, f"normalised returns ({len(returns)} steps)")
                          or contract_problem(outcome["value"], outcome["kind"], want="ndarray", dtype="float32",
                                              what="normalize_returns's result"))


# ---------------------------------------------------------------- sample_action (2)

@points(1, question="sample_action")
def test_sampled_actions_follow_the_policy(student):
    logits = np.array([[0.5, -1.0, 2.0, 0.0], [-3.0, 1.0, 1.0, 0.2], [0.0, 0.0, 0.0, 0.0], [4.0, 3.0, -2.0, 3.5],
                       [-0.3, -0.6, -0.9, -1.2], [-500.0, -499.5, -2000.0, -501.0]], np.float32)
    seeds = (71, 71, *range(72, 92))  # first, as in the public check: a batch drawn as one names itself here
    got = student.call(f"lambda z, s: {KERNEL_CHECKS}.seeded_draws(sample_action, z, s)", np.zeros((40, 4), np.float32),
                       seeds)
    _judge(generator_problem(got, seeds, "sample_action"))
    draws = student.call("lambda z: sample_action(np.tile(z, (3000, 1)), np.random.default_rng())", logits)
    _judge(sampling_problem(np.asarray(draws).reshape(3000, 6), logits, "sampled actions (4 actions)"))


@points(1, question="sample_action")
def test_sample_action_rows_and_extremes(student):
    logits = np.array([[60.0, 0.0, 0.0], [0.0, 0.0, 60.0], [0.0, 60.0, 0.0], [1000.0, 999.0, -1000.0]], np.float32)
    draws = np.asarray(student.call("lambda z: sample_action(np.tile(z, (500, 1)), np.random.default_rng())", logits))
    expect(draws.shape == (2000,) and np.issubdtype(draws.dtype, np.integer),
           "sample_action must return one integer action per row of logits")
    draws = draws.reshape(500, 4)
    expect(np.all(draws[:, :3] == [0, 2, 1]), "an action with (almost) all the probability was not the one drawn: "
                                              "each row of logits gives the action of that row")
    single = student.call("lambda z: sample_action(z, np.random.default_rng())", logits[:1])
    expect(np.shape(single) == (1,), "sample_action on one row of logits (batch 1) must return shape (1,)")
    share = np.mean(draws[:, 3] == 0)
    expect(np.all(draws[:, 3] < 2) and 0.6 < share < 0.84,
           "logits of about 1000 must give the probabilities softmax gives (no overflow: subtract the row maximum)")


# ---------------------------------------------------------------- reinforce_loss (2)

def _loss_case(seed: int, steps: int, actions: int):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(steps, actions)).astype(np.float32) * 2, rng.integers(0, actions, steps),
            rng.normal(size=steps).astype(np.float32))


@st.composite
def _loss_cases(draw) -> tuple:
    """Logits (T, k), T from 1 to 30 and k from 2 to 6, up to 300 apart; actions (T,); returns (T,)."""
    steps, k = draw(st.integers(1, 30)), draw(st.integers(2, 6))
    scale = draw(st.sampled_from([0.1, 2.0, 30.0, 300.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (rng.normal(size=(steps, k)).astype(np.float32) * np.float32(scale), rng.integers(0, k, steps),
            rng.normal(size=steps).astype(np.float32))


@points(1, question="reinforce_loss")
@generated(max_examples=6)
@given(cases=st.lists(_loss_cases(), min_size=3, max_size=3))
def test_reinforce_loss_matches_reference(student, cases):
    for outcome, (logits, chosen, returns) in zip(_outcomes(student, "reinforce_loss", cases), cases):
        what = f"REINFORCE loss ({len(chosen)} steps, {logits.shape[1]} actions)"
        expect("error" not in outcome, f"{what}: reinforce_loss raised {outcome.get('error')}")
        _judge(loss_problem(outcome["value"], logits, chosen, returns, what)
                          or contract_problem(outcome["value"], outcome["kind"], want="tensor", dtype="float32",
                                              what="the REINFORCE loss"))


@points(1, question="reinforce_loss")
def test_reinforce_loss_gradient(student):
    logits, chosen, returns = _loss_case(44, 11, 3)
    logits[3] = [-40.0, 60.0, 0.0]
    got = student.call(f"lambda *a: {KERNEL_CHECKS}.loss_and_gradient(reinforce_loss, *a)", logits, chosen, returns)
    _judge(loss_problem(got["loss"], logits, chosen, returns, "REINFORCE loss")
                      or loss_contract_problem(got) or gradient_problem(got["gradient"], logits, chosen, returns))


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
    _judge(train_step_problem(loss, after, weights, observations, actions, returns, 0.05, "train_step"))


@points(1, question="train_step")
def test_train_step_inside_tf_function(student):
    weights, observations, actions, returns = _train_case(52, 4)
    loss, after = student.call(f"lambda *a: {KERNEL_CHECKS}.run_train_step(train_step, *a, compiled=True)", weights,
                               observations, actions, returns, 0.2)
    _judge(train_step_problem(loss, after, weights, observations, actions, returns, 0.2,
                                    "train_step compiled with tf.function"))


# ---------------------------------------------------------------- preprocess (2)

@points(1, question="preprocess")
def test_preprocess_real_frames(student):
    frames = pong_frames(seed=7, steps=(0, 33, 260))
    for index, (outcome, frame) in enumerate(zip(_outcomes(student, "preprocess", [(f,) for f in frames]), frames)):
        expect("error" not in outcome, f"preprocess raised {outcome.get('error')} on a Pong frame")
        _judge(preprocess_problem(outcome["value"], frame, f"preprocess(frame {index})", outcome["kind"]))


@points(1, question="preprocess")
@generated(max_examples=5)
@given(seed=st.integers(0, 2**32 - 1),
       palette=st.lists(st.sampled_from([0, 1, 108, 109, 110, 143, 144, 145, 92, 213, 236, 255]), min_size=1,
                        max_size=8))
def test_preprocess_every_colour(student, seed, palette):
    rng = np.random.default_rng(seed)
    frames = [rng.choice(np.array([*palette, 0, 109, 144], np.uint8), size=(210, 160, 3)),
              rng.choice(np.array(palette, np.uint8), size=(210, 160, 3))]
    for outcome, frame in zip(_outcomes(student, "preprocess", [(f,) for f in frames]), frames):
        expect("error" not in outcome, f"preprocess raised {outcome.get('error')} on a generated frame")
        _judge(preprocess_problem(outcome["value"], frame, "preprocess of a many-coloured frame",
                                             outcome["kind"]))


# ---------------------------------------------------------------- frame_difference (1)

@points(1, question="frame_difference")
def test_frame_difference(student):
    difference = f"{KERNEL_CHECKS}.with_references(frame_difference, preprocess={KERNEL_CHECKS}.preprocess_reference)"
    previous, frame = pong_frames(seed=9, steps=(90, 91))
    cases = [(frame, previous), (previous, None)]
    for outcome, case, what in zip(_outcomes(student, difference, cases), cases,
                                   ("frame_difference(frame, previous)", "frame_difference(frame, None)")):
        expect("error" not in outcome, f"{what} raised {outcome.get('error')}")
        _judge(difference_problem(outcome["value"], *case, what, outcome["kind"]))
