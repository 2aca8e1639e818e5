"""Benchmark of lab 3: per-group accuracy of a standard CNN vs the DB-VAE, and the smoke-mode time.

Usage::

    COURSE_DATA_DIR=... python benchmarks/lab3.py [--quick] [--seeds 5] [--epochs 8] [--size 64]

1. Runs the definition cells of the solution notebook (models, the exercises with
   their solutions, training loops) in this process, then trains for every seed:
   the standard CNN, the DB-VAE and, as ablations, the DB-VAE without resampling and
   two diagnostics that only the offline set allows (its training faces carry group
   labels): an *oracle* CNN whose batches draw darker-skinned faces with probability
   ``--oracle-share`` (what perfect group-aware resampling could do), and a CNN
   trained on a set with ``--more-darker`` darker-skinned faces per gender instead of
   the lab's 10 (what new examples, rather than repeated ones, do). It prints per model
   the accuracy on each group (LF, LM, DF, DM), the mean over groups and the variance
   across groups (in %^2, as in Amini et al. 2019), averaged over seeds.
2. Executes the whole solution notebook in smoke mode and prints its wall time.

``--quick`` uses two epochs, 32x32 images and two seeds and skips nothing else.
The face data source follows ``COURSE_FACES_SOURCE`` (default here: ``utkface``
when the subset is in ``COURSE_DATA_DIR``, else ``auto``); the diagnostics need
group labels on the training faces and run on the offline UTKFace set only.
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


def use_training_set(ns: dict, data) -> None:
    """Point the notebook's training globals (x_train, y_train, face_index, nonface_index) at ``data``."""
    import numpy as np

    ns.update(data=data, x_train=data.x_train, y_train=data.y_train,
              face_index=np.flatnonzero(data.y_train == 1), nonface_index=np.flatnonzero(data.y_train == 0))


def darker_oracle_probabilities(darker, share: float):
    """Face sampling probabilities (n,) that give the faces where ``darker`` (n,) is True ``share`` of the draws."""
    import numpy as np

    return np.where(darker, share / darker.sum(), (1 - share) / (~darker).sum())


def compare(seeds: int, epochs: int, size: int, oracle_share: float, more_darker: int) -> dict:
    import numpy as np

    ns = notebook_namespace(size)
    groups, lab_data = ns["faces"].GROUPS, ns["data"]
    labelled = lab_data.source.startswith("utkface")  # the offline set knows the training faces' groups
    more_data = ns["faces"].load_utkface(size, darker_train_per_gender=more_darker) if labelled else None
    darker = np.isin(lab_data.group_train[ns["face_index"]], [2, 3])  # (n_faces,), all False without labels
    uniform_sampler = ns["make_batch_sampler"]
    oracle_p = darker_oracle_probabilities(darker, oracle_share) if labelled else None

    def oracle_sampler(face_probabilities=None, rng=None):
        return uniform_sampler(oracle_p, rng)

    runs = {"standard CNN": [], "DB-VAE": [], "VAE, no resampling": []}
    if labelled:
        runs.update({f"oracle CNN ({oracle_share:.0%})": [], f"CNN, {more_darker}+{more_darker} darker": []})

    def evaluate(name, predict_logit):
        runs[name].append(ns["group_accuracy"](predict_logit, ns["x_eval"], ns["y_eval"], ns["group_eval"]))

    for seed in range(seeds):
        start = time.time()
        cnn = ns["train_standard_cnn"](epochs=epochs, seed=seed)
        evaluate("standard CNN", lambda x, m=cnn: m(x, training=False))
        dbvae, p = ns["train_dbvae"](epochs=epochs, seed=seed)
        evaluate("DB-VAE", dbvae.predict_logit)
        plain, _ = ns["train_dbvae"](epochs=epochs, seed=seed, resample=False)
        evaluate("VAE, no resampling", plain.predict_logit)
        message = (f"seed {seed}: darker faces are {darker.mean():.1%} of the training faces and get "
                   f"{p[darker].sum():.1%} of the DB-VAE's final sampling probability")
        if labelled:
            ns["make_batch_sampler"] = oracle_sampler
            oracle = ns["train_standard_cnn"](epochs=epochs, seed=seed)
            ns["make_batch_sampler"] = uniform_sampler
            evaluate(f"oracle CNN ({oracle_share:.0%})", lambda x, m=oracle: m(x, training=False))
            use_training_set(ns, more_data)
            more = ns["train_standard_cnn"](epochs=epochs, seed=seed)
            use_training_set(ns, lab_data)
            evaluate(f"CNN, {more_darker}+{more_darker} darker", lambda x, m=more: m(x, training=False))
        print(f"{message} ({time.time() - start:.0f} s)", flush=True)
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
    print(f"\n{seeds} seeds, {epochs} epochs, {size}x{size} images, source: {lab_data.source}")
    print(f"{'model':22s} {'LF':>6s} {'LM':>6s} {'DF':>6s} {'DM':>6s} | {'mean':>12s} | {'variance':>14s} | non-face")
    for name, row in summary.items():
        g = row["per_group_mean"]
        print(f"{name:22s} " + " ".join(f"{g[k]:6.1f}" for k in groups)
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
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None, help="default: the notebook's full-mode EPOCHS (8)")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (the notebook's full mode: 64)")
    parser.add_argument("--oracle-share", type=float, default=0.25,
                        help="share of the oracle CNN's face draws that are darker-skinned faces")
    parser.add_argument("--more-darker", type=int, default=90,
                        help="darker-skinned training faces per gender of the diagnostic set (the lab has 10)")
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
        results["compare"] = compare(args.seeds, args.epochs or 8, args.size, args.oracle_share, args.more_darker)
        results["settings"] = {"seeds": args.seeds, "epochs": args.epochs or 8, "size": args.size}
    if not args.skip_smoke:
        results["smoke_seconds"] = smoke_time()
        print(f"\nsmoke-mode wall time of the solution notebook: {results['smoke_seconds']:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
