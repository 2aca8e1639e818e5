"""Measure Lab 5's targets (Monte Carlo dropout and uncertainty) and print them.

1. ``classify``: the solution notebook run in full mode (``COURSE_MODE=full``), for one or more
   seeds: AUROC for MNIST against Fashion-MNIST from the MC-dropout predictive entropy (target >= 0.90)
   and the expected calibration error of MC dropout against the two deterministic predictions, the
   plain network trained without dropout and the dropout network with dropout off (target: lower).
2. ``toy``: the notebook's 1-D toy section for several seeds: epistemic standard deviation in the
   middle half of the gap over its value in the middle halves of the data stretches (target >= 3).
3. ``diabetes``: scikit-learn's bundled diabetes data with Gal and Ghahramani's (ICML 2016) UCI
   protocol: 20 random 90/10 splits, one hidden layer of 50 ReLU units, dropout on the input and the
   hidden layer, weight decay from the prior length-scale, test RMSE and test log-likelihood
   (mean and standard error over splits), MC dropout against the same network without dropout.
4. ``smoke``: wall time of the whole solution notebook in smoke mode (target < 90 s on a 2-core CPU).

Notebook code is executed from the solution notebook itself, so the numbers measure what students
run. Usage::

    COURSE_DATA_DIR=../shared/data python benchmarks/lab5.py                 # everything
    COURSE_DATA_DIR=../shared/data python benchmarks/lab5.py --quick         # a CPU check
    python benchmarks/lab5.py --only diabetes toy --seeds 3
    python benchmarks/lab5.py --only classify --set N_TRAIN=20000 EPOCHS=3 M=2   # reduced full run
    python benchmarks/lab5.py --only classify --seeds 2 --set M=2   # two seeds, a smaller ensemble

``--quick`` runs the classification part in smoke mode, the toy for one seed and the diabetes
benchmark with 100 epochs instead of 400; every number is printed with the budget it used.
``--seeds`` sets the number of seeds of the toy (default 5) and of the classification (default 1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the grader's run_solution times the smoke run
NOTEBOOK = ROOT / "solutions" / "lab5_uncertainty" / "lab5_uncertainty.ipynb"
PARTS = ("classify", "toy", "diabetes", "smoke")


def notebook_cells() -> list[str]:
    """The code cells of the solution notebook, with IPython magics turned into Python."""
    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    return [transform(c.source) for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code"]


def run_cells(mode: str, until: str | None = None, seed: int | None = None,
              overrides: dict[str, str] | None = None) -> dict:
    """Execute the notebook's code cells in this process, up to the first cell containing ``until``.

    ``overrides`` replaces top-level lines ``NAME = ...`` (budgets, ``DROPOUT``) by ``NAME = value``.
    """
    import re

    import matplotlib

    matplotlib.use("Agg")
    os.environ["COURSE_MODE"] = mode
    namespace: dict = {"__name__": "__lab5__"}
    for source in notebook_cells():
        if seed is not None:
            for old in ("setup(seed=5)", "make_toy_data(400, seed=5)", "np.random.default_rng(5)"):
                source = source.replace(old, old.replace("5)", f"{seed})"))
        for name, value in (overrides or {}).items():
            source = re.sub(rf"^{name} = .*$", f"{name} = {value}", source, flags=re.M)
        exec(compile(source, "<lab5>", "exec"), namespace)
        if until is not None and until in source:
            break
    return namespace


def bench_classify(mode: str, overrides: dict[str, str], seed: int) -> dict:
    start = time.time()
    ns = run_cells(mode, seed=seed, overrides=overrides)
    rotated = f"rotated {ns['ROTATION']}°"
    methods = {"plain": "plain", "dropout_off": "dropout off", "mc_dropout": "mc"}
    return {
        "mode": mode + (" (reduced)" if overrides else ""), "seed": seed,
        "budgets": {k: ns[k] for k in ("N_TRAIN", "EPOCHS", "N_EVAL", "T", "M")},
        "auroc_mnist_vs_fashion": {k: round(v, 4) for k, v in ns["AUROC"].items()},
        "ece_mnist": {k: round(ns["ECE"][(m, "MNIST")], 4) for k, m in methods.items()},
        "ece_rotated": {k: round(ns["ECE"][(m, rotated)], 4) for k, m in methods.items()},
        "seconds": round(time.time() - start, 1),
    }


def bench_toy(mode: str, seeds: list[int]) -> dict:
    import numpy as np

    gap, far = [], []
    for seed in seeds:
        ns = run_cells(mode, until="GAP_RATIO =", seed=seed)
        gap.append(ns["GAP_RATIO"])
        far.append(ns["FAR_RATIO"])
        print(f"  toy seed {seed}: gap ratio {gap[-1]:.2f}, far ratio {far[-1]:.2f}", flush=True)
    return {"mode": mode, "seeds": seeds, "gap_ratio": [round(g, 2) for g in gap],
            "gap_ratio_mean": round(float(np.mean(gap)), 2), "far_ratio_mean": round(float(np.mean(far)), 2)}


def _mlp(features: int, dropout: float, reg: float):
    import keras

    l2 = keras.regularizers.l2(reg)
    return keras.Sequential([
        keras.Input(shape=(features,)),
        keras.layers.Dropout(dropout),
        keras.layers.Dense(50, activation="relu", kernel_regularizer=l2),
        keras.layers.Dropout(dropout),
        keras.layers.Dense(1, kernel_regularizer=l2),
    ])


def _fit(model, x, y, epochs: int, batch: int = 32, seed: int = 0):
    import tensorflow as tf

    optimizer = tf.keras.optimizers.Adam(1e-3)
    x, y = tf.constant(x, tf.float32), tf.constant(y, tf.float32)
    n = x.shape[0]

    @tf.function
    def train():
        for _ in tf.range(epochs):
            order = tf.random.shuffle(tf.range(n), seed=seed)
            for i in tf.range(0, n, batch):
                idx = order[i:i + batch]
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(tf.square(tf.gather(y, idx) - model(tf.gather(x, idx), training=True)))
                    loss += tf.add_n(model.losses)
                grads = tape.gradient(loss, model.trainable_variables)
                optimizer.apply_gradients(zip(grads, model.trainable_variables))

    train()
    return model


def _mc_draws(model, x, passes: int):
    """(passes, N) predictions with dropout on: one call on ``passes`` stacked copies of ``x``
    (every row draws its own dropout mask, so this equals ``passes`` separate passes)."""
    import numpy as np

    return model(np.tile(x, (passes, 1)), training=True).numpy().reshape(passes, len(x))


def _log_lik(draws, y, tau: float):
    """Per-point log of the MC predictive density: a mixture of Gaussians of precision tau at the draws."""
    import numpy as np
    from scipy.special import logsumexp

    return (logsumexp(-0.5 * tau * (y[None] - draws) ** 2, axis=0) - np.log(len(draws))
            - 0.5 * np.log(2 * np.pi) + 0.5 * np.log(tau))


def bench_diabetes(epochs: int, splits: int = 20, passes: int = 1000, dropout: float = 0.05,
                   lengthscale: float = 1e-2) -> dict:
    """Gal and Ghahramani's UCI protocol on the diabetes data (442 patients, 10 features)."""
    import keras
    import numpy as np
    from sklearn.datasets import load_diabetes

    x_all, y_all = load_diabetes(return_X_y=True)
    taus = np.logspace(-1.5, 1.5, 61)  # candidate precisions, in units of the normalised target
    results = {"mc_dropout": {"rmse": [], "ll": []}, "plain": {"rmse": [], "ll": []}, "linear": {"rmse": []}}
    for split in range(splits):
        keras.utils.set_random_seed(split)
        order = np.random.default_rng(split).permutation(len(x_all))
        n_test = int(round(0.1 * len(x_all)))
        test, train = order[:n_test], order[n_test:]
        n_val = int(round(0.2 * len(train)))   # held out of the training split to pick the noise level
        val, fit = train[:n_val], train[n_val:]
        x_mean, x_std = x_all[fit].mean(0), x_all[fit].std(0)
        y_mean, y_std = y_all[fit].mean(), y_all[fit].std()
        xf, xv, xt = (((x_all[part] - x_mean) / x_std).astype(np.float32) for part in (fit, val, test))
        yf = ((y_all[fit] - y_mean) / y_std).astype(np.float32)[:, None]
        yv, yt = y_all[val], y_all[test]

        # Linear least squares on the same split, as a reference point.
        design = np.c_[xf, np.ones(len(xf))]
        coef = np.linalg.lstsq(design, yf[:, 0], rcond=None)[0]
        linear = np.c_[xt, np.ones(len(xt))] @ coef * y_std + y_mean
        results["linear"]["rmse"].append(float(np.sqrt(np.mean((yt - linear) ** 2))))

        for name, p in (("mc_dropout", dropout), ("plain", 0.0)):
            reg = lengthscale**2 * (1 - p) / (2 * len(xf))
            model = _mlp(xf.shape[1], p, reg)
            _fit(model, xf, yf, epochs, seed=split)
            if p > 0:
                val_draws = _mc_draws(model, xv, passes) * y_std + y_mean
                test_draws = _mc_draws(model, xt, passes) * y_std + y_mean
                # A precision tau in normalised units is tau / y_std^2 in the target's units.
                best = max(taus, key=lambda t: _log_lik(val_draws, yv, t / y_std**2).mean())  # noqa: B023
                prediction = test_draws.mean(0)
                ll = _log_lik(test_draws, yt, best / y_std**2).mean()
            else:
                val_pred = model(xv).numpy()[:, 0] * y_std + y_mean
                prediction = model(xt).numpy()[:, 0] * y_std + y_mean
                var = np.mean((yv - val_pred) ** 2)
                ll = np.mean(-0.5 * np.log(2 * np.pi * var) - 0.5 * (yt - prediction) ** 2 / var)
            results[name]["rmse"].append(float(np.sqrt(np.mean((yt - prediction) ** 2))))
            results[name]["ll"].append(float(ll))
        print(f"  diabetes split {split + 1}/{splits}: RMSE MC {results['mc_dropout']['rmse'][-1]:.2f}, "
              f"plain {results['plain']['rmse'][-1]:.2f}, linear {results['linear']['rmse'][-1]:.2f}", flush=True)

    def summary(values):
        values = np.asarray(values)
        stderr = values.std(ddof=1) / np.sqrt(len(values))
        return {"mean": round(float(values.mean()), 3), "stderr": round(float(stderr), 3)}

    return {"epochs": epochs, "splits": splits, "passes": passes, "dropout": dropout,
            **{f"{name}_{metric}": summary(v) for name, r in results.items() for metric, v in r.items()}}


def bench_smoke() -> dict:
    from grader.labs import find_lab
    from grader.release import run_solution

    return {"smoke_wall_s": round(run_solution(find_lab("lab5")), 1), "target_s": 90}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke-mode classification, one toy seed, 100 epochs")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--seeds", type=int, default=None,
                        help="number of seeds: toy (default 5, quick 1) and classification (default 1)")
    parser.add_argument("--epochs", type=int, default=None, help="diabetes epochs (default 400, quick 100)")
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE",
                        help="override notebook settings for a reduced run, e.g. --set N_TRAIN=20000 M=2")
    args = parser.parse_args(argv)
    overrides = dict(item.split("=", 1) for item in args.set)
    if not NOTEBOOK.exists():
        sys.exit(f"missing {NOTEBOOK}")
    report = {}
    for part in args.only:
        print(f"== {part}", flush=True)
        if part == "classify":
            seeds = [5 + 100 * i for i in range(args.seeds or 1)]
            report[part] = [bench_classify("smoke" if args.quick else "full", overrides, seed) for seed in seeds]
        elif part == "toy":
            seeds = args.seeds or (1 if args.quick else 5)
            report[part] = bench_toy("smoke" if args.quick else "full", [5 + 100 * i for i in range(seeds)])
        elif part == "diabetes":
            report[part] = bench_diabetes(args.epochs or (100 if args.quick else 400))
        elif part == "smoke":
            report[part] = bench_smoke()
        print(json.dumps(report[part], indent=1, ensure_ascii=False), flush=True)
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
