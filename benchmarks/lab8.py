"""Lab 8 benchmark: REINFORCE on CartPole over several seeds, Pong after a stated budget, smoke-mode time.

    python benchmarks/lab8.py cartpole [--seeds 5] [--episodes 1500] [--eval 100]
    python benchmarks/lab8.py compare [--seeds 3] [--episodes 400]
    python benchmarks/lab8.py pong [--games 1000] [--minutes 60] [--eval 20] [--out DIR]
    python benchmarks/lab8.py smoke

``cartpole``: for each seed 0..S-1, the notebook's full-mode recipe (MLP 32, Adam 0.01, gamma 0.99,
normalised returns, one episode per update, stop when the last 20 episodes average 490 or after
``--episodes``), then ``--eval`` evaluation episodes of the trained (sampling) policy; the random
agent over the same number of episodes in the same run. Solved: mean evaluation return >= 475.
``compare``: the notebook's comparison, with and without normalising the returns, seeds 100..100+S-1,
``--episodes`` episodes each and no early stop: mean return over the last 50 episodes and the first episode
whose 10-episode moving average reaches 475, per seed.
``pong``: the random agent's and the untrained CNN's mean score over ``--eval`` games, then the
notebook's Pong training (one game per update, Adam 5e-4) for ``--games`` games or ``--minutes``
minutes, whichever comes first, and the trained agent's mean score over ``--eval`` games; the
training curve goes to ``DIR/pong_curve.png`` and the numbers to ``DIR/pong.json``.
``smoke``: the wall time of the whole solution notebook in smoke mode (a fresh kernel).

The code measured is the solution notebook's own: its definition cells are executed here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # grader.labs runs the notebook's cells; grader.release times the smoke run
NOTEBOOK = ROOT / "solutions" / "lab8_rl" / "lab8_rl.ipynb"
DEFINITIONS = ("imports", "policy_net", "training", "pong_defs")


def cartpole(lab: dict, seeds: int, episodes: int, evaluation: int) -> None:
    import keras

    env = lab["make_env"]("CartPole-v1", seed=1234)
    random_returns = lab["evaluate"](env, lambda observation: int(env.action_space.sample()), evaluation, 500)
    print(f"random agent: mean return {random_returns.mean():.1f} over {evaluation} episodes", flush=True)
    rows = []
    for seed in range(seeds):
        keras.utils.set_random_seed(seed)
        rng = np.random.default_rng(seed)
        env = lab["make_env"]("CartPole-v1", seed=seed)
        model = lab["build_policy"](4, 2)
        start = time.perf_counter()
        history = lab["train_agent"](env, model, keras.optimizers.Adam(0.01), episodes, gamma=0.99,
                                     memory=lab["EpisodeMemory"](500), target=490, live=False, rng=rng)
        seconds = time.perf_counter() - start
        returns = lab["evaluate"](env, lab["make_policy"](model, rng), evaluation, 500)
        rows.append((seed, len(history), int(history.sum()), seconds, returns.mean(), returns.min()))
        print(f"seed {seed}: {len(history)} training episodes ({int(history.sum())} steps, {seconds:.0f} s); "
              f"evaluation over {evaluation} episodes: mean {returns.mean():.1f}, min {returns.min():.0f} "
              f"-> {'solved' if returns.mean() >= 475 else 'not solved'}", flush=True)
    solved = sum(row[4] >= 475 for row in rows)
    print(f"\nCartPole-v1: solved (mean >= 475 over {evaluation} episodes) in {solved} of {seeds} seeds; "
          f"training episodes {[row[1] for row in rows]} (median {np.median([row[1] for row in rows]):.0f}); "
          f"evaluation means {[round(float(row[4]), 1) for row in rows]}; random agent {random_returns.mean():.1f}")


def compare(lab: dict, seeds: int, episodes: int) -> None:
    import keras

    for normalize in (True, False):
        finals, firsts = [], []
        for seed in range(100, 100 + seeds):
            keras.utils.set_random_seed(seed)
            history = lab["train_agent"](lab["make_env"]("CartPole-v1", seed=seed), lab["build_policy"](4, 2),
                                         keras.optimizers.Adam(0.01), episodes, gamma=0.99,
                                         memory=lab["EpisodeMemory"](500), normalize=normalize, live=False,
                                         rng=np.random.default_rng(seed))
            average = np.convolve(history, np.ones(10) / 10, mode="valid")
            finals.append(float(history[-50:].mean()))
            firsts.append(int(np.argmax(average >= 475)) + 10 if np.any(average >= 475) else None)
            print(f"normalize={normalize} seed {seed}: last 50 episodes {finals[-1]:.1f}; moving average >= 475 "
                  f"first at episode {firsts[-1]}", flush=True)
        print(f"{'normalised' if normalize else 'raw':10s} returns: last-50 mean per seed "
              f"{[round(f, 1) for f in finals]}, overall {np.mean(finals):.1f}; reached 475 at {firsts}", flush=True)


def pong(lab: dict, games: int, minutes: float, evaluation: int, out: Path) -> None:
    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    env = lab["make_pong"](seed=0)
    steps = lab["PONG_MAX_STEPS"]
    model = lab["build_pong_cnn"]()
    start = time.perf_counter()
    random_scores = lab["evaluate"](env, lambda observation: int(env.action_space.sample()), evaluation, steps)
    untrained_scores = lab["evaluate"](env, lab["make_policy"](model, rng), evaluation, steps)
    print(f"random agent: {random_scores.mean():.2f} +- {random_scores.std():.2f}; untrained CNN: "
          f"{untrained_scores.mean():.2f} +- {untrained_scores.std():.2f} over {evaluation} games "
          f"({time.perf_counter() - start:.0f} s)", flush=True)
    optimizer, memory = keras.optimizers.Adam(5e-4), lab["EpisodeMemory"](steps, dtype=np.int8)
    history: list[float] = []
    start = time.perf_counter()
    while len(history) < games and time.perf_counter() - start < 60 * minutes:
        chunk = lab["train_agent"](env, model, optimizer, min(10, games - len(history)), gamma=0.99, memory=memory,
                                   ends_at_points=True, live=False, rng=rng)
        history += chunk.tolist()
        print(f"{len(history)} games, {(time.perf_counter() - start) / 60:.1f} min: mean score of the last 10 "
              f"{np.mean(history[-10:]):.2f}", flush=True)
    train_minutes = (time.perf_counter() - start) / 60
    model.save(out / "pong_agent.keras")
    trained_scores = lab["evaluate"](env, lab["make_policy"](model, rng), evaluation, steps)
    result = {"games": len(history), "minutes": train_minutes, "random": random_scores.tolist(),
              "untrained": untrained_scores.tolist(), "trained": trained_scores.tolist(), "curve": history}
    (out / "pong.json").write_text(json.dumps(result))
    print(f"\nPong: after {len(history)} training games ({train_minutes:.0f} min on this machine), mean score over "
          f"{evaluation} games: trained {trained_scores.mean():.2f} +- {trained_scores.std():.2f}, untrained "
          f"{untrained_scores.mean():.2f}, random {random_scores.mean():.2f}")
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(np.arange(1, len(history) + 1), history, ".", alpha=0.4, label="score per training game")
    window = min(20, len(history))
    ax.plot(np.arange(window, len(history) + 1), np.convolve(history, np.ones(window) / window, "valid"),
            label=f"moving average of {window}")
    ax.axhline(random_scores.mean(), color="gray", ls="--", label="random agent")
    ax.set(xlabel="training game", ylabel="score", title="Pong: REINFORCE from pixels")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "pong_curve.png", dpi=100)


def smoke() -> None:
    from grader.labs import find_lab
    from grader.release import run_solution

    os.environ["COURSE_MODE"] = "smoke"
    print(f"solution notebook in smoke mode: {run_solution(find_lab('lab8')):.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=("cartpole", "compare", "pong", "smoke"))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=1500)
    parser.add_argument("--games", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--eval", type=int, default=None, help="evaluation episodes (100 CartPole, 20 Pong)")
    parser.add_argument("--out", type=Path, default=Path("benchmark_lab8"))
    args = parser.parse_args()
    if args.part == "smoke":
        smoke()
        return
    import course_utils
    from grader.labs import solution_namespace

    lab = solution_namespace("lab8_rl", given=DEFINITIONS, course_utils=course_utils)
    if args.part == "cartpole":
        cartpole(lab, args.seeds, args.episodes, args.eval or 100)
    elif args.part == "compare":
        compare(lab, args.seeds, args.episodes)
    else:
        pong(lab, args.games, args.minutes, args.eval or 20, args.out)


if __name__ == "__main__":
    # Set here, not on import: the Lab 8 tests import this module, and these would reach every later test.
    os.environ.setdefault("COURSE_MODE", "full")
    os.environ.setdefault("TQDM_DISABLE", "1")  # numbers, not progress bars, in the log
    main()
