"""Measure Lab 7's targets (music generation with an LSTM) and print them as JSON lines.

1. ``model``: the solution notebook's cells up to the training, in full mode, for each seed: the
   LSTM's validation cross-entropy (nats/char, held-out tunes, split by tune) against a unigram model
   and character n-gram models with add-k smoothing measured in the same run (n and k picked on the
   validation text, which favours the baselines). Target: the LSTM beats the best n-gram.
   Then 100 tunes sampled at temperature 1.0 with the notebook's ``generate_text``: the share that are
   valid ABC (header X, T, M, K and the course parser accepts them; and, separately, that ``abc2midi``
   turns into MIDI, when it is installed) and the share that copy a training tune (a shared run of
   more than 60 characters). Targets: at least 80% valid, under 5% copies.
2. ``smoke``: wall time of the whole solution notebook in smoke mode in a kernel (target < 90 s).

Usage::

    COURSE_DATA_DIR=../shared/data python benchmarks/lab7.py --seeds 3 --save /tmp/lab7_tunes
    COURSE_DATA_DIR=../shared/data python benchmarks/lab7.py --only model --set STEPS=500   # reduced run
    python benchmarks/lab7.py --only smoke
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the grader's run_solution times the smoke run
NOTEBOOK = ROOT / "solutions" / "lab7_music" / "lab7_music.ipynb"
PARTS = ("model", "smoke")
N_TUNES = 100
COPY_LENGTH = 60
START = "X:1\nT:"


def notebook_cells() -> list[tuple[str, str]]:
    """(grade_id, code) of the solution notebook's code cells, IPython magics turned into Python."""
    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    return [(c.metadata.get("nbgrader", {}).get("grade_id", ""), transform(c.source))
            for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code"]


def run_cells(until: str, seed: int, overrides: dict[str, str]) -> dict:
    """Execute the code cells in full mode in this process, up to and including the cell ``until``.

    The training uses ``seed``; ``overrides`` replaces top-level lines ``NAME = ...`` (budgets).
    """
    import matplotlib

    matplotlib.use("Agg")
    os.environ["COURSE_MODE"] = "full"
    namespace: dict = {"__name__": "__lab7__"}
    for grade_id, source in notebook_cells():
        source = source.replace("model, plot = train()", f"model, plot = train(seed={seed})")
        for name, value in overrides.items():
            source = re.sub(rf"^{name} = .*$", f"{name} = {value}", source, flags=re.M)
        exec(compile(source, f"<lab7 {grade_id}>", "exec"), namespace)
        if grade_id == until:
            break
    return namespace


def ngram_counts(train: str, n: int) -> dict[str, Counter]:
    """How often each character follows each context of n-1 characters (shorter at the start) in train."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for i in range(len(train)):
        counts[train[max(0, i - n + 1):i]][train[i]] += 1
    return counts


def ngram_loss(counts: dict[str, Counter], val: str, n: int, k: float, vocab_size: int) -> float:
    """Cross-entropy (nats/char) of val[1:] under an order-n character model with add-k smoothing."""
    totals = {context: sum(c.values()) for context, c in counts.items()}
    total = 0.0
    for i in range(1, len(val)):
        context = val[max(0, i - n + 1):i]
        seen = counts.get(context)
        numerator = (seen[val[i]] if seen else 0) + k
        total -= math.log(numerator / (totals.get(context, 0) + k * vocab_size))
    return total / (len(val) - 1)


SMOOTHING = (0.01, 0.03, 0.1, 0.3, 1.0)


def baselines(train: str, val: str, vocab_size: int) -> dict:
    """Unigram and the best add-k n-gram (n = 2..8, k in SMOOTHING) on the validation text."""
    grid = {}
    for n in range(1, 9):
        counts = ngram_counts(train, n)
        grid.update({(n, k): ngram_loss(counts, val, n, k, vocab_size) for k in SMOOTHING})
    best_n, best_k = min(((n, k) for n, k in grid if n > 1), key=grid.get)
    by_n = {n: round(min(grid[(n, k)] for k in SMOOTHING), 4) for n in range(1, 9)}
    return {"unigram": by_n[1], "best_ngram": round(grid[(best_n, best_k)], 4), "best_n": best_n, "best_k": best_k,
            "ngram_by_n": by_n}


def first_tune(text: str, separator: str) -> str | None:
    """The first complete tune of a generated text (up to its blank line), or None."""
    end = text.find(separator)
    return text[:end].strip() if end > 0 else None


def judge_tunes(tunes: list[str | None], train_text: str) -> dict:
    """Validity (course parser, abc2midi) and copies (shared run > COPY_LENGTH characters) of sampled tunes."""
    from course_utils import music

    have_abc2midi = shutil.which("abc2midi") is not None
    valid = parsed = converted = copies = 0
    shared_lengths = []
    with tempfile.TemporaryDirectory() as folder:
        for tune in tunes:
            if tune is None:
                continue
            ok_parser = music.is_valid_abc(tune)
            ok_midi = True
            if have_abc2midi:
                try:
                    music.abc_to_midi(tune, Path(folder) / "tune.mid")
                except music.ABCError:
                    ok_midi = False
            parsed += ok_parser
            converted += ok_midi and have_abc2midi
            valid += ok_parser and ok_midi
            shared = music.longest_common_substring(tune, train_text)
            shared_lengths.append(shared)
            copies += shared > COPY_LENGTH
    n = len(tunes)
    return {"tunes": n, "complete": sum(t is not None for t in tunes), "valid": valid / n,
            "valid_parser": parsed / n, "valid_abc2midi": converted / n if have_abc2midi else None,
            "copies": copies / n, "median_shared_run": sorted(shared_lengths)[len(shared_lengths) // 2]
            if shared_lengths else None}


def bench_model(seed: int, overrides: dict[str, str], save: Path | None = None) -> dict:
    """Train with ``seed``, compare with the baselines, sample and judge 100 tunes (saved as JSON in ``save``)."""
    start = time.time()
    ns = run_cells("generate", seed, overrides)
    train_seconds = time.time() - start
    report = {"seed": seed, "steps": ns["STEPS"], "rnn_units": ns["RNN_UNITS"], "embedding": ns["EMBEDDING_DIM"],
              "params": ns["model"].count_params(), "train_s": round(train_seconds), "val_chars": len(ns["val_text"]),
              "lstm_val": round(ns["val_loss"], 4)}
    report.update(baselines(ns["train_text"], ns["val_text"], len(ns["vocab"])))
    report["lstm_beats_best_ngram"] = report["lstm_val"] < report["best_ngram"]
    import tensorflow as tf

    fast = tf.function(ns["model"], reduce_retracing=True)
    texts = ns["generate_text"](fast, ns["vocab"], START, 1000, 1.0, seed=seed, n=N_TUNES)
    tunes = [first_tune(t, ns["SEPARATOR"]) for t in texts]
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        (save / f"tunes_seed{seed}.json").write_text(json.dumps(tunes, indent=0))
    report.update(judge_tunes(tunes, ns["train_text"]))
    report["total_s"] = round(time.time() - start)
    return report


def bench_smoke() -> dict:
    from grader.labs import find_lab
    from grader.release import run_solution

    return {"smoke_wall_s": round(run_solution(find_lab("lab7")), 1), "target_s": 90}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--seeds", type=int, default=3, help="number of training seeds (default 3)")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed (default 0)")
    parser.add_argument("--save", type=Path, default=None, help="folder for the sampled tunes (JSON per seed)")
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE",
                        help="override notebook settings for a reduced run, e.g. --set STEPS=500")
    args = parser.parse_args(argv)
    overrides = dict(item.split("=", 1) for item in args.set)
    if not NOTEBOOK.exists():
        sys.exit(f"missing {NOTEBOOK}")
    if "model" in args.only:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            print(json.dumps({"model": bench_model(seed, overrides, args.save)}), flush=True)
    if "smoke" in args.only:
        print(json.dumps({"smoke": bench_smoke()}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
