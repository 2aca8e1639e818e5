"""The search space of Lab 6 and its precomputed tabular benchmark.

Every architecture of the space is a small two-block CNN for 28x28 grey images,
described by one choice per *decision* (a token). :data:`SEARCH_SPACE` lists the
decisions in the order a controller makes them, with the choices for each.

:class:`BudgetedEvaluator` charges a search one unit of its budget per *distinct*
architecture: a repeat is a cache hit, as in a real search, which would not train
the same child network twice.

:func:`load_nas_table` reads the table that ships with the package: the
validation accuracy of *every* architecture of the space after the same short
training run on a Fashion-MNIST subset (in the manner of the NAS-Bench tabular
benchmarks: Ying et al., 2019; Dong and Yang, 2020). Searching against it costs a
dictionary lookup instead of a training run. How the table was made is recorded
in ``benchmarks/nas_table/README.md`` of the course repository.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

import numpy as np

#: Decisions in the order they are made, each with its list of choices.
SEARCH_SPACE: dict[str, tuple] = {
    "filters1": (8, 16, 32),             # filters of the first convolution
    "kernel1": (3, 5),                   # its kernel size
    "filters2": (16, 32, 64),            # filters of the second convolution
    "kernel2": (3, 5),                   # its kernel size
    "activation": ("relu", "tanh", "sigmoid"),
    "skip": ("none", "residual"),        # 1x1-projected shortcut around the second convolution
    "head": ("gap", "flatten"),          # global average pooling or flatten before the classifier
}

TABLE_FILE = "nas_table.csv"


def space_size(space: dict[str, tuple] | None = None) -> int:
    """Number of architectures in ``space`` (default :data:`SEARCH_SPACE`)."""
    size = 1
    for choices in (space or SEARCH_SPACE).values():
        size *= len(choices)
    return size


def architecture(index: int) -> dict:
    """The architecture number ``index`` of the space (mixed radix, last decision fastest)."""
    arch = {}
    for name, choices in reversed(SEARCH_SPACE.items()):
        index, digit = divmod(index, len(choices))
        arch[name] = choices[digit]
    return {name: arch[name] for name in SEARCH_SPACE}


def arch_key(arch: dict) -> tuple:
    """A hashable key for an architecture dict: its choices in decision order."""
    return tuple(arch[name] for name in SEARCH_SPACE)


class BudgetedEvaluator:
    """Scores architectures with ``evaluate`` until ``budget`` distinct ones have been evaluated.

    Calling it on a list of architectures scores them in order. A repeated architecture is a
    cache hit: its stored score comes back and the budget is not charged. ``samples`` counts
    every architecture scored, repeats included; a search that needs more than
    :attr:`MAX_SAMPLES_PER_EVALUATION` times its budget in samples has collapsed onto a few
    architectures, and the evaluator stops it with a ``RuntimeError``.
    """

    MAX_SAMPLES_PER_EVALUATION = 20

    def __init__(self, evaluate, budget: int):
        if not 0 < budget <= space_size():
            raise ValueError(f"budget must be between 1 and the {space_size()} architectures of the space")
        self.evaluate, self.budget = evaluate, budget
        self.scores: dict[tuple, float] = {}  # arch_key -> score, in the order first evaluated
        self.samples = 0

    @property
    def done(self) -> bool:
        """Whether ``budget`` distinct architectures have been evaluated."""
        return len(self.scores) >= self.budget

    def __call__(self, archs: list[dict]) -> np.ndarray:
        """Scores (m,) of the first m architectures of ``archs``; m < len(archs) only once the budget is spent."""
        scores = []
        for arch in archs:
            if self.done:
                break
            if self.samples >= self.MAX_SAMPLES_PER_EVALUATION * self.budget:
                raise RuntimeError(
                    f"{self.samples} architectures sampled but only {len(self.scores)} distinct: the search keeps "
                    f"drawing the same few. A random search: draw every decision with the one rng (not a new "
                    f"generator with the same seed each time). A controller: check that the reward minus the "
                    f"baseline drives the update with the right sign and that the baseline is updated; if "
                    f"those are right, raise the entropy bonus or lower the learning rate")
            self.samples += 1
            key = arch_key(arch)
            if key not in self.scores:
                self.scores[key] = float(self.evaluate(arch))
            scores.append(self.scores[key])
        return np.array(scores)

    def result(self) -> tuple[list[dict], np.ndarray]:
        """The distinct architectures in the order they were first evaluated, and their scores (n,)."""
        return [dict(zip(SEARCH_SPACE, key)) for key in self.scores], np.array(list(self.scores.values()))


@dataclass(frozen=True)
class NasTable:
    """The tabular benchmark: ``accuracy[key]``, ``params[key]`` and ``seconds[key]`` per architecture.

    ``key`` is :func:`arch_key` of an architecture dict. ``seconds`` is the CPU wall
    time its training took when the table was made (the cost the lookup saves).
    """

    accuracy: dict[tuple, float]
    params: dict[tuple, int]
    seconds: dict[tuple, float]

    def __len__(self) -> int:
        return len(self.accuracy)

    def lookup(self, arch: dict) -> float:
        """Validation accuracy of ``arch`` (a dict with one choice per decision)."""
        try:
            return self.accuracy[arch_key(arch)]
        except KeyError:
            raise KeyError(f"{arch} is not an architecture of the search space") from None

    def architectures(self) -> list[dict]:
        """Every architecture of the table, as dicts, in table order."""
        return [dict(zip(SEARCH_SPACE, key)) for key in self.accuracy]

    def best(self) -> tuple[dict, float]:
        """The architecture with the highest validation accuracy and that accuracy."""
        key = max(self.accuracy, key=self.accuracy.get)
        return dict(zip(SEARCH_SPACE, key)), self.accuracy[key]


def _parse(name: str, text: str):
    """Turn a CSV cell back into the typed choice of decision ``name``."""
    for choice in SEARCH_SPACE[name]:
        if str(choice) == text:
            return choice
    raise ValueError(f"{text!r} is not a choice of {name!r}")


def load_nas_table(path: str | None = None) -> NasTable:
    """Load the tabular benchmark shipped with ``course_utils`` (or the CSV at ``path``).

    Returns a :class:`NasTable` with one entry per architecture of :data:`SEARCH_SPACE`.
    """
    if path is None:
        source = resources.files("course_utils").joinpath("data", TABLE_FILE)
        text = source.read_text(encoding="utf-8")
    else:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    accuracy, params, seconds = {}, {}, {}
    for row in csv.DictReader(text.splitlines()):
        key = tuple(_parse(name, row[name]) for name in SEARCH_SPACE)
        accuracy[key] = float(row["val_accuracy"])
        params[key] = int(row["params"])
        seconds[key] = float(row["train_seconds"])
    return NasTable(accuracy, params, seconds)
