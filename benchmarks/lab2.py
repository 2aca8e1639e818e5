"""Measure Lab 2's targets and print them.

1. Full mode: the solution CNN (``build_cnn`` from the solution notebook, trained with
   ``model.fit`` exactly as the notebook does) on all of MNIST; target >= 99.0% test accuracy.
2. Full mode: the random-label experiment (Zhang et al., ICLR 2017) on the notebook's subset;
   targets: >= 95% training accuracy on the shuffled labels, test accuracy at chance (about 10%).
3. Smoke mode: wall time of the whole solution notebook; target < 90 s on a 2-core CPU.

The notebook's functions and budgets are taken from the solution notebook itself, so the
numbers measure what students see. Usage::

    COURSE_DATA_DIR=../shared/data python benchmarks/lab2.py            # everything, full budgets
    COURSE_DATA_DIR=../shared/data python benchmarks/lab2.py --quick    # fewer epochs (a CPU check)
    python benchmarks/lab2.py --only smoke --fit-epochs 3 --memo-epochs 40 --memo-size 2000

Reduced runs print the budgets they used next to every number.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "solutions" / "lab2_cnn" / "lab2_cnn.ipynb"
sys.path.insert(0, str(ROOT))  # grader.labs runs the notebook's cells
QUICK = {"fit_epochs": 2, "memo_size": 1000, "memo_epochs": 40}


def solution_namespace(mode: str = "full") -> dict:
    """Run the notebook's budget cell and its solution cells (not the training) in a fresh namespace."""
    os.environ["COURSE_MODE"] = mode
    import keras
    import numpy as np
    import tensorflow as tf

    import course_utils
    from grader.labs import solution_namespace as run_cells

    return run_cells("lab2_cnn", given=("budgets",), np=np, tf=tf, keras=keras, course_utils=course_utils)


def load_data(ns: dict):
    from course_utils.datasets import load_mnist

    (x_train, y_train), (x_test, y_test) = load_mnist()
    prepare = ns["prepare_images"]
    return (prepare(x_train), y_train.astype("int64")), (prepare(x_test), y_test.astype("int64"))


def progress(name: str):
    import keras

    class Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            print(
                f"  {name} epoch {epoch + 1}: " + ", ".join(f"{k}={v:.4f}" for k, v in logs.items()),
                flush=True,
            )

    return Progress()


def full_mnist(ns: dict, data, epochs: int) -> dict:
    """Train build_cnn() with model.fit on the whole training set as the notebook does."""
    import keras

    (x_train, y_train), (x_test, y_test) = data
    ns["course_utils"].seed_everything(2)
    model = ns["build_cnn"]()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(
        x_train,
        y_train,
        epochs=epochs,
        batch_size=ns["BATCH_SIZE"],
        validation_split=0.1,
        verbose=0,
        callbacks=[progress("mnist")],
    )
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return {
        "epochs": epochs,
        "train_images": int(len(x_train) * 0.9),
        "test_accuracy": float(accuracy),
        "target": 0.99,
        "passed": bool(accuracy >= 0.99),
        "train_seconds": round(seconds, 1),
    }


def random_labels(ns: dict, data, size: int, epochs: int) -> dict:
    """Fit build_cnn(dropout=0) to shuffled labels of `size` training images, as the notebook does."""
    import keras

    (x_train, y_train), (x_test, y_test) = data
    ns["course_utils"].seed_everything(2)
    x_memo, y_memo = x_train[:size], y_train[:size]
    y_random = ns["shuffle_labels"](y_memo, seed=2)
    model = ns["build_cnn"](dropout=0.0)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(
        x_memo,
        y_random,
        epochs=epochs,
        batch_size=ns["BATCH_SIZE"],
        verbose=0,
        callbacks=[progress("random labels")],
    )
    seconds = time.perf_counter() - start
    _, train_accuracy = model.evaluate(x_memo, y_random, verbose=0)
    _, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    return {
        "images": size,
        "epochs": epochs,
        "train_accuracy_random_labels": float(train_accuracy),
        "test_accuracy": float(test_accuracy),
        "targets": "train >= 0.95, test about 0.10 (chance)",
        "passed": bool(train_accuracy >= 0.95 and abs(test_accuracy - 0.1) < 0.03),
        "train_seconds": round(seconds, 1),
    }


def smoke_notebook() -> dict:
    """Execute the whole solution notebook in smoke mode and time it."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    previous = os.environ.get("COURSE_MODE")
    os.environ["COURSE_MODE"] = "smoke"  # the kernel inherits the environment
    try:
        start = time.perf_counter()
        NotebookClient(
            notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
        ).execute()
        seconds = time.perf_counter() - start
    finally:
        if previous is None:
            os.environ.pop("COURSE_MODE", None)
        else:
            os.environ["COURSE_MODE"] = previous
    return {"wall_seconds": round(seconds, 1), "target": 90, "passed": seconds < 90}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"reduced budgets for a CPU: {QUICK}")
    parser.add_argument(
        "--only",
        choices=["mnist", "random", "smoke"],
        action="append",
        help="run only these parts (repeatable)",
    )
    parser.add_argument("--fit-epochs", type=int, help="epochs of the MNIST run (default: the notebook's)")
    parser.add_argument(
        "--memo-size", type=int, help="images in the random-label run (default: the notebook's)"
    )
    parser.add_argument(
        "--memo-epochs", type=int, help="epochs of the random-label run (default: the notebook's)"
    )
    args = parser.parse_args(argv)
    parts = args.only or ["smoke", "mnist", "random"]

    results: dict[str, dict] = {}
    if "smoke" in parts:
        results["smoke_notebook"] = smoke_notebook()
        print("smoke notebook:", results["smoke_notebook"], flush=True)
    if "mnist" in parts or "random" in parts:
        ns = solution_namespace("full")
        budgets = {
            "fit_epochs": ns["FIT_EPOCHS"],
            "memo_size": ns["N_MEMO"],
            "memo_epochs": ns["MEMO_EPOCHS"],
        }
        if args.quick:
            budgets.update(QUICK)
        for key in budgets:
            if getattr(args, key) is not None:
                budgets[key] = getattr(args, key)
        data = load_data(ns)
        if "mnist" in parts:
            results["full_mnist"] = full_mnist(ns, data, budgets["fit_epochs"])
            print("full MNIST:", results["full_mnist"], flush=True)
        if "random" in parts:
            results["random_labels"] = random_labels(ns, data, budgets["memo_size"], budgets["memo_epochs"])
            print("random labels:", results["random_labels"], flush=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
