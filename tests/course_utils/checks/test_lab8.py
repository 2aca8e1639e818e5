"""Lab 8 (deep RL): the environment helpers work (a training run resumes after a disconnect), and the public
checks pass the solution, pass every right answer of the mutant catalogue and fail every wrong one with a
message that names the mistake.

The reference implementations are the solution notebook's own cells, executed here.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.lab8 import DEFINITIONS
from course_utils.checks import lab8 as checks
from course_utils.rl import EpisodeMemory, TrainingRun, frames_to_gif, make_env
from grader.mutants import lab8 as catalogue
from tests.conftest import judge_catalogue_entry, solution_namespace


@pytest.fixture(scope="module")
def lab():
    """The solution notebook's imports, networks, training loop and answers."""
    import course_utils

    return solution_namespace("lab8_rl", given=DEFINITIONS, course_utils=course_utils)


def _run_check(namespace: dict, question: str):
    return getattr(checks, f"check_{question}")(namespace[question])


@pytest.mark.parametrize("question", ["play_episode", "discounted_returns", "normalize_returns", "sample_action",
                                      "reinforce_loss", "train_step", "preprocess", "frame_difference"])
def test_solution_passes(lab, question):
    assert _run_check(lab, question).passed


@pytest.mark.parametrize("mutant", catalogue.MUTANTS, ids=lambda m: f"{'right' if m.correct else 'wrong'}-{m.name}")
def test_public_checks_judge_the_catalogue(lab, mutant):
    judge_catalogue_entry("lab8", mutant, lab, lambda scope: _run_check(scope, mutant.cell.removesuffix("_impl")))


def test_sample_standard_deviation_named_on_a_single_return():
    """One return has no sample standard deviation (NumPy gives NaN): the NaN is blamed on ddof=1."""
    returns = np.array([3.0], np.float32)
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
        got = (returns - returns.mean()) / (returns.std(ddof=1) + 1e-8)
    assert "ddof=1" in checks.normalize_problem(got, returns, "normalised returns")
    assert "NaN" in checks.normalize_problem(np.array([np.nan, 0.0]), np.array([1.0, 2.0]), "normalised returns")


def test_make_env_limits_steps_and_renders():
    env = make_env("CartPole-v1", seed=0, max_steps=4, render=True)
    env.reset()
    steps, done = 0, False
    while not done:
        _, _, terminated, truncated, _ = env.step(1 if steps % 2 else 0)
        steps, done = steps + 1, terminated or truncated
    assert steps == 4 and env.render().shape == (400, 600, 3)
    pong = make_env("ALE/Pong-v5", seed=0)
    assert pong.observation_space.shape == (210, 160, 3) and pong.spec.max_episode_steps == 27_000


def test_missing_package_names_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ale(name, *args, **kwargs):
        if name == "ale_py":
            raise ImportError("No module named 'ale_py'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ale)
    with pytest.raises(ModuleNotFoundError, match="ale-py"):
        make_env("ALE/Pong-v5")


def test_episode_memory_is_bounded():
    memory = EpisodeMemory(3, dtype=np.int8)
    for step in range(3):
        memory.add(np.full((2, 2), step - 1), step, 0.5 * step, done=step == 1)
    assert memory.full and memory.observations.dtype == np.int8 and memory.observations.shape == (3, 2, 2)
    assert list(memory.dones) == [False, True, False] and list(memory.actions) == [0, 1, 2]
    with pytest.raises(OverflowError, match="at most 3"):
        memory.add(np.zeros((2, 2)), 0, 0.0)
    memory.clear()
    assert len(memory) == 0 and memory.rewards.shape == (0,)


def test_gif_of_frames():
    frames = [np.full((20, 30, 3), value, np.uint8) for value in (0, 128, 255)]
    gif = frames_to_gif(frames, fps=10, width=15)
    assert gif[:6] == b"GIF89a"
    from io import BytesIO

    from PIL import Image

    image = Image.open(BytesIO(gif))
    assert image.size == (15, 10) and image.n_frames == 3


class _Disconnect(KeyboardInterrupt):
    """Stands in for a lost runtime: raised from inside the environment, mid-episode."""


def _interrupt_at_reset(env, reset: int):
    """``env``, raising :class:`_Disconnect` at its ``reset``-th reset (1-based)."""
    import gymnasium

    class Interrupting(gymnasium.Wrapper):
        resets = 0

        def reset(self, **kwargs):
            Interrupting.resets += 1
            if Interrupting.resets == reset:
                raise _Disconnect
            return self.env.reset(**kwargs)

    return Interrupting(env)


def _session(lab, folder, seed: int, minutes=None):
    """A fresh model, optimizer and generator (seeded ``seed``) and the TrainingRun that may restore them."""
    import keras

    keras.utils.set_random_seed(seed)
    model, optimizer = lab["build_policy"](4, 2, hidden=8), keras.optimizers.Adam(0.01)
    rng = np.random.default_rng(seed)
    return model, optimizer, rng, TrainingRun(folder, model, optimizer, rng=rng, minutes=minutes, every=2)


def _train(lab, env, session, episodes: int) -> np.ndarray:
    model, optimizer, rng, run = session
    return lab["train_agent"](env, model, optimizer, episodes, gamma=0.99, memory=EpisodeMemory(500), live=False,
                              rng=rng, run=run)


def test_training_run_resumes_after_a_disconnect(lab, tmp_path):
    first = _session(lab, tmp_path / "run", seed=1)
    with pytest.raises(_Disconnect):  # the 5th episode never ends: the state of the 4th is what was saved
        _train(lab, _interrupt_at_reset(make_env("CartPole-v1", seed=1), 5), first, 8)
    model, optimizer, rng, run = first
    played = list(run.history)
    assert len(played) == 4 and not run.resumed

    second = _session(lab, tmp_path / "run", seed=2)  # a new runtime: other initial weights, other seed
    resumed_model, resumed_optimizer, resumed_rng, resumed = second
    assert resumed.resumed and resumed.history == played
    assert all(np.array_equal(a, b) for a, b in zip(resumed_model.get_weights(), model.get_weights()))
    assert int(resumed_optimizer.iterations.numpy()) == int(optimizer.iterations.numpy()) == 4
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(resumed_optimizer.variables, optimizer.variables))
    history = _train(lab, make_env("CartPole-v1", seed=3), second, 8)
    assert len(history) == 8 and list(history[:4]) == played
    assert int(resumed_optimizer.iterations.numpy()) == 8 and "Resuming after 8 episodes" in \
        _session(lab, tmp_path / "run", seed=4)[3].describe(8)


def test_training_run_keeps_the_generator_and_the_time_budget(lab, tmp_path):
    model, optimizer, rng, run = _session(lab, tmp_path / "run", seed=1, minutes=0.05)
    history = _train(lab, make_env("CartPole-v1", seed=1), (model, optimizer, rng, run), 10_000)
    assert 0 < len(history) < 10_000 and run.spent_minutes() >= 0.05  # stopped by the budget, not the count
    saved_rng = rng.bit_generator.state

    again = _session(lab, tmp_path / "run", seed=5, minutes=0.05)
    assert again[2].bit_generator.state == saved_rng and again[3].out_of_time()
    assert list(_train(lab, make_env("CartPole-v1", seed=1), again, 10_000)) == list(history)  # nothing left to do

    longer = _session(lab, tmp_path / "run", seed=6, minutes=0.5)  # a larger budget continues the same run
    assert len(_train(lab, make_env("CartPole-v1", seed=1), longer, len(history) + 3)) == len(history) + 3


def test_rendering_is_quiet_without_a_display():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "SDL_VIDEODRIVER", "DISPLAY")}
    code = "from course_utils.rl import make_env; e = make_env('CartPole-v1', render=True); e.reset(); e.render()"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "XDG_RUNTIME_DIR" not in result.stderr, result.stderr
