"""Start a student's Jupyter kernel inside a sandbox.

Isolation levels, chosen by :func:`detect_isolation` and reported loudly when
anything less than ``"full"``:

``full``
    bubblewrap (mount, PID, network, IPC and UTS namespaces) started as root,
    then a dedicated unprivileged uid per worker slot: the kernel sees only the
    Python installation, system libraries, ``course_utils``, read-only data
    and its own scratch folder; no network; rlimits on processes, open files,
    file size and CPU time.
``namespaces``
    bubblewrap as an ordinary user (user namespace): the same file-system and
    network isolation, but the kernel keeps the grader's uid, so the process
    limit counts the grader's processes too.
``none``
    no bubblewrap (macOS, some containers): the kernel runs as a child with
    rlimits and its own scratch folder as working directory, but it can read
    whatever the grader's user can and can use the network.

In every level a monitor kills the kernel when its memory or the scratch
folder's size passes the limits (:class:`Limits`).
"""

from __future__ import annotations

import glob
import os
import resource
import shutil
import site
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

LEVELS = ("full", "namespaces", "none")
SANDBOX_UID_BASE = 61000
INSIDE = Path("/sandbox")  # where the scratch folder appears inside bubblewrap


def inside_path(scratch: Path, level: str) -> Path:
    """The scratch folder as the kernel sees it."""
    return scratch if level == "none" else INSIDE


@dataclass(frozen=True)
class Limits:
    """Resource limits of one student kernel (sizes in MiB, times in seconds)."""

    memory_mb: int = 4096
    cpu_seconds: int = 1200
    processes: int = 512  # threads count too: TensorFlow starts dozens
    open_files: int = 1024
    file_size_mb: int = 256
    disk_mb: int = 1024
    output_mb: float = 4.0
    cell_seconds: float = 300.0
    notebook_seconds: float = 900.0


def _bwrap_works(extra: list[str]) -> bool:
    if shutil.which("bwrap") is None:
        return False
    probe = ["bwrap", "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", *extra, "--", "true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def detect_isolation() -> str:
    """The strongest isolation level this machine supports (see the module docstring)."""
    if sys.platform != "linux" or shutil.which("bwrap") is None:
        return "none"
    if os.geteuid() == 0 and shutil.which("setpriv") and _bwrap_works([]):
        return "full"
    if _bwrap_works(["--unshare-user"]):
        return "namespaces"
    return "none"


ISOLATION_WARNING = {
    "namespaces": ("WARNING: grading without a dedicated user (the grader is not root): student kernels are "
                   "isolated from files and the network, but their process limit is shared with yours."),
    "none": ("WARNING: NO SANDBOX. bubblewrap is not available here, so student code can read your files and "
             "use the network; only resource limits apply. Grade untrusted submissions on a Linux machine "
             "with bubblewrap installed (apt-get install bubblewrap), as root for full isolation."),
}


def readable_roots() -> list[Path]:
    """Folders the kernel must read: the Python installation(s) and site-packages, course_utils."""
    import course_utils

    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
             Path(sysconfig.get_paths()["purelib"]), Path(sysconfig.get_paths()["platlib"]),
             Path(course_utils.__file__).resolve().parent}
    roots.update(Path(p) for p in site.getsitepackages() if Path(p).exists())
    roots.update(Path(p).resolve() for p in list(roots))
    # Keep the outermost folders only.
    ordered = sorted(roots, key=lambda p: len(p.parts))
    return [p for i, p in enumerate(ordered) if not any(p.is_relative_to(q) for q in ordered[:i])]


def _bind_args(flag: str, path: Path) -> list[str]:
    return [flag, str(path), str(path)] if path.exists() else []


def kernel_argv(connection_file: Path, scratch: Path, level: str, slot: int,
                data_dirs: list[Path]) -> list[str]:
    """The command that starts an IPython kernel for ``connection_file`` at the given isolation level.

    ``scratch`` (seen inside as ``/sandbox``) holds the kernel's home, working directory
    and /tmp; ``data_dirs`` are
    bound read-only (dataset folders); everything else of the host is invisible.
    """
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", str(connection_file)]
    if level == "none":
        return kernel
    argv = ["bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
            "--unshare-ipc", "--unshare-uts", "--hostname", "sandbox",
            "--dev", "/dev", "--proc", "/proc",
            # /tmp first: folders bound later (a checkout or data under /tmp) stay visible on top of it.
            "--bind", str(scratch / "tmp"), "/tmp"]
    for system in ("/usr", "/etc/alternatives", "/etc/ssl", "/etc/fonts", "/etc/ld.so.cache",
                   "/etc/localtime", "/etc/matplotlibrc"):
        argv += _bind_args("--ro-bind", Path(system))
    for name in ("lib", "lib64", "bin", "sbin", "lib32"):
        target = Path("/") / name
        if target.is_symlink():
            argv += ["--symlink", os.readlink(target), str(target)]
        else:
            argv += _bind_args("--ro-bind", target)
    parents: set[Path] = set()
    for root in readable_roots() + [p.resolve() for p in data_dirs]:
        for parent in reversed(root.parents):
            if parent != Path("/") and parent not in parents and not str(parent).startswith("/usr"):
                parents.add(parent)
                argv += ["--perms", "0755", "--dir", str(parent)]
        argv += _bind_args("--ro-bind", root)
    for device in sorted(glob.glob("/dev/nvidia*")):  # pass a GPU through when there is one
        argv += ["--dev-bind", device, device]
    argv += _bind_args("--ro-bind", Path("/proc/driver/nvidia"))
    argv += ["--bind", str(scratch), str(INSIDE),
             "--bind", str(scratch / "shm"), "/dev/shm",  # counted by the disk watchdog, unlike a tmpfs
             "--ro-bind", str(scratch / "etc" / "passwd"), "/etc/passwd",
             "--ro-bind", str(scratch / "etc" / "group"), "/etc/group",
             "--chdir", str(INSIDE / "work")]
    if level == "full":
        uid = str(SANDBOX_UID_BASE + slot)
        argv += ["--cap-add", "CAP_SETUID,CAP_SETGID", "--", "setpriv", "--reuid", uid, "--regid", uid,
                 "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
    else:
        argv += ["--unshare-user", "--"]
    return argv + kernel


def prepare_scratch(scratch: Path, level: str, slot: int) -> None:
    """Create the scratch folder: ``work``, ``tmp``, ``home`` and ``ipc`` owned by the sandbox user,
    and a read-only ``etc`` with a one-user passwd file (libraries ask who they run as)."""
    uid = SANDBOX_UID_BASE + slot if level == "full" else os.getuid()
    gid = SANDBOX_UID_BASE + slot if level == "full" else os.getgid()
    scratch.mkdir(parents=True, exist_ok=True)
    os.chmod(scratch, 0o755)
    for sub in ("work", "tmp", "shm", "home", "ipc"):
        (scratch / sub).mkdir(exist_ok=True)
        if level == "full":
            os.chown(scratch / sub, uid, gid)
    (scratch / "etc").mkdir(exist_ok=True)
    (scratch / "etc" / "passwd").write_text(f"student:x:{uid}:{gid}:student:{scratch / 'home'}:/bin/sh\n")
    (scratch / "etc" / "group").write_text(f"student:x:{gid}:\n")


def kernel_env(scratch: Path, level: str, extra: dict[str, str]) -> dict[str, str]:
    """A clean environment for the kernel: nothing of the grader's leaks in."""
    scratch = inside_path(scratch, level)
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(scratch / "home"),
        "TMPDIR": str(scratch / "tmp"),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "MPLCONFIGDIR": str(scratch / "home" / ".matplotlib"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "LANG": "C.UTF-8",
    }
    for passthrough in ("CUDA_VISIBLE_DEVICES", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LD_LIBRARY_PATH"):
        if passthrough in os.environ:
            env[passthrough] = os.environ[passthrough]
    env.update(extra)
    return env


def rlimit_setter(limits: Limits, level: str):
    """A ``preexec_fn`` that applies the rlimits (inherited through bubblewrap by the kernel)."""
    mib = 1024 * 1024

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_mb * mib, limits.file_size_mb * mib))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if level == "full":  # per-uid count: only meaningful for a dedicated uid
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))

    return apply
