"""A student's kernel in its sandbox: run cells with limits, answer probes, die cleanly.

:class:`SandboxedKernel` starts ``ipykernel`` through :mod:`grader.sandbox`,
talks to it over ZeroMQ IPC sockets in the scratch folder (they work across
the network namespace), and enforces the wall-time, output, memory and disk
limits from the trusted side. Every way a cell can end is a :class:`CellRun`
status, never an exception that stops the batch.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty

import nbformat
import psutil
from jupyter_client import BlockingKernelClient
from jupyter_client.connect import write_connection_file

from grader import sandbox

MIB = 1024 * 1024


@dataclass
class CellRun:
    """How one cell ended: ``status`` is ok, error, timeout, output_limit or dead."""

    status: str
    outputs: list = field(default_factory=list)
    error_name: str | None = None
    seconds: float = 0.0


def info_key(connection_file: Path) -> bytes:
    return json.loads(connection_file.read_text())["key"].encode()


def ports_of(connection_file: Path) -> dict[str, int]:
    info = json.loads(connection_file.read_text())
    return {name: info[name] for name in ("shell_port", "iopub_port", "stdin_port", "hb_port", "control_port")}


class KernelGone(RuntimeError):
    """The kernel is dead (crashed, killed for a limit, or never started)."""


class SandboxedKernel:
    """One sandboxed IPython kernel with the limits of :class:`grader.sandbox.Limits`.

    ``death_reason`` says why the kernel was killed (``"out of memory"``,
    ``"disk limit"``, ``"timeout"``...) or that it exited by itself. ``uid`` is the
    sandbox user (leased with :func:`grader.sandbox.sandbox_uid`; unused below ``full``).
    """

    def __init__(self, scratch: Path, *, level: str, uid: int, limits: sandbox.Limits,
                 data_dirs: list[Path], env: dict[str, str]):
        self.scratch, self.level, self.uid, self.limits = scratch, level, uid, limits
        self.data_dirs, self.extra_env = data_dirs, env
        self.death_reason: str | None = None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=200)
        self.peak_memory_mb = 0.0
        self._proc: subprocess.Popen | None = None
        self._client: BlockingKernelClient | None = None
        self._stop = threading.Event()

    # -- life cycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 90.0) -> None:
        sandbox.prepare_scratch(self.scratch, self.level, self.uid)
        # The same sockets under two names: the scratch folder as the grader and as the kernel sees it.
        host_file = self.scratch / "ipc" / "host.json"
        info, _ = write_connection_file(str(host_file), transport="ipc", ip=str(self.scratch / "ipc" / "k"))
        inside = sandbox.inside_path(self.scratch, self.level)
        kernel_file = self.scratch / "ipc" / "kernel.json"
        write_connection_file(str(kernel_file), transport="ipc", ip=str(inside / "ipc" / "k"),
                              key=info_key(host_file), **ports_of(host_file))
        os.chmod(kernel_file, 0o644)
        argv = sandbox.kernel_argv(inside / "ipc" / "kernel.json", self.scratch, self.level, self.uid,
                                   self.data_dirs)
        self._proc = subprocess.Popen(
            argv, env=sandbox.kernel_env(self.scratch, self.level, self.extra_env), cwd=self.scratch / "work",
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            preexec_fn=sandbox.rlimit_setter(self.limits, self.level), start_new_session=True,
        )
        threading.Thread(target=self._drain_stderr, args=(self._proc,), daemon=True).start()
        threading.Thread(target=self._monitor, args=(self._proc,), daemon=True).start()
        client = BlockingKernelClient()
        client.load_connection_file(str(host_file))
        client.start_channels()
        self._client = client
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise KernelGone(f"kernel failed to start: {self.describe_death()}")
            try:
                client.wait_for_ready(timeout=2)
                return
            except RuntimeError:
                continue
        self.kill("kernel did not start in time")
        raise KernelGone(f"kernel did not start within {timeout:.0f} s")

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def describe_death(self) -> str:
        if self.death_reason:
            return self.death_reason
        code = self._proc.poll() if self._proc else None
        tail = " ".join(line.strip() for line in list(self.stderr_tail)[-3:])
        if code is not None and code < 0:
            return f"kernel killed by signal {signal.Signals(-code).name}" + (f": {tail}" if tail else "")
        return f"kernel exited with status {code}" + (f": {tail}" if tail else "")

    def kill(self, reason: str | None = None) -> None:
        """Kill the whole sandbox (its process group); keep the first reason given."""
        if reason and not self.death_reason and self.alive:
            self.death_reason = reason
        if self._proc is not None and self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._proc.wait()

    def close(self) -> None:
        self._stop.set()
        if self._client is not None:
            self._client.stop_channels()
        self.kill()

    def restart(self) -> None:
        """Kill this kernel and start a fresh one in an emptied scratch folder (same uid and limits)."""
        if self._client is not None:
            self._client.stop_channels()
            self._client = None
        self.kill()
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.death_reason = None
        self.stderr_tail.clear()
        self.start()

    def interrupt(self) -> None:
        """Ask the kernel to raise KeyboardInterrupt in the running cell (it may ignore it)."""
        if self._client is not None and self.alive:
            self._client.control_channel.send(self._client.session.msg("interrupt_request", {}))

    # -- watchdogs ----------------------------------------------------------------------------
    def _drain_stderr(self, proc: subprocess.Popen) -> None:
        for raw in iter(lambda: proc.stdout.readline(4096), b""):
            if proc is self._proc:
                self.stderr_tail.append(raw.decode("utf-8", "replace"))

    @staticmethod
    def _memory_mb(proc: subprocess.Popen) -> float:
        """Proportional memory of the kernel and its children: pages shared after fork count once."""
        try:
            root = psutil.Process(proc.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0
        for process in processes:
            try:
                with open(f"/proc/{process.pid}/smaps_rollup") as handle:
                    total += next(int(line.split()[1]) * 1024 for line in handle if line.startswith("Pss:"))
            except (OSError, StopIteration, ValueError):
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass
        return total / MIB

    def _disk_mb(self) -> float:
        total = 0
        for folder, _, files in os.walk(self.scratch):
            for name in files:
                try:
                    total += os.lstat(os.path.join(folder, name)).st_blocks * 512
                except OSError:
                    pass
        return total / MIB

    def _monitor(self, proc: subprocess.Popen) -> None:
        """Watch ``proc`` (this kernel's process until a restart) for the memory and disk limits."""
        tick = 0
        while not self._stop.wait(0.2) and proc is self._proc and self.alive:
            memory = self._memory_mb(proc)
            self.peak_memory_mb = max(self.peak_memory_mb, memory)
            if memory > self.limits.memory_mb:
                self.kill(f"out of memory: used more than {self.limits.memory_mb} MiB")
            tick += 1
            if tick % 5 == 0 and self._disk_mb() > self.limits.disk_mb:
                self.kill(f"disk limit: wrote more than {self.limits.disk_mb} MiB")

    # -- running code -------------------------------------------------------------------------
    def run_cell(self, code: str, timeout: float, output_budget: int) -> CellRun:
        """Run one cell; collect its outputs (at most ``output_budget`` bytes are kept)."""
        if not self.alive:
            return CellRun("dead")
        client = self._client
        started = time.monotonic()
        msg_id = client.execute(code, store_history=True, allow_stdin=False, stop_on_error=False)
        run = CellRun("ok")
        kept, interrupted_at = 0, None
        while True:
            now = time.monotonic()
            if interrupted_at is not None and now - interrupted_at > 10:
                self.kill("timeout" if run.status == "timeout" else "output limit")
            if not self.alive:
                run.status = "dead" if run.status == "ok" else run.status
                break
            if interrupted_at is None and now - started > timeout:
                run.status, interrupted_at = "timeout", now
                self.interrupt()
            try:
                msg = client.get_iopub_msg(timeout=0.2)
            except Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "status" and msg["content"]["execution_state"] == "idle":
                break
            if kind == "clear_output":
                run.outputs.clear()
                continue
            if kind not in ("stream", "display_data", "execute_result", "error"):
                continue
            if kind == "error":
                run.error_name = msg["content"].get("ename")
                if run.status == "ok":
                    run.status = "error"
            size = len(str(msg["content"]))
            kept += size
            if kept > output_budget:
                if interrupted_at is None:
                    run.status, interrupted_at = "output_limit", now
                    run.outputs.append(nbformat.v4.new_output(
                        "stream", name="stderr",
                        text=f"[grader: output past {output_budget // 1024} KiB dropped; cell interrupted]\n"))
                    self.interrupt()
                continue
            output = nbformat.v4.output_from_msg(msg)
            previous = run.outputs[-1] if run.outputs else None
            if (kind == "stream" and previous is not None and previous.get("output_type") == "stream"
                    and previous.get("name") == output.get("name")):
                previous["text"] += output["text"]
            else:
                run.outputs.append(output)
        run.seconds = time.monotonic() - started
        return run

    @contextlib.contextmanager
    def shared_file(self, data: bytes):
        """Put ``data`` where the kernel can read it but not change it; yield its path as the kernel sees it.

        Code of any size is slow to send: IPython parses a cell of 8 MB (2,000 MNIST images) for seconds,
        a file of that size is read in milliseconds. The file is removed on exit.
        """
        name = f"{secrets.token_hex(8)}.npz"
        path = self.scratch / "requests" / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            yield str(sandbox.inside_path(self.scratch, self.level) / "requests" / name)
        finally:
            path.unlink(missing_ok=True)

    def evaluate(self, code: str, expression: str, timeout: float, reply_limit: int) -> str:
        """Run ``code`` silently, then return the text repr of ``expression`` (a probe's answer).

        Raises :class:`KernelGone` or :class:`TimeoutError`; output the probe prints is discarded.
        """
        if not self.alive:
            raise KernelGone(self.describe_death())
        client = self._client
        msg_id = client.execute(code, silent=True, store_history=False, allow_stdin=False,
                                user_expressions={"answer": expression})
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive:
                raise KernelGone(self.describe_death())
            if time.monotonic() > deadline:
                self.interrupt()
                raise TimeoutError(f"no answer within {timeout:.0f} s")
            self._discard_iopub()
            try:
                reply = client.get_shell_msg(timeout=0.2)
            except Empty:
                continue
            if reply["parent_header"].get("msg_id") != msg_id:
                continue
            content = reply["content"]
            if content.get("status") != "ok":
                return repr(f'{{"error": "probe failed: {content.get("ename", "error")}"}}')
            answer = content.get("user_expressions", {}).get("answer", {})
            if answer.get("status") != "ok":
                return repr(f'{{"error": "probe failed: {answer.get("ename", "error")}"}}')
            text = answer.get("data", {}).get("text/plain", "")
            if len(text) > reply_limit:
                raise ValueError(f"answer larger than {reply_limit // MIB} MiB")
            return text

    def _discard_iopub(self) -> None:
        while True:
            try:
                self._client.get_iopub_msg(timeout=0)
            except Empty:
                return
