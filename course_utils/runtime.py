"""Run modes, budgets and the one-call notebook setup.

``COURSE_MODE=full`` (the default) gives real data and real training budgets;
``COURSE_MODE=smoke`` runs the same code on a small slice so that a whole lab
finishes in about a minute on a laptop CPU (tests, CI and grading use it).
"""

from __future__ import annotations

import os
import platform
import random
import sys
from typing import TypeVar

MODES = ("full", "smoke")
T = TypeVar("T")


def mode() -> str:
    """Return the run mode, ``"full"`` or ``"smoke"``, read from ``COURSE_MODE``."""
    value = os.environ.get("COURSE_MODE", "full").strip().lower() or "full"
    if value not in MODES:
        raise ValueError(f"COURSE_MODE={value!r} is not a run mode; use one of {', '.join(MODES)}.")
    return value


def is_smoke() -> bool:
    """True when running in smoke mode."""
    return mode() == "smoke"


def budget(*, full: T, smoke: T) -> T:
    """Pick a budget (epochs, samples, steps...) for the current run mode.

    >>> EPOCHS = budget(full=10, smoke=1)
    """
    return smoke if is_smoke() else full


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and, if it is installed, TensorFlow."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    tf = _tensorflow()
    if tf is not None:
        tf.keras.utils.set_random_seed(seed)


def _tensorflow():
    try:
        import tensorflow as tf
    except ImportError:
        return None
    return tf


def device_name() -> str:
    """Name of the first GPU TensorFlow sees, or ``"CPU"``."""
    tf = _tensorflow()
    if tf is None:
        return "CPU"
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    details = tf.config.experimental.get_device_details(gpus[0])
    return details.get("device_name", gpus[0].name)


class SetupInfo(dict):
    """What :func:`setup` found, as a ``dict[str, str]``; ``str()`` gives the one-line summary it prints.

    A notebook shows it once: ``setup()`` prints it, so as the value of the setup cell it displays nothing.
    """

    def __str__(self) -> str:
        return " | ".join(f"{key}: {value}" for key, value in self.items())

    def _ipython_display_(self) -> None:
        """Shown already: :func:`setup` printed it."""


def setup(seed: int = 0, *, quiet: bool = False) -> SetupInfo:
    """Seed everything and report where the lab is running.

    Returns a :class:`SetupInfo` dict with ``device``, ``mode``, ``python``, ``tensorflow``,
    ``numpy``, ``colab`` and ``seed``; prints it as one short block unless ``quiet``.
    Running without a GPU is a warning, not an error.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    seed_everything(seed)
    tf = _tensorflow()
    info = SetupInfo({
        "device": device_name(),
        "mode": mode(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__ if tf is not None else "not installed",
        "numpy": np.__version__,
        "colab": "yes" if in_colab() else "no",
        "seed": str(seed),
    })
    if not quiet:
        print(info)
        if info["device"] == "CPU" and info["mode"] == "full":
            print(
                "Warning: no GPU found. Full mode will be slow; in Colab choose "
                "Runtime > Change runtime type > GPU, or set COURSE_MODE=smoke for a quick run."
            )
        if tf is None:
            print("Warning: TensorFlow is not installed: pip install 'course-utils[tf]'.")
    return info
