"""Reinforcement-learning helpers for Lab 8: environments, a bounded episode memory and animations.

Environments come from packages, not downloads: ``gymnasium`` (CartPole) and ``ale-py``
(the Arcade Learning Environment, whose wheel ships the Atari ROMs, Pong included). Install
both with ``pip install "course-utils[rl]"``. Every environment made here has a step limit,
so an episode always ends, and rendering works headless (``rgb_array`` frames, no display).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import numpy as np

INSTALL_HINT = 'pip install "course-utils[rl]"  (that is: pip install "gymnasium[classic-control]" ale-py)'
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
