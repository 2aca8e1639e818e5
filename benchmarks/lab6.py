"""Lab 6 benchmark: controller vs random search on the table, the winner retrained, smoke-mode wall time.

    COURSE_DATA_DIR=... python benchmarks/lab6.py [--quick] [--seeds 20] [--retrain-images 60000]
        [--retrain-epochs 10] [--retrain-seeds 3] [--skip-retrain] [--skip-notebook]

1. On the tabular benchmark, ``--seeds`` searches of each method at the notebook's budget
   (``BUDGET`` distinct child evaluations; repeats are cache hits), seeds 0..S-1 for both: best
   accuracy found (mean, std, min, max), the paired difference and its standard error, how often
   each method wins, and best-so-far means at a few budgets.
2. The best architecture the controller found over those searches, and the best one it found with
   at most a tenth of the parameters of Lab 2's hand-designed CNN, retrained with that CNN on
   Fashion-MNIST (``--retrain-images`` training images, ``--retrain-epochs`` epochs, full
   10,000-image test set), once per seed 0..``--retrain-seeds``-1: accuracies, their mean and std.
3. The wall time of the whole solution notebook in smoke mode (nbclient, a fresh kernel).

The code measured is the solution notebook's own: its definition cells are executed here.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import nbformat  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # grader.labs runs the notebook's cells
NOTEBOOK = ROOT / "solutions" / "lab6_nas" / "lab6_nas.ipynb"
DEFINITIONS = ("imports", "controller", "hyper", "baseline")


def table_comparison(lab: dict, table, seeds: int) -> dict:
    budget = lab["BUDGET"]
    start = time.perf_counter()
    finals = {"random": [], "controller": []}
    curves = {"random": [], "controller": []}
    found = []
    for seed in range(seeds):
        for name, search in (("random", lab["random_search"]), ("controller", lab["controller_search"])):
            archs, rewards = search(table.lookup, budget, seed)
            curves[name].append(np.maximum.accumulate(rewards))
            finals[name].append(rewards.max())
            if name == "controller":
                found += archs
    seconds = time.perf_counter() - start
    best_arch, best = table.best()
    ranks = np.sort(np.array(list(table.accuracy.values())))[::-1]
    print(f"\n== Table: {seeds} seeds x budget {budget} evaluations ({budget / len(table):.0%} of "
          f"{len(table)} architectures), {seconds:.0f} s")
    print(f"table best {best:.4f}; 2nd {ranks[1]:.4f}; 5th {ranks[4]:.4f}; median {np.median(ranks):.4f}")
    for name, values in finals.items():
        values = np.array(values)
        print(f"{name:10s} best found: mean {values.mean():.4f}  std {values.std(ddof=1):.4f}  "
              f"min {values.min():.4f}  max {values.max():.4f}  optimum found in {np.mean(values >= best):.0%}")
    diff = np.array(finals["controller"]) - np.array(finals["random"])
    print(f"paired difference controller - random: mean {diff.mean():+.4f}  std {diff.std(ddof=1):.4f}  "
          f"standard error {diff.std(ddof=1) / np.sqrt(seeds):.4f}; controller better in "
          f"{np.sum(diff > 0)}, tied {np.sum(diff == 0)}, worse {np.sum(diff < 0)} of {seeds} seeds")
    for k in (10, 20, 40, budget):
        if k <= budget:
            print(f"  mean best-so-far after {k:3d}: random {np.mean([c[k - 1] for c in curves['random']]):.4f}"
                  f"  controller {np.mean([c[k - 1] for c in curves['controller']]):.4f}")
    return {"found": found}


def retrain(lab: dict, table, found: list[dict], images: int, epochs: int, seeds: int) -> None:
    import keras

    from course_utils.datasets import load_fashion_mnist
    from course_utils.nas import arch_key

    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    x_train = (x_train[:images, ..., None] / 255.0).astype("float32")
    y_train = y_train[:images]
    x_test = (x_test[..., None] / 255.0).astype("float32")

    small_params = lab["lab2_cnn"]().count_params() // 10
    keys = sorted({arch_key(arch) for arch in found}, key=table.accuracy.get, reverse=True)
    best = dict(zip(lab["DECISIONS"], keys[0]))
    small = dict(zip(lab["DECISIONS"], next(k for k in keys if table.params[k] <= small_params)))
    print(f"\n== Retraining on {images:,} Fashion-MNIST images for {epochs} epochs (Adam 1e-3, batch 128), "
          f"test on 10,000, seeds 0..{seeds - 1}")
    accuracies: dict[str, list[float]] = {}
    for seed in range(seeds):
        for name, make in (("Lab 2 CNN", lab["lab2_cnn"]),
                           (f"best found {tuple(best.values())}", lambda: lab["build_child"](best)),
                           (f"best found <= 1/10 of Lab 2 {tuple(small.values())}",
                            lambda: lab["build_child"](small))):
            keras.utils.set_random_seed(seed)
            model = make()
            model.compile(keras.optimizers.Adam(1e-3),
                          keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
            start = time.perf_counter()
            model.fit(x_train, y_train, batch_size=128, epochs=epochs, verbose=0)
            accuracies.setdefault(name, []).append(model.evaluate(x_test, y_test, batch_size=1000, verbose=0)[1])
            print(f"seed {seed}  {name:72s} {model.count_params():>7,} params  test accuracy "
                  f"{accuracies[name][-1]:.4f}  ({time.perf_counter() - start:.0f} s)", flush=True)
    for name, values in accuracies.items():
        print(f"{name:72s} test accuracy mean {np.mean(values):.4f}  std {np.std(values, ddof=min(1, seeds - 1)):.4f}"
              f"  over {seeds} seeds")


def smoke_wall_time() -> None:
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    os.environ["COURSE_MODE"] = "smoke"
    start = time.perf_counter()
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    print(f"\n== Smoke mode: the whole solution notebook ran in {time.perf_counter() - start:.1f} s (wall)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 seeds, 5,000 images for 1 epoch")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--retrain-images", type=int, default=60000)
    parser.add_argument("--retrain-epochs", type=int, default=10)
    parser.add_argument("--retrain-seeds", type=int, default=3)
    parser.add_argument("--skip-retrain", action="store_true")
    parser.add_argument("--skip-notebook", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.retrain_images, args.retrain_epochs, args.retrain_seeds = 5, 5000, 1, 1

    from course_utils.nas import load_nas_table
    from grader.labs import solution_namespace

    lab = solution_namespace("lab6_nas", given=DEFINITIONS)
    table = load_nas_table()
    result = table_comparison(lab, table, args.seeds)
    if not args.skip_retrain:
        retrain(lab, table, result["found"], args.retrain_images, args.retrain_epochs, args.retrain_seeds)
    if not args.skip_notebook:
        smoke_wall_time()


if __name__ == "__main__":
    main()
