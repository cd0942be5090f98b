"""The ``channels`` target: Django Channels with ``channels_redis`` and redis-server.

The benchmark starts its own ``redis-server`` on 127.0.0.1 with persistence
off, then the Django project in :mod:`benchmarks.baselines.channels_app` under
uvicorn (or daphne). Both are server processes and both are measured. The
target is unavailable when redis-server or the Python packages are missing.
uvicorn's WebSocket pings are off, as in the plain baseline: under a saturated
CPU a late pong would close healthy connections.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import socket
import sys
import time
from pathlib import Path

from benchmarks.targets.base import Endpoint
from benchmarks.targets.process import ServerProcess, StartFailed, free_port

__all__ = ["ChannelsTarget"]

_REPO = Path(__file__).resolve().parents[2]
_APP = "benchmarks.baselines.channels_app"
_MODULES = ("django", "channels", "channels_redis", "uvicorn")


def redis_ping(port: int, timeout: float = 1.0) -> bool:
    """Whether a Redis on 127.0.0.1:``port`` answers ``PING``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class ChannelsTarget:
    """redis-server plus one ASGI server process running the Channels app."""

    name = "channels"

    def __init__(self, server: str = "uvicorn") -> None:
        if server not in ("uvicorn", "daphne"):
            raise ValueError(f"unknown channels server {server!r}")
        self.server = server
        self._redis: ServerProcess | None = None
        self._asgi: ServerProcess | None = None

    def unavailable_reason(self) -> str | None:
        """What is missing: redis-server or one of the Python packages."""
        if shutil.which("redis-server") is None:
            return "redis-server not found (apt-get install -y redis-server)"
        needed = (*_MODULES, "daphne") if self.server == "daphne" else _MODULES
        missing = [m for m in needed if importlib.util.find_spec(m) is None]
        if missing:
            return f"python packages missing: {', '.join(missing)}"
        return None

    def start(self, workdir: Path) -> Endpoint:
        """Start redis-server, then the ASGI server; wait for both."""
        redis_port = free_port()
        redis_dir = workdir / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        argv = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        argv += ["--dir", str(redis_dir), "--loglevel", "warning"]
        self._redis = ServerProcess("redis", argv, workdir / "redis.log")
        self._redis.start()
        self._wait_redis(redis_port)

        port = free_port()
        token = secrets.token_urlsafe(16)
        env = dict(os.environ)
        env["DJANGO_SETTINGS_MODULE"] = f"{_APP}.settings"
        env["BENCH_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        env["BENCH_PUBLISH_TOKEN"] = token
        env["PYTHONPATH"] = os.pathsep.join([str(_REPO), env.get("PYTHONPATH", "")])
        app = f"{_APP}.asgi:application"
        if self.server == "daphne":
            asgi = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
            asgi += ["-v", "0", app]
        else:
            asgi = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1"]
            asgi += ["--port", str(port), "--loop", "uvloop", "--ws", "websockets"]
            asgi += ["--log-level", "warning", "--no-access-log", "--lifespan", "off"]
            # An interval of a day: uvicorn reads 0 as "ping continuously".
            asgi += ["--timeout-graceful-shutdown", "2"]
            asgi += ["--ws-ping-interval", "86400"]
        self._asgi = ServerProcess(
            "channels", asgi, workdir / "channels.log", env=env, cwd=_REPO
        )
        self._asgi.start()
        self._asgi.wait_ready(port, timeout=60)
        return Endpoint(
            name=self.name,
            port=port,
            token=token,
            http_publish=True,
            supports_since=False,
            notes=(f"{self.server} + channels_redis RedisChannelLayer",),
        )

    def processes(self) -> list[ServerProcess]:
        """The ASGI server and redis-server."""
        return [p for p in (self._asgi, self._redis) if p is not None]

    def stop(self) -> None:
        """Stop the ASGI server first, then Redis."""
        for process in (self._asgi, self._redis):
            if process is not None:
                process.stop()
        self._asgi = self._redis = None

    def _wait_redis(self, port: int) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if redis_ping(port):
                return
            time.sleep(0.05)
        tail = self._redis.log_tail() if self._redis else ""
        raise StartFailed(f"redis-server not ready: {tail}")
