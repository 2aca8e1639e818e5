"""Lab 1 targets: full-mode MNIST MLP test accuracy (>= 97.5%) and smoke-mode wall time (< 90 s).

Usage: python benchmarks/lab1.py [--skip-full]
Runs the solution notebook top to bottom in a real kernel, in each mode, and prints what it measured.
"""

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from grader.labs import find_lab  # noqa: E402


def run(mode: str) -> tuple[float, str]:
    """Execute the Lab 1 solution in ``mode``; return (seconds, all printed text)."""
    os.environ["COURSE_MODE"] = mode
    notebook = nbformat.read(find_lab("lab1").solution, as_version=4)
    with tempfile.TemporaryDirectory() as work:
        started = time.monotonic()
        NotebookClient(notebook, timeout=3600, kernel_name="python3", resources={"metadata": {"path": work}}).execute()
    text = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    return time.monotonic() - started, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-full", action="store_true", help="only time smoke mode")
    args = parser.parse_args()
    seconds, _ = run("smoke")
    print(f"smoke mode: whole solution notebook in {seconds:.1f} s (target < 90 s)")
    if not args.skip_full:
        seconds, text = run("full")
        accuracy = float(re.findall(r"test accuracy: ([0-9.]+)", text)[-1])
        print(f"full mode: MNIST MLP test accuracy {accuracy:.4f} (target >= 0.975), notebook {seconds:.0f} s")


if __name__ == "__main__":
    main()
