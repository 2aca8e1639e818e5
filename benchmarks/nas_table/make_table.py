"""Precompute the tabular NAS benchmark of Lab 6: train every architecture once, record its accuracy.

Every architecture of ``course_utils.nas.SEARCH_SPACE`` is built (see :func:`build_child`),
trained with the same small budget on a fixed Fashion-MNIST subset and scored on a fixed
validation split; one CSV row per architecture goes to ``course_utils/data/nas_table.csv``.
Rows already in the file are skipped, so an interrupted run resumes where it stopped.

    COURSE_DATA_DIR=... python benchmarks/nas_table/make_table.py [--out PATH] [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from course_utils.datasets import load_fashion_mnist  # noqa: E402
from course_utils.nas import SEARCH_SPACE, TABLE_FILE  # noqa: E402

# The fixed budget every architecture gets (recorded in README.md).
N_TRAIN = 3000          # first 3,000 Fashion-MNIST training images
N_VAL = 2000            # last 2,000 Fashion-MNIST training images (never used for training)
EPOCHS = 2
BATCH_SIZE = 64
LEARNING_RATE = 3e-3    # Adam
SEED = 0                # the same weight-initialisation / shuffling seed for every architecture

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "course_utils" / "data" / TABLE_FILE
COLUMNS = [*SEARCH_SPACE, "params", "val_accuracy", "train_seconds"]


def build_child(arch: dict):
    """The CNN that ``arch`` describes: logits of shape (batch, 10) for inputs (batch, 28, 28, 1) in [0, 1].

    conv(filters1, kernel1, same, activation) -> maxpool 2 -> conv(filters2, kernel2, same)
    [+ conv 1x1 (filters2) of its input when skip == "residual"] -> activation -> maxpool 2
    -> global average pooling or flatten -> dense 10.
    """
    import keras

    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(arch["filters1"], arch["kernel1"], padding="same",
                            activation=arch["activation"])(inputs)
    h = keras.layers.MaxPooling2D(2)(h)
    z = keras.layers.Conv2D(arch["filters2"], arch["kernel2"], padding="same")(h)
    if arch["skip"] == "residual":
        z = keras.layers.Add()([z, keras.layers.Conv2D(arch["filters2"], 1)(h)])
    z = keras.layers.Activation(arch["activation"])(z)
    z = keras.layers.MaxPooling2D(2)(z)
    z = keras.layers.GlobalAveragePooling2D()(z) if arch["head"] == "gap" else keras.layers.Flatten()(z)
    return keras.Model(inputs, keras.layers.Dense(10)(z))


def train_and_score(arch: dict, data) -> tuple[int, float, float]:
    """Train ``arch`` under the fixed budget; return (parameters, validation accuracy, seconds)."""
    import keras

    (x, y), (x_val, y_val) = data
    start = time.perf_counter()
    keras.utils.set_random_seed(SEED)
    model = build_child(arch)
    model.compile(keras.optimizers.Adam(LEARNING_RATE),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=EPOCHS, verbose=0)
    accuracy = model.evaluate(x_val, y_val, batch_size=500, verbose=0)[1]
    seconds = time.perf_counter() - start
    keras.backend.clear_session()
    return model.count_params(), float(accuracy), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--limit", type=int, default=None, help="train at most this many new architectures")
    args = parser.parse_args()

    (x_train, y_train), _ = load_fashion_mnist()
    scale = lambda images: (images[..., None] / 255.0).astype("float32")  # noqa: E731
    data = ((scale(x_train[:N_TRAIN]), y_train[:N_TRAIN]),
            (scale(x_train[-N_VAL:]), y_train[-N_VAL:]))

    done = set()
    if args.out.exists():
        with open(args.out, encoding="utf-8") as handle:
            done = {tuple(row[name] for name in SEARCH_SPACE) for row in csv.DictReader(handle)}
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerow(COLUMNS)

    todo = [dict(zip(SEARCH_SPACE, choices)) for choices in itertools.product(*SEARCH_SPACE.values())]
    todo = [arch for arch in todo if tuple(str(v) for v in arch.values()) not in done][: args.limit]
    print(f"{len(done)} architectures already in {args.out.name}; training {len(todo)} "
          f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs)", flush=True)
    total = time.perf_counter()
    for i, arch in enumerate(todo, 1):
        params, accuracy, seconds = train_and_score(arch, data)
        with open(args.out, "a", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerow([*arch.values(), params, f"{accuracy:.4f}", f"{seconds:.2f}"])
        print(f"[{i}/{len(todo)}] {arch} params={params} acc={accuracy:.4f} {seconds:.1f}s", flush=True)
    print(f"total {time.perf_counter() - total:.0f} s", flush=True)
    _ = np  # numpy is imported first so TensorFlow finds it initialised


if __name__ == "__main__":
    main()
