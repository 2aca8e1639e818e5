"""Benchmark of lab 3: per-group accuracy of a standard CNN vs the DB-VAE, and the smoke-mode time.

Usage::

    COURSE_DATA_DIR=... python benchmarks/lab3.py [--quick] [--seeds 3] [--epochs 8] [--size 64]

1. Runs the definition cells of the solution notebook (models, the exercises with
   their solutions, training loops) in this process, then trains the standard CNN,
   the DB-VAE and, as an ablation, the DB-VAE without resampling for every seed, and
   prints per model the accuracy on each group (LF, LM, DF, DM), the mean over groups
   and the variance across groups (in %^2, as in Amini et al. 2019), averaged over seeds.
2. Executes the whole solution notebook in smoke mode and prints its wall time.

``--quick`` uses two epochs, 32x32 images and two seeds and skips nothing else.
The face data source follows ``COURSE_FACES_SOURCE`` (default here: ``utkface``
when the subset is in ``COURSE_DATA_DIR``, else ``auto``).
"""

from __future__ import annotations

import argparse
import json
import linecache
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "solutions" / "lab3_debiasing" / "lab3_debiasing.ipynb"
DEFINITION_CELLS = ("imports", "data", "defs_cnn", "defs_cnn_train", "kl_impl", "vae_loss_impl", "sampling_impl",
                    "defs_dbvae", "dbvae_loss_impl", "resampling_impl", "train_step_impl", "defs_dbvae_train")


def notebook_namespace(size: int) -> dict:
    """Execute the notebook's definition cells (and load the data at ``size`` pixels) into a namespace."""
    import nbformat

    import course_utils

    course_utils.setup(seed=0, quiet=True)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    cells = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell.source for cell in notebook.cells}
    missing = [name for name in DEFINITION_CELLS if name not in cells]
    if missing:
        raise SystemExit(f"the notebook has no cells {missing}: update DEFINITION_CELLS")
    namespace: dict = {"course_utils": course_utils}
    for name in DEFINITION_CELLS:
        source = cells[name]
        if name == "data":
            source = re.sub(r"^IMG_SIZE = .*$", f"IMG_SIZE = {size}", source, flags=re.M)
        filename = f"<lab3 cell {name}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # for tf.function
        exec(compile(source, filename, "exec"), namespace)
    return namespace


def compare(seeds: int, epochs: int, size: int) -> dict:
    import numpy as np

    ns = notebook_namespace(size)
    groups = ns["faces"].GROUPS
    runs = {"standard CNN": [], "DB-VAE": [], "VAE, no resampling": []}
    for seed in range(seeds):
        start = time.time()
        cnn = ns["train_standard_cnn"](epochs=epochs, seed=seed)
        runs["standard CNN"].append(ns["group_accuracy"](lambda x, m=cnn: m(x, training=False), ns["x_eval"],
                                                         ns["y_eval"], ns["group_eval"]))
        dbvae, p = ns["train_dbvae"](epochs=epochs, seed=seed)
        runs["DB-VAE"].append(ns["group_accuracy"](dbvae.predict_logit, ns["x_eval"], ns["y_eval"], ns["group_eval"]))
        plain, _ = ns["train_dbvae"](epochs=epochs, seed=seed, resample=False)
        runs["VAE, no resampling"].append(ns["group_accuracy"](plain.predict_logit, ns["x_eval"], ns["y_eval"],
                                                               ns["group_eval"]))
        darker = np.isin(ns["data"].group_train[ns["face_index"]], [2, 3])
        print(f"seed {seed} ({time.time() - start:.0f} s): darker faces are {darker.mean():.1%} of the training "
              f"faces and get {p[darker].sum():.1%} of the final sampling probability", flush=True)
        for name in runs:
            ns["describe"](f"  {name[:11]}", runs[name][-1])
    summary = {}
    for name, accuracies in runs.items():
        per_group = np.array([[a[g] for g in groups] for a in accuracies])
        summary[name] = {
            "per_group_mean": dict(zip(groups, per_group.mean(0).round(2).tolist(), strict=True)),
            "mean_accuracy": float(per_group.mean(1).mean()), "mean_accuracy_sd": float(per_group.mean(1).std()),
            "group_variance": float(per_group.var(1).mean()), "group_variance_sd": float(per_group.var(1).std()),
            "non_face": float(np.mean([a["non-face"] for a in accuracies])),
            "runs": accuracies,
        }
    print(f"\n{seeds} seeds, {epochs} epochs, {size}x{size} images, source: {ns['data'].source}")
    print(f"{'model':19s} {'LF':>6s} {'LM':>6s} {'DF':>6s} {'DM':>6s} | {'mean':>12s} | {'variance':>14s} | non-face")
    for name, row in summary.items():
        g = row["per_group_mean"]
        print(f"{name:19s} " + " ".join(f"{g[k]:6.1f}" for k in groups)
              + f" | {row['mean_accuracy']:5.1f} +- {row['mean_accuracy_sd']:3.1f} | "
                f"{row['group_variance']:6.1f} +- {row['group_variance_sd']:5.1f} | {row['non_face']:5.1f}")
    return summary


def smoke_time() -> float:
    import nbformat
    from nbclient import NotebookClient

    os.environ["COURSE_MODE"] = "smoke"
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    start = time.time()
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    return time.time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 2 epochs, 32x32")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="default: the notebook's full-mode EPOCHS (8)")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (the notebook's full mode: 64)")
    parser.add_argument("--skip-compare", action="store_true")
    parser.add_argument("--skip-smoke", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.epochs, args.size = 2, 2, 32
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ["COURSE_MODE"] = "full"
    data = os.environ.get("COURSE_DATA_DIR")
    if "COURSE_FACES_SOURCE" not in os.environ and data and (Path(data) / "utkface_crop_part1_subset").is_dir():
        os.environ["COURSE_FACES_SOURCE"] = "utkface"
    sys.path.insert(0, str(ROOT))
    results = {}
    if not args.skip_compare:
        results["compare"] = compare(args.seeds, args.epochs or 8, args.size)
        results["settings"] = {"seeds": args.seeds, "epochs": args.epochs or 8, "size": args.size}
    if not args.skip_smoke:
        results["smoke_seconds"] = smoke_time()
        print(f"\nsmoke-mode wall time of the solution notebook: {results['smoke_seconds']:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
