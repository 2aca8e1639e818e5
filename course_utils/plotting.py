"""Plots the labs share: a live loss plot, image grids and 2-D decision boundaries."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in shell.config


class LiveLossPlot:
    """A training-curve figure that redraws in place while a loop runs.

    In Jupyter and Colab the figure updates in its output cell (at most every
    ``refresh_seconds``); in a plain script it only records the values, so a
    training loop can always call it. ``history`` maps each series name to its
    list of values.

    >>> plot = LiveLossPlot(xlabel="step")
    >>> for step in range(100):
    ...     plot.update(loss=1 / (step + 1))
    >>> plot.close()
    """

    def __init__(self, title: str = "Training", xlabel: str = "step", ylabel: str = "loss",
                 refresh_seconds: float = 0.5, logy: bool = False):
        self.title, self.xlabel, self.ylabel, self.logy = title, xlabel, ylabel, logy
        self.refresh_seconds = refresh_seconds
        self.history: dict[str, list[float]] = {}
        self._handle = None
        self._last_draw = 0.0
        self._live = _in_notebook()

    def update(self, **values: float) -> None:
        """Append one value per named series (e.g. ``loss=0.3, val_loss=0.4``) and maybe redraw."""
        for name, value in values.items():
            self.history.setdefault(name, []).append(float(value))
        if self._live and time.monotonic() - self._last_draw >= self.refresh_seconds:
            self._draw()

    def close(self) -> None:
        """Draw the final state once more (in a notebook)."""
        if self._live:
            self._draw()

    def figure(self):
        """A matplotlib figure of the current history."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        for name, values in self.history.items():
            ax.plot(np.arange(1, len(values) + 1), values, label=name)
        ax.set(title=self.title, xlabel=self.xlabel, ylabel=self.ylabel)
        if self.logy:
            ax.set_yscale("log")
        if self.history:
            ax.legend(loc="upper right")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        return fig

    def _draw(self) -> None:
        import matplotlib.pyplot as plt
        from IPython.display import display

        fig = self.figure()
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)
        plt.close(fig)
        self._last_draw = time.monotonic()

    def keras_callback(self):
        """A Keras callback that feeds every epoch's logs (loss, accuracy...) into this plot."""
        import keras

        plot = self

        class _LiveLoss(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                plot.update(**{k: v for k, v in (logs or {}).items() if "loss" in k})

            def on_train_end(self, logs=None):
                plot.close()

        return _LiveLoss()


def show_images(images: np.ndarray, labels: Sequence | None = None, ncols: int = 8,
                cmap: str = "gray", size: float = 1.4):
    """Show images in a grid.

    ``images`` has shape ``(n, height, width)`` or ``(n, height, width, channels)``;
    ``labels`` (optional) gives one title per image. Returns the figure.
    """
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    n = len(images)
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3 * (labels is not None)))
    for index, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.axis("off")
        if index < n:
            image = images[index]
            ax.imshow(image.squeeze(-1) if image.ndim == 3 and image.shape[-1] == 1 else image, cmap=cmap)
            if labels is not None:
                ax.set_title(str(labels[index]), fontsize=9)
    fig.tight_layout()
    return fig


def plot_decision_boundary(predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray, y: np.ndarray,
                           ax=None, resolution: int = 200, title: str | None = None,
                           labels: tuple[str, str] = ("$x_1$", "$x_2$")):
    """Colour the plane by a binary classifier's output and scatter the data on top.

    ``predict`` maps points of shape ``(m, 2)`` to probabilities of shape ``(m,)``
    or ``(m, 1)``; ``x`` has shape ``(n, 2)``, ``y`` holds 0/1 labels of shape ``(n,)``;
    ``labels`` names the two input features (the axes). Returns the axes.
    """
    import matplotlib.pyplot as plt

    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y).reshape(-1)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    pad = 0.5
    (x0_min, x1_min), (x0_max, x1_max) = x.min(0) - pad, x.max(0) + pad
    grid0, grid1 = np.meshgrid(np.linspace(x0_min, x0_max, resolution), np.linspace(x1_min, x1_max, resolution))
    grid = np.stack([grid0.ravel(), grid1.ravel()], axis=1).astype(np.float32)
    probs = np.asarray(predict(grid)).reshape(grid0.shape)
    ax.contourf(grid0, grid1, probs, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
    ax.contour(grid0, grid1, probs, levels=[0.5], colors="k", linewidths=1)
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="RdBu_r", edgecolors="k", s=14)
    ax.set(xlabel=labels[0], ylabel=labels[1])
    if title:
        ax.set_title(title)
    return ax
