"""Peak memory of lab 3's full mode on a training file shaped like MIT 6.S191's ``train_face.h5``.

Usage::

    COURSE_DATA_DIR=... python benchmarks/lab3_memory.py [--n 110000] [--epochs 1] [--h5 PATH]

1. Writes (unless ``--h5`` names an existing file) a synthetic HDF5 file with the datasets of
   ``train_face.h5``: ``images`` of shape ``(n, 64, 64, 3)``, uint8, BGR, and ``labels`` of shape
   ``(n, 1)``, float32, half of them 1 (face). The pixels are random: only the memory matters.
2. In a child process with ``COURSE_MODE=full``, ``COURSE_FACES_SOURCE=mit`` and
   ``COURSE_FACES_H5`` set to that file, runs the solution notebook's definition cells (which load
   the file and the balanced evaluation set), trains the standard CNN and the DB-VAE for
   ``--epochs`` epochs each, and reports the peak resident memory of that process
   (``ru_maxrss``) after loading and at the end. Target: under 4 GiB (Colab has about 12.7 GiB).
   ``--faces-per-epoch`` (default 8,000) shortens an epoch to that many faces to save CPU time: the
   arrays in memory are the same, only fewer batches are drawn from them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GIB = 1024 ** 3


def write_h5(path: Path, n: int, chunk: int = 10_000) -> None:
    """A file with the datasets, dtypes and shapes of train_face.h5, filled with random pixels."""
    import h5py
    import numpy as np

    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as handle:
        images = handle.create_dataset("images", (n, 64, 64, 3), dtype=np.uint8)
        labels = handle.create_dataset("labels", (n, 1), dtype=np.float32)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            images[start:stop] = rng.integers(0, 256, (stop - start, 64, 64, 3), dtype=np.uint8)
            labels[start:stop] = (rng.random((stop - start, 1)) < 0.5).astype(np.float32)


def peak_gib() -> float:
    """Peak resident memory of this process so far, in GiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB


def child(epochs: int, faces_per_epoch: int) -> dict:
    """Load and train as the notebook does; return peak memory figures."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.lab3 import notebook_namespace

    start = time.time()
    ns = notebook_namespace({"EPOCHS": str(epochs)})
    loaded = {"images": int(len(ns["y_train"])), "x_train_dtype": str(ns["x_train"].dtype),
              "x_train_gib": ns["x_train"].nbytes / GIB, "peak_after_load_gib": peak_gib(),
              "load_seconds": time.time() - start}
    print(json.dumps(loaded), flush=True)
    if faces_per_epoch:
        ns["face_index"] = ns["face_index"][:faces_per_epoch]  # fewer steps per epoch, same arrays in memory
    ns["train_standard_cnn"](epochs, 0)
    after_cnn = peak_gib()
    ns["train_dbvae"](epochs, 0)
    return {**loaded, "peak_after_cnn_gib": after_cnn, "peak_gib": peak_gib(), "epochs": epochs,
            "faces_per_epoch": faces_per_epoch, "seconds": time.time() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=110_000, help="images in the synthetic file")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of each model")
    parser.add_argument("--faces-per-epoch", type=int, default=8000, help="0: all faces of the file")
    parser.add_argument("--h5", type=Path, help="use (or create) this file instead of a temporary one")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.epochs, args.faces_per_epoch)), flush=True)
        return
    with tempfile.TemporaryDirectory() as folder:
        path = args.h5 or Path(folder) / "train_face.h5"
        if not path.is_file():
            start = time.time()
            write_h5(path, args.n)
            print(f"wrote {path} ({path.stat().st_size / GIB:.2f} GiB) in {time.time() - start:.0f} s", flush=True)
        env = {**os.environ, "COURSE_MODE": "full", "COURSE_FACES_SOURCE": "mit", "COURSE_FACES_H5": str(path),
               "MPLBACKEND": "Agg"}
        command = [sys.executable, __file__, "--child", "--epochs", str(args.epochs),
                   "--faces-per-epoch", str(args.faces_per_epoch)]
        process = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in process.stdout.splitlines() if line.startswith("RESULT ")]
    if process.returncode or not lines:
        raise SystemExit(f"the child failed ({process.returncode}):\n{process.stderr[-3000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    print(f"{result['images']:,} training images kept as {result['x_train_dtype']} ({result['x_train_gib']:.2f} GiB); "
          f"peak resident memory: {result['peak_after_load_gib']:.2f} GiB after loading, "
          f"{result['peak_after_cnn_gib']:.2f} GiB after the CNN, {result['peak_gib']:.2f} GiB after the DB-VAE "
          f"({result['epochs']} epoch(s) each of {result['faces_per_epoch'] or 'all'} faces, "
          f"{result['seconds']:.0f} s); "
          f"target < 4 GiB: "
          f"{'met' if result['peak_gib'] < 4 else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
