"""A server subprocess in its own process group, started and stopped in full.

Stopping sends SIGINT to the group, then SIGTERM, then SIGKILL, each after a
timeout, and finally SIGKILL to any descendant seen while it ran that is still
alive (a process may leave the group with ``setsid``). Output goes to a log
file so a failed start can be explained.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

__all__ = ["ServerProcess", "StartFailed", "free_port", "http_ok"]


class StartFailed(RuntimeError):
    """A server did not become ready."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def http_ok(port: int, path: str = "/health", timeout: float = 2.0) -> bool:
    """Whether ``GET http://127.0.0.1:<port><path>`` answers 200 (no proxies)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


class ServerProcess:
    """One server command line, run as the leader of a new session."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None
        self._seen: dict[tuple[int, float], psutil.Process] = {}

    @property
    def pid(self) -> int:
        """The pid of the started process."""
        if self.popen is None:
            raise StartFailed(f"{self.name} is not started")
        return self.popen.pid

    def start(self) -> None:
        """Start the process; output goes to :attr:`log_path`."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )

    def wait_ready(self, port: int, timeout: float, path: str = "/health") -> float:
        """Wait until ``path`` answers 200; return the seconds it took."""
        started = time.perf_counter()
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.popen is not None and self.popen.poll() is not None:
                raise StartFailed(f"{self.name} exited early: {self.log_tail()}")
            if http_ok(port, path, timeout=1.0):
                return time.perf_counter() - started
            self.remember_descendants()
            time.sleep(0.1)
        raise StartFailed(f"{self.name} not ready after {timeout:.0f} s")

    def remember_descendants(self) -> None:
        """Note the current descendants so :meth:`stop` can reap strays."""
        if self.popen is None:
            return
        try:
            children = psutil.Process(self.popen.pid).children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            with contextlib.suppress(psutil.Error):
                self._seen.setdefault((child.pid, child.create_time()), child)

    def stop(
        self, timeout: float = 10.0, extra: list[psutil.Process] | None = None
    ) -> None:
        """Stop the whole group: SIGINT, SIGTERM, SIGKILL, then strays."""
        if self.popen is None:
            return
        self.remember_descendants()
        for process in extra or []:
            with contextlib.suppress(psutil.Error):
                self._seen.setdefault((process.pid, process.create_time()), process)
        group = self.popen.pid
        for signum, wait in (
            (signal.SIGINT, timeout),
            (signal.SIGTERM, timeout / 2),
            (signal.SIGKILL, timeout / 2),
        ):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signum)
            if self._wait_group(wait):
                break
        for process in self._seen.values():
            with contextlib.suppress(psutil.Error):
                if process.is_running():
                    process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=1)

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def _wait_group(self, timeout: float) -> bool:
        # The leader exiting is not enough: Ray's processes may outlive it.
        popen = self.popen
        if popen is None:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader_gone = popen.poll() is not None
            strays = [p for p in self._seen.values() if _running(p)]
            if leader_gone and not strays and not _group_alive(popen.pid):
                return True
            time.sleep(0.05)
        return False


def _running(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running()) and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _group_alive(group: int) -> bool:
    # Zombies stay in the group until reaped, so they do not count as alive.
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == group and _running(process):
                return True
        except (OSError, psutil.Error):
            continue
    return False
