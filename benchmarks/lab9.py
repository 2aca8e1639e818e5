"""Measure Lab 9's targets (graph convolutional networks on Cora) and print them.

1. ``full``: the solution notebook run top to bottom in full mode (``COURSE_MODE=full``): its wall
   time (target: within 5 minutes on 2 CPU cores), the peak memory of the process, and the depth
   curve (test accuracy of 1 to 8 layers, mean cosine similarity of each layer's output).
2. ``seeds``: with the notebook's own functions and settings, the GCN and the MLP trained for
   ``--seeds`` seeds (default 10): test accuracy mean and standard deviation, beside Kipf and Welling's
   (ICLR 2017) 81.5% and 55.1% (target: GCN mean >= 80.5%); label propagation (deterministic) beside
   their 68.0%.
3. ``smoke``: wall time of the whole solution notebook in smoke mode through the grader's runner
   (target < 60 s on a 2-core CPU).

Notebook code is executed from the solution notebook itself, so the numbers measure what students
run. Usage::

    COURSE_DATA_DIR=../shared/data python benchmarks/lab9.py                  # everything
    COURSE_DATA_DIR=../shared/data python benchmarks/lab9.py --only seeds --seeds 3
    COURSE_DATA_DIR=../shared/data python benchmarks/lab9.py --only full smoke
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the grader's run_solution times the smoke run, its run_cell runs a cell
from grader.labs import run_cell  # noqa: E402

NOTEBOOK = ROOT / "solutions" / "lab9_gcn" / "lab9_gcn.ipynb"
PARTS = ("full", "seeds", "smoke")
PAPER = {"gcn": 0.815, "mlp": 0.551, "label_propagation": 0.680}


def notebook_cells() -> list[str]:
    """The code cells of the solution notebook, with IPython magics turned into Python."""
    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    return [transform(c.source) for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code"]


def run_cells(mode: str, until: str | None = None) -> dict:
    """Execute the notebook's code cells in this process, up to the first cell containing ``until``."""
    import matplotlib

    matplotlib.use("Agg")
    os.environ["COURSE_MODE"] = mode
    namespace: dict = {"__name__": "__lab9__"}
    for number, source in enumerate(notebook_cells()):
        run_cell(source, f"<lab9 cell {number}>", namespace)
        if until is not None and until in source:
            break
    return namespace


def peak_memory_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def bench_full() -> dict:
    start = time.time()
    ns = run_cells("full")
    return {"wall_s": round(time.time() - start, 1), "target_s": 300, "peak_memory_mib": peak_memory_mib(),
            "epochs": ns["EPOCHS"], "patience": ns["PATIENCE"],
            "test_accuracy": {"gcn": round(ns["GCN_TEST_ACCURACY"], 4), "mlp": round(ns["MLP_TEST_ACCURACY"], 4),
                              "label_propagation": round(ns["LP_TEST_ACCURACY"], 4)},
            "depth_test_accuracy": {d: round(a, 4) for d, a in ns["depth_accuracy"].items()},
            "depth_layer_cosine": {d: [round(s, 3) for s in v] for d, v in ns["layer_similarity"].items()},
            "propagation_cosine": {k: round(v, 3) for k, v in ns["similarity_of_propagation"].items()}}


def bench_seeds(seeds: list[int]) -> dict:
    import numpy as np

    from course_utils import seed_everything

    ns = run_cells("full", until="LP_TEST_ACCURACY")
    cora, adjacency, identity = ns["cora"], ns["ADJ"], ns["IDENTITY"]
    options = {"epochs": ns["EPOCHS"], "patience": ns["PATIENCE"], "weight_decay": ns["WEIGHT_DECAY"]}
    accuracy: dict[str, list[float]] = {"gcn": [], "mlp": []}
    epochs: dict[str, list[int]] = {"gcn": [], "mlp": []}
    start = time.time()
    for seed in seeds:
        for name, operator in (("gcn", adjacency), ("mlp", identity)):
            seed_everything(seed)
            model, optimizer = ns["new_model"](operator)
            history = ns["fit_gcn"](model, optimizer, cora, operator, **options)
            accuracy[name].append(ns["evaluate"](model, cora.features, operator, cora.labels, cora.test_mask)[1])
            epochs[name].append(len(history["loss"]))
        print(f"seed {seed}: GCN {accuracy['gcn'][-1]:.3f}, MLP {accuracy['mlp'][-1]:.3f}", flush=True)

    def summary(name: str) -> dict:
        values = np.array(accuracy[name])
        return {"mean": round(float(values.mean()), 4), "std": round(float(values.std(ddof=1)), 4) if len(values) > 1
                else None, "min": round(float(values.min()), 4), "max": round(float(values.max()), 4),
                "paper": PAPER[name], "mean_epochs": round(float(np.mean(epochs[name])), 1)}

    return {"seeds": seeds, "gcn": {**summary("gcn"), "target_mean": 0.805}, "mlp": summary("mlp"),
            "label_propagation": {"accuracy": round(ns["LP_TEST_ACCURACY"], 4), "steps": ns["LP_STEPS"],
                                  "paper": PAPER["label_propagation"]},
            "seconds": round(time.time() - start, 1), "peak_memory_mib": peak_memory_mib()}


def bench_smoke() -> dict:
    from grader.labs import find_lab
    from grader.release import run_solution

    return {"smoke_wall_s": round(run_solution(find_lab("lab9")), 1), "target_s": 60}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--seeds", type=int, default=10, help="number of seeds of the GCN and MLP runs (default 10)")
    args = parser.parse_args(argv)
    if not NOTEBOOK.exists():
        sys.exit(f"missing {NOTEBOOK}")
    report = {}
    for part in args.only:
        print(f"== {part}", flush=True)
        if part == "full":
            report[part] = bench_full()
        elif part == "seeds":
            report[part] = bench_seeds(list(range(args.seeds)))
        elif part == "smoke":
            report[part] = bench_smoke()
        print(json.dumps(report[part], indent=1), flush=True)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
