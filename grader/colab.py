"""What the instructor's Colab notebook (``grader/grade_in_colab.ipynb``) needs around the grader.

The grader and its dependencies (nbgrader, a newer IPython, ipykernel and jupyter_client) go into their own
virtual environment (:func:`install_grader`), never into the Python that Colab's kernel runs on; that
environment's Python grades (``python -m grader autograde``, as on the command line) and runs the student
kernels. Colab's kernel imports only this module, which needs nothing beyond the standard library: it takes the
class's zip from Colab, runs the grader (:func:`run_grader`), shows the class summary inline and packs the
results into one archive to download. ``python -m grader.colab`` reports the sandbox and the GPU.
"""

from __future__ import annotations

import base64
import glob
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from grader.labs import Lab

LEVEL_NAMES = {"full": "FULL", "namespaces": "PARTIAL", "none": "NONE"}
# Course-directory folders that hold solutions or students' notebooks: never packed into the archive.
PRIVATE = {"source", "release", "submitted", "autograded", "results", ".exchange"}


def ensure_bubblewrap() -> str:
    """Install bubblewrap with apt-get when it is missing and we are root (Colab); say what happened."""
    if shutil.which("bwrap"):
        return "bubblewrap: installed"
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "bubblewrap: missing, and it cannot be installed here (needs root and apt-get)"
    subprocess.run(["apt-get", "update", "-qq"], capture_output=True, check=False)
    install = subprocess.run(["apt-get", "install", "-y", "-qq", "bubblewrap"], capture_output=True, text=True,
                             check=False)
    if shutil.which("bwrap"):
        return "bubblewrap: installed with apt-get"
    return f"bubblewrap: apt-get install failed: {install.stderr.strip()[-500:]}"


def isolation_report(level: str | None = None) -> str:
    """What isolation grading gets here (``sandbox.detect_isolation``), with the sandbox's warning when not full."""
    from grader import sandbox

    level = level or sandbox.detect_isolation()
    if level == "full":
        return ("Isolation: FULL. Each student kernel runs in its own namespaces under a dedicated unprivileged "
                "user, without network, seeing only Python, course_utils and the data.")
    banner = "!" * 78
    return f"{banner}\nIsolation: {LEVEL_NAMES[level]}.\n{sandbox.ISOLATION_WARNING[level]}\n{banner}"


def gpu_names() -> list[str]:
    """The GPUs ``nvidia-smi`` lists, by name (empty without a driver)."""
    if not shutil.which("nvidia-smi"):
        return []
    listed = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                            text=True, check=False)
    return [line.strip() for line in listed.stdout.splitlines() if line.strip()] if listed.returncode == 0 else []


def gpu_report() -> str:
    """Which GPU the student kernels get (the sandbox passes ``/dev/nvidia*`` through), or that there is none."""
    names, devices = gpu_names(), sorted(glob.glob("/dev/nvidia*"))
    if names:
        return (f"GPU: {', '.join(names)}. Passed through to every student kernel ({len(devices)} device files "
                "/dev/nvidia*); TensorFlow allocates its memory as it grows, so kernels share it.")
    return ("GPU: none. Grading runs on the CPU (in Colab: Runtime > Change runtime type > GPU, then run the "
            "notebook again).")


def install_grader(checkout: Path, venv: Path, extras: str = "dev") -> Path:
    """Install ``checkout`` (the course repository, editable, with ``extras``) into the virtual environment
    ``venv``, created if missing, with the checkout on its path (for ``python -m grader``); return its Python.

    The environment sees the running Python's packages (in Colab: TensorFlow with its GPU, NumPy) after its own, so
    pip adds only what the grader needs beyond them, and whatever it upgrades lands in ``venv``: pip does not
    uninstall a package outside the environment. The running Python must be a system Python (as Colab's is),
    not a virtual environment, whose packages a new environment would not see.
    """
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--root-user-action=ignore", "-e",
                    f"{checkout}[{extras}]" if extras else str(checkout)], check=True)
    # The package is course_utils only; the grader is imported from the checkout, wherever the grading runs.
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "course_grader.pth").write_text(f"{Path(checkout).resolve()}\n")
    return python


def run_grader(python: Path, *args: str) -> None:
    """Run ``python -m <args>`` (for example ``grader autograde lab1 ...``), showing its output in the notebook as
    it comes (progress bars included); a failure raises ``CalledProcessError``."""
    process = subprocess.Popen([str(python), "-m", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        while chunk := os.read(process.stdout.fileno(), 4096):
            sys.stdout.write(chunk.decode(errors="replace"))
            sys.stdout.flush()
    finally:  # an interrupt reaches the grader too (it keeps what it graded): wait for it to stop
        process.wait()
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, [str(python), "-m", *args])


def receive_submissions(folder: Path, drive_path: str = "", mount_point: str = "/content/drive") -> Path:
    """The class's submissions: ``drive_path`` in Google Drive (mounted first), or a zip uploaded with
    Colab's upload widget and saved in ``folder``. Returns the zip or folder to grade."""
    if drive_path:
        from google.colab import drive

        drive.mount(mount_point)
        path = Path(drive_path)
        if not path.exists():
            raise FileNotFoundError(f"{path} is not in your Drive (mounted at {mount_point})")
        return path
    from google.colab import files

    uploaded = files.upload()
    if len(uploaded) != 1 or not next(iter(uploaded)).lower().endswith(".zip"):
        raise ValueError(f"upload one .zip, as the LMS exports it (got {sorted(uploaded) or 'nothing'})")
    name, data = next(iter(uploaded.items()))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / Path(name).name
    path.write_bytes(data)
    return path


def summary_html(course: Path, lab: Lab) -> str:
    """The class summary (``report/<lab>/report.html``) with its images inlined, to display in a notebook."""
    folder = course / "report" / lab.name
    page = (folder / "report.html").read_text()
    for image in folder.glob("*.png"):
        encoded = base64.b64encode(image.read_bytes()).decode()
        page = page.replace(f'src="{image.name}"', f'src="data:image/png;base64,{encoded}"')
    return page


def results_archive(course: Path, lab: Lab, target: Path) -> Path:
    """Zip what the instructor takes home into ``target/<lab>_results.zip``: every CSV of the course
    folder (grades.csv, checks.csv, LMS exports), every ``exports`` folder, ``feedback/`` and ``report/``.
    Never the solution (``source/``), the students' notebooks or the gradebook."""
    target.mkdir(parents=True, exist_ok=True)
    archive = target / f"{lab.name}_results.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as packed:
        for path in sorted(p for p in course.rglob("*") if p.is_file() and p != archive):
            parts = path.relative_to(course).parts
            if parts[0] in PRIVATE:
                continue
            if parts[0] in ("feedback", "report") or "exports" in parts[:-1] or path.suffix == ".csv":
                packed.write(path, Path(*parts).as_posix())
    return archive


def main() -> int:
    """Print what grading gets here: bubblewrap (installed if it can be), the isolation level and the GPU."""
    print(ensure_bubblewrap())
    print(isolation_report())
    print(gpu_report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
