"""Start a student's Jupyter kernel inside a sandbox.

Isolation levels, chosen by :func:`detect_isolation` and reported loudly when
anything less than ``"full"``:

``full``
    bubblewrap (mount, PID, network, IPC and UTS namespaces) started as root,
    then an unprivileged uid leased for this kernel alone (:func:`sandbox_uid`,
    never shared with another grader run or worker on the machine): the kernel sees only the
    Python installation, system libraries, ``course_utils``, read-only data
    and its own scratch folder; no network; rlimits on processes, open files,
    file size and CPU time.
``namespaces``
    bubblewrap as an ordinary user (user namespace): the same file-system and
    network isolation, but the kernel keeps the grader's uid, so the process
    limit counts the grader's processes too.
``none``
    no bubblewrap, or one that cannot create namespaces (macOS, an unprivileged
    Kubernetes pod, Ubuntu 24.04's AppArmor default for non-root users;
    :func:`isolation` says which): the kernel runs as a child with
    rlimits and its own scratch folder as working directory, but it can read
    whatever the grader's user can and can use the network.

In every level a monitor kills the kernel when its memory or the scratch
folder's size passes the limits (:class:`Limits`).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import glob
import os
import resource
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

LEVELS = ("full", "namespaces", "none")
SANDBOX_UID_BASE = 61000
UID_COUNT = 1000
UID_LOCKS = Path("/run/lock/course-grader-uids")  # one lock file per sandbox uid, shared by every grader here
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


def _bwrap_error(extra: list[str]) -> str | None:
    """None when bubblewrap can create the namespaces, else what it said."""
    probe = ["bwrap", "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", *extra, "--", "true"]
    try:
        run = subprocess.run(probe, capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    return None if run.returncode == 0 else run.stderr.decode("utf-8", "replace").strip() or f"exit {run.returncode}"


# Kernel settings that stop an unprivileged bubblewrap, with what each means.
_USERNS_SWITCHES = (
    ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1",
     "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1, the Ubuntu "
     "24.04 default): grade as root, or give bwrap an AppArmor profile that allows userns"),
    ("/proc/sys/kernel/unprivileged_userns_clone", "0",
     "unprivileged user namespaces are switched off (kernel.unprivileged_userns_clone=0)"),
    ("/proc/sys/user/max_user_namespaces", "0", "user namespaces are switched off (user.max_user_namespaces=0)"),
)


def _why_no_namespaces(error: str) -> str:
    """Explain a failed bubblewrap probe from the kernel's switches and the container, if any."""
    causes = []
    for path, blocking, meaning in _USERNS_SWITCHES:
        try:
            if Path(path).read_text().strip() == blocking:
                causes.append(meaning)
        except OSError:
            continue
    if os.environ.get("KUBERNETES_SERVICE_HOST") or Path("/var/run/secrets/kubernetes.io").exists():
        causes.append("this is a Kubernetes pod: its seccomp profile and missing CAP_SYS_ADMIN forbid new "
                      "namespaces, so the pod itself must isolate the grader (deploy/kubernetes/README.md)")
    elif Path("/.dockerenv").exists() or Path("/run/.containerenv").exists():
        causes.append("this is a container whose seccomp profile or capabilities forbid new namespaces")
    return f"bubblewrap is installed but cannot create namespaces ({error.splitlines()[0][:200]}): " + (
        "; ".join(causes) or "no known switch explains it")


@functools.cache
def isolation() -> tuple[str, str]:
    """The strongest isolation level this machine supports and, when it is not ``full``, why (cached)."""
    if sys.platform != "linux":
        return "none", f"bubblewrap needs Linux, this is {sys.platform}"
    if shutil.which("bwrap") is None:
        return "none", "bubblewrap is not installed (apt-get install bubblewrap)"
    as_root = os.geteuid() == 0 and shutil.which("setpriv") is not None
    if as_root and _bwrap_error([]) is None:
        return "full", ""
    error = _bwrap_error(["--unshare-user"])
    if error is None:
        return "namespaces", "the grader does not run as root, so there is no dedicated sandbox user"
    return "none", _why_no_namespaces(error)


def detect_isolation() -> str:
    """The strongest isolation level this machine supports (see the module docstring)."""
    return isolation()[0]


@contextlib.contextmanager
def sandbox_uid(lock_dir: Path = UID_LOCKS, first: int = SANDBOX_UID_BASE, count: int = UID_COUNT) -> Iterator[int]:
    """Lease an unprivileged uid that no other sandbox on this machine uses while the context lasts.

    Each uid has a lock file in ``lock_dir`` (system-wide); the lease is an exclusive ``flock`` on it,
    which the operating system drops when the holder exits, even when it is killed. So two grader runs,
    or several Dask workers on one host, never share a uid and with it a process limit. Before the lease
    ends, every process still running as the uid (a fork bomb's children outlive their kernel for a
    moment) is killed and waited for, so the next kernel starts with its whole process limit.
    """
    lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for uid in range(first, first + count):
        handle = open(lock_dir / f"{uid}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield uid
        finally:
            _end_processes_of(uid)
            handle.close()
        return
    raise RuntimeError(f"all {count} sandbox uids from {first} are in use (locks in {lock_dir})")


def _processes_of(uid: int) -> list[int]:
    """Process ids whose real uid is ``uid``."""
    return [process.info["pid"] for process in psutil.process_iter(["pid", "uids"])
            if process.info["uids"] is not None and process.info["uids"].real == uid]


def _end_processes_of(uid: int, patience: float = 20.0) -> None:
    """Kill every process running as ``uid`` and wait (up to ``patience`` seconds) until none is left."""
    deadline = time.monotonic() + patience
    while (pids := _processes_of(uid)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


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


def kernel_argv(connection_file: Path, scratch: Path, level: str, uid: int,
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
        argv += ["--cap-add", "CAP_SETUID,CAP_SETGID", "--", "setpriv", "--reuid", str(uid), "--regid", str(uid),
                 "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
    else:
        argv += ["--unshare-user", "--"]
    return argv + kernel


def prepare_scratch(scratch: Path, level: str, uid: int) -> None:
    """Create the scratch folder: ``work``, ``tmp``, ``home`` and ``ipc`` owned by the sandbox user ``uid``
    (its group has the same number; ignored below ``full``), a read-only ``etc`` with a one-user passwd
    file (libraries ask who they run as) and a read-only ``requests`` for the checks' inputs."""
    uid, gid = (uid, uid) if level == "full" else (os.getuid(), os.getgid())
    scratch.mkdir(parents=True, exist_ok=True)
    os.chmod(scratch, 0o755)
    for sub in ("work", "tmp", "shm", "home", "ipc"):
        (scratch / sub).mkdir(exist_ok=True)
        if level == "full":
            os.chown(scratch / sub, uid, gid)
    for sub in ("etc", "requests"):
        (scratch / sub).mkdir(exist_ok=True)
        os.chmod(scratch / sub, 0o755)
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
