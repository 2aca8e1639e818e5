"""Helpers that the course's lab notebooks import: runtime, datasets, plots and checks.

Importing the package is cheap: TensorFlow and matplotlib load only when a
function that needs them runs.
"""

from course_utils.runtime import budget, in_colab, is_smoke, mode, seed_everything, setup

__version__ = "0.1.0"
__all__ = ["budget", "in_colab", "is_smoke", "mode", "seed_everything", "setup", "__version__"]
