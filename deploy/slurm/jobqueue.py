"""Grade a lab with workers that dask-jobqueue submits as Slurm jobs (pip install dask-jobqueue).

Run on the login node from the repository root, which every compute node must see (a shared file
system) at the same commit:
    COURSE_DATA_DIR=/shared/data python deploy/slurm/jobqueue.py lab1 SUBMISSIONS COURSE_DIR --jobs 8
Dask (the scheduler here, the workers in the jobs) listens on the node's network unless --interface
(e.g. ib0) or --host (e.g. 127.0.0.1 when the jobs run on this machine) says where.
The client here alone writes the gradebook and reports into COURSE_DIR; each job runs one
single-threaded worker (one sandbox).
"""

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from dask_jobqueue import SLURMCluster  # noqa: E402

from grader import sandbox  # noqa: E402
from grader.grading import grade_lab, print_table  # noqa: E402
from grader.labs import REPO, find_lab  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lab")
    parser.add_argument("submissions", type=Path)
    parser.add_argument("course", type=Path)
    parser.add_argument("--jobs", type=int, default=8, help="Slurm jobs, one worker each")
    parser.add_argument("--gpu", action="store_true", help="workers with one GPU each (--resources GPU=1)")
    parser.add_argument("--memory", default="8GB", help="memory per job (default 8GB)")
    network = parser.add_mutually_exclusive_group()
    network.add_argument("--interface", help="network interface for the scheduler and the workers (e.g. ib0)")
    network.add_argument("--host", help="address the scheduler and the workers listen on (e.g. 127.0.0.1)")
    args = parser.parse_args()
    host = {"host": args.host, "dashboard_address": f"{args.host}:0"} if args.host else {}
    cluster = SLURMCluster(
        cores=1, processes=1, memory=args.memory, walltime="02:00:00", python=sys.executable,
        job_script_prologue=[f"cd {REPO}", f"export PYTHONPATH={REPO}",
                             f"export COURSE_DATA_DIR={os.environ.get('COURSE_DATA_DIR', '')}"],
        job_extra_directives=["--gres=gpu:1"] if args.gpu else [], interface=args.interface, scheduler_options=host,
        worker_extra_args=["--memory-limit", "0", "--no-dashboard", *(["--host", args.host] if args.host else []),
                           *(["--resources", "GPU=1"] if args.gpu else [])])
    cluster.scale(jobs=args.jobs)
    try:
        results = grade_lab(find_lab(args.lab), args.submissions, args.course, workers=0,
                            limits=sandbox.Limits(), scheduler=cluster.scheduler_address)
    finally:
        cluster.close()
    print_table(results)


if __name__ == "__main__":
    main()
