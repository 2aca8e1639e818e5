"""What the instructor's Colab notebook (``grader/grade_in_colab.ipynb``) needs around the grader.

The notebook grades with the same :func:`grader.__main__.grade_lab` as the command line; this module only
installs and reports the sandbox, names the GPU, takes the class's zip from Colab, shows the class
summary inline and packs the results into one archive to download.
"""

from __future__ import annotations

import base64
import glob
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

from grader import sandbox
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
