"""Lab 8 (deep RL): the environment helpers work, and the public checks pass the solution, pass every right
answer of the mutant catalogue and fail every wrong one with a message that names the mistake.

The reference implementations are the solution notebook's own cells, executed here.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.lab8 import solution_namespace
from course_utils.checks import lab8 as checks
from course_utils.rl import EpisodeMemory, frames_to_gif, make_env
from grader.integrity import grade_id
from grader.labs import find_lab
from grader.mutants import lab8 as catalogue
from grader.mutants import mutate, student_notebook

LAB = find_lab("lab8")


@pytest.fixture(scope="module")
def lab():
    """The solution notebook's imports, networks, training loop and answers."""
    return solution_namespace()


def _run_check(namespace: dict, question: str):
    return getattr(checks, f"check_{question}")(namespace[question])


@pytest.mark.parametrize("question", ["play_episode", "discounted_returns", "normalize_returns", "sample_action",
                                      "reinforce_loss", "train_step", "preprocess", "frame_difference"])
def test_solution_passes(lab, question):
    assert _run_check(lab, question).passed


@pytest.mark.parametrize("mutant", catalogue.MUTANTS, ids=lambda m: f"{'right' if m.correct else 'wrong'}-{m.name}")
def test_public_checks_judge_the_catalogue(lab, mutant):
    cell = next(c for c in mutate(student_notebook(LAB), mutant).cells if grade_id(c) == mutant.cell)
    namespace = dict(lab)
    exec(compile(cell.source, f"<{mutant.cell}>", "exec"), namespace)
    result = _run_check(namespace, mutant.cell.removesuffix("_impl"))
    if mutant.correct:
        assert result.passed, result.message
    else:
        assert not result.passed and mutant.says.lower() in result.message.lower(), result.message


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
