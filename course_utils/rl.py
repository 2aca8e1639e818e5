"""Reinforcement-learning helpers for Lab 8: environments, a bounded episode memory and animations.

Environments come from packages, not downloads: ``gymnasium`` (CartPole) and ``ale-py``
(the Arcade Learning Environment, whose wheel ships the Atari ROMs, Pong included). Install
both with ``pip install "course-utils[rl]"``. Every environment made here has a step limit,
so an episode always ends, and rendering works headless (``rgb_array`` frames, no display).
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Sequence

import numpy as np

INSTALL_HINT = 'pip install "course-utils[rl]"  (that is: pip install gymnasium pygame ale-py pillow)'
# ALE stops a game after 108,000 frames, 27,000 agent steps at the default frame skip of 4.
ALE_MAX_STEPS = 27_000


def _gymnasium():
    try:
        import gymnasium
    except ImportError as error:
        raise ModuleNotFoundError(f"this lab needs the gymnasium package: {INSTALL_HINT}") from error
    return gymnasium


def _register_atari(gym) -> None:
    try:
        import ale_py
    except ImportError as error:
        raise ModuleNotFoundError(f"Atari games need the ale-py package (it ships the ROMs): {INSTALL_HINT}") \
            from error
    gym.register_envs(ale_py)


def make_env(name: str, *, seed: int | None = None, max_steps: int | None = None, render: bool = False):
    """A Gymnasium environment that always ends: ``name`` as in ``gymnasium.make`` (``"CartPole-v1"``,
    ``"ALE/Pong-v5"``).

    ``max_steps`` caps an episode (default: the environment's own limit, 500 for CartPole-v1 and
    27,000 for Atari games). With ``render=True``, ``env.render()`` returns the current frame as an
    RGB array of shape (height, width, 3), without a display. ``seed`` seeds the first reset and the
    action space, so a run can be repeated.
    """
    gym = _gymnasium()
    if name.startswith("ALE/"):
        _register_atari(gym)
    if render:  # frames are drawn off-screen: no display, so SDL need not look for one (and complain)
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    kwargs = {"render_mode": "rgb_array"} if render else {}
    try:
        env = gym.make(name, **kwargs)
    except gym.error.DependencyNotInstalled as error:
        raise ModuleNotFoundError(f"{name} needs an extra package ({error}): {INSTALL_HINT}") from error
    except gym.error.Error as error:
        if "rom" in str(error).lower() or "namespace ale" in str(error).lower():
            raise RuntimeError(f"{name} could not load its Atari ROM ({error}). ale-py 0.9 or newer ships the "
                               f"ROMs inside its wheel: {INSTALL_HINT}") from error
        raise
    limit = max_steps or (env.spec.max_episode_steps if env.spec else None) or ALE_MAX_STEPS
    env = gym.wrappers.TimeLimit(env, max_episode_steps=int(limit))
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


def action_subset(env, actions: Sequence[int]):
    """Wrap ``env`` so that action ``i`` means ``actions[i]`` (e.g. Pong's NOOP, UP, DOWN = 0, 2, 3)."""
    gym = _gymnasium()

    class ActionSubset(gym.ActionWrapper):
        def __init__(self, inner):
            super().__init__(inner)
            self.actions = tuple(int(a) for a in actions)
            self.action_space = gym.spaces.Discrete(len(self.actions))

        def action(self, action):
            return self.actions[int(action)]

    return ActionSubset(env)


def frame_differences(env, difference: Callable, shape: tuple[int, ...]):
    """Wrap ``env`` so that its observation is ``difference(frame, previous_frame)`` of the raw frames.

    ``previous_frame`` is None right after a reset. ``shape`` is the shape of that observation.
    """
    gym = _gymnasium()

    class FrameDifference(gym.Wrapper):
        def __init__(self, inner):
            super().__init__(inner)
            self.previous = None
            self.observation_space = gym.spaces.Box(-1.0, 1.0, shape, np.float32)

        def reset(self, **kwargs):
            frame, info = self.env.reset(**kwargs)
            self.previous = frame
            return np.asarray(difference(frame, None), np.float32), info

        def step(self, action):
            frame, reward, terminated, truncated, info = self.env.step(action)
            observation = np.asarray(difference(frame, self.previous), np.float32)
            self.previous = frame
            return observation, reward, terminated, truncated, info

    return FrameDifference(env)


def record_frames(env, frames: list, max_frames: int = 600):
    """Wrap a ``render=True`` environment so that each reset and step appends ``env.render()`` to ``frames``.

    At most ``max_frames`` frames are kept, so a long episode cannot fill the memory.
    """
    gym = _gymnasium()

    class RecordFrames(gym.Wrapper):
        def _grab(self):
            if len(frames) < max_frames:
                frames.append(np.asarray(self.env.render()))

        def reset(self, **kwargs):
            result = self.env.reset(**kwargs)
            self._grab()
            return result

        def step(self, action):
            result = self.env.step(action)
            self._grab()
            return result

    return RecordFrames(env)


class EpisodeMemory:
    """A bounded store of steps (observation, action, reward, done) that never grows past ``capacity``.

    The arrays are allocated once, at the first ``add``: observations (capacity, *obs_shape) in
    ``dtype`` (``np.int8`` holds Pong's frame differences in a quarter of the float32 memory),
    actions (capacity,) int32, rewards (capacity,) float32, dones (capacity,) bool. ``add`` on a
    full memory raises ``OverflowError``; ``clear`` empties it for the next batch.
    """

    def __init__(self, capacity: int, dtype=np.float32):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity, self.dtype = int(capacity), np.dtype(dtype)
        self._observations: np.ndarray | None = None
        self._actions = np.zeros(self.capacity, np.int32)
        self._rewards = np.zeros(self.capacity, np.float32)
        self._dones = np.zeros(self.capacity, bool)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def full(self) -> bool:
        return self._size == self.capacity

    def add(self, observation, action: int, reward: float, done: bool = False) -> None:
        """Store one step; ``done`` marks the last step of an episode."""
        if self.full:
            raise OverflowError(f"the memory holds at most {self.capacity} steps: clear() it after each update, "
                                "or stop the episode when memory.full")
        observation = np.asarray(observation)
        if self._observations is None:
            self._observations = np.zeros((self.capacity, *observation.shape), self.dtype)
        self._observations[self._size] = observation
        self._actions[self._size] = action
        self._rewards[self._size] = reward
        self._dones[self._size] = done
        self._size += 1

    def mark_done(self) -> None:
        """Mark the last stored step as the end of an episode."""
        if self._size:
            self._dones[self._size - 1] = True

    def clear(self) -> EpisodeMemory:
        """Forget every step (the arrays are kept and reused); returns the memory itself."""
        self._size = 0
        return self

    @property
    def observations(self) -> np.ndarray:
        """(n, *obs_shape) in ``dtype``."""
        if self._observations is None:
            return np.zeros((0,), self.dtype)
        return self._observations[: self._size]

    @property
    def actions(self) -> np.ndarray:
        """(n,) int32."""
        return self._actions[: self._size]

    @property
    def rewards(self) -> np.ndarray:
        """(n,) float32."""
        return self._rewards[: self._size]

    @property
    def dones(self) -> np.ndarray:
        """(n,) bool: True at the last step of each episode."""
        return self._dones[: self._size]


def frames_to_gif(frames: Sequence[np.ndarray], *, fps: int = 30, every: int = 1, width: int | None = None) -> bytes:
    """Encode RGB frames (each (height, width, 3) uint8) as an animated GIF; returns its bytes.

    ``every`` keeps one frame in ``every`` (the GIF plays ``every`` times faster than ``fps``
    would at full rate); ``width`` rescales the frames (keeping the aspect ratio) to keep the file small.
    """
    from PIL import Image

    if not len(frames):
        raise ValueError("no frames to animate: was the environment made with render=True?")
    images = []
    for frame in list(frames)[::every]:
        image = Image.fromarray(np.asarray(frame, np.uint8))
        if width and image.width != width:
            image = image.resize((width, round(image.height * width / image.width)), Image.NEAREST)
        images.append(image.convert("P", palette=Image.ADAPTIVE, colors=32))
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], loop=0,
                   duration=max(20, round(1000 * every / fps)))
    return buffer.getvalue()


def show_animation(frames: Sequence[np.ndarray], **kwargs):
    """Show frames as an animated GIF in Jupyter or Colab (``kwargs`` as in :func:`frames_to_gif`)."""
    from IPython.display import Image

    return Image(data=frames_to_gif(frames, **kwargs), format="gif")


class PolicyLogits:
    """Fast logits of a Keras policy network for acting one step at a time.

    ``PolicyLogits(model)(observations)`` maps a batch (batch, ...) to logits (batch, n_actions) as a
    NumPy array. A ``keras.Sequential`` of Dense layers (relu, tanh, sigmoid or no activation) runs
    as NumPy on a snapshot of its weights: microseconds per call instead of the milliseconds that
    TensorFlow needs to dispatch a tiny model. Call ``refresh()`` after every update of the weights.
    Any other model runs through one compiled ``tf.function``.
    """

    _ACTIVATIONS = {"linear": lambda x: x, "relu": lambda x: np.maximum(x, 0), "tanh": np.tanh,
                    "sigmoid": lambda x: 1 / (1 + np.exp(-x))}

    def __init__(self, model):
        import keras
        import tensorflow as tf

        self.model = model
        layers = list(model.layers) if isinstance(model, keras.Sequential) else []
        names = [getattr(layer.activation, "__name__", "") if isinstance(layer, keras.layers.Dense) else None
                 for layer in layers]
        self._dense = bool(layers) and all(name in self._ACTIVATIONS for name in names)
        self._activations = [self._ACTIVATIONS[name] for name in names] if self._dense else []
        self._compiled = None if self._dense else tf.function(lambda x: model(x, training=False))
        self.refresh()

    def refresh(self) -> None:
        """Take a new snapshot of the weights (NumPy path only)."""
        if self._dense:
            self._weights = [(layer.kernel.numpy(), layer.bias.numpy() if layer.use_bias else 0.0)
                             for layer in self.model.layers]

    def __call__(self, observations) -> np.ndarray:
        x = np.asarray(observations, np.float32)
        if not self._dense:
            return self._compiled(x).numpy()
        for (kernel, bias), activation in zip(self._weights, self._activations):
            x = activation(x @ kernel + bias)
        return x


class TrainingRun:
    """The saved state of a long training loop, so that it survives a disconnect, and its time budget.

    ``TrainingRun(folder, model, optimizer, rng=rng, minutes=60)`` restores what ``folder`` holds
    from an earlier session, if anything: the model's weights, the optimizer's variables (Adam's
    moments, its step count), the per-episode history (``run.history``, a list of floats), the
    state of the NumPy generator ``rng`` and the minutes of training already spent. The loop
    appends to ``run.history``, asks ``run.out_of_time()`` before each episode (the budget counts
    the minutes of every session together) and calls ``run.save()`` after an update, every
    ``every`` episodes at least; ``run.save(force=True)`` at the end. A save writes a new file
    and renames it over the old one, so a disconnect during a save leaves the previous state
    intact. Files: ``weights.npz`` (model weights, then optimizer variables) and ``run.json``.
    """

    def __init__(self, folder, model, optimizer, *, rng: np.random.Generator | None = None,
                 minutes: float | None = None, every: int = 10):
        from pathlib import Path

        self.folder, self.model, self.optimizer, self.rng = Path(folder), model, optimizer, rng
        self.minutes, self.every = minutes, int(every)
        self.history: list[float] = []
        self._spent = 0.0  # seconds of earlier sessions
        self._saved_at = 0  # len(history) at the last save
        self.resumed = (self.folder / "run.json").is_file()  # an earlier session's state is restored
        if self.resumed:
            self._restore()
        self._started = time.monotonic()

    def spent_minutes(self) -> float:
        """Minutes of training so far, earlier sessions included."""
        return (self._spent + time.monotonic() - self._started) / 60

    def out_of_time(self) -> bool:
        """True once the budget of ``minutes`` (all sessions together) is spent; never without a budget."""
        return self.minutes is not None and self.spent_minutes() >= self.minutes

    def describe(self, episodes: int) -> str:
        """One sentence for the student: the budget, where the state goes and what a rerun does."""
        limit = f"at most {self.minutes:g} minutes in total" if self.minutes is not None else "no time limit"
        text = f"{episodes:,} episodes, {limit}; the state is saved in {self.folder}/ every {self.every} episodes " \
               "(run the cell again after a disconnect to continue from there)"
        if self.resumed:
            text += f". Resuming after {len(self.history)} episodes and {self.spent_minutes():.1f} minutes"
        return text

    def save(self, force: bool = False) -> None:
        """Save everything when ``every`` episodes have passed since the last save (or when ``force``)."""
        if not force and len(self.history) - self._saved_at < self.every:
            return
        import json
        import os

        self.folder.mkdir(parents=True, exist_ok=True)
        self._build_optimizer()
        arrays = [np.asarray(w) for w in self.model.get_weights()] + \
            [np.asarray(v.numpy() if hasattr(v, "numpy") else v) for v in self.optimizer.variables]
        state = {"history": self.history, "seconds": self.spent_minutes() * 60, "weights": len(self.model.weights),
                 "rng": self.rng.bit_generator.state if self.rng is not None else None}
        for name, write in (("weights.npz", lambda f: np.savez(f, *arrays)),
                            ("run.json", lambda f: f.write(json.dumps(state).encode()))):
            partial = self.folder / f".{name}.partial"
            with open(partial, "wb") as file:
                write(file)
            os.replace(partial, self.folder / name)
        self._saved_at = len(self.history)

    def _restore(self) -> None:
        import json

        state = json.loads((self.folder / "run.json").read_text())
        with np.load(self.folder / "weights.npz") as blob:
            arrays = [blob[f"arr_{i}"] for i in range(len(blob.files))]
        weights, slots = arrays[: state["weights"]], arrays[state["weights"]:]
        self.model.set_weights(weights)
        self._build_optimizer()
        for variable, value in zip(self.optimizer.variables, slots, strict=True):
            variable.assign(value)
        if self.rng is not None and state["rng"] is not None:
            self.rng.bit_generator.state = state["rng"]
        self.history, self._spent = [float(h) for h in state["history"]], float(state["seconds"])
        self._saved_at = len(self.history)

    def _build_optimizer(self) -> None:
        """Create the optimizer's variables (as its first update would), so that they can be saved or set."""
        if not self.optimizer.built:
            self.optimizer.build(self.model.trainable_variables)
