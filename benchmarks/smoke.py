"""What every lab's solution reaches in smoke mode: each public check cell's report and the run's wall time.

Smoke mode trains on a small slice for a few steps, so the models' numbers here are far below full mode's;
they are what the public checks' thresholds for trained models must be set from. Usage::

    COURSE_DATA_DIR=../shared/data python benchmarks/smoke.py            # every lab
    COURSE_DATA_DIR=../shared/data python benchmarks/smoke.py lab1 lab9
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the grader runs the notebooks

from grader.labs import all_labs, find_lab  # noqa: E402
from grader.release import PublicCheckFailed, execute_solution  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("labs", nargs="*", help="lab1 ... (default: every lab)")
    args = parser.parse_args(argv)
    report, failed = {}, 0
    for lab in [find_lab(name) for name in args.labs] or all_labs():
        try:
            outputs, seconds = execute_solution(lab)
        except PublicCheckFailed as error:
            failed += 1
            report[lab.name] = {"failed": str(error)}
        else:
            report[lab.name] = {"wall_s": round(seconds, 1),
                                "checks": {cell: " ".join(text.split()) for cell, text in outputs.items()}}
        print(json.dumps({lab.name: report[lab.name]}, indent=1), flush=True)
    print(json.dumps(report))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
